//! The publisher thread (`qt-redis`): drains the event channel into an
//! ordered in-memory buffer, writes it to Redis in pipelined XADD batches
//! with explicit ids, survives outages (buffer up to `buffer_capacity`, then
//! spill: the ids beyond are re-read from the replay source after
//! reconnect), writes the engine heartbeat while the pipeline moves, reads
//! the auxiliary heartbeats, and flushes what it can at shutdown.

use super::event::{PubEvent, StreamKind, fields, stream_id};
use super::heartbeat::{Progress, heartbeat_value, parse_heartbeat};
use super::link::{Link, is_connection_error};
use super::metrics::RedisMetrics;
use super::replay::ReplaySource;
use super::{RedisStatus, Sink};
use crate::config::redis::RedisConfig;
use crate::core::clock::unix_ms;
use crate::core::now_ns;
use crate::pipeline::channel::{Next, Rx, queue};
use crate::pipeline::shared::Shared;
use prometheus::IntCounter;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Ids beyond the memory buffer, to be re-read from the replay source.
#[derive(Debug, Clone, Copy)]
struct Spill {
    first: u64,
    last: u64,
    count: u64,
}

struct Publisher {
    cfg: RedisConfig,
    shared: Arc<Shared>,
    status: Arc<RedisStatus>,
    m: RedisMetrics,
    rx: Rx<PubEvent>,
    link: Link,
    replay: Box<dyn ReplaySource>,
    buf: VecDeque<PubEvent>,
    spill: Option<Spill>,
    /// Events with a seq up to this were made while Redis was unreachable.
    outage_upto: u64,
    keys: [String; 5],
    maxlen: [String; 5],
    entries: [IntCounter; 5],
    dups: [IntCounter; 5],
    rejected: [IntCounter; 5],
    logged_reject: [bool; 5],
    progress: Progress,
    next_heartbeat: Instant,
    heartbeat_interval: Duration,
}

/// Creates the sink and starts the publisher thread.
pub fn start(
    cfg: &RedisConfig,
    services: &[crate::config::redis::ServiceConfig],
    url: &str,
    shared: Arc<Shared>,
    stall_timeout_ms: u64,
    replay: Box<dyn ReplaySource>,
) -> anyhow::Result<(Sink, PublisherHandle)> {
    let m = shared.metrics.redis.clone();
    // The ms part of every stream id of this engine life; a later life starts
    // later, so its ids sort after.
    let epoch_ms = unix_ms().max(1) as u64;
    let status = Arc::new(RedisStatus::new(cfg, services, epoch_ms));
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
    let sink = Sink {
        tx,
        next_seq: AtomicU64::new(1),
        sample_every_ns,
        last_sample_ns: (0..shared.instruments.len())
            .map(|_| AtomicU64::new(0))
            .collect(),
        dropped_full: m.dropped.with_label_values(&["channel_full"]),
        status: status.clone(),
    };
    let s = &cfg.streams;
    let streams = [&s.decision, &s.intent, &s.verdict, &s.execution, &s.market];
    let label = |v: &prometheus::IntCounterVec| -> [IntCounter; 5] {
        StreamKind::ALL.map(|k| v.with_label_values(&[k.as_str()]))
    };
    for sv in &status.services {
        m.heartbeat_age.with_label_values(&[&sv.name]).set(-1.0);
    }
    m.heartbeat_age.with_label_values(&["engine"]).set(-1.0);
    let p = Publisher {
        keys: streams.map(|s| s.key.clone()),
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
        replay,
        buf: VecDeque::with_capacity(cfg.buffer_capacity.min(1 << 16)),
        spill: None,
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
            epoch_ms = self.status.epoch_ms,
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
            left = self.buf.len() as u64 + self.spill.map(|s| s.count).unwrap_or(0),
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
            // Samples are not journaled: beyond the buffer they are dropped.
            self.m
                .dropped
                .with_label_values(&["market_sample_buffer_full"])
                .inc();
            return;
        }
        match &mut self.spill {
            Some(s) => {
                s.last = ev.seq;
                s.count += 1;
            }
            None => {
                tracing::warn!(
                    buffered = self.buf.len(),
                    first_seq = ev.seq,
                    replay = self.replay.name(),
                    "redis buffer full: further events will be re-read from the replay source"
                );
                self.spill = Some(Spill {
                    first: ev.seq,
                    last: ev.seq,
                    count: 1,
                });
            }
        }
    }

    /// Writes one batch from the buffer, or from the replay source once the
    /// buffer is empty and a spill is pending. Returns whether it wrote.
    fn publish_some(&mut self) -> bool {
        if !self.buf.is_empty() {
            let n = self.buf.len().min(self.cfg.batch_size);
            let batch: Vec<PubEvent> = self.buf.range(..n).copied().collect();
            return match self.write(&batch) {
                BatchOutcome::Done => {
                    self.buf.drain(..n);
                    true
                }
                BatchOutcome::Failed => false,
            };
        }
        let Some(sp) = self.spill else { return false };
        match self.replay.read(sp.first, sp.last, self.cfg.batch_size) {
            Ok(evs) if evs.is_empty() => {
                tracing::warn!(
                    first_seq = sp.first,
                    last_seq = sp.last,
                    events = sp.count,
                    replay = self.replay.name(),
                    "events beyond the redis buffer are not in the replay source: counted as dropped"
                );
                self.m
                    .dropped
                    .with_label_values(&["not_replayable"])
                    .inc_by(sp.count);
                self.spill = None;
                true
            }
            Ok(evs) => {
                // Only what the spill covers, in order.
                let evs: Vec<PubEvent> = evs
                    .into_iter()
                    .filter(|e| e.seq >= sp.first && e.seq <= sp.last)
                    .collect();
                let Some(last) = evs.last().map(|e| e.seq) else {
                    self.spill = None;
                    return true;
                };
                match self.write(&evs) {
                    BatchOutcome::Done => {
                        let n = evs.len() as u64;
                        if last >= sp.last {
                            self.spill = None;
                        } else {
                            self.spill = Some(Spill {
                                first: last + 1,
                                last: sp.last,
                                count: sp.count.saturating_sub(n),
                            });
                        }
                        true
                    }
                    BatchOutcome::Failed => false,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "replay source failed; will retry");
                false
            }
        }
    }

    /// One pipelined round trip of XADDs with explicit ids.
    fn write(&mut self, batch: &[PubEvent]) -> BatchOutcome {
        let epoch = self.status.epoch_ms;
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for ev in batch {
            let k = ev.body.stream().idx();
            let labels = self
                .status
                .verdict_labels
                .get()
                .map(|v| v.as_slice())
                .unwrap_or(&[]);
            let f = fields(
                ev,
                epoch,
                &self.shared.instruments,
                &self.shared.model_version,
                labels,
            );
            let cmd = pipe
                .cmd("XADD")
                .arg(&self.keys[k])
                .arg("MAXLEN")
                .arg("~")
                .arg(&self.maxlen[k])
                .arg(stream_id(epoch, ev.seq));
            for (name, value) in &f {
                cmd.arg(*name).arg(value);
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
            let k = ev.body.stream().idx();
            match r {
                Ok(_) => {
                    written += 1;
                    self.entries[k].inc();
                    if ev.seq <= self.outage_upto {
                        self.m.replayed.inc();
                    }
                }
                Err(e) if is_duplicate(e) => {
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
    /// unreachable, or `shutdown_flush_ms` has passed.
    fn flush_at_shutdown(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(self.cfg.shutdown_flush_ms);
        while (!self.buf.is_empty() || self.spill.is_some()) && Instant::now() < deadline {
            self.drain_channel();
            if self.link.get(Instant::now()).is_some() {
                self.publish_some();
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.update_gauges();
        let left = self.buf.len() as u64 + self.spill.map(|s| s.count).unwrap_or(0);
        if left > 0 {
            tracing::warn!(
                left,
                "redis publisher stopped with events not written (the journal keeps them)"
            );
        }
    }
}

/// Redis's answer to an XADD whose explicit id is not above the stream's top.
fn is_duplicate(e: &redis::RedisError) -> bool {
    e.to_string().contains("equal or smaller")
}
