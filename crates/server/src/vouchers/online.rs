//! Buying and loading voucher cards online, at the edge: opening the provider
//! session, recording the purchase in the core (`VoucherCommand::StartPurchase`),
//! settling the provider's verdict, refunding what the core says is owed back, and
//! sending the card e-mail once the card is durable.
//!
//! The providers are the ticket checkout's (`payments/`): the built-in test provider
//! and Stripe Checkout. A provider session names either a ticket payment or a voucher
//! purchase; `payments::settle` looks the session up and hands a purchase's verdict
//! to `settle` here, so both webhooks (test and Stripe) reach purchases unchanged.

use rand::RngCore;
use sturmfest_core as core;
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::payments::ProviderKind;
use sturmfest_core::vouchers::{
    CardId, PurchaseId, PurchaseReply, PurchaseStatus, PurchaseTarget, VoucherCommand, VoucherRejection, VoucherReply,
};
use sturmfest_core::{Cents, TimeMs};

use super::digital::{CardView, DigitalCard, card_pdf, valid_until};
use crate::http::TenantHandle;
use crate::http::problem::Problem;
use crate::mail::{Attachment, Mail, MailError};
use crate::payments::{PaymentError, Verdict};
use crate::tenants::Credentials;
use crate::web::format::euros;
use crate::web::i18n::Lang;

/// Attempts per card e-mail and the pause before the first retry (doubling), as for
/// ticket e-mails.
pub const card_mail_attempts_max: u32 = 5;
pub const card_mail_retry_pause_ms: u64 = 2_000;
/// Fresh purchase ids tried when a derived card id, code or batch is taken (odds
/// about 2^-64 each; a second try is already paranoia).
pub const purchase_id_attempts_max: u32 = 3;

/// Domain of the digest a purchase id is derived from when the caller sent an
/// idempotency key, so a replayed start derives the same id, card and session.
const purchase_id_domain: &[u8] = b"voucher purchase id\0";

/// What the holder buys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    NewCard,
    Load(CardId),
}

/// A started purchase: where to send the holder, and where they come back.
#[derive(Debug, serde::Serialize)]
pub struct Started {
    /// The token that addresses the purchase (status, return page, card page).
    pub purchase: String,
    pub purchase_id: u64,
    pub redirect_url: String,
    pub return_url: String,
    pub amount_cents: i64,
    pub amount: String,
}

/// The token of a purchase: its status, return page and (for a new card) card page.
pub fn token(credentials: &Credentials, purchase: PurchaseId) -> String {
    credentials.token_for("voucher-purchase", purchase.0)
}

pub fn open_token(credentials: &Credentials, token: &str) -> Option<PurchaseId> {
    credentials.open_token("voucher-purchase", token).map(PurchaseId)
}

/// The page the provider returns the holder to.
pub fn return_path(slug: &str, credentials: &Credentials, purchase: PurchaseId, lang: Lang) -> String {
    format!("/{slug}/card/purchases/{}?lang={}", token(credentials, purchase), lang.code())
}

/// The digital card's own page (the link in the e-mail).
pub fn card_path(slug: &str, credentials: &Credentials, purchase: PurchaseId, lang: Lang) -> String {
    format!("/{slug}/card/digital/{}?lang={}", token(credentials, purchase), lang.code())
}

fn rejection(r: VoucherRejection) -> Problem {
    Problem::from_rejection(&core::Rejection::Voucher(r))
}

/// A plausible e-mail address (the same rule as a ticket buyer's).
pub fn check_email(email: &str) -> Result<(), Problem> {
    crate::http::payments::check_buyer("holder", email)
        .map_err(|_| Problem::unprocessable("email_invalid", "give a valid e-mail address"))
}

/// Opens a provider session and records the purchase. Checks the amount against
/// the programme's load limit before asking the provider for money (the core checks
/// again). With an idempotency key the purchase id is derived from it, so a replay
/// opens the same Stripe session (Stripe's own key) and the core answers the first.
#[allow(clippy::too_many_arguments)]
pub async fn begin(
    handle: &TenantHandle,
    slug: &str,
    programme: ProgrammeId,
    want: Want,
    amount: Cents,
    email: &str,
    lang: Lang,
    idempotency: Option<core::Idempotency>,
) -> Result<Started, Problem> {
    check_email(email)?;
    let email = email.trim().to_string();
    let limits = handle.shard.read(move |t| t.vouchers().programme(programme).map(|p| p.limits)).await?;
    let limits = limits.ok_or_else(|| rejection(VoucherRejection::UnknownProgramme))?;
    if amount.0 <= 0 {
        return Err(rejection(VoucherRejection::AmountInvalid));
    }
    if amount > limits.load_cents_max {
        return Err(rejection(VoucherRejection::LoadTooLarge));
    }
    let key = crate::http::vouchers::code_key(handle);
    let mut attempt = 0;
    let (reply, session, stripe_url) = loop {
        attempt += 1;
        let purchase = purchase_id(&handle.credentials, idempotency.as_ref(), attempt);
        let target = match want {
            Want::NewCard => {
                let card = DigitalCard::derive(&handle.credentials, purchase);
                PurchaseTarget::NewCard { card: card.new_card(&key), batch: card.batch }
            }
            Want::Load(card) => PurchaseTarget::Load { card },
        };
        let (session, stripe_url) = open_session(handle, slug, purchase, amount, lang, idempotency.as_ref()).await?;
        let command = VoucherCommand::StartPurchase {
            purchase,
            programme,
            target,
            amount,
            provider: handle.payments.kind,
            session: session.clone(),
            email: email.clone(),
        };
        match handle.shard.execute(idempotency.clone(), core::Command::Voucher(command)).await? {
            Ok(core::Reply::Voucher(VoucherReply::Purchase(reply))) => break (reply, session, stripe_url),
            Ok(other) => return Err(crate::http::handlers::unexpected(&other)),
            Err(core::Rejection::Voucher(
                VoucherRejection::CardExists
                | VoucherRejection::CodeDigestTaken
                | VoucherRejection::BatchExists
                | VoucherRejection::PurchaseIdInvalid,
            )) if attempt < purchase_id_attempts_max && idempotency.is_none() => continue,
            Err(r) => return Err(Problem::from_rejection(&r)),
        }
    };
    // A replayed key answers the first purchase: send the holder to its session.
    let first = reply.purchase;
    let session = handle
        .shard
        .read(move |t| t.vouchers().purchase(first).map(|p| p.session.clone()))
        .await?
        .unwrap_or(session);
    handle.payments.remember_lang(&session, lang);
    Ok(Started {
        purchase: token(&handle.credentials, reply.purchase),
        purchase_id: reply.purchase.0,
        redirect_url: stripe_url.unwrap_or_else(|| format!("/pay/test/{slug}/{session}?lang={}", lang.code())),
        return_url: return_path(slug, &handle.credentials, reply.purchase, lang),
        amount_cents: amount.0,
        amount: crate::http::dto::euros(amount),
    })
}

/// A nonzero purchase id: derived from the idempotency key (and the attempt) when
/// there is one, random otherwise.
fn purchase_id(credentials: &Credentials, idempotency: Option<&core::Idempotency>, attempt: u32) -> PurchaseId {
    let bytes: [u8; 8] = match idempotency {
        Some(idem) => {
            let data = format!("{:?}\0{}\0{attempt}", idem.key, idem.fingerprint);
            credentials.keyed_digest(purchase_id_domain, data.as_bytes())[..8].try_into().expect("8 bytes")
        }
        None => {
            let mut bytes = [0u8; 8];
            rand::rng().fill_bytes(&mut bytes);
            bytes
        }
    };
    // Below 2^53, so the id survives a trip through JavaScript numbers.
    PurchaseId((u64::from_be_bytes(bytes) >> 11).max(1))
}

/// A provider session for `amount`: its reference, and Stripe's hosted page.
async fn open_session(
    handle: &TenantHandle,
    slug: &str,
    purchase: PurchaseId,
    amount: Cents,
    lang: Lang,
    idempotency: Option<&core::Idempotency>,
) -> Result<(String, Option<String>), Problem> {
    use crate::http::payments::problem_of;
    match handle.payments.kind {
        ProviderKind::Test => Ok((handle.payments.start(amount).map_err(problem_of)?, None)),
        ProviderKind::Stripe => {
            let stripe = handle.payments.stripe().map_err(problem_of)?;
            let back = format!("{}{}", handle.payments.base_url, return_path(slug, &handle.credentials, purchase, lang));
            let key = match idempotency {
                Some(_) => format!("sturmfest-voucher-{}", purchase.0),
                None => {
                    let mut bytes = [0u8; 16];
                    rand::rng().fill_bytes(&mut bytes);
                    format!("sturmfest-{}", hex::encode(bytes))
                }
            };
            let name = match lang {
                Lang::De => format!("Gutscheinkarte: {}", handle.name),
                Lang::En => format!("Voucher card: {}", handle.name),
            };
            let reference = format!("{slug}:voucher:{}", purchase.0);
            let request = crate::payments::stripe::Purchase {
                amount,
                name: &name,
                success_url: &back,
                cancel_url: &back,
                reference: &reference,
                idempotency_key: &key,
                now_s: crate::runtime::wall_clock_ms() / 1000,
            };
            let session = stripe.start(&request).await.map_err(problem_of)?;
            Ok((session.id, Some(session.url)))
        }
    }
}

/// Applies a verified verdict on a purchase: the core issues and activates the card
/// or loads it, or records the money as owed back, which is refunded here at once.
/// A new card's e-mail goes out from a task of its own after the reply (the card is
/// durable then).
pub async fn settle(handle: &TenantHandle, provider: ProviderKind, verdict: &Verdict) -> Result<PurchaseStatus, PaymentError> {
    let command = match verdict {
        Verdict::Succeeded { session } => VoucherCommand::PurchaseSucceeded {
            provider,
            session: session.clone(),
            expires_at: super::card_expires_at(TimeMs(crate::runtime::wall_clock_ms())),
        },
        Verdict::Failed { session, failure } => {
            VoucherCommand::PurchaseFailed { provider, session: session.clone(), failure: *failure }
        }
    };
    let reply = purchase_reply(handle, command).await?;
    match reply.status {
        PurchaseStatus::Succeeded => {
            mail_card(handle, reply.purchase, verdict.session());
            Ok(reply.status)
        }
        PurchaseStatus::RefundDue => refund_due(handle, reply.purchase).await,
        _ => Ok(reply.status),
    }
}

async fn purchase_reply(handle: &TenantHandle, command: VoucherCommand) -> Result<PurchaseReply, PaymentError> {
    match handle.shard.execute(None, core::Command::Voucher(command)).await?.map_err(PaymentError::Rejected)? {
        core::Reply::Voucher(VoucherReply::Purchase(reply)) => Ok(reply),
        _ => Err(PaymentError::Refused("unexpected reply")),
    }
}

/// Gives back a purchase the core recorded as owed (keyed by purchase, so a retry
/// pays out once), and records the provider's refund.
pub async fn refund_due(handle: &TenantHandle, purchase: PurchaseId) -> Result<PurchaseStatus, PaymentError> {
    let found = handle.shard.read(move |t| t.vouchers().purchase(purchase).map(|p| (p.provider, p.session.clone(), p.amount))).await?;
    let (provider, session, amount) = found.ok_or(PaymentError::Refused("unknown purchase"))?;
    let key = format!("voucher-refund-due:{}", purchase.0);
    let reference = match provider {
        ProviderKind::Test => handle.payments.test.refund(&session, amount, &key),
        ProviderKind::Stripe => handle.payments.stripe()?.refund(&session, amount, &key).await?,
    };
    let reply = purchase_reply(handle, VoucherCommand::PurchaseRefunded { purchase, reference }).await?;
    Ok(reply.status)
}

/// The card a purchase bought (a new digital card only) as its page shows it.
pub async fn purchased_card(handle: &TenantHandle, purchase: PurchaseId) -> Option<CardView> {
    let bought = handle
        .shard
        .read(move |t| t.vouchers().purchase(purchase).map(|p| (p.target, p.state.status())))
        .await
        .ok()??;
    let (PurchaseTarget::NewCard { .. }, PurchaseStatus::Succeeded) = bought else { return None };
    let card = DigitalCard::derive(&handle.credentials, purchase);
    super::digital::card_view(handle, &crate::http::vouchers::code_key(handle), &card.code).await
}

/// Starts the card e-mail of a new digital card once per node, from its own task.
fn mail_card(handle: &TenantHandle, purchase: PurchaseId, session: &str) {
    let Some(mail) = handle.payments.mail().cloned() else { return };
    let lang = handle.payments.take_lang(session).unwrap_or(Lang::De);
    if !handle.payments.first_card_mail(purchase.0) {
        return;
    }
    tokio::spawn(send_card(handle.clone(), mail, purchase, lang));
}

/// Builds and sends the card e-mail; returns once delivered or given up. The card
/// page link is the way back if it is never delivered.
pub async fn send_card(handle: TenantHandle, mail: crate::payments::ticket_mail::TicketMail, purchase: PurchaseId, lang: Lang) {
    let found = handle.shard.read(move |t| t.vouchers().purchase(purchase).map(|p| p.email.clone())).await;
    let (Ok(Some(to)), Some(view)) = (found, purchased_card(&handle, purchase).await) else {
        tracing::error!(purchase = purchase.0, "card e-mail: the card is not there");
        return;
    };
    let slug = handle.payments.slug().to_string();
    let link = format!("{}{}", mail.base_url.trim_end_matches('/'), card_path(&slug, &handle.credentials, purchase, lang));
    let organizer = handle.name.clone();
    let until = view.expires_at.map(|at| valid_until(at, lang)).unwrap_or_default();
    let (subject, text) = match lang {
        Lang::De => (
            format!("Ihre Gutscheinkarte: {organizer}"),
            format!(
                "Guten Tag,\n\nvielen Dank für Ihren Kauf. Ihre digitale Gutscheinkarte ist aktiv.\n\nGuthaben: {}\nGültig bis: {until}\nKartencode: {}\n\nDie Karte mit QR-Code hängt als PDF an. Sie finden sie auch jederzeit hier, mit dem aktuellen Guthaben:\n{link}\n\nZeigen Sie im Geschäft den QR-Code vor. Wer den Code kennt, kann mit der Karte bezahlen: Bitte geben Sie diese E-Mail nicht weiter.\n",
                euros(view.balance, lang),
                view.code
            ),
        ),
        Lang::En => (
            format!("Your voucher card: {organizer}"),
            format!(
                "Hello,\n\nthank you for your purchase. Your digital voucher card is active.\n\nBalance: {}\nValid until: {until}\nCard code: {}\n\nThe card with its QR code is attached as a PDF. You can also find it here at any time, with its current balance:\n{link}\n\nShow the QR code in the shop. Whoever knows the code can pay with the card: please do not forward this e-mail.\n",
                euros(view.balance, lang),
                view.code
            ),
        ),
    };
    let pdf = {
        let (organizer, view) = (organizer.clone(), view.clone());
        match tokio::task::spawn_blocking(move || card_pdf(&organizer, &view, lang)).await {
            Ok(pdf) => pdf,
            Err(_) => return,
        }
    };
    let message = Mail {
        to,
        subject,
        text,
        html: None,
        attachments: vec![Attachment { filename: format!("card-{}.pdf", purchase.0), content_type: "application/pdf".into(), bytes: pdf }],
    };
    let mut pause = std::time::Duration::from_millis(card_mail_retry_pause_ms);
    for attempt in 1..=card_mail_attempts_max {
        let outcome = match mail.outbox.try_send(&message) {
            Ok(delivery) => delivery.outcome().await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return,
            Err(e) if (matches!(e, MailError::Busy) || e.is_transient()) && attempt < card_mail_attempts_max => {
                tracing::warn!(purchase = purchase.0, attempt, code = e.code(), "card e-mail not sent yet; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => {
                tracing::error!(purchase = purchase.0, attempt, code = e.code(), "card e-mail given up; the card page still shows the card");
                return;
            }
        }
    }
}
