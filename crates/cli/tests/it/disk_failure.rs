//! A real disk failure: the server's fsync starts failing with EIO and nothing
//! that was not durable is ever acknowledged.
//!
//! `sturmfest serve` runs under libfiu's `fiu-run -x`, which preloads a library that
//! can make POSIX calls fail on command. The test sells and acknowledges one order,
//! then tells the live process (`fiu-ctrl`) to fail every `fsync`/`fdatasync` with
//! EIO, and sends more writes. Each must be answered `503 store_unavailable` — never
//! `201` — and the node must report itself unhealthy instead of retrying the fsync
//! (a retried fsync can "succeed" on pages the kernel already dropped). After a
//! restart without the fault the acknowledged order is there, a request refused
//! during the failure created no order, the log verifies, and selling continues.
//!
//! CI installs libfiu (`.ci/run`); there a missing `fiu-run` fails the test. A
//! developer machine without it is told so and the test returns early.

use std::process::Command;

use serde_json::json;

use crate::crash::{Api, Caller, Server, add_tenant, set_up_sale, verify};

fn fiu_available() -> bool {
    Command::new("fiu-run").arg("-h").output().is_ok()
}

fn hold_body(customer: &str) -> serde_json::Value {
    json!({"customer": customer, "tariff": 0, "selection": {"type": "standing", "area": 0, "quantity": 1}})
}

#[test]
fn a_failing_fsync_stops_the_writer_and_nothing_unflushed_is_acknowledged() {
    if !fiu_available() {
        assert!(std::env::var_os("CI").is_none(), "CI must install fiu-utils (see .ci/run); the disk-failure test cannot run");
        eprintln!("fiu-run not found: install Debian's fiu-utils to run the disk-failure test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = add_tenant(dir.path()).unwrap();
    let mut server = Server::start_wrapped(dir.path(), &["fiu-run", "-x"]).unwrap();
    let api = Api::new(&server.addr, &token);
    let event = set_up_sale(&api, 1).unwrap();

    let (status, hold) = api.post(&format!("/events/{event}/holds"), "h-before", &hold_body("fan-1"), Caller::Buyer).unwrap();
    assert_eq!(status, 201, "{hold}");
    let confirm = json!({"payment_ref": "pay-before", "buyer": {"name": "Erika", "email": "erika@example.org"}});
    let hold_token = hold["hold"].as_str().unwrap();
    let (status, order) = api.post(&format!("/holds/{hold_token}/confirm"), "c-before", &confirm, Caller::Admin).unwrap();
    assert_eq!(status, 201, "{order}");
    let acknowledged_order = order["order_id"].as_u64().unwrap();

    let pid = server.child.id().to_string();
    let ctrl = Command::new("fiu-ctrl").args(["-c", "enable name=posix/io/sync/*", &pid]).output().unwrap();
    assert!(ctrl.status.success(), "fiu-ctrl: {}", String::from_utf8_lossy(&ctrl.stderr));

    for attempt in 0..5 {
        let (status, problem) = api
            .post(&format!("/events/{event}/holds"), &format!("h-during-{attempt}"), &hold_body("fan-2"), Caller::Buyer)
            .unwrap();
        assert_eq!(status, 503, "a write during the disk failure must not be acknowledged: {problem}");
        assert_eq!(problem["code"], "store_unavailable", "{problem}");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let health = agent.get(format!("http://{}/healthz", server.addr)).call().unwrap();
    assert_eq!(health.status().as_u16(), 503, "the node must report the stopped writer");
    assert!(server.log().contains("writer stops"), "the writer must stop, not retry:\n{}", server.log());
    server.kill().unwrap();

    let server = Server::start(dir.path()).unwrap();
    let api = Api::new(&server.addr, &token);
    let (status, orders) = api.get(&format!("/events/{event}/orders")).unwrap();
    assert_eq!(status, 200);
    let ids: Vec<u64> = orders["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![acknowledged_order], "exactly the acknowledged order survives: {orders}");
    let (status, _) = api.post(&format!("/events/{event}/holds"), "h-after", &hold_body("fan-3"), Caller::Buyer).unwrap();
    assert_eq!(status, 201, "selling continues after the restart");
    drop(server);
    verify(dir.path()).unwrap();
}
