//! The club office's pages through the whole router on a real SQLite log, as a
//! browser without script uses them: forms posted as
//! `application/x-www-form-urlencoded` with the session cookie and CSRF field,
//! answers read as HTML, and every effect checked against the core's own state.
//!
//! What they prove: only office and admin accounts open the pages, a missing
//! session goes to the login, a form without its CSRF token changes nothing; a
//! seat-map import lists its errors with line numbers and creates nothing, a
//! valid one previews its counts and then creates the venue; a game made through
//! the form is the event the core holds, and open / pause (with message and
//! resume time) / resume reach the public pages; orders are found by number,
//! name and e-mail, and cancelling some tickets with a refund frees exactly their
//! seats; the sales overview and the CSV export show the core's numbers.

use axum::http::header;
use sturmfest_core as core;

use crate::api::{Node, Reply, at, check, expect_problem, expect_status, get, open_event, post, request};
use crate::boxoffice::{csrf_of, page_text, staff_cookie};

fn form(uri: &str, cookie: &str, fields: &[(&str, &str)]) -> crate::api::Req {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect();
    request("POST", uri).header("content-type", "application/x-www-form-urlencoded").header("cookie", cookie).raw(body.join("&"))
}

async fn page(n: &Node, uri: &str, cookie: &str) -> Reply {
    let reply = check(&n.app, get(uri).header("cookie", cookie)).await;
    expect_status(&reply, 200);
    reply
}

async fn read<R: Send + 'static>(n: &Node, f: impl FnOnce(&core::Tenant) -> R + Send + 'static) -> R {
    n.opened.state.tenants["club"].shard.read(f).await.unwrap()
}

async fn sale_status(n: &Node, event: u64) -> core::SaleStatus {
    read(n, move |t| t.event(core::EventId(event as u32)).unwrap().sale.clone()).await
}

#[tokio::test]
async fn the_office_is_for_office_roles_and_its_forms_need_the_csrf_token() {
    let n = crate::api::fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;
    let to_login = check(&n.app, get("/club/office").header("accept", "text/html")).await;
    expect_status(&to_login, 303);
    assert!(to_login.headers[header::LOCATION].to_str().unwrap().starts_with("/club/staff/login"));

    let kasse = staff_cookie(&n, "kasse", &["box_office"]).await;
    for path in ["/club/office", "/club/office/orders", "/club/office/venues/import", "/club/office/events/new"] {
        expect_problem(&check(&n.app, get(path).header("cookie", &kasse)).await, 403, "staff_forbidden");
    }
    expect_problem(&check(&n.app, get(format!("/club/office/events/{event}/tickets.csv")).header("cookie", &kasse)).await, 403, "staff_forbidden");
    let token = csrf_of(&n, &kasse).await;
    let pause = [("csrf", token.as_str()), ("action", "pause"), ("message", "x")];
    expect_problem(&check(&n.app, form(&format!("/club/office/events/{event}/sale"), &kasse, &pause)).await, 403, "staff_forbidden");

    let office = staff_cookie(&n, "buero", &["office"]).await;
    let home = page(&n, "/club/office", &office).await;
    assert!(page_text(&home).contains(&format!("/club/office/events/{event}")), "the game is listed");
    let forged = check(&n.app, form(&format!("/club/office/events/{event}/sale"), &office, &[("action", "pause"), ("message", "x")])).await;
    expect_problem(&forged, 403, "csrf_invalid");
    let foreign = check(&n.app, form(&format!("/club/office/events/{event}/sale"), &office, &pause)).await;
    expect_problem(&foreign, 403, "csrf_invalid");
    assert_eq!(sale_status(&n, event).await, core::SaleStatus::Open, "a refused form changes nothing");
}

#[tokio::test]
async fn a_seat_map_import_lists_its_errors_by_line_then_previews_and_creates_the_venue() {
    let n = crate::api::fresh().await;
    let office = staff_cookie(&n, "buero", &["office"]).await;
    let csrf = csrf_of(&n, &office).await;
    expect_status(&check(&n.app, get("/club/office/venues/import").header("cookie", &office)).await, 200);

    let broken = "venue;Halle Nord\nA;1;1;10\nA;1;1;4\nB;x;1\nstanding;Stehplatz;viele\n";
    let reply = check(&n.app, form("/club/office/venues/import", &office, &[("csrf", &csrf), ("action", "create"), ("data", broken)])).await;
    expect_status(&reply, 422);
    let html = page_text(&reply);
    for line in ["Zeile 3:", "Zeile 4:", "Zeile 5:"] {
        assert!(html.contains(line), "{line} in {html}");
    }
    assert!(!html.contains("Zeile 2:"), "a good line is not blamed");
    assert_eq!(read(&n, |t| t.venues().len()).await, 0, "nothing created from a file with errors");

    let good = "venue;Halle Nord\nblock;row;seat_from;seat_to\nA;1;1;10\nA;2;1;12\nB;1;1;8\nstanding;Stehplatz;300\n";
    let preview = check(&n.app, form("/club/office/venues/import", &office, &[("csrf", &csrf), ("action", "preview"), ("data", good)])).await;
    expect_status(&preview, 200);
    let html = page_text(&preview);
    assert!(html.contains("id=\"import-counts\"") && html.contains("<dd>30</dd>") && html.contains("<dd>300</dd>"), "{html}");
    assert_eq!(read(&n, |t| t.venues().len()).await, 0, "a preview creates nothing");

    let created = check(&n.app, form("/club/office/venues/import", &office, &[("csrf", &csrf), ("action", "create"), ("data", good)])).await;
    expect_status(&created, 303);
    let venue = read(&n, |t| t.venues()[0].spec.clone()).await;
    assert_eq!(venue.name, "Halle Nord");
    assert_eq!(venue.blocks.iter().flat_map(|b| &b.rows).map(|r| r.seats.len()).sum::<usize>(), 30);
    assert_eq!(venue.standing[0].capacity, 300);
}

#[tokio::test]
async fn a_game_made_through_the_form_is_opened_paused_and_resumed_and_the_fans_page_shows_the_brake() {
    let n = crate::api::fresh().await;
    let office = staff_cookie(&n, "buero", &["office"]).await;
    let csrf = csrf_of(&n, &office).await;
    let data = "venue;Halle\nA;1;1;10\nB;1;1;10\nstanding;Stehplatz;100\n";
    expect_status(&check(&n.app, form("/club/office/venues/import", &office, &[("csrf", &csrf), ("action", "create"), ("data", data)])).await, 303);

    let chooser = page(&n, "/club/office/events/new", &office).await;
    assert!(page_text(&chooser).contains("/club/office/events/new?venue=0"));
    let with_venue = page(&n, "/club/office/events/new?venue=0", &office).await;
    assert!(page_text(&with_venue).contains("value=\"b1\"") && page_text(&with_venue).contains("value=\"s0\""));

    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("venue", "0"),
        ("name", "Derby gegen Rivalen"),
        ("starts", "2099-12-05T19:30"),
        ("opens", "2020-12-01T10:00"),
        ("closes", "2099-12-05T19:30"),
        ("cat0_name", "Sitzplatz"),
        ("cat0_places", "b0"),
        ("cat0_places", "b1"),
        ("cat0_tariffs", "Erwachsene 29,00\r\nErmäßigt 19,50"),
        ("cat1_name", "Stehplatz"),
        ("cat1_places", "s0"),
        ("cat1_tariffs", "Stehplatz 12,00"),
        ("quota_box_office", "5"),
    ];
    let bad = [fields.clone(), vec![("cat2_name", "Loge"), ("cat2_tariffs", "Loge 90")]].concat();
    let refused = check(&n.app, form("/club/office/events/new", &office, &bad)).await;
    expect_status(&refused, 422);
    assert!(page_text(&refused).contains("id=\"game-error\""));
    fields.push(("order_max", "6"));
    let created = check(&n.app, form("/club/office/events/new", &office, &fields)).await;
    expect_status(&created, 303);
    assert_eq!(created.headers[header::LOCATION], "/club/office/events/0?lang=de&done=1");
    let spec = read(&n, |t| t.event(core::EventId(0)).unwrap().spec.clone()).await;
    assert_eq!(spec.name, "Derby gegen Rivalen");
    assert_eq!(spec.categories[0].tariffs[1].price, core::Cents(1950));
    assert_eq!(spec.quotas, [None, Some(5), None]);
    assert_eq!(spec.order_tickets_max, 6);
    assert_eq!(spec.starts_at, core::TimeMs(4_100_178_600_000), "19:30 in Berlin winter time is 18:30 UTC");
    assert_eq!(sale_status(&n, 0).await, core::SaleStatus::Draft);

    let send = |fields: Vec<(&'static str, String)>| {
        let mut pairs: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        pairs.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        form("/club/office/events/0/sale", &office, &pairs)
    };
    expect_status(&check(&n.app, send(vec![("action", "open".into())])).await, 303);
    assert_eq!(sale_status(&n, 0).await, core::SaleStatus::Open);
    let listed = check(&n.app, get("/club")).await;
    assert!(page_text(&listed).contains("Derby gegen Rivalen"), "the public list shows the new game");

    let message = "Notbremse: Verkauf ruht bis 18 Uhr";
    let paused = check(&n.app, send(vec![("action", "pause".into()), ("message", message.into()), ("resume_at", "2099-12-01T18:00".into())])).await;
    expect_status(&paused, 303);
    match sale_status(&n, 0).await {
        core::SaleStatus::Paused { message: m, resume_at, .. } => {
            assert_eq!(m, message);
            assert_eq!(resume_at, Some(core::TimeMs(4_099_827_600_000)));
        }
        other => panic!("paused, got {other:?}"),
    }
    let fan = check(&n.app, get("/club/events/0")).await;
    assert!(page_text(&fan).contains(message), "the fan's page shows the brake's message");
    let office_page = page(&n, "/club/office/events/0", &office).await;
    assert!(page_text(&office_page).contains(message));
    let hold = check(&n.app, post(at("club", "/events/0/holds"), crate::api::standing_hold("fan", 1))).await;
    expect_problem(&hold, 409, "sale_paused");

    let twice = check(&n.app, send(vec![("action", "open".into())])).await;
    expect_status(&twice, 409);
    assert!(page_text(&twice).contains("role=\"alert\""), "the refusal is shown on the page");
    expect_status(&check(&n.app, send(vec![("action", "resume".into())])).await, 303);
    assert_eq!(sale_status(&n, 0).await, core::SaleStatus::Open);
    expect_status(&check(&n.app, post(at("club", "/events/0/holds"), crate::api::standing_hold("fan", 1))).await, 201);
}

/// Sells through the public API and the test provider: returns the order id.
async fn buy(n: &Node, event: u64, seats: &[u32], name: &str, email: &str) -> u64 {
    let hold = check(&n.app, post(at("club", &format!("/events/{event}/holds")), crate::api::seats_hold(email, seats))).await;
    expect_status(&hold, 201);
    let token = hold.json["hold"].as_str().unwrap().to_string();
    let confirmed = crate::payments::pay_as(&n.app, "club", &token, name, email).await;
    expect_status(&confirmed, 201);
    confirmed.json["order_id"].as_u64().unwrap()
}

#[tokio::test]
async fn orders_are_found_by_number_name_and_email_and_cancelling_some_tickets_frees_their_seats() {
    let n = crate::api::fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;
    let erika = buy(&n, event, &[0, 1, 2], "Erika Mustermann", "erika@example.org").await;
    let max = buy(&n, event, &[5], "Max Muster", "max@example.net").await;
    let office = staff_cookie(&n, "buero", &["office"]).await;
    let csrf = csrf_of(&n, &office).await;

    let found = |html: &str, id: u64| html.contains(&format!("/club/office/orders/{id}?"));
    for (q, erika_found, max_found) in [("mustermann", true, false), ("EXAMPLE.NET", false, true), (&*format!("#{max}"), false, true), ("muster", true, true), ("nobody", false, false)] {
        let reply = page(&n, &format!("/club/office/orders?q={}", percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)), &office).await;
        let html = page_text(&reply);
        assert_eq!((found(html, erika), found(html, max)), (erika_found, max_found), "search {q:?}");
    }

    let detail = page(&n, &format!("/club/office/orders/{erika}"), &office).await;
    assert!(page_text(&detail).contains("Block A, Reihe 1, Platz 2") && page_text(&detail).contains("87,00"), "{}", page_text(&detail));
    let cancel = form(&format!("/club/office/orders/{erika}/cancel"), &office, &[("csrf", &csrf), ("ticket_1", "on"), ("refund", "full")]);
    expect_status(&check(&n.app, cancel).await, 303);
    let (seats, refunded) = read(&n, move |t| {
        let e = t.event(core::EventId(event as u32)).unwrap();
        (e.seats[..3].to_vec(), t.order(core::OrderId(erika)).unwrap().refunded())
    })
    .await;
    assert_eq!(seats[1], core::SeatState::Free, "the cancelled ticket's seat is free again");
    assert!(matches!(seats[0], core::SeatState::Sold(_)) && matches!(seats[2], core::SeatState::Sold(_)));
    assert_eq!(refunded, core::Cents(2900));
    let detail = page(&n, &format!("/club/office/orders/{erika}?lang=en"), &office).await;
    assert!(page_text(&detail).contains("<dd id=\"refunded\">€29.00</dd>"));

    // The same ticket again is refused with the reason, nothing changes.
    let again = form(&format!("/club/office/orders/{erika}/cancel"), &office, &[("csrf", &csrf), ("ticket_1", "on")]);
    expect_status(&check(&n.app, again).await, 409);
    // The whole rest, without refund.
    let rest = form(&format!("/club/office/orders/{max}/cancel"), &office, &[("csrf", &csrf), ("refund", "none")]);
    expect_status(&check(&n.app, rest).await, 303);
    let (seat, refunded) = read(&n, move |t| {
        (t.event(core::EventId(event as u32)).unwrap().seats[5], t.order(core::OrderId(max)).unwrap().refunded())
    })
    .await;
    assert_eq!((seat, refunded), (core::SeatState::Free, core::Cents(0)));
    let report = read(&n, |t| t.check_invariants_result()).await;
    assert!(report.is_ok(), "{report:?}");
}

#[tokio::test]
async fn the_sales_overview_and_the_csv_export_show_the_cores_numbers() {
    let n = crate::api::fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;
    buy(&n, event, &[0, 1], "Anna; \"Nord\"", "anna@example.org").await;
    buy(&n, event, &[7], "=cmd", "b@example.org").await;
    let held = check(&n.app, post(at("club", &format!("/events/{event}/holds")), crate::api::standing_hold("c", 3))).await;
    expect_status(&held, 201);
    let office = staff_cookie(&n, "buero", &["office"]).await;

    let overview = page(&n, &format!("/club/office/events/{event}"), &office).await;
    let html = page_text(&overview);
    let (seated, standing) = read(&n, move |t| {
        let e = t.event(core::EventId(event as u32)).unwrap();
        (e.categories[0], e.categories[1])
    })
    .await;
    assert_eq!((seated.sold, seated.held, standing.held), (3, 0, 3));
    let row = |name: &str, c: core::Counts, revenue: &str| {
        format!(
            "<tr><th scope=\"row\">{name}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{revenue}</td></tr>",
            c.capacity,
            c.sold,
            c.held,
            c.free()
        )
    };
    assert!(html.contains(&row("Sitzplatz", seated, "87,00\u{a0}€")), "{html}");
    assert!(html.contains(&row("Stehplatz", standing, "0,00\u{a0}€")), "{html}");
    assert!(html.contains("<tr><th scope=\"row\">A</th><td class=\"num\">10</td><td class=\"num\">3</td><td class=\"num\">0</td><td class=\"num\">7</td>"), "per block");
    assert!(!html.contains("<th scope=\"row\">Presse</th>"), "a block no category sells is not a row");
    assert!(html.contains("role=\"img\"") && html.contains("<title id=\"chart-title\">"), "the chart is labelled");
    // Sold bar of the seated category: 3 of 10 seats of a 320-unit bar.
    assert!(html.contains("class=\"sold\" x=\"0\" y=\"18\" width=\"96\""), "{html}");

    let csv = check(&n.app, get(format!("/club/office/events/{event}/tickets.csv")).header("cookie", &office)).await;
    expect_status(&csv, 200);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let text = csv.json.as_str().unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "order;created_berlin;channel;buyer;email;payment;ticket;category;tariff;block;row;seat;standing_area;price_eur;status");
    assert_eq!(lines.len(), 1 + 3, "one line per sold ticket; holds are not orders");
    let first: Vec<&str> = lines[1].split(';').collect();
    assert_eq!(first[0], "1");
    assert!(first[1].len() == 19 && first[1].starts_with("20"), "a Berlin date-time: {}", first[1]);
    assert!(lines[1].contains(";\"Anna; \"\"Nord\"\"\";anna@example.org;"), "{}", lines[1]);
    assert!(lines[1].ends_with(";Sitzplatz;Erwachsene;A;1;1;;29,00;valid"), "{}", lines[1]);
    assert!(lines[3].contains(";'=cmd;"), "formulas are defused: {}", lines[3]);
    let total: i64 = lines[1..].iter().map(|l| l.rsplit(';').nth(1).unwrap().replace(',', "").parse::<i64>().unwrap()).sum();
    let core_total = read(&n, move |t| t.orders().iter().map(|o| o.paid().0).sum::<i64>()).await;
    assert_eq!(total, core_total, "the CSV adds up to what the core says was paid");
}

#[tokio::test]
async fn the_office_amends_prices_quotas_and_sale_times_and_existing_orders_keep_their_price() {
    let n = crate::api::fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;
    let sold = buy(&n, event, &[0, 1], "Erika", "erika@example.org").await;
    let office = staff_cookie(&n, "buero", &["office"]).await;
    let csrf = csrf_of(&n, &office).await;
    let html = page(&n, &format!("/club/office/events/{event}"), &office).await;
    let html = page_text(&html);
    assert!(html.contains("name=\"price_0_0\" inputmode=\"decimal\" value=\"29,00\""), "current prices prefilled: {html}");
    assert!(html.contains("name=\"closes\" type=\"datetime-local\" value=\"2099-12-02T19:30\""), "Berlin local time prefilled");

    let uri = format!("/club/office/events/{event}/amend");
    let fields = |quota_online: &'static str, price: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("opens", "2020-01-01T00:00".to_string()),
            ("closes", "2099-12-02T18:00".to_string()),
            ("quota_online", quota_online.to_string()),
            ("quota_box_office", String::new()),
            ("quota_reserved", String::new()),
            ("price_0_0", price.to_string()),
            ("price_0_1", "19,05".to_string()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form(&uri, &office, &pairs)
    };
    // Below the two sold online tickets: refused, nothing changes.
    let before = read(&n, move |t| t.event(core::EventId(event as u32)).unwrap().spec.clone()).await;
    let refused = check(&n.app, send(fields("1", "31,50"))).await;
    expect_status(&refused, 422);
    assert!(page_text(&refused).contains("quota may not go below"), "the reason is shown");
    assert_eq!(read(&n, move |t| t.event(core::EventId(event as u32)).unwrap().spec.clone()).await, before);
    let forged = check(&n.app, form(&uri, &office, &[("opens", "2020-01-01T00:00")])).await;
    expect_problem(&forged, 403, "csrf_invalid");

    expect_status(&check(&n.app, send(fields("3", "31,50"))).await, 303);
    let spec = read(&n, move |t| t.event(core::EventId(event as u32)).unwrap().spec.clone()).await;
    assert_eq!(spec.categories[0].tariffs[0].price, core::Cents(3150));
    assert_eq!(spec.quotas, [Some(3), None, None]);
    assert_eq!(spec.sale_closes_at, core::TimeMs(4_099_914_000_000), "18:00 Berlin winter time");
    assert_eq!(read(&n, move |t| t.order(core::OrderId(sold)).unwrap().paid()).await, core::Cents(5800), "the order keeps its price");
    let hold = check(&n.app, post(at("club", &format!("/events/{event}/holds")), crate::api::seats_hold("new", &[2]))).await;
    expect_status(&hold, 201);
    assert_eq!(hold.json["total_cents"], 3150, "a new hold pays the new price");
    let over = check(&n.app, post(at("club", &format!("/events/{event}/holds")), crate::api::seats_hold("late", &[3]))).await;
    expect_problem(&over, 409, "quota_exhausted");
}
