//! What the hot path hands to the Redis publisher: the small `Copy` events
//! ([`PubEvent`], [`Body`]: no allocation, no formatting), the [`Sink`] the
//! stages queue them into without blocking, and the publisher's
//! [`RedisStatus`] that readiness, the API and the risk gate read. The
//! publisher thread, the rendering into stream fields and the replay live
//! above, in `crate::publish`; this is the part `Shared` holds.

use crate::config::redis::{RedisConfig, ServiceConfig};
use crate::core::clock::unix_ms;
use crate::core::{
    Action, BookTop, Decision, ExecReport, Level, N_FEATURES, OrderIntent, OrderStatus, Side,
    SkipReason, StreamKind, Venue, Verdict,
};
use crate::pipeline::channel::{SendError, Tx};
use parking_lot::Mutex;
use prometheus::IntCounter;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// One event for Redis. `seq` is unique and rising within the engine's life;
/// with the engine's start time it forms the explicit stream id
/// `<epoch_ms>-<seq>` (see docs/redis.md).
#[derive(Debug, Clone, Copy)]
pub struct PubEvent {
    pub seq: u64,
    /// Unix ms when the event was made.
    pub ts_ms: i64,
    pub body: Body,
}

#[derive(Debug, Clone, Copy)]
pub enum Body {
    Decision {
        decision_id: u64,
        venue: Venue,
        inst: u16,
        action: Action,
        score: f32,
        confidence: f32,
        features: [f32; N_FEATURES],
        /// Computed feature slots (only these are written).
        feature_mask: u32,
        /// Number of the model version (`score::versions`).
        model_version: u16,
        exch_ms: i64,
    },
    Verdict {
        decision_id: u64,
        venue: Venue,
        inst: u16,
        action: Action,
        skip: Option<SkipReason>,
        /// The governor's verdict slot: its label names the full reason
        /// (`heartbeat_missing:rl_trainer`).
        slot: u16,
        /// The order was handed to execution.
        executed: bool,
    },
    Intent {
        client_order_id: u64,
        decision_id: u64,
        venue: Venue,
        inst: u16,
        side: Side,
        qty: i64,
        limit_px: i64,
    },
    Order {
        client_order_id: u64,
        decision_id: u64,
        venue: Venue,
        inst: u16,
        side: Side,
        qty: i64,
        limit_px: i64,
    },
    Fill {
        client_order_id: u64,
        venue: Venue,
        inst: u16,
        side: Side,
        px: i64,
        qty: i64,
        fee: crate::core::Money,
        fee_asset: crate::core::FeeAsset,
        position_after: i64,
        realized_pnl: crate::core::Money,
    },
    OrderDone {
        client_order_id: u64,
        venue: Venue,
        inst: u16,
        status: OrderStatus,
    },
    Top {
        venue: Venue,
        inst: u16,
        bid: Level,
        ask: Level,
        update_id: u64,
        exch_ms: i64,
        in_sync: bool,
    },
}

impl Body {
    pub fn decision(d: &Decision) -> Body {
        Body::Decision {
            decision_id: d.id,
            venue: d.venue,
            inst: d.inst.0,
            action: d.action,
            score: d.score,
            confidence: d.confidence,
            features: d.features,
            feature_mask: d.feature_mask,
            model_version: d.model_version,
            exch_ms: d.exch_ms,
        }
    }

    pub fn verdict(d: &Decision, v: Verdict, executed: bool, slot: usize) -> Body {
        Body::Verdict {
            decision_id: d.id,
            venue: d.venue,
            inst: d.inst.0,
            action: d.action,
            skip: match v {
                Verdict::Execute => None,
                Verdict::Skip(r) => Some(r),
            },
            slot: slot.min(u16::MAX as usize) as u16,
            executed,
        }
    }

    pub fn intent(o: &OrderIntent) -> Body {
        Body::Intent {
            client_order_id: o.client_order_id,
            decision_id: o.decision.id,
            venue: o.decision.venue,
            inst: o.decision.inst.0,
            side: o.side,
            qty: o.qty,
            limit_px: o.limit_px,
        }
    }

    pub fn order(o: &OrderIntent) -> Body {
        Body::Order {
            client_order_id: o.client_order_id,
            decision_id: o.decision.id,
            venue: o.decision.venue,
            inst: o.decision.inst.0,
            side: o.side,
            qty: o.qty,
            limit_px: o.limit_px,
        }
    }

    pub fn report(venue: Venue, r: &ExecReport) -> Body {
        match *r {
            ExecReport::Fill {
                client_order_id,
                inst,
                side,
                px,
                qty,
                fee,
                fee_asset,
                position_after,
                realized_pnl,
            } => Body::Fill {
                client_order_id,
                venue,
                inst: inst.0,
                side,
                px,
                qty,
                fee,
                fee_asset,
                position_after,
                realized_pnl,
            },
            ExecReport::Done {
                client_order_id,
                inst,
                status,
            } => Body::OrderDone {
                client_order_id,
                venue,
                inst: inst.0,
                status,
            },
        }
    }

    pub fn stream(&self) -> StreamKind {
        match self {
            Body::Decision { .. } => StreamKind::Decision,
            Body::Verdict { .. } => StreamKind::Verdict,
            Body::Intent { .. } => StreamKind::Intent,
            Body::Order { .. } | Body::Fill { .. } | Body::OrderDone { .. } => {
                StreamKind::Execution
            }
            Body::Top { .. } => StreamKind::Market,
        }
    }
}

/// The hot path's handle: assigns each event its id and queues it without
/// blocking. Held in [`crate::pipeline::shared::Shared::publish`]; made by
/// `crate::publish::start`.
pub struct Sink {
    tx: Tx<PubEvent>,
    next_seq: AtomicU64,
    sample_every_ns: u64,
    last_sample_ns: Vec<AtomicU64>,
    dropped_full: IntCounter,
    pub status: Arc<RedisStatus>,
}

impl Sink {
    /// A sink over `tx`, ids from 1; market tops sampled at most every
    /// `sample_every_ns` (0: none) per instrument of `instruments`;
    /// `dropped_full` counts events a full channel refused.
    pub fn new(
        tx: Tx<PubEvent>,
        sample_every_ns: u64,
        instruments: usize,
        dropped_full: IntCounter,
        status: Arc<RedisStatus>,
    ) -> Sink {
        Sink {
            tx,
            next_seq: AtomicU64::new(1),
            sample_every_ns,
            last_sample_ns: (0..instruments).map(|_| AtomicU64::new(0)).collect(),
            dropped_full,
            status,
        }
    }

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
