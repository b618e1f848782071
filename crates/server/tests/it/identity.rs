//! E-mail verification for the waiting room, end to end: `Verifications::start`
//! queues a real mail through the outbox to the SMTP sink, the test reads the code
//! out of the delivered text exactly as a fan would, and `confirm` turns it into
//! the tenant's `IdentityKey` and a signed identity credential. Time is passed in,
//! so expiry, locks and resend limits are checked at exact milliseconds.
//!
//! What they prove: one address gives one key per tenant however it is spelled
//! (case of the domain or local part, surrounding spaces) and another tenant's key
//! differs; wrong codes count down and lock until the code expires; codes expire;
//! mails to one address are limited per minute and per hour with a correct
//! `retry_after_s`; the store and the outbox are bounded and a refused start records
//! nothing; and the credential verifies with the tenant's published keys only.

// Limits and fixed instants are named like values, unit last, as in the library.
#![allow(non_upper_case_globals)]

use std::time::Duration;

use mail_parser::MessageParser;
use sturmfest_server::credentials::{CredentialError, Verifier};
use sturmfest_server::identity::{
    self, EmailAddress, IdentityCredentialError, IdentityError, IdentityKey, VerificationConfig, Verifications,
};
use sturmfest_server::mail::{MailError, Mailer, Outbox};
use sturmfest_server::tenants::{Credentials, Registry};

use crate::mail::sink_config;
use crate::support::smtp_sink::SmtpSink;

const wait: Duration = Duration::from_secs(10);
/// 2025-06-15 15:06:40 UTC; any fixed instant works.
const t0: i64 = 1_750_000_000_000;
const minute_ms: i64 = 60_000;

struct World {
    sink: SmtpSink,
    outbox: Outbox,
    club: Credentials,
    rival: Credentials,
}

async fn world_with(configure: impl FnOnce(&mut sturmfest_server::mail::MailConfig)) -> World {
    let sink = SmtpSink::start().await;
    let mut config = sink_config(&sink);
    configure(&mut config);
    let outbox = Mailer::new(&config).unwrap().spawn();
    let mut registry = Registry::default();
    registry.add("club", "Eisclub").unwrap();
    registry.add("rival", "Rivalen").unwrap();
    let club = Credentials::of(&registry.tenants[0]).unwrap();
    let rival = Credentials::of(&registry.tenants[1]).unwrap();
    World { sink, outbox, club, rival }
}

async fn world() -> World {
    world_with(|_| {}).await
}

impl World {
    fn verifications(&self, tenant: &str, configure: impl FnOnce(&mut VerificationConfig)) -> Verifications {
        let (credentials, name) = match tenant {
            "club" => (self.club.clone(), "Eisclub Sturmfest"),
            "rival" => (self.rival.clone(), "Rivalen e.V."),
            _ => panic!("no tenant {tenant}"),
        };
        let mut config = VerificationConfig::new("https://tickets.example/", name);
        configure(&mut config);
        Verifications::new(tenant, credentials, config, self.outbox.clone())
    }

    /// The next verification mail: its recipient and the code as printed in it.
    async fn next_code(&self) -> (String, String) {
        let received = self.sink.next_message(wait).await;
        let message = MessageParser::default().parse(&received.data).expect("parseable");
        let subject = message.subject().expect("subject");
        let code = subject.strip_prefix("Ihr Code / Your code: ").expect("subject names the code").to_string();
        let text = message.body_text(0).expect("text part").replace("\r\n", "\n");
        assert!(text.contains("Ihr Bestätigungscode für "), "German: {text}");
        assert!(text.contains("Your confirmation code for "), "English: {text}");
        assert!(text.contains(&format!(": {code}\n")), "the text carries the subject's code: {text}");
        (received.rcpt_to.join(","), code)
    }
}

fn other_code(code: &str) -> String {
    let n: u32 = code.replace(' ', "").parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

fn key(verifications: &Verifications, address: &str) -> IdentityKey {
    verifications.key_of(&EmailAddress::parse(address).unwrap())
}

#[tokio::test]
async fn a_mailed_code_confirms_to_one_key_per_person_and_tenant_with_a_signed_credential() {
    let w = world().await;
    let mut club = w.verifications("club", |_| {});
    let started = club.start("  Fan.Eins@Example.ORG \t", t0).unwrap();
    assert_eq!(started.code_expires_at_ms, t0 + 15 * minute_ms);
    started.delivery.outcome().await.expect("the mail went out");

    let received = w.sink.next_message(wait).await;
    assert_eq!(received.rcpt_to, ["Fan.Eins@example.org"], "mail goes to the local part as typed");
    let message = MessageParser::default().parse(&received.data).unwrap();
    let code = message.subject().unwrap().strip_prefix("Ihr Code / Your code: ").unwrap().to_string();
    assert!(code.len() == 7 && code.as_bytes()[3] == b' ', "{code}");
    let text = message.body_text(0).unwrap();
    let link = format!("https://tickets.example/club/verify?e=Fan%2EEins%40example%2Eorg&c={}", code.replace(' ', ""));
    assert!(text.contains(&link), "the link carries address and code: {text}");
    assert!(text.contains("Eisclub Sturmfest") && text.contains("15 Minuten") && text.contains("15 minutes"), "{text}");
    assert!(message.body_html(0).unwrap().contains(&link.replace('&', "&amp;")), "the HTML part links too");

    // Another spelling of the same mailbox confirms the same code to the same key.
    let verified = club.confirm("fan.eins@EXAMPLE.org", &code, t0 + minute_ms).unwrap();
    assert_eq!(verified.key, key(&club, "Fan.Eins@example.org"));
    assert_eq!(verified.key, key(&club, " FAN.EINS@example.ORG"));
    assert_ne!(verified.key, key(&club, "fan.zwei@example.org"));
    // Entering it again (a second click, a mail scanner opening the link first)
    // gives the same key.
    assert_eq!(club.confirm("Fan.Eins@example.org", &code.replace(' ', ""), t0 + 2 * minute_ms).unwrap().key, verified.key);

    // The credential says who, for this tenant, until when — checked offline.
    assert!(verified.credential.starts_with("sf1.4.1."), "{}", verified.credential);
    let now = t0 + minute_ms;
    assert_eq!(verified.credential_expires_at_ms, now + 24 * 60 * minute_ms);
    let club_gate = Verifier::from_published("club", &w.club.keyring.published()).unwrap();
    assert_eq!(identity::open_credential(&club_gate, &verified.credential, now), Ok(verified.key));
    assert_eq!(
        identity::open_credential(&club_gate, &verified.credential, verified.credential_expires_at_ms),
        Err(IdentityCredentialError::Expired)
    );
    let rival_gate = Verifier::from_published("rival", &w.rival.keyring.published()).unwrap();
    assert_eq!(
        identity::open_credential(&rival_gate, &verified.credential, now),
        Err(IdentityCredentialError::Credential(CredentialError::BadSignature))
    );
    let queue_place = w.club.keyring.sign(sturmfest_server::credentials::Kind::QueuePlace, &[0; 24]);
    assert_eq!(
        identity::open_credential(&club_gate, &queue_place, now),
        Err(IdentityCredentialError::Credential(CredentialError::WrongKind))
    );

    // The same person at another organizer is another, unlinkable key.
    let mut rival = w.verifications("rival", |_| {});
    rival.start("fan.eins@example.org", t0).unwrap();
    let (to, rival_code) = w.next_code().await;
    assert_eq!(to, "fan.eins@example.org");
    let at_rival = rival.confirm("Fan.Eins@example.org", &rival_code, t0).unwrap();
    assert_ne!(at_rival.key, verified.key);
    assert_eq!(identity::open_credential(&rival_gate, &at_rival.credential, t0), Ok(at_rival.key));
}

#[tokio::test]
async fn wrong_codes_count_down_and_then_lock_the_address_until_the_code_expires() {
    let w = world().await;
    let mut club = w.verifications("club", |_| {});
    club.start("fan@example.org", t0).unwrap();
    let (_, code) = w.next_code().await;
    let wrong = other_code(&code);
    for left in (0..5).rev() {
        match club.confirm("fan@example.org", &wrong, t0 + 1_000) {
            Err(IdentityError::WrongCode { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("{other:?}"),
        }
    }
    // Now even the right code is refused, and so is a new code, until expiry.
    let locked = club.confirm("fan@example.org", &code, t0 + 5 * minute_ms).unwrap_err();
    assert!(matches!(locked, IdentityError::Locked { retry_after_s: 600 }), "{locked:?}");
    assert_eq!(locked.code(), "verification_locked");
    assert!(matches!(club.start("FAN@example.org", t0 + 14 * minute_ms), Err(IdentityError::Locked { retry_after_s: 60 })));
    // Malformed input is not a guess and costs nothing, but does not get past the lock.
    assert!(matches!(club.confirm("fan@example.org", "12 34", t0 + 2_000), Err(IdentityError::CodeMalformed)));

    // Once the code has expired the address may ask again and starts with five tries.
    let expiry = t0 + 15 * minute_ms;
    assert!(matches!(club.confirm("fan@example.org", &code, expiry), Err(IdentityError::Expired)));
    club.start("fan@example.org", expiry).unwrap();
    let (_, fresh) = w.next_code().await;
    assert!(matches!(
        club.confirm("fan@example.org", &other_code(&fresh), expiry + 1),
        Err(IdentityError::WrongCode { attempts_left: 4 })
    ));
    assert!(club.confirm("fan@example.org", &fresh, expiry + 2).is_ok());
}

#[tokio::test]
async fn a_code_expires_and_a_new_code_replaces_the_old_one() {
    let w = world().await;
    let mut club = w.verifications("club", |c| c.code_lifetime_ms = 10 * minute_ms);
    club.start("fan@example.org", t0).unwrap();
    let (_, first) = w.next_code().await;
    let expired = club.confirm("fan@example.org", &first, t0 + 10 * minute_ms).unwrap_err();
    assert!(matches!(expired, IdentityError::Expired));
    assert_eq!(expired.code(), "verification_expired");

    club.start("fan@example.org", t0 + 11 * minute_ms).unwrap();
    let (_, second) = w.next_code().await;
    if second != first {
        assert!(matches!(
            club.confirm("fan@example.org", &first, t0 + 11 * minute_ms),
            Err(IdentityError::WrongCode { attempts_left: 4 })
        ));
    }
    assert!(club.confirm("fan@example.org", &second, t0 + 21 * minute_ms - 1).is_ok(), "valid until the last millisecond");
}

#[tokio::test]
async fn mails_to_one_address_are_limited_per_minute_and_per_hour() {
    let w = world().await;
    let mut club = w.verifications("club", |_| {});
    club.start("fan@example.org", t0).unwrap();
    let soon = club.start("Fan@Example.org", t0 + minute_ms - 1).unwrap_err();
    assert!(matches!(soon, IdentityError::ResendTooSoon { retry_after_s: 1 }), "{soon:?}");
    assert_eq!(soon.code(), "verification_resend_too_soon");
    for i in 1..5 {
        club.start("fan@example.org", t0 + i * minute_ms).unwrap();
    }
    // Five mails in five minutes: the sixth waits until the first leaves the hour.
    let hourly = club.start("fan@example.org", t0 + 10 * minute_ms).unwrap_err();
    assert!(matches!(hourly, IdentityError::ResendTooSoon { retry_after_s: 3000 }), "{hourly:?}");
    // Someone else is not affected.
    club.start("other@example.org", t0 + 10 * minute_ms).unwrap();
    club.start("fan@example.org", t0 + 60 * minute_ms).unwrap();
    for _ in 0..7 {
        w.next_code().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.sink.waiting(), 0, "a refused start sends nothing");
}

#[tokio::test]
async fn the_store_is_bounded_and_forgets_addresses_after_their_last_mails_hour() {
    let w = world().await;
    let mut club = w.verifications("club", |c| c.pending_verifications_max = 2);
    club.start("a@example.org", t0).unwrap();
    club.start("b@example.org", t0 + 1).unwrap();
    let busy = club.start("c@example.org", t0 + 2).unwrap_err();
    assert!(matches!(busy, IdentityError::Busy));
    assert_eq!(busy.code(), "verification_busy");
    // A known address still gets its resend within the bound.
    club.start("a@example.org", t0 + minute_ms).unwrap();
    assert_eq!(club.pending_count(), 2);
    // b's hour is over at t0 + 1 + 60 min; a's only at t0 + 61 min.
    club.start("c@example.org", t0 + 1 + 60 * minute_ms).unwrap();
    assert_eq!(club.pending_count(), 2);
    assert!(matches!(club.confirm("b@example.org", "000 000", t0 + 1 + 60 * minute_ms), Err(IdentityError::NotStarted)));
}

#[tokio::test]
async fn a_start_refused_by_a_full_outbox_records_nothing() {
    let w = world_with(|c| c.outbox_messages_max = 1).await;
    let mut club = w.verifications("club", |_| {});
    w.sink.hold();
    club.start("a@example.org", t0).unwrap();
    w.sink.await_connections(1, wait).await;
    club.start("b@example.org", t0).unwrap();
    let busy = club.start("c@example.org", t0).unwrap_err();
    assert!(matches!(busy, IdentityError::Mail(MailError::Busy)), "{busy:?}");
    assert_eq!(busy.code(), "mail_busy");
    w.sink.release();
    for _ in 0..2 {
        w.next_code().await;
    }
    // Not "too soon": no mail was sent the first time.
    club.start("c@example.org", t0 + 1).unwrap();
    let (to, code) = w.next_code().await;
    assert_eq!(to, "c@example.org");
    assert!(club.confirm("c@example.org", &code, t0 + 2).is_ok());
}

#[tokio::test]
async fn bad_addresses_and_codes_get_stable_errors_and_send_nothing() {
    let w = world().await;
    let mut club = w.verifications("club", |_| {});
    for (address, code) in [("", "email_empty"), ("fan", "email_malformed"), ("fan@localhost", "email_domain"), ("a b@x.org", "email_local_part")] {
        assert_eq!(club.start(address, t0).unwrap_err().code(), code, "{address:?}");
    }
    assert_eq!(club.start(&format!("{}@example.org", "a".repeat(250)), t0).unwrap_err().code(), "email_too_long");
    assert_eq!(club.confirm("fan@example.org", "123456", t0).unwrap_err().code(), "verification_not_started");
    assert_eq!(club.confirm("fan@example.org", "12345x", t0).unwrap_err().code(), "verification_code_malformed");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.sink.connections(), 0);
}
