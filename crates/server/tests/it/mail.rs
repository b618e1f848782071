//! Outgoing mail over a real SMTP conversation. Each test starts its own SMTP sink
//! (`support::smtp_sink`) on a loopback port and points a `Mailer` at it in plain
//! text, then reads what arrived with `mail-parser`, as a mail client would — no
//! MIME is picked apart by hand here.
//!
//! What they prove: a message with text, HTML and a PDF attachment arrives with
//! the right envelope, headers, bodies and the attachment's exact bytes; the
//! outbox is bounded (full → `Busy` at once) and delivers every message it did
//! accept; a relay that answers 4xx and then 2xx is retried and the message is
//! delivered exactly once; a 5xx is permanent and not retried; a relay that never
//! greets times out; and `[mail]` settings load from TOML and `STURMFEST_MAIL_*`
//! as docs/MAIL.md says.

// Limits and fixed instants are named like values, unit last, as in the library.
#![allow(non_upper_case_globals)]

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use mail_parser::{MessageParser, MimeHeaders};
use sturmfest_server::mail::{Attachment, Mail, MailConfig, MailError, Mailer, Security};

use crate::support::smtp_sink::SmtpSink;

const wait: Duration = Duration::from_secs(10);

/// Plain SMTP to the sink, short backoff so retries do not slow the suite.
pub fn sink_config(sink: &SmtpSink) -> MailConfig {
    let mut config = MailConfig::new("127.0.0.1", Security::None, "tickets@eisclub.example");
    config.port = Some(sink.port());
    config.from_name = Some("Eisclub Tickets".into());
    config.send_timeout_ms = 5_000;
    config.retry_backoff_ms = 10;
    config
}

fn simple(to: &str, subject: &str) -> Mail {
    Mail { to: to.into(), subject: subject.into(), text: "Hallo".into(), html: None, attachments: Vec::new() }
}

/// Bytes that look like a small PDF and contain every byte value, so any encoding
/// slip (7-bit clipping, CRLF rewriting, dot-stuffing) changes them.
fn pdf_like() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    bytes.extend(0..=255u8);
    bytes.extend_from_slice(b"\r\n.\r\n..\n%%EOF\n");
    bytes
}

#[tokio::test]
async fn a_message_with_text_html_and_a_pdf_arrives_with_envelope_subject_bodies_and_attachment_bytes() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&sink_config(&sink)).unwrap();
    let text = "Guten Tag,\nanbei Ihre Tickets für Spiel 1.\n.Zeile mit Punkt am Anfang\nBis Mittwoch!\n";
    let mail = Mail {
        to: "Fan.Eins@example.org".into(),
        subject: "Ihre Tickets – Play-off Spiel 1 (Gäste-Block Ü)".into(),
        text: text.into(),
        html: Some("<p>Guten Tag,<br>anbei Ihre <b>Tickets</b>.</p>".into()),
        attachments: vec![Attachment {
            filename: "tickets-spiel-1.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: pdf_like(),
        }],
    };
    mailer.send(&mail).await.expect("delivered");

    let received = sink.next_message(wait).await;
    assert_eq!(received.mail_from, "tickets@eisclub.example");
    assert_eq!(received.rcpt_to, ["Fan.Eins@example.org"]);
    let message = MessageParser::default().parse(&received.data).expect("a parseable message");
    assert_eq!(message.subject(), Some(mail.subject.as_str()));
    let from = message.from().and_then(|a| a.first()).expect("From");
    assert_eq!((from.name(), from.address()), (Some("Eisclub Tickets"), Some("tickets@eisclub.example")));
    assert_eq!(message.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("Fan.Eins@example.org"));
    assert_eq!(message.body_text(0).unwrap().replace("\r\n", "\n"), text);
    assert_eq!(message.body_html(0).unwrap(), "<p>Guten Tag,<br>anbei Ihre <b>Tickets</b>.</p>");
    let attachments: Vec<_> = message.attachments().collect();
    assert_eq!(attachments.len(), 1);
    let pdf = attachments[0];
    assert_eq!(pdf.attachment_name(), Some("tickets-spiel-1.pdf"));
    let content_type = pdf.content_type().expect("content type");
    assert_eq!((content_type.ctype(), content_type.subtype()), ("application", Some("pdf")));
    assert_eq!(pdf.contents(), pdf_like().as_slice());
    assert_eq!(sink.out_of_order(), 0);
}

#[tokio::test]
async fn a_full_outbox_answers_busy_at_once_and_delivers_everything_it_accepted() {
    let sink = SmtpSink::start().await;
    let mut config = sink_config(&sink);
    config.outbox_messages_max = 3;
    let outbox = Mailer::new(&config).unwrap().spawn();

    // The worker takes the first message and waits for the held relay's greeting,
    // so the queue behind it fills up deterministically.
    sink.hold();
    let mut deliveries = vec![outbox.try_send(&simple("a@example.org", "m0")).unwrap()];
    sink.await_connections(1, wait).await;
    for i in 1..=3 {
        deliveries.push(outbox.try_send(&simple("a@example.org", &format!("m{i}"))).expect("room in the queue"));
    }
    for i in 4..=6 {
        assert!(matches!(outbox.try_send(&simple("a@example.org", &format!("m{i}"))), Err(MailError::Busy)));
    }

    sink.release();
    for delivery in deliveries {
        delivery.outcome().await.expect("an accepted message is delivered");
    }
    let mut subjects = BTreeSet::new();
    for _ in 0..4 {
        let received = sink.next_message(wait).await;
        let message = MessageParser::default().parse(&received.data).unwrap();
        subjects.insert(message.subject().unwrap().to_string());
    }
    assert_eq!(subjects, BTreeSet::from(["m0", "m1", "m2", "m3"].map(String::from)));
    assert_eq!(sink.waiting(), 0, "nothing refused was sent after all");
    assert_eq!(outbox.stats().delivered.load(Ordering::Relaxed), 4);
    // Room again once drained.
    outbox.try_send(&simple("a@example.org", "m7")).unwrap().outcome().await.unwrap();
}

#[tokio::test]
async fn a_relay_answering_4xx_then_2xx_is_retried_and_the_message_delivered_once() {
    let sink = SmtpSink::start().await;
    sink.script(&["451 4.3.0 greylisted, try again later", "421 4.4.2 busy"]);
    let outbox = Mailer::new(&sink_config(&sink)).unwrap().spawn();
    outbox.try_send(&simple("b@example.org", "third time lucky")).unwrap().outcome().await.expect("delivered on retry");

    let received = sink.next_message(wait).await;
    assert_eq!(MessageParser::default().parse(&received.data).unwrap().subject(), Some("third time lucky"));
    assert_eq!(sink.refused(), 2);
    assert_eq!(outbox.stats().retries.load(Ordering::Relaxed), 2);
    assert_eq!(outbox.stats().delivered.load(Ordering::Relaxed), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.waiting(), 0, "delivered exactly once");
}

#[tokio::test]
async fn transient_failures_stop_after_the_configured_attempts() {
    let sink = SmtpSink::start().await;
    sink.script(&["451 4.3.0 later"; 5]);
    let mut config = sink_config(&sink);
    config.send_attempts_max = 3;
    let outbox = Mailer::new(&config).unwrap().spawn();
    let outcome = outbox.try_send(&simple("c@example.org", "never")).unwrap().outcome().await;
    assert!(matches!(outcome, Err(MailError::Transient { code: Some(451), .. })), "{outcome:?}");
    assert_eq!(sink.refused(), 3);
    assert_eq!(outbox.stats().failed.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_5xx_reply_is_a_permanent_error_and_is_not_retried() {
    let sink = SmtpSink::start().await;
    sink.script(&["554 5.7.1 message refused"]);
    let mailer = Mailer::new(&sink_config(&sink)).unwrap();
    let error = mailer.send(&simple("d@example.org", "no")).await.unwrap_err();
    assert!(matches!(error, MailError::Permanent { code: Some(554), .. }), "{error:?}");
    assert_eq!(error.code(), "mail_permanent");

    sink.script(&["550 5.1.1 no such user"]);
    let outbox = mailer.spawn();
    let outcome = outbox.try_send(&simple("d@example.org", "no")).unwrap().outcome().await;
    assert!(matches!(outcome, Err(MailError::Permanent { code: Some(550), .. })), "{outcome:?}");
    assert_eq!(outbox.stats().retries.load(Ordering::Relaxed), 0);
    assert_eq!(sink.connections(), 2, "one connection per message, no retry");
    assert_eq!(sink.waiting(), 0);
}

#[tokio::test]
async fn a_relay_that_never_greets_times_out() {
    let sink = SmtpSink::start().await;
    sink.hold();
    let mut config = sink_config(&sink);
    config.send_timeout_ms = 200;
    let error = Mailer::new(&config).unwrap().send(&simple("e@example.org", "late")).await.unwrap_err();
    assert!(matches!(error, MailError::Timeout), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_message_no_relay_should_see_is_refused_before_it_is_queued() {
    let sink = SmtpSink::start().await;
    let outbox = Mailer::new(&sink_config(&sink)).unwrap().spawn();
    let bad = [
        simple("not an address", "x"),
        simple("f@example.org", "two\r\nlines"),
        Mail {
            attachments: vec![Attachment { filename: "x".into(), content_type: "no type".into(), bytes: vec![1] }],
            ..simple("f@example.org", "x")
        },
    ];
    for mail in &bad {
        assert!(matches!(outbox.try_send(mail), Err(MailError::Invalid(_))), "{mail:?}");
    }
    assert!(matches!(Mailer::new(&MailConfig::new("relay.example", Security::Tls, "nobody")), Err(MailError::Config(_))));
    assert_eq!(sink.connections(), 0);
}

#[test]
fn mail_settings_load_from_toml_and_sturmfest_mail_environment_variables() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "sturmfest.toml",
            r#"
                listen = "127.0.0.1:8080"
                [mail]
                host = "smtp.eisclub.example"
                security = "starttls"
                from_address = "tickets@eisclub.example"
                from_name = "Eisclub Tickets"
            "#,
        )?;
        jail.set_env("STURMFEST_MAIL_USERNAME", "tickets");
        jail.set_env("STURMFEST_MAIL_PASSWORD", "geheim");
        jail.set_env("STURMFEST_MAIL_OUTBOX_MESSAGES_MAX", "64");
        // The recipe docs/MAIL.md gives for `serve`.
        let config: MailConfig = Figment::new()
            .merge(Toml::file("sturmfest.toml"))
            .merge(Env::prefixed("STURMFEST_MAIL_").map(|key| format!("mail.{}", key.as_str()).into()))
            .extract_inner("mail")?;
        assert_eq!(config.host, "smtp.eisclub.example");
        assert_eq!((config.security, config.port()), (Security::Starttls, 587));
        assert_eq!((config.username.as_deref(), config.password.as_deref()), (Some("tickets"), Some("geheim")));
        assert_eq!(config.outbox_messages_max, 64);
        assert_eq!(config.send_attempts_max, 4, "defaults fill what is not set");
        Ok(())
    });
}
