//! `sturmfest load rush` end to end at small scale, against a real `sturmfest demo`
//! child on port 0 with the proof of work at its cheapest (12 bits, no rise).
//!
//! Two runs on one server. On a small hall (160 seats, 100 standing) 300 fans — half
//! before the opening, half after — buy it out together with the box office: the
//! run stops at sold out (later fans are turned away or never arrive), nothing is
//! sold twice, the draw recomputes and the admission order agrees with it. On the demo arena (6,000 places) the same 300
//! fans cannot sell out: the run ends when the fans run out, with the same checks.
//! Both must exit 0 and print their checks; a violation exits non-zero, which the
//! generator's own unit tests provoke for the order check.

#![allow(non_upper_case_globals)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const sturmfest_bin: &str = env!("CARGO_BIN_EXE_sturmfest");
const demo_ready_timeout_ms: u64 = 60_000;

/// The demo child; killed when dropped so a failing test leaves nothing behind.
pub(crate) struct Demo {
    child: Child,
    pub(crate) addr: String,
    pub(crate) token: String,
    /// Every line the demo printed so far (its welcome text).
    pub(crate) output: std::sync::Arc<std::sync::Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(sturmfest_bin);
    command
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("demo"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // Only the settings set here, not whatever STURMFEST_* the test runs under.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STURMFEST_") {
            command.env_remove(name);
        }
    }
    command.env("STURMFEST_POW_BASE_BITS", "12").env("STURMFEST_POW_BITS_MAX", "12").env("NO_COLOR", "1");
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let printed = output.clone();
    std::thread::spawn(move || {
        let (mut addr, mut token) = (None, None);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            printed.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                addr = Some(a.trim().to_string());
            }
            if token.is_none()
                && let Some(at) = line.find("sft_")
            {
                token = Some(line[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>());
            }
            if let (Some(a), Some(t)) = (&addr, &token) {
                let _ = tx.send((a.clone(), t.clone()));
                addr = None;
            }
        }
    });
    let (addr, token) = rx.recv_timeout(Duration::from_millis(demo_ready_timeout_ms)).expect("the demo came up");
    Demo { child, addr, token, output, _dir: dir }
}

fn rush(demo: &Demo, extra: &[&str]) -> (Output, String) {
    let output = Command::new(sturmfest_bin)
        .args(["load", "rush", "--url", &format!("http://{}", demo.addr), "--token", &demo.token])
        .args(["--fans", "300", "--opens-in", "3", "--arrival-secs", "6", "--max-seconds", "60", "--concurrency", "64"])
        .args(["--server-pid", &demo.child.id().to_string()])
        .args(extra)
        .env_remove("STURMFEST_TOKEN")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output, text)
}

/// A hall smaller than what 300 fans want: two blocks of 4 rows × 20 seats and a
/// terrace of 100.
fn small_hall(demo: &Demo) -> u64 {
    let rows: Vec<Value> = (1..=4).map(|r| json!({"label": r.to_string(), "seat_count": 20, "y": r * 10, "dx": 10})).collect();
    let venue = json!({"name": "Halle", "blocks": [{"name": "A", "rows": rows}, {"name": "B", "rows": rows}],
        "standing": [{"name": "Stehplatz", "capacity": 100}]});
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(format!("http://{}/api/v1/demo/venues", demo.addr))
        .header("Authorization", format!("Bearer {}", demo.token))
        .header("Idempotency-Key", "rush-test-hall")
        .content_type("application/json")
        .send(venue.to_string())
        .unwrap();
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(response.status().as_u16(), 201, "{body}");
    body["id"].as_u64().unwrap()
}

fn assert_checked(output: &Output, text: &str) {
    assert!(output.status.success(), "the rush failed:\n{text}");
    for line in [
        "double-sold seats: none",
        "valid tickets + free + held == capacity: yes",
        "draw: verified",
        "admission order: consistent with the draw",
        "5xx replies: none",
        "result: OK — no correctness violation",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(text.contains("server memory (VmRSS of pid"), "{text}");
    let box_office = text.lines().find(|l| l.starts_with("box office:")).unwrap();
    assert!(!box_office.contains(" 0 orders"), "the box office sold nothing: {box_office}");
}

#[test]
fn a_rush_on_a_small_hall_sells_out_and_a_rush_on_the_arena_checks_out() {
    let demo = start_demo();
    let hall = small_hall(&demo);
    let (output, text) = rush(&demo, &["--venue", &hall.to_string(), "--box-office-quota", "40"]);
    assert_checked(&output, &text);
    assert!(text.contains("stopped: sold out"), "{text}");
    assert!(text.contains("free 0 held 0 sold 260"), "{text}");

    let (output, text) = rush(&demo, &[]);
    assert_checked(&output, &text);
    assert!(text.contains("stopped: fans ran out"), "{text}");
    assert!(text.contains("fans: 300 arrived, 300 joined"), "{text}");
    assert!(text.contains("(12 bits × 300)"), "every fan paid the base difficulty: {text}");
}

/// `sturmfest load redeem` at small scale against the same kind of demo child: it sets
/// up a voucher programme over the office API, redeems for a second, and reads every
/// card back; it must exit 0 with every balance matching its acknowledged redemptions.
#[test]
fn load_redeem_books_every_acknowledged_redemption_and_reads_every_card_back() {
    let demo = start_demo();
    let output = Command::new(sturmfest_bin)
        .args(["load", "redeem", "--url", &format!("http://{}", demo.addr), "--token", &demo.token])
        .args(["--cards", "30", "--concurrency", "8", "--seconds", "1"])
        .env_remove("STURMFEST_TOKEN")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{text}");
    assert!(text.contains("30 cards read back") && text.contains("cards whose balance differs: 0"), "{text}");
    assert!(text.contains("201: "), "redemptions were acknowledged: {text}");
    // A wrong token is refused at the first office call, and the run says so.
    let refused = Command::new(sturmfest_bin)
        .args(["load", "redeem", "--url", &format!("http://{}", demo.addr), "--token", "sft_wrong", "--cards", "2", "--seconds", "1"])
        .env_remove("STURMFEST_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{}", String::from_utf8_lossy(&refused.stderr));
}
