//! The journal writer: one thread that owns the day files, fed through a
//! bounded queue. The hot path calls [`JournalTx::send`] (a `try_send`: when
//! the queue is full the entry is dropped and counted, the caller never
//! waits on the disk). The thread assigns record ids (continuing after the
//! highest id already on disk), encodes frames, appends them to the file of
//! the record's UTC day, and syncs per the [`FsyncPolicy`]. Before appending
//! to an existing file it reads it through: damaged regions inside are left
//! where they are (readers skip them) and counted; a torn last record (no
//! valid frame after it, at most one frame long) is copied to
//! `<dir>/quarantine/` and then cut off, so new records never follow
//! garbage. Nothing else is ever cut: a longer damaged tail, or one that
//! could not be copied aside or read, stays, and the new records follow it
//! (readers resynchronise on them).
//!
//! A barrier, [`JournalTx::sync`], is how a caller learns that what it
//! queued is on disk: it goes through the same queue, and the writer answers
//! it after writing everything before it, fsyncing the day file and its
//! directory (whatever the fsync policy; the records around it keep theirs).

use super::frame::{self, Tail};
use super::reader::{self, RecordIter, day_path};
use super::record::{Body, Entry, Event, KINDS, Record, SyncBarrier};
use crate::config::{FsyncPolicy, JournalConfig, WaitKind};
use crate::core::clock::utc_day;
use crate::core::{InstrumentId, InstrumentTable, format_decimal};
use crate::pipeline::channel::{Next, Rx, SendError, Tx, queue};
use crate::telemetry::metrics::Metrics;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Name of the writer's queue (the `queue` label of `qt_queue_*`).
pub const QUEUE: &str = "journal";

/// Counters shared by the writer, its senders and the API.
#[derive(Debug, Default)]
pub struct JournalStats {
    /// Entries accepted by the queue.
    pub enqueued: AtomicU64,
    /// Records written (handed to the OS).
    pub written: AtomicU64,
    /// Entries dropped because the queue was full.
    pub dropped: AtomicU64,
    pub fsyncs: AtomicU64,
    pub bytes: AtomicU64,
    /// Write or sync errors (the record is lost, the writer goes on).
    pub errors: AtomicU64,
    /// Id of the last record written (0 = none yet).
    pub last_id: AtomicU64,
    /// `published` entries the writer is done with: handed to the OS (a
    /// reader can see them) or lost to an error. The Redis replay source
    /// compares it with what it sent to tell "not written yet" from "lost".
    pub published_done: AtomicU64,
    /// Damaged regions found in day files opened for appending (left in
    /// place; readers skip them).
    pub damaged_regions: AtomicU64,
    /// Torn last records cut off (their bytes copied to `quarantine/`).
    pub torn_cut: AtomicU64,
    /// Failed reads of day files that were retried.
    pub read_retries: AtomicU64,
    /// Day files whose end could not be read (nothing was cut).
    pub unreadable: AtomicU64,
}

impl JournalStats {
    /// Entries accepted and not yet written.
    pub fn pending(&self) -> u64 {
        self.enqueued
            .load(Ordering::Relaxed)
            .saturating_sub(self.written.load(Ordering::Relaxed) + self.errors_lost())
    }

    fn errors_lost(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn view(&self) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "enqueued": g(&self.enqueued),
            "written": g(&self.written),
            "pending": self.pending(),
            "dropped": g(&self.dropped),
            "fsyncs": g(&self.fsyncs),
            "bytes": g(&self.bytes),
            "errors": g(&self.errors),
            "last_id": g(&self.last_id),
            "damaged_regions": g(&self.damaged_regions),
            "torn_cut": g(&self.torn_cut),
            "read_retries": g(&self.read_retries),
            "unreadable": g(&self.unreadable),
        })
    }
}

/// The journal's Prometheus series (registered into the engine's registry).
#[derive(Clone)]
pub struct JournalMetrics {
    pub records: IntCounterVec,
    pub dropped: IntCounter,
    pub fsyncs: IntCounter,
    pub bytes: IntCounter,
    pub errors: IntCounter,
    pub last_id: IntGauge,
    pub damaged_regions: IntCounter,
    pub torn_cut: IntCounter,
    pub read_retries: IntCounter,
    pub unreadable: IntCounter,
}

impl JournalMetrics {
    pub fn new(m: &Metrics) -> Self {
        let r = &m.registry;
        let records = IntCounterVec::new(
            Opts::new(
                "qt_journal_records_total",
                "Journal records written, by kind",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let jm = JournalMetrics {
            records,
            dropped: counter(
                "qt_journal_dropped_total",
                "Journal entries dropped because the writer's queue was full",
            ),
            fsyncs: counter("qt_journal_fsyncs_total", "fsync calls on journal files"),
            bytes: counter("qt_journal_bytes_total", "Bytes appended to journal files"),
            errors: counter(
                "qt_journal_errors_total",
                "Journal write or sync errors (record lost)",
            ),
            last_id: IntGauge::new("qt_journal_last_id", "Id of the last journal record")
                .expect("valid metric"),
            damaged_regions: counter(
                "qt_journal_damaged_regions_total",
                "Damaged regions found in journal day files opened for appending (skipped by readers, never cut)",
            ),
            torn_cut: counter(
                "qt_journal_torn_tails_cut_total",
                "Torn last records cut off a day file (bytes copied to quarantine/ first)",
            ),
            read_retries: counter(
                "qt_journal_read_retries_total",
                "Failed reads of journal day files that were retried",
            ),
            unreadable: counter(
                "qt_journal_unreadable_files_total",
                "Journal day files whose end could not be read (nothing cut)",
            ),
        };
        // Registering twice (a second engine on one registry) only fails.
        let _ = r.register(Box::new(jm.records.clone()));
        let _ = r.register(Box::new(jm.dropped.clone()));
        let _ = r.register(Box::new(jm.fsyncs.clone()));
        let _ = r.register(Box::new(jm.bytes.clone()));
        let _ = r.register(Box::new(jm.errors.clone()));
        let _ = r.register(Box::new(jm.last_id.clone()));
        for c in [
            &jm.damaged_regions,
            &jm.torn_cut,
            &jm.read_retries,
            &jm.unreadable,
        ] {
            let _ = r.register(Box::new(c.clone()));
        }
        jm
    }
}

/// The hot path's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct JournalTx {
    tx: Tx<Entry>,
    stats: Arc<JournalStats>,
    dropped: IntCounter,
}

impl JournalTx {
    /// Queues one entry; `false` when it was dropped (queue full or the
    /// writer gone). Drops are counted.
    #[inline]
    pub fn send(&self, e: Entry) -> bool {
        match self.tx.try_send(e) {
            Ok(()) => {
                self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(SendError::Full(_)) | Err(SendError::Closed(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped.inc();
                false
            }
        }
    }

    pub fn stats(&self) -> &Arc<JournalStats> {
        &self.stats
    }

    /// A barrier: returns once every entry queued before it is written and
    /// fsynced (the day file and its directory). `Err` when that does not
    /// happen within `timeout` (the queue stays full, the writer is slow or
    /// gone) or a record queued before it was lost (a write or sync error).
    /// Never on the hot path: it waits on the disk.
    pub fn sync(&self, timeout: Duration) -> Result<(), String> {
        let until = Instant::now() + timeout;
        let (done, answer) = std::sync::mpsc::sync_channel(1);
        let mut e = Entry {
            ts_ms: 0,
            mode: crate::config::TradingMode::default(),
            event: Event::Sync(Box::new(SyncBarrier {
                done,
                errors_before: self.stats.errors.load(Ordering::Acquire),
            })),
        };
        loop {
            match self.tx.try_send(e) {
                Ok(()) => break,
                Err(SendError::Closed(_)) => return Err("the journal writer is gone".into()),
                Err(SendError::Full(back)) => {
                    if Instant::now() >= until {
                        return Err(format!(
                            "the journal queue stayed full for {} ms",
                            timeout.as_millis()
                        ));
                    }
                    e = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        match answer.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "the journal did not reach disk within {} ms",
                timeout.as_millis()
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err("the journal writer stopped before the barrier".into())
            }
        }
    }

    /// A sender on a bare queue (no writer thread), for tests.
    #[cfg(test)]
    pub(crate) fn for_test(tx: Tx<Entry>) -> JournalTx {
        JournalTx {
            tx,
            stats: Arc::new(JournalStats::default()),
            dropped: JournalMetrics::new(&Metrics::new()).dropped,
        }
    }
}

/// The writer thread. It stops once every [`JournalTx`] is dropped and the
/// queue is drained; [`JournalWriter::join`] waits for that.
pub struct JournalWriter {
    thread: Option<JoinHandle<()>>,
    stats: Arc<JournalStats>,
    dir: PathBuf,
}

impl JournalWriter {
    pub fn stats(&self) -> &Arc<JournalStats> {
        &self.stats
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Waits until the writer has written everything and synced.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Creates `cfg.dir`, finds the last record id, and starts the writer.
pub fn start(
    cfg: &JournalConfig,
    instruments: Arc<InstrumentTable>,
    metrics: &Metrics,
) -> io::Result<(JournalTx, JournalWriter)> {
    let dir = PathBuf::from(&cfg.dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("journal dir {}: {e}", dir.display())))?;
    let last = reader::last_id(&dir)?;
    let stats = Arc::new(JournalStats::default());
    stats.last_id.store(last, Ordering::Relaxed);
    let jm = JournalMetrics::new(metrics);
    jm.last_id.set(last as i64);
    let (tx, rx) = queue::<Entry>(QUEUE, cfg.queue_capacity, WaitKind::Park, metrics);
    let mut w = Writer {
        dir: dir.clone(),
        policy: cfg.fsync,
        batch: Duration::from_millis(cfg.batch_ms),
        instruments,
        next_id: last + 1,
        file: None,
        dirty: false,
        unsynced: false,
        last_sync: Instant::now(),
        stats: stats.clone(),
        kind_counters: KINDS.map(|k| jm.records.with_label_values(&[k])),
        unflushed_published: 0,
        m: jm.clone(),
        buf: Vec::with_capacity(1024),
    };
    let thread = std::thread::Builder::new()
        .name("qt-journal".into())
        .spawn(move || w.run(rx))?;
    Ok((
        JournalTx {
            tx,
            stats: stats.clone(),
            dropped: jm.dropped,
        },
        JournalWriter {
            thread: Some(thread),
            stats,
            dir,
        },
    ))
}

struct DayFile {
    day: i64,
    out: BufWriter<File>,
}

struct Writer {
    dir: PathBuf,
    policy: FsyncPolicy,
    batch: Duration,
    instruments: Arc<InstrumentTable>,
    next_id: u64,
    file: Option<DayFile>,
    /// Bytes in the BufWriter not yet handed to the OS.
    dirty: bool,
    /// Bytes handed to the OS and not yet synced.
    unsynced: bool,
    last_sync: Instant,
    stats: Arc<JournalStats>,
    kind_counters: [IntCounter; KINDS.len()],
    /// `published` records written but not yet flushed to the OS.
    unflushed_published: u64,
    m: JournalMetrics,
    buf: Vec<u8>,
}

/// What [`open_for_append`] found at the end of and inside a day file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppendCheck {
    /// Damaged regions inside, left in place.
    pub damaged_regions: u64,
    /// Torn bytes cut off the end (after being copied aside).
    pub cut_bytes: u64,
    /// Where the cut bytes were copied.
    pub quarantined: Option<PathBuf>,
    /// Bytes after the last valid frame that were left in place.
    pub kept_tail_bytes: u64,
    pub retries: u64,
    /// The read error that left the end of the file unknown.
    pub unreadable: Option<String>,
}

/// Whether the bytes after `valid_len` (of a file of `len` bytes, whose
/// frames ended as `tail`) may be cut: only a genuinely torn last record,
/// i.e. no valid frame after it and at most one frame long.
pub fn may_cut(tail: &Tail, valid_len: u64, len: u64) -> bool {
    matches!(tail, Tail::Torn { .. })
        && len > valid_len
        && len - valid_len <= (frame::HEADER + frame::MAX_PAYLOAD) as u64
}

/// Opens a day file for appending, first cutting off a torn last record
/// (copied to `<dir>/quarantine/` before); see the module doc.
pub fn open_for_append(path: &Path) -> io::Result<(File, AppendCheck)> {
    let f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok((f, AppendCheck::default()));
    }
    let check = settle_tail(path, &f, len, File::open(path)?)?;
    Ok((f, check))
}

/// Reads the file of `len` bytes through `content` and cuts a torn last
/// record off `f` (copied aside first).
pub(crate) fn settle_tail(
    path: &Path,
    f: &File,
    len: u64,
    content: impl Read,
) -> io::Result<AppendCheck> {
    let mut it = RecordIter::new(content, path.display().to_string());
    for _ in it.by_ref() {}
    let valid = it.valid_len();
    let mut c = AppendCheck {
        damaged_regions: it.frames_corrupt(),
        retries: it.retries(),
        ..Default::default()
    };
    let tail = it.tail().clone();
    if let Tail::Unreadable { error } = &tail {
        c.unreadable = Some(error.clone());
    }
    if valid >= len {
        return Ok(c);
    }
    if !may_cut(&tail, valid, len) {
        c.kept_tail_bytes = len - valid;
        tracing::error!(
            file = %path.display(),
            valid_bytes = valid,
            kept_bytes = len - valid,
            "journal: the end of the day file is damaged or unreadable; nothing cut, new records follow it"
        );
        return Ok(c);
    }
    match quarantine(path, valid, len) {
        Ok(q) => {
            f.set_len(valid)?;
            f.sync_data()?;
            tracing::warn!(
                file = %path.display(),
                cut_bytes = len - valid,
                quarantined = %q.display(),
                "journal: torn last record cut off before appending (bytes kept in quarantine)"
            );
            c.cut_bytes = len - valid;
            c.quarantined = Some(q);
        }
        Err(e) => {
            c.kept_tail_bytes = len - valid;
            tracing::error!(
                file = %path.display(),
                error = %e,
                "journal: torn last record could not be copied to quarantine; nothing cut, new records follow it"
            );
        }
    }
    Ok(c)
}

/// Copies bytes `from..to` of `path` to
/// `<dir>/quarantine/<file>.<from>.<unix ms>.torn` (synced); returns its path.
fn quarantine(path: &Path, from: u64, to: u64) -> io::Result<PathBuf> {
    let dir = path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("quarantine");
    std::fs::create_dir_all(&dir)?;
    let mut src = File::open(path)?;
    src.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::with_capacity((to - from) as usize);
    src.take(to - from).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != to - from {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "day file shorter than expected",
        ));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let q = dir.join(format!(
        "{name}.{from}.{}.torn",
        crate::core::clock::unix_ms()
    ));
    let mut out = OpenOptions::new().write(true).create_new(true).open(&q)?;
    out.write_all(&bytes)?;
    out.sync_all()?;
    Ok(q)
}

impl Writer {
    fn run(&mut self, mut rx: Rx<Entry>) {
        loop {
            let wait = if self.unsynced || self.dirty {
                self.batch
                    .saturating_sub(self.last_sync.elapsed())
                    .max(Duration::from_millis(1))
            } else {
                Duration::from_millis(250)
            };
            match rx.next(wait) {
                Next::Item(e) => {
                    self.write(e);
                    // Drain a burst before flushing.
                    for _ in 0..1024 {
                        match rx.try_next() {
                            Some(e) => self.write(e),
                            None => break,
                        }
                    }
                }
                Next::Idle => {}
                Next::Closed => break,
            }
            // Queue momentarily empty (or a burst done): hand bytes to the OS
            // so a process crash loses nothing written so far.
            self.flush();
            if self.unsynced
                && (self.policy == FsyncPolicy::Always || self.last_sync.elapsed() >= self.batch)
            {
                self.sync();
            }
        }
        self.flush();
        if self.unsynced {
            self.sync();
        }
    }

    fn error(&self, what: &str, e: &io::Error) {
        let n = self.stats.errors.fetch_add(1, Ordering::Relaxed) + 1;
        self.m.errors.inc();
        if n.is_power_of_two() {
            tracing::error!(errors = n, error = %e, "journal: {what} failed; record lost");
        }
    }

    /// Counts what opening a day file found.
    fn note(&self, c: &AppendCheck) {
        let add = |a: &AtomicU64, m: &IntCounter, n: u64| {
            if n > 0 {
                a.fetch_add(n, Ordering::Relaxed);
                m.inc_by(n);
            }
        };
        let s = &self.stats;
        add(
            &s.damaged_regions,
            &self.m.damaged_regions,
            c.damaged_regions,
        );
        add(&s.torn_cut, &self.m.torn_cut, u64::from(c.cut_bytes > 0));
        add(&s.read_retries, &self.m.read_retries, c.retries);
        add(
            &s.unreadable,
            &self.m.unreadable,
            u64::from(c.unreadable.is_some()),
        );
    }

    fn file_for(&mut self, day: i64) -> Option<&mut DayFile> {
        if self.file.as_ref().is_some_and(|f| f.day != day) {
            self.flush();
            if self.unsynced {
                self.sync();
            }
            self.file = None;
        }
        if self.file.is_none() {
            let path = day_path(&self.dir, day);
            match open_for_append(&path) {
                Ok((f, check)) => {
                    self.note(&check);
                    self.file = Some(DayFile {
                        day,
                        out: BufWriter::with_capacity(64 * 1024, f),
                    })
                }
                Err(e) => {
                    self.error("opening the day file", &e);
                    return None;
                }
            }
        }
        self.file.as_mut()
    }

    /// Answers a barrier: everything before it is written; flushed and
    /// fsynced here, with the directory (a new day file's entry).
    fn barrier(&mut self, b: SyncBarrier) {
        self.flush();
        if self.unsynced {
            self.sync();
        }
        let dir = File::open(&self.dir).and_then(|d| d.sync_all());
        let errors = self.stats.errors.load(Ordering::Acquire);
        let r = match dir {
            Err(e) => {
                self.error("fsync of the journal directory", &e);
                Err(format!("fsync of {}: {e}", self.dir.display()))
            }
            Ok(()) if errors > b.errors_before => Err(format!(
                "{} journal write or sync error(s) since the barrier was queued",
                errors - b.errors_before
            )),
            Ok(()) => Ok(()),
        };
        let _ = b.done.try_send(r);
    }

    fn write(&mut self, e: Entry) {
        let published = matches!(e.event, Event::Published(_));
        let id = self.next_id;
        let body = match e.event {
            Event::Sync(b) => return self.barrier(*b),
            ev => to_body(&self.instruments, ev),
        };
        let Some(body) = body else {
            return;
        };
        let rec = Record {
            id,
            ts_ms: e.ts_ms,
            mode: e.mode,
            body,
        };
        let kind = KINDS
            .iter()
            .position(|k| *k == rec.body.kind())
            .unwrap_or(0);
        let json = match serde_json::to_vec(&rec) {
            Ok(j) => j,
            Err(err) => {
                self.error("encoding", &io::Error::other(err));
                self.published_lost(published);
                return;
            }
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        frame::encode(&json, &mut buf);
        let day = utc_day(rec.ts_ms);
        let res = match self.file_for(day) {
            Some(f) => f.out.write_all(&buf),
            None => {
                self.buf = buf;
                self.published_lost(published);
                return;
            }
        };
        match res {
            Ok(()) => {
                self.next_id += 1;
                self.dirty = true;
                self.stats.written.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .bytes
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                self.stats.last_id.store(id, Ordering::Relaxed);
                self.m.bytes.inc_by(buf.len() as u64);
                self.m.last_id.set(id as i64);
                self.kind_counters[kind].inc();
                if published {
                    self.unflushed_published += 1;
                }
                if self.policy == FsyncPolicy::Always {
                    self.flush();
                    self.sync();
                }
            }
            Err(err) => {
                self.error("writing", &err);
                // The BufWriter may hold part of the frame: reopen (the torn
                // bytes are cut off on open).
                self.file = None;
                self.dirty = false;
                self.published_lost(published);
                self.published_flushed();
            }
        }
        self.buf = buf;
    }

    fn flush(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let Some(f) = self.file.as_mut() {
            match f.out.flush() {
                Ok(()) => self.unsynced = true,
                Err(e) => {
                    self.error("flushing", &e);
                    self.file = None;
                }
            }
        }
        self.published_flushed();
    }

    /// A `published` entry that will never be written.
    fn published_lost(&self, published: bool) {
        if published {
            self.stats.published_done.fetch_add(1, Ordering::Release);
        }
    }

    /// The `published` records written so far are visible to readers (or
    /// lost to the error just counted).
    fn published_flushed(&mut self) {
        if self.unflushed_published > 0 {
            self.stats
                .published_done
                .fetch_add(self.unflushed_published, Ordering::Release);
            self.unflushed_published = 0;
        }
    }

    fn sync(&mut self) {
        self.unsynced = false;
        self.last_sync = Instant::now();
        if let Some(f) = self.file.as_mut() {
            match f.out.get_ref().sync_data() {
                Ok(()) => {
                    self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
                    self.m.fsyncs.inc();
                }
                Err(e) => self.error("fsync", &e),
            }
        }
    }
}

fn names(t: &InstrumentTable, inst: InstrumentId) -> (String, String, u8, u8) {
    match t.try_get(inst) {
        Some(i) => (
            i.venue.as_str().to_string(),
            i.symbol.clone(),
            i.price_scale,
            i.qty_scale,
        ),
        None => ("?".into(), format!("#{}", inst.0), 0, 0),
    }
}

/// Engine units to the stored form (`None`: not a record, a barrier).
pub fn to_body(t: &InstrumentTable, ev: Event) -> Option<Body> {
    Some(match ev {
        Event::Decision {
            decision_id,
            inst,
            action,
            score,
            confidence,
            qty,
            bid,
            ask,
            model_version,
        } => {
            let (venue, symbol, ps, qs) = names(t, inst);
            Body::Decision {
                decision_id,
                venue,
                symbol,
                action: action.as_str().into(),
                score,
                confidence,
                qty: format_decimal(qty, qs),
                bid: format_decimal(bid, ps),
                ask: format_decimal(ask, ps),
                model_version: crate::score::versions::name(model_version).to_string(),
            }
        }
        Event::Verdict {
            decision_id,
            inst,
            skip,
        } => {
            let (venue, symbol, ..) = names(t, inst);
            let (verdict, reason) = match skip {
                None => ("EXECUTE".to_string(), String::new()),
                Some(r) => ("SKIP".to_string(), r.to_string()),
            };
            Body::Verdict {
                decision_id,
                venue,
                symbol,
                verdict,
                reason,
            }
        }
        Event::Order {
            client_order_id,
            decision_id,
            inst,
            side,
            qty,
            limit_px,
        } => {
            let (venue, symbol, ps, qs) = names(t, inst);
            Body::Order {
                client_order_id,
                decision_id,
                venue,
                symbol,
                side: side.as_str().into(),
                qty: format_decimal(qty, qs),
                limit_px: format_decimal(limit_px, ps),
            }
        }
        Event::Fill {
            client_order_id,
            inst,
            side,
            px,
            qty,
            fee,
            fee_asset,
            position_after,
            realized_pnl,
        } => {
            let (venue, symbol, ps, qs) = names(t, inst);
            Body::Fill {
                client_order_id,
                venue,
                symbol,
                side: side.as_str().into(),
                px: format_decimal(px, ps),
                qty: format_decimal(qty, qs),
                fee,
                fee_asset: fee_asset.as_str().to_string(),
                position_after: format_decimal(position_after, qs),
                realized_pnl,
            }
        }
        Event::OrderDone {
            client_order_id,
            inst,
            status,
            note,
        } => {
            let (venue, symbol, ..) = names(t, inst);
            Body::OrderDone {
                client_order_id,
                venue,
                symbol,
                status: status.as_str().into(),
                note: note.into(),
            }
        }
        Event::Breaker { open, change } => Body::Breaker {
            state: if open { "open" } else { "closed" }.into(),
            reason: change.reason,
            detail: change.detail,
            by: change.by.into(),
            client: change.client,
            override_: change.override_,
        },
        Event::KillSwitch { on, change } => Body::KillSwitch {
            on,
            reason: change.reason,
            by: change.by.into(),
            client: change.client,
        },
        Event::Holds {
            inst,
            count,
            first_decision_id,
            last_decision_id,
            reason,
            model_version,
        } => {
            let (venue, symbol, ..) = names(t, inst);
            Body::Holds {
                venue,
                symbol,
                count,
                first_decision_id,
                last_decision_id,
                reason: reason.to_string(),
                model_version: crate::score::versions::name(model_version).to_string(),
            }
        }
        Event::Published(p) => Body::Published {
            epoch_ms: p.epoch_ms,
            seq: p.seq,
            stream: p.stream.into(),
            fields: p
                .fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            at_shutdown: p.at_shutdown,
        },
        Event::Reconcile(n) => {
            let (venue, symbol, ..) = names(t, n.inst);
            Body::Reconcile {
                venue,
                symbol,
                kind: n.kind.into(),
                client_order_id: n.client_order_id,
                journal: n.journal,
                venue_value: n.venue_value,
                price: n.price,
                detail: n.detail,
            }
        }
        Event::ClientIds(n) => Body::ClientIds {
            venue: n.venue.as_str().into(),
            prefix: n.prefix,
            epoch_ms: n.epoch_ms,
        },
        Event::Sync(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TradingMode;
    use crate::core::OrderStatus;

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let m = Metrics::new();
        let jm = JournalMetrics::new(&m);
        let (tx, rx) = queue::<Entry>(QUEUE, 64, WaitKind::Park, &m);
        let jtx = JournalTx {
            tx,
            stats: Arc::new(JournalStats::default()),
            dropped: jm.dropped.clone(),
        };
        let e = Entry {
            ts_ms: 0,
            mode: TradingMode::Paper,
            event: Event::OrderDone {
                client_order_id: 1,
                inst: InstrumentId(0),
                status: OrderStatus::Filled,
                note: "",
            },
        };
        let sent = (0..100).filter(|_| jtx.send(e.clone())).count();
        assert_eq!(sent, 64);
        assert_eq!(jtx.stats().dropped.load(Ordering::Relaxed), 36);
        assert_eq!(jm.dropped.get(), 36);
        assert_eq!(m.queue_overflow.with_label_values(&[QUEUE]).get(), 36);
        assert_eq!(jtx.stats().pending(), 64);
        drop(rx);
        assert!(!jtx.send(e));
    }
}
