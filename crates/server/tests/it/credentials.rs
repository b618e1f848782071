//! Signed credentials as a gate or another node meets them: what the keyring signs
//! verifies with the published keys alone, and nothing else does — not a changed
//! body, not another tenant's or kind's credential, not a revoked key's, not any
//! string an attacker can type. Rotation keeps what is already out there valid.

use proptest::prelude::*;
use sturmfest_server::credentials::{CredentialError, KeyState, Keyring, Kind, Verifier};

fn ring(tenant: &str, seed: u8) -> Keyring {
    Keyring::generate(tenant, [seed; 32])
}

#[test]
fn a_credential_verifies_with_the_published_keys_and_carries_its_body() {
    let club = ring("club", 1);
    let token = club.sign(Kind::QueuePlace, b"event 3, place 17");
    assert!(token.starts_with("sf1.1.1."), "{token}");
    let published = club.published();
    assert!(published.iter().all(|k| k.secret.is_none()), "published keys carry no secret");
    let gate = Verifier::from_published("club", &published).unwrap();
    assert_eq!(gate.verify(Kind::QueuePlace, &token).unwrap(), b"event 3, place 17");
}

#[test]
fn forged_foreign_and_misused_credentials_are_rejected_with_their_reason() {
    let club = ring("club", 1);
    let token = club.sign(Kind::Admission, b"until 14:05");
    let verifier = club.verifier();

    // Another body under the same signature.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}.{}.{}", parts[0], parts[1], parts[2], "dW50aWwgMjM6NTk", parts[4]);
    assert_eq!(verifier.verify(Kind::Admission, &forged), Err(CredentialError::BadSignature));
    // A queue place presented as an admission, and the kind number rewritten.
    let place = club.sign(Kind::QueuePlace, b"until 14:05");
    assert_eq!(verifier.verify(Kind::Admission, &place), Err(CredentialError::WrongKind));
    let relabelled = place.replacen("sf1.1.", "sf1.2.", 1);
    assert_eq!(verifier.verify(Kind::Admission, &relabelled), Err(CredentialError::BadSignature));
    // Another tenant's credential, even with the very same key bytes.
    let twin = ring("rival", 1);
    assert_eq!(twin.verifier().verify(Kind::Admission, &token), Err(CredentialError::BadSignature));
    // A key id this tenant never had.
    let unknown = token.replacen("sf1.2.1.", "sf1.2.9.", 1);
    assert_eq!(verifier.verify(Kind::Admission, &unknown), Err(CredentialError::UnknownKey));
    // Non-canonical spellings of the same numbers.
    let padded = token.replacen("sf1.2.1.", "sf1.2.01.", 1);
    assert_eq!(verifier.verify(Kind::Admission, &padded), Err(CredentialError::Malformed));
    for junk in ["", "sf1", "sf1.....", "sf2.2.1.AA.AA", &format!("{token}.x"), &"a".repeat(5000)] {
        assert_eq!(verifier.verify(Kind::Admission, junk), Err(CredentialError::Malformed), "{junk:.40}");
    }
    assert!(verifier.verify(Kind::Admission, &token).is_ok(), "the genuine one still verifies");
}

#[test]
fn rotation_keeps_old_credentials_valid_and_revocation_withdraws_them() {
    let first = ring("club", 1);
    let old = first.sign(Kind::Ticket, b"seat 12");
    let second = first.rotate([2; 32]).unwrap();
    let new = second.sign(Kind::Ticket, b"seat 13");
    assert!(new.starts_with("sf1.3.2."), "the new key signs: {new}");
    assert_eq!(second.stored().iter().map(|k| k.state).collect::<Vec<_>>(), [KeyState::Retired, KeyState::Active]);
    assert_eq!(second.verifier().verify(Kind::Ticket, &old).unwrap(), b"seat 12");
    assert_eq!(second.verifier().verify(Kind::Ticket, &new).unwrap(), b"seat 13");
    // A gate still on the old key set does not know key 2 yet.
    assert_eq!(first.verifier().verify(Kind::Ticket, &new), Err(CredentialError::UnknownKey));

    assert!(second.revoke(2).is_err(), "the active key cannot be revoked");
    let third = second.revoke(1).unwrap();
    let gate = Verifier::from_published("club", &third.published()).unwrap();
    assert_eq!(gate.verify(Kind::Ticket, &old), Err(CredentialError::RevokedKey));
    assert!(gate.verify(Kind::Ticket, &new).is_ok());
}

#[test]
fn a_stored_keyring_round_trips_and_a_tampered_one_is_refused() {
    let ring = ring("club", 5).rotate([6; 32]).unwrap();
    let json = serde_json::to_string(ring.stored()).unwrap();
    let back = Keyring::load("club", &serde_json::from_str::<Vec<_>>(&json).unwrap()).unwrap();
    let token = back.sign(Kind::QueuePlace, b"x");
    assert!(ring.verifier().verify(Kind::QueuePlace, &token).is_ok());

    let mut swapped = ring.stored().to_vec();
    swapped[0].public = swapped[1].public.clone();
    assert!(Keyring::load("club", &swapped).is_err(), "a public key that is not the secret's");
    let mut two_active = ring.stored().to_vec();
    two_active[0].state = KeyState::Active;
    assert!(Keyring::load("club", &two_active).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text never panics the parser and never verifies.
    #[test]
    fn arbitrary_text_never_verifies(text in ".{0,300}") {
        let ring = ring("club", 1);
        prop_assert!(ring.verifier().verify(Kind::QueuePlace, &text).is_err());
    }

    /// Changing any one character of a genuine credential makes it fail.
    #[test]
    fn any_single_character_change_is_caught(body in proptest::collection::vec(any::<u8>(), 0..64), at in any::<prop::sample::Index>(), with in "[A-Za-z0-9._-]") {
        let ring = ring("club", 1);
        let token = ring.sign(Kind::QueuePlace, &body);
        let i = at.index(token.len());
        let mut changed = token.clone();
        changed.replace_range(i..=i, &with);
        prop_assume!(changed != token);
        prop_assert!(ring.verifier().verify(Kind::QueuePlace, &changed).is_err(), "{} verified", changed);
    }
}
