//! The HTTP API, end to end, as a client sees it. Every test opens a fresh data
//! directory with two tenants (`club` and `rival`) through `node::open` — the real
//! SQLite log, the real writer tasks — builds the router with `app(state)` and
//! drives it with `oneshot`, no socket. Venues and events are created through the
//! admin API itself, so the tests exercise exactly what an organizer would.
//!
//! What they prove: the happy path sells, cancels and refunds with money as integer
//! cents plus a two-decimal euro string and times as RFC 3339; every hostile input
//! is answered with an `application/problem+json` carrying a stable `code` *and
//! leaves the stores untouched* (each hostile test compares both tenants'
//! availability, seat maps and order lists before and after); idempotency keys
//! replay, refuse reuse and are scoped per customer; the sale brake holds; overload
//! sheds with 503 + `Retry-After`, keeps every acknowledged hold and leaves nothing
//! behind a 503 (a one-slot inbox, concurrent buyers and readers); the route
//! tables of docs/API.md, the served OpenAPI document and the router agree; and a
//! restart brings back every order and the same availability.
//!
//! Where docs/API.md and the server disagree, the tests assert the document.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sturmfest_server::http::app;
use sturmfest_server::node::{self, Opened};
use sturmfest_server::runtime::ShardConfig;
use sturmfest_server::tenants::Registry;
use tempfile::TempDir;
use tower::ServiceExt;

// ----- the node under test -----

/// One data directory with the tenants `club` and `rival`, opened for real.
pub(crate) struct Node {
    dir: TempDir,
    config: ShardConfig,
    pub(crate) opened: Opened,
    pub(crate) app: Router,
    /// Admin API tokens.
    pub(crate) club: String,
    rival: String,
    /// The club's box-office terminal token.
    pub(crate) counter: String,
}

async fn start(config: ShardConfig) -> Node {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut registry = Registry::default();
    let club = registry.add("club", "Eisclub").expect("add club");
    let rival = registry.add("rival", "Rivalen").expect("add rival");
    let counter = registry.add_terminal("club", "Kasse 1").expect("add terminal");
    registry.save(dir.path()).expect("save registry");
    let opened = node::open(dir.path(), config.clone()).await.expect("open node");
    let app = app(opened.state.clone());
    Node { dir, config, opened, app, club, rival, counter }
}

pub(crate) async fn fresh() -> Node {
    start(ShardConfig::default()).await
}

impl Node {
    /// A clean stop (every writer finishes and snapshots) and a fresh open of the
    /// same directory. The router holds the shards' inboxes, so it goes first.
    pub(crate) async fn restart(self) -> Node {
        let Node { dir, config, opened, app: router, club, rival, counter } = self;
        drop(router);
        opened.close().await;
        let opened = node::open(dir.path(), config.clone()).await.expect("reopen node");
        let app = app(opened.state.clone());
        Node { dir, config, opened, app, club, rival, counter }
    }

    /// `restart`, running `between` on the data directory while no node has it open
    /// (a test writes log records with chosen times there).
    pub(crate) async fn restart_with(self, between: impl AsyncFnOnce(&std::path::Path)) -> Node {
        let Node { dir, config, opened, app: router, club, rival, counter } = self;
        drop(router);
        opened.close().await;
        between(dir.path()).await;
        let opened = node::open(dir.path(), config.clone()).await.expect("reopen node");
        let app = app(opened.state.clone());
        Node { dir, config, opened, app, club, rival, counter }
    }

    /// The data directory: the log, its snapshots and the registry.
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn token(&self, slug: &str) -> &str {
        match slug {
            "club" => &self.club,
            "rival" => &self.rival,
            _ => panic!("no tenant {slug}"),
        }
    }
}

pub(crate) fn at(slug: &str, path: &str) -> String {
    format!("/api/v1/{slug}{path}")
}

// ----- requests and replies -----

pub(crate) struct Req {
    method: Method,
    uri: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

/// Mutating calls get a fresh `Idempotency-Key` unless a test names one.
fn fresh_key() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("test-key-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn get(uri: impl Into<String>) -> Req {
    Req { method: Method::GET, uri: uri.into(), headers: Vec::new(), body: Vec::new() }
}

pub(crate) fn post(uri: impl Into<String>, body: Value) -> Req {
    let body = serde_json::to_vec(&body).expect("json");
    Req { method: Method::POST, uri: uri.into(), headers: Vec::new(), body }
        .header("content-type", "application/json")
        .key(&fresh_key())
}

fn delete(uri: impl Into<String>) -> Req {
    Req { method: Method::DELETE, uri: uri.into(), headers: Vec::new(), body: Vec::new() }.key(&fresh_key())
}

pub(crate) fn request(method: &str, uri: impl Into<String>) -> Req {
    Req { method: method.parse().expect("method"), uri: uri.into(), headers: Vec::new(), body: Vec::new() }
}

impl Req {
    pub(crate) fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        let name: HeaderName = name.parse().expect("header name");
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, HeaderValue::from_bytes(value.as_ref()).expect("header value")));
        self
    }

    pub(crate) fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
        self
    }

    fn key(self, key: &str) -> Req {
        self.header("idempotency-key", key)
    }

    pub(crate) fn bearer(self, token: &str) -> Req {
        self.header("authorization", format!("Bearer {token}"))
    }

    pub(crate) fn raw(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The body as JSON; a body that is not JSON shows up as a JSON string.
    pub(crate) json: Value,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// Sends one request through the whole router and reads the reply.
pub(crate) async fn check(app: &Router, req: Req) -> Reply {
    let mut builder = Request::builder().method(req.method).uri(req.uri);
    for (name, value) in req.headers {
        builder = builder.header(name, value);
    }
    let response = app.clone().oneshot(builder.body(Body::from(req.body)).expect("request")).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply { status, headers, json }
}

#[track_caller]
pub(crate) fn expect_status(reply: &Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "unexpected reply: {reply:#?}");
}

/// An RFC 9457 problem with every documented field and the stable `code`.
#[track_caller]
pub(crate) fn expect_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "unexpected reply: {reply:#?}");
    assert_eq!(reply.content_type(), "application/problem+json", "{reply:#?}");
    let p = &reply.json;
    assert_eq!(p["code"], code, "{reply:#?}");
    assert_eq!(p["type"], format!("https://sturmfest.dev/problems/{code}"), "{reply:#?}");
    assert_eq!(p["status"], status, "{reply:#?}");
    assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{reply:#?}");
    assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{reply:#?}");
}

/// Money is integer cents plus a euro string with exactly two decimals.
#[track_caller]
fn expect_money(value: &Value, field: &str, cents: i64) {
    assert_eq!(value[format!("{field}_cents")], cents, "{field}_cents in {value:#}");
    let sign = if cents < 0 { "-" } else { "" };
    let euros = format!("{sign}{}.{:02}", cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
    assert_eq!(value[field], euros, "{field} in {value:#}");
}

/// Output times are RFC 3339 in UTC (`Z`).
#[track_caller]
fn expect_time(value: &Value) -> jiff::Timestamp {
    let text = value.as_str().unwrap_or_else(|| panic!("a time string, got {value}"));
    assert!(text.ends_with('Z'), "output times are UTC: {text}");
    text.parse().unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
}

// ----- fixtures made through the admin API -----

/// Block A: rows 1 and 2 of five generated seats (ids 0–9). Block "Presse": two
/// listed seats (ids 10–11) that no category sells. One standing area.
pub(crate) fn venue_json(name: &str, standing: u32) -> Value {
    json!({"name": name,
        "blocks": [
            {"name": "A", "rows": [
                {"label": "1", "seat_count": 5, "first_label": 1, "x": 0, "y": 0, "dx": 10},
                {"label": "2", "seat_count": 5, "first_label": 1, "x": 0, "y": 10, "dx": 10}]},
            {"name": "Presse", "rows": [
                {"label": "P", "seats": [{"label": "1", "x": 0, "y": 100}, {"label": "2", "x": 10, "y": 100}]}]}],
        "standing": [{"name": "Stehplatz Nord", "capacity": standing}]})
}

fn event_json(name: &str, venue: u64) -> Value {
    json!({"name": name, "venue": venue, "starts_at": "2099-12-02T19:30:00+01:00",
        "sale_opens_at": "2020-01-01T00:00:00+01:00", "sale_closes_at": "2099-12-02T19:30:00+01:00",
        "categories": [
            {"name": "Sitzplatz", "blocks": [0],
             "tariffs": [{"name": "Erwachsene", "price_cents": 2900}, {"name": "Ermäßigt", "price_cents": 1905}]},
            {"name": "Stehplatz", "area": 0, "tariffs": [{"name": "Erwachsene", "price_cents": 1500}]}],
        "quotas": {"online": null, "box_office": null, "reserved": null},
        "hold_duration_secs": 600, "order_tickets_max": 8, "customer_tickets_max": 8})
}

/// docs/API.md answers `POST /venues` and `POST /events` with `{"id": id}`;
/// `the_admin_create_calls_and_the_event_list_answer_in_the_documented_shape` pins it.
pub(crate) fn created_id(reply: &Reply, _what: &str) -> u64 {
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:#?}");
    reply.json["id"].as_u64().unwrap_or_else(|| panic!("no id in {reply:#?}"))
}

/// Creates a venue and an event and opens the sale; returns the event id.
pub(crate) async fn open_event(n: &Node, slug: &str, name: &str, standing: u32) -> u64 {
    let token = n.token(slug);
    let venue =
        created_id(&check(&n.app, post(at(slug, "/venues"), venue_json(name, standing)).bearer(token)).await, "venue");
    let event = draft_event(n, slug, name, venue).await;
    let opened =
        check(&n.app, post(at(slug, &format!("/events/{event}/sale")), json!({"action": "open"})).bearer(token)).await;
    expect_status(&opened, 200);
    event
}

async fn draft_event(n: &Node, slug: &str, name: &str, venue: u64) -> u64 {
    let reply = check(&n.app, post(at(slug, "/events"), event_json(name, venue)).bearer(n.token(slug))).await;
    created_id(&reply, "event")
}

pub(crate) fn seats_hold(customer: &str, seats: &[u32]) -> Value {
    json!({"customer": customer, "tariff": 0, "selection": {"type": "seats", "seats": seats}})
}

pub(crate) fn standing_hold(customer: &str, quantity: i64) -> Value {
    json!({"customer": customer, "tariff": 0, "selection": {"type": "standing", "area": 0, "quantity": quantity}})
}

pub(crate) fn payment() -> Value {
    json!({"payment_ref": "pay_123", "buyer": {"name": "Erika Mustermann", "email": "erika@example.org"}})
}

async fn hold(n: &Node, slug: &str, event: u64, body: Value) -> Reply {
    check(&n.app, post(at(slug, &format!("/events/{event}/holds")), body)).await
}

/// Sells a hold the way staff do (the organizer's token also opens the terminal
/// path); online buyers pay through a provider instead (`payments.rs`).
async fn confirm(n: &Node, slug: &str, hold_token: &str) -> Reply {
    check(&n.app, post(at(slug, &format!("/holds/{hold_token}/confirm")), payment()).bearer(n.token(slug))).await
}

async fn availability(n: &Node, slug: &str, event: u64) -> Value {
    let reply = check(&n.app, get(at(slug, &format!("/events/{event}/availability")))).await;
    expect_status(&reply, 200);
    reply.json
}

async fn orders(n: &Node, slug: &str, event: u64) -> Value {
    let reply = check(&n.app, get(at(slug, &format!("/events/{event}/orders"))).bearer(n.token(slug))).await;
    expect_status(&reply, 200);
    reply.json
}

/// Both tenants with an open event each, a confirmed order and a live hold; the
/// rival also has a second (draft) event so its ids reach past the club's.
struct Stock {
    club_hold: String,
    club_order: String,
    rival_hold: String,
    rival_order: String,
}

async fn stocked(n: &Node) -> Stock {
    let mut tokens = Vec::new();
    for slug in ["club", "rival"] {
        let event = open_event(n, slug, &format!("Heimspiel {slug}"), 50).await;
        assert_eq!(event, 0);
        let sold = hold(n, slug, event, seats_hold("fan-1", &[0, 1])).await;
        expect_status(&sold, 201);
        let order = confirm(n, slug, sold.json["hold"].as_str().unwrap()).await;
        expect_status(&order, 201);
        let live = hold(n, slug, event, seats_hold("fan-2", &[5])).await;
        expect_status(&live, 201);
        tokens
            .push((live.json["hold"].as_str().unwrap().to_string(), order.json["order"].as_str().unwrap().to_string()));
    }
    let venue = created_id(
        &check(&n.app, post(at("rival", "/venues"), venue_json("Auswärts", 10)).bearer(&n.rival)).await,
        "venue",
    );
    draft_event(n, "rival", "Auswärtsspiel", venue).await;
    let (rival_hold, rival_order) = tokens.pop().unwrap();
    let (club_hold, club_order) = tokens.pop().unwrap();
    Stock { club_hold, club_order, rival_hold, rival_order }
}

/// Everything a client can observe of both tenants: events, availability, seat
/// maps and order lists. Hostile requests must leave it exactly as it was.
async fn world(n: &Node) -> Value {
    let mut out = serde_json::Map::new();
    for slug in ["club", "rival"] {
        let events = check(&n.app, get(at(slug, "/events"))).await;
        expect_status(&events, 200);
        let mut per_event = Vec::new();
        for event in events.json["events"].as_array().expect("events") {
            let id = event["id"].as_u64().expect("event id");
            let seats = check(&n.app, get(at(slug, &format!("/events/{id}/seats")))).await;
            per_event.push(json!({
                "availability": availability(n, slug, id).await,
                "seats": seats.json,
                "orders": orders(n, slug, id).await,
            }));
        }
        out.insert(slug.into(), json!({"events": events.json, "per_event": per_event}));
    }
    Value::Object(out)
}

#[track_caller]
fn expect_unchanged(before: &Value, after: &Value) {
    assert!(before == after, "a rejected request changed the store:\nbefore: {before:#}\nafter: {after:#}");
}

// ----- 1. the happy path -----

#[tokio::test]
async fn a_ticket_is_sold_cancelled_and_refunded_and_its_seat_goes_back_on_sale() {
    let n = fresh().await;
    let venue_reply = check(&n.app, post(at("club", "/venues"), venue_json("Eisarena", 50)).bearer(&n.club)).await;
    let venue = created_id(&venue_reply, "venue");
    let venue_detail = check(&n.app, get(at("club", &format!("/venues/{venue}"))).bearer(&n.club)).await;
    expect_status(&venue_detail, 200);
    assert_eq!(venue_detail.json["capacity_seats"], 12);
    assert_eq!(venue_detail.json["blocks"][0]["rows"][1]["first_seat"], 5);
    assert_eq!(venue_detail.json["blocks"][0]["rows"][1]["seat_count"], 5);
    assert_eq!(venue_detail.json["areas"][0]["capacity"], 50);

    let event = draft_event(&n, "club", "Playoffs Spiel 3", venue).await;
    assert_eq!(availability(&n, "club", event).await["sale"], "draft");
    let detail = check(&n.app, get(at("club", &format!("/events/{event}")))).await;
    expect_status(&detail, 200);
    expect_money(&detail.json["categories"][0]["tariffs"][1], "price", 1905);
    expect_time(&detail.json["starts_at"]);

    let opened =
        check(&n.app, post(at("club", &format!("/events/{event}/sale")), json!({"action": "open"})).bearer(&n.club))
            .await;
    expect_status(&opened, 200);
    assert_eq!(opened.json["status"], "open");

    let fresh_availability = availability(&n, "club", event).await;
    assert_eq!(fresh_availability["sale"], "open");
    assert_eq!(
        (
            &fresh_availability["capacity"],
            &fresh_availability["free"],
            &fresh_availability["held"],
            &fresh_availability["sold"]
        ),
        (&json!(60), &json!(60), &json!(0), &json!(0))
    );
    assert_eq!(fresh_availability["categories"][0]["capacity"], 10);
    assert_eq!(fresh_availability["categories"][1]["kind"], "standing");

    let before = jiff::Timestamp::now();
    let picked = hold(&n, "club", event, seats_hold("fan-1", &[6, 7])).await;
    expect_status(&picked, 201);
    let picked = picked.json;
    assert_eq!(picked["event"], event);
    assert_eq!(picked["places"].as_array().unwrap().len(), 2);
    assert_eq!(picked["places"][0]["seat"], 6);
    assert_eq!(picked["places"][0]["label"], "Block A · Reihe 2 · Platz 2");
    expect_money(&picked, "total", 2 * 2900);
    let expires = expect_time(&picked["expires_at"]);
    let lead = expires.duration_since(before).as_secs();
    assert!((590..=610).contains(&lead), "a hold lives hold_duration_secs: {lead} s");

    let best = json!({"customer": "fan-2", "tariff": 1,
        "selection": {"type": "best_available", "category": 0, "block": null, "quantity": 2}});
    let best = hold(&n, "club", event, best).await;
    expect_status(&best, 201);
    let best = best.json;
    let best_seats: Vec<u64> = best["places"].as_array().unwrap().iter().map(|p| p["seat"].as_u64().unwrap()).collect();
    assert_eq!(best_seats.len(), 2);
    assert!(
        best_seats.iter().all(|s| *s < 10 && *s != 6 && *s != 7),
        "best available stays in the category: {best_seats:?}"
    );
    expect_money(&best, "total", 2 * 1905);

    let standing = hold(&n, "club", event, standing_hold("fan-3", 3)).await;
    expect_status(&standing, 201);
    assert_eq!(standing.json["places"].as_array().unwrap().len(), 3);
    assert_eq!(standing.json["places"][0]["area"], 0);
    assert_eq!(standing.json["places"][0]["label"], "Stehplatz Nord");
    expect_money(&standing.json, "total", 3 * 1500);

    let held = availability(&n, "club", event).await;
    assert_eq!((&held["free"], &held["held"], &held["sold"]), (&json!(53), &json!(7), &json!(0)));

    let order = confirm(&n, "club", picked["hold"].as_str().unwrap()).await;
    expect_status(&order, 201);
    let order = order.json;
    expect_money(&order, "total", 5800);
    let order_token = order["order"].as_str().unwrap().to_string();
    assert!(order_token.starts_with(&format!("{}.", order["order_id"])), "token names its id: {order_token}");

    let detail = check(&n.app, get(at("club", &format!("/orders/{order_token}")))).await;
    expect_status(&detail, 200);
    let detail = detail.json;
    assert_eq!(detail["order_id"], order["order_id"]);
    assert_eq!(detail["channel"], "online");
    assert_eq!(detail["payment_ref"], "pay_123");
    assert_eq!(detail["buyer"]["email"], "erika@example.org");
    expect_money(&detail, "paid", 5800);
    expect_money(&detail, "refunded", 0);
    let created = expect_time(&detail["created_at"]);
    assert!(created >= before.checked_sub(jiff::SignedDuration::from_secs(5)).unwrap());
    let tickets = detail["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    assert_eq!(
        (&tickets[0]["seat"], &tickets[0]["state"], &tickets[0]["price_cents"]),
        (&json!(6), &json!("valid"), &json!(2900))
    );

    let list = orders(&n, "club", event).await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    assert_eq!(list["orders"][0], detail);
    assert_eq!(list["next_after"], Value::Null);

    let cancel = json!({"tickets": [0], "refund": "full"});
    let cancelled =
        check(&n.app, post(at("club", &format!("/orders/{order_token}/cancel")), cancel).bearer(&n.club)).await;
    expect_status(&cancelled, 200);
    assert_eq!(cancelled.json["tickets_cancelled"], 1);
    expect_money(&cancelled.json, "refunded", 2900);

    let after = check(&n.app, get(at("club", &format!("/orders/{order_token}")))).await.json;
    assert_eq!(after["tickets"][0]["state"], "cancelled");
    assert_eq!(after["tickets"][1]["state"], "valid");
    expect_money(&after, "paid", 5800);
    expect_money(&after, "refunded", 2900);

    let released = check(&n.app, delete(at("club", &format!("/holds/{}", best["hold"].as_str().unwrap())))).await;
    expect_status(&released, 200);
    assert_eq!(released.json, json!({"released": best["hold_id"]}));

    let end = availability(&n, "club", event).await;
    assert_eq!((&end["free"], &end["held"], &end["sold"]), (&json!(56), &json!(3), &json!(1)));
    assert_eq!((&end["categories"][0]["free"], &end["categories"][0]["sold"]), (&json!(9), &json!(1)));
    let seat_map = check(&n.app, get(at("club", &format!("/events/{event}/seats")))).await.json;
    let state = |id: u64| seat_map["seats"][id as usize]["state"].clone();
    assert_eq!((state(6), state(7)), (json!("free"), json!("sold")), "the cancelled seat is on sale again");
    assert!(best_seats.iter().all(|s| state(*s) == "free"), "released seats are free");
    assert_eq!(state(10), "not_for_sale");
    let again = hold(&n, "club", event, seats_hold("fan-4", &[6])).await;
    expect_status(&again, 201);
}

#[tokio::test]
async fn the_admin_create_calls_and_the_event_list_answer_in_the_documented_shape() {
    let n = fresh().await;
    let mut mismatches = Vec::new();
    let venue = check(&n.app, post(at("club", "/venues"), venue_json("Eisarena", 50)).bearer(&n.club)).await;
    expect_status(&venue, 201);
    if venue.json != json!({"id": 0}) {
        mismatches.push(format!("POST /venues → 201 {{\"id\": id}}, got {}", venue.json));
    }
    let event = check(&n.app, post(at("club", "/events"), event_json("Derby", 0)).bearer(&n.club)).await;
    expect_status(&event, 201);
    if event.json != json!({"id": 0}) {
        mismatches.push(format!("POST /events → 201 {{\"id\": id}}, got {}", event.json));
    }
    let list = check(&n.app, get(at("club", "/events"))).await;
    expect_status(&list, 200);
    let summary = &list.json["events"][0];
    for field in ["id", "name", "venue", "starts_at", "capacity", "free"] {
        if summary[field].is_null() {
            mismatches.push(format!("GET /events: no `{field}` in {summary}"));
        }
    }
    if summary["sale"]["status"] != "draft" || summary["sale"]["opens_at"].is_null() {
        mismatches.push(format!("GET /events: `sale` is {{\"status\": \"draft\", \"opens_at\", ..}}, got {}", summary["sale"]));
    }
    assert!(mismatches.is_empty(), "docs/API.md and the server disagree:\n{}", mismatches.join("\n"));
}

#[tokio::test]
async fn the_admin_order_list_pages_through_one_events_orders_in_id_order() {
    let n = fresh().await;
    let first = open_event(&n, "club", "Hinspiel", 50).await;
    let venue =
        created_id(&check(&n.app, post(at("club", "/venues"), venue_json("Halle", 50)).bearer(&n.club)).await, "venue");
    let second = draft_event(&n, "club", "Rückspiel", venue).await;
    let open = post(at("club", &format!("/events/{second}/sale")), json!({"action": "open"})).bearer(&n.club);
    expect_status(&check(&n.app, open).await, 200);
    // Orders 1..=5 alternate between the two events: 1, 3, 5 are the first's.
    for i in 0..5 {
        let event = if i % 2 == 0 { first } else { second };
        let held = hold(&n, "club", event, standing_hold(&format!("fan-{i}"), 1)).await;
        expect_status(&confirm(&n, "club", held.json["hold"].as_str().unwrap()).await, 201);
    }
    let mut seen = Vec::new();
    let mut after = 0;
    for _ in 0..10 {
        let uri = at("club", &format!("/events/{first}/orders?after={after}&limit=1"));
        let page = check(&n.app, get(uri).bearer(&n.club)).await;
        expect_status(&page, 200);
        let page = page.json;
        let orders = page["orders"].as_array().unwrap();
        assert!(orders.len() <= 1, "limit holds: {page:#}");
        seen.extend(orders.iter().map(|o| {
            assert_eq!(o["event"], first, "only this event's orders");
            o["order_id"].as_u64().unwrap()
        }));
        match page["next_after"].as_u64() {
            Some(next) => {
                assert!(next > after, "pages move forward");
                after = next;
            }
            None => break,
        }
    }
    assert_eq!(seen, [1, 3, 5]);
    let all = orders(&n, "club", second).await;
    let ids: Vec<u64> = all["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_u64().unwrap()).collect();
    assert_eq!((ids, &all["next_after"]), (vec![2, 4], &Value::Null));
}

// ----- 2. hostile input -----

#[tokio::test]
async fn malformed_misshapen_oversized_and_unkeyed_bodies_are_problems_that_change_nothing() {
    let n = fresh().await;
    stocked(&n).await;
    let before = world(&n).await;
    let holds = at("club", "/events/0/holds");
    let good = seats_hold("fan-9", &[3]);

    let malformed = post(&holds, json!(null)).raw(&b"{\"customer\": \"fan-9\", "[..]);
    expect_problem(&check(&n.app, malformed).await, 400, "malformed_json");
    expect_problem(&check(&n.app, post(&holds, json!(null)).raw(&b""[..])).await, 400, "malformed_json");
    let trailing = format!("{good} trailing");
    expect_problem(&check(&n.app, post(&holds, json!(null)).raw(trailing)).await, 400, "malformed_json");

    for shape in [
        json!(null),
        json!([]),
        json!({"customer": "fan-9"}),
        json!({"customer": 7, "selection": {"type": "seats", "seats": [3]}}),
        json!({"customer": "fan-9", "selection": {"type": "seats", "seats": "3"}}),
        json!({"customer": "fan-9", "selection": {"type": "teleport", "seats": [3]}}),
        json!({"customer": "fan-9", "selection": {"type": "seats", "seats": [3]}, "discount": 100}),
        json!({"customer": "fan-9", "selection": {"type": "seats", "seats": [3], "price_cents": 1}}),
        json!({"customer": "", "selection": {"type": "seats", "seats": [3]}}),
        json!({"customer": "x".repeat(129), "selection": {"type": "seats", "seats": [3]}}),
        json!({"customer": "fan-9", "channel": "vip", "selection": {"type": "seats", "seats": [3]}}),
    ] {
        let reply = check(&n.app, post(&holds, shape.clone())).await;
        assert_eq!(reply.status, 422, "{shape} → {reply:#?}");
        expect_problem(&reply, 422, "invalid_body");
    }
    let confirm_with_extra = json!({"payment_ref": "p", "buyer": {"name": "a", "email": "b", "admin": true}});
    expect_problem(&check(&n.app, post(at("club", "/holds/1/confirm"), confirm_with_extra)).await, 422, "invalid_body");

    // ~9 MiB: over the 8 MiB limit, inside a well-formed body.
    let huge = json!({"customer": "x".repeat(9 << 20), "selection": {"type": "seats", "seats": [3]}});
    expect_problem(&check(&n.app, post(&holds, huge)).await, 413, "body_too_large");
    let huge_venue = json!({"name": "x".repeat(9 << 20)});
    expect_problem(
        &check(&n.app, post(at("club", "/venues"), huge_venue).bearer(&n.club)).await,
        413,
        "body_too_large",
    );

    for content_type in
        ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/problem+json"]
    {
        let reply = check(&n.app, post(&holds, good.clone()).header("content-type", content_type)).await;
        expect_problem(&reply, 415, "unsupported_media_type");
    }
    expect_problem(
        &check(&n.app, post(&holds, good.clone()).without("content-type")).await,
        415,
        "unsupported_media_type",
    );

    expect_problem(
        &check(&n.app, post(&holds, good.clone()).without("idempotency-key")).await,
        400,
        "idempotency_key_missing",
    );
    expect_problem(
        &check(&n.app, delete(at("club", "/holds/1")).without("idempotency-key")).await,
        400,
        "idempotency_key_missing",
    );
    for key in [&b""[..], b"has space", b"tab\tkey", "ü-umlaut".as_bytes(), "k".repeat(129).as_bytes()] {
        let reply = check(&n.app, post(&holds, good.clone()).key("x").header("idempotency-key", key)).await;
        expect_problem(&reply, 400, "idempotency_key_invalid");
    }

    expect_unchanged(&before, &world(&n).await);
    // The well-formed request still works afterwards: nothing was half-applied.
    expect_status(&hold(&n, "club", 0, good).await, 201);
}

/// A stadium's seat map is one command and one log record; maps that ask for more
/// than the core allows are refused before anything is expanded (30 bytes of JSON
/// generate 512 seats), and one that would not fit a log record is refused before
/// the writer — sealing it there would stop the tenant's writes.
#[tokio::test]
async fn a_stadium_seat_map_is_one_change_and_oversized_maps_are_refused_before_the_writer() {
    let n = fresh().await;
    stocked(&n).await;
    let before = world(&n).await;
    let generated_rows = |rows: u32, seats: u32| -> Vec<Value> {
        (1..=rows).map(|r| json!({"label": r.to_string(), "seat_count": seats, "y": r * 10, "dx": 10})).collect()
    };

    // 300 blocks × 30 rows × 512 seats = 4.6 million seats from ~0.5 MiB of JSON.
    let blocks: Vec<Value> =
        (0..300).map(|b| json!({"name": format!("B{b}"), "rows": generated_rows(30, 512)})).collect();
    let amplified = json!({"name": "Luftschloss", "blocks": blocks, "standing": []});
    expect_problem(&check(&n.app, post(at("club", "/venues"), amplified).bearer(&n.club)).await, 422, "invalid_venue");
    let too_many_blocks: Vec<Value> =
        (0..513).map(|b| json!({"name": format!("B{b}"), "rows": generated_rows(1, 1)})).collect();
    let reply =
        check(&n.app, post(at("club", "/venues"), json!({"name": "Viele", "blocks": too_many_blocks})).bearer(&n.club))
            .await;
    expect_problem(&reply, 422, "invalid_venue");

    // Within the body limit, within every count, but 5 MiB in one name.
    let bloated = json!({"name": "x".repeat(5 << 20), "blocks": [], "standing": [{"name": "Kurve", "capacity": 10}]});
    let reply = check(&n.app, post(at("club", "/venues"), bloated).bearer(&n.club)).await;
    expect_problem(&reply, 413, "command_too_large");
    assert!(reply.json["bytes"].as_u64().unwrap() > reply.json["max_bytes"].as_u64().unwrap(), "{:#}", reply.json);
    expect_unchanged(&before, &world(&n).await);
    expect_problem(&check(&n.app, get(at("club", "/venues/1")).bearer(&n.club)).await, 404, "unknown_venue");

    // 20 blocks × 50 rows × 50 seats plus two 50,000-place terraces.
    let blocks: Vec<Value> = (1..=20).map(|b| json!({"name": format!("S{b}"), "rows": generated_rows(50, 50)})).collect();
    let stadium = json!({"name": "Stadion", "blocks": blocks,
        "standing": [{"name": "Nordkurve", "capacity": 50_000}, {"name": "Südkurve", "capacity": 50_000}]});
    let venue = created_id(&check(&n.app, post(at("club", "/venues"), stadium).bearer(&n.club)).await, "venue");
    // The writer lives on: the next hold in the old event is taken as usual.
    expect_status(&hold(&n, "club", 0, seats_hold("fan-7", &[7])).await, 201);

    let n = n.restart().await;
    let detail = check(&n.app, get(at("club", &format!("/venues/{venue}"))).bearer(&n.club)).await;
    expect_status(&detail, 200);
    assert_eq!(detail.json["capacity_seats"], 50_000, "{:#}", detail.json["capacity_seats"]);
    assert_eq!(detail.json["blocks"].as_array().unwrap().len(), 20);
    assert_eq!(detail.json["areas"][1]["capacity"], 50_000);
}

/// Gates and other nodes load an organizer's public keys and check credentials
/// offline; the key set carries no secret and survives a restart unchanged.
#[tokio::test]
async fn the_public_key_set_verifies_the_organizers_credentials_and_no_one_elses() {
    use sturmfest_server::credentials::{Kind, StoredKey, Verifier};
    let n = fresh().await;
    let reply = check(&n.app, get(at("club", "/keys"))).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json["tenant"], "club");
    let keys = reply.json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{:#}", reply.json);
    assert_eq!(keys[0]["state"], "active");
    assert!(!reply.json.to_string().contains("secret"), "{:#}", reply.json);
    let published: Vec<StoredKey> = serde_json::from_value(reply.json["keys"].clone()).unwrap();
    let gate = Verifier::from_published("club", &published).unwrap();

    let club = &n.opened.state.tenants["club"].credentials.keyring;
    let rival = &n.opened.state.tenants["rival"].credentials.keyring;
    let ticket = club.sign(Kind::Ticket, b"event 0 seat 3");
    assert_eq!(gate.verify(Kind::Ticket, &ticket).unwrap(), b"event 0 seat 3");
    assert!(gate.verify(Kind::Ticket, &rival.sign(Kind::Ticket, b"event 0 seat 3")).is_err());
    expect_problem(&check(&n.app, get(at("nobody", "/keys"))).await, 404, "unknown_tenant");

    let n = n.restart().await;
    let again = check(&n.app, get(at("club", "/keys"))).await;
    assert_eq!(again.json, reply.json, "the same keys after a restart");
}

/// A box-office terminal sells at the counter with its own token and can do
/// nothing else: no admin calls, no reserved places, nothing at another organizer.
#[tokio::test]
async fn a_box_office_terminal_sells_at_the_counter_and_nothing_else() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Derby", 10).await;
    let counter_hold = json!({"customer": "kasse", "tariff": 0, "channel": "box_office", "selection": {"type": "seats", "seats": [4]}});
    let held = check(&n.app, post(at("club", &format!("/events/{event}/holds")), counter_hold.clone()).bearer(&n.counter)).await;
    expect_status(&held, 201);
    let hold_id = held.json["hold_id"].as_u64().unwrap();
    let sold = check(&n.app, post(at("club", &format!("/holds/{hold_id}/confirm")), payment()).bearer(&n.counter)).await;
    expect_status(&sold, 201);

    let mut reserved = counter_hold.clone();
    reserved["channel"] = json!("reserved");
    reserved["selection"]["seats"] = json!([5]);
    expect_problem(&check(&n.app, post(at("club", &format!("/events/{event}/holds")), reserved).bearer(&n.counter)).await, 401, "unauthorized");
    expect_problem(&check(&n.app, post(at("club", "/venues"), venue_json("Schwarzbau", 5)).bearer(&n.counter)).await, 401, "unauthorized");
    expect_problem(&check(&n.app, get(at("club", &format!("/events/{event}/orders"))).bearer(&n.counter)).await, 401, "unauthorized");
    let rival_event = open_event(&n, "rival", "Auswärts", 10).await;
    let mut elsewhere = counter_hold.clone();
    elsewhere["selection"]["seats"] = json!([1]);
    expect_problem(&check(&n.app, post(at("rival", &format!("/events/{rival_event}/holds")), elsewhere).bearer(&n.counter)).await, 401, "unauthorized");
    // Without a token the counter channel is closed.
    let mut anonymous = counter_hold;
    anonymous["selection"]["seats"] = json!([6]);
    expect_problem(&check(&n.app, post(at("club", &format!("/events/{event}/holds")), anonymous)).await, 401, "unauthorized");
}

#[tokio::test]
async fn impossible_selections_are_problems_that_change_nothing() {
    let n = fresh().await;
    stocked(&n).await;
    let before = world(&n).await;

    let ten_thousand: Vec<u32> = (0..10_000).collect();
    let cases: Vec<(Value, u16, &str)> = vec![
        (seats_hold("fan-9", &[12]), 422, "unknown_seat"),
        (seats_hold("fan-9", &[u32::MAX]), 422, "unknown_seat"),
        (seats_hold("fan-9", &[3, 99_999]), 422, "unknown_seat"),
        (seats_hold("fan-9", &[10]), 422, "seat_not_for_sale"),
        (seats_hold("fan-9", &[3, 3]), 422, "duplicate_seat"),
        (seats_hold("fan-9", &[]), 422, "invalid_request"),
        (seats_hold("fan-9", &ten_thousand), 422, "hold_too_large"),
        (seats_hold("fan-9", &[0]), 409, "seat_unavailable"),
        (seats_hold("fan-9", &[3, 5]), 409, "seat_unavailable"),
        (standing_hold("fan-9", 0), 422, "invalid_request"),
        (standing_hold("fan-9", -1), 422, "invalid_body"),
        (standing_hold("fan-9", -4_294_967_296), 422, "invalid_body"),
        (standing_hold("fan-9", i64::from(u32::MAX)), 422, "hold_too_large"),
        (standing_hold("fan-9", 1 << 32), 422, "invalid_body"),
        (
            json!({"customer": "fan-9", "selection": {"type": "standing", "area": 0, "quantity": 1.5}}),
            422,
            "invalid_body",
        ),
        (
            json!({"customer": "fan-9", "selection": {"type": "standing", "area": 7, "quantity": 1}}),
            422,
            "unknown_area",
        ),
        (json!({"customer": "fan-9", "selection": {"type": "seats", "seats": [u64::MAX]}}), 422, "invalid_body"),
        (json!({"customer": "fan-9", "selection": {"type": "seats", "seats": [-3]}}), 422, "invalid_body"),
        (
            json!({"customer": "fan-9", "tariff": 9, "selection": {"type": "seats", "seats": [3]}}),
            422,
            "unknown_tariff",
        ),
        (
            json!({"customer": "fan-9", "tariff": 65_536, "selection": {"type": "seats", "seats": [3]}}),
            422,
            "invalid_body",
        ),
        (json!({"customer": "fan-9", "tariff": -1, "selection": {"type": "seats", "seats": [3]}}), 422, "invalid_body"),
        (
            json!({"customer": "fan-9", "selection": {"type": "best_available", "category": 0, "block": null, "quantity": 0}}),
            422,
            "invalid_request",
        ),
        (
            json!({"customer": "fan-9", "selection": {"type": "best_available", "category": 0, "block": null, "quantity": -2}}),
            422,
            "invalid_body",
        ),
        (
            json!({"customer": "fan-9", "selection": {"type": "best_available", "category": 65_535, "block": null, "quantity": 1}}),
            422,
            "unknown_category",
        ),
        (
            json!({"customer": "fan-9", "selection": {"type": "best_available", "category": 0, "block": 1, "quantity": 1}}),
            422,
            "unknown_block",
        ),
    ];
    for (body, status, code) in cases {
        let reply = hold(&n, "club", 0, body.clone()).await;
        assert_eq!(reply.json["code"], code, "{} → {reply:#?}", &body.to_string()[..body.to_string().len().min(200)]);
        expect_problem(&reply, status, code);
    }
    let unknown_seat = hold(&n, "club", 0, seats_hold("fan-9", &[12])).await;
    assert_eq!(unknown_seat.json["seat"], 12, "the problem names the seat");
    let duplicate = hold(&n, "club", 0, seats_hold("fan-9", &[4, 4])).await;
    assert_eq!(duplicate.json["seat"], 4, "the problem names the seat");

    // Unknown events and orders, including ids at the edge of their types.
    expect_problem(&hold(&n, "club", u64::from(u32::MAX), seats_hold("fan-9", &[3])).await, 404, "unknown_event");
    let order_max = check(&n.app, get(at("club", &format!("/orders/{}", u64::MAX))).bearer(&n.club)).await;
    expect_problem(&order_max, 404, "unknown_order");
    let cancel_max =
        post(at("club", &format!("/orders/{}/cancel", u64::MAX)), json!({"tickets": null, "refund": "full"}));
    expect_problem(&check(&n.app, cancel_max.bearer(&n.club)).await, 404, "unknown_order");
    let hold_max = post(at("club", &format!("/holds/{}/confirm", u64::MAX)), payment()).bearer(&n.club);
    expect_problem(&check(&n.app, hold_max).await, 404, "unknown_hold");
    let refund_max = json!({"amount_cents": i64::MAX, "reference": "goodwill"});
    expect_problem(
        &check(&n.app, post(at("club", "/orders/1/refunds"), refund_max).bearer(&n.club)).await,
        422,
        "refund_exceeds_paid",
    );
    let refund_negative = json!({"amount_cents": -500, "reference": "goodwill"});
    expect_problem(
        &check(&n.app, post(at("club", "/orders/1/refunds"), refund_negative).bearer(&n.club)).await,
        422,
        "invalid_request",
    );
    let cancel_unknown_ticket = json!({"tickets": [65_535], "refund": "full"});
    expect_problem(
        &check(&n.app, post(at("club", "/orders/1/cancel"), cancel_unknown_ticket).bearer(&n.club)).await,
        422,
        "unknown_ticket",
    );
    let cancel_twice = json!({"tickets": [0, 0], "refund": "full"});
    expect_problem(
        &check(&n.app, post(at("club", "/orders/1/cancel"), cancel_twice).bearer(&n.club)).await,
        422,
        "invalid_request",
    );
    let page =
        check(&n.app, get(at("club", &format!("/events/0/orders?after={}&limit=1", u64::MAX))).bearer(&n.club)).await;
    expect_status(&page, 200);
    assert_eq!(page.json, json!({"orders": [], "next_after": null}));
    let bad_page = get(at("club", "/events/0/orders?after=-1&limit=18446744073709551616")).bearer(&n.club);
    expect_problem(&check(&n.app, bad_page).await, 400, "invalid_query");

    expect_unchanged(&before, &world(&n).await);
}

#[tokio::test]
async fn paths_and_methods_that_do_not_exist_are_answered_with_problems() {
    let n = fresh().await;
    stocked(&n).await;
    let before = world(&n).await;
    for path in [
        "/events/abc",
        "/events/abc/availability",
        "/events/-1/seats",
        "/events/1.5/availability",
        "/events/18446744073709551615/availability",
        "/events/99999999999999999999999/seats",
    ] {
        expect_problem(&check(&n.app, get(at("club", path))).await, 404, "not_found");
    }
    expect_problem(
        &check(&n.app, post(at("club", "/events/abc/holds"), seats_hold("fan-9", &[3]))).await,
        404,
        "not_found",
    );
    expect_problem(&check(&n.app, get(at("club", "/venues/abc")).bearer(&n.club)).await, 404, "not_found");
    expect_problem(&check(&n.app, get(at("club", "/events/4294967295"))).await, 404, "unknown_event");
    expect_problem(&check(&n.app, get(at("club", "/events/7/availability"))).await, 404, "unknown_event");
    expect_problem(&check(&n.app, get(at("club", "/venues/4294967295")).bearer(&n.club)).await, 404, "unknown_venue");
    expect_problem(&check(&n.app, get(at("nobody", "/events"))).await, 404, "unknown_tenant");

    for path in [
        "/",
        "/api",
        "/api/v1/club",
        "/api/v1/club/nope",
        "/api/v2/club/events",
        "/api/v1/club/events/0/seats/1",
        "/api/openapi.yaml",
    ] {
        expect_problem(&check(&n.app, get(path)).await, 404, "not_found");
    }
    for (method, path) in [
        ("PUT", at("club", "/events")),
        ("DELETE", at("club", "/events/0")),
        ("PATCH", at("club", "/events/0/availability")),
        ("GET", at("club", "/events/0/holds")),
        ("GET", at("club", "/holds/1/confirm")),
        ("POST", at("club", "/orders/1")),
        ("DELETE", at("club", "/orders/1")),
        ("POST", "/api/openapi.json".to_string()),
        ("DELETE", "/healthz".to_string()),
    ] {
        let reply =
            check(&n.app, request(method, &path).header("content-type", "application/json").key("k").raw(&b"{}"[..]))
                .await;
        assert_eq!(reply.status, 405, "{method} {path} → {reply:#?}");
        assert!(
            reply.headers.get(header::ALLOW).is_some_and(|a| !a.is_empty()),
            "405 names the allowed methods: {reply:#?}"
        );
        expect_problem(&reply, 405, "method_not_allowed");
    }
    expect_unchanged(&before, &world(&n).await);
}

#[tokio::test]
async fn admin_calls_need_the_tenants_own_token() {
    let n = fresh().await;
    stocked(&n).await;
    let before = world(&n).await;
    let calls: Vec<Req> = vec![
        post(at("club", "/venues"), venue_json("Schwarzbau", 5)),
        get(at("club", "/venues/0")),
        post(at("club", "/events"), event_json("Schwarzmarkt", 0)),
        post(at("club", "/events/0/sale"), json!({"action": "close"})),
        get(at("club", "/events/0/orders")),
        post(at("club", "/orders/1/cancel"), json!({"tickets": null, "refund": "full"})),
        post(at("club", "/orders/1/refunds"), json!({"amount_cents": 500, "reference": "goodwill"})),
        post(
            at("club", "/events/0/holds"),
            json!({"customer": "desk", "channel": "box_office", "selection": {"type": "seats", "seats": [3]}}),
        ),
        post(
            at("club", "/events/0/holds"),
            json!({"customer": "desk", "channel": "reserved", "selection": {"type": "seats", "seats": [4]}}),
        ),
    ];
    let credentials: Vec<Option<String>> = vec![
        None,
        Some("Bearer ".into()),
        Some("Bearer sft_wrong".into()),
        Some(format!("Bearer {}", n.rival)),
        Some(format!("Bearer {}x", n.club)),
        Some(format!("Basic {}", n.club)),
        Some(n.club.clone()),
    ];
    for call in calls {
        for credential in &credentials {
            let req = Req {
                method: call.method.clone(),
                uri: call.uri.clone(),
                headers: call.headers.clone(),
                body: call.body.clone(),
            };
            let req = match credential {
                Some(value) => req.header("authorization", value),
                None => req,
            };
            let reply = check(&n.app, req.key(&fresh_key())).await;
            assert_eq!(reply.status, 401, "{} {} with {credential:?} → {reply:#?}", call.method, call.uri);
            expect_problem(&reply, 401, "unauthorized");
        }
    }
    // The rival's own token works on the rival's path: the 401s above are about the
    // token not matching this tenant, not about a broken token.
    expect_status(&check(&n.app, get(at("rival", "/venues/0")).bearer(&n.rival)).await, 200);
    expect_unchanged(&before, &world(&n).await);
}

#[tokio::test]
async fn forged_and_foreign_hold_and_order_tokens_open_nothing() {
    let n = fresh().await;
    let stock = stocked(&n).await;
    let before = world(&n).await;
    // Both tenants' tokens name hold 2 and order 1: only the signature differs.
    assert_eq!(stock.club_hold.split('.').next(), stock.rival_hold.split('.').next());
    assert_eq!(stock.club_order.split('.').next(), stock.rival_order.split('.').next());

    let (id, tag) = stock.club_hold.split_once('.').unwrap();
    let flipped = format!("{id}.{}{}", if tag.starts_with('0') { "1" } else { "0" }, &tag[1..]);
    let other_id = format!("{}.{tag}", id.parse::<u64>().unwrap() + 1);
    let forged_holds = [
        flipped,
        other_id,
        format!("{id}."),
        format!("{id}.zz"),
        format!("{id}.{tag}00"),
        id.to_string(),
        format!("{}.{tag}", u64::MAX),
        "x".repeat(10_000),
        stock.rival_hold.clone(),
        stock.club_order.clone(),
    ];
    for token in &forged_holds {
        // The public confirm sells nothing at all; the payment start knows no such hold.
        let confirmed = check(&n.app, post(at("club", &format!("/holds/{token}/confirm")), payment())).await;
        expect_problem(&confirmed, 402, "payment_required");
        let buyer = json!({"buyer": {"name": "Erika", "email": "erika@example.org"}});
        let paid = check(&n.app, post(at("club", &format!("/holds/{token}/payments")), buyer)).await;
        expect_problem(&paid, 404, "unknown_hold");
        expect_problem(&check(&n.app, delete(at("club", &format!("/holds/{token}")))).await, 404, "unknown_hold");
        // A rival's admin token does not turn a plain id into a club hold either.
        let with_rival_admin = post(at("club", &format!("/holds/{token}/confirm")), payment()).bearer(&n.rival);
        expect_problem(&check(&n.app, with_rival_admin).await, 402, "payment_required");
    }

    let (order_id, order_tag) = stock.club_order.split_once('.').unwrap();
    for token in [
        stock.rival_order.clone(),
        stock.club_hold.clone(),
        order_id.to_string(),
        format!("{}.{order_tag}", order_id.parse::<u64>().unwrap() + 1),
    ] {
        expect_problem(&check(&n.app, get(at("club", &format!("/orders/{token}")))).await, 404, "unknown_order");
        let foreign_admin = get(at("club", &format!("/orders/{token}"))).bearer(&n.rival);
        expect_problem(&check(&n.app, foreign_admin).await, 404, "unknown_order");
    }
    // The club's own admin may cancel by token, but a rival's order token is no club order.
    let cancel =
        post(at("club", &format!("/orders/{}/cancel", stock.rival_order)), json!({"tickets": null, "refund": "full"}));
    expect_problem(&check(&n.app, cancel.bearer(&n.club)).await, 404, "unknown_order");
    let refund = post(
        at("club", &format!("/orders/{}/refunds", stock.rival_order)),
        json!({"amount_cents": 100, "reference": "x"}),
    );
    expect_problem(&check(&n.app, refund.bearer(&n.club)).await, 404, "unknown_order");

    expect_unchanged(&before, &world(&n).await);
    // The genuine tokens still work, each on its own tenant only.
    expect_status(&check(&n.app, get(at("club", &format!("/orders/{}", stock.club_order)))).await, 200);
    expect_status(&check(&n.app, get(at("rival", &format!("/orders/{}", stock.rival_order)))).await, 200);
    expect_status(&confirm(&n, "rival", &stock.rival_hold).await, 201);
    expect_status(&confirm(&n, "club", &stock.club_hold).await, 201);
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_events_venues_or_orders() {
    let n = fresh().await;
    stocked(&n).await;
    let before = world(&n).await;
    let club_events = check(&n.app, get(at("club", "/events"))).await.json;
    let names: Vec<&str> =
        club_events["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Heimspiel club"]);
    let rival_events = check(&n.app, get(at("rival", "/events"))).await.json;
    assert_eq!(rival_events["events"].as_array().unwrap().len(), 2);

    // Ids the rival has and the club has not.
    expect_problem(&check(&n.app, get(at("club", "/events/1"))).await, 404, "unknown_event");
    expect_problem(&check(&n.app, get(at("club", "/events/1/availability"))).await, 404, "unknown_event");
    expect_problem(&check(&n.app, get(at("club", "/events/1/seats"))).await, 404, "unknown_event");
    expect_problem(&check(&n.app, get(at("club", "/events/1/orders")).bearer(&n.club)).await, 404, "unknown_event");
    expect_problem(&check(&n.app, get(at("club", "/venues/1")).bearer(&n.club)).await, 404, "unknown_venue");
    expect_problem(&hold(&n, "club", 1, seats_hold("fan-9", &[3])).await, 404, "unknown_event");
    let sale = post(at("club", "/events/1/sale"), json!({"action": "open"})).bearer(&n.club);
    expect_problem(&check(&n.app, sale).await, 404, "unknown_event");

    // Same ids on both sides name each tenant's own things.
    let club_orders = orders(&n, "club", 0).await;
    let rival_orders = orders(&n, "rival", 0).await;
    assert_eq!(club_orders["orders"].as_array().unwrap().len(), 1);
    assert_eq!(rival_orders["orders"].as_array().unwrap().len(), 1);
    let club_venue = check(&n.app, get(at("club", "/venues/0")).bearer(&n.club)).await.json;
    assert_eq!(club_venue["name"], "Heimspiel club");
    expect_unchanged(&before, &world(&n).await);
}

// ----- 3. idempotency -----

#[tokio::test]
async fn a_repeated_hold_with_the_same_key_replays_the_first_reply_and_holds_once() {
    let n = fresh().await;
    open_event(&n, "club", "Derby", 50).await;
    let holds = at("club", "/events/0/holds");
    let first = check(&n.app, post(&holds, seats_hold("fan-1", &[1, 2])).key("buy-1")).await;
    expect_status(&first, 201);
    let second = check(&n.app, post(&holds, seats_hold("fan-1", &[1, 2])).key("buy-1")).await;
    assert_eq!((second.status, &second.json), (first.status, &first.json), "a replay is the first reply");
    assert_eq!(availability(&n, "club", 0).await["held"], 2, "one hold, not two");

    let before = world(&n).await;
    let reused = check(&n.app, post(&holds, seats_hold("fan-1", &[3, 4])).key("buy-1")).await;
    expect_problem(&reused, 422, "idempotency_key_reused");
    expect_unchanged(&before, &world(&n).await);

    // A rejected request is not remembered: the same key may carry a corrected body.
    let rejected = check(&n.app, post(&holds, seats_hold("fan-1", &[1])).key("buy-2")).await;
    expect_problem(&rejected, 409, "seat_unavailable");
    let corrected = check(&n.app, post(&holds, seats_hold("fan-1", &[3])).key("buy-2")).await;
    expect_status(&corrected, 201);

    // Keys are scoped per customer: two shops' "buy-1" are two holds.
    let other = check(&n.app, post(&holds, seats_hold("fan-2", &[1, 2])).key("buy-1")).await;
    expect_problem(&other, 409, "seat_unavailable");
    let other = check(&n.app, post(&holds, seats_hold("fan-2", &[6, 7])).key("buy-1")).await;
    expect_status(&other, 201);
    assert_ne!(other.json["hold_id"], first.json["hold_id"]);
    assert_eq!(availability(&n, "club", 0).await["held"], 5);

    // A key of exactly 128 visible characters is fine.
    let longest = "k".repeat(128);
    expect_status(&check(&n.app, post(&holds, standing_hold("fan-3", 1)).key(&longest)).await, 201);
}

#[tokio::test]
async fn a_retried_confirm_release_or_admin_call_replays_the_same_reply() {
    let n = fresh().await;
    open_event(&n, "club", "Derby", 50).await;
    let held = hold(&n, "club", 0, seats_hold("fan-1", &[1, 2])).await.json;
    let confirm_path = at("club", &format!("/holds/{}/confirm", held["hold"].as_str().unwrap()));
    let first = check(&n.app, post(&confirm_path, payment()).bearer(&n.counter).key("pay-1")).await;
    expect_status(&first, 201);
    let again = check(&n.app, post(&confirm_path, payment()).bearer(&n.counter).key("pay-1")).await;
    assert_eq!((again.status, &again.json), (first.status, &first.json), "the retry returns the same order");
    let list = orders(&n, "club", 0).await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 1, "one order, not two");
    // A new key for the same hold learns that it was confirmed already.
    let late = check(&n.app, post(&confirm_path, payment()).bearer(&n.counter).key("pay-2")).await;
    expect_problem(&late, 409, "hold_already_confirmed");
    assert_eq!(late.json["order_id"], first.json["order_id"]);

    let released = hold(&n, "club", 0, seats_hold("fan-2", &[5])).await.json;
    let release_path = at("club", &format!("/holds/{}", released["hold"].as_str().unwrap()));
    let gone = check(&n.app, delete(&release_path).key("drop-1")).await;
    expect_status(&gone, 200);
    let gone_again = check(&n.app, delete(&release_path).key("drop-1")).await;
    assert_eq!((gone_again.status, &gone_again.json), (gone.status, &gone.json));
    expect_problem(&check(&n.app, delete(&release_path).key("drop-2")).await, 410, "hold_ended");

    let venue_first =
        check(&n.app, post(at("club", "/venues"), venue_json("Halle 2", 5)).bearer(&n.club).key("venue-1")).await;
    let venue_again =
        check(&n.app, post(at("club", "/venues"), venue_json("Halle 2", 5)).bearer(&n.club).key("venue-1")).await;
    assert_eq!((venue_again.status, &venue_again.json), (venue_first.status, &venue_first.json));
    let one_more = check(&n.app, get(at("club", "/venues/2")).bearer(&n.club)).await;
    expect_problem(&one_more, 404, "unknown_venue");
}

// ----- 4. sale control -----

#[tokio::test]
async fn a_paused_sale_rejects_holds_and_confirms_with_its_message_and_keeps_existing_holds() {
    let n = fresh().await;
    open_event(&n, "club", "Derby", 50).await;
    let kept = hold(&n, "club", 0, seats_hold("fan-1", &[1, 2])).await;
    expect_status(&kept, 201);
    let kept_token = kept.json["hold"].as_str().unwrap().to_string();

    let message = "Technische Störung – gleich geht es weiter";
    let pause = json!({"action": "pause", "message": message, "resume_at": "2099-01-01T12:00:00+01:00"});
    let paused = check(&n.app, post(at("club", "/events/0/sale"), pause).bearer(&n.club)).await;
    expect_status(&paused, 200);
    assert_eq!(paused.json["status"], "paused");
    assert_eq!(paused.json["message"], message);
    assert_eq!(paused.json["resume_at"], "2099-01-01T11:00:00Z");

    let shown = availability(&n, "club", 0).await;
    assert_eq!((&shown["sale"], &shown["message"], &shown["held"]), (&json!("paused"), &json!(message), &json!(2)));
    let detail = check(&n.app, get(at("club", "/events/0"))).await.json;
    assert_eq!(detail["sale"]["message"], message, "event detail shows the pause message");

    let before = world(&n).await;
    let refused = hold(&n, "club", 0, seats_hold("fan-2", &[3])).await;
    expect_problem(&refused, 409, "sale_paused");
    assert_eq!(refused.json["message"], message);
    assert_eq!(refused.json["resume_at"], "2099-01-01T11:00:00Z");
    let confirm_path = at("club", &format!("/holds/{kept_token}/confirm"));
    let refused = check(&n.app, post(&confirm_path, payment()).bearer(&n.counter).key("pay-kept")).await;
    expect_problem(&refused, 409, "sale_paused");
    assert_eq!(refused.json["message"], message);
    expect_unchanged(&before, &world(&n).await);

    let resumed = check(&n.app, post(at("club", "/events/0/sale"), json!({"action": "resume"})).bearer(&n.club)).await;
    expect_status(&resumed, 200);
    assert_eq!(resumed.json["status"], "open");
    assert_eq!(resumed.json["message"], Value::Null);
    // The refused confirm was not remembered: the same key now goes through.
    let confirmed = check(&n.app, post(&confirm_path, payment()).bearer(&n.counter).key("pay-kept")).await;
    expect_status(&confirmed, 201);
    expect_money(&confirmed.json, "total", 5800);
    let after = availability(&n, "club", 0).await;
    assert_eq!((&after["sale"], &after["held"], &after["sold"]), (&json!("open"), &json!(0), &json!(2)));

    let closed = check(&n.app, post(at("club", "/events/0/sale"), json!({"action": "close"})).bearer(&n.club)).await;
    expect_status(&closed, 200);
    expect_problem(&hold(&n, "club", 0, seats_hold("fan-2", &[3])).await, 409, "sale_closed");
    let reopen = check(&n.app, post(at("club", "/events/0/sale"), json!({"action": "open"})).bearer(&n.club)).await;
    expect_problem(&reopen, 409, "sale_closed");
}

#[tokio::test]
async fn a_draft_event_sells_nothing_and_cannot_be_paused() {
    let n = fresh().await;
    let venue =
        created_id(&check(&n.app, post(at("club", "/venues"), venue_json("Halle", 5)).bearer(&n.club)).await, "venue");
    let event = draft_event(&n, "club", "Noch geheim", venue).await;
    let before = world(&n).await;
    expect_problem(&hold(&n, "club", event, seats_hold("fan-1", &[1])).await, 409, "sale_not_open");
    expect_problem(&hold(&n, "club", event, standing_hold("fan-1", 1)).await, 409, "sale_not_open");
    let pause =
        post(at("club", &format!("/events/{event}/sale")), json!({"action": "pause", "message": "x"})).bearer(&n.club);
    expect_problem(&check(&n.app, pause).await, 409, "sale_not_open");
    let nonsense = post(at("club", &format!("/events/{event}/sale")), json!({"action": "explode"})).bearer(&n.club);
    expect_problem(&check(&n.app, nonsense).await, 422, "invalid_body");
    let bad_time = json!({"action": "pause", "message": "x", "resume_at": "tomorrow"});
    let bad_time = post(at("club", &format!("/events/{event}/sale")), bad_time).bearer(&n.club);
    expect_problem(&check(&n.app, bad_time).await, 422, "invalid_body");
    expect_unchanged(&before, &world(&n).await);
}

// ----- 5. overload -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_tenant_sheds_with_503_and_loses_no_acknowledged_hold() {
    let config = ShardConfig { inbox_requests_max: 1, batch_commands_max: 1, ..ShardConfig::default() };
    let n = start(config).await;
    let (buyers_count, attempts_max, attempt_gap_ms) = (100, 30, 3);
    // Room for every attempt, so that only overload can refuse one.
    let capacity = buyers_count * attempts_max + 1;
    open_event(&n, "club", "Ansturm", capacity).await;

    // Readers keep the one-slot inbox busy for the whole storm, so that shedding
    // hits every step of a request, not only its first.
    let storm_over = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (app, storm_over) = (n.app.clone(), storm_over.clone());
            tokio::spawn(async move {
                let mut replies = Vec::new();
                while !storm_over.load(Ordering::Relaxed) {
                    replies.push(check(&app, get(at("club", "/events/0"))).await);
                    tokio::task::yield_now().await;
                }
                replies
            })
        })
        .collect();
    // Naive buyers: on 503 they try again at once under a new key, up to a limit.
    let buyers: Vec<_> = (0..buyers_count)
        .map(|i| {
            let app = n.app.clone();
            tokio::spawn(async move {
                let mut shed = Vec::new();
                for attempt in 0..attempts_max {
                    // A customer per attempt keeps the per-customer limit out of play.
                    let (customer, key) = (format!("fan-{i}-{attempt}"), format!("storm-{i}-{attempt}"));
                    let req = post(at("club", "/events/0/holds"), standing_hold(&customer, 1)).key(&key);
                    let reply = check(&app, req).await;
                    match reply.status.as_u16() {
                        201 => return (Some(reply.json), shed),
                        503 => shed.push((customer, key, reply)),
                        _ => panic!("only 201 or 503 under load: {reply:#?}"),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(attempt_gap_ms)).await;
                }
                (None, shed)
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    let mut shed = Vec::new();
    let mut gave_up = Vec::new();
    for buyer in buyers {
        let (held, replies) = buyer.await.expect("buyer task");
        match held {
            Some(json) => acknowledged.push(json),
            None => gave_up
                .push(replies.last().map(|(customer, key, _)| (customer.clone(), key.clone())).expect("attempts")),
        }
        shed.extend(replies);
    }
    storm_over.store(true, Ordering::Relaxed);
    let mut read_replies = Vec::new();
    for reader in readers {
        read_replies.extend(reader.await.expect("reader task"));
    }
    for reply in shed.iter().map(|(_, _, r)| r).chain(read_replies.iter().filter(|r| r.status != 200)) {
        expect_problem(reply, 503, "overloaded");
        let retry_after = reply.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok());
        assert!(
            retry_after.is_some_and(|v| v.parse::<u32>().is_ok_and(|s| s > 0)),
            "503 without Retry-After: {reply:#?}"
        );
    }
    assert!(!shed.is_empty(), "a one-slot inbox under {buyers_count} concurrent buyers must shed some");
    assert!(!acknowledged.is_empty(), "an overloaded tenant still serves some");

    // After the storm a client still meets a one-slot inbox that the node's own
    // follow-up commands may hold for a moment; a 503 means "not carried out", so
    // it tries again after a pause, as Retry-After tells it to.
    async fn patiently(app: &axum::Router, request: impl Fn() -> Req) -> Reply {
        for _ in 0..50 {
            let reply = check(app, request()).await;
            if reply.status != 503 {
                return reply;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("still shed long after the storm")
    }
    // Reads through the writer see every command before them (the availability
    // view may lag a reply by a moment).
    let taken = |seats: &Value| capacity - seats["areas"][0]["free"].as_u64().unwrap() as u32;
    let seats = patiently(&n.app, || get(at("club", "/events/0/seats"))).await;
    expect_status(&seats, 200);
    let taken_after_storm = taken(&seats.json) as usize;

    // Every acknowledged hold exists: each one confirms into an order.
    for held in &acknowledged {
        let path = at("club", &format!("/holds/{}/confirm", held["hold"].as_str().unwrap()));
        let order = patiently(&n.app, || post(path.clone(), payment()).bearer(n.token("club"))).await;
        expect_status(&order, 201);
    }
    let listed = patiently(&n.app, || get(at("club", "/events/0/orders")).bearer(n.token("club"))).await;
    expect_status(&listed, 200);
    let sold: usize = listed.json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["tickets"].as_array().unwrap().len())
        .sum();
    assert_eq!(sold, acknowledged.len());
    // Retrying a shed request under its own key once the storm is over succeeds.
    for (customer, key) in &gave_up {
        let reply = patiently(&n.app, || post(at("club", "/events/0/holds"), standing_hold(customer, 1)).key(key)).await;
        assert_eq!(reply.status, 201, "retry of a shed hold: {reply:#?}");
    }

    // A 503 means the request was not carried out: a client that gives up or
    // retries under a new key must not leave behind a hold it was never told about.
    assert_eq!(
        taken_after_storm,
        acknowledged.len(),
        "{} holds were answered 201 but {taken_after_storm} places were taken: {} of {} replies 503 hid a committed hold",
        acknowledged.len(),
        taken_after_storm.saturating_sub(acknowledged.len()),
        shed.len(),
    );
}

// ----- 6. the doc, the OpenAPI document and the router agree -----

/// `(method, path)` of every route in docs/API.md's tables, with the
/// `/api/v1/{tenant}` prefix the document says every path has — and of the
/// operator's routes in docs/OPERATOR.md, which name their whole path (`/api/…`)
/// because the operator's calls belong to no tenant.
fn documented_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for file in ["API.md", "OPERATOR.md"] {
        let doc = std::fs::read_to_string(format!("{}/../../docs/{file}", env!("CARGO_MANIFEST_DIR"))).expect("docs/API.md and docs/OPERATOR.md");
        for line in doc.lines() {
            let Some(rest) = line.strip_prefix("| `") else { continue };
            let route = &rest[..rest.find('`').expect("closing backtick")];
            let (method, path) = route.split_once(' ').expect("method and path");
            let path = path.split('?').next().unwrap();
            let path = if path.starts_with("/api/") { path.to_string() } else { format!("/api/v1/{{tenant}}{path}") };
            let fresh = routes.insert((method.to_lowercase(), path));
            assert!(fresh, "{route} is documented twice");
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_of_the_api_doc_and_the_router_serves_them() {
    let n = fresh().await;
    let reply = check(&n.app, get("/api/openapi.json")).await;
    expect_status(&reply, 200);
    assert!(reply.content_type().starts_with("application/json"));
    let openapi = &reply.json;
    assert!(openapi.is_object(), "the OpenAPI document is JSON: {openapi}");
    assert!(openapi["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "OpenAPI 3.x: {}", openapi["openapi"]);

    let mut served = BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            if item.get(method).is_some() {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    let documented = documented_routes();
    assert!(documented.len() >= 10, "the route tables parsed: {documented:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "in OpenAPI only: {undocumented:?}\nin docs/API.md only: {unserved:?}"
    );

    // The router routes every documented path: whatever a bare request gets, it is
    // not the fallback's "no such path" nor "method not allowed".
    for (method, path) in &documented {
        let uri = path
            .replace("{tenant}", "club")
            .replace("{event}", "0")
            .replace("{venue}", "0")
            .replace("{hold}", "1")
            .replace("{order}", "1")
            .replace("{programme}", "1")
            .replace("{merchant}", "1")
            .replace("{redemption}", "1")
            .replace("{code}", "ABCD-EFGH-JKMN-PQRS-TVWX");
        assert!(!uri.contains('{'), "a placeholder this test does not know: {path}");
        let req = request(&method.to_uppercase(), &uri)
            .header("content-type", "application/json")
            .key("route-probe")
            .raw(&b"{}"[..]);
        let reply = check(&n.app, req).await;
        assert!(reply.status != 405 && reply.json["code"] != "not_found", "{method} {uri} is not routed: {reply:#?}");
    }
}

// ----- 7. restart -----

#[tokio::test]
async fn after_a_restart_every_order_and_the_availability_are_as_before() {
    let n = fresh().await;
    let stock = stocked(&n).await;
    let extra = hold(&n, "club", 0, standing_hold("fan-7", 4)).await.json;
    let confirm_path = at("club", &format!("/holds/{}/confirm", extra["hold"].as_str().unwrap()));
    let order = check(&n.app, post(&confirm_path, payment()).bearer(&n.counter).key("pay-before-restart")).await;
    expect_status(&order, 201);
    let order = order.json;
    let order_token = order["order"].as_str().unwrap().to_string();
    let cancel = post(at("club", &format!("/orders/{order_token}/cancel")), json!({"tickets": [1], "refund": "full"}));
    expect_status(&check(&n.app, cancel.bearer(&n.club)).await, 200);
    let refund = post(
        at("club", &format!("/orders/{}/refunds", stock.club_order)),
        json!({"amount_cents": 250, "reference": "goodwill"}),
    );
    let refunded = check(&n.app, refund.bearer(&n.club)).await;
    expect_status(&refunded, 201);
    expect_money(&refunded.json, "amount", 250);
    let pause = json!({"action": "pause", "message": "Pause", "resume_at": "2099-01-01T12:00:00Z"});
    expect_status(&check(&n.app, post(at("rival", "/events/0/sale"), pause).bearer(&n.rival)).await, 200);

    let before = world(&n).await;
    let order_before = check(&n.app, get(at("club", &format!("/orders/{order_token}")))).await;
    expect_status(&order_before, 200);

    let etag_before = check(&n.app, get(at("club", "/events/0/availability"))).await.headers[header::ETAG].clone();
    let unchanged = get(at("club", "/events/0/availability")).header("if-none-match", etag_before.as_bytes());
    expect_status(&check(&n.app, unchanged).await, 304);

    let n = n.restart().await;
    // A restarted node never answers 304 to a tag of its previous life.
    let stale = get(at("club", "/events/0/availability")).header("if-none-match", etag_before.as_bytes());
    expect_status(&check(&n.app, stale).await, 200);
    assert_eq!(world(&n).await, before, "orders, seat maps and availability survive a restart");
    let order_after = check(&n.app, get(at("club", &format!("/orders/{order_token}")))).await;
    assert_eq!(
        (order_after.status, &order_after.json),
        (order_before.status, &order_before.json),
        "order tokens still open"
    );
    // Remembered replies survive too: the retried confirm is the same order.
    let replay = check(&n.app, post(&confirm_path, payment()).bearer(&n.counter).key("pay-before-restart")).await;
    assert_eq!((replay.status, &replay.json), (StatusCode::CREATED, &order), "idempotency survives a restart");

    // The live holds survived too and can still be completed; new ids do not reuse old ones.
    expect_status(&confirm(&n, "club", &stock.club_hold).await, 201);
    let resume = post(at("rival", "/events/0/sale"), json!({"action": "resume"})).bearer(&n.rival);
    expect_status(&check(&n.app, resume).await, 200);
    expect_status(&confirm(&n, "rival", &stock.rival_hold).await, 201);
    let newer = hold(&n, "club", 0, seats_hold("fan-8", &[9])).await;
    expect_status(&newer, 201);
    assert!(newer.json["hold_id"].as_u64() > extra["hold_id"].as_u64(), "hold ids are never reused");
}
