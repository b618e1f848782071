//! The fair draw: anyone can recompute it from the revealed seed and the published
//! ids, and any change — another seed, a moved place, a smuggled or doubled id —
//! is caught. The known-answer test was computed independently with Python's
//! `hashlib` from the algorithm in docs/DRAW.md, so this code and the document
//! agree with an implementation that shares nothing with them.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sturmfest_server::draw::{DrawDefect, DrawDocument, QueueId, Seed, draw_order};

fn ids(bytes: &[u8]) -> BTreeSet<QueueId> {
    bytes.iter().map(|b| QueueId([*b; 16])).collect()
}

fn seed_0_to_31() -> Seed {
    Seed(std::array::from_fn(|i| i as u8))
}

fn document(seed: &Seed, ids: &BTreeSet<QueueId>) -> DrawDocument {
    DrawDocument::revealed("club", 3, "2026-11-25T13:00:00Z", "2026-11-25T13:30:00Z", seed, ids)
}

#[test]
fn the_order_matches_an_independent_implementation_of_the_documented_algorithm() {
    // python3: seed = bytes(range(32)); sha256(seed); sorted(ids, key=sha256(seed + id))
    let seed = seed_0_to_31();
    assert_eq!(hex::encode(seed.commitment()), "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");
    let order: Vec<String> = draw_order(&seed, &ids(&[1, 2, 3, 4, 5])).iter().map(ToString::to_string).collect();
    let expected: Vec<String> = [5u8, 3, 4, 1, 2].iter().map(|b| hex::encode([*b; 16])).collect();
    assert_eq!(order, expected);
}

#[test]
fn the_same_seed_and_ids_give_the_same_order_and_another_seed_another() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let ids: BTreeSet<QueueId> = (0..2_000).map(|_| QueueId(rng.random())).collect();
    let seed = Seed(rng.random());
    let first = draw_order(&seed, &ids);
    assert_eq!(first.len(), ids.len());
    assert_eq!(first.iter().copied().collect::<BTreeSet<_>>(), ids, "the order is a permutation of the entries");
    assert_eq!(draw_order(&seed, &ids), first);
    let other = draw_order(&Seed(rng.random()), &ids);
    assert_ne!(other, first);
    // Not merely rotated or reversed: most places differ.
    let same_place = first.iter().zip(&other).filter(|(a, b)| a == b).count();
    assert!(same_place < 20, "{same_place} of 2000 places unchanged under another seed");
}

#[test]
fn a_published_draw_round_trips_through_json_and_checks() {
    let seed = seed_0_to_31();
    let doc = document(&seed, &ids(&[9, 1, 7]));
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let back: DrawDocument = serde_json::from_str(&text).unwrap();
    let checked = back.check().expect("an honest draw checks");
    assert!(checked.order_published);
    assert_eq!(checked.order, draw_order(&seed, &ids(&[1, 7, 9])));
}

#[test]
fn every_kind_of_tampering_is_named() {
    let seed = seed_0_to_31();
    let honest = document(&seed, &ids(&[1, 2, 3, 4, 5]));

    let mut other_seed = honest.clone();
    other_seed.seed = Some(Seed([9; 32]).to_hex());
    assert!(matches!(other_seed.check(), Err(DrawDefect::CommitmentMismatch { .. })));

    let mut swapped = honest.clone();
    swapped.order.as_mut().unwrap().swap(0, 1);
    assert!(matches!(swapped.check(), Err(DrawDefect::OrderMismatch { place: 1, .. })), "{:?}", swapped.check());

    let mut doubled = honest.clone();
    doubled.entries.insert(1, doubled.entries[0].clone());
    assert!(matches!(doubled.check(), Err(DrawDefect::EntriesNotAscending { index: 1, .. })));

    let mut smuggled = honest.clone();
    smuggled.order.as_mut().unwrap().push(hex::encode([6u8; 16]));
    assert!(matches!(smuggled.check(), Err(DrawDefect::OrderLength { published: 6, entries: 5 })));

    let mut dropped = honest.clone();
    dropped.entries.remove(2);
    assert!(matches!(dropped.check(), Err(DrawDefect::OrderLength { published: 5, entries: 4 })));

    let mut shouting = honest.clone();
    shouting.entries[0] = shouting.entries[0].to_uppercase();
    shouting.entries[0].replace_range(0..1, "A");
    assert!(matches!(shouting.check(), Err(DrawDefect::Malformed(_))));

    let mut unrevealed = honest.clone();
    unrevealed.seed = None;
    unrevealed.order = None;
    assert_eq!(unrevealed.check(), Err(DrawDefect::NotRevealed));

    let mut wrong_format = honest.clone();
    wrong_format.format = "sturmfest-draw-v0".into();
    assert!(matches!(wrong_format.check(), Err(DrawDefect::Format(_))));

    assert!(honest.check().is_ok(), "the untouched document still checks");
}

#[test]
fn an_empty_pre_queue_draws_an_empty_order() {
    let doc = document(&seed_0_to_31(), &BTreeSet::new());
    assert_eq!(doc.check().unwrap().order, Vec::<QueueId>::new());
}
