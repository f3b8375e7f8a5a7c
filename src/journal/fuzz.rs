//! Mutation fuzzing of the journal reader (stable toolchain, bounded): valid
//! day files of random records are damaged by bit flips, overwritten runs,
//! insertions, deletions and truncations, then read back by the reader and
//! through the writer's open-for-append. Checked for every case: no panic;
//! every record whose frame no mutation touched is read back, in order
//! (before a truncation point); nothing is read that was not written; the
//! writer never cuts a byte before the last valid record. Cases:
//! `QT_FUZZ_CASES` (default 3000); the seed of a failing case is printed.

use super::frame::{self, FrameReader};
use super::reader::RecordIter;
use super::record::{Body, Record};
use crate::config::TradingMode;
use std::time::Instant;

pub(crate) use crate::core::testkit::{Rng, cases};

fn record(rng: &mut Rng, id: u64) -> Record {
    let note: String = (0..rng.below(40))
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect();
    let body = match rng.below(3) {
        0 => Body::OrderDone {
            client_order_id: rng.next() % 1_000_000,
            venue: "binance".into(),
            symbol: "BTCUSDT".into(),
            status: "filled".into(),
            note,
        },
        1 => Body::KillSwitch {
            on: rng.below(2) == 0,
            reason: note,
            by: "api".into(),
            client: "127.0.0.1".into(),
        },
        _ => Body::ClientIds {
            venue: "binance".into(),
            prefix: note.chars().take(8).collect(),
            epoch_ms: rng.next() % 4_000_000_000_000,
        },
    };
    Record {
        id,
        ts_ms: 1_795_000_000_000 + id as i64,
        mode: TradingMode::Paper,
        body,
    }
}

/// One mutation, at original offsets.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Overwrite { at: usize, bytes: Vec<u8> },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
}

impl Mutation {
    /// Original byte range it changes (an insertion: the empty range at `at`).
    fn range(&self, total: usize) -> (usize, usize) {
        match self {
            Mutation::Flip { at, .. } => (*at, at + 1),
            Mutation::Overwrite { at, bytes } => (*at, at + bytes.len()),
            Mutation::Insert { at, .. } => (*at, *at),
            Mutation::Delete { at, len } => (*at, at + len),
            Mutation::Truncate { at } => (*at, total),
        }
    }

    fn apply(&self, d: &mut Vec<u8>) {
        match self {
            Mutation::Flip { at, bit } => d[*at] ^= 1 << bit,
            Mutation::Overwrite { at, bytes } => d[*at..at + bytes.len()].copy_from_slice(bytes),
            Mutation::Insert { at, bytes } => {
                d.splice(*at..*at, bytes.iter().copied());
            }
            Mutation::Delete { at, len } => {
                d.drain(*at..at + len);
            }
            Mutation::Truncate { at } => d.truncate(*at),
        }
    }
}

fn garbage(rng: &mut Rng, n: usize) -> Vec<u8> {
    match rng.below(3) {
        0 => vec![0; n],
        1 => (0..n).map(|_| rng.next() as u8).collect(),
        _ => (0..n).map(|_| b"{\"id\":1}"[rng.below(8)]).collect(),
    }
}

fn mutation(rng: &mut Rng, total: usize) -> Mutation {
    let at = rng.below(total);
    let room = total - at;
    match rng.below(10) {
        0..=3 => Mutation::Flip {
            at,
            bit: rng.below(8) as u8,
        },
        4 | 5 => {
            let n = 1 + rng.below(room.min(16));
            Mutation::Overwrite {
                at,
                bytes: garbage(rng, n),
            }
        }
        6 | 7 => {
            let n = 1 + rng.below(64);
            Mutation::Insert {
                at: rng.below(total + 1),
                bytes: garbage(rng, n),
            }
        }
        8 => Mutation::Delete {
            at,
            len: 1 + rng.below(room.min(32)),
        },
        _ => Mutation::Truncate { at },
    }
}

/// One case: the records a correct reader must return, the damaged file.
fn case(seed: u64) -> (Vec<Record>, Vec<Record>, Vec<u8>, Vec<Mutation>) {
    let mut rng = Rng(seed);
    let n = 1 + rng.below(24);
    let recs: Vec<Record> = (1..=n as u64).map(|id| record(&mut rng, id)).collect();
    let mut bytes = Vec::new();
    let mut spans = Vec::new();
    for r in &recs {
        let start = bytes.len();
        frame::encode(&serde_json::to_vec(r).unwrap(), &mut bytes);
        spans.push((start, bytes.len()));
    }
    let total = bytes.len();
    // Non-overlapping mutations, applied from the end so that the offsets
    // of the earlier ones stay true.
    let mut muts: Vec<Mutation> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let m = mutation(&mut rng, total);
        let (a, b) = m.range(total);
        let clash = muts.iter().any(|o| {
            let (c, e) = o.range(total);
            a <= e && c <= b
        });
        if !clash {
            muts.push(m);
        }
    }
    muts.sort_by_key(|m| std::cmp::Reverse(m.range(total).0));
    let mut d = bytes;
    for m in &muts {
        m.apply(&mut d);
    }
    // A frame is untouched when no changed byte is in it and no insertion
    // falls strictly inside it; nothing past a truncation survives.
    let untouched: Vec<Record> = recs
        .iter()
        .zip(&spans)
        .filter(|(_, (s, e))| {
            muts.iter().all(|m| {
                let (a, b) = m.range(total);
                match m {
                    Mutation::Insert { .. } => !(a > *s && a < *e),
                    _ => b <= *s || a >= *e,
                }
            })
        })
        .map(|(r, _)| r.clone())
        .collect();
    (recs, untouched, d, muts)
}

/// `want` is a subsequence of `got`.
fn subsequence(want: &[Record], got: &[Record]) -> bool {
    let mut it = got.iter();
    want.iter().all(|w| it.any(|g| g == w))
}

#[test]
fn fuzz_journal_reader_loses_nothing_outside_the_damage() {
    let n = cases(3_000);
    let t0 = Instant::now();
    let dir = super::tests::tmp_dir("journal-fuzz");
    let path = dir.join("2026-11-23.journal");
    let (mut panics, mut damaged, mut cut) = (0u64, 0u64, 0u64);
    for k in 0..n as u64 {
        let seed = 0x5EED_0000 + k;
        let (recs, untouched, d, muts) = case(seed);
        let read = std::panic::catch_unwind(|| {
            let mut it = RecordIter::new(&d[..], "fuzz");
            let got: Vec<Record> = it.by_ref().collect();
            (got, it.corrupt(), it.valid_len())
        });
        let Ok((got, corrupt, valid)) = read else {
            panics += 1;
            eprintln!("seed {seed:#x}: the reader panicked ({muts:?})");
            continue;
        };
        damaged += corrupt;
        assert!(
            subsequence(&untouched, &got),
            "seed {seed:#x}: lost an untouched record ({muts:?})\nwant {:?}\ngot {:?}",
            untouched.iter().map(|r| r.id).collect::<Vec<_>>(),
            got.iter().map(|r| r.id).collect::<Vec<_>>()
        );
        assert!(
            got.iter().all(|g| recs.contains(g)),
            "seed {seed:#x}: read a record never written ({muts:?})"
        );
        // Every few cases, through the writer: nothing before the last
        // valid frame is cut, and the untouched records are still there.
        if k % 8 == 0 {
            std::fs::write(&path, &d).unwrap();
            let (_, check) = super::writer::open_for_append(&path).unwrap();
            let after = std::fs::read(&path).unwrap();
            assert!(
                after.len() as u64 >= valid,
                "seed {seed:#x}: cut into valid frames"
            );
            assert_eq!(&after[..], &d[..after.len()], "seed {seed:#x}");
            if check.cut_bytes > 0 {
                cut += 1;
            }
            let again: Vec<Record> = RecordIter::new(&after[..], "fuzz").collect();
            assert_eq!(
                again, got,
                "seed {seed:#x}: the writer changed what reads back"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "journal reader fuzz: {n} cases in {:.2} s, {panics} panics, {damaged} damaged regions skipped, {cut} torn tails cut",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(panics, 0);
}

#[test]
fn fuzz_frame_reader_on_random_bytes_never_panics() {
    let n = cases(3_000);
    let mut rng = Rng(0xF00D);
    for _ in 0..n {
        let len = rng.below(512);
        let d = garbage(&mut rng, len);
        let mut r = FrameReader::new(&d[..]);
        let frames: Vec<Vec<u8>> = r.by_ref().collect();
        assert!(r.valid_len() as usize <= d.len());
        assert!(frames.iter().all(|f| !f.is_empty()));
    }
}
