//! `sturmfest verify`: walks every tenant's hash chain, replays the whole log from
//! genesis into a fresh core asserting each command decides as logged, checks every
//! invariant, and compares the latest snapshot with the replayed state.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use sturmfest_core as core;
use sturmfest_log::recover::{Repair, recover, verify};
use sturmfest_log::sqlite::SqliteLog;
use sturmfest_log::{Backend, Record};
use sturmfest_server::codec;
use sturmfest_server::runtime::replay_one;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[arg(long, env = "STURMFEST_DATA_DIR", default_value = "sturmfest-data")]
    pub data_dir: PathBuf,
}

pub async fn run(args: VerifyArgs) -> Result<(), String> {
    let path = args.data_dir.join(sturmfest_server::node::log_file_name);
    if !path.exists() {
        return Err(format!("no log at {}", path.display()));
    }
    let log = SqliteLog::open(&path).await.map_err(|e| e.to_string())?;
    let tenants = log.tenants().await.map_err(|e| e.to_string())?;
    let mut failures = 0;
    for tenant in tenants {
        match verify_tenant(&log, &tenant).await {
            Ok(summary) => println!("{tenant}: ok — {summary}"),
            Err(why) => {
                failures += 1;
                println!("{tenant}: FAILED — {why}");
            }
        }
    }
    if failures > 0 {
        return Err(format!("{failures} tenant(s) failed verification"));
    }
    Ok(())
}

async fn verify_tenant(log: &SqliteLog, tenant: &sturmfest_log::TenantId) -> Result<String, String> {
    let chain = verify(log, tenant).await.map_err(|e| e.to_string())?;
    if let Some(problem) = &chain.problem {
        return Err(format!("hash chain broken at seq {}: {}", problem.at_seq, problem.reason));
    }
    if chain.snapshot_matches == Some(false) {
        return Err("the latest snapshot's hash does not match the chain".into());
    }
    let snapshot = log.latest_snapshot(tenant).await.map_err(|e| e.to_string())?;
    let bar = ProgressBar::new(chain.records).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} records ({per_sec})").expect("template"),
    );
    bar.set_message(format!("replaying {tenant}"));
    let mut state = core::Tenant::new();
    let mut error = None;
    let mut at_snapshot = None;
    let snapshot_seq = snapshot.as_ref().map(|s| s.seq);
    recover(log, tenant, None, Repair::ReportOnly, |record: &Record| {
        if error.is_some() {
            return;
        }
        if let Err(why) = replay_one(&mut state, record) {
            error = Some(why);
        }
        if Some(record.seq) == snapshot_seq {
            at_snapshot = Some(state.parts());
        }
        if record.seq % 4096 == 0 {
            bar.set_position(record.seq);
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    if let Some(why) = error {
        return Err(why);
    }
    state.check_invariants_result().map_err(|why| format!("invariant broken after replay: {why}"))?;
    let mut snapshot_note = "no snapshot".to_string();
    if let Some(snapshot) = snapshot {
        let parts = codec::decode_snapshot(&snapshot.bytes).map_err(|e| format!("snapshot does not decode: {e}"))?;
        if at_snapshot.as_ref() != Some(&parts) {
            return Err(format!("the snapshot at seq {} differs from the replayed state", snapshot.seq));
        }
        snapshot_note = format!("snapshot at seq {} equals replay", snapshot.seq);
    }
    let (events, orders) = (state.events().len(), state.orders().len());
    let sold: u32 = state.events().iter().map(|e| e.sold()).sum();
    Ok(format!(
        "{} records in {} batches, chain intact, every command replayed to its logged outcome, invariants hold; \
         {events} events, {orders} orders, {sold} tickets valid; {snapshot_note}",
        chain.records, chain.batches
    ))
}
