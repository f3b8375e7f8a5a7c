//! The exec stage thread: order intents in, exec reports out (paper mode).

use super::order::{Order, OrderEvent};
use super::paper::match_intent;
use super::positions::Positions;
use crate::config::ExecConfig;
use crate::core::{ExecReport, OrderIntent, OrderStatus, Venue, now_ns};
use crate::pipeline::channel::{Next, Rx, SendError, Tx};
use crate::pipeline::latency::LatencyRecorder;
use crate::pipeline::shared::Shared;
use prometheus::{Gauge, IntCounter};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Stage name (health slot, latency slot, metric label).
pub const STAGE: &str = "exec";
/// Latency slot of frame-receive → order-ready.
pub const TICK_TO_ORDER: &str = "tick_to_order";
/// Reports kept locally while the reports queue is full; beyond, dropped.
pub const OUTBOX_CAPACITY: usize = 65_536;

const IDLE_BUDGET: Duration = Duration::from_millis(50);
const PUBLISH_EVERY_NS: u64 = 100_000_000;

const STATUSES: [OrderStatus; 6] = [
    OrderStatus::New,
    OrderStatus::Accepted,
    OrderStatus::PartiallyFilled,
    OrderStatus::Filled,
    OrderStatus::Canceled,
    OrderStatus::Rejected,
];

fn status_idx(s: OrderStatus) -> usize {
    STATUSES.iter().position(|x| *x == s).unwrap_or(0)
}

/// Reports waiting for room in the reports queue, oldest first. Keeps the
/// order of reports; never blocks; drops (and counts) beyond its capacity.
pub struct Outbox {
    pending: VecDeque<ExecReport>,
    dropped: u64,
    closed: bool,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        Outbox {
            pending: VecDeque::with_capacity(OUTBOX_CAPACITY),
            dropped: 0,
            closed: false,
        }
    }

    /// Sends what is pending while the queue has room (without hitting the
    /// queue's overflow counter on retries).
    pub fn flush(&mut self, tx: &Tx<ExecReport>) {
        while !self.pending.is_empty() && tx.len() < tx.capacity() {
            let Some(r) = self.pending.pop_front() else {
                break;
            };
            match tx.try_send(r) {
                Ok(()) => {}
                Err(SendError::Full(r)) => {
                    self.pending.push_front(r);
                    break;
                }
                Err(SendError::Closed(_)) => {
                    self.closed = true;
                    self.pending.clear();
                }
            }
        }
    }

    /// Sends one report after anything pending, or keeps it.
    pub fn send(&mut self, tx: &Tx<ExecReport>, r: ExecReport) {
        if self.closed {
            return;
        }
        if self.pending.is_empty() {
            match tx.try_send(r) {
                Ok(()) => return,
                Err(SendError::Closed(_)) => {
                    self.closed = true;
                    return;
                }
                Err(SendError::Full(_)) => {}
            }
        } else {
            self.flush(tx);
        }
        if self.pending.len() >= OUTBOX_CAPACITY {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(dropped = self.dropped, "exec reports dropped: queue full");
            }
        } else {
            self.pending.push_back(r);
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// One fill recovered from the journal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedFill {
    pub client_order_id: u64,
    pub inst: crate::core::InstrumentId,
    pub side: crate::core::Side,
    pub px: i64,
    pub qty: i64,
    pub fee: f64,
}

/// What restart recovery hands the exec stage: the fills to replay (oldest
/// first) and the order counters.
#[derive(Debug, Clone, Default)]
pub struct ExecSeed {
    pub fills: Vec<SeedFill>,
    pub orders: u64,
    pub rejects: u64,
}

/// One fill as kept for the API view (no allocation on the hot path).
#[derive(Debug, Clone, Copy)]
struct RecentFill {
    client_order_id: u64,
    inst: crate::core::InstrumentId,
    side: crate::core::Side,
    px: i64,
    qty: i64,
    fee: f64,
    position_after: i64,
}

/// Paper execution state: positions, counters and pre-resolved metric
/// handles. Separate from the thread loop so it can be driven in tests.
pub struct PaperExec {
    shared: Arc<Shared>,
    cfg: ExecConfig,
    pub positions: Positions,
    pub orders: u64,
    pub fills: u64,
    pub rejects: u64,
    /// The last fills (bounded), for the API: plain numbers on the hot
    /// path, formatted only when the view is published.
    recent_fills: std::collections::VecDeque<RecentFill>,
    order_counters: Vec<[IntCounter; 6]>,
    fill_counters: Vec<IntCounter>,
    fill_volume: Vec<Gauge>,
    position: Vec<Gauge>,
}

impl PaperExec {
    pub fn new(shared: Arc<Shared>, cfg: ExecConfig) -> Self {
        let m = &shared.metrics;
        let order_counters = Venue::ALL
            .iter()
            .map(|v| STATUSES.map(|s| m.orders.with_label_values(&[v.as_str(), s.as_str()])))
            .collect();
        let labels = |i: &crate::core::Instrument| [i.venue.as_str().to_string(), i.symbol.clone()];
        let mut fill_counters = Vec::new();
        let mut fill_volume = Vec::new();
        let mut position = Vec::new();
        for i in shared.instruments.iter() {
            let l = labels(i);
            let l = [l[0].as_str(), l[1].as_str()];
            fill_counters.push(m.fills.with_label_values(&l));
            fill_volume.push(m.fill_volume.with_label_values(&l));
            position.push(m.position.with_label_values(&l));
        }
        PaperExec {
            positions: Positions::new(shared.instruments.clone()),
            shared,
            cfg,
            orders: 0,
            fills: 0,
            rejects: 0,
            recent_fills: std::collections::VecDeque::with_capacity(
                crate::pipeline::shared::RECENT_FILLS,
            ),
            order_counters,
            fill_counters,
            fill_volume,
            position,
        }
    }

    /// Replays recovered fills into the positions (the same arithmetic as
    /// live fills, so the restored view equals the one before the restart).
    pub fn restore(&mut self, seed: &ExecSeed) {
        let shared = self.shared.clone();
        for f in &seed.fills {
            let Some(inst) = shared.instruments.try_get(f.inst) else {
                continue;
            };
            let notional = super::paper::notional(inst, f.px, f.qty);
            let Some((position_after, _)) = self
                .positions
                .apply_fill(f.inst, f.side, f.px, f.qty, notional, f.fee)
            else {
                continue;
            };
            self.fills += 1;
            if self.recent_fills.len() >= crate::pipeline::shared::RECENT_FILLS {
                self.recent_fills.pop_front();
            }
            self.recent_fills.push_back(RecentFill {
                client_order_id: f.client_order_id,
                inst: f.inst,
                side: f.side,
                px: f.px,
                qty: f.qty,
                fee: f.fee,
                position_after,
            });
        }
        self.orders = seed.orders;
        self.rejects = seed.rejects;
        for i in shared.instruments.iter() {
            self.update_gauges(i.id);
        }
    }

    fn count(&self, venue: Venue, s: OrderStatus) {
        if let Some(c) = self.order_counters.get(venue as usize) {
            c[status_idx(s)].inc();
        }
    }

    fn step(&self, order: &mut Order, venue: Venue, ev: OrderEvent) -> bool {
        match order.apply(ev) {
            Ok(()) => {
                self.count(venue, order.status);
                true
            }
            Err(e) => {
                tracing::error!(client_order_id = order.client_order_id, "{e}");
                false
            }
        }
    }

    /// Runs one intent through the state machine and the paper matcher,
    /// handing each report to `out` (fills first, then `Done`).
    pub fn execute(&mut self, o: &OrderIntent, mut out: impl FnMut(ExecReport)) {
        let d = &o.decision;
        let venue = d.venue;
        let inst_id = d.inst;
        self.orders += 1;
        let mut order = Order::from_intent(o);
        self.count(venue, OrderStatus::New);
        let shared = self.shared.clone();
        let inst = shared.instruments.try_get(inst_id);
        let result = inst.map(|i| match_intent(o, i, self.cfg.taker_fee_bps));
        let (Some(inst), Some(res)) = (inst, result) else {
            self.reject(&mut order, venue, &mut out);
            return;
        };
        if res.status == OrderStatus::Rejected {
            self.reject(&mut order, venue, &mut out);
            return;
        }
        if let (Some(b), Some(a)) = (d.book.best_bid(), d.book.best_ask()) {
            self.positions
                .set_mark(inst_id, 0.5 * (inst.px_f64(b.px) + inst.px_f64(a.px)));
        }
        self.step(&mut order, venue, OrderEvent::Accept);
        for f in res.fills() {
            if !self.step(&mut order, venue, OrderEvent::Fill { qty: f.qty }) {
                break;
            }
            let Some((position_after, realized_pnl)) = self
                .positions
                .apply_fill(inst_id, o.side, f.px, f.qty, f.notional, f.fee)
            else {
                break;
            };
            self.fills += 1;
            if self.recent_fills.len() >= crate::pipeline::shared::RECENT_FILLS {
                self.recent_fills.pop_front();
            }
            self.recent_fills.push_back(RecentFill {
                client_order_id: o.client_order_id,
                inst: inst_id,
                side: o.side,
                px: f.px,
                qty: f.qty,
                fee: f.fee,
                position_after,
            });
            let k = inst_id.idx();
            if let Some(c) = self.fill_counters.get(k) {
                c.inc();
            }
            out(ExecReport::Fill {
                client_order_id: o.client_order_id,
                inst: inst_id,
                side: o.side,
                px: f.px,
                qty: f.qty,
                fee: f.fee,
                position_after,
                realized_pnl,
            });
        }
        if order.status != OrderStatus::Filled {
            self.step(&mut order, venue, OrderEvent::Cancel);
        }
        out(ExecReport::Done {
            client_order_id: o.client_order_id,
            inst: inst_id,
            status: order.status,
        });
        self.update_gauges(inst_id);
    }

    fn reject(&mut self, order: &mut Order, venue: Venue, out: &mut impl FnMut(ExecReport)) {
        self.rejects += 1;
        self.step(order, venue, OrderEvent::Reject);
        out(ExecReport::Done {
            client_order_id: order.client_order_id,
            inst: order.inst,
            status: order.status,
        });
    }

    fn update_gauges(&self, inst: crate::core::InstrumentId) {
        let k = inst.idx();
        if let (Some(g), Some(p)) = (self.position.get(k), self.positions.get(inst)) {
            g.set(self.positions.qty_f64(inst));
            if let Some(v) = self.fill_volume.get(k) {
                v.set(p.volume_quote);
            }
        }
        let m = &self.shared.metrics;
        let fees = self.positions.fees();
        m.realized_pnl.set(self.positions.realized() - fees);
        m.unrealized_pnl.set(self.positions.unrealized());
        m.fees.set(fees);
    }

    /// Publishes the positions view into `shared.positions`.
    pub fn publish(&self) {
        let mut v = self.positions.view(self.orders, self.fills, self.rejects);
        let table = &self.shared.instruments;
        v.recent_fills = self
            .recent_fills
            .iter()
            .filter_map(|f| {
                let inst = table.try_get(f.inst)?;
                Some(crate::pipeline::shared::FillView {
                    client_order_id: f.client_order_id,
                    venue: inst.venue.as_str().to_string(),
                    symbol: inst.symbol.clone(),
                    side: f.side.as_str().to_string(),
                    px: crate::core::format_decimal(f.px, inst.price_scale),
                    qty: crate::core::format_decimal(f.qty, inst.qty_scale),
                    fee: f.fee,
                    position_after: crate::core::format_decimal(f.position_after, inst.qty_scale),
                })
            })
            .collect();
        *self.shared.positions.lock() = v;
    }
}

/// Runs the exec stage until its input closes or the engine stops.
pub fn run_exec_stage(
    rx: Rx<OrderIntent>,
    reports: Tx<ExecReport>,
    shared: Arc<Shared>,
    cfg: ExecConfig,
) {
    run_exec_stage_from(rx, reports, shared, cfg, ExecSeed::default())
}

/// [`run_exec_stage`] starting from recovered state.
pub fn run_exec_stage_from(
    mut rx: Rx<OrderIntent>,
    reports: Tx<ExecReport>,
    shared: Arc<Shared>,
    cfg: ExecConfig,
    seed: ExecSeed,
) {
    let m = shared.metrics.clone();
    let mut rec = LatencyRecorder::new(&shared.latency, STAGE, m.stage_hist(STAGE));
    let mut t2o = LatencyRecorder::new(&shared.latency, TICK_TO_ORDER, m.tick_to_order.clone());
    let mut exec = PaperExec::new(shared.clone(), cfg);
    exec.restore(&seed);
    let mut outbox = Outbox::new();
    let health = shared.stage(STAGE);
    let mut last_publish = now_ns();
    exec.publish();
    while shared.is_running() {
        outbox.flush(&reports);
        match rx.next(IDLE_BUDGET) {
            Next::Item(o) => {
                // The order is ready to send: right before matching.
                let ready = now_ns();
                t2o.record(ready.saturating_sub(o.decision.recv_ns));
                match shared.publish.get() {
                    Some(p) => {
                        p.emit(crate::publish::Body::order(&o));
                        let venue = o.decision.venue;
                        exec.execute(&o, |r| {
                            outbox.send(&reports, r);
                            p.emit(crate::publish::Body::report(venue, &r));
                        });
                    }
                    None => exec.execute(&o, |r| outbox.send(&reports, r)),
                }
                let now = now_ns();
                rec.record(now.saturating_sub(o.hop_ns));
                if let Some(h) = health {
                    h.tick(now);
                }
                if now.saturating_sub(last_publish) >= PUBLISH_EVERY_NS {
                    last_publish = now;
                    exec.publish();
                    if let Some(h) = health {
                        h.backlog.store(rx.len() as u64, Ordering::Relaxed);
                    }
                }
            }
            Next::Idle => {
                rec.flush();
                t2o.flush();
                last_publish = now_ns();
                exec.publish();
                if let Some(h) = health {
                    h.backlog.store(rx.len() as u64, Ordering::Relaxed);
                }
            }
            Next::Closed => break,
        }
    }
    outbox.flush(&reports);
    rec.flush();
    t2o.flush();
    exec.publish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TradingMode, WaitKind};
    use crate::core::{Action, InstrumentId, InstrumentTable, N_FEATURES, Side};
    use crate::exec::paper::tests::{book, inst};
    use crate::ops::metrics::Metrics;
    use crate::pipeline::channel::queue;

    fn shared() -> Arc<Shared> {
        let mut t = InstrumentTable::new();
        t.push(inst());
        Arc::new(Shared::new(
            Arc::new(t),
            Arc::new(Metrics::new()),
            "t".into(),
            TradingMode::Paper,
        ))
    }

    fn intent(id: u64, side: Side, qty: i64, limit_px: i64) -> OrderIntent {
        // bids 99.00 x 1, 98.00 x 2; asks 100.00 x 1, 101.00 x 2 (qty scale 3).
        let b = book(
            &[(9_900, 1_000), (9_800, 2_000)],
            &[(10_000, 1_000), (10_100, 2_000)],
        );
        let now = now_ns();
        let mut book = b;
        book.recv_ns = now;
        OrderIntent {
            client_order_id: id,
            side,
            qty,
            limit_px,
            decision: crate::core::Decision {
                id,
                venue: Venue::Binance,
                inst: InstrumentId(0),
                recv_ns: now,
                hop_ns: now,
                exch_ms: 0,
                action: if side == Side::Buy {
                    Action::Buy
                } else {
                    Action::Sell
                },
                score: 0.0,
                confidence: 0.0,
                model_version: 0,
                feature_mask: 0,
                qty,
                features: [0.0; N_FEATURES],
                book,
            },
            hop_ns: now,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn stage_reports_fills_and_publishes_positions() {
        let sh = shared();
        let m = sh.metrics.clone();
        let (itx, irx) = queue::<OrderIntent>("exec_in", 16, WaitKind::Park, &m);
        let (rtx, mut rrx) = queue::<ExecReport>("reports", 64, WaitKind::Park, &m);
        // BUY 2 walking two levels (limit 101.00), SELL 1 at 99, an invalid
        // order, and a BUY with nothing within its limit.
        itx.try_send(intent(1, Side::Buy, 2_000, 10_100)).unwrap();
        itx.try_send(intent(2, Side::Sell, 1_000, 9_900)).unwrap();
        itx.try_send(intent(3, Side::Buy, 0, 10_100)).unwrap();
        itx.try_send(intent(4, Side::Buy, 1_000, 9_999)).unwrap();
        drop(itx);
        run_exec_stage(irx, rtx, sh.clone(), ExecConfig::default());
        let mut got = Vec::new();
        while let Next::Item(r) = rrx.next(Duration::from_millis(1)) {
            got.push(r);
        }
        let summary: Vec<String> = got
            .iter()
            .map(|r| match r {
                ExecReport::Fill {
                    client_order_id,
                    px,
                    qty,
                    position_after,
                    ..
                } => format!("{client_order_id} fill {qty}@{px} -> {position_after}"),
                ExecReport::Done {
                    client_order_id,
                    status,
                    ..
                } => format!("{client_order_id} {}", status.as_str()),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                "1 fill 1000@10000 -> 1000",
                "1 fill 1000@10100 -> 2000",
                "1 filled",
                "2 fill 1000@9900 -> 1000",
                "2 filled",
                "3 rejected",
                "4 canceled",
            ]
        );
        if let ExecReport::Fill {
            fee, realized_pnl, ..
        } = got[3]
        {
            close(fee, 99.0 * 4e-4);
            close(realized_pnl, 99.0 - 100.5); // avg entry 100.50
        } else {
            panic!("expected a fill");
        }
        let v = sh.positions.lock().clone();
        assert_eq!((v.orders, v.fills, v.rejects), (4, 3, 1));
        close(v.positions[0].qty, 1.0);
        close(v.positions[0].avg_entry_px, 100.5);
        close(v.positions[0].mark_px, 99.5);
        close(v.realized_pnl, -1.5);
        close(v.unrealized_pnl, -1.0);
        close(v.fees, (100.0 + 101.0 + 99.0) * 4e-4);
        let o = |s: &str| m.orders.with_label_values(&["binance", s]).get();
        assert_eq!(
            (
                o("new"),
                o("accepted"),
                o("filled"),
                o("canceled"),
                o("rejected")
            ),
            (4, 3, 2, 1, 1)
        );
        assert_eq!(o("partially_filled"), 1);
        assert_eq!(m.fills.with_label_values(&["binance", "ETHUSDT"]).get(), 3);
        close(
            m.position.with_label_values(&["binance", "ETHUSDT"]).get(),
            1.0,
        );
        close(m.realized_pnl.get(), -1.5 - 0.12);
        assert_eq!(sh.latency.get(TICK_TO_ORDER).unwrap().count, 4);
        assert_eq!(sh.latency.get(STAGE).unwrap().count, 4);
        assert_eq!(
            sh.stage(STAGE).unwrap().processed.load(Ordering::Relaxed),
            4
        );
    }

    #[test]
    fn outbox_keeps_order_when_the_queue_is_full() {
        let m = Metrics::new();
        let (tx, mut rx) = queue::<ExecReport>("r", 2, WaitKind::Park, &m);
        let mut ob = Outbox::new();
        let done = |id| ExecReport::Done {
            client_order_id: id,
            inst: InstrumentId(0),
            status: OrderStatus::Filled,
        };
        for id in 1..=5 {
            ob.send(&tx, done(id));
        }
        assert_eq!(ob.pending(), 3);
        // One overflow counted by the queue, not one per retry.
        ob.flush(&tx);
        assert_eq!(m.queue_overflow.with_label_values(&["r"]).get(), 1);
        let mut ids = Vec::new();
        while ids.len() < 5 {
            while let Next::Item(ExecReport::Done {
                client_order_id, ..
            }) = rx.next(Duration::from_millis(1))
            {
                ids.push(client_order_id);
            }
            ob.flush(&tx);
        }
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert_eq!((ob.pending(), ob.dropped()), (0, 0));
    }
}
