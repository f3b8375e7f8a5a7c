//! What earlier engine lives owed Redis: the `published` journal records of
//! lives that stopped (or died) before writing them. A new life reads them
//! back once Redis is reachable and writes them under their original ids
//! (`<their epoch_ms>-<seq>`) before any entry of its own, so each stream
//! stays in id order across lives.
//!
//! Which records: those of the same trading mode, of an earlier epoch,
//! in the day files of the last `redis.backlog_days` UTC days, whose id is
//! above the stream's last id in Redis (`XINFO STREAM … last-generated-id`;
//! what an earlier life did write is below it, so nothing is written twice
//! and nothing already there is sent again).
//!
//! Their order: one life's records are in the file in seq order, except
//! those it kept at shutdown (`at_shutdown`: its memory buffer), which come
//! last yet belong before its pending spill. Two passes keep memory bounded
//! by the shutdown records: the first collects those (at most
//! `max_finals`; beyond, counted lost), the second streams the file and
//! merges them in by `(epoch_ms, seq)`.

use super::event::StreamKind;
use super::replay::{Replayed, decode_published};
use crate::config::TradingMode;
use crate::core::clock::utc_day;
use crate::journal::frame::FrameReader;
use crate::journal::{day_path, list_days};
use std::collections::VecDeque;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::PathBuf;

/// `(epoch_ms, seq)` of a stream id.
pub type StreamId = (u64, u64);

/// Most journal frames looked at per call, so that the publisher thread
/// gets back to its heartbeats between calls (a few MB of journal).
const SCAN_BUDGET: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The stream tops are not known yet.
    Unprepared,
    /// Collecting shutdown records (the first pass), at this (day index,
    /// byte offset).
    Collecting(usize, u64),
    /// Streaming the day files (the second pass).
    Reading,
    /// Every file read; only collected shutdown records may be left.
    Done,
}

/// The backlog of earlier lives, read in batches by the publisher.
pub struct Backlog {
    dir: PathBuf,
    mode: TradingMode,
    epoch_ms: u64,
    /// Day files to read, ascending.
    days: Vec<i64>,
    max_finals: usize,
    /// Shutdown records that did not fit in `max_finals`.
    lost: u64,
    /// Last id of each stream in Redis when the backlog was prepared.
    tops: [StreamId; 5],
    /// Earlier lives' shutdown records still to write, by `(epoch, seq)`.
    finals: VecDeque<Replayed>,
    /// A streamed record waiting for the shutdown records that precede it.
    held: Option<Replayed>,
    /// Where the second pass resumes: index into `days`, byte offset.
    cursor: (usize, u64),
    state: State,
    undecodable: u64,
    /// Entries handed out so far.
    pub handed: u64,
}

impl Backlog {
    /// The backlog for the life `epoch_ms`, reading the last `days` UTC day
    /// files of `dir` (`days` ≥ 1). `max_finals`: most shutdown records held
    /// in memory at once.
    pub fn new(
        dir: impl Into<PathBuf>,
        mode: TradingMode,
        epoch_ms: u64,
        days: u32,
        max_finals: usize,
    ) -> Backlog {
        let dir = dir.into();
        let today = utc_day(epoch_ms as i64);
        let first = today - i64::from(days.max(1)) + 1;
        let days = match list_days(&dir) {
            Ok(d) => d.into_iter().filter(|d| *d >= first).collect(),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "redis backlog: journal directory unreadable; earlier lives' entries are not replayed");
                Vec::new()
            }
        };
        Backlog {
            dir,
            mode,
            epoch_ms,
            days,
            max_finals,
            lost: 0,
            tops: [(0, 0); 5],
            finals: VecDeque::new(),
            held: None,
            cursor: (0, 0),
            state: State::Unprepared,
            undecodable: 0,
            handed: 0,
        }
    }

    /// This life's epoch was raised (the clock was behind Redis): lives
    /// below the new one are the earlier ones.
    pub fn rebase(&mut self, epoch_ms: u64) {
        self.epoch_ms = epoch_ms;
    }

    /// Whether [`Backlog::set_tops`] is still to be called.
    pub fn needs_tops(&self) -> bool {
        self.state == State::Unprepared
    }

    /// Whether the first pass is over ([`Backlog::read`] may be called).
    pub fn prepared(&self) -> bool {
        matches!(self.state, State::Reading | State::Done)
    }

    /// Everything read and handed out.
    pub fn done(&self) -> bool {
        self.state == State::Done && self.finals.is_empty() && self.held.is_none()
    }

    /// Whether an earlier life's record is still owed to Redis.
    fn owed(&self, mode: TradingMode, epoch: u64, stream: StreamKind, seq: u64) -> bool {
        mode == self.mode && epoch < self.epoch_ms && (epoch, seq) > self.tops[stream.idx()]
    }

    /// Visits the owed `published` records of day `idx` from byte `start`,
    /// until `f` returns false or `budget` frames were looked at. Returns
    /// the byte offset past the last frame consumed and whether the end of
    /// the readable file was reached.
    fn scan(
        &mut self,
        idx: usize,
        start: u64,
        budget: &mut usize,
        mut f: impl FnMut(&mut Self, Replayed, bool) -> bool,
    ) -> anyhow::Result<(u64, bool)> {
        let path = day_path(&self.dir, self.days[idx]);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((start, true)),
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        file.seek(SeekFrom::Start(start))?;
        let mut frames = FrameReader::new(BufReader::with_capacity(1 << 16, file));
        loop {
            if *budget == 0 {
                return Ok((start + frames.valid_len(), false));
            }
            let Some(p) = frames.next() else {
                return Ok((start + frames.valid_len(), true));
            };
            *budget -= 1;
            let at = start + frames.valid_len();
            let rec = match decode_published(&p) {
                None => continue,
                Some(Err(e)) => {
                    self.undecodable += 1;
                    if self.undecodable == 1 {
                        tracing::warn!(file = %path.display(), error = %e, "redis backlog: undecodable journal record skipped (logged once)");
                    }
                    continue;
                }
                Some(Ok(r)) => r,
            };
            if !self.owed(
                rec.mode,
                rec.entry.epoch_ms,
                rec.entry.stream,
                rec.entry.seq,
            ) {
                continue;
            }
            if !f(self, rec.entry, rec.at_shutdown) {
                return Ok((at, false));
            }
        }
    }

    /// The last id of each stream in Redis: what is at or below it is
    /// never offered. Starts the first pass.
    pub fn set_tops(&mut self, tops: [StreamId; 5]) {
        self.tops = tops;
        self.state = State::Collecting(0, 0);
    }

    /// One step of the first pass (collecting the owed shutdown records):
    /// `Some(lost)` once it is over, `lost` being how many did not fit in
    /// `max_finals` (never to be written; the caller counts them lost).
    pub fn collect(&mut self) -> anyhow::Result<Option<u64>> {
        let State::Collecting(mut idx, mut start) = self.state else {
            return Ok(self.prepared().then_some(self.lost));
        };
        let mut budget = SCAN_BUDGET;
        while idx < self.days.len() {
            let (at, end) = self.scan(idx, start, &mut budget, |b, r, at_shutdown| {
                if at_shutdown {
                    if b.finals.len() < b.max_finals {
                        b.finals.push_back(r);
                    } else {
                        b.lost += 1;
                    }
                }
                true
            })?;
            if !end {
                self.state = State::Collecting(idx, at);
                return Ok(None);
            }
            (idx, start) = (idx + 1, 0);
        }
        self.finals
            .make_contiguous()
            .sort_by_key(|r| (r.epoch_ms, r.seq));
        self.state = State::Reading;
        Ok(Some(self.lost))
    }

    /// Shutdown records collected by the first pass and not yet handed out.
    pub fn finals_left(&self) -> usize {
        self.finals.len()
    }

    /// Up to `max` owed entries, in `(epoch_ms, seq)` order within each
    /// life and lives in order. May be empty before [`Backlog::done`] (the
    /// scan budget ran out first): call again.
    pub fn read(&mut self, max: usize) -> anyhow::Result<Vec<Replayed>> {
        let mut out = Vec::new();
        let mut budget = SCAN_BUDGET;
        while out.len() < max {
            if let Some(h) = self.held.take() {
                let key = (h.epoch_ms, h.seq);
                while out.len() < max
                    && self
                        .finals
                        .front()
                        .is_some_and(|f| (f.epoch_ms, f.seq) < key)
                {
                    out.extend(self.finals.pop_front());
                }
                if out.len() >= max {
                    self.held = Some(h);
                    break;
                }
                out.push(h);
                continue;
            }
            if self.state != State::Reading || self.cursor.0 >= self.days.len() {
                self.state = State::Done;
                let n = (max - out.len()).min(self.finals.len());
                out.extend(self.finals.drain(..n));
                break;
            }
            if budget == 0 {
                break;
            }
            let (idx, start) = self.cursor;
            let mut next = None;
            let (at, end) = self.scan(idx, start, &mut budget, |_, r, at_shutdown| {
                if at_shutdown {
                    // Collected by the first pass.
                    return true;
                }
                next = Some(r);
                false
            })?;
            self.cursor = if end { (idx + 1, 0) } else { (idx, at) };
            self.held = next;
        }
        self.handed += out.len() as u64;
        Ok(out)
    }
}

/// The last id Redis generated for each stream (`(0, 0)` for a stream that
/// does not exist), in [`StreamKind::ALL`] order of `keys`.
pub fn stream_tops(
    conn: &mut redis::Connection,
    keys: &[String; 5],
) -> redis::RedisResult<[StreamId; 5]> {
    let mut tops = [(0, 0); 5];
    for (top, key) in tops.iter_mut().zip(keys) {
        let v: redis::Value = match redis::cmd("XINFO").arg("STREAM").arg(key).query(conn) {
            Ok(v) => v,
            Err(e) if e.to_string().contains("no such key") => continue,
            Err(e) => return Err(e),
        };
        *top = last_generated_id(&v).ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "XINFO STREAM without a last-generated-id",
                key.clone(),
            ))
        })?;
    }
    Ok(tops)
}

/// `last-generated-id` of an `XINFO STREAM` reply (RESP2 flat array or
/// RESP3 map).
fn last_generated_id(v: &redis::Value) -> Option<StreamId> {
    use redis::Value;
    fn text(v: &Value) -> Option<&str> {
        match v {
            Value::BulkString(b) => std::str::from_utf8(b).ok(),
            Value::SimpleString(s) => Some(s),
            _ => None,
        }
    }
    let pairs: Vec<(&Value, &Value)> = match v {
        Value::Array(a) => a.chunks_exact(2).map(|c| (&c[0], &c[1])).collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        _ => return None,
    };
    let (_, id) = pairs
        .into_iter()
        .find(|(k, _)| text(k) == Some("last-generated-id"))?;
    parse_stream_id(text(id)?)
}

/// `"<ms>-<seq>"` to `(ms, seq)`.
pub fn parse_stream_id(s: &str) -> Option<StreamId> {
    let (a, b) = s.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Body, Record, frame};
    use crate::publish::event::stream_id;
    use std::io::Write;

    const DAY_MS: i64 = 86_400_000;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "qt-backlog-{name}-{}-{}",
            std::process::id(),
            crate::core::clock::unix_ms()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// One framed `published` record.
    fn rec(
        id: u64,
        mode: TradingMode,
        epoch: u64,
        seq: u64,
        stream: &str,
        at_shutdown: bool,
    ) -> Vec<u8> {
        let r = Record {
            id,
            ts_ms: epoch as i64,
            mode,
            body: Body::Published {
                epoch_ms: epoch,
                seq,
                stream: stream.into(),
                fields: vec![("event_id".into(), stream_id(epoch, seq))],
                at_shutdown,
            },
        };
        let mut b = Vec::new();
        frame::encode(&serde_json::to_vec(&r).unwrap(), &mut b);
        b
    }

    /// Runs the first pass to its end; returns the records lost to the bound.
    fn prepare(b: &mut Backlog, tops: [StreamId; 5]) -> u64 {
        assert!(b.needs_tops());
        b.set_tops(tops);
        for _ in 0..10_000 {
            if let Some(lost) = b.collect().unwrap() {
                assert!(b.prepared());
                return lost;
            }
            assert!(!b.prepared());
        }
        panic!("the first pass never ended");
    }

    fn read_all(b: &mut Backlog, max: usize) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        for _ in 0..100_000 {
            let got = b.read(max).unwrap();
            assert!(got.len() <= max);
            if got.is_empty() && b.done() {
                break;
            }
            v.extend(got.iter().map(|r| (r.epoch_ms, r.seq)));
        }
        assert!(b.done());
        v
    }

    #[test]
    fn shutdown_records_are_merged_back_into_seq_order_across_lives() {
        let d = dir("merge");
        let day = 20_400i64;
        let (e1, e2, now) = (
            (day * DAY_MS + 1_000) as u64,
            (day * DAY_MS + 9_000) as u64,
            (day * DAY_MS + 50_000) as u64,
        );
        let mut f = std::fs::File::create(day_path(&d, day)).unwrap();
        let mut id = 0;
        let mut put = |mode, epoch, seq, stream: &str, fin| {
            id += 1;
            f.write_all(&rec(id, mode, epoch, seq, stream, fin))
                .unwrap();
        };
        // Life 1: a spill written out (1..=3), then a spill pending at
        // shutdown (20..=22) while 10..=12 sat in memory.
        for s in 1..=3 {
            put(TradingMode::Paper, e1, s, "decision", false);
        }
        put(TradingMode::Paper, e1, 20, "decision", false);
        put(TradingMode::Paper, e1, 21, "verdict", false);
        put(TradingMode::Paper, e1, 22, "decision", false);
        put(TradingMode::Testnet, e1, 30, "decision", false);
        for s in 10..=12 {
            put(TradingMode::Paper, e1, s, "decision", true);
        }
        // Life 2 stopped with only its memory buffer unwritten.
        for s in 5..=6 {
            put(TradingMode::Paper, e2, s, "decision", true);
        }
        // This life's own spill: never part of the backlog.
        put(TradingMode::Paper, now, 1, "decision", false);
        drop(f);
        // Redis holds life 1's decisions up to seq 3, nothing else.
        let mut tops = [(0, 0); 5];
        tops[StreamKind::Decision.idx()] = (e1, 3);
        for max in [1, 2, 3, 64] {
            let mut b = Backlog::new(&d, TradingMode::Paper, now, 2, 100);
            assert!(!b.prepared());
            assert_eq!(prepare(&mut b, tops), 0);
            assert_eq!(b.finals_left(), 5);
            let got = read_all(&mut b, max);
            assert_eq!(
                got,
                vec![
                    (e1, 10),
                    (e1, 11),
                    (e1, 12),
                    (e1, 20),
                    (e1, 21), // the verdict: its own stream's top is lower
                    (e1, 22),
                    (e2, 5),
                    (e2, 6)
                ],
                "batch size {max}"
            );
            assert_eq!(b.handed, 8);
        }
    }

    #[test]
    fn shutdown_records_beyond_the_bound_are_counted_and_old_days_skipped() {
        let d = dir("bound");
        let day = 20_400i64;
        let (e1, now) = ((day * DAY_MS) as u64, (day * DAY_MS + 50_000) as u64);
        let mut f = std::fs::File::create(day_path(&d, day)).unwrap();
        for s in 1..=5u64 {
            f.write_all(&rec(s, TradingMode::Paper, e1, s, "intent", true))
                .unwrap();
        }
        // Three days old: outside a 2-day window.
        let old = ((day - 3) * DAY_MS) as u64;
        std::fs::File::create(day_path(&d, day - 3))
            .unwrap()
            .write_all(&rec(1, TradingMode::Paper, old, 1, "intent", false))
            .unwrap();
        let mut b = Backlog::new(&d, TradingMode::Paper, now, 2, 3);
        assert_eq!(prepare(&mut b, [(0, 0); 5]), 2, "two beyond the bound");
        assert_eq!(read_all(&mut b, 10), vec![(e1, 1), (e1, 2), (e1, 3)]);
        // A wider window reaches the old day, oldest first.
        let mut b = Backlog::new(&d, TradingMode::Paper, now, 4, 10);
        assert_eq!(prepare(&mut b, [(0, 0); 5]), 0);
        let got = read_all(&mut b, 10);
        assert_eq!(got[0], (old, 1));
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn a_long_journal_is_read_in_steps_without_losing_the_order() {
        let d = dir("steps");
        let day = 20_400i64;
        let (e1, now) = ((day * DAY_MS) as u64, (day * DAY_MS + 50_000) as u64);
        let n = SCAN_BUDGET as u64 * 2 + 500;
        let mut buf = Vec::new();
        // Life 1 spilled n entries: its decisions are all in Redis already
        // (at or below the top), its first and last verdicts are owed; then
        // one shutdown record.
        for s in 1..=n {
            let stream = if s == 1 || s == n {
                "verdict"
            } else {
                "decision"
            };
            buf.extend(rec(s, TradingMode::Paper, e1, s + 10, stream, false));
        }
        buf.extend(rec(n + 1, TradingMode::Paper, e1, 5, "verdict", true));
        std::fs::write(day_path(&d, day), &buf).unwrap();
        let mut tops = [(0, 0); 5];
        tops[StreamKind::Decision.idx()] = (e1, n + 10);
        let mut b = Backlog::new(&d, TradingMode::Paper, now, 1, 10);
        b.set_tops(tops);
        assert_eq!(b.collect().unwrap(), None, "the first pass takes steps");
        let lost = prepare_rest(&mut b);
        assert_eq!(lost, 0);
        let mut empty_not_done = 0;
        let mut got = Vec::new();
        while !b.done() {
            let v = b.read(4).unwrap();
            empty_not_done += usize::from(v.is_empty() && !b.done());
            got.extend(v.iter().map(|r| r.seq));
        }
        assert!(empty_not_done > 0, "the budget ends a read early");
        let mut want = vec![5];
        want.extend([11, n + 10]);
        assert_eq!(got, want);
    }

    fn prepare_rest(b: &mut Backlog) -> u64 {
        for _ in 0..100 {
            if let Some(lost) = b.collect().unwrap() {
                return lost;
            }
        }
        panic!("the first pass never ended");
    }

    #[test]
    fn last_generated_id_is_read_from_either_reply_shape() {
        use redis::Value;
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let flat = Value::Array(vec![
            b("length"),
            Value::Int(3),
            b("last-generated-id"),
            b("1700000000000-42"),
        ]);
        assert_eq!(last_generated_id(&flat), Some((1_700_000_000_000, 42)));
        let map = Value::Map(vec![(b("last-generated-id"), b("7-0"))]);
        assert_eq!(last_generated_id(&map), Some((7, 0)));
        assert_eq!(last_generated_id(&Value::Array(vec![b("length")])), None);
        assert_eq!(parse_stream_id("12"), None);
    }

    #[test]
    fn a_missing_directory_is_an_empty_backlog() {
        let d = std::env::temp_dir().join("qt-backlog-missing-dir-never-made");
        let mut b = Backlog::new(&d, TradingMode::Paper, 1, 2, 10);
        assert_eq!(prepare(&mut b, [(0, 0); 5]), 0);
        assert!(b.read(10).unwrap().is_empty());
        assert!(b.done());
    }
}
