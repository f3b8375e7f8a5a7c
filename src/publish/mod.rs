//! Redis publishing and heartbeats, off the hot path. Stages hand small
//! `Copy` events to a [`Sink`] (a bounded channel fed with `try_send`: never
//! blocking, overflow counted); the publisher thread (`qt-redis`, a blocking
//! connection of its own) drains it into Redis streams with pipelined
//! `XADD <key> MAXLEN ~ N <epoch_ms>-<seq> field value …`, keeps what it
//! could not write through outages (memory up to a bound, then the replay
//! source), reconnects with backoff, jitter and a breaker, writes the
//! engine's heartbeat only while the pipeline moves, and reads the auxiliary
//! services' heartbeats. See docs/redis.md.

pub mod api;
pub mod backlog;
pub mod event;
pub mod heartbeat;
pub mod link;
pub mod metrics;
pub mod publisher;
pub mod replay;

pub use backlog::Backlog;
pub use event::{Body, PubEvent, StreamKind};
pub use publisher::{PublisherHandle, Replay, start};
pub use replay::{JournalReplay, NoReplay, ReplaySource};

use crate::config::redis::RedisConfig;
use crate::config::redis::ServiceConfig;
use crate::core::BookTop;
use crate::core::clock::unix_ms;
use crate::pipeline::channel::{SendError, Tx};
use parking_lot::Mutex;
use prometheus::IntCounter;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// The hot path's handle: assigns each event its id and queues it without
/// blocking. Held in [`crate::pipeline::shared::Shared::publish`].
pub struct Sink {
    tx: Tx<PubEvent>,
    next_seq: AtomicU64,
    sample_every_ns: u64,
    last_sample_ns: Vec<AtomicU64>,
    dropped_full: IntCounter,
    pub status: Arc<RedisStatus>,
}

impl Sink {
    /// Queues one event; a full channel drops it (counted twice: the queue's
    /// overflow counter and `qt_redis_dropped_total{reason="channel_full"}`).
    #[inline]
    pub fn emit(&self, body: Body) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let ev = PubEvent {
            seq,
            ts_ms: unix_ms(),
            body,
        };
        if let Err(SendError::Full(_)) = self.tx.try_send(ev) {
            self.dropped_full.inc();
        }
    }

    /// Offers a top of book; queued at most `market_sample_per_sec` times a
    /// second per instrument. Called by the one thread that owns the books.
    #[inline]
    pub fn sample_top(&self, t: &BookTop, now_ns: u64) {
        if self.sample_every_ns == 0 || !t.in_sync {
            return;
        }
        let Some(last) = self.last_sample_ns.get(t.inst.idx()) else {
            return;
        };
        let prev = last.load(Ordering::Relaxed);
        if prev != 0 && now_ns.saturating_sub(prev) < self.sample_every_ns {
            return;
        }
        let (Some(bid), Some(ask)) = (t.best_bid(), t.best_ask()) else {
            return;
        };
        last.store(now_ns.max(1), Ordering::Relaxed);
        self.emit(Body::Top {
            venue: t.venue,
            inst: t.inst.0,
            bid,
            ask,
            update_id: t.update_id,
            exch_ms: t.exch_ms,
            in_sync: t.in_sync,
        });
    }

    /// Events queued so far (the next id minus one).
    pub fn emitted(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed).saturating_sub(1)
    }
}

/// What one auxiliary service's heartbeat looks like now.
pub struct ServiceState {
    pub name: String,
    pub key: String,
    /// Unix ms of its last heartbeat as read from Redis (0 = never seen).
    pub last_seen_ms: AtomicI64,
}

/// The publisher's state for readiness, the API and the risk gate.
pub struct RedisStatus {
    pub required: bool,
    /// The engine life's epoch: the ms part of every stream id of this life.
    /// Above every stream's last id in Redis (see `publisher::epoch_above`):
    /// raised once, before this life writes or keeps anything, when the
    /// clock is behind them.
    pub epoch_ms: AtomicU64,
    /// Set when this life's ids are below a stream's last id and could not
    /// be raised (entries it had kept already carry them): Redis refuses
    /// them, counted as `rejected`, never as duplicates.
    pub ids_behind: AtomicBool,
    pub connected: AtomicBool,
    pub breaker_open: AtomicBool,
    pub last_error: Mutex<String>,
    pub services: Vec<ServiceState>,
    /// Whether the pipeline was moving at the last heartbeat check.
    pub pipeline_moving: AtomicBool,
    pub heartbeats_written: AtomicU64,
    pub published: AtomicU64,
    pub buffered: AtomicU64,
    pub spilled: AtomicU64,
    /// Where events beyond the memory buffer go (`journal` or `none`).
    pub replay: &'static str,
    /// Earlier lives' backlog: `off`, `pending` (Redis not reached yet),
    /// `replaying`, `done` or `failed`.
    pub backlog: Mutex<&'static str>,
    /// The governor's verdict labels by slot (`heartbeat_missing:<service>`, ...).
    pub verdict_labels: std::sync::OnceLock<Vec<Arc<str>>>,
}

impl RedisStatus {
    /// This life's epoch (see [`RedisStatus::epoch_ms`]).
    pub fn epoch(&self) -> u64 {
        self.epoch_ms.load(Ordering::Relaxed)
    }

    /// `services`: every heartbeat to read (see [`services_to_read`]).
    pub fn new(cfg: &RedisConfig, services: &[ServiceConfig], epoch_ms: u64) -> RedisStatus {
        RedisStatus {
            required: cfg.required,
            epoch_ms: AtomicU64::new(epoch_ms),
            ids_behind: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            breaker_open: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            services: services
                .iter()
                .map(|s| ServiceState {
                    name: s.name.clone(),
                    key: s.key.clone(),
                    last_seen_ms: AtomicI64::new(0),
                })
                .collect(),
            verdict_labels: std::sync::OnceLock::new(),
            pipeline_moving: AtomicBool::new(false),
            heartbeats_written: AtomicU64::new(0),
            published: AtomicU64::new(0),
            buffered: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            replay: "none",
            backlog: Mutex::new("off"),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Service name -> unix ms of its last heartbeat (`None` = never seen).
    pub fn heartbeat_snapshot(&self) -> Vec<(String, Option<i64>)> {
        self.services
            .iter()
            .map(|s| {
                let v = s.last_seen_ms.load(Ordering::Relaxed);
                (s.name.clone(), (v > 0).then_some(v))
            })
            .collect()
    }

    /// JSON for `/api/redis` and `/ready`'s checks.
    pub fn view(&self, now_ms: i64) -> serde_json::Value {
        let services: Vec<_> = self
            .services
            .iter()
            .map(|s| {
                let v = s.last_seen_ms.load(Ordering::Relaxed);
                let age = (v > 0).then(|| now_ms.saturating_sub(v));
                json!({
                    "name": s.name,
                    "key": s.key,
                    "last_seen_ms": (v > 0).then_some(v),
                    "age_ms": age,
                })
            })
            .collect();
        json!({
            "enabled": true,
            "required": self.required,
            "connected": self.is_connected(),
            "breaker_open": self.breaker_open.load(Ordering::Relaxed),
            "last_error": self.last_error.lock().clone(),
            "epoch_ms": self.epoch(),
            "ids_behind": self.ids_behind.load(Ordering::Relaxed),
            "published": self.published.load(Ordering::Relaxed),
            "buffered": self.buffered.load(Ordering::Relaxed),
            "spilled": self.spilled.load(Ordering::Relaxed),
            "replay": self.replay,
            "backlog": *self.backlog.lock(),
            "pipeline_moving": self.pipeline_moving.load(Ordering::Relaxed),
            "engine_heartbeats": self.heartbeats_written.load(Ordering::Relaxed),
            "services": services,
        })
    }
}

/// The heartbeats to read: `[[redis.services]]`, plus every
/// `[[risk.heartbeats]]` service not listed there (at its default key).
pub fn services_to_read(cfg: &crate::config::Config) -> Vec<ServiceConfig> {
    let mut v = cfg.redis.services.clone();
    for h in &cfg.risk.heartbeats {
        if !v.iter().any(|s| s.name == h.service) {
            v.push(ServiceConfig {
                name: h.service.clone(),
                key: crate::config::redis::default_key(&h.service),
            });
        }
    }
    v
}
