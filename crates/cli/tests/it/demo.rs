//! `sturmfest demo` as a newcomer meets it: a real child on port 0 serves the club
//! and the demo city, and what its welcome text promises works — the club's games
//! answer, every printed card code has the printed balance at the city's public
//! balance call, the city's token opens the city report, and the printed operator
//! token (and neither tenant's token) opens the report across cities, which lists
//! the city with both its programmes and figures that agree with its own report.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::rush::start_demo;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = agent().get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request.call().unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    (response.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The value after `label` on the first line that has it, up to the next space.
fn after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let line = text.lines().find(|l| l.contains(label))?;
    line[line.find(label)? + label.len()..].split_whitespace().next()
}

#[test]
fn the_demo_serves_the_club_the_city_and_the_operator() {
    let demo = start_demo();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = demo.output.lock().unwrap().clone();
        if text.contains("Ctrl-C stops the server") {
            break text;
        }
        assert!(Instant::now() < deadline, "the welcome text never ended:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let base = format!("http://{}", demo.addr);

    let (status, events) = get(&format!("{base}/api/v1/demo/events"), None);
    assert_eq!(status, 200);
    assert_eq!(events["events"].as_array().unwrap().len(), 6, "the club's season is unchanged");

    let cards: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("card ")?;
            let mut parts = l.split_whitespace();
            let code = parts.next()?;
            parts.next().filter(|w| *w == "balance")?;
            Some((code, parts.next()?))
        })
        .collect();
    assert_eq!(cards.len(), 3, "three cards to try:\n{text}");
    for (code, balance) in &cards {
        let mut response = agent()
            .post(format!("{base}/api/v1/nordstadt/vouchers/cards/balance"))
            .content_type("application/json")
            .send(serde_json::json!({"code": code}).to_string())
            .unwrap();
        let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(response.status().as_u16(), 200, "{body}");
        assert_eq!(body["state"], "active", "{code}");
        assert_eq!(body["balance"].as_str().unwrap(), *balance, "{code}: the printed balance");
    }
    let (status, _) = get(&format!("{base}/nordstadt/card"), None);
    assert_eq!(status, 200, "the balance page");

    let city_token = after(&text, "city API token: ").expect("the city's token");
    let operator_token = after(&text, "operator token: ").expect("the operator token");
    assert!(operator_token.starts_with("sfo_"));
    let (status, city) = get(&format!("{base}/api/v1/nordstadt/vouchers/reports"), Some(city_token));
    assert_eq!(status, 200, "{city}");

    let report = format!("{base}/api/v1/operator/vouchers/report");
    for token in [city_token, demo.token.as_str()] {
        let (status, problem) = get(&report, Some(token));
        assert_eq!((status, problem["code"].as_str()), (401, Some("unauthorized")), "a tenant's token");
    }
    let (status, all) = get(&report, Some(operator_token));
    assert_eq!(status, 200, "{all}");
    let cities = all["cities"].as_array().unwrap();
    assert_eq!(cities.len(), 1, "only the city runs vouchers: {all}");
    let nordstadt = &cities[0];
    assert_eq!(nordstadt["tenant"], "nordstadt");
    assert_eq!(nordstadt["volume_12_months_cents"], city["volume_12_months_cents"]);
    let names: Vec<&str> = nordstadt["programmes"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Nordstadt-Gutschein", "Nordland-Regiogutschein"]);
    for (mine, theirs) in nordstadt["programmes"].as_array().unwrap().iter().zip(city["programmes"].as_array().unwrap()) {
        assert_eq!(mine["liability_cents"], theirs["liability_cents"]);
    }
    let liability: i64 = nordstadt["programmes"].as_array().unwrap().iter().map(|p| p["liability_cents"].as_i64().unwrap()).sum();
    assert!(liability > 0 && nordstadt["volume_12_months_cents"].as_i64().unwrap() > 0, "sold and spent: {nordstadt}");
    let (status, page) = get(&format!("{base}/operator"), None);
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("name=\"token\""), "the operator's sign-in page");
}
