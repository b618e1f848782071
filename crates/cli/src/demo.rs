//! `sturmfest demo`: a fictional ice hockey club with a 6,000-place arena (3,000
//! seats in eight blocks around the rink, two standing terraces of 1,500), a season
//! of home games — the next two on sale now — served on the embedded default store.

use std::net::SocketAddr;
use std::path::PathBuf;

use jiff::{ToSpan, Zoned};
use sturmfest_core as core;
use sturmfest_server::demo::{arena, arena_name, club_name, game};
use sturmfest_server::demo_city::{city_name, city_slug};
use sturmfest_server::runtime::Shard;
use sturmfest_server::tenants::Registry;

pub const demo_tenant: &str = "demo";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where the demo keeps its data; kept between runs.
    #[arg(long, default_value = "sturmfest-demo")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Proof-of-work difficulty of the waiting room when calm (12–24 bits); the
    /// same setting `serve` reads.
    #[arg(long, env = "STURMFEST_POW_BASE_BITS", default_value_t = sturmfest_server::waiting::pow_base_bits_default)]
    pub pow_base_bits: u32,
    /// The most a long line raises the difficulty to (12–24 bits). `sturmfest load
    /// rush` plays every fan on one machine and runs the demo with this at the base.
    #[arg(long, env = "STURMFEST_POW_BITS_MAX", default_value_t = sturmfest_server::pow::difficulty_bits_max)]
    pub pow_bits_max: u32,
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.data_dir).map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let mut registry = Registry::load(&args.data_dir).map_err(|e| e.to_string())?;
    let token = match registry.rotate_token(demo_tenant) {
        Some(token) => token,
        None => registry.add(demo_tenant, club_name).map_err(|e| e.to_string())?,
    };
    let city_token = match registry.rotate_token(city_slug) {
        Some(token) => token,
        None => registry.add(city_slug, city_name).map_err(|e| e.to_string())?,
    };
    registry.save(&args.data_dir).map_err(|e| e.to_string())?;
    let operator_token = sturmfest_server::operator::rotate_token(&args.data_dir).map_err(|e| e.to_string())?;
    let options = sturmfest_server::node::NodeOptions {
        pow_base_bits: args.pow_base_bits,
        pow_bits_max: args.pow_bits_max,
        ..Default::default()
    };
    let opened =
        sturmfest_server::node::open_with(&args.data_dir, Default::default(), options).await.map_err(|e| e.to_string())?;
    let shard = opened.state.tenants[demo_tenant].shard.clone();
    let fresh = shard.read(|t| t.venues().is_empty()).await.map_err(|e| e.to_string())?;
    if fresh {
        set_up(&shard).await?;
    }
    // Also for a demo directory from before staff logins existed.
    sturmfest_server::demo::create_demo_staff(&shard).await?;
    let city = opened.state.tenants[city_slug].clone();
    let city_fresh = sturmfest_server::demo_city::set_up(&city).await?;
    sturmfest_server::demo_city::create_staff(&city).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e} (pick another with --listen 127.0.0.1:PORT)", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    print_welcome(&shard, addr, &token, &args.data_dir, fresh).await?;
    print_city_welcome(&city, addr, &city_token, &operator_token, city_fresh).await?;
    println!();
    println!("  Ctrl-C stops the server; the data stays in {}.", args.data_dir.display());
    drop(city);
    sturmfest_server::node::serve(listener, opened.state.clone(), crate::config::shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    // `close` waits for the writers, and a writer ends only when every handle to its
    // shard is gone: this one too, or SIGTERM would hang the demo here.
    drop(shard);
    opened.close().await;
    Ok(())
}

async fn exec(shard: &Shard, command: core::Command) -> Result<core::Reply, String> {
    match shard.execute(None, command).await.map_err(|e| e.to_string())? {
        Ok(reply) => Ok(reply),
        Err(rejection) => Err(format!("demo set-up rejected: {}", rejection.detail())),
    }
}

async fn set_up(shard: &Shard) -> Result<(), String> {
    let core::Reply::VenueCreated { venue } = exec(shard, core::Command::CreateVenue(arena())).await? else {
        return Err("unexpected reply".into());
    };
    let now = Zoned::now().in_tz("Europe/Berlin").map_err(|e| e.to_string())?;
    let evening = |days: i64| -> Result<Zoned, String> {
        let day = now.date().checked_add(days.days()).map_err(|e| e.to_string())?;
        day.at(19, 30, 0, 0).in_tz("Europe/Berlin").map_err(|e| e.to_string())
    };
    let opened_now = now.checked_sub(1.minute()).map_err(|e| e.to_string())?;
    let season = [
        ("Playoff-Viertelfinale Spiel 1 gegen Hafenstadt Haie", 10, true),
        ("Playoff-Viertelfinale Spiel 3 gegen Hafenstadt Haie", 14, true),
        ("Playoff-Halbfinale Spiel 1 (falls qualifiziert)", 24, false),
        ("Playoff-Halbfinale Spiel 3 (falls qualifiziert)", 28, false),
        ("Playoff-Finale Spiel 1 (falls qualifiziert)", 38, false),
        ("Playoff-Finale Spiel 3 (falls qualifiziert)", 42, false),
    ];
    for (name, days, on_sale) in season {
        let starts = evening(days)?;
        let opens = if on_sale { opened_now.clone() } else { starts.checked_sub(7.days()).map_err(|e| e.to_string())? };
        let core::Reply::EventCreated { event } = exec(shard, core::Command::CreateEvent(game(venue, name, &starts, &opens))).await?
        else {
            return Err("unexpected reply".into());
        };
        if on_sale {
            exec(shard, core::Command::Sale { event, action: core::SaleAction::Open }).await?;
        }
    }
    Ok(())
}

async fn print_welcome(shard: &Shard, addr: SocketAddr, token: &str, dir: &std::path::Path, fresh: bool) -> Result<(), String> {
    let games = shard
        .read(|t| {
            t.events()
                .iter()
                .map(|e| {
                    let when = jiff::Timestamp::from_millisecond(e.spec.starts_at.0)
                        .map(|ts| ts.in_tz("Europe/Berlin").map(|z| z.strftime("%a %d.%m.%Y %H:%M").to_string()).unwrap_or_default())
                        .unwrap_or_default();
                    (e.id.0, when, e.sale.code(), e.free(), e.capacity(), e.spec.name.clone())
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| e.to_string())?;
    let base = format!("http://{addr}/api/v1/{demo_tenant}");
    println!();
    println!("sturmfest demo — {club_name}, {arena_name}");
    println!("  {} data in {}", if fresh { "created" } else { "reusing" }, dir.display());
    println!("  arena: 3,000 seats (blocks A–H, 15 rows × 25) + 2 standing terraces × 1,500 = 6,000 places");
    println!();
    println!("  id  game (Europe/Berlin)    sale    free / capacity  name");
    for (id, when, sale, free, capacity, name) in &games {
        println!("  {id:>2}  {when:<22}  {sale:<6}  {free:>5} / {capacity:<5}    {name}");
    }
    println!();
    println!("  listening on http://{addr}");
    println!("  in a browser: http://{addr}/{demo_tenant}   (German; ?lang=en for English)");
    println!("  events:    curl {base}/events");
    println!("  free now:  curl {base}/events/0/availability");
    println!("  OpenAPI:   http://{addr}/api/openapi.json");
    println!("  API token: {token}   (admin calls: -H 'Authorization: Bearer {token}')");
    println!();
    println!("  staff login: http://{addr}/{demo_tenant}/staff/login");
    for (login, _, password, roles) in sturmfest_server::demo::demo_staff {
        let roles: Vec<&str> = roles.iter().map(|r| r.code()).collect();
        println!("    {login:<8} password {password:<18} roles {}", roles.join(", "));
    }
    println!("    DEMO ONLY: these passwords are printed and in the source; never run real sales on demo data.");
    println!();
    println!("  hold 2 seats side by side in 'Sitzplatz Mitte' for fan-1:");
    println!("    curl -X POST {base}/events/0/holds -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' \\");
    println!("         -d '{{\"customer\":\"fan-1\",\"selection\":{{\"type\":\"best_available\",\"category\":0,\"quantity\":2}}}}'");
    println!("  then pay for it with the returned hold token, and open http://{addr} + the redirect_url (the test provider's page):");
    println!("    curl -X POST {base}/holds/HOLD/payments -H 'Content-Type: application/json' -H 'Idempotency-Key: pay-1' \\");
    println!("         -d '{{\"buyer\":{{\"name\":\"Erika Muster\",\"email\":\"erika@example.org\"}},\"lang\":\"de\"}}'");
    println!("  pull the emergency brake:");
    println!("    curl -X POST {base}/events/0/sale -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\");
    println!("         -H 'Idempotency-Key: brake-1' -d '{{\"action\":\"pause\",\"message\":\"Kurze Pause – es geht gleich weiter\"}}'");
    println!("  a flash sale of fans against a fresh game:");
    println!("    sturmfest load flash-sale --url http://{addr} --tenant {demo_tenant} --token {token}");
    Ok(())
}

/// The demo city's part of the welcome text: where the office, the till, the
/// balance page and the operator live, the logins, and three sold cards to try.
async fn print_city_welcome(
    city: &sturmfest_server::http::TenantHandle,
    addr: SocketAddr,
    token: &str,
    operator_token: &str,
    fresh: bool,
) -> Result<(), String> {
    use sturmfest_server::demo_city::{programme_name, region_programme_name};
    let cards = sturmfest_server::demo_city::shown(city).await?;
    let web = format!("http://{addr}/{city_slug}");
    println!();
    println!("sturmfest demo — {city_name}: city vouchers ({programme_name}, {region_programme_name})");
    println!("  {} 4 shops, 16 printed cards, 7 of them sold, 5 redemptions", if fresh { "created" } else { "reusing" });
    println!("  voucher office: {web}/vouchers");
    println!("  shop till:      {web}/merchant");
    println!("  card balance:   {web}/card");
    println!("  buy a card:     {web}/card/buy   (digital card by e-mail, paid at the built-in test provider)");
    println!("  city report:    curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/{city_slug}/vouchers/reports");
    println!("  city API token: {token}");
    println!("  staff login: {web}/staff/login");
    for (login, _, password, roles) in sturmfest_server::demo_city::city_staff {
        let roles: Vec<&str> = roles.iter().map(|r| r.code()).collect();
        println!("    {login:<8} password {password:<18} roles {}", roles.join(", "));
    }
    println!("  sold cards to try (DEMO ONLY: computed from a public seed, anyone can derive them):");
    for card in &cards {
        println!("    card {}   balance {} €   {}", card.code, card.balance, card.programme);
    }
    println!();
    println!("operator (every city on this node):");
    println!("  page:   http://{addr}/operator");
    println!("  report: curl -H 'Authorization: Bearer {operator_token}' http://{addr}/api/v1/operator/vouchers/report");
    println!("  operator token: {operator_token}   (new on every start; `sturmfest operator-token` makes one for `serve`)");
    Ok(())
}
