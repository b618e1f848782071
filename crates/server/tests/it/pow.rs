//! The waiting room's proof of work (`pow.rs`, docs/POW.md): a solution found by
//! trying counters verifies and redeems exactly once; every way of cheating —
//! altering the sealed text, reusing it for another action or after its expiry,
//! too little work, a second redemption — gets its stable error code; no string a
//! client can send makes verification panic or succeed without the secret; the
//! spent set stays within its bound and forgets at expiry; and the difficulty curve
//! is monotonic and capped.
//!
//! The format is checked twice independently: a known answer computed with
//! Python's `hashlib`/`hmac` from docs/POW.md alone, and the browser solver
//! (`assets/pow.js`) run in Node.js against the Rust verifier.

use std::path::PathBuf;
use std::process::Command;

use proptest::prelude::*;
use sturmfest_server::http::problem::Problem;
use sturmfest_server::pow::{
    Challenge, PowError, SpentChallenges, challenge_ttl_ms, difficulty_bits, difficulty_bits_base, difficulty_bits_max,
    difficulty_bits_min, leading_zero_bits, parse, solve, verify, work_hash,
};

const SECRET: &[u8] = b"a server secret of thirty-two b!";
const SCOPE: &str = "club/event/3/join";
const NOW_MS: u64 = 1_767_225_600_000;

fn sealed(nonce_byte: u8) -> String {
    Challenge::new(SCOPE, difficulty_bits_min, NOW_MS, challenge_ttl_ms, [nonce_byte; 16]).seal(SECRET)
}

/// The smallest counter that does *not* solve the challenge.
fn failing_counter(text: &str, bits: u32) -> u64 {
    (0..).find(|c| leading_zero_bits(&work_hash(text, *c)) < bits).unwrap()
}

#[test]
fn a_solved_challenge_verifies_and_redeems_exactly_once() {
    let text = Challenge::random(SCOPE, difficulty_bits_min, NOW_MS).seal(SECRET);
    let counter = solve(&text, difficulty_bits_min).unwrap();
    assert!(leading_zero_bits(&work_hash(&text, counter)) >= difficulty_bits_min);
    let spent = SpentChallenges::new(16);
    let solved = verify(SECRET, &text, counter, NOW_MS + 1_000, SCOPE).expect("a solution verifies");
    assert_eq!(solved.expires_ms(), NOW_MS + challenge_ttl_ms);
    assert_eq!(spent.redeem(solved, NOW_MS + 1_000), Ok(()));
    // Verification is stateless and still passes; redemption is what refuses.
    let again = verify(SECRET, &text, counter, NOW_MS + 2_000, SCOPE).unwrap();
    assert_eq!(spent.redeem(again, NOW_MS + 2_000), Err(PowError::Replayed));
    assert_eq!(PowError::Replayed.code(), "pow_replayed");
    // Another solution of the same challenge is the same challenge.
    let other = (counter + 1..).find(|c| leading_zero_bits(&work_hash(&text, *c)) >= difficulty_bits_min).unwrap();
    let other = verify(SECRET, &text, other, NOW_MS + 3_000, SCOPE).unwrap();
    assert_eq!(spent.redeem(other, NOW_MS + 3_000), Err(PowError::Replayed));
    assert_eq!(spent.len(), 1);
}

#[test]
fn the_documented_format_matches_an_independent_python_computation() {
    // Computed from docs/POW.md alone with python3:
    //   secret = bytes(range(32)); body = "pow1.club/event/3/join.12.1767225600000." + bytes(range(16)).hex()
    //   tag = hmac.new(secret, b"sturmfest pow v1\0" + body.encode(), sha256).digest()[:16].hex()
    //   text = body + "." + tag
    //   smallest c with 256 - int.from_bytes(sha256(f"{text}:{c}".encode()).digest(), "big").bit_length() >= 12
    let python_text = "pow1.club/event/3/join.12.1767225600000.000102030405060708090a0b0c0d0e0f.c2f157a3d841e1024a69d01b15b8d5ef";
    let python_counter = 647;
    let python_hash = "000a011db17f51b9ea0709daf93c1a92bd4fde07c2bfea7a77b0c2900edf7902";

    let secret_0_to_31: Vec<u8> = (0..32).collect();
    let nonce: [u8; 16] = std::array::from_fn(|i| i as u8);
    let challenge = Challenge::new(SCOPE, 12, 1_767_225_600_000 - challenge_ttl_ms, challenge_ttl_ms, nonce);
    assert_eq!(challenge.seal(&secret_0_to_31), python_text);
    assert_eq!(parse(python_text), Ok(challenge));
    assert_eq!(hex::encode(work_hash(python_text, python_counter)), python_hash);
    assert_eq!(leading_zero_bits(&work_hash(python_text, python_counter)), 12);
    assert_eq!(solve(python_text, 12), Some(python_counter));
    assert!(verify(&secret_0_to_31, python_text, python_counter, 1_767_225_599_999, SCOPE).is_ok());
}

#[test]
fn leading_zero_bits_count_from_the_first_byte_s_high_bit() {
    let mut hash = [0u8; 32];
    assert_eq!(leading_zero_bits(&hash), 256);
    hash[0] = 0x80;
    assert_eq!(leading_zero_bits(&hash), 0);
    hash[0] = 0x01;
    assert_eq!(leading_zero_bits(&hash), 7);
    hash[0] = 0;
    hash[1] = 0x10;
    hash[2] = 0xff;
    assert_eq!(leading_zero_bits(&hash), 11);
}

#[test]
fn a_changed_field_tag_or_secret_is_forged() {
    let text = sealed(1);
    let counter = solve(&text, difficulty_bits_min).unwrap();
    assert!(verify(SECRET, &text, counter, NOW_MS, SCOPE).is_ok());
    let expires = (NOW_MS + challenge_ttl_ms).to_string();
    let tampered = [
        text.replacen(".12.", ".13.", 1),
        text.replacen(&expires, &(NOW_MS + 10 * challenge_ttl_ms).to_string(), 1),
        text.replacen("0101010101010101", "0202020202020202", 1),
        text.replacen("club/event/3/join", "club/event/4/join", 1),
        format!("{}{}", &text[..text.len() - 1], if text.ends_with('0') { '1' } else { '0' }),
    ];
    for forged in &tampered {
        assert_ne!(forged, &text);
        // Whatever the counter, a tampered text is refused before its fields count.
        for c in [counter, 0, 1] {
            let other_scope = parse(forged).unwrap().scope;
            assert_eq!(verify(SECRET, forged, c, NOW_MS, &other_scope), Err(PowError::Forged), "{forged}");
        }
    }
    assert_eq!(verify(b"another server's secret", &text, counter, NOW_MS, SCOPE), Err(PowError::Forged));
    assert_eq!(PowError::Forged.code(), "pow_forged");
}

#[test]
fn a_challenge_for_another_action_is_refused() {
    let text = sealed(2);
    let counter = solve(&text, difficulty_bits_min).unwrap();
    for other in ["club/event/4/join", "rival/event/3/join", "club/event/3/join/x", ""] {
        assert_eq!(verify(SECRET, &text, counter, NOW_MS, other), Err(PowError::WrongScope));
    }
    assert_eq!(PowError::WrongScope.code(), "pow_wrong_scope");
}

#[test]
fn a_challenge_expires_at_its_expiry_time_exactly() {
    let text = sealed(3);
    let counter = solve(&text, difficulty_bits_min).unwrap();
    let expires_ms = NOW_MS + challenge_ttl_ms;
    assert!(verify(SECRET, &text, counter, expires_ms - 1, SCOPE).is_ok());
    assert_eq!(verify(SECRET, &text, counter, expires_ms, SCOPE), Err(PowError::Expired));
    assert_eq!(verify(SECRET, &text, counter, u64::MAX, SCOPE), Err(PowError::Expired));
    assert_eq!(PowError::Expired.code(), "pow_expired");
}

#[test]
fn a_counter_with_too_few_zero_bits_is_insufficient() {
    let text = sealed(4);
    let counter = failing_counter(&text, difficulty_bits_min);
    assert_eq!(verify(SECRET, &text, counter, NOW_MS, SCOPE), Err(PowError::Insufficient));
    // Work at a lower difficulty does not pass a harder challenge of the same text
    // shape: a 12-bit answer to a 13-bit challenge is found and refused.
    let hard = Challenge::new(SCOPE, 13, NOW_MS, challenge_ttl_ms, [4; 16]).seal(SECRET);
    let almost = (0..).find(|c| leading_zero_bits(&work_hash(&hard, *c)) == 12).unwrap();
    assert_eq!(verify(SECRET, &hard, almost, NOW_MS, SCOPE), Err(PowError::Insufficient));
    assert_eq!(PowError::Insufficient.code(), "pow_insufficient");
}

#[test]
fn malformed_texts_are_malformed() {
    let good = sealed(5);
    let tag = good.rsplit_once('.').unwrap().1.to_string();
    let body = good.rsplit_once('.').unwrap().0.to_string();
    let cases = [
        String::new(),
        ".".into(),
        "pow1".into(),
        good.replacen("pow1.", "pow2.", 1),
        good.replacen("pow1.", "POW1.", 1),
        good.replacen(".12.", ".012.", 1),
        good.replacen(".12.", ".+12.", 1),
        good.replacen(".12.", ".11.", 1),
        good.replacen(".12.", ".25.", 1),
        good.replacen(".12.", ".99999999999999999999.", 1),
        good.replacen("club/event/3/join", "Club/event/3/join", 1),
        good.replacen("club/event/3/join", "club event", 1),
        good.replacen("club/event/3/join", "", 1),
        good.replacen("0505050505050505", "05050505050505", 1),
        good.replacen("0505050505050505", "0505050505050505ff", 1),
        format!("{body}.{}", tag.to_uppercase()),
        format!("{body}.{}", &tag[..30]),
        format!("{body}.x.{tag}"),
        format!("{good}."),
        format!("{good} "),
        format!("{}.{}.{tag}", body, "a".repeat(300)),
        good.replacen("pow1.", "pow1.club.", 1),
    ];
    for case in &cases {
        assert_eq!(verify(SECRET, case, 0, NOW_MS, SCOPE), Err(PowError::Malformed), "{case:?}");
        assert_eq!(parse(case), Err(PowError::Malformed), "{case:?}");
    }
    assert_eq!(PowError::Malformed.code(), "pow_malformed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Arbitrary text, including text built from the format's own alphabet, never
    /// panics and never passes: without the secret there is no valid tag.
    #[test]
    fn no_client_string_panics_or_passes(
        text in prop_oneof![
            any::<String>(),
            "pow1\\.[a-z0-9/_.-]{0,20}\\.[0-9]{1,3}\\.[0-9]{1,20}\\.[0-9a-f]{32}\\.[0-9a-fA-F.]{0,40}",
        ],
        counter in any::<u64>(),
        now in any::<u64>(),
    ) {
        let result = verify(SECRET, &text, counter, now, SCOPE);
        prop_assert!(matches!(result, Err(PowError::Malformed | PowError::Forged)), "{result:?}");
    }

    /// Any single-byte change of a valid text is caught before the work counts.
    #[test]
    fn a_valid_text_changed_anywhere_does_not_pass(index in 0usize..200, byte in 0x20u8..0x7f) {
        let text = sealed(6);
        let counter = solve(&text, difficulty_bits_min).unwrap();
        let mut bytes = text.clone().into_bytes();
        let index = index % bytes.len();
        prop_assume!(bytes[index] != byte);
        bytes[index] = byte;
        let changed = String::from_utf8(bytes).unwrap();
        let result = verify(SECRET, &changed, counter, NOW_MS, SCOPE);
        prop_assert!(matches!(result, Err(PowError::Malformed | PowError::Forged)), "{changed}: {result:?}");
    }

    #[test]
    fn difficulty_never_falls_as_load_or_base_rises(base in 0u32..40, load in any::<u32>(), more in any::<u32>()) {
        let bits = difficulty_bits(base, load);
        prop_assert!((difficulty_bits_min..=difficulty_bits_max).contains(&bits));
        prop_assert!(difficulty_bits(base, load.saturating_add(more)) >= bits);
        prop_assert!(difficulty_bits(base + 1, load) >= bits);
    }
}

#[test]
fn difficulty_adds_one_bit_per_doubling_of_overload_within_its_bounds() {
    let base = difficulty_bits_base;
    let table = [(0, base), (100, base), (199, base), (200, base + 1), (399, base + 1), (400, base + 2), (1_600, base + 4)];
    for (load, bits) in table {
        assert_eq!(difficulty_bits(base, load), bits, "load {load}%");
    }
    assert_eq!(difficulty_bits(base, u32::MAX), difficulty_bits_max);
    assert_eq!(difficulty_bits(0, 0), difficulty_bits_min, "a base below the floor is raised to it");
    assert_eq!(difficulty_bits(99, 0), difficulty_bits_max, "a base above the cap is lowered to it");
    assert_eq!(difficulty_bits(difficulty_bits_min, 100 << 12), difficulty_bits_max);
}

#[test]
fn the_spent_set_refuses_new_redemptions_when_full_and_forgets_at_expiry() {
    let spent = SpentChallenges::new(3);
    let challenge = |nonce: u8, ttl_ms: u64| {
        let text = Challenge::new(SCOPE, difficulty_bits_min, NOW_MS, ttl_ms, [nonce; 16]).seal(SECRET);
        let counter = solve(&text, difficulty_bits_min).unwrap();
        (text, counter)
    };
    let redeem = |(text, counter): &(String, u64), at: u64| {
        verify(SECRET, text, *counter, at, SCOPE).and_then(|solved| spent.redeem(solved, at))
    };
    let short = challenge(10, 1_000);
    let long = [challenge(11, 60_000), challenge(12, 60_000)];
    let extra = challenge(13, 60_000);
    assert_eq!(redeem(&short, NOW_MS), Ok(()));
    assert_eq!(redeem(&long[0], NOW_MS), Ok(()));
    assert_eq!(redeem(&long[1], NOW_MS), Ok(()));
    assert_eq!(redeem(&extra, NOW_MS + 999), Err(PowError::Overloaded), "full: refused, not grown");
    assert_eq!(PowError::Overloaded.code(), "pow_overloaded");
    assert_eq!(spent.len(), 3);
    // At the short challenge's expiry its entry goes, making room; the challenge
    // itself is refused as expired, so forgetting it cannot open a replay.
    assert_eq!(redeem(&extra, NOW_MS + 1_000), Ok(()));
    assert_eq!(redeem(&short, NOW_MS + 1_000), Err(PowError::Expired));
    assert_eq!(redeem(&long[0], NOW_MS + 1_000), Err(PowError::Replayed));
    assert_eq!(spent.len(), 3);
    // Once everything has expired the set is empty again.
    let later = challenge(14, 200_000);
    assert_eq!(redeem(&later, NOW_MS + 60_000), Ok(()));
    assert_eq!(spent.len(), 1);
}

#[test]
fn a_clock_stepping_back_does_not_reopen_a_forgotten_challenge() {
    let spent = SpentChallenges::new(8);
    let text = Challenge::new(SCOPE, difficulty_bits_min, NOW_MS, 1_000, [20; 16]).seal(SECRET);
    let counter = solve(&text, difficulty_bits_min).unwrap();
    spent.redeem(verify(SECRET, &text, counter, NOW_MS, SCOPE).unwrap(), NOW_MS).unwrap();
    // Another redemption at a later time forgets the expired entry.
    let other = Challenge::new(SCOPE, difficulty_bits_min, NOW_MS, 60_000, [21; 16]).seal(SECRET);
    let other_counter = solve(&other, difficulty_bits_min).unwrap();
    spent.redeem(verify(SECRET, &other, other_counter, NOW_MS + 5_000, SCOPE).unwrap(), NOW_MS + 5_000).unwrap();
    assert_eq!(spent.len(), 1);
    // A caller whose clock went back verifies the old challenge again; the set,
    // which has seen a later time, calls it expired instead of accepting it.
    let solved = verify(SECRET, &text, counter, NOW_MS + 500, SCOPE).unwrap();
    assert_eq!(spent.redeem(solved, NOW_MS + 500), Err(PowError::Expired));
}

#[test]
fn pow_errors_become_problems_with_their_codes() {
    use axum::http::StatusCode;
    let cases = [
        (PowError::Malformed, StatusCode::BAD_REQUEST),
        (PowError::Forged, StatusCode::UNPROCESSABLE_ENTITY),
        (PowError::WrongScope, StatusCode::UNPROCESSABLE_ENTITY),
        (PowError::Expired, StatusCode::GONE),
        (PowError::Insufficient, StatusCode::UNPROCESSABLE_ENTITY),
        (PowError::Replayed, StatusCode::CONFLICT),
        (PowError::Overloaded, StatusCode::SERVICE_UNAVAILABLE),
    ];
    for (error, status) in cases {
        let problem = Problem::from(error);
        assert_eq!((problem.status, problem.code), (status, error.code()));
        assert_eq!(problem.retry_after_secs.is_some(), error == PowError::Overloaded);
    }
}

// ----- the browser solver -----

fn node() -> Option<PathBuf> {
    let found = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    found.then(|| PathBuf::from("node"))
}

#[test]
fn the_browser_solver_finds_what_the_verifier_accepts() {
    let Some(node) = node() else {
        assert!(std::env::var_os("CI").is_none(), "CI must have Node.js to check assets/pow.js");
        eprintln!("node not found: the browser solver is not checked");
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/pow.js");
    let texts: Vec<String> = (30..33).map(sealed).chain([Challenge::new(SCOPE, 16, NOW_MS, 1, [33; 16]).seal(SECRET)]).collect();
    // The solver's SHA-256 against Node's own over every length across three blocks
    // (each padding case), then one solve per challenge, printed one per line.
    let program = r#"
        const pow = require(process.argv[1]);
        const crypto = require("crypto");
        for (let n = 0; n < 200; n++) {
            const s = "pow1.".repeat(40).slice(0, n);
            const want = crypto.createHash("sha256").update(s).digest("hex");
            if (pow.sha256Hex(s) !== want) throw new Error("sha256 differs at length " + n);
        }
        // A clock that jumps 100 ms per reading ends every slice after its first
        // 1,024 attempts, so progress reports are deterministic.
        let fakeMs = 0;
        Date.now = () => (fakeMs += 100);
        (async () => {
            for (const line of process.argv.slice(2)) {
                const [text, bits] = line.split(" ");
                const reports = [];
                const counter = await pow.solvePow(text, Number(bits), (p) => reports.push(p));
                const ok = reports.every((p, i) => p.attempts === 1024 * (i + 1) && p.expected === 2 ** Number(bits));
                console.log(counter, reports.length, ok);
            }
        })().catch((e) => { console.error(e); process.exit(1); });
    "#;
    let args: Vec<String> = texts.iter().map(|t| format!("{t} {}", parse(t).unwrap().difficulty_bits)).collect();
    let output = Command::new(node).arg("-e").arg(program).arg(&script).args(&args).output().expect("run node");
    assert!(output.status.success(), "node failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), texts.len(), "{stdout}");
    for (text, line) in texts.iter().zip(lines) {
        let [counter, reports, ok] = line.split(' ').collect::<Vec<_>>()[..] else { panic!("{line}") };
        let counter: u64 = counter.parse().unwrap();
        assert_eq!(reports.parse::<u64>().unwrap(), counter / 1024, "one progress report per unsolved slice: {line}");
        assert_eq!(ok, "true", "progress counts attempts and the expected work: {line}");
        let challenge = parse(text).unwrap();
        // The solver tries 0, 1, 2, …: it finds the same smallest counter as Rust.
        assert_eq!(Some(counter), solve(text, challenge.difficulty_bits), "{text}");
        // The last challenge lives 1 ms: the JS answer passes within it.
        let at = challenge.expires_ms - 1;
        assert!(verify(SECRET, text, counter, at, SCOPE).is_ok(), "{text}: {counter}");
    }
}
