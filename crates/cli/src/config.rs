//! `sturmfest serve`: configuration from defaults, a TOML file, `STURMFEST_*`
//! environment variables and flags (later wins), then the node until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sturmfest_server::runtime::ShardConfig;

#[derive(clap::Args, Debug, Serialize)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below.
    #[arg(long, env = "STURMFEST_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub inbox_requests_max: usize,
    pub batch_commands_max: usize,
    pub snapshot_interval_records: u64,
    /// Where fans reach this node; links in e-mails start with it.
    pub base_url: String,
    /// Proof-of-work difficulty of the waiting room when calm (12–24 bits).
    pub pow_base_bits: u32,
    /// The most a long line raises that difficulty to (12–24 bits, default 24).
    pub pow_bits_max: u32,
    /// The SMTP relay (docs/MAIL.md); without it e-mail addresses cannot be verified.
    pub mail: Option<sturmfest_server::mail::MailConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        let shard = ShardConfig::default();
        Settings {
            data_dir: PathBuf::from("sturmfest-data"),
            listen: "127.0.0.1:8080".parse().expect("valid default"),
            inbox_requests_max: shard.inbox_requests_max,
            batch_commands_max: shard.batch_commands_max,
            snapshot_interval_records: shard.snapshot_interval_records,
            base_url: "http://127.0.0.1:8080".into(),
            pow_base_bits: sturmfest_server::waiting::pow_base_bits_default,
            pow_bits_max: sturmfest_server::pow::difficulty_bits_max,
            mail: None,
        }
    }
}

impl Settings {
    pub fn shard(&self) -> ShardConfig {
        ShardConfig {
            inbox_requests_max: self.inbox_requests_max.max(1),
            batch_commands_max: self.batch_commands_max.clamp(1, sturmfest_log::batch_records_max),
            snapshot_interval_records: self.snapshot_interval_records.max(1),
            ..ShardConfig::default()
        }
    }
}

pub fn settings(args: &ServeArgs) -> Result<Settings, String> {
    let mut figment = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(file) = &args.config {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment
        .merge(Env::prefixed("STURMFEST_").ignore(&["config", "log"]).filter(|k| !k.as_str().starts_with("mail_")))
        .merge(Env::prefixed("STURMFEST_MAIL_").map(|k| format!("mail.{}", k.as_str()).into()))
        .merge(Serialized::defaults(args))
        .extract()
        .map_err(|e| format!("configuration: {e}"))
}

pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = settings(&args)?;
    let outbox = match &settings.mail {
        Some(mail) => Some(sturmfest_server::mail::Mailer::new(mail).map_err(|e| format!("mail: {e}"))?.spawn()),
        None => {
            tracing::warn!("no [mail] relay configured: the waiting room cannot verify e-mail addresses");
            None
        }
    };
    let options = sturmfest_server::node::NodeOptions {
        outbox,
        base_url: settings.base_url.clone(),
        pow_base_bits: settings.pow_base_bits,
        pow_bits_max: settings.pow_bits_max,
        // Staff cookies get `Secure` when `base_url` is https (node.rs).
        staff: Default::default(),
        // STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET / STRIPE_API_BASE (docs/PAYMENTS.md).
        stripe: sturmfest_server::payments::stripe::StripeConfig::from_env()?,
    };
    let opened =
        sturmfest_server::node::open_with(&settings.data_dir, settings.shard(), options).await.map_err(|e| e.to_string())?;
    for (tenant, report) in &opened.reports {
        tracing::info!(
            tenant,
            epoch = report.epoch,
            snapshot_seq = report.snapshot_seq,
            replayed = report.records_replayed,
            last_seq = report.last_seq,
            "tenant recovered"
        );
    }
    if opened.reports.is_empty() {
        tracing::warn!("no tenants: add one with `sturmfest tenant add <slug> --name <name>`");
    }
    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.map_err(|e| format!("listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Tests and scripts read this line to find the port when listening on port 0.
    println!("listening on http://{addr}");
    sturmfest_server::node::serve(listener, opened.state.clone(), shutdown_signal()).await.map_err(|e| e.to_string())?;
    opened.close().await;
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests, writing snapshots");
}
