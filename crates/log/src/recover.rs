//! Recovery (replay the log tail, repair a torn tail) and full-chain verification.
//!
//! Both walk a tenant's batches in seq order, checking every CRC and every chain link,
//! and stop at the first batch that fails. A batch is atomic: none of a bad batch's
//! records are applied, even ones that decode fine, because it was one commit.

use crate::record::{Chain, genesis_hash};
use crate::{Backend, Head, Lease, LogError, Record, TenantId, read_page_batches_max};

/// What `recover` may do about a torn tail.
#[derive(Debug, Clone, Copy)]
pub enum Repair<'a> {
    /// Only report it (read-only inspection).
    ReportOnly,
    /// Move the bad batch and everything after it into quarantine and reset the head,
    /// fenced by this lease (what `serve` does after `acquire`).
    Quarantine(&'a Lease),
}

/// Where the valid log ends and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The first seq that was not recovered.
    pub at_seq: u64,
    pub reason: String,
    /// Batches moved into quarantine (0 when only reporting).
    pub batches_quarantined: u64,
}

/// The outcome of `recover`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub records_replayed: u64,
    /// Last valid seq (the snapshot's seq if nothing followed it).
    pub last_seq: u64,
    pub last_hash: [u8; 32],
    pub torn: Option<TornTail>,
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub batches: u64,
    pub records: u64,
    pub last_seq: u64,
    pub last_hash: [u8; 32],
    pub head: Option<Head>,
    /// The first problem found, if any; `None` means the whole chain and the head agree.
    pub problem: Option<TornTail>,
    /// Whether the latest snapshot's hash equals the chain hash at its seq
    /// (`None` when there is no snapshot).
    pub snapshot_matches: Option<bool>,
}

struct Walk {
    batches: u64,
    records: u64,
    chain: Chain,
    /// Why the first bad batch is bad.
    bad: Option<String>,
    /// Whether the record at the start point (snapshot seq) was seen and matched.
    start_confirmed: bool,
}

/// Walks batches from after `start` (seq, hash), applying records of valid batches.
async fn walk<B: Backend>(
    backend: &B,
    tenant: &TenantId,
    start: (u64, [u8; 32]),
    apply: &mut dyn FnMut(&Record),
) -> Result<Walk, LogError> {
    let (start_seq, start_hash) = start;
    let mut walk = Walk {
        batches: 0,
        records: 0,
        chain: Chain::resume(tenant.clone(), 0, start_seq, start_hash),
        bad: None,
        start_confirmed: start_seq == 0,
    };
    // Read from the batch holding the start record itself, so a snapshot's hash is
    // compared against the log and not merely trusted.
    let mut from_seq = start_seq.max(1);
    'pages: loop {
        let page = backend
            .read_batches(tenant, from_seq, read_page_batches_max)
            .await?;
        let Some(last) = page.last() else { break };
        from_seq = last.last_seq.saturating_add(1);
        for batch in &page {
            let checked = batch.decode().and_then(|records| {
                let mut chain = walk.chain.clone();
                let mut confirmed = walk.start_confirmed;
                for record in &records {
                    if record.seq < start_seq {
                        continue;
                    }
                    if record.seq == start_seq && start_seq > 0 {
                        if record.hash != start_hash {
                            return Err(crate::Corruption::HashMismatch { seq: record.seq });
                        }
                        confirmed = true;
                        continue;
                    }
                    chain.advance(record)?;
                }
                Ok((records, chain, confirmed))
            });
            match checked {
                Ok((records, chain, confirmed)) => {
                    for record in records.iter().filter(|r| r.seq > start_seq) {
                        apply(record);
                        walk.records += 1;
                    }
                    walk.chain = chain;
                    walk.start_confirmed = confirmed;
                    walk.batches += 1;
                }
                Err(corruption) => {
                    walk.bad = Some(format!("batch at seq {}: {corruption}", batch.first_seq));
                    break 'pages;
                }
            }
        }
        // A batch claiming to end at the last possible seq would make the next page
        // start where it began; it is corrupt anyway, and this keeps the loop finite.
        if from_seq == u64::MAX {
            break;
        }
    }
    Ok(walk)
}

/// Replays a tenant's log after `from_snapshot` (its seq and hash; `None` = from
/// genesis) into `apply`, verifying CRCs and the chain. At the first invalid batch,
/// or if the head disagrees with the valid log, it stops and reports a torn tail;
/// with [`Repair::Quarantine`] it also moves the bad batch and all later ones to
/// quarantine and resets the head to the last valid record.
///
/// Fails with `SnapshotMismatch` if the log does not reach or does not agree with
/// the snapshot: then the snapshot reflects records the log cannot vouch for, and
/// repairing would lose them silently.
pub async fn recover<B: Backend>(
    backend: &B,
    tenant: &TenantId,
    from_snapshot: Option<(u64, [u8; 32])>,
    repair: Repair<'_>,
    mut apply: impl FnMut(&Record),
) -> Result<RecoveryReport, LogError> {
    if let Repair::Quarantine(lease) = repair {
        assert_eq!(
            &lease.tenant, tenant,
            "recovery lease is for another tenant"
        );
    }
    let start = from_snapshot.unwrap_or((0, genesis_hash));
    let head = backend.head(tenant).await?;
    let walk = walk(backend, tenant, start, &mut apply).await?;
    if !walk.start_confirmed {
        let reason = match &walk.bad {
            Some(reason) => reason.clone(),
            None => format!("log ends at seq {}", walk.chain.last_seq()),
        };
        return Err(LogError::SnapshotMismatch {
            tenant: tenant.clone(),
            snapshot_seq: start.0,
            reason,
        });
    }
    let last_seq = walk.chain.last_seq();
    let last_hash = walk.chain.last_hash;
    let torn = match (walk.bad, &head) {
        (Some(reason), _) => Some(reason),
        (None, Some(h)) if h.last_seq != last_seq || h.last_hash != last_hash => Some(format!(
            "head says seq {} but the valid log ends at seq {last_seq}",
            h.last_seq
        )),
        (None, None) if last_seq > 0 => Some("batches exist but the tenant has no head".into()),
        _ => None,
    };
    let torn = match torn {
        None => None,
        Some(reason) => {
            let batches_quarantined = match repair {
                Repair::ReportOnly => 0,
                Repair::Quarantine(lease) => {
                    // Quarantine by position, not by the bad row's key: every row that
                    // starts after the last valid record goes, including a row whose
                    // key columns were damaged so that paging skipped it. Otherwise it
                    // would collide with the next append's primary key.
                    let moved = backend
                        .quarantine(lease, last_seq + 1, &reason, last_seq, last_hash)
                        .await?;
                    tracing::warn!(%tenant, at_seq = last_seq + 1, moved, %reason, "torn log tail quarantined");
                    moved
                }
            };
            Some(TornTail {
                at_seq: last_seq + 1,
                reason,
                batches_quarantined,
            })
        }
    };
    Ok(RecoveryReport {
        records_replayed: walk.records,
        last_seq,
        last_hash,
        torn,
    })
}

/// Walks a tenant's whole chain from genesis without repairing anything: every CRC,
/// every link, the head, and the latest snapshot's hash.
pub async fn verify<B: Backend>(backend: &B, tenant: &TenantId) -> Result<VerifyReport, LogError> {
    let head = backend.head(tenant).await?;
    let snapshot = match backend.latest_snapshot(tenant).await {
        Ok(snapshot) => snapshot.map(|s| (s.seq, s.hash)),
        Err(LogError::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    let mut hash_at_snapshot = None;
    let mut apply = |record: &Record| {
        if let Some((seq, _)) = snapshot
            && record.seq == seq
        {
            hash_at_snapshot = Some(record.hash);
        }
    };
    let walk = walk(backend, tenant, (0, genesis_hash), &mut apply).await?;
    let last_seq = walk.chain.last_seq();
    let problem = match (&walk.bad, &head) {
        (Some(reason), _) => Some(reason.clone()),
        (None, Some(h)) if h.last_seq != last_seq || h.last_hash != walk.chain.last_hash => {
            Some(format!(
                "head says seq {} but the valid log ends at seq {last_seq}",
                h.last_seq
            ))
        }
        (None, None) if last_seq > 0 => Some("batches exist but the tenant has no head".to_owned()),
        _ => None,
    };
    Ok(VerifyReport {
        batches: walk.batches,
        records: walk.records,
        last_seq,
        last_hash: walk.chain.last_hash,
        head,
        problem: problem.map(|reason| TornTail {
            at_seq: last_seq + 1,
            reason,
            batches_quarantined: 0,
        }),
        snapshot_matches: snapshot.map(|(_, hash)| hash_at_snapshot == Some(hash)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;
    use futures::executor::block_on;

    fn tenant() -> TenantId {
        TenantId::new("city-7").unwrap()
    }

    #[test]
    fn recovery_from_a_snapshot_in_the_middle_of_a_batch_replays_only_later_records() {
        block_on(async {
            let store = MemStore::new();
            let log = store.open();
            let lease = log.acquire(&tenant()).await.unwrap();
            let mut chain = lease.chain();
            let batch: Vec<Record> = (0..10u8).map(|i| chain.seal(vec![i])).collect();
            log.append(&lease, &batch).await.unwrap();
            let mut seen = Vec::new();
            let report = recover(
                &log,
                &tenant(),
                Some((4, batch[3].hash)),
                Repair::ReportOnly,
                |r| seen.push(r.seq),
            )
            .await
            .unwrap();
            assert_eq!(seen, (5..=10).collect::<Vec<_>>());
            assert_eq!(
                (report.records_replayed, report.last_seq, report.torn),
                (6, 10, None)
            );
        });
    }

    #[test]
    fn a_snapshot_whose_hash_is_not_in_the_log_is_refused() {
        block_on(async {
            let store = MemStore::new();
            let log = store.open();
            let lease = log.acquire(&tenant()).await.unwrap();
            let mut chain = lease.chain();
            let batch: Vec<Record> = (0..3u8).map(|i| chain.seal(vec![i])).collect();
            log.append(&lease, &batch).await.unwrap();
            let wrong = recover(
                &log,
                &tenant(),
                Some((2, [7; 32])),
                Repair::ReportOnly,
                |_| {},
            )
            .await;
            assert!(matches!(
                wrong,
                Err(LogError::SnapshotMismatch {
                    snapshot_seq: 2,
                    ..
                })
            ));
            let beyond = recover(
                &log,
                &tenant(),
                Some((9, [7; 32])),
                Repair::ReportOnly,
                |_| {},
            )
            .await;
            assert!(matches!(
                beyond,
                Err(LogError::SnapshotMismatch {
                    snapshot_seq: 9,
                    ..
                })
            ));
        });
    }
}
