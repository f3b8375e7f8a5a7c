//! The publisher thread (`qt-redis`): drains the event channel into an
//! ordered in-memory buffer, writes it to Redis in pipelined XADD batches
//! with explicit ids, survives outages (buffer up to `buffer_capacity`, then
//! spill: the events beyond are rendered and handed to the replay source,
//! the journal, and re-read from it once the buffer is written), writes the
//! engine heartbeat while the pipeline moves, reads the auxiliary
//! heartbeats, and flushes what it can at shutdown (what it cannot, it
//! leaves in the journal for the next engine life). Before any entry of its
//! own it writes what earlier lives left unwritten ([`Backlog`]).

use super::backlog::{Backlog, StreamId, stream_tops};
use super::event::{Fields, PubEvent, StreamKind, fields, stream_id};
use super::heartbeat::{Progress, heartbeat_value, parse_heartbeat};
use super::link::{Link, is_connection_error};
use super::replay::{ReplaySource, Replayed};
use super::{RedisStatus, Sink};
use crate::config::redis::RedisConfig;
use crate::core::clock::unix_ms;
use crate::core::now_ns;
use crate::pipeline::channel::{Next, Rx, queue};
use crate::pipeline::shared::Shared;
use crate::telemetry::redis::RedisMetrics;
use prometheus::IntCounter;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The running publisher: stop it after the stages have stopped, so that it
/// can flush their last events.
pub struct PublisherHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PublisherHandle {
    /// Asks the thread to flush (up to `shutdown_flush_ms`) and waits for it.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("redis publisher thread panicked");
        }
    }
}

impl Drop for PublisherHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Events beyond the memory buffer. While a spill is on, every new
/// (non-sample) event goes to the replay source too, so the order holds; it
/// ends when everything kept has been read back.
#[derive(Debug, Clone, Copy)]
struct Spill {
    /// Kept in the replay source and not yet written to Redis.
    count: u64,
    /// Events of this spill the replay source could not keep.
    lost: u64,
}

/// One entry ready to write.
struct Out {
    /// The engine life that made it (the ms part of its id).
    epoch_ms: u64,
    seq: u64,
    stream: StreamKind,
    fields: Vec<(Cow<'static, str>, String)>,
    /// Read back from the replay source.
    replayed: bool,
}

impl Out {
    fn live(epoch_ms: u64, seq: u64, stream: StreamKind, f: Fields) -> Out {
        Out {
            epoch_ms,
            seq,
            stream,
            fields: f.into_iter().map(|(k, v)| (Cow::Borrowed(k), v)).collect(),
            replayed: false,
        }
    }

    fn replayed(r: Replayed) -> Out {
        Out {
            epoch_ms: r.epoch_ms,
            seq: r.seq,
            stream: r.stream,
            fields: r
                .fields
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), v))
                .collect(),
            replayed: true,
        }
    }
}

struct Publisher {
    cfg: RedisConfig,
    shared: Arc<Shared>,
    status: Arc<RedisStatus>,
    m: RedisMetrics,
    rx: Rx<PubEvent>,
    link: Link,
    replay: Box<dyn ReplaySource>,
    /// Earlier lives' unwritten entries, until all are written.
    backlog: Option<Backlog>,
    /// Read from the backlog, not yet written (a failed batch).
    backlog_batch: Vec<Out>,
    /// Whether events left at shutdown can be kept for a later life (the
    /// replay source keeps them and later lives read a backlog).
    carry_over: bool,
    buf: VecDeque<PubEvent>,
    spill: Option<Spill>,
    /// Read back from the replay source, not yet written (a failed batch).
    replay_batch: Vec<Out>,
    /// Events with a seq up to this were made while Redis was unreachable.
    outage_upto: u64,
    keys: [String; 5],
    /// Whether this life's epoch is known to be above the stream tops.
    epoch_checked: bool,
    /// Whether the replay source kept an event of this life (its epoch can
    /// no longer change).
    kept_any: bool,
    maxlen: [String; 5],
    entries: [IntCounter; 5],
    dups: [IntCounter; 5],
    rejected: [IntCounter; 5],
    logged_reject: [bool; 5],
    progress: Progress,
    next_heartbeat: Instant,
    heartbeat_interval: Duration,
}

/// What a publisher keeps beyond its memory buffer, and what earlier lives
/// left it.
pub struct Replay {
    pub source: Box<dyn ReplaySource>,
    /// `None`: earlier lives' entries are not read (nor are this life's
    /// kept for later ones).
    pub backlog: Option<Backlog>,
}

/// Creates the sink and starts the publisher thread. `make_replay` gets this
/// engine life's epoch (the ms part of its stream ids) and returns where
/// events beyond the memory buffer are kept, and the backlog of earlier
/// lives.
pub fn start(
    cfg: &RedisConfig,
    services: &[crate::config::redis::ServiceConfig],
    url: &str,
    shared: Arc<Shared>,
    stall_timeout_ms: u64,
    make_replay: impl FnOnce(u64) -> Replay,
) -> anyhow::Result<(Sink, PublisherHandle)> {
    let m = shared.metrics.redis.clone();
    let s = &cfg.streams;
    let streams = [&s.decision, &s.intent, &s.verdict, &s.execution, &s.market];
    let keys = streams.map(|s| s.key.clone());
    // The ms part of every stream id of this engine life: the clock, but
    // above every stream's last id when Redis answers now (a clock behind
    // the previous life's ids would have every entry refused). When it does
    // not, the first connection checks (see `Publisher::check_epoch`).
    let clock_ms = unix_ms().max(1) as u64;
    let tops = read_tops_now(url, cfg, &keys);
    let epoch_ms = match &tops {
        Some(t) => epoch_above(clock_ms, t),
        None => clock_ms,
    };
    if epoch_ms != clock_ms {
        m.epoch_raised.inc();
        tracing::warn!(
            clock_ms,
            epoch_ms,
            "redis: the clock is behind the streams' last ids; this life's ids start above them"
        );
    }
    let Replay {
        source: replay,
        backlog,
    } = make_replay(epoch_ms);
    let mut status = RedisStatus::new(cfg, services, epoch_ms);
    status.replay = replay.name();
    if backlog.is_some() {
        *status.backlog.lock() = "pending";
    }
    let status = Arc::new(status);
    let link = Link::new(url, cfg, m.clone(), status.clone())?;
    let (tx, rx) = queue::<PubEvent>(
        "redis_publish",
        cfg.channel_capacity,
        crate::config::WaitKind::Park,
        &shared.metrics,
    );
    let sample_every_ns = if cfg.market_sample_per_sec == 0 {
        0
    } else {
        1_000_000_000 / cfg.market_sample_per_sec as u64
    };
    let sink = Sink::new(
        tx,
        sample_every_ns,
        shared.instruments.len(),
        m.dropped.with_label_values(&["channel_full"]),
        status.clone(),
    );
    let label = |v: &prometheus::IntCounterVec| -> [IntCounter; 5] {
        StreamKind::ALL.map(|k| v.with_label_values(&[k.as_str()]))
    };
    for sv in &status.services {
        m.heartbeat_age.with_label_values(&[&sv.name]).set(-1.0);
    }
    m.heartbeat_age.with_label_values(&["engine"]).set(-1.0);
    let p = Publisher {
        epoch_checked: tops.is_some(),
        kept_any: false,
        keys,
        maxlen: streams.map(|s| s.maxlen.to_string()),
        entries: label(&m.entries),
        dups: label(&m.duplicates),
        rejected: label(&m.rejected),
        logged_reject: [false; 5],
        cfg: cfg.clone(),
        shared,
        status,
        m,
        rx,
        link,
        carry_over: backlog.is_some() && replay.keeps(),
        replay,
        backlog,
        backlog_batch: Vec::new(),
        buf: VecDeque::with_capacity(cfg.buffer_capacity.min(1 << 16)),
        spill: None,
        replay_batch: Vec::new(),
        outage_upto: 0,
        progress: Progress::new(stall_timeout_ms.saturating_mul(1_000_000)),
        next_heartbeat: Instant::now(),
        heartbeat_interval: Duration::from_millis(cfg.heartbeat_interval_ms),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("qt-redis".into())
        .spawn(move || p.run(stop2))?;
    Ok((
        sink,
        PublisherHandle {
            stop,
            thread: Some(thread),
        },
    ))
}

/// What one step of the backlog did.
enum Step {
    /// Something was read or written: call again at once.
    Progress,
    /// Nothing could be done now (Redis unreachable).
    Wait,
    /// The backlog is over, in this `/api/redis` state (`done` or `failed`).
    End(&'static str),
}

/// What one batch did.
enum BatchOutcome {
    /// Every event of the batch is settled (written, duplicate or refused).
    Done,
    /// The connection failed; the batch stays buffered.
    Failed,
}

impl Publisher {
    fn run(mut self, stop: Arc<AtomicBool>) {
        tracing::info!(
            epoch_ms = self.status.epoch(),
            replay = self.replay.name(),
            "redis publisher started"
        );
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            self.drain_channel();
            let now = Instant::now();
            let mut worked = false;
            if self.link.get(now).is_some() {
                worked = self.publish_some();
            }
            if now >= self.next_heartbeat {
                self.next_heartbeat = now + self.heartbeat_interval;
                self.heartbeats(now);
            }
            self.link.probe(now);
            self.update_gauges();
            if stopping {
                self.drain_channel();
                self.flush_at_shutdown();
                break;
            }
            if !worked {
                // Nothing written: wait for the next event or timer.
                let wait = if self.link.is_up() {
                    Duration::from_millis(20)
                } else {
                    self.link
                        .next_attempt()
                        .saturating_duration_since(now)
                        .clamp(Duration::from_millis(1), Duration::from_millis(20))
                };
                if let Next::Item(ev) = self.rx.next(wait) {
                    self.accept(ev);
                }
            }
        }
        tracing::info!(
            published = self.status.published.load(Ordering::Relaxed),
            left = self.left(),
            "redis publisher stopped"
        );
    }

    fn drain_channel(&mut self) {
        let mut n = 0;
        while n < 65_536 {
            let Some(ev) = self.rx.try_next() else { break };
            self.accept(ev);
            n += 1;
        }
    }

    /// Events not yet written: buffered, or kept by the replay source.
    fn left(&self) -> u64 {
        self.buf.len() as u64 + self.spill.map(|s| s.count).unwrap_or(0)
    }

    /// Renders one event's fields for Redis.
    fn render(&self, ev: &PubEvent) -> Fields {
        let labels = self
            .status
            .verdict_labels
            .get()
            .map(|v| v.as_slice())
            .unwrap_or(&[]);
        fields(ev, self.status.epoch(), &self.shared.instruments, labels)
    }

    /// Takes one event into the buffer, or into the spill once the buffer is
    /// full (and for as long as a spill is pending, to keep the order).
    fn accept(&mut self, ev: PubEvent) {
        if !self.link.is_up() {
            self.outage_upto = self.outage_upto.max(ev.seq);
        }
        let market = ev.body.stream() == StreamKind::Market;
        if self.spill.is_none() && self.buf.len() < self.cfg.buffer_capacity {
            self.buf.push_back(ev);
            return;
        }
        if market {
            // Samples are not kept: beyond the buffer they are dropped.
            self.m
                .dropped
                .with_label_values(&["market_sample_buffer_full"])
                .inc();
            return;
        }
        if self.spill.is_none() {
            tracing::warn!(
                buffered = self.buf.len(),
                first_seq = ev.seq,
                replay = self.replay.name(),
                "redis buffer full: further events go to the replay source until it is read back"
            );
            self.spill = Some(Spill { count: 0, lost: 0 });
        }
        let kept = self.replay.keeps() && {
            let f = self.render(&ev);
            self.replay.keep(&ev, f)
        };
        let Some(sp) = self.spill.as_mut() else {
            return;
        };
        if kept {
            self.kept_any = true;
            sp.count += 1;
            self.m.journal_kept.inc();
        } else {
            sp.lost += 1;
            if sp.lost == 1 {
                tracing::warn!(
                    seq = ev.seq,
                    replay = self.replay.name(),
                    "an event beyond the redis buffer could not be kept: counted as dropped (not_replayable)"
                );
            }
            self.m.dropped.with_label_values(&["not_replayable"]).inc();
        }
    }

    /// Writes one batch: earlier lives' backlog first, then the buffer, then
    /// the replay source once the buffer is empty and a spill is pending.
    /// Returns whether it did something.
    fn publish_some(&mut self) -> bool {
        if !self.epoch_checked {
            return self.check_epoch();
        }
        if self.backlog.is_some() {
            return self.publish_backlog();
        }
        if !self.buf.is_empty() {
            let n = self.buf.len().min(self.cfg.batch_size);
            let batch: Vec<Out> = self
                .buf
                .range(..n)
                .map(|ev| {
                    Out::live(
                        self.status.epoch(),
                        ev.seq,
                        ev.body.stream(),
                        self.render(ev),
                    )
                })
                .collect();
            return match self.write(&batch) {
                BatchOutcome::Done => {
                    self.buf.drain(..n);
                    true
                }
                BatchOutcome::Failed => false,
            };
        }
        let Some(mut sp) = self.spill else {
            return false;
        };
        if self.replay_batch.is_empty() {
            if sp.count == 0 {
                // Everything kept is written: back to the memory buffer.
                if sp.lost > 0 {
                    tracing::warn!(
                        lost = sp.lost,
                        "redis spill over; some events could not be kept (not_replayable)"
                    );
                }
                self.spill = None;
                return true;
            }
            let unread = self.replay.unread();
            if unread < sp.count {
                // Never expected: the source owes fewer than the spill
                // counts. Count the difference instead of waiting forever.
                let gone = sp.count - unread;
                tracing::error!(
                    gone,
                    replay = self.replay.name(),
                    "the replay source holds fewer events than were kept: counted as dropped (not_replayable)"
                );
                self.m
                    .dropped
                    .with_label_values(&["not_replayable"])
                    .inc_by(gone);
                sp.count = unread;
                sp.lost += gone;
                self.spill = Some(sp);
                return true;
            }
            match self.replay.read(self.cfg.batch_size) {
                Ok(b) => {
                    if b.lost > 0 {
                        tracing::warn!(
                            lost = b.lost,
                            replay = self.replay.name(),
                            "kept events missing from the replay source: counted as dropped (not_replayable)"
                        );
                        self.m
                            .dropped
                            .with_label_values(&["not_replayable"])
                            .inc_by(b.lost);
                        sp.count = sp.count.saturating_sub(b.lost);
                        sp.lost += b.lost;
                        self.spill = Some(sp);
                    }
                    if b.events.is_empty() {
                        // Not readable yet (the journal writer is behind).
                        return b.lost > 0;
                    }
                    self.replay_batch = b.events.into_iter().map(Out::replayed).collect();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replay source failed; will retry");
                    return false;
                }
            }
        }
        let batch = std::mem::take(&mut self.replay_batch);
        match self.write(&batch) {
            BatchOutcome::Done => {
                let n = batch.len() as u64;
                self.m.journal_replayed.inc_by(n);
                if let Some(sp) = self.spill.as_mut() {
                    sp.count = sp.count.saturating_sub(n);
                }
                true
            }
            BatchOutcome::Failed => {
                self.replay_batch = batch;
                false
            }
        }
    }

    /// At the first connection when the start could not read the stream
    /// tops: raises this life's epoch above them if the clock was behind,
    /// which is possible while nothing of this life was written or kept;
    /// otherwise says loudly that its entries will be refused. Returns
    /// whether it did something.
    fn check_epoch(&mut self) -> bool {
        let Some(conn) = self.link.get(Instant::now()) else {
            return false;
        };
        let tops = match stream_tops(conn, &self.keys) {
            Ok(t) => t,
            Err(e) if is_connection_error(&e) => {
                self.link.fail("publish", &e);
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis: stream tops unreadable; this life's ids are the clock's");
                self.epoch_checked = true;
                return true;
            }
        };
        self.epoch_checked = true;
        let epoch = self.status.epoch();
        let above = epoch_above(epoch, &tops);
        if above == epoch {
            return true;
        }
        if !self.kept_any && self.status.published.load(Ordering::Relaxed) == 0 {
            self.status.epoch_ms.store(above, Ordering::Relaxed);
            self.replay.rebase(above);
            if let Some(b) = self.backlog.as_mut() {
                b.rebase(above);
            }
            self.m.epoch_raised.inc();
            tracing::warn!(
                clock_epoch_ms = epoch,
                epoch_ms = above,
                "redis: the clock is behind the streams' last ids; this life's ids start above them"
            );
        } else {
            self.status.ids_behind.store(true, Ordering::Relaxed);
            self.m.ids_behind.set(1);
            tracing::error!(
                epoch_ms = epoch,
                above,
                "redis: this life's ids are below the streams' last ids (the clock is behind) and entries were already kept under them: Redis refuses them (counted in qt_redis_rejected_total)"
            );
        }
        true
    }

    /// Writes one batch of earlier lives' entries (the stream tops are read
    /// first, once). Returns whether it did something. An unreadable
    /// journal ends the backlog (logged): this life's own entries must not
    /// wait on it forever.
    fn publish_backlog(&mut self) -> bool {
        let Some(mut b) = self.backlog.take() else {
            return false;
        };
        match self.backlog_step(&mut b) {
            Step::Progress => {
                self.backlog = Some(b);
                true
            }
            Step::Wait => {
                self.backlog = Some(b);
                false
            }
            Step::End(state) => {
                *self.status.backlog.lock() = state;
                true
            }
        }
    }

    fn backlog_step(&mut self, b: &mut Backlog) -> Step {
        if b.needs_tops() {
            let Some(conn) = self.link.get(Instant::now()) else {
                return Step::Wait;
            };
            let tops = match stream_tops(conn, &self.keys) {
                Ok(t) => t,
                Err(e) if is_connection_error(&e) => {
                    self.link.fail("publish", &e);
                    return Step::Wait;
                }
                Err(e) => {
                    // Without the tops everything would be sent again: the
                    // ids still keep Redis from doubling anything.
                    tracing::warn!(error = %e, "redis backlog: stream tops unreadable; every kept entry of earlier lives is offered (duplicates are refused by id)");
                    [(0, 0); 5]
                }
            };
            b.set_tops(tops);
            *self.status.backlog.lock() = "replaying";
            return Step::Progress;
        }
        if !b.prepared() {
            match b.collect() {
                Ok(None) => return Step::Progress,
                Ok(Some(lost)) => {
                    if lost > 0 {
                        tracing::warn!(
                            lost,
                            "redis backlog: shutdown entries of earlier lives beyond buffer_capacity: counted as dropped (not_replayable)"
                        );
                        self.m
                            .dropped
                            .with_label_values(&["not_replayable"])
                            .inc_by(lost);
                    }
                    tracing::info!(
                        shutdown_entries = b.finals_left(),
                        "redis backlog: writing what earlier engine lives left unwritten before this life's entries"
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "redis backlog: journal unreadable; earlier lives' entries are not replayed");
                    return Step::End("failed");
                }
            }
        }
        if self.backlog_batch.is_empty() {
            match b.read(self.cfg.batch_size) {
                // The scan budget ran out before an entry was found.
                Ok(v) if v.is_empty() && !b.done() => return Step::Progress,
                Ok(v) if v.is_empty() => {
                    tracing::info!(
                        written = self.m.backlog_replayed.get(),
                        "redis backlog of earlier engine lives done"
                    );
                    return Step::End("done");
                }
                Ok(v) => self.backlog_batch = v.into_iter().map(Out::replayed).collect(),
                Err(e) => {
                    tracing::error!(error = %e, handed = b.handed, "redis backlog: journal read failed; the rest of earlier lives' entries is not replayed");
                    return Step::End("failed");
                }
            }
        }
        let batch = std::mem::take(&mut self.backlog_batch);
        match self.write(&batch) {
            BatchOutcome::Done => {
                self.m.backlog_replayed.inc_by(batch.len() as u64);
                Step::Progress
            }
            BatchOutcome::Failed => {
                self.backlog_batch = batch;
                Step::Wait
            }
        }
    }

    /// One pipelined round trip of XADDs with explicit ids.
    fn write(&mut self, batch: &[Out]) -> BatchOutcome {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for ev in batch {
            let k = ev.stream.idx();
            let cmd = pipe
                .cmd("XADD")
                .arg(&self.keys[k])
                .arg("MAXLEN")
                .arg("~")
                .arg(&self.maxlen[k])
                .arg(stream_id(ev.epoch_ms, ev.seq));
            for (name, value) in &ev.fields {
                cmd.arg(name.as_ref()).arg(value);
            }
        }
        let t0 = Instant::now();
        let Some(conn) = self.link.get(t0) else {
            return BatchOutcome::Failed;
        };
        let res: redis::RedisResult<Vec<redis::RedisResult<redis::Value>>> = pipe.query(conn);
        let results = match res {
            Ok(r) => r,
            Err(e) => {
                self.link.fail("publish", &e);
                return BatchOutcome::Failed;
            }
        };
        // A connection error inside the replies means the tail was not written.
        if let Some(e) = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .find(|e| is_connection_error(e))
        {
            self.link.fail("publish", e);
            return BatchOutcome::Failed;
        }
        self.link.ok();
        self.m.publish_latency.observe(t0.elapsed().as_secs_f64());
        self.m.batches.inc();
        let mut written = 0u64;
        for (ev, r) in batch.iter().zip(results.iter()) {
            let k = ev.stream.idx();
            match r {
                Ok(_) => {
                    written += 1;
                    self.entries[k].inc();
                    if ev.replayed || ev.seq <= self.outage_upto {
                        self.m.replayed.inc();
                    }
                }
                Err(e) if is_duplicate(e) && !self.status.ids_behind.load(Ordering::Relaxed) => {
                    // Already written before a failure: counted, not doubled.
                    self.dups[k].inc();
                }
                Err(e) => {
                    self.rejected[k].inc();
                    if !self.logged_reject[k] {
                        self.logged_reject[k] = true;
                        tracing::error!(stream = %self.keys[k], error = %e, "redis refused an entry (logged once per stream)");
                    }
                }
            }
        }
        self.status.published.fetch_add(written, Ordering::Relaxed);
        BatchOutcome::Done
    }

    /// Engine heartbeat (only while the pipeline moves) and the services' heartbeats.
    fn heartbeats(&mut self, now: Instant) {
        let moving = self.progress.moving(&self.shared, now_ns()) && self.shared.is_running();
        self.status.pipeline_moving.store(moving, Ordering::Relaxed);
        let Some(conn) = self.link.get(now) else {
            return;
        };
        let now_ms = unix_ms();
        let mut pipe = redis::pipe();
        if moving {
            pipe.cmd("SET")
                .arg(&self.cfg.heartbeat_key)
                .arg(heartbeat_value(now_ms))
                .arg("PX")
                .arg(self.cfg.heartbeat_ttl_ms)
                .ignore();
        }
        let keys: Vec<&str> = self
            .status
            .services
            .iter()
            .map(|s| s.key.as_str())
            .collect();
        let has_services = !keys.is_empty();
        if has_services {
            pipe.cmd("MGET").arg(&keys);
        }
        if !moving && !has_services {
            return;
        }
        let r: redis::RedisResult<Vec<Vec<Option<String>>>> = if has_services {
            pipe.query(conn)
        } else {
            pipe.query::<()>(conn).map(|_| Vec::new())
        };
        match r {
            Ok(vals) => {
                self.link.ok();
                if moving {
                    self.m.heartbeats.inc();
                    self.status
                        .heartbeats_written
                        .fetch_add(1, Ordering::Relaxed);
                }
                if let Some(vals) = vals.first() {
                    for (s, v) in self.status.services.iter().zip(vals.iter()) {
                        // An absent (expired) key keeps the last time seen: its age grows.
                        let seen = v.as_deref().and_then(parse_heartbeat).unwrap_or(0);
                        if seen > 0 {
                            s.last_seen_ms.fetch_max(seen, Ordering::Relaxed);
                            // The risk governor's heartbeat gate reads this store.
                            self.shared.heartbeats.record(&s.name, seen);
                        }
                    }
                }
            }
            Err(e) if is_connection_error(&e) => self.link.fail("heartbeat", &e),
            Err(e) => {
                self.m.failures.with_label_values(&["heartbeat"]).inc();
                *self.status.last_error.lock() = format!("heartbeat: {e}");
            }
        }
    }

    fn update_gauges(&mut self) {
        let buffered = self.buf.len() as u64;
        let spilled = self.spill.map(|s| s.count).unwrap_or(0);
        self.m.buffered.set(buffered as i64);
        self.m.spilled.set(spilled as i64);
        self.status.buffered.store(buffered, Ordering::Relaxed);
        self.status.spilled.store(spilled, Ordering::Relaxed);
        let now_ms = unix_ms();
        for s in &self.status.services {
            let v = s.last_seen_ms.load(Ordering::Relaxed);
            let age = if v > 0 {
                now_ms.saturating_sub(v) as f64 / 1e3
            } else {
                -1.0
            };
            self.m.heartbeat_age.with_label_values(&[&s.name]).set(age);
        }
    }

    /// At shutdown: keeps writing until everything is out, Redis is
    /// unreachable, or `shutdown_flush_ms` has passed. What is left goes to
    /// the journal for the next engine life (when it reads a backlog).
    fn flush_at_shutdown(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(self.cfg.shutdown_flush_ms);
        while (!self.buf.is_empty() || self.spill.is_some() || self.backlog.is_some())
            && Instant::now() < deadline
        {
            self.drain_channel();
            if self.link.get(Instant::now()).is_some() {
                if !self.publish_some() {
                    // The journal writer has not flushed the next kept
                    // events yet.
                    std::thread::sleep(Duration::from_millis(1));
                }
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let in_journal = self.spill.map(|s| s.count).unwrap_or(0);
        let (mut kept, mut lost) = (0u64, 0u64);
        for ev in std::mem::take(&mut self.buf) {
            // Samples are never kept; the rest only when a later life reads them.
            let ok = self.carry_over && ev.body.stream() != StreamKind::Market && {
                let f = self.render(&ev);
                self.replay.keep_at_shutdown(&ev, f)
            };
            if ok {
                kept += 1;
            } else {
                lost += 1;
            }
        }
        self.m.journal_kept.inc_by(kept);
        // Kept in the journal but never read back by a later life.
        let stranded = if self.carry_over { 0 } else { in_journal };
        self.update_gauges();
        if lost + stranded > 0 {
            self.m
                .dropped
                .with_label_values(&["shutdown"])
                .inc_by(lost + stranded);
        }
        if kept + in_journal + lost > 0 || self.backlog.is_some() {
            tracing::warn!(
                kept_now = kept,
                already_in_journal = in_journal,
                dropped = lost + stranded,
                backlog_unfinished = self.backlog.is_some(),
                carried_over = self.carry_over,
                "redis publisher stopped with events not written: the journal keeps them for the next engine life (when it carries over), the rest are counted as dropped (shutdown)"
            );
        }
    }
}

/// Redis's answer to an XADD whose explicit id is not above the stream's top.
fn is_duplicate(e: &redis::RedisError) -> bool {
    e.to_string().contains("equal or smaller")
}

/// The epoch for a life whose clock reads `clock_ms`: above the ms part of
/// every stream's last id (`tops`), so that each of its ids is greater than
/// anything already in Redis.
pub fn epoch_above(clock_ms: u64, tops: &[StreamId; 5]) -> u64 {
    let top = tops.iter().map(|t| t.0).max().unwrap_or(0);
    clock_ms.max(top.saturating_add(1))
}

/// The stream tops if Redis answers within its connect timeout now.
fn read_tops_now(url: &str, cfg: &RedisConfig, keys: &[String; 5]) -> Option<[StreamId; 5]> {
    let client = redis::Client::open(url).ok()?;
    let timeout = Duration::from_millis(cfg.connect_timeout_ms.max(1));
    let mut conn = client.get_connection_with_timeout(timeout).ok()?;
    let io = Some(Duration::from_millis(cfg.io_timeout_ms.max(1)));
    conn.set_read_timeout(io).ok()?;
    conn.set_write_timeout(io).ok()?;
    stream_tops(&mut conn, keys).ok()
}

#[cfg(test)]
mod epoch_tests {
    use super::*;

    #[test]
    fn the_epoch_is_above_every_stream_top() {
        let none = [(0, 0); 5];
        assert_eq!(epoch_above(1_000, &none), 1_000);
        let mut t = none;
        t[3] = (5_000, 7);
        assert_eq!(epoch_above(1_000, &t), 5_001);
        t[1] = (999, 3);
        assert_eq!(epoch_above(1_000, &t), 5_001);
        assert_eq!(epoch_above(9_000, &t), 9_000);
        t[0] = (u64::MAX, 1);
        assert_eq!(epoch_above(1, &t), u64::MAX);
    }
}
