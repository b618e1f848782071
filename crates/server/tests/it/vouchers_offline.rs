//! A merchant device redeems while the node is down, and nothing is lost or paid
//! twice when it comes back.
//!
//! A real node serves on a socket with its SQLite log in a temp directory; every call
//! goes over TCP (a small HTTP/1.1 client below). The office sets up a programme, a
//! shop, three sold cards and an offline policy, and hands out a pairing code; the
//! Rust device (`vouchers::device`) enrols with it, takes an allowance and the
//! cards' QR texts (code and signed balance certificate), and redeems card A online
//! so that A's certificate now overstates it. Then the node is STOPPED (server and
//! writers closed). Offline the device redeems A beyond what A still holds (an
//! overspend within the cap), is refused above A's offline cap and above its own
//! allowance, and redeems B. The node reopens the same data directory on a new
//! socket; the device syncs. Every card balance, the shop's payable, the allowance
//! (closed, rest released), the risk entries and the exposure the office sees are
//! exactly what a small model of the rules computes. Sending the same signed sync
//! again changes nothing; a tampered signature is refused with problem+json.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::vouchers::{CardId, MerchantId, payable_account};
use sturmfest_core::{Cents, TimeMs};
use sturmfest_server::node::{self, Opened};
use sturmfest_server::runtime::{ShardConfig, wall_clock_ms};
use sturmfest_server::tenants::Registry;
use sturmfest_server::vouchers::device::{Device, DeviceRequest, OfflineRefusal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) struct Http {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) json: Value,
}

/// One HTTP/1.1 request on a fresh connection; the reply read to its end.
pub(crate) async fn send(base: &str, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> std::io::Result<Http> {
    let mut stream = tokio::net::TcpStream::connect(base).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {base}\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("content-type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head[9..12].parse().expect("a status");
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
        .unwrap_or_default();
    let json = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    Ok(Http { status, content_type, json })
}

struct Running {
    opened: Opened,
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(dir: &std::path::Path) -> Running {
    let opened = node::open(dir, ShardConfig::default()).await.expect("open node");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve(listener, opened.state.clone(), async {
        let _ = stopped.await;
    }));
    Running { opened, base, stop, server }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.opened.close().await;
    }

    async fn office(&self, token: &str, method: &str, path: &str, body: Value) -> Http {
        let headers = [("authorization".to_string(), format!("Bearer {token}")), ("idempotency-key".to_string(), format!("k-{}", rand_key()))];
        let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        send(&self.base, method, &format!("/api/v1/club/vouchers{path}"), &headers, &body).await.expect("the node answers")
    }

    async fn device(&self, request: &DeviceRequest) -> Http {
        send(&self.base, request.method, &request.path, &request.headers, &request.body).await.expect("the node answers")
    }

    /// Balances, payable and the risk account, read from the tenant.
    async fn books(&self, cards: Vec<CardId>, merchant: u32, programme: u32) -> (Vec<i64>, i64, i64) {
        self.opened.state.tenants["club"]
            .shard
            .read(move |t| {
                let v = t.vouchers();
                let balances = cards.iter().map(|c| v.balance(t.ledger(), *c).unwrap().0).collect();
                let payable = t.ledger().account(payable_account(ProgrammeId(programme), MerchantId(merchant))).unwrap().balance().0;
                let risk = t
                    .ledger()
                    .account(sturmfest_core::vouchers::programme_account(ProgrammeId(programme), sturmfest_core::ledger::AccountKind::OfflineRisk))
                    .unwrap()
                    .balance()
                    .0;
                assert_eq!(t.ledger().accounts().map(|a| a.balance().0).sum::<i64>(), 0, "money is conserved");
                (balances, payable, risk)
            })
            .await
            .unwrap()
    }
}

fn rand_key() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn expect(reply: &Http, status: u16) {
    assert_eq!(reply.status, status, "{:#}", reply.json);
}

/// The rules, computed the plain way: each offline redemption, in journal order,
/// takes what its card has left and the rest from the allowance.
struct Model {
    balances: BTreeMap<&'static str, i64>,
    allowance: i64,
    used: i64,
    payable: i64,
    risk: Vec<(&'static str, i64)>,
}

impl Model {
    fn online(&mut self, card: &'static str, amount: i64) {
        *self.balances.get_mut(card).unwrap() -= amount;
        self.payable += amount;
    }

    fn sync(&mut self, journal: &[(&'static str, i64)]) {
        for (card, amount) in journal {
            let from_card = (*amount).min(self.balances[card]);
            let over = (amount - from_card).min(self.allowance - self.used);
            *self.balances.get_mut(card).unwrap() -= from_card;
            self.used += over;
            self.payable += from_card + over;
            if over > 0 {
                self.risk.push((card, over));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_redeems_while_the_node_is_stopped_and_its_sync_is_booked_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let token = registry.add("club", "Stadtmarketing").unwrap();
    registry.save(dir.path()).unwrap();
    let node = start(dir.path()).await;

    // ----- the office: programme, shop, three sold cards, offline policy -----
    let programme = json!({"name": "Stadtgutschein", "card_balance_cents_max": 25_000, "load_cents_max": 10_000,
                           "card_offline_cents_max": 2_000, "reversal_window_secs": 600});
    let reply = node.office(&token, "POST", "/programmes", programme).await;
    expect(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap() as u32;
    let reply = node.office(&token, "POST", "/merchants", json!({"name": "Buchladen", "iban": "DE89 3704 0044 0532 0130 00"})).await;
    expect(&reply, 201);
    let merchant = reply.json["id"].as_u64().unwrap() as u32;
    expect(&node.office(&token, "POST", &format!("/merchants/{merchant}/accept"), json!({"programme": programme})).await, 200);
    let reply = node.office(&token, "POST", &format!("/programmes/{programme}/batches"), json!({"count": 3, "medium": "printed", "pin": false})).await;
    expect(&reply, 201);
    let codes: Vec<String> = reply.json["cards"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect();
    for code in &codes {
        let sale = json!({"code": code, "amount_cents": 5_000, "paid_via": {"sales_point": 1}});
        expect(&node.office(&token, "POST", "/cards/activate", sale).await, 200);
    }
    let policy = json!({"device_allowance_cents_max": 5_000, "open_allowances_cents_max": 20_000});
    let reply = node.office(&token, "POST", &format!("/programmes/{programme}/offline"), policy).await;
    expect(&reply, 200);
    assert_eq!(reply.json["worst_case_loss"], "200.00", "{:#}", reply.json);

    // ----- the device enrols and takes an allowance and the cards' QR texts -----
    let reply = node.office(&token, "POST", &format!("/merchants/{merchant}/pairing"), Value::Null).await;
    expect(&reply, 201);
    let pairing = reply.json["pairing_code"].as_str().unwrap().to_string();
    let mut device = Device::new("club", [42; 32]);
    let reply = node.device(&device.enrol_request(&pairing)).await;
    expect(&reply, 201);
    device.enrolled(&reply.json);
    // The code enrols one key only.
    let stranger = Device::new("club", [43; 32]);
    let reply = node.device(&stranger.enrol_request(&pairing)).await;
    assert_eq!((reply.status, reply.json["code"].as_str()), (409, Some("device_exists")), "{:#}", reply.json);

    let now = || TimeMs(wall_clock_ms());
    let reply = node.device(&device.allowance_request(ProgrammeId(programme), Cents(4_000), 8 * 3_600, now())).await;
    expect(&reply, 201);
    device.take_allowance(&reply.json).expect("a signed allowance");
    let mut qr = Vec::new();
    let mut cards = Vec::new();
    for code in &codes {
        let reply = node.device(&device.signed("/device/certificate", json!({"code": code}), now())).await;
        expect(&reply, 200);
        qr.push(reply.json["qr"].as_str().unwrap().to_string());
        cards.push(CardId(reply.json["card"].as_u64().unwrap()));
    }
    let mut model = Model {
        balances: [("A", 5_000), ("B", 5_000), ("C", 5_000)].into(),
        allowance: 4_000,
        used: 0,
        payable: 0,
        risk: Vec::new(),
    };
    // Card A is spent online after its QR was made: its certificate says 50.00, it holds 10.00.
    let online = json!({"redemption_id": "a1", "code": codes[0], "amount_cents": 4_000});
    let reply = node.device(&device.signed("/device/redeem", online, now())).await;
    expect(&reply, 201);
    assert_eq!(reply.json["balance"], "10.00");
    model.online("A", 4_000);

    // ----- the node stops; the device keeps redeeming -----
    let old_base = node.base.clone();
    node.stop().await;
    assert!(send(&old_base, "GET", "/healthz", &[], &[]).await.is_err(), "the node is really gone");
    let mut journal = Vec::new();
    device.redeem_offline(&qr[0], Cents(1_800), now()).expect("A within its cap");
    journal.push(("A", 1_800));
    assert_eq!(device.redeem_offline(&qr[0], Cents(500), now()), Err(OfflineRefusal::OverCap { left: Cents(200) }));
    device.redeem_offline(&qr[1], Cents(1_500), now()).expect("B within its cap");
    journal.push(("B", 1_500));
    assert_eq!(device.allowance_left(), Cents(700));
    assert_eq!(device.redeem_offline(&qr[2], Cents(1_000), now()), Err(OfflineRefusal::OverAllowance { left: Cents(700) }));
    device.redeem_offline(&qr[2], Cents(700), now()).expect("C up to the allowance");
    journal.push(("C", 700));
    let mut forged = qr[1].clone();
    forged.pop();
    forged.push(if qr[1].ends_with('A') { 'B' } else { 'A' });
    assert!(matches!(device.redeem_offline(&forged, Cents(100), now()), Err(OfflineRefusal::Certificate(_))), "a changed QR is refused");
    assert_eq!(device.pending().len(), 3);

    // ----- the node comes back on the same data directory; the device syncs -----
    let node = start(dir.path()).await;
    let sync = device.sync_request(now());
    let reply = node.device(&sync).await;
    expect(&reply, 200);
    model.sync(&journal);
    assert_eq!(reply.json["booked"], 3, "{:#}", reply.json);
    assert_eq!(reply.json["risk_cents"], model.used, "A's overspend came from the allowance");
    assert_eq!(reply.json["released_cents"], model.allowance - model.used);
    device.synced();
    let (balances, payable, risk) = node.books(cards.clone(), merchant, programme).await;
    assert_eq!(balances, vec![model.balances["A"], model.balances["B"], model.balances["C"]]);
    assert_eq!(balances[0], 0, "A paid what it had, down to zero");
    assert_eq!(payable, model.payable, "the shop is paid every cent it handed out");
    assert_eq!(risk, -model.used);
    assert_eq!(model.risk, vec![("A", 800)]);
    let reply = node.office(&token, "GET", &format!("/programmes/{programme}/offline"), Value::Null).await;
    expect(&reply, 200);
    assert_eq!(reply.json["lost_cents"], 800);
    assert_eq!(reply.json["open_allowances"], json!([]), "the sync closed the allowance");
    let entries = reply.json["risk_entries"].as_array().unwrap();
    assert_eq!((entries.len(), entries[0]["card"].as_u64(), entries[0]["amount_cents"].as_i64()), (1, Some(cards[0].0), Some(800)));
    assert_eq!(entries[0]["device"].as_u64(), device.id.map(|d| d.0));

    // ----- the same signed sync again changes nothing -----
    let again = node.device(&sync).await;
    expect(&again, 200);
    assert_eq!((again.json["booked"].as_u64(), again.json["duplicates"].as_u64()), (Some(0), Some(3)));
    assert_eq!(node.books(cards.clone(), merchant, programme).await, (balances, payable, risk));

    // ----- a tampered signature is refused with problem+json -----
    let mut tampered = device.sync_request(now());
    let signature = tampered.headers.iter_mut().find(|(n, _)| n == "x-device-signature").unwrap();
    signature.1 = format!("{}{}", if signature.1.starts_with('A') { "B" } else { "A" }, &signature.1[1..]);
    let reply = node.device(&tampered).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.json["code"], "device_bad_signature");
    let mut other_body = device.sync_request(now());
    assert_eq!(other_body.body, br#"{"redemptions":[]}"#, "nothing left to sync");
    other_body.body = br#"{"redemptions": []}"#.to_vec();
    assert_eq!(node.device(&other_body).await.json["code"], "device_bad_signature", "the body is signed");
    node.stop().await;
}

/// The edges of the device protocol: every refusal is problem+json with its code,
/// and a revoked till is honoured for what it took before the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_protocol_refuses_what_it_must_and_honours_a_revoked_till_for_its_past() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let token = registry.add("club", "Stadtmarketing").unwrap();
    registry.save(dir.path()).unwrap();
    let node = start(dir.path()).await;
    let problem = |reply: &Http, status: u16, code: &str| {
        assert_eq!((reply.status, reply.content_type.as_str()), (status, "application/problem+json"), "{:#}", reply.json);
        assert_eq!(reply.json["code"], code, "{:#}", reply.json);
    };
    let body = json!({"name": "Regio", "card_balance_cents_max": 10_000, "load_cents_max": 10_000,
                      "card_offline_cents_max": 1_000, "reversal_window_secs": 600});
    let programme = node.office(&token, "POST", "/programmes", body).await.json["id"].as_u64().unwrap() as u32;
    let merchant = node.office(&token, "POST", "/merchants", json!({"name": "Café", "iban": "GB82 WEST 1234 5698 7654 32"})).await.json["id"].as_u64().unwrap() as u32;
    expect(&node.office(&token, "POST", &format!("/merchants/{merchant}/accept"), json!({"programme": programme})).await, 200);
    let reply = node.office(&token, "POST", &format!("/programmes/{programme}/batches"), json!({"count": 1, "medium": "printed", "pin": false})).await;
    let code = reply.json["cards"][0]["code"].as_str().unwrap().to_string();
    expect(&node.office(&token, "POST", "/cards/activate", json!({"code": code, "amount_cents": 3_000, "paid_via": {"sales_point": 1}})).await, 200);

    let path = format!("/programmes/{programme}/offline");
    problem(&node.office(&token, "GET", &path, Value::Null).await, 409, "offline_not_configured");
    let upside_down = json!({"device_allowance_cents_max": 5_000, "open_allowances_cents_max": 1_000});
    problem(&node.office(&token, "POST", &path, upside_down).await, 422, "limits_invalid");
    problem(&node.office("wrong", "POST", &path, json!({})).await, 401, "unauthorized");
    let policy = json!({"device_allowance_cents_max": 2_000, "open_allowances_cents_max": 2_500});
    expect(&node.office(&token, "POST", &path, policy).await, 200);

    // Pairing: a changed code and a key that is no key are refused.
    let pairing = node.office(&token, "POST", &format!("/merchants/{merchant}/pairing"), Value::Null).await.json["pairing_code"].as_str().unwrap().to_string();
    let mut device = Device::new("club", [7; 32]);
    let mut forged = device.enrol_request(&pairing);
    let changed = format!("{}{}", if pairing.starts_with('A') { "B" } else { "A" }, &pairing[1..]);
    forged.body = json!({"pairing_code": changed, "public_key": device.public_key_hex()}).to_string().into_bytes();
    problem(&node.device(&forged).await, 403, "pairing_code_invalid");
    forged.body = json!({"pairing_code": pairing, "public_key": "00"}).to_string().into_bytes();
    problem(&node.device(&forged).await, 422, "public_key_invalid");
    let reply = node.device(&device.enrol_request(&pairing)).await;
    expect(&reply, 201);
    device.enrolled(&reply.json);

    // Unsigned, skewed and over-limit calls.
    let unsigned = send(&node.base, "POST", "/api/v1/club/vouchers/device/sync", &[], b"{}").await.unwrap();
    problem(&unsigned, 401, "device_auth_malformed");
    let now = || TimeMs(wall_clock_ms());
    let skewed = device.allowance_request(ProgrammeId(programme), Cents(1_000), 3_600, TimeMs(wall_clock_ms() - 600_000));
    problem(&node.device(&skewed).await, 401, "device_clock_skew");
    problem(&node.device(&device.allowance_request(ProgrammeId(programme), Cents(2_500), 3_600, now())).await, 422, "amount_invalid");
    problem(&node.device(&device.allowance_request(ProgrammeId(programme), Cents(1_000), 10, now())).await, 422, "expiry_invalid");
    let reply = node.device(&device.allowance_request(ProgrammeId(programme), Cents(2_000), 3_600, now())).await;
    expect(&reply, 201);
    device.take_allowance(&reply.json).unwrap();
    problem(&node.device(&device.allowance_request(ProgrammeId(programme), Cents(500), 3_600, now())).await, 409, "allowance_open");
    // A second till may take only what the programme's bound leaves.
    let pairing = node.office(&token, "POST", &format!("/merchants/{merchant}/pairing"), Value::Null).await.json["pairing_code"].as_str().unwrap().to_string();
    let mut second = Device::new("club", [8; 32]);
    second.enrolled(&node.device(&second.enrol_request(&pairing)).await.json);
    problem(&node.device(&second.allowance_request(ProgrammeId(programme), Cents(1_000), 3_600, now())).await, 409, "risk_bound_reached");

    // The till redeems offline, is revoked, then syncs: what it took before counts.
    let qr = node.device(&device.signed("/device/certificate", json!({"code": code}), now())).await.json["qr"].as_str().unwrap().to_string();
    device.redeem_offline(&qr, Cents(1_000), now()).unwrap();
    let id = device.id.unwrap();
    let shard = &node.opened.state.tenants["club"].shard;
    let revoked = shard.execute(None, sturmfest_core::Command::Voucher(sturmfest_core::vouchers::VoucherCommand::RevokeDevice { device: id })).await.unwrap();
    assert!(revoked.is_ok(), "{revoked:?}");
    let reply = node.device(&device.sync_request(now())).await;
    expect(&reply, 200);
    assert_eq!((reply.json["booked"].as_u64(), reply.json["card_cents"].as_i64()), (Some(1), Some(1_000)), "{:#}", reply.json);
    problem(&node.device(&device.allowance_request(ProgrammeId(programme), Cents(500), 3_600, now())).await, 409, "device_revoked");
    node.stop().await;
}
