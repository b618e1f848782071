//! Payment providers at the edge of the node. A public (online) sale becomes an
//! order only when a provider's verified webhook says the money is taken; the core
//! (`sturmfest_core::payments`) decides what that success buys. This module holds
//! what the core must not: provider sessions, webhook signatures, refunds through
//! the provider, and the per-tenant settings. It knows no HTTP types: the handlers
//! in `http/payments.rs` and the pages in `web/checkout.rs` call it.
//!
//! Providers: `test_provider` (built in: its own hosted page on the node, webhooks
//! signed like Stripe's) and `stripe` (Stripe Checkout, node-wide when the node is
//! given a `StripeConfig`).

pub mod signature;
pub mod stripe;
pub mod test_provider;
pub mod ticket_mail;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use sturmfest_core as core;
use sturmfest_core::payments::{PaymentFailure, PaymentState, ProviderKind};

use crate::http::TenantHandle;
use crate::runtime::ShardError;
use crate::tenants::Credentials;

/// Remembered waiting-room admissions (session → admission text), so a webhook can
/// hand the fan's checkout slot to the next in line. Bounded; best effort like the
/// room's own `Finish`.
pub const admissions_remembered_max: usize = 100_000;

/// A provider's verdict on one session, parsed from a verified webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Succeeded { session: String },
    Failed { session: String, failure: PaymentFailure },
}

impl Verdict {
    pub fn session(&self) -> &str {
        match self {
            Verdict::Succeeded { session } | Verdict::Failed { session, .. } => session,
        }
    }

    pub fn command(&self, provider: ProviderKind) -> core::Command {
        use sturmfest_core::payments::PaymentCommand as P;
        core::Command::Payment(match self {
            Verdict::Succeeded { session } => P::Succeeded { provider, session: session.clone() },
            Verdict::Failed { session, failure } => P::Failed { provider, session: session.clone(), failure: *failure },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature: {0}")]
    Signature(#[from] signature::SignatureError),
    #[error("the webhook body is not an event this endpoint understands")]
    Body,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("the payment was refused: {}", .0.code())]
    Rejected(core::Rejection),
    #[error("the store: {0}")]
    Shard(#[from] ShardError),
    #[error("the provider failed: {0}")]
    Provider(String),
    #[error("{0}")]
    Refused(&'static str),
}

/// A tenant's payment settings and the provider state the node keeps.
pub struct PaymentServices {
    /// The provider new checkouts use.
    pub kind: ProviderKind,
    pub test: test_provider::TestProvider,
    /// Set when the node is configured for Stripe; then `kind` is `Stripe`.
    pub stripe: Option<stripe::StripeProvider>,
    /// Where fans reach the node, for the return links given to a provider.
    pub base_url: String,
    admissions: Mutex<HashMap<String, String>>,
    /// The tenant's slug, for links in ticket e-mails.
    slug: String,
    /// Where ticket e-mails go; none without a mail relay.
    mail: Option<ticket_mail::TicketMail>,
    /// The page language each session was started from (session → language).
    langs: Mutex<HashMap<String, crate::web::i18n::Lang>>,
    /// Orders whose ticket e-mail this node has sent, so a duplicate webhook sends
    /// none. In memory: a duplicate after a restart mails the tickets again.
    mailed: Mutex<HashSet<u64>>,
    /// Voucher purchases whose card e-mail this node has sent (`vouchers/online.rs`).
    mailed_cards: Mutex<HashSet<u64>>,
}

impl PaymentServices {
    pub fn new(
        slug: &str,
        credentials: &Credentials,
        mail: Option<ticket_mail::TicketMail>,
        base_url: &str,
        stripe: Option<stripe::StripeConfig>,
    ) -> PaymentServices {
        let secret = credentials.keyed_digest(b"payments-test-webhook\0", b"");
        PaymentServices {
            kind: if stripe.is_some() { ProviderKind::Stripe } else { ProviderKind::Test },
            test: test_provider::TestProvider::new(secret),
            stripe: stripe.map(stripe::StripeProvider::new),
            base_url: base_url.trim_end_matches('/').to_string(),
            admissions: Mutex::new(HashMap::new()),
            slug: slug.to_string(),
            mail,
            langs: Mutex::new(HashMap::new()),
            mailed: Mutex::new(HashSet::new()),
            mailed_cards: Mutex::new(HashSet::new()),
        }
    }

    pub fn remember_lang(&self, session: &str, lang: crate::web::i18n::Lang) {
        let mut map = self.langs.lock().expect("not poisoned");
        if map.len() < admissions_remembered_max {
            map.insert(session.to_string(), lang);
        }
    }

    /// The tenant's slug, for links in e-mails.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// Where card e-mails go (the same relay and base URL as ticket e-mails).
    pub fn mail(&self) -> Option<&ticket_mail::TicketMail> {
        self.mail.as_ref()
    }

    /// The page language a session was started from, once.
    pub fn take_lang(&self, session: &str) -> Option<crate::web::i18n::Lang> {
        self.langs.lock().expect("not poisoned").remove(session)
    }

    /// True the first time a purchase's card e-mail is claimed on this node.
    pub fn first_card_mail(&self, purchase: u64) -> bool {
        self.mailed_cards.lock().expect("not poisoned").insert(purchase)
    }

    /// Sends the ticket e-mail for a new order once, from a task of its own.
    fn mail_tickets(&self, handle: &TenantHandle, order: core::OrderId, session: &str) {
        let Some(mail) = &self.mail else { return };
        if !self.mailed.lock().expect("not poisoned").insert(order.0) {
            return;
        }
        let lang = self.langs.lock().expect("not poisoned").remove(session).unwrap_or(crate::web::i18n::Lang::De);
        tokio::spawn(ticket_mail::send_tickets(handle.clone(), self.slug.clone(), mail.clone(), order, lang));
    }

    pub fn remember_admission(&self, session: &str, admission: String) {
        let mut map = self.admissions.lock().expect("not poisoned");
        if map.len() < admissions_remembered_max {
            map.insert(session.to_string(), admission);
        }
    }

    pub fn take_admission(&self, session: &str) -> Option<String> {
        self.admissions.lock().expect("not poisoned").remove(session)
    }

    /// A fresh test-provider session for `amount`: its reference. (Stripe sessions
    /// need the return links and are opened in `http::payments::begin_payment`.)
    pub fn start(&self, amount: core::Cents) -> Result<String, PaymentError> {
        match self.kind {
            ProviderKind::Test => Ok(self.test.start(amount)),
            ProviderKind::Stripe => Err(PaymentError::Refused("a Stripe session is opened with its return links")),
        }
    }

    /// The Stripe adapter, or a provider failure when this node has none (a
    /// payment recorded under Stripe, then the node restarted without it).
    pub fn stripe(&self) -> Result<&stripe::StripeProvider, PaymentError> {
        self.stripe.as_ref().ok_or_else(|| PaymentError::Provider("this node has no Stripe configuration".into()))
    }
}

/// What a verdict settled: a ticket payment, or a voucher purchase
/// (`vouchers/online.rs`); the webhook answers either with its state code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    Payment(PaymentState),
    Purchase(core::vouchers::PurchaseStatus),
}

impl Settled {
    pub fn code(&self) -> &'static str {
        match self {
            Settled::Payment(state) => state.code(),
            Settled::Purchase(status) => status.code(),
        }
    }
}

/// Applies a verified verdict. A provider session names either a ticket payment or
/// a voucher purchase (sessions are unique per provider, and each start records its
/// session in one of the two); a purchase's verdict goes to `vouchers::online`.
pub async fn settle(handle: &TenantHandle, provider: ProviderKind, verdict: &Verdict) -> Result<Settled, PaymentError> {
    let session = verdict.session().to_string();
    let purchase = handle.shard.read(move |t| t.vouchers().purchase_by_session(provider, &session).is_some()).await?;
    if purchase {
        return crate::vouchers::online::settle(handle, provider, verdict).await.map(Settled::Purchase);
    }
    settle_payment(handle, provider, verdict).await.map(Settled::Payment)
}

/// Applies a verified verdict on a ticket payment: the core decides, and money owed
/// back (the places were gone) is refunded through the provider and recorded.
/// Returns the state the payment is in afterwards.
async fn settle_payment(handle: &TenantHandle, provider: ProviderKind, verdict: &Verdict) -> Result<PaymentState, PaymentError> {
    let reply = handle.shard.execute(None, verdict.command(provider)).await?.map_err(PaymentError::Rejected)?;
    let core::Reply::Payment(reply) = reply else { return Err(PaymentError::Refused("unexpected reply")) };
    match &reply.state {
        PaymentState::Succeeded { order } => {
            if let Verdict::Succeeded { session } = verdict {
                if let Some(admission) = handle.payments.take_admission(session) {
                    crate::http::handlers::finish_checkout(handle, &admission);
                }
                // The order is durable: the reply came after its batch was committed.
                handle.payments.mail_tickets(handle, *order, session);
            }
            Ok(reply.state)
        }
        PaymentState::RefundDue => refund_due(handle, reply.payment).await,
        _ => Ok(reply.state),
    }
}

/// Gives back a payment the core recorded as owed, and records the provider's refund.
pub async fn refund_due(handle: &TenantHandle, payment: core::payments::PaymentId) -> Result<PaymentState, PaymentError> {
    let found = handle.shard.read(move |t| t.payment(payment).map(|p| (p.provider, p.session.clone(), p.amount))).await?;
    let (provider, session, amount) = found.ok_or(PaymentError::Refused("unknown payment"))?;
    let key = format!("refund-due:{}", payment.0);
    let reference = match provider {
        ProviderKind::Test => handle.payments.test.refund(&session, amount, &key),
        ProviderKind::Stripe => handle.payments.stripe()?.refund(&session, amount, &key).await?,
    };
    let command = core::payments::PaymentCommand::Refunded { payment, reference };
    let reply = handle.shard.execute(None, core::Command::Payment(command)).await?.map_err(PaymentError::Rejected)?;
    let core::Reply::Payment(reply) = reply else { return Err(PaymentError::Refused("unexpected reply")) };
    Ok(reply.state)
}

/// How often a node looks for money owed back that is not yet refunded.
pub const refund_retry_interval_ms: u64 = 60_000;
/// A `RefundDue` younger than this is left to the request that decided it.
pub const refund_retry_age_ms: i64 = 30_000;

/// Refunds every payment and voucher purchase the core still records as owed
/// (`RefundDue`) and at least
/// `refund_retry_age_ms` old: the refund right after the decision can fail (the
/// provider is down) or never happen (the node stopped in between). The provider
/// call is keyed per payment (`refund_due`), so a refund the provider already made
/// is answered again, not paid twice. Returns how many were refunded now.
pub async fn refund_owed(handle: &TenantHandle, now_ms: i64) -> usize {
    let owed = handle
        .shard
        .read(move |t| {
            t.payments()
                .iter()
                .filter(|p| p.state == PaymentState::RefundDue && p.updated_at.0 <= now_ms - refund_retry_age_ms)
                .map(|p| p.id)
                .collect::<Vec<_>>()
        })
        .await;
    let mut refunded = 0;
    for payment in owed.unwrap_or_default() {
        match refund_due(handle, payment).await {
            Ok(_) => refunded += 1,
            Err(e) => tracing::warn!(payment = payment.0, error = %e, "refund owed still not made; retrying later"),
        }
    }
    // Voucher purchases whose card could no longer take the money, likewise.
    let owed = handle
        .shard
        .read(move |t| {
            t.vouchers()
                .purchases()
                .filter(|p| p.state == core::vouchers::PurchaseState::RefundDue && p.updated_at.0 <= now_ms - refund_retry_age_ms)
                .map(|p| p.id)
                .collect::<Vec<_>>()
        })
        .await;
    for purchase in owed.unwrap_or_default() {
        match crate::vouchers::online::refund_due(handle, purchase).await {
            Ok(_) => refunded += 1,
            Err(e) => tracing::warn!(purchase = purchase.0, error = %e, "voucher refund owed still not made; retrying later"),
        }
    }
    refunded
}

/// `refund_owed` for one tenant every `refund_retry_interval_ms`, for the node's life.
pub async fn refund_owed_forever(state: crate::http::AppState, slug: String) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(refund_retry_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(handle) = state.tenants.get(&slug) else { return };
        if !handle.shard.is_running() {
            return;
        }
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let refunded = refund_owed(handle, now_ms).await;
        if refunded > 0 {
            tracing::info!(tenant = %slug, refunded, "refunded payments that were owed back");
        }
    }
}

/// Refunds `amount` of an order: through the provider that took the money when the
/// order was paid online, then recorded in the core. Orders paid at the counter are
/// recorded only (the cash or card terminal gives the money back). The provider
/// call carries `key`, so a retried refund is not paid out twice.
pub async fn refund_order(
    handle: &TenantHandle,
    order: core::OrderId,
    amount: core::Cents,
    reference: Option<String>,
    key: &str,
    idempotency: Option<core::Idempotency>,
) -> Result<(core::OrderId, core::Cents), PaymentError> {
    let found = handle.shard.read(move |t| t.order(order).map(|o| (o.payment.clone(), o.paid().0 - o.refunded().0))).await?;
    let (payment, left) = found.ok_or(PaymentError::Rejected(core::Rejection::UnknownOrder))?;
    // Checked before the provider moves money; the core checks again when recording.
    if amount.0 <= 0 {
        return Err(PaymentError::Rejected(core::Rejection::InvalidRequest { reason: "refund needs a positive amount and a reference" }));
    }
    if amount.0 > left {
        return Err(PaymentError::Rejected(core::Rejection::RefundExceedsPaid));
    }
    let provider_reference = match payment.split_once(':') {
        Some(("test", session)) => Some(handle.payments.test.refund(session, amount, key)),
        Some(("stripe", session)) => Some(handle.payments.stripe()?.refund(session, amount, key).await?),
        _ => None,
    };
    let reference = provider_reference.or(reference).ok_or(PaymentError::Refused("a counter refund needs a reference"))?;
    let command = core::Command::Refund { order, amount, reference };
    match handle.shard.execute(idempotency, command).await?.map_err(PaymentError::Rejected)? {
        core::Reply::Refunded { order, amount } => Ok((order, amount)),
        _ => Err(PaymentError::Refused("unexpected reply")),
    }
}

/// Cancels tickets of an order. For an order paid through a provider a full refund is
/// paid back through that provider: the tickets are cancelled without a refund entry,
/// then exactly their price is refunded with `refund_order` (keyed by order and
/// tickets, so a retry pays out once), which records the provider's reference. Counter
/// orders keep the core's `RefundMode` (cash or card back at the counter). The club
/// office and the admin API both cancel through here.
pub async fn cancel_order(
    handle: &TenantHandle,
    order: core::OrderId,
    tickets: core::TicketSelection,
    refund: core::RefundMode,
    idempotency: Option<core::Idempotency>,
) -> Result<core::Reply, crate::http::problem::Problem> {
    use crate::http::problem::Problem;
    let before = handle.shard.read(move |t| t.order(order).cloned()).await.map_err(Problem::from)?;
    let paid_online = before.as_ref().is_some_and(|o| o.payment.starts_with("test:") || o.payment.starts_with("stripe:"));
    if !(paid_online && refund == core::RefundMode::Full) {
        return crate::http::handlers::run(handle, idempotency, core::Command::Cancel { order, tickets, refund }).await;
    }
    let before = before.expect("paid online, so the order exists");
    let reply = crate::http::handlers::run(
        handle,
        idempotency,
        core::Command::Cancel { order, tickets: tickets.clone(), refund: core::RefundMode::None },
    )
    .await?;
    let core::Reply::Cancelled { tickets: count, .. } = reply else { return Ok(reply) };
    let after = handle.shard.read(move |t| t.order(order).cloned()).await.map_err(Problem::from)?;
    let after = after.ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownOrder))?;
    // Exactly the tickets this cancellation ended (a retry of it ends none and pays none).
    let mut amount = core::Cents::ZERO;
    let mut ended = Vec::new();
    for (i, (was, now)) in before.tickets.iter().zip(&after.tickets).enumerate() {
        if was.cancelled_at.is_none() && now.cancelled_at.is_some() {
            amount = amount.plus(now.price);
            ended.push(i);
        }
    }
    if amount.0 == 0 {
        return Ok(core::Reply::Cancelled { order, tickets: count, refunded: core::Cents::ZERO });
    }
    let key = format!("cancel:{}:{ended:?}", order.0);
    let (_, refunded) =
        refund_order(handle, order, amount, None, &key, None).await.map_err(crate::http::payments::problem_of)?;
    Ok(core::Reply::Cancelled { order, tickets: count, refunded })
}
