//! `sturmfest verify-draw` as a user runs it: on an honest published draw it says
//! OK and names an id's place; on a tampered one or on garbage it exits non-zero
//! and names what is wrong.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use sturmfest_server::draw::{DrawDocument, QueueId, Seed, draw_order};

fn verify_draw(path: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sturmfest")).arg("verify-draw").arg(path).args(extra).output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn verify_draw_accepts_an_honest_draw_and_names_the_first_defect_of_a_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    let ids: BTreeSet<QueueId> = (1..=50u8).map(|b| QueueId([b; 16])).collect();
    let seed = Seed([42; 32]);
    let honest = DrawDocument::revealed("club", 0, "2026-11-25T12:30:00Z", "2026-11-25T13:00:00Z", &seed, &ids);
    let path = dir.path().join("draw.json");
    std::fs::write(&path, serde_json::to_vec(&honest).unwrap()).unwrap();

    let third = draw_order(&seed, &ids)[2];
    let ok = verify_draw(&path, &["--id", &third.to_string()]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains(&format!("{third}: place 3 of 50")), "{}", text(&ok));
    assert!(text(&ok).contains("result: OK"), "{}", text(&ok));

    let mut tampered = honest.clone();
    tampered.order.as_mut().unwrap().swap(4, 9);
    std::fs::write(&path, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let bad = verify_draw(&path, &[]);
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(text(&bad).contains("does NOT verify: place 5"), "{}", text(&bad));

    std::fs::write(&path, b"{\"format\": 1}").unwrap();
    let garbage = verify_draw(&path, &[]);
    assert!(!garbage.status.success());
    assert!(text(&garbage).contains("not a draw document"), "{}", text(&garbage));
}
