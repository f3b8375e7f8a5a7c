//! Where the publisher keeps the events that did not fit in its memory
//! buffer during an outage, and re-reads them after reconnect, in the order
//! they were kept. [`JournalReplay`] (the engine's choice whenever the
//! journal is enabled) appends each such entry, already rendered, to the
//! journal as a `published` record carrying its engine life and seq, and
//! reads those records back from the day files; [`NoReplay`] (journal off)
//! keeps nothing, and the events are counted as dropped
//! (`qt_redis_dropped_total{reason="not_replayable"}`).
//!
//! Why the publisher journals the entry itself rather than mapping the
//! stages' journal records back: the journal's decision/verdict/order
//! records lack fields Redis carries (features, event time, the
//! executed flag, HOLD decisions unless `record_holds`), and one journal
//! order maps to two Redis entries (`trade.intent` and
//! `execution.result`). Journaling what is about to be lost costs nothing
//! while Redis is up (the hot path and the journal are untouched), and
//! replays byte-identical entries under the ids they would have had.

use super::event::{Fields, PubEvent, StreamKind};
use crate::config::TradingMode;
use crate::core::clock::utc_day;
use crate::journal::frame::FrameReader;
use crate::journal::{Body, Entry, Event, JournalStats, JournalTx, Record, day_path};
use std::collections::VecDeque;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// One entry read back: its life, seq, stream and fields as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// The engine life that made it (the ms part of its stream id).
    pub epoch_ms: u64,
    pub seq: u64,
    pub stream: StreamKind,
    pub fields: Vec<(String, String)>,
}

/// What one [`ReplaySource::read`] found.
#[derive(Debug, Default)]
pub struct ReplayBatch {
    /// The next kept entries, in the order they were kept.
    pub events: Vec<Replayed>,
    /// Kept entries that turned out to be lost (the journal failed to write
    /// them); never to be read. Counted by the publisher as `not_replayable`.
    pub lost: u64,
}

/// A store for events beyond the memory buffer.
pub trait ReplaySource: Send {
    /// Whether [`ReplaySource::keep`] can take anything (`false`: the
    /// publisher does not even render the event).
    fn keeps(&self) -> bool;

    /// Keeps one event with its rendered fields; `false` = it could not be
    /// kept (counted lost by the caller). Never blocks.
    fn keep(&mut self, ev: &PubEvent, fields: Fields) -> bool;

    /// Keeps one event still in the memory buffer when the engine stops,
    /// for a later engine life (see `publish::backlog`); `false` = not kept.
    fn keep_at_shutdown(&mut self, _ev: &PubEvent, _fields: Fields) -> bool {
        false
    }

    /// Up to `max` of the kept events not yet read, oldest first. Empty
    /// events and no loss: nothing readable yet (try again later); an error
    /// also means "try again later".
    fn read(&mut self, max: usize) -> anyhow::Result<ReplayBatch>;

    /// Kept and neither read back nor reported lost yet.
    fn unread(&self) -> u64;

    /// For logs and `/api/redis`.
    fn name(&self) -> &'static str;

    /// This life's epoch was raised (the clock was behind Redis); only
    /// called before anything was kept.
    fn rebase(&mut self, _epoch_ms: u64) {}
}

/// No replay source: spilled events cannot be recovered.
pub struct NoReplay;

impl ReplaySource for NoReplay {
    fn keeps(&self) -> bool {
        false
    }

    fn keep(&mut self, _ev: &PubEvent, _fields: Fields) -> bool {
        false
    }

    fn read(&mut self, _max: usize) -> anyhow::Result<ReplayBatch> {
        Ok(ReplayBatch::default())
    }

    fn unread(&self) -> u64 {
        0
    }

    fn name(&self) -> &'static str {
        "none"
    }
}

/// Kept records of one UTC day file, not yet read back.
#[derive(Debug, Clone, Copy)]
struct Run {
    day: i64,
    unread: u64,
}

/// The journal as the replay source. Records go through the journal's own
/// writer thread ([`JournalTx::send`], never blocking); their `ts_ms` is
/// made non-decreasing so that the kept records of one engine life fill the
/// day files in order, and reading resumes where it stopped (day, byte
/// offset) instead of rescanning.
pub struct JournalReplay {
    tx: JournalTx,
    stats: Arc<JournalStats>,
    dir: PathBuf,
    mode: TradingMode,
    epoch_ms: u64,
    last_ts_ms: i64,
    /// Kept records per day file, in order (one element per day change).
    runs: VecDeque<Run>,
    /// Where reading resumes: the day and the byte offset past the last
    /// record consumed in it.
    cursor: (i64, u64),
    /// `published` entries handed to the journal queue.
    sent: u64,
    /// Undecodable `published` records met while reading (logged once;
    /// what they held is counted lost at the end of their day file).
    undecodable: u64,
    /// The writer's `published_done` when this source was made: it must be
    /// the only one sending `published` entries to that writer from then on
    /// (the engine makes one per life).
    done_base: u64,
}

impl JournalReplay {
    /// `epoch_ms`: this engine life's (the publisher's `RedisStatus::epoch_ms`);
    /// records of other lives are never read back.
    pub fn new(
        tx: JournalTx,
        dir: impl Into<PathBuf>,
        mode: TradingMode,
        epoch_ms: u64,
    ) -> JournalReplay {
        let stats = tx.stats().clone();
        JournalReplay {
            done_base: stats.published_done.load(Ordering::Acquire),
            stats,
            tx,
            dir: dir.into(),
            mode,
            epoch_ms,
            last_ts_ms: i64::MIN,
            runs: VecDeque::new(),
            cursor: (i64::MIN, 0),
            sent: 0,
            undecodable: 0,
        }
    }

    /// Reads the front run's day file from the cursor: pushes this life's
    /// records into `out` (at most `max` in all). Returns whether the end of
    /// the readable part of the file was reached.
    fn read_run(&mut self, out: &mut Vec<Replayed>, max: usize) -> anyhow::Result<bool> {
        let Some(run) = self.runs.front_mut() else {
            return Ok(true);
        };
        if self.cursor.0 != run.day {
            self.cursor = (run.day, 0);
        }
        let start = self.cursor.1;
        let path = day_path(&self.dir, run.day);
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            // Not created yet by the writer.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        f.seek(SeekFrom::Start(start))?;
        // Frames, not records: a frame the writer is still appending reads
        // as a torn tail here, which only means "not yet" (no warning).
        let mut frames = FrameReader::new(f);
        while run.unread > 0 && out.len() < max {
            let Some(p) = frames.next() else {
                return Ok(true);
            };
            self.cursor.1 = start + frames.valid_len();
            let rec = match decode_published(&p) {
                None => continue,
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    self.undecodable += 1;
                    if self.undecodable == 1 {
                        tracing::warn!(file = %path.display(), error = %e, "redis replay: undecodable journal record skipped (logged once)");
                    }
                    continue;
                }
            };
            if rec.entry.epoch_ms != self.epoch_ms {
                continue;
            }
            run.unread -= 1;
            out.push(rec.entry);
        }
        Ok(false)
    }
}

/// A `published` journal record as read back.
pub(crate) struct PublishedRecord {
    pub mode: TradingMode,
    pub at_shutdown: bool,
    pub entry: Replayed,
}

/// Decodes one journal frame's payload: `None` when it is not a
/// `published` record, an error when it looks like one but does not decode
/// (or names an unknown stream).
pub(crate) fn decode_published(p: &[u8]) -> Option<Result<PublishedRecord, String>> {
    // Cheap filter before decoding: most records are not published ones.
    if !contains(p, b"\"published\"") {
        return None;
    }
    let rec = match serde_json::from_slice::<Record>(p) {
        Ok(r) => r,
        Err(e) => return Some(Err(e.to_string())),
    };
    let Body::Published {
        epoch_ms,
        seq,
        stream,
        fields,
        at_shutdown,
    } = rec.body
    else {
        return None;
    };
    let Some(stream) = StreamKind::parse(&stream) else {
        return Some(Err(format!("unknown stream {stream:?}")));
    };
    Some(Ok(PublishedRecord {
        mode: rec.mode,
        at_shutdown,
        entry: Replayed {
            epoch_ms,
            seq,
            stream,
            fields,
        },
    }))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl JournalReplay {
    /// Hands one entry to the journal writer; `at_shutdown` entries are for
    /// a later life and never read back by this one.
    fn append(&mut self, ev: &PubEvent, fields: Fields, at_shutdown: bool) -> bool {
        let ts_ms = ev.ts_ms.max(self.last_ts_ms);
        let entry = Entry {
            ts_ms,
            mode: self.mode,
            event: Event::Published(Box::new(crate::journal::Published {
                epoch_ms: self.epoch_ms,
                seq: ev.seq,
                stream: ev.body.stream().as_str(),
                fields,
                at_shutdown,
            })),
        };
        if !self.tx.send(entry) {
            return false;
        }
        self.last_ts_ms = ts_ms;
        self.sent += 1;
        if !at_shutdown {
            let day = utc_day(ts_ms);
            match self.runs.back_mut() {
                Some(r) if r.day == day => r.unread += 1,
                _ => self.runs.push_back(Run { day, unread: 1 }),
            }
        }
        true
    }
}

impl ReplaySource for JournalReplay {
    fn keeps(&self) -> bool {
        true
    }

    fn rebase(&mut self, epoch_ms: u64) {
        self.epoch_ms = epoch_ms;
    }

    fn keep(&mut self, ev: &PubEvent, fields: Fields) -> bool {
        self.append(ev, fields, false)
    }

    fn keep_at_shutdown(&mut self, ev: &PubEvent, fields: Fields) -> bool {
        self.append(ev, fields, true)
    }

    fn read(&mut self, max: usize) -> anyhow::Result<ReplayBatch> {
        let mut batch = ReplayBatch::default();
        // Read before comparing: what the writer had finished with before
        // the read is in the file (or lost) by now.
        let done = self
            .stats
            .published_done
            .load(Ordering::Acquire)
            .saturating_sub(self.done_base);
        while batch.events.len() < max && !self.runs.is_empty() {
            let at_end = self.read_run(&mut batch.events, max)?;
            let Some(run) = self.runs.front().copied() else {
                break;
            };
            if run.unread == 0 {
                self.runs.pop_front();
                continue;
            }
            if !at_end {
                break;
            }
            // The end of the day file with records of it still unread: if
            // the writer is done with everything sent, they were lost.
            if done >= self.sent {
                batch.lost += run.unread;
                self.runs.pop_front();
                continue;
            }
            break;
        }
        Ok(batch)
    }

    fn unread(&self) -> u64 {
        self.runs.iter().map(|r| r.unread).sum()
    }

    fn name(&self) -> &'static str {
        "journal"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, FsyncPolicy};
    use crate::journal::frame;
    use crate::publish::Body as PubBody;
    use crate::publish::event::stream_id;
    use crate::telemetry::metrics::Metrics;
    use std::io::Write;
    use std::time::{Duration, Instant};

    const DAY_MS: i64 = 86_400_000;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "qt-replay-{name}-{}-{}",
            std::process::id(),
            crate::core::clock::unix_ms()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn start(d: &std::path::Path, queue: usize) -> (JournalTx, crate::journal::JournalWriter) {
        let mut cfg = Config::demo().journal;
        cfg.dir = d.to_string_lossy().into_owned();
        cfg.fsync = FsyncPolicy::Batch;
        cfg.queue_capacity = queue;
        let table = Arc::new(crate::core::InstrumentTable::new());
        crate::journal::start(&cfg, table, &Metrics::new()).expect("journal starts")
    }

    fn ev(seq: u64, ts_ms: i64) -> PubEvent {
        PubEvent {
            seq,
            ts_ms,
            body: PubBody::OrderDone {
                client_order_id: seq,
                venue: crate::core::Venue::Binance,
                inst: 0,
                status: crate::core::OrderStatus::Filled,
            },
        }
    }

    fn fields_of(epoch: u64, seq: u64) -> Fields {
        vec![
            ("event_id", stream_id(epoch, seq)),
            ("type", "order_update".into()),
        ]
    }

    /// Reads until `n` events (or losses) came back or 5 s passed.
    fn read_all(src: &mut JournalReplay, n: usize) -> (Vec<Replayed>, u64) {
        let (mut got, mut lost) = (Vec::new(), 0);
        let t = Instant::now();
        while got.len() + (lost as usize) < n && t.elapsed() < Duration::from_secs(5) {
            let b = src.read(7).expect("read");
            assert!(b.events.len() <= 7);
            if b.events.is_empty() && b.lost == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            got.extend(b.events);
            lost += b.lost;
        }
        (got, lost)
    }

    #[test]
    fn kept_entries_come_back_in_order_across_a_day_boundary() {
        let d = dir("days");
        let (tx, w) = start(&d, 4096);
        let epoch = 1_700_000_000_000u64;
        // Another life's record in the same file must not come back.
        let mut other = JournalReplay::new(tx.clone(), &d, TradingMode::Paper, epoch - 5);
        let midnight = 20_000 * DAY_MS;
        assert!(other.keep(&ev(1, midnight - 10), fields_of(epoch - 5, 1)));
        let stats = tx.stats().clone();
        let t = Instant::now();
        while stats.published_done.load(Ordering::Acquire) < 1 {
            assert!(t.elapsed() < Duration::from_secs(5), "the writer wrote it");
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut src = JournalReplay::new(tx.clone(), &d, TradingMode::Paper, epoch);
        // 40 before midnight, 40 after; one out-of-order timestamp (another
        // stage's thread) stays in the later day's file.
        for seq in 1..=80u64 {
            let ts = midnight - 40 + seq as i64 - 1;
            let ts = if seq == 50 { midnight - 1_000 } else { ts };
            assert!(src.keep(&ev(seq, ts), fields_of(epoch, seq)));
        }
        assert_eq!(src.unread(), 80);
        let (got, lost) = read_all(&mut src, 80);
        assert_eq!(lost, 0);
        let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=80).collect::<Vec<_>>(), "in order, no gaps");
        assert!(got.iter().all(|r| r.stream == StreamKind::Execution));
        assert_eq!(got[9].fields[0], ("event_id".into(), stream_id(epoch, 10)));
        assert_eq!(src.unread(), 0);
        // Both day files were used.
        let days = crate::journal::list_days(&d).unwrap();
        assert_eq!(days, vec![utc_day(midnight) - 1, utc_day(midnight)]);
        // Nothing more, and no phantom loss.
        let b = src.read(10).unwrap();
        assert!(b.events.is_empty() && b.lost == 0);
        // Keeping more after a full read resumes from the cursor.
        for seq in 81..=90u64 {
            assert!(src.keep(&ev(seq, midnight + 5), fields_of(epoch, seq)));
        }
        let (got, lost) = read_all(&mut src, 10);
        assert_eq!(lost, 0);
        assert_eq!(
            got.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (81..=90).collect::<Vec<_>>()
        );
        // Recovery and the report ignore these records.
        drop((tx, src, other));
        w.join();
        let read = crate::journal::read_day(&d, utc_day(midnight)).unwrap();
        assert_eq!(read.records.len(), 50, "the records are in the file");
        let rep = crate::journal::report::DayReport::build(&read, TradingMode::Paper);
        assert_eq!(rep.records, 0, "not trading records");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_tail_is_not_yet_and_never_a_loss_while_the_writer_owes_it() {
        // No writer thread: frames are appended by hand, as a writer
        // mid-append would leave them.
        let d = dir("torn");
        std::fs::create_dir_all(&d).unwrap();
        let m = Metrics::new();
        let (qtx, _qrx) = crate::pipeline::channel::queue::<Entry>(
            "replay_test",
            64,
            crate::config::WaitKind::Park,
            &m,
        );
        let tx = JournalTx::for_test(qtx);
        let stats = tx.stats().clone();
        let epoch = 42u64;
        let mut src = JournalReplay::new(tx, &d, TradingMode::Paper, epoch);
        let ts = 19_000 * DAY_MS + 5;
        for seq in 1..=3 {
            assert!(src.keep(&ev(seq, ts), fields_of(epoch, seq)));
        }
        let rec = |seq: u64| {
            let r = Record {
                id: seq,
                ts_ms: ts,
                mode: TradingMode::Paper,
                body: Body::Published {
                    epoch_ms: epoch,
                    seq,
                    stream: "execution".into(),
                    fields: vec![("event_id".into(), stream_id(epoch, seq))],
                    at_shutdown: false,
                },
            };
            let mut b = Vec::new();
            frame::encode(&serde_json::to_vec(&r).unwrap(), &mut b);
            b
        };
        let path = day_path(&d, utc_day(ts));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&rec(1)).unwrap();
        let two = rec(2);
        // Record 2 half written: a torn tail.
        f.write_all(&two[..two.len() / 2]).unwrap();
        f.flush().unwrap();
        let b = src.read(10).unwrap();
        assert_eq!(b.events.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1]);
        assert_eq!(b.lost, 0, "the writer still owes records 2 and 3");
        let b = src.read(10).unwrap();
        assert!(b.events.is_empty() && b.lost == 0);
        // The rest of record 2 arrives; record 3 is lost by the writer.
        f.write_all(&two[two.len() / 2..]).unwrap();
        f.flush().unwrap();
        stats.published_done.store(3, Ordering::Release);
        let b = src.read(10).unwrap();
        assert_eq!(b.events.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2]);
        assert_eq!(b.lost, 1, "record 3 will never come");
        assert_eq!(src.unread(), 0);
        // A garbage tail after everything read changes nothing.
        f.write_all(&[1, 2, 3]).unwrap();
        let b = src.read(10).unwrap();
        assert!(b.events.is_empty() && b.lost == 0);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_full_journal_queue_is_reported_not_kept() {
        let d = dir("full");
        let m = Metrics::new();
        let (qtx, _qrx) = crate::pipeline::channel::queue::<Entry>(
            "replay_full",
            2,
            crate::config::WaitKind::Park,
            &m,
        );
        let mut src = JournalReplay::new(JournalTx::for_test(qtx), &d, TradingMode::Paper, 1);
        assert!(src.keep(&ev(1, 1), fields_of(1, 1)));
        assert!(src.keep(&ev(2, 1), fields_of(1, 2)));
        assert!(!src.keep(&ev(3, 1), fields_of(1, 3)), "queue full");
        assert_eq!(src.unread(), 2);
        assert!(NoReplay.read(5).unwrap().events.is_empty());
        assert!(!NoReplay.keep(&ev(1, 1), Vec::new()));
    }
}
