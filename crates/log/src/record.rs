//! Records, the per-tenant hash chain, and the batch byte format.
//!
//! Everything here is pure: no I/O, no clock. The batch decoder treats its input as
//! hostile bytes (a torn write, bit rot, a tampered row) and answers every defect
//! with a typed [`Corruption`], never a panic. Encoding, in contrast, asserts: a
//! caller handing us an over-long payload is a programmer error.

use std::fmt;

use sha2::{Digest, Sha256};

/// Longest tenant slug; keeps keys small and the hash input bounded.
pub const tenant_id_bytes_max: usize = 32;
/// Largest opaque payload of one record (one encoded command). A stadium's seat map
/// is one command, so this is generous; callers check before they seal.
pub const record_payload_bytes_max: usize = 4 * 1024 * 1024;
/// Most records in one batch (one group commit).
pub const batch_records_max: usize = 8192;
/// Largest encoded batch blob. One batch is one database row, so this bounds a row.
pub const batch_bytes_max: usize = 16 * 1024 * 1024;
/// The only batch format version this code writes and reads.
pub const batch_format_version: u8 = 1;
/// Bytes of a record frame that are not payload: len, crc, epoch, seq, hash.
pub const record_frame_overhead_bytes: usize = 4 + 4 + 8 + 8 + 32;
/// Bytes covered by a record's `len` field besides the payload: epoch, seq, hash.
const record_body_overhead_bytes: usize = 8 + 8 + 32;

// One maximal record must always fit into a batch, or a legal command could never be
// logged.
const _: () =
    assert!(1 + record_frame_overhead_bytes + record_payload_bytes_max <= batch_bytes_max);
// The len field is a u32.
const _: () = assert!(record_body_overhead_bytes + record_payload_bytes_max <= u32::MAX as usize);

/// The hash that precedes the first record of every tenant.
pub const genesis_hash: [u8; 32] = [0; 32];

/// A validated tenant slug: `[a-z0-9][a-z0-9-]{0,31}`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(String);

/// Why a string is not a tenant slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant id {0:?}: expected [a-z0-9][a-z0-9-]{{0,31}}")]
pub struct InvalidTenantId(pub String);

impl TenantId {
    /// Parses a slug; this is the only way to get a `TenantId`.
    pub fn new(slug: &str) -> Result<TenantId, InvalidTenantId> {
        let bytes = slug.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= tenant_id_bytes_max
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid {
            Ok(TenantId(slug.to_owned()))
        } else {
            Err(InvalidTenantId(slug.to_owned()))
        }
    }

    /// The slug as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidTenantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::new(s)
    }
}

/// One logged command: opaque payload plus its place in the tenant's chain.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// Writer epoch (lease generation) that sealed this record.
    pub epoch: u64,
    /// Position in the tenant's log; the first record is 1.
    pub seq: u64,
    /// Opaque bytes; the log never interprets them.
    pub payload: Vec<u8>,
    /// `record_hash(prev_hash, tenant, epoch, seq, payload)`.
    pub hash: [u8; 32],
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("epoch", &self.epoch)
            .field("seq", &self.seq)
            .field("payload_bytes", &self.payload.len())
            .field("hash", &hex::encode(&self.hash[..8]))
            .finish()
    }
}

/// A defect found in stored bytes or in a chain. Always a value, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("batch is empty")]
    Empty,
    #[error("batch is {bytes} bytes, more than the limit")]
    TooLarge { bytes: usize },
    #[error("unknown batch format version {found}")]
    UnknownVersion { found: u8 },
    #[error("batch truncated at byte {offset}")]
    Truncated { offset: usize },
    #[error("record length {len} at byte {offset} is out of range")]
    BadLength { offset: usize, len: u32 },
    #[error("crc mismatch in record at byte {offset}")]
    CrcMismatch { offset: usize },
    #[error("batch holds more than the maximum number of records")]
    TooManyRecords,
    #[error("expected seq {expected}, found {found}")]
    SeqGap { expected: u64, found: u64 },
    #[error("record {seq} has epoch {found}, the batch has epoch {expected}")]
    MixedEpochs { seq: u64, expected: u64, found: u64 },
    #[error("record {seq} has epoch {found}, older than the previous epoch {previous}")]
    EpochRegressed { seq: u64, previous: u64, found: u64 },
    #[error("hash mismatch at seq {seq}")]
    HashMismatch { seq: u64 },
    #[error(
        "batch row says seqs {row_first}..={row_last} epoch {row_epoch}, its content says {first}..={last} epoch {epoch}"
    )]
    RowMismatch {
        row_first: u64,
        row_last: u64,
        row_epoch: u64,
        first: u64,
        last: u64,
        epoch: u64,
    },
    #[error("snapshot at seq {seq} fails its crc")]
    SnapshotCrc { seq: u64 },
}

/// The chain hash of one record. The tenant is length-prefixed so that the hash input
/// is unambiguous; epoch and seq are little-endian.
pub fn record_hash(
    prev_hash: &[u8; 32],
    tenant: &TenantId,
    epoch: u64,
    seq: u64,
    payload: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hash);
    let tenant = tenant.as_str().as_bytes();
    // The slug is at most 32 bytes, so one length byte suffices.
    h.update([tenant.len() as u8]);
    h.update(tenant);
    h.update(epoch.to_le_bytes());
    h.update(seq.to_le_bytes());
    h.update(payload);
    let out = h.finalize();
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&out);
    hash
}

/// The position of a tenant's log: who seals next, at which seq, after which hash.
///
/// A writer holds one to seal new records; recovery holds one to verify old ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub tenant: TenantId,
    /// Epoch used to seal; when verifying, the epoch of the last verified record.
    pub epoch: u64,
    pub next_seq: u64,
    pub last_hash: [u8; 32],
}

impl Chain {
    /// The chain of a tenant with no records.
    pub fn genesis(tenant: TenantId, epoch: u64) -> Chain {
        Chain {
            tenant,
            epoch,
            next_seq: 1,
            last_hash: genesis_hash,
        }
    }

    /// A chain continuing after `last_seq` whose hash is `last_hash`.
    pub fn resume(tenant: TenantId, epoch: u64, last_seq: u64, last_hash: [u8; 32]) -> Chain {
        Chain {
            tenant,
            epoch,
            next_seq: last_seq + 1,
            last_hash,
        }
    }

    /// Seq of the last record in the chain, 0 if none.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Seals `payload` as the next record and advances the chain.
    pub fn seal(&mut self, payload: Vec<u8>) -> Record {
        assert!(
            payload.len() <= record_payload_bytes_max,
            "payload of {} bytes exceeds the limit",
            payload.len()
        );
        let seq = self.next_seq;
        let hash = record_hash(&self.last_hash, &self.tenant, self.epoch, seq, &payload);
        self.next_seq += 1;
        self.last_hash = hash;
        Record {
            epoch: self.epoch,
            seq,
            payload,
            hash,
        }
    }

    /// Checks that `record` is the valid next link: right seq, epoch not going
    /// backwards, hash matching.
    pub fn verify_next(&self, record: &Record) -> Result<(), Corruption> {
        if record.seq != self.next_seq {
            return Err(Corruption::SeqGap {
                expected: self.next_seq,
                found: record.seq,
            });
        }
        if record.epoch < self.epoch {
            return Err(Corruption::EpochRegressed {
                seq: record.seq,
                previous: self.epoch,
                found: record.epoch,
            });
        }
        let expected = record_hash(
            &self.last_hash,
            &self.tenant,
            record.epoch,
            record.seq,
            &record.payload,
        );
        if expected != record.hash {
            return Err(Corruption::HashMismatch { seq: record.seq });
        }
        Ok(())
    }

    /// Verifies `record` and moves the chain past it.
    pub fn advance(&mut self, record: &Record) -> Result<(), Corruption> {
        self.verify_next(record)?;
        self.epoch = record.epoch;
        self.next_seq = record.seq + 1;
        self.last_hash = record.hash;
        Ok(())
    }

    /// Verifies a whole batch against this chain without moving it.
    pub fn verify_batch(&self, records: &[Record]) -> Result<(), Corruption> {
        let mut chain = self.clone();
        for record in records {
            chain.advance(record)?;
        }
        Ok(())
    }
}

/// Checks the shape a batch must have to be written, independent of what precedes
/// it: non-empty, within limits, one epoch, consecutive seqs, hashes linked to each
/// other. The link of the first record to the stored head is checked by the backend.
pub fn check_batch_shape(batch: &[Record], epoch: u64) -> Result<(), Corruption> {
    let Some(first) = batch.first() else {
        return Err(Corruption::Empty);
    };
    if batch.len() > batch_records_max {
        return Err(Corruption::TooManyRecords);
    }
    let mut bytes = 1usize;
    for (i, record) in batch.iter().enumerate() {
        if record.epoch != epoch {
            return Err(Corruption::MixedEpochs {
                seq: record.seq,
                expected: epoch,
                found: record.epoch,
            });
        }
        let expected_seq = first.seq + i as u64;
        if record.seq != expected_seq {
            return Err(Corruption::SeqGap {
                expected: expected_seq,
                found: record.seq,
            });
        }
        if record.payload.len() > record_payload_bytes_max {
            return Err(Corruption::BadLength {
                offset: bytes,
                len: u32::try_from(record.payload.len()).unwrap_or(u32::MAX),
            });
        }
        bytes += record_frame_overhead_bytes + record.payload.len();
    }
    if bytes > batch_bytes_max {
        return Err(Corruption::TooLarge { bytes });
    }
    if first.seq == 0 {
        return Err(Corruption::SeqGap {
            expected: 1,
            found: 0,
        });
    }
    Ok(())
}

/// Checks that each record's hash links to the previous record of the batch. The first
/// record's link needs the preceding hash, which the batch does not hold.
pub fn check_batch_links(tenant: &TenantId, batch: &[Record]) -> Result<(), Corruption> {
    for pair in batch.windows(2) {
        let (prev, record) = (&pair[0], &pair[1]);
        if record_hash(
            &prev.hash,
            tenant,
            record.epoch,
            record.seq,
            &record.payload,
        ) != record.hash
        {
            return Err(Corruption::HashMismatch { seq: record.seq });
        }
    }
    Ok(())
}

/// Encodes a batch into one blob. The batch must pass [`check_batch_shape`].
pub fn encode_batch(batch: &[Record]) -> Vec<u8> {
    let bytes: usize = 1 + batch
        .iter()
        .map(|r| record_frame_overhead_bytes + r.payload.len())
        .sum::<usize>();
    assert!(
        bytes <= batch_bytes_max,
        "batch of {bytes} bytes exceeds the limit"
    );
    let mut out = Vec::with_capacity(bytes);
    out.push(batch_format_version);
    for record in batch {
        assert!(record.payload.len() <= record_payload_bytes_max);
        let len = (record_body_overhead_bytes + record.payload.len()) as u32;
        out.extend_from_slice(&len.to_le_bytes());
        let crc_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let body_at = out.len();
        out.extend_from_slice(&record.epoch.to_le_bytes());
        out.extend_from_slice(&record.seq.to_le_bytes());
        out.extend_from_slice(&record.payload);
        out.extend_from_slice(&record.hash);
        let crc = crc32fast::hash(&out[body_at..]);
        out[crc_at..body_at].copy_from_slice(&crc.to_le_bytes());
    }
    debug_assert_eq!(out.len(), bytes);
    out
}

fn read_u32(blob: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(blob[at..at + 4].try_into().expect("slice of 4"))
}

fn read_u64(blob: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(blob[at..at + 8].try_into().expect("slice of 8"))
}

/// Decodes a blob into records, checking version, framing, every CRC, limits, a single
/// epoch and consecutive seqs. Chain links are checked separately with a [`Chain`],
/// because a batch alone does not know the hash that precedes it.
pub fn decode_batch(blob: &[u8]) -> Result<Vec<Record>, Corruption> {
    if blob.len() > batch_bytes_max {
        return Err(Corruption::TooLarge { bytes: blob.len() });
    }
    let Some(&version) = blob.first() else {
        return Err(Corruption::Empty);
    };
    if version != batch_format_version {
        return Err(Corruption::UnknownVersion { found: version });
    }
    let mut records: Vec<Record> = Vec::new();
    let mut at = 1;
    while at < blob.len() {
        if records.len() == batch_records_max {
            return Err(Corruption::TooManyRecords);
        }
        if blob.len() - at < 8 {
            return Err(Corruption::Truncated { offset: at });
        }
        let len = read_u32(blob, at);
        let body_len = len as usize;
        if !(record_body_overhead_bytes..=record_body_overhead_bytes + record_payload_bytes_max)
            .contains(&body_len)
        {
            return Err(Corruption::BadLength { offset: at, len });
        }
        let crc = read_u32(blob, at + 4);
        let body_at = at + 8;
        if blob.len() - body_at < body_len {
            return Err(Corruption::Truncated { offset: at });
        }
        let body = &blob[body_at..body_at + body_len];
        if crc32fast::hash(body) != crc {
            return Err(Corruption::CrcMismatch { offset: at });
        }
        let epoch = read_u64(body, 0);
        let seq = read_u64(body, 8);
        let payload_len = body_len - record_body_overhead_bytes;
        let payload = body[16..16 + payload_len].to_vec();
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&body[16 + payload_len..]);
        if let Some(prev) = records.last() {
            if seq != prev.seq.wrapping_add(1) {
                return Err(Corruption::SeqGap {
                    expected: prev.seq.wrapping_add(1),
                    found: seq,
                });
            }
            if epoch != prev.epoch {
                return Err(Corruption::MixedEpochs {
                    seq,
                    expected: prev.epoch,
                    found: epoch,
                });
            }
        } else if seq == 0 {
            return Err(Corruption::SeqGap {
                expected: 1,
                found: 0,
            });
        }
        records.push(Record {
            epoch,
            seq,
            payload,
            hash,
        });
        at = body_at + body_len;
    }
    if records.is_empty() {
        return Err(Corruption::Empty);
    }
    Ok(records)
}

/// Decodes a blob and verifies it continues `chain`, advancing the chain only if the
/// whole batch is valid (a batch is atomic: all of it counts or none).
pub fn decode_chained(blob: &[u8], chain: &mut Chain) -> Result<Vec<Record>, Corruption> {
    let records = decode_batch(blob)?;
    let mut next = chain.clone();
    for record in &records {
        next.advance(record)?;
    }
    *chain = next;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tenant() -> TenantId {
        TenantId::new("hc-nord").unwrap()
    }

    fn sealed(payloads: &[Vec<u8>]) -> (Chain, Vec<Record>) {
        let mut chain = Chain::genesis(tenant(), 1);
        let records = payloads.iter().map(|p| chain.seal(p.clone())).collect();
        (chain, records)
    }

    #[test]
    fn tenant_ids_accept_slugs_and_reject_everything_else() {
        for ok in ["a", "0", "hc-nord", "a-", &"a".repeat(32)] {
            assert!(TenantId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "ä", "a b", &"a".repeat(33)] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sealed_chain_verifies_and_a_changed_payload_does_not() {
        let (_, records) = sealed(&[b"one".to_vec(), b"two".to_vec()]);
        let genesis = Chain::genesis(tenant(), 0);
        genesis.verify_batch(&records).unwrap();
        let mut tampered = records.clone();
        tampered[1].payload = b"tw0".to_vec();
        assert_eq!(
            genesis.verify_batch(&tampered),
            Err(Corruption::HashMismatch { seq: 2 })
        );
    }

    #[test]
    fn the_same_records_under_another_tenant_do_not_verify() {
        let (_, records) = sealed(&[b"one".to_vec()]);
        let other = Chain::genesis(TenantId::new("hc-sued").unwrap(), 0);
        assert_eq!(
            other.verify_batch(&records),
            Err(Corruption::HashMismatch { seq: 1 })
        );
    }

    #[test]
    fn an_epoch_going_backwards_breaks_the_chain() {
        let mut chain = Chain::genesis(tenant(), 5);
        let first = chain.seal(b"a".to_vec());
        chain.epoch = 4;
        let second = chain.seal(b"b".to_vec());
        let verifier = Chain::genesis(tenant(), 0);
        assert_eq!(
            verifier.verify_batch(&[first, second]),
            Err(Corruption::EpochRegressed {
                seq: 2,
                previous: 5,
                found: 4
            })
        );
    }

    #[test]
    fn batch_shape_rejects_gaps_overlaps_mixed_epochs_and_emptiness() {
        let (_, records) = sealed(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        check_batch_shape(&records, 1).unwrap();
        check_batch_links(&tenant(), &records).unwrap();
        assert_eq!(check_batch_shape(&[], 1), Err(Corruption::Empty));
        let gap = [records[0].clone(), records[2].clone()];
        assert_eq!(
            check_batch_shape(&gap, 1),
            Err(Corruption::SeqGap {
                expected: 2,
                found: 3
            })
        );
        let overlap = [records[1].clone(), records[1].clone()];
        assert_eq!(
            check_batch_shape(&overlap, 1),
            Err(Corruption::SeqGap {
                expected: 3,
                found: 2
            })
        );
        assert!(matches!(
            check_batch_shape(&records, 2),
            Err(Corruption::MixedEpochs { .. })
        ));
        let mut relinked = records.clone();
        relinked[2].payload = b"x".to_vec();
        assert_eq!(
            check_batch_links(&tenant(), &relinked),
            Err(Corruption::HashMismatch { seq: 3 })
        );
    }

    #[test]
    fn the_batch_format_is_the_documented_bytes() {
        let (_, records) = sealed(&[b"hi".to_vec()]);
        let blob = encode_batch(&records);
        assert_eq!(blob[0], 1);
        assert_eq!(read_u32(&blob, 1), 48 + 2);
        assert_eq!(read_u32(&blob, 5), crc32fast::hash(&blob[9..]));
        assert_eq!(read_u64(&blob, 9), 1, "epoch");
        assert_eq!(read_u64(&blob, 17), 1, "seq");
        assert_eq!(&blob[25..27], b"hi");
        assert_eq!(&blob[27..], &records[0].hash);
        assert_eq!(blob.len(), 1 + record_frame_overhead_bytes + 2);
    }

    #[test]
    fn decoding_reports_each_defect_as_a_typed_error() {
        let (_, records) = sealed(&[b"hello".to_vec(), b"world".to_vec()]);
        let blob = encode_batch(&records);
        assert_eq!(decode_batch(&[]), Err(Corruption::Empty));
        assert_eq!(decode_batch(&[1]), Err(Corruption::Empty));
        assert_eq!(
            decode_batch(&[2]),
            Err(Corruption::UnknownVersion { found: 2 })
        );
        assert_eq!(
            decode_batch(&blob[..blob.len() - 1]),
            Err(Corruption::Truncated {
                offset: 1 + 48 + 5 + 8
            })
        );
        assert_eq!(
            decode_batch(&blob[..4]),
            Err(Corruption::Truncated { offset: 1 })
        );
        let mut flipped = blob.clone();
        flipped[30] ^= 0x10;
        assert_eq!(
            decode_batch(&flipped),
            Err(Corruption::CrcMismatch { offset: 1 })
        );
        let mut long = blob.clone();
        long[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_batch(&long),
            Err(Corruption::BadLength {
                offset: 1,
                len: u32::MAX
            })
        );
    }

    #[test]
    fn decode_chained_moves_the_chain_only_for_a_fully_valid_batch() {
        let (_, records) = sealed(&[b"a".to_vec(), b"b".to_vec()]);
        let blob = encode_batch(&records);
        let mut chain = Chain::genesis(tenant(), 0);
        let mut wrong = Chain::resume(tenant(), 0, 7, genesis_hash);
        assert!(decode_chained(&blob, &mut wrong).is_err());
        assert_eq!(wrong.next_seq, 8);
        assert_eq!(decode_chained(&blob, &mut chain).unwrap(), records);
        assert_eq!((chain.last_seq(), chain.last_hash), (2, records[1].hash));
    }

    fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..20)
    }

    proptest! {
        #[test]
        fn any_sealed_batch_roundtrips_through_its_blob(payloads in payloads(), epoch in 1u64..1000) {
            let mut chain = Chain::genesis(tenant(), epoch);
            let records: Vec<Record> = payloads.into_iter().map(|p| chain.seal(p)).collect();
            let blob = encode_batch(&records);
            let mut verifier = Chain::genesis(tenant(), 0);
            prop_assert_eq!(decode_chained(&blob, &mut verifier).unwrap(), records);
            prop_assert_eq!(verifier, chain);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let mut chain = Chain::genesis(tenant(), 0);
            let _ = decode_chained(&bytes, &mut chain);
            let mut with_version = vec![1u8];
            with_version.extend_from_slice(&bytes);
            let _ = decode_chained(&with_version, &mut chain);
        }

        #[test]
        fn truncated_or_bit_flipped_blobs_are_rejected_without_panic(
            payloads in payloads(),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let (_, records) = sealed(&payloads);
            let blob = encode_batch(&records);
            // A cut at a record boundary leaves a well-formed shorter batch, so the blob
            // alone cannot tell; the row's key columns (first/last seq) catch it.
            let stored = |blob: Vec<u8>| crate::StoredBatch {
                first_seq: 1,
                last_seq: records.len() as u64,
                epoch: 1,
                blob,
            };
            let cut = cut.index(blob.len());
            prop_assert!(stored(blob[..cut].to_vec()).decode().is_err());
            let mut flipped = blob.clone();
            flipped[flip.index(blob.len())] ^= 1 << bit;
            prop_assert!(stored(flipped.clone()).decode().is_err());
            prop_assert!(decode_chained(&flipped, &mut Chain::genesis(tenant(), 0)).is_err());
        }
    }
}
