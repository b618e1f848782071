//! A node: opens the data directory (tenant registry + SQLite log), starts one shard
//! per tenant, and serves the API on a listener until told to stop.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sturmfest_log::TenantId;
use sturmfest_log::sqlite::SqliteLog;
use tokio::net::TcpListener;

use crate::http::{AppState, TenantHandle, app};
use crate::runtime::{Shard, ShardConfig, StartError, StartReport};
use crate::tenants::{Credentials, Registry, RegistryError};

pub const log_file_name: &str = "log.db";

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("opening the log: {0}")]
    Log(#[from] sturmfest_log::LogError),
    #[error("tenant {tenant}: {source}")]
    Start { tenant: String, source: StartError },
    #[error("tenant registry: {0}")]
    Credentials(String),
}

pub struct Opened {
    pub state: AppState,
    pub reports: Vec<(String, StartReport)>,
    pub log: Arc<SqliteLog>,
    pub writers: Vec<tokio::task::JoinHandle<()>>,
    /// The waiting-room drivers; they hold shard handles, so they stop first.
    pub drivers: Vec<tokio::task::JoinHandle<()>>,
}

/// What a node offers beyond its data directory.
pub struct NodeOptions {
    /// Proof-of-work difficulty of the waiting room when calm.
    pub pow_base_bits: u32,
    /// Ceiling of the difficulty the line's length raises (12–24 bits; 24 is the
    /// protocol's own cap). A load test that plays tens of thousands of fans on one
    /// machine sets it to the base, since it must pay every fan's work on its own cores.
    pub pow_bits_max: u32,
    /// The mail relay's outbox; without one, e-mail addresses cannot be verified.
    pub outbox: Option<crate::mail::Outbox>,
    /// Where fans reach this node (links in e-mails), e.g. `https://tickets.example`.
    /// An `https://` URL also marks staff cookies `Secure`.
    pub base_url: String,
    /// Staff sessions and login limits; `secure_cookies` is set from `base_url`.
    pub staff: crate::staff::StaffConfig,
    /// Stripe Checkout for every tenant; without it, the built-in test provider.
    pub stripe: Option<crate::payments::stripe::StripeConfig>,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            pow_base_bits: crate::waiting::pow_base_bits_default,
            pow_bits_max: crate::pow::difficulty_bits_max,
            outbox: None,
            base_url: "http://127.0.0.1:8080".into(),
            staff: crate::staff::StaffConfig::default(),
            stripe: None,
        }
    }
}

impl Opened {
    /// Drops every handle to the shards and waits for their writers to finish
    /// (each writes a final snapshot), so a clean stop restarts fast.
    pub async fn close(self) {
        for driver in &self.drivers {
            driver.abort();
        }
        for driver in self.drivers {
            let _ = driver.await;
        }
        drop(self.state);
        for writer in self.writers {
            let _ = writer.await;
        }
    }
}

pub async fn open(data_dir: &Path, shard_config: ShardConfig) -> Result<Opened, NodeError> {
    open_with(data_dir, shard_config, NodeOptions::default()).await
}

pub async fn open_with(data_dir: &Path, shard_config: ShardConfig, options: NodeOptions) -> Result<Opened, NodeError> {
    std::fs::create_dir_all(data_dir).map_err(|source| NodeError::DataDir { path: data_dir.into(), source })?;
    let mut registry = Registry::load(data_dir)?;
    if registry.ensure_signing_keys() {
        registry.save(data_dir)?;
        tracing::info!("generated signing keys for tenants that had none");
    }
    let log = Arc::new(SqliteLog::open(data_dir.join(log_file_name)).await?);
    let mut tenants = HashMap::new();
    let mut reports = Vec::new();
    let mut writers = Vec::new();
    let mut drivers = Vec::new();
    for config in &registry.tenants {
        let id = TenantId::new(&config.slug).map_err(|e| NodeError::Credentials(e.to_string()))?;
        let credentials = Credentials::of(config).map_err(NodeError::Credentials)?;
        let (shard, report, writer) = Shard::start(log.clone(), id, shard_config.clone())
            .await
            .map_err(|source| NodeError::Start { tenant: config.slug.clone(), source })?;
        if let Some(torn) = &report.torn {
            tracing::warn!(tenant = %config.slug, at_seq = torn.at_seq, reason = %torn.reason, "recovered past a torn log tail");
        }
        let verifications = options.outbox.clone().map(|outbox| {
            let settings = crate::identity::VerificationConfig::new(&options.base_url, &config.name);
            crate::identity::Verifications::new(&config.slug, credentials.clone(), settings, outbox)
        });
        let pow_secret = credentials.keyed_digest(b"pow\0", b"");
        let mut services = crate::waiting::RoomServices::new(pow_secret, options.pow_base_bits, verifications);
        services.pow_bits_max = options.pow_bits_max;
        let room = Arc::new(services);
        drivers.push(tokio::spawn(crate::waiting::drive(shard.clone(), room.clone())));
        let mut staff_config = options.staff.clone();
        staff_config.secure_cookies |= options.base_url.starts_with("https://");
        if staff_config.base_origin.is_empty() {
            // Scheme and authority only: `https://tickets.example/shop` → `https://tickets.example`.
            let url = options.base_url.trim_end_matches('/');
            let authority_end = url.find("://").map_or(url.len(), |i| url[i + 3..].find('/').map_or(url.len(), |j| i + 3 + j));
            staff_config.base_origin = url[..authority_end].to_string();
        }
        let staff = Arc::new(crate::staff::StaffServices::new(staff_config));
        drivers.push(crate::ratelimit::spawn_retain(
            staff.limits(),
            std::time::Duration::from_millis(crate::ratelimit::retain_interval_ms),
        ));
        tenants.insert(
            config.slug.clone(),
            TenantHandle {
                name: config.name.clone(),
                room,
                payments: Arc::new(crate::payments::PaymentServices::new(
                    &config.slug,
                    &credentials,
                    options.outbox.clone().map(|outbox| crate::payments::ticket_mail::TicketMail {
                        outbox,
                        base_url: options.base_url.clone(),
                    }),
                    &options.base_url,
                    options.stripe.clone(),
                )),
                shard,
                credentials,
                shard_epoch: report.epoch,
                staff,
            },
        );
        reports.push((config.slug.clone(), report));
        writers.push(writer);
    }
    let operator = crate::operator::OperatorKeys::load(data_dir)?;
    let secure_cookies = options.staff.secure_cookies || options.base_url.starts_with("https://");
    let url = options.base_url.trim_end_matches('/');
    let authority_end = url.find("://").map_or(url.len(), |i| url[i + 3..].find('/').map_or(url.len(), |j| i + 3 + j));
    let operator = Arc::new(crate::operator::OperatorState::new(operator, secure_cookies, url[..authority_end].to_string()));
    let state = AppState { tenants: Arc::new(tenants), operator };
    for slug in state.tenants.keys() {
        drivers.push(tokio::spawn(crate::payments::refund_owed_forever(state.clone(), slug.clone())));
    }
    Ok(Opened { state, reports, log, writers, drivers })
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    // The socket address feeds the per-IP rate limits of the waiting room.
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
