//! Request counters and latency histograms, kept per worker (no shared lock on the
//! hot path) and merged once at the end into the printed report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::http::{Failure, Reply};

/// Latencies are recorded in microseconds up to this; slower replies are clamped
/// (the client times out long before, see `http::request_timeout_ms`).
const latency_us_max: u64 = 60_000_000;

/// The request types reported separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Availability,
    Hold,
    Release,
    Confirm,
    OrdersRead,
    Get,
    /// The waiting room: identities issued, challenges, joins, status polls, the draw.
    Identity,
    Challenge,
    Join,
    Status,
    Draw,
    /// A voucher redemption at a merchant's till.
    Redeem,
}

impl Kind {
    pub const all: [Kind; 12] = [
        Kind::Availability,
        Kind::Hold,
        Kind::Release,
        Kind::Confirm,
        Kind::OrdersRead,
        Kind::Get,
        Kind::Identity,
        Kind::Challenge,
        Kind::Join,
        Kind::Status,
        Kind::Draw,
        Kind::Redeem,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Availability => "availability",
            Kind::Hold => "hold",
            Kind::Release => "release",
            Kind::Confirm => "confirm",
            Kind::OrdersRead => "orders-read",
            Kind::Get => "get",
            Kind::Identity => "identity-issue",
            Kind::Challenge => "challenge",
            Kind::Join => "join",
            Kind::Status => "status",
            Kind::Draw => "draw",
            Kind::Redeem => "redeem",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts and latencies for one request type.
#[derive(Clone)]
pub struct KindStats {
    pub latency_us: Histogram<u64>,
    pub failures: u64,
}

impl KindStats {
    fn new() -> KindStats {
        KindStats {
            latency_us: Histogram::new_with_bounds(1, latency_us_max, 3).expect("valid histogram bounds"),
            failures: 0,
        }
    }

    /// Replies with a status plus transport failures.
    pub fn count(&self) -> u64 {
        self.latency_us.len() + self.failures
    }
}

/// Everything one worker observed; merged with `absorb`.
#[derive(Clone)]
pub struct Stats {
    pub kinds: Vec<KindStats>,
    /// HTTP status → replies, over all kinds.
    pub statuses: BTreeMap<u16, u64>,
    /// Transport failures by description ("timeout", "io", "connect").
    pub failures: BTreeMap<&'static str, u64>,
    /// problem+json codes of 4xx/5xx replies, for the report.
    pub problem_codes: BTreeMap<String, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            kinds: Kind::all.iter().map(|_| KindStats::new()).collect(),
            statuses: BTreeMap::new(),
            failures: BTreeMap::new(),
            problem_codes: BTreeMap::new(),
        }
    }
}

impl Stats {
    pub fn record(&mut self, kind: Kind, result: &Result<Reply, Failure>) {
        match result {
            Ok(reply) => {
                let us = (reply.latency.as_micros() as u64).clamp(1, latency_us_max);
                self.kinds[kind.index()].latency_us.record(us).expect("clamped into bounds");
                *self.statuses.entry(reply.status.as_u16()).or_default() += 1;
                if reply.status.as_u16() >= 400 {
                    let code = reply.problem_code().unwrap_or_else(|| "(no problem code)".into());
                    *self.problem_codes.entry(format!("{} {code}", reply.status.as_u16())).or_default() += 1;
                }
            }
            Err(failure) => {
                self.kinds[kind.index()].failures += 1;
                let name = match failure {
                    Failure::Connect(_) => "connect",
                    Failure::Io(_) => "io",
                    Failure::Timeout => "timeout",
                };
                *self.failures.entry(name).or_default() += 1;
            }
        }
    }

    pub fn absorb(&mut self, other: &Stats) {
        for (mine, theirs) in self.kinds.iter_mut().zip(&other.kinds) {
            mine.latency_us.add(&theirs.latency_us).expect("same bounds");
            mine.failures += theirs.failures;
        }
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (name, n) in &other.failures {
            *self.failures.entry(name).or_default() += n;
        }
        for (code, n) in &other.problem_codes {
            *self.problem_codes.entry(code.clone()).or_default() += n;
        }
    }

    pub fn kind(&self, kind: Kind) -> &KindStats {
        &self.kinds[kind.index()]
    }

    pub fn total(&self) -> u64 {
        self.kinds.iter().map(KindStats::count).sum()
    }

    pub fn server_errors(&self) -> u64 {
        self.statuses.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum()
    }

    /// 5xx other than 503, which the contract allows as the overload answer.
    pub fn server_errors_not_overload(&self) -> u64 {
        self.statuses.iter().filter(|(s, _)| **s >= 500 && **s != 503).map(|(_, n)| n).sum()
    }
}

/// p50/p99/max in milliseconds, as printed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(LatencySummary {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        })
    }
}

/// Events per second; zero for an empty interval rather than infinity.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 { 0.0 } else { count as f64 / secs }
}

/// The per-kind table, then the status counts. `elapsed` gives each kind the
/// interval its throughput is computed over.
pub fn render(stats: &Stats, kinds: &[Kind], elapsed: impl Fn(Kind) -> Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<13} {:>9} {:>11} {:>9} {:>9} {:>9} {:>8}",
        "request", "count", "req/s", "p50 ms", "p99 ms", "max ms", "failed"
    );
    for &kind in kinds {
        let k = stats.kind(kind);
        let rate = per_second(k.count(), elapsed(kind));
        let (p50, p99, max) = match LatencySummary::of(&k.latency_us) {
            Some(s) => (format!("{:.2}", s.p50_ms), format!("{:.2}", s.p99_ms), format!("{:.2}", s.max_ms)),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "  {:<13} {:>9} {:>11.0} {:>9} {:>9} {:>9} {:>8}",
            kind.name(),
            k.count(),
            rate,
            p50,
            p99,
            max,
            k.failures
        );
    }
    let statuses: Vec<String> = stats.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    let _ = writeln!(out, "  HTTP status counts: {}", if statuses.is_empty() { "none".into() } else { statuses.join(", ") });
    if !stats.failures.is_empty() {
        let failures: Vec<String> = stats.failures.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        let _ = writeln!(out, "  transport failures: {}", failures.join(", "));
    }
    if !stats.problem_codes.is_empty() {
        let codes: Vec<String> = stats.problem_codes.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        let _ = writeln!(out, "  problem codes: {}", codes.join(", "));
    }
    let five = stats.server_errors();
    if five == 0 {
        let _ = writeln!(out, "  5xx replies: none");
    } else {
        let _ = writeln!(
            out,
            "  5xx replies: {five} ({} of them 503 overload, {} other)",
            stats.statuses.get(&503).copied().unwrap_or(0),
            stats.server_errors_not_overload()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hyper::StatusCode;

    fn reply(status: u16, latency_us: u64, body: &str) -> Result<Reply, Failure> {
        Ok(Reply {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after_secs: None,
            body: Bytes::from(body.to_string()),
            latency: Duration::from_micros(latency_us),
        })
    }

    #[test]
    fn latency_summary_reports_median_tail_and_max_in_milliseconds() {
        let mut stats = Stats::default();
        // 98 fast replies at 1 ms, then 2 slow ones: p50 is 1 ms, p99 is 50 ms.
        for _ in 0..98 {
            stats.record(Kind::Hold, &reply(201, 1_000, "{}"));
        }
        stats.record(Kind::Hold, &reply(201, 50_000, "{}"));
        stats.record(Kind::Hold, &reply(201, 80_000, "{}"));
        let s = LatencySummary::of(&stats.kind(Kind::Hold).latency_us).unwrap();
        // HDR keeps 3 significant digits, so compare within 0.1 %.
        assert!((s.p50_ms - 1.0).abs() < 0.001, "{s:?}");
        assert!((s.p99_ms - 50.0).abs() < 0.05, "{s:?}");
        assert!((s.max_ms - 80.0).abs() < 0.08, "{s:?}");
        assert_eq!(LatencySummary::of(&stats.kind(Kind::Confirm).latency_us), None);
    }

    #[test]
    fn merged_stats_add_counts_statuses_and_failures() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record(Kind::Confirm, &reply(201, 500, "{}"));
        b.record(Kind::Confirm, &reply(503, 500, r#"{"code":"overloaded"}"#));
        b.record(Kind::Confirm, &Err(Failure::Timeout));
        a.absorb(&b);
        assert_eq!(a.kind(Kind::Confirm).count(), 3);
        assert_eq!(a.total(), 3);
        assert_eq!(a.statuses.get(&503), Some(&1));
        assert_eq!(a.server_errors(), 1);
        assert_eq!(a.server_errors_not_overload(), 0);
        assert_eq!(a.problem_codes.get("503 overloaded"), Some(&1));
        assert_eq!(a.failures.get("timeout"), Some(&1));
    }

    #[test]
    fn throughput_of_an_empty_interval_is_zero_not_infinite() {
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000.0);
    }
}
