//! The committer on a real SQLite file at the edges of the record format: commands
//! as large as one record may be, more of them in one batch than one batch row holds.
//! And the voucher ledger through the real store: committed, snapshotted, committed
//! further, then recovered from the snapshot plus the log tail to the same balances.

use std::sync::Arc;

use sturmfest_core as core;
use sturmfest_core::ledger::{AccountId, AccountKind, DeviceId, LedgerCommand, PendingState, ProgrammeId, TransferId};
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

fn voucher(time: i64, command: LedgerCommand) -> core::Envelope {
    core::Envelope { time: core::TimeMs(time), idempotency: None, command: core::Command::Ledger(command) }
}

#[tokio::test]
async fn a_voucher_ledger_survives_a_snapshot_and_a_log_tail_with_every_balance_equal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.sqlite");
    let tenant = TenantId::new("stadt-a").expect("slug");
    let (mut committer, _) =
        Committer::recover(Arc::new(SqliteLog::open(&path).await.expect("open")), tenant.clone()).await.expect("start");

    const T0: i64 = 1_700_000_000_000;
    let programme = ProgrammeId(1);
    let (clearing, shop, cash) = (AccountId(1), AccountId(2), AccountId(3));
    let card = |n: u128| AccountId(100 + n);
    let cents = core::Cents;
    let mut before: Vec<core::Envelope> = vec![
        voucher(T0, LedgerCommand::CreateAccount { id: clearing, programme, kind: AccountKind::ProviderClearing, ceiling: None }),
        voucher(T0, LedgerCommand::CreateAccount { id: shop, programme, kind: AccountKind::MerchantPayable, ceiling: None }),
        voucher(T0, LedgerCommand::CreateAccount { id: cash, programme, kind: AccountKind::SalesPointCash, ceiling: None }),
    ];
    for n in 0..20 {
        before.push(voucher(T0, LedgerCommand::CreateAccount { id: card(n), programme, kind: AccountKind::Card, ceiling: Some(cents(25_000)) }));
        // Online loads from the provider, counter loads against cash.
        let source = if n % 2 == 0 { clearing } else { cash };
        before.push(voucher(T0 + 1, LedgerCommand::Transfer { id: TransferId(n + 1), debit: source, credit: card(n), amount: cents(1_000 + 100 * n as i64) }));
    }
    before.push(voucher(T0 + 2, LedgerCommand::Reserve { id: TransferId(100), debit: card(0), credit: shop, amount: cents(800), timeout_ms: 60_000 }));
    before.push(voucher(T0 + 2, LedgerCommand::Reserve { id: TransferId(101), debit: card(1), credit: shop, amount: cents(500), timeout_ms: 5_000 }));
    let outcomes = committer.commit(before.clone()).await.expect("commit");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(core::Reply::Ledger(_)))), "{outcomes:?}");
    committer.snapshot().await.expect("snapshot");
    let snapshot_seq = committer.last_seq();

    // The tail after the snapshot: a post for less, partial redemptions, a
    // redemption a card does not cover (refused, and logged as decided), an offline
    // booking below zero, and a tick that expires the short reservation.
    let tail = vec![
        voucher(T0 + 3_000, LedgerCommand::Post { id: TransferId(200), pending: TransferId(100), amount: cents(650) }),
        voucher(T0 + 3_001, LedgerCommand::Transfer { id: TransferId(201), debit: card(2), credit: shop, amount: cents(999) }),
        voucher(T0 + 3_002, LedgerCommand::Transfer { id: TransferId(202), debit: card(3), credit: shop, amount: cents(99_999) }),
        voucher(T0 + 3_003, LedgerCommand::BookOfflineRisk { id: TransferId(203), card: card(4), merchant: shop, amount: cents(1_500), device: DeviceId(9), receipt: 1 }),
        core::Envelope { time: core::TimeMs(T0 + 10_000), idempotency: None, command: core::Command::Tick },
    ];
    let outcomes = committer.commit(tail.clone()).await.expect("commit");
    assert_eq!(outcomes[2].as_ref().map_err(|r| r.code()), Err("insufficient_balance"));
    assert_eq!(committer.tenant.ledger().pending_state(TransferId(101)), Some(PendingState::Expired { at: core::TimeMs(T0 + 2 + 5_000) }));
    assert!(committer.tenant.ledger().account(card(4)).unwrap().available().0 < 0, "below zero by recorded risk");
    let expected = committer.tenant.clone();
    drop(committer);

    let (again, report) =
        Committer::recover(Arc::new(SqliteLog::open(&path).await.expect("reopen")), tenant).await.expect("recover");
    assert_eq!(report.snapshot_seq, Some(snapshot_seq), "recovery started from the snapshot");
    assert_eq!(report.records_replayed, tail.len() as u64, "and replayed only the tail");
    assert!(report.torn.is_none());
    let (restored, original) = (again.tenant.ledger(), expected.ledger());
    assert_eq!(restored.accounts().count(), 23);
    for account in original.accounts() {
        let back = restored.account(account.id).expect("every account is back");
        assert_eq!((back.balance(), back.available(), back), (account.balance(), account.available(), account), "{:?}", account.id);
    }
    assert_eq!(restored.accounts().map(|a| a.balance().0).sum::<i64>(), 0, "the balances still sum to zero");
    assert_eq!(again.tenant, expected);
}
