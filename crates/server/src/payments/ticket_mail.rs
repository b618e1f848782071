//! The ticket e-mail: once a payment has made an order (the order is durable when
//! the webhook's command is acknowledged), the buyer gets the A6 ticket PDF
//! (`tickets.rs`) with a re-download link, in the language of the page they paid
//! from. It is sent from a task of its own through the bounded outbox (`mail.rs`),
//! so a slow or failed relay never holds up the sale; a full outbox or a transient
//! failure is retried a few times with a growing pause. The link carries the
//! order's HMAC token (`Credentials::token_for`), which no one can guess.

use std::time::Duration;

use sturmfest_core as core;

use crate::http::TenantHandle;
use crate::mail::{Attachment, Mail, MailError, Outbox};
use crate::web::i18n::Lang;

/// Attempts per ticket e-mail, and the pause before the first retry (doubling).
pub const ticket_mail_attempts_max: u32 = 5;
pub const ticket_mail_retry_pause_ms: u64 = 2_000;

/// Where ticket e-mails go out and what their links start with.
#[derive(Clone)]
pub struct TicketMail {
    pub outbox: Outbox,
    /// The node's public base URL, e.g. `https://tickets.example`.
    pub base_url: String,
}

/// The re-download path of an order's tickets (under the node's base URL).
pub fn tickets_path(slug: &str, order_token: &str, lang: Lang) -> String {
    format!("/{slug}/orders/{order_token}/tickets.pdf?lang={}", lang.code())
}

/// The order's ticket PDF with fresh credentials, its buyer, event name and token;
/// `None` for an unknown order.
pub async fn order_pdf(handle: &TenantHandle, order: core::OrderId, lang: Lang) -> Option<(Vec<u8>, String, String)> {
    let keyring = handle.credentials.keyring.clone();
    let organizer = handle.name.clone();
    let printed = handle
        .shard
        .read(move |t| {
            let (view, tickets) = crate::tickets::printable(t, &keyring, &organizer, order)?;
            let email = t.order(order)?.buyer.email.clone();
            Some((view, tickets, email))
        })
        .await
        .ok()??;
    let (view, tickets, email) = printed;
    let event = view.event_name.clone();
    let pdf = tokio::task::spawn_blocking(move || crate::tickets::ticket_pdf(&view, &tickets, lang)).await.ok()?;
    Some((pdf, email, event))
}

/// Builds and sends the e-mail for `order`; returns once it was delivered or given up.
pub async fn send_tickets(handle: TenantHandle, slug: String, mail: TicketMail, order: core::OrderId, lang: Lang) {
    let Some((pdf, to, event)) = order_pdf(&handle, order, lang).await else {
        tracing::error!(order = order.0, "ticket e-mail: the order is not there");
        return;
    };
    let token = handle.credentials.token_for("order", order.0);
    let link = format!("{}{}", mail.base_url.trim_end_matches('/'), tickets_path(&slug, &token, lang));
    let (subject, text) = match lang {
        Lang::De => (
            format!("Ihre Tickets: {event}"),
            format!(
                "Guten Tag,\n\nvielen Dank für Ihre Bestellung {} bei {}. Ihre Tickets hängen als PDF an.\n\nSie können sie jederzeit erneut laden:\n{link}\n\nBitte zeigen Sie am Einlass den QR-Code vor.\n",
                order.0, handle.name
            ),
        ),
        Lang::En => (
            format!("Your tickets: {event}"),
            format!(
                "Hello,\n\nthank you for your order {} with {}. Your tickets are attached as a PDF.\n\nYou can download them again at any time:\n{link}\n\nPlease show the QR code at the entrance.\n",
                order.0, handle.name
            ),
        ),
    };
    let message = Mail {
        to,
        subject,
        text,
        html: None,
        attachments: vec![Attachment { filename: format!("tickets-{}.pdf", order.0), content_type: "application/pdf".into(), bytes: pdf }],
    };
    let mut pause = Duration::from_millis(ticket_mail_retry_pause_ms);
    for attempt in 1..=ticket_mail_attempts_max {
        let outcome = match mail.outbox.try_send(&message) {
            Ok(delivery) => delivery.outcome().await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return,
            Err(e) if retryable(&e) && attempt < ticket_mail_attempts_max => {
                tracing::warn!(order = order.0, attempt, code = e.code(), "ticket e-mail not sent yet; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => {
                tracing::error!(order = order.0, attempt, code = e.code(), "ticket e-mail given up; the confirmation page still serves the tickets");
                return;
            }
        }
    }
}

fn retryable(e: &MailError) -> bool {
    matches!(e, MailError::Busy) || e.is_transient()
}
