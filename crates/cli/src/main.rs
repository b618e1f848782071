//! `sturmfest`: serve the API, run the demo, verify a log or a draw, add tenants,
//! make load.

// Limits are named like values with their unit last, in the TigerBeetle style.
#![allow(non_upper_case_globals)]

mod config;
mod demo;
mod load;
mod verify;
mod verify_draw;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "sturmfest", version, about = "Tickets that keep selling through the storm.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API from a data directory (SQLite log, tenant registry).
    Serve(config::ServeArgs),
    /// Serve a demo club: a 6,000-place arena, a season of games, an open sale.
    Demo(demo::DemoArgs),
    /// Replay a data directory's log and check every invariant and the hash chain.
    Verify(verify::VerifyArgs),
    /// Recompute a published waiting-room draw from its seed and check it.
    VerifyDraw(verify_draw::VerifyDrawArgs),
    /// Manage the organizers (tenants) a data directory serves.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Generate load against a running server and check what it bought.
    Load(load::LoadArgs),
    /// Make a new operator token for the report across all cities and print it
    /// (shown once, stored only hashed; the old token and its page sessions end at
    /// the next start).
    OperatorToken {
        #[arg(long, env = "STURMFEST_DATA_DIR", default_value = "sturmfest-data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Add a tenant and print its API token (shown once; stored only hashed).
    Add {
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, env = "STURMFEST_DATA_DIR", default_value = "sturmfest-data")]
        data_dir: PathBuf,
    },
    /// Add a box-office terminal and print its token (shown once; it can sell at
    /// the counter and nothing else).
    Terminal {
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, env = "STURMFEST_DATA_DIR", default_value = "sturmfest-data")]
        data_dir: PathBuf,
    },
    /// List the tenants of a data directory.
    List {
        #[arg(long, env = "STURMFEST_DATA_DIR", default_value = "sturmfest-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STURMFEST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => config::serve(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Verify(args) => verify::run(args).await,
            Command::VerifyDraw(args) => verify_draw::run(args),
            Command::Tenant(TenantCommand::Add { slug, name, data_dir }) => tenant_add(&slug, &name, &data_dir),
            Command::Tenant(TenantCommand::List { data_dir }) => tenant_list(&data_dir),
            Command::Tenant(TenantCommand::Terminal { slug, name, data_dir }) => terminal_add(&slug, &name, &data_dir),
            Command::Load(args) => load::run(args).await,
            Command::OperatorToken { data_dir } => operator_token(&data_dir),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn tenant_add(slug: &str, name: &str, data_dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let mut registry = sturmfest_server::tenants::Registry::load(data_dir).map_err(|e| e.to_string())?;
    let token = registry.add(slug, name).map_err(|e| e.to_string())?;
    registry.save(data_dir).map_err(|e| e.to_string())?;
    println!("tenant {slug} added; restart `sturmfest serve` to serve it");
    println!("API token (shown once, stored only hashed): {token}");
    Ok(())
}

fn terminal_add(slug: &str, name: &str, data_dir: &std::path::Path) -> Result<(), String> {
    let mut registry = sturmfest_server::tenants::Registry::load(data_dir).map_err(|e| e.to_string())?;
    let token = registry.add_terminal(slug, name).map_err(|e| e.to_string())?;
    registry.save(data_dir).map_err(|e| e.to_string())?;
    println!("terminal {name} added to {slug}; restart `sturmfest serve` to use it");
    println!("terminal token (shown once, stored only hashed; sells at the counter only): {token}");
    Ok(())
}

fn operator_token(data_dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let token = sturmfest_server::operator::rotate_token(data_dir).map_err(|e| e.to_string())?;
    println!("operator token made; restart `sturmfest serve` to use it (the old one stops working then)");
    println!("operator token (shown once, stored only hashed): {token}");
    println!("  report: curl -H 'Authorization: Bearer {token}' http://HOST/api/v1/operator/vouchers/report");
    println!("  page:   http://HOST/operator");
    Ok(())
}

fn tenant_list(data_dir: &std::path::Path) -> Result<(), String> {
    let registry = sturmfest_server::tenants::Registry::load(data_dir).map_err(|e| e.to_string())?;
    for t in &registry.tenants {
        println!("{}\t{}", t.slug, t.name);
    }
    Ok(())
}
