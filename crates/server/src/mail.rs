//! Outgoing e-mail over SMTP: verification codes for the waiting room today,
//! tickets as PDF attachments for the shop next. One `Mailer` per node talks to one
//! relay (lettre's `AsyncSmtpTransport` on tokio, rustls for TLS); `Mailer::spawn`
//! puts a bounded outbox in front of it, so a burst of sign-ups at sale start is
//! answered with `MailError::Busy` instead of a growing buffer, and a relay that
//! says "try again later" (4xx) is retried a bounded number of times with backoff.
//!
//! The outbox lives in memory: what is queued when the process dies is not sent.
//! That is acceptable for verification codes (the fan asks again) and is why a
//! ticket mail must be re-sendable from the durable order, not from this queue.
//! docs/MAIL.md has the configuration keys and what is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// Largest message we build (bodies plus attachments, before base64). Relays
/// commonly refuse more than 10–25 MB; a ticket PDF is far below this.
pub const message_bytes_max: usize = 10 * 1024 * 1024;
/// Most attachments on one message.
pub const message_attachments_max: usize = 16;
/// Longest subject; a subject is one line a person reads.
pub const subject_chars_max: usize = 200;
/// Upper bound for any configured backoff, so a typo cannot park the outbox for hours.
pub const retry_backoff_max_ms: u64 = 60_000;

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain text. Only for a relay on the same machine or in tests.
    None,
    /// Connect in plain text, then upgrade with STARTTLS; refuse to send if the
    /// relay does not offer it (no silent downgrade). Usually port 587.
    Starttls,
    /// TLS from the first byte (SMTPS). Usually port 465.
    Tls,
}

impl Security {
    pub fn default_port(self) -> u16 {
        match self {
            Security::None => 25,
            Security::Starttls => 587,
            Security::Tls => 465,
        }
    }
}

fn default_security() -> Security {
    Security::Starttls
}
fn default_send_timeout_ms() -> u64 {
    30_000
}
fn default_outbox_messages_max() -> usize {
    1_024
}
fn default_send_attempts_max() -> u32 {
    4
}
fn default_retry_backoff_ms() -> u64 {
    1_000
}

/// The `[mail]` section of the `serve` configuration (TOML) or the
/// `STURMFEST_MAIL_*` environment variables; docs/MAIL.md lists the keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The relay's host name; also the name its TLS certificate must carry.
    pub host: String,
    /// Defaults by `security`: 25, 587 or 465.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default = "default_security")]
    pub security: Security,
    /// SMTP AUTH; both or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The sender's address, e.g. `tickets@eisclub.example`.
    pub from_address: String,
    /// The sender's display name, e.g. `Eisclub Tickets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// One whole SMTP conversation (connect to QUIT) may take this long.
    #[serde(default = "default_send_timeout_ms")]
    pub send_timeout_ms: u64,
    /// Messages waiting in the outbox; beyond this `try_send` answers `Busy`.
    #[serde(default = "default_outbox_messages_max")]
    pub outbox_messages_max: usize,
    /// Tries per message, the first included, for transient failures.
    #[serde(default = "default_send_attempts_max")]
    pub send_attempts_max: u32,
    /// Wait before the first retry; doubled for each further one, capped at
    /// `retry_backoff_max_ms`.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
}

impl MailConfig {
    /// A configuration with every optional key at its default.
    pub fn new(host: &str, security: Security, from_address: &str) -> MailConfig {
        MailConfig {
            host: host.to_string(),
            port: None,
            security,
            username: None,
            password: None,
            from_address: from_address.to_string(),
            from_name: None,
            send_timeout_ms: default_send_timeout_ms(),
            outbox_messages_max: default_outbox_messages_max(),
            send_attempts_max: default_send_attempts_max(),
            retry_backoff_ms: default_retry_backoff_ms(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }
}

/// A file sent along, e.g. a ticket PDF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// A MIME type such as `application/pdf`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One message to one recipient: plain text always (every client shows it), an
/// HTML alternative if given, and attachments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// Why a message was not sent. `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("message refused before sending: {0}")]
    Invalid(String),
    #[error("the outbox is full")]
    Busy,
    #[error("the outbox has stopped")]
    Closed,
    #[error("the relay did not finish within the send timeout")]
    Timeout,
    /// 4xx, a broken connection or an unreadable reply: worth another try.
    #[error("transient failure{}: {message}", code_suffix(*.code))]
    Transient { code: Option<u16>, message: String },
    /// 5xx: the relay refuses this message; trying again changes nothing.
    #[error("permanent failure{}: {message}", code_suffix(*.code))]
    Permanent { code: Option<u16>, message: String },
    #[error("TLS: {0}")]
    Tls(String),
}

fn code_suffix(code: Option<u16>) -> String {
    code.map(|c| format!(" {c}")).unwrap_or_default()
}

impl MailError {
    pub fn code(&self) -> &'static str {
        match self {
            MailError::Config(_) => "mail_config",
            MailError::Invalid(_) => "mail_invalid",
            MailError::Busy => "mail_busy",
            MailError::Closed => "mail_closed",
            MailError::Timeout => "mail_timeout",
            MailError::Transient { .. } => "mail_transient",
            MailError::Permanent { .. } => "mail_permanent",
            MailError::Tls(_) => "mail_tls",
        }
    }

    /// Whether the outbox tries the message again.
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Timeout | MailError::Transient { .. })
    }

    fn from_smtp(error: lettre::transport::smtp::Error) -> MailError {
        let code = error.status().map(u16::from);
        let message = error.to_string();
        if error.is_permanent() {
            MailError::Permanent { code, message }
        } else if error.is_tls() {
            // A certificate or handshake problem is a configuration matter; hammering
            // the relay again would not fix it.
            MailError::Tls(message)
        } else if error.is_client() {
            MailError::Invalid(message)
        } else if error.is_timeout() {
            MailError::Timeout
        } else {
            // 4xx, refused or reset connections, garbled replies.
            MailError::Transient { code, message }
        }
    }
}

/// Sends one message at a time to the configured relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    send_timeout: Duration,
    outbox_messages_max: usize,
    send_attempts_max: u32,
    retry_backoff_ms: u64,
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Mailer, MailError> {
        let from_address: Address =
            config.from_address.parse().map_err(|e| MailError::Config(format!("from_address {:?}: {e}", config.from_address)))?;
        if config.host.trim().is_empty() {
            return Err(MailError::Config("host is empty".into()));
        }
        if config.outbox_messages_max == 0 || config.send_attempts_max == 0 || config.send_timeout_ms == 0 {
            return Err(MailError::Config("outbox_messages_max, send_attempts_max and send_timeout_ms must be at least 1".into()));
        }
        let tls = match config.security {
            Security::None => Tls::None,
            Security::Starttls | Security::Tls => {
                let parameters =
                    TlsParameters::new(config.host.clone()).map_err(|e| MailError::Config(format!("TLS for {}: {e}", config.host)))?;
                if config.security == Security::Tls { Tls::Wrapper(parameters) } else { Tls::Required(parameters) }
            }
        };
        let send_timeout = Duration::from_millis(config.send_timeout_ms);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port())
            .tls(tls)
            .timeout(Some(send_timeout));
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => builder = builder.credentials(Credentials::new(user.clone(), password.clone())),
            (None, None) => {}
            _ => return Err(MailError::Config("username and password go together".into())),
        }
        Ok(Mailer {
            transport: builder.build(),
            from: Mailbox::new(config.from_name.clone(), from_address),
            send_timeout,
            outbox_messages_max: config.outbox_messages_max,
            send_attempts_max: config.send_attempts_max,
            retry_backoff_ms: config.retry_backoff_ms.min(retry_backoff_max_ms),
        })
    }

    /// The MIME message as it goes over the wire; errors for what no relay should see.
    pub fn build(&self, mail: &Mail) -> Result<Message, MailError> {
        let to: Address = mail.to.parse().map_err(|e| MailError::Invalid(format!("recipient {:?}: {e}", mail.to)))?;
        let subject_chars = mail.subject.chars().count();
        if subject_chars > subject_chars_max || mail.subject.contains(['\r', '\n']) {
            return Err(MailError::Invalid(format!("subject of {subject_chars} characters or with a line break")));
        }
        if mail.attachments.len() > message_attachments_max {
            return Err(MailError::Invalid(format!("{} attachments", mail.attachments.len())));
        }
        let bytes = mail.text.len()
            + mail.html.as_ref().map_or(0, String::len)
            + mail.attachments.iter().map(|a| a.bytes.len()).sum::<usize>();
        if bytes > message_bytes_max {
            return Err(MailError::Invalid(format!("{bytes} bytes")));
        }
        let builder = Message::builder().from(self.from.clone()).to(Mailbox::new(None, to)).subject(mail.subject.clone());
        let body = match &mail.html {
            Some(html) => MultiPart::alternative_plain_html(mail.text.clone(), html.clone()),
            None => MultiPart::mixed().singlepart(SinglePart::plain(mail.text.clone())),
        };
        let message = if mail.attachments.is_empty() {
            builder.multipart(body)
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for attachment in &mail.attachments {
                let content_type = ContentType::parse(&attachment.content_type)
                    .map_err(|e| MailError::Invalid(format!("content type {:?}: {e}", attachment.content_type)))?;
                mixed = mixed.singlepart(LettreAttachment::new(attachment.filename.clone()).body(attachment.bytes.clone(), content_type));
            }
            builder.multipart(mixed)
        };
        message.map_err(|e| MailError::Invalid(e.to_string()))
    }

    /// One attempt, bounded by the send timeout.
    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.send_message(self.build(mail)?).await
    }

    async fn send_message(&self, message: Message) -> Result<(), MailError> {
        match tokio::time::timeout(self.send_timeout, self.transport.send(message)).await {
            Err(_) => Err(MailError::Timeout),
            Ok(Err(e)) => Err(MailError::from_smtp(e)),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Up to `send_attempts_max` attempts, retrying only transient failures, with
    /// exponential backoff between them. Returns the last error.
    async fn send_with_retries(&self, message: &Message, stats: &OutboxStats) -> Result<(), MailError> {
        let mut backoff_ms = self.retry_backoff_ms;
        let mut attempt = 1;
        loop {
            match self.send_message(message.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && attempt < self.send_attempts_max => {
                    tracing::warn!(error = %e, attempt, "mail: transient failure, retrying");
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                    backoff_ms = (backoff_ms * 2).min(retry_backoff_max_ms);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts the outbox task. It sends one message at a time: mail is not on
    /// any fan's critical path, and one connection at a time is what small relays
    /// tolerate. The task ends when every `Outbox` handle is dropped and the queue
    /// is empty.
    pub fn spawn(self) -> Outbox {
        let (sender, mut receiver) = mpsc::channel::<Job>(self.outbox_messages_max);
        let stats = Arc::new(OutboxStats::default());
        let worker_stats = stats.clone();
        let mailer = self.clone();
        tokio::spawn(async move {
            while let Some(job) = receiver.recv().await {
                let outcome = mailer.send_with_retries(&job.message, &worker_stats).await;
                match &outcome {
                    Ok(()) => worker_stats.delivered.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        // The recipient is personal data; the error says enough to act on.
                        tracing::error!(error = %e, code = e.code(), "mail: not delivered");
                        worker_stats.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                // Nobody waiting is fine: most senders do not watch the outcome.
                let _ = job.done.send(outcome);
            }
        });
        Outbox { mailer: self, sender, stats }
    }
}

struct Job {
    message: Message,
    done: oneshot::Sender<Result<(), MailError>>,
}

/// Counters of what the outbox did, for metrics and tests.
#[derive(Debug, Default)]
pub struct OutboxStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
}

/// The handle to a running outbox. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    /// Builds messages on the caller's side, so a bad one is refused at once.
    mailer: Mailer,
    sender: mpsc::Sender<Job>,
    stats: Arc<OutboxStats>,
}

/// The outcome of one accepted message, for a caller that wants to wait for it.
#[derive(Debug)]
pub struct Delivery(oneshot::Receiver<Result<(), MailError>>);

impl Delivery {
    pub async fn outcome(self) -> Result<(), MailError> {
        self.0.await.unwrap_or(Err(MailError::Closed))
    }
}

impl Outbox {
    /// Queues a message without waiting: `Invalid` for a message no relay should
    /// see, `Busy` when the queue is full (never a larger buffer). A message
    /// accepted here is delivered or its `Delivery` reports why not.
    pub fn try_send(&self, mail: &Mail) -> Result<Delivery, MailError> {
        let message = self.mailer.build(mail)?;
        let (done, receiver) = oneshot::channel();
        match self.sender.try_send(Job { message, done }) {
            Ok(()) => Ok(Delivery(receiver)),
            Err(mpsc::error::TrySendError::Full(_)) => Err(MailError::Busy),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(MailError::Closed),
        }
    }

    pub fn stats(&self) -> &OutboxStats {
        &self.stats
    }
}
