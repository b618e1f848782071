//! `sturmfest load`: the load generator — a seeded flash sale that verifies what it
//! bought, the rush through the waiting room (checked against the published draw),
//! a plain GET hammer, and a bare hyper "hello" server as the ceiling.
//!
//! Everything goes through real sockets and the public HTTP contract (docs/API.md);
//! nothing here links the server's internals, so it measures what a client sees —
//! except the proof-of-work solver and the draw check, the very code a fan's client
//! and an auditor would run (docs/POW.md, docs/DRAW.md).

// Limits are named with their unit last (`request_timeout_ms`), as in the core.
#![allow(non_upper_case_globals)]

mod flash_sale;
mod get;
mod hello;
mod redeem;
mod http;
mod rush;
mod stats;
mod verify;

pub use flash_sale::FlashSaleArgs;
pub use get::GetArgs;
pub use hello::HelloArgs;
pub use rush::RushArgs;

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(clap::Subcommand, Debug)]
pub enum Scenario {
    /// Fans race for one event's seats; then every order is read back and checked.
    FlashSale(FlashSaleArgs),
    /// The club's sale behind its waiting room: fans join with work before and after
    /// the opening, wait, buy; the box office sells alongside; orders, the draw and
    /// the admission order are checked afterwards.
    Rush(RushArgs),
    /// Voucher redemptions at tills, each acknowledged only once durable; then every
    /// card's balance is read back and checked against what was redeemed.
    Redeem(redeem::RedeemArgs),
    /// Hammer one GET URL over keep-alive connections and report latency.
    Get(GetArgs),
    /// A bare hyper "hello" server: the ceiling for the other measurements.
    Hello(HelloArgs),
}

/// Runs one scenario, printing its report on stdout. `Err` means the run could not
/// be carried out or found a correctness violation; the caller exits non-zero.
pub async fn run(args: LoadArgs) -> Result<(), String> {
    match args.scenario {
        Scenario::FlashSale(a) => flash_sale::run(a).await,
        Scenario::Rush(a) => rush::run(a).await,
        Scenario::Redeem(a) => redeem::run(a).await,
        Scenario::Get(a) => get::run(a).await,
        Scenario::Hello(a) => hello::run(a).await,
    }
}

/// Which server and organizer a load command plays against.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, default_value = "demo")]
    pub tenant: String,
    /// The tenant's admin API token (the demo prints it).
    #[arg(long, env = "STURMFEST_TOKEN")]
    pub token: String,
}
