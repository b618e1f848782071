//! Hammer one GET URL over keep-alive connections for a fixed time: measures the
//! availability endpoint and the bare "hello" ceiling side by side.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper::Method;

use super::http::{Conn, Headers, Target};
use super::stats::{self, Kind, Stats};

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// The full URL to GET, e.g. http://127.0.0.1:8080/api/v1/demo/events/0/availability
    #[arg(long)]
    pub url: String,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// Past this many consecutive transport failures a worker stops: the server is gone
/// and spinning on reconnects would measure nothing.
const worker_failures_max: u32 = 100;

pub async fn run(args: GetArgs) -> Result<(), String> {
    let target = Target::parse(&args.url)?;
    let path = if target.path.is_empty() { "/".to_string() } else { target.path.clone() };
    let concurrency = args.concurrency.clamp(1, 100_000);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (authority, path, stop) = (target.authority.clone(), path.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(&authority);
            let mut stats = Stats::default();
            let mut failures_in_a_row = 0;
            while !stop.load(Ordering::Relaxed) && failures_in_a_row < worker_failures_max {
                let result = conn.send(Method::GET, &path, &Headers::default(), None).await;
                failures_in_a_row = if result.is_ok() { 0 } else { failures_in_a_row + 1 };
                stats.record(Kind::Get, &result);
            }
            stats
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Stats::default();
    for w in workers {
        total.absorb(&w.await.map_err(|e| format!("worker panicked: {e}"))?);
    }
    // In-flight requests finish after the stop flag; count them in the interval.
    let elapsed = started.elapsed();
    println!("GET {} — {} connections, {:.1} s", args.url, concurrency, elapsed.as_secs_f64());
    print!("{}", stats::render(&total, &[Kind::Get], |_| elapsed));
    if total.kind(Kind::Get).latency_us.is_empty() {
        return Err(format!("no GET to {} got a reply", args.url));
    }
    Ok(())
}
