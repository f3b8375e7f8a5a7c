//! The recorder: feed sessions hand records to it through [`ConnTap`]s over
//! one bounded queue (never blocking: a full queue drops the record and
//! counts it, and the connection's next record is preceded by a
//! [`Kind::Dropped`] marker); one writer thread compresses them into one
//! zstd file per venue and UTC hour, flushes every 200 ms (so a crash loses
//! at most that and leaves a torn tail the reader tolerates), rotates at the
//! hour, and keeps the directory under its size cap by deleting the oldest
//! files first.

use super::format::{self, Kind, MAGIC};
use crate::config::{RecordConfig, WaitKind};
use crate::core::clock::unix_ns;
use crate::core::{Venue, now_ns};
use crate::pipeline::channel::{Next, Rx, SendError, Tx, queue};
use parking_lot::Mutex;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One record on its way to the writer.
pub struct Item {
    venue: Venue,
    kind: Kind,
    conn: u16,
    ts_ns: u64,
    payload: Vec<u8>,
}

/// `qt_capture_*` series.
#[derive(Clone)]
pub struct CaptureMetrics {
    pub records: IntCounterVec,
    pub bytes: IntCounter,
    pub dropped: IntCounterVec,
    pub files_deleted: IntCounter,
    pub errors: IntCounter,
    pub disk_bytes: IntGauge,
}

impl CaptureMetrics {
    pub fn new(r: &Registry) -> CaptureMetrics {
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
            let _ = r.register(Box::new(c.clone()));
            c
        }
        let cv = |n: &str, h: &str| {
            reg(
                r,
                IntCounterVec::new(Opts::new(n, h), &["venue"]).expect("valid metric"),
            )
        };
        CaptureMetrics {
            records: cv(
                "qt_capture_records_total",
                "Records written to the recording",
            ),
            bytes: reg(
                r,
                IntCounter::new(
                    "qt_capture_bytes_total",
                    "Uncompressed bytes written to the recording",
                )
                .expect("valid metric"),
            ),
            dropped: cv(
                "qt_capture_dropped_total",
                "Records dropped because the recorder queue was full (the feed never waits)",
            ),
            files_deleted: reg(
                r,
                IntCounter::new(
                    "qt_capture_files_deleted_total",
                    "Recording files deleted to stay under record.max_total_mb",
                )
                .expect("valid metric"),
            ),
            errors: reg(
                r,
                IntCounter::new("qt_capture_errors_total", "Recording I/O errors")
                    .expect("valid metric"),
            ),
            disk_bytes: reg(
                r,
                IntGauge::new(
                    "qt_capture_disk_bytes",
                    "Compressed size of the recording directory",
                )
                .expect("valid metric"),
            ),
        }
    }
}

/// Maps the engine's monotonic stamps (`core::now_ns`) to unix ns, from one
/// anchor taken when the recorder starts (so recorded times keep the
/// monotonic order and spacing of the receive stamps).
#[derive(Clone, Copy)]
struct Anchor {
    mono: u64,
    unix: u64,
}

impl Anchor {
    fn now() -> Anchor {
        Anchor {
            mono: now_ns(),
            unix: unix_ns(),
        }
    }

    fn unix_of(&self, mono: u64) -> u64 {
        (self.unix as i128 + mono as i128 - self.mono as i128).max(1) as u64
    }
}

/// The feeds' side of the recorder (one per engine, in `Shared::capture`).
pub struct Recorder {
    tx: Tx<Item>,
    anchor: Anchor,
    next_conn: Mutex<[u16; Venue::COUNT]>,
    metrics: CaptureMetrics,
    meta: [Vec<u8>; Venue::COUNT],
}

impl Recorder {
    /// A tap for one connection of `venue` (indices in start order); its
    /// `Conn` record is queued now.
    pub fn connection(&self, venue: Venue, url: &str) -> ConnTap {
        let conn = {
            let mut n = self.next_conn.lock();
            let c = n[venue as usize];
            n[venue as usize] += 1;
            c
        };
        let mut t = ConnTap {
            tx: self.tx.clone(),
            venue,
            conn,
            anchor: self.anchor,
            missed: 0,
            dropped: self.metrics.dropped.with_label_values(&[venue.as_str()]),
        };
        t.push(Kind::Conn, now_ns(), url.as_bytes().to_vec());
        t
    }

    /// Unix ns of a monotonic stamp (the recording's time base).
    pub fn unix_of(&self, mono_ns: u64) -> u64 {
        self.anchor.unix_of(mono_ns)
    }
}

/// One connection's tap: what the session loop calls at the transport
/// boundary. Never blocks.
pub struct ConnTap {
    tx: Tx<Item>,
    venue: Venue,
    conn: u16,
    anchor: Anchor,
    /// Records dropped since the last one queued.
    missed: u64,
    dropped: IntCounter,
}

impl ConnTap {
    fn push(&mut self, kind: Kind, mono_ns: u64, payload: Vec<u8>) {
        let ts_ns = self.anchor.unix_of(mono_ns);
        if self.missed > 0 {
            let marker = Item {
                venue: self.venue,
                kind: Kind::Dropped,
                conn: self.conn,
                ts_ns,
                payload: self.missed.to_le_bytes().to_vec(),
            };
            match self.tx.try_send(marker) {
                Ok(()) => self.missed = 0,
                Err(_) => {
                    self.missed += 1;
                    self.dropped.inc();
                    return;
                }
            }
        }
        let item = Item {
            venue: self.venue,
            kind,
            conn: self.conn,
            ts_ns,
            payload,
        };
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                self.missed += 1;
                self.dropped.inc();
            }
            // The recorder stopped (shutdown): nothing more to record.
            Err(SendError::Closed(_)) => {}
        }
    }

    /// A frame received at monotonic `recv_ns`.
    #[inline]
    pub fn frame(&mut self, recv_ns: u64, bytes: &[u8]) {
        self.push(Kind::Frame, recv_ns, bytes.to_vec());
    }

    /// A REST reply handed to the protocol.
    pub fn rest(
        &mut self,
        tag: usize,
        result: &Result<Vec<u8>, crate::core::venue_error::VenueError>,
    ) {
        self.push(Kind::Rest, now_ns(), format::rest_payload(tag, result));
    }

    pub fn open(&mut self, url: &str) {
        self.push(Kind::Open, now_ns(), url.as_bytes().to_vec());
    }

    pub fn sent(&mut self, msg: &str) {
        self.push(Kind::Sent, now_ns(), msg.as_bytes().to_vec());
    }

    pub fn close(&mut self, cause: &str) {
        self.push(Kind::Close, now_ns(), cause.as_bytes().to_vec());
    }
}

impl crate::pipeline::tap::Recording for Recorder {
    fn connection(&self, venue: Venue, url: &str) -> Box<dyn crate::pipeline::tap::Tap> {
        Box::new(Recorder::connection(self, venue, url))
    }

    fn unix_of(&self, mono_ns: u64) -> u64 {
        Recorder::unix_of(self, mono_ns)
    }
}

impl crate::pipeline::tap::Tap for ConnTap {
    #[inline]
    fn frame(&mut self, recv_ns: u64, bytes: &[u8]) {
        ConnTap::frame(self, recv_ns, bytes)
    }

    fn rest(&mut self, tag: usize, result: &Result<Vec<u8>, crate::core::venue_error::VenueError>) {
        ConnTap::rest(self, tag, result)
    }

    fn open(&mut self, url: &str) {
        ConnTap::open(self, url)
    }

    fn sent(&mut self, msg: &str) {
        ConnTap::sent(self, msg)
    }

    fn close(&mut self, cause: &str) {
        ConnTap::close(self, cause)
    }
}

/// Owns the writer thread; [`RecorderHandle::stop`] drains and closes.
pub struct RecorderHandle {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl RecorderHandle {
    /// Writes what is queued, finishes every file, joins the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for RecorderHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// Starts the recorder. `meta[venue]` is the JSON written first in each of
/// that venue's files.
pub fn start(
    cfg: &RecordConfig,
    metrics: &crate::telemetry::metrics::Metrics,
    meta: [Vec<u8>; Venue::COUNT],
) -> std::io::Result<(Recorder, RecorderHandle)> {
    let dir = PathBuf::from(&cfg.dir);
    std::fs::create_dir_all(&dir)?;
    let cm = CaptureMetrics::new(&metrics.registry);
    let (tx, rx) = queue("capture", cfg.queue_capacity, WaitKind::Park, metrics);
    let stop = Arc::new(AtomicBool::new(false));
    let mut w = Writer {
        dir,
        level: cfg.zstd_level,
        cap_bytes: cfg.max_total_mb.saturating_mul(1 << 20),
        files: [None, None, None],
        meta: meta.clone(),
        m: cm.clone(),
        buf: Vec::with_capacity(1 << 16),
        dirty: false,
        last_flush: Instant::now(),
        error_logs: 0,
        since_cap: 0,
    };
    let s = stop.clone();
    let join = std::thread::Builder::new()
        .name("qt-capture".into())
        .spawn(move || w.run(rx, &s))?;
    Ok((
        Recorder {
            tx,
            anchor: Anchor::now(),
            next_conn: Mutex::new([0; Venue::COUNT]),
            metrics: cm,
            meta,
        },
        RecorderHandle {
            stop,
            join: Some(join),
        },
    ))
}

impl Recorder {
    /// The meta JSON of a venue (for tests and tools).
    pub fn meta(&self, venue: Venue) -> &[u8] {
        &self.meta[venue as usize]
    }
}

struct OpenFile {
    hour: u64,
    path: PathBuf,
    enc: zstd::stream::write::Encoder<'static, BufWriter<File>>,
}

struct Writer {
    dir: PathBuf,
    level: i32,
    cap_bytes: u64,
    files: [Option<OpenFile>; Venue::COUNT],
    meta: [Vec<u8>; Venue::COUNT],
    m: CaptureMetrics,
    buf: Vec<u8>,
    dirty: bool,
    last_flush: Instant,
    error_logs: u64,
    /// Uncompressed bytes since the size cap was last enforced.
    since_cap: u64,
}

impl Writer {
    fn run(&mut self, mut rx: Rx<Item>, stop: &AtomicBool) {
        self.enforce_cap();
        loop {
            match rx.next(Duration::from_millis(100)) {
                Next::Item(it) => {
                    self.write(it);
                    for _ in 0..4096 {
                        match rx.try_next() {
                            Some(it) => self.write(it),
                            None => break,
                        }
                    }
                }
                Next::Idle => {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                }
                Next::Closed => break,
            }
            if self.dirty && self.last_flush.elapsed() >= Duration::from_millis(200) {
                self.flush();
                if self.since_cap >= 16 << 20 {
                    self.since_cap = 0;
                    self.enforce_cap();
                }
            }
            if stop.load(Ordering::Acquire) && rx.is_empty() {
                break;
            }
        }
        while let Some(it) = rx.try_next() {
            self.write(it);
        }
        for v in Venue::ALL {
            self.finish(v);
        }
        self.enforce_cap();
    }

    fn error(&mut self, what: &str, e: &std::io::Error) {
        self.m.errors.inc();
        self.error_logs += 1;
        if self.error_logs.is_power_of_two() {
            tracing::error!(errors = self.error_logs, error = %e, "recording: {what} failed");
        }
    }

    fn write(&mut self, it: Item) {
        let hour = format::hour_of(it.ts_ns);
        let vi = it.venue as usize;
        if self.files[vi].as_ref().is_some_and(|f| f.hour != hour) {
            self.finish(it.venue);
            self.enforce_cap();
        }
        if self.files[vi].is_none() {
            match self.open(it.venue, it.ts_ns) {
                Ok(f) => self.files[vi] = Some(f),
                Err(e) => {
                    self.error("opening a file", &e);
                    return;
                }
            }
        }
        self.buf.clear();
        format::encode(it.kind, it.conn, it.ts_ns, &it.payload, &mut self.buf);
        let Some(f) = self.files[vi].as_mut() else {
            return;
        };
        match f.enc.write_all(&self.buf) {
            Ok(()) => {
                self.dirty = true;
                self.m.records.with_label_values(&[it.venue.as_str()]).inc();
                self.m.bytes.inc_by(self.buf.len() as u64);
                self.since_cap += self.buf.len() as u64;
            }
            Err(e) => {
                self.files[vi] = None;
                self.error("writing", &e);
            }
        }
    }

    fn open(&mut self, venue: Venue, ts_ns: u64) -> std::io::Result<OpenFile> {
        let key = format::hour_key(ts_ns);
        let mut part = 0;
        let path = loop {
            let p = self.dir.join(format::file_name(&key, venue, part));
            if !p.exists() {
                break p;
            }
            part += 1;
        };
        let file = File::create(&path)?;
        let mut enc =
            zstd::stream::write::Encoder::new(BufWriter::with_capacity(1 << 16, file), self.level)?;
        enc.write_all(MAGIC)?;
        let mut b = Vec::new();
        format::encode(Kind::Meta, 0, ts_ns, &self.meta[venue as usize], &mut b);
        enc.write_all(&b)?;
        tracing::info!(file = %path.display(), "recording to a new file");
        Ok(OpenFile {
            hour: format::hour_of(ts_ns),
            path,
            enc,
        })
    }

    fn flush(&mut self) {
        self.dirty = false;
        self.last_flush = Instant::now();
        for i in 0..3 {
            if let Some(f) = self.files[i].as_mut()
                && let Err(e) = f.enc.flush()
            {
                self.files[i] = None;
                self.error("flushing", &e);
            }
        }
    }

    fn finish(&mut self, venue: Venue) {
        if let Some(mut f) = self.files[venue as usize].take() {
            self.buf.clear();
            let ts = crate::core::clock::unix_ns();
            format::encode(Kind::End, 0, ts, &[], &mut self.buf);
            let r = f.enc.write_all(&self.buf);
            match r.and_then(|_| f.enc.finish()).and_then(|mut w| w.flush()) {
                Ok(()) => {}
                Err(e) => self.error("finishing a file", &e),
            }
        }
    }

    /// Deletes the oldest recording files until the directory is under the
    /// cap (never a file still being written).
    fn enforce_cap(&mut self) {
        let open: Vec<PathBuf> = self
            .files
            .iter()
            .flatten()
            .map(|f| f.path.clone())
            .collect();
        match enforce_cap(&self.dir, self.cap_bytes, &open) {
            Ok((total, deleted)) => {
                self.m.disk_bytes.set(total as i64);
                self.m.files_deleted.inc_by(deleted);
            }
            Err(e) => self.error("listing the directory", &e),
        }
    }
}

/// Recording files of `dir`, oldest first (by name).
pub fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(format::parse_file_name)
                .is_some()
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Deletes the oldest files of `dir` (except `keep`) while the total size
/// exceeds `cap` (0 = no cap). Returns (total bytes after, files deleted).
pub fn enforce_cap(dir: &Path, cap: u64, keep: &[PathBuf]) -> std::io::Result<(u64, u64)> {
    let files = list_files(dir)?;
    let sizes: Vec<u64> = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .collect();
    let mut total: u64 = sizes.iter().sum();
    let mut deleted = 0;
    if cap == 0 {
        return Ok((total, 0));
    }
    for (p, s) in files.iter().zip(sizes) {
        if total <= cap {
            break;
        }
        if keep.contains(p) {
            continue;
        }
        match std::fs::remove_file(p) {
            Ok(()) => {
                total -= s;
                deleted += 1;
                tracing::info!(file = %p.display(), "recording size cap: oldest file deleted");
            }
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "cannot delete a recording file")
            }
        }
    }
    Ok((total, deleted))
}
