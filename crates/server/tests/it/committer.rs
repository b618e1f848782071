//! The committer on a real SQLite file at the edges of the record format: commands
//! as large as one record may be, more of them in one batch than one batch row holds.

use std::sync::Arc;

use sturmfest_core as core;
use sturmfest_log::sqlite::SqliteLog;
use sturmfest_log::{TenantId, batch_bytes_max, record_payload_bytes_max};
use sturmfest_server::codec;
use sturmfest_server::runtime::Committer;

/// A venue command whose name makes its entry `bytes` long, give or take a few.
fn bulky_venue(bytes: usize) -> core::Command {
    core::Command::CreateVenue(core::VenueSpec {
        name: "x".repeat(bytes),
        blocks: Vec::new(),
        standing: vec![core::StandingSpec { name: "Kurve".into(), capacity: 10 }],
    })
}

#[tokio::test]
async fn a_batch_larger_than_one_row_is_appended_in_parts_and_replays_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.sqlite");
    let tenant = TenantId::new("club").expect("slug");
    let (mut committer, _) =
        Committer::recover(Arc::new(SqliteLog::open(&path).await.expect("open")), tenant.clone()).await.expect("start");

    let command = bulky_venue(record_payload_bytes_max - 200);
    let entry_bytes = codec::entry_bytes_bound(None, &command);
    assert!(entry_bytes <= record_payload_bytes_max, "{entry_bytes}");
    let count = batch_bytes_max / entry_bytes + 2;
    // The names are over the core's limit, so each is rejected — and still logged,
    // as every decided command is.
    let mut batch: Vec<core::Envelope> = (0..count)
        .map(|i| core::Envelope { time: core::TimeMs(1_000 + i as i64), idempotency: None, command: command.clone() })
        .collect();
    batch.push(core::Envelope {
        time: core::TimeMs(5_000),
        idempotency: None,
        command: core::Command::CreateVenue(core::VenueSpec {
            name: "Halle".into(),
            blocks: Vec::new(),
            standing: vec![core::StandingSpec { name: "Kurve".into(), capacity: 10 }],
        }),
    });
    let outcomes = committer.commit(batch).await.expect("commit");
    assert_eq!(outcomes.len(), count + 1);
    assert!(outcomes[..count].iter().all(|o| o.is_err()), "{:?}", outcomes.first());
    assert!(matches!(outcomes[count], Ok(core::Reply::VenueCreated { .. })), "{:?}", outcomes[count]);
    drop(committer);

    let (again, report) =
        Committer::recover(Arc::new(SqliteLog::open(&path).await.expect("reopen")), tenant).await.expect("recover");
    assert_eq!(report.last_seq, count as u64 + 1);
    assert_eq!(report.records_replayed, count as u64 + 1);
    assert!(report.torn.is_none());
    assert_eq!(again.tenant.venues().len(), 1);
}
