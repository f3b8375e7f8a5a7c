//! The exec stage thread: order intents in, exec reports out, through the
//! order gateway (`gateway`): the paper matcher on this thread, or the
//! lock-free hand-off to a venue session and its reports back.

use super::gateway::{ExecPorts, Gateway};
use super::order::{Order, OrderEvent};
use super::paper::match_intent;
use super::positions::Positions;
use crate::config::ExecConfig;
use crate::core::{ExecReport, OrderIntent, OrderStatus, Venue, now_ns};
use crate::pipeline::channel::{Next, RingTx, Rx, SendError};
use crate::pipeline::shared::Shared;
use crate::telemetry::latency::LatencyRecorder;
use prometheus::{Gauge, IntCounter};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Stage name (health slot, latency slot, metric label).
pub const STAGE: &str = "exec";
/// Latency slot of frame-receive → order-ready.
pub const TICK_TO_ORDER: &str = "tick_to_order";
/// Reports the outbox holds before exec stops taking orders (it may go over
/// by the reports of the one order in hand: its fills and its `Done`).
pub const OUTBOX_CAPACITY: usize = 65_536;
/// How long exec waits for room in the reports queue at a time while its
/// outbox is full.
const OUTBOX_WAIT: Duration = Duration::from_millis(1);

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
/// order of reports, never blocks and never drops one: a fill or an order's
/// end that risk never saw would leave its position wrong and its
/// open-order slot taken. Its bound is kept by the exec loop, which takes no
/// new order while the outbox is [`Outbox::full`] (back-pressure: intents
/// wait in, or overflow, the risk-to-exec queue, where no order exists yet).
pub struct Outbox {
    pending: VecDeque<ExecReport>,
    capacity: usize,
    /// Reports that could not be delivered because risk is gone (only when
    /// risk died: at shutdown risk takes reports until exec is done).
    lost: u64,
    closed: bool,
    /// Most reports held at once.
    high_water: usize,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        Self::with_capacity(OUTBOX_CAPACITY)
    }

    /// An outbox that counts as full at `capacity` reports.
    pub fn with_capacity(capacity: usize) -> Self {
        Outbox {
            pending: VecDeque::with_capacity(capacity.min(OUTBOX_CAPACITY) + 16),
            capacity: capacity.max(1),
            lost: 0,
            closed: false,
            high_water: 0,
        }
    }

    /// Sends what is pending while the queue has room (without hitting the
    /// queue's overflow counter on retries).
    pub fn flush(&mut self, tx: &mut RingTx<ExecReport>) {
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
                    self.close();
                }
            }
        }
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
        }
        let n = self.pending.len() as u64 + 1;
        self.lost += n;
        self.pending.clear();
        tracing::error!(
            lost = self.lost,
            "exec reports undeliverable: the risk stage is gone"
        );
    }

    /// Sends one report after anything pending, or keeps it.
    pub fn send(&mut self, tx: &mut RingTx<ExecReport>, r: ExecReport) {
        if self.closed {
            self.lost += 1;
            return;
        }
        if self.pending.is_empty() {
            match tx.try_send(r) {
                Ok(()) => return,
                Err(SendError::Closed(_)) => {
                    self.close();
                    return;
                }
                Err(SendError::Full(_)) => {}
            }
        } else {
            self.flush(tx);
            if self.closed {
                self.lost += 1;
                return;
            }
        }
        self.pending.push_back(r);
        self.high_water = self.high_water.max(self.pending.len());
    }

    /// Whether exec must take no new order until reports drain.
    pub fn full(&self) -> bool {
        self.pending.len() >= self.capacity
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Most reports held at once.
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// Reports that could not be delivered (risk gone).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Sends everything pending, waiting for room; returns once the outbox
    /// is empty or risk is gone.
    pub fn drain(&mut self, tx: &mut RingTx<ExecReport>) {
        self.drain_with(tx, || {});
    }

    /// [`Outbox::drain`], calling `wait` before each pause for room (the
    /// fused layout lets risk take reports there, on the same thread).
    pub fn drain_with(&mut self, tx: &mut RingTx<ExecReport>, mut wait: impl FnMut()) {
        loop {
            self.flush(tx);
            if self.pending.is_empty() || self.closed {
                return;
            }
            wait();
            self.flush(tx);
            if self.pending.is_empty() || self.closed {
                return;
            }
            std::thread::sleep(OUTBOX_WAIT);
        }
    }
}

/// The outbox's Prometheus series.
struct OutboxMetrics {
    pending: prometheus::IntGauge,
    full: IntCounter,
}

impl OutboxMetrics {
    fn new(m: &crate::telemetry::metrics::Metrics) -> Self {
        let pending = prometheus::IntGauge::new(
            "qt_exec_outbox_pending",
            "Exec reports waiting for room in the exec-to-risk queue",
        )
        .expect("valid metric");
        let full = IntCounter::new(
            "qt_exec_outbox_full_total",
            "Times exec stopped taking orders because its reports outbox was full",
        )
        .expect("valid metric");
        // A second engine on one registry: registration only fails.
        let _ = m.registry.register(Box::new(pending.clone()));
        let _ = m.registry.register(Box::new(full.clone()));
        OutboxMetrics { pending, full }
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
    pub fee: crate::core::Money,
    pub fee_asset: crate::core::FeeAsset,
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
    fee: crate::core::Money,
    fee_asset: crate::core::FeeAsset,
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
    /// Per instrument: the `qt_fees_paid{venue,asset}` gauge of its quote
    /// asset, and the instruments sharing it.
    quote_fee_gauge: Vec<(Gauge, Vec<crate::core::InstrumentId>)>,
    quote_fee_group: Vec<usize>,
    /// `qt_fees_paid{venue,asset}` of the other assets seen.
    other_fee_gauges: std::collections::HashMap<(Venue, crate::core::FeeAsset), Gauge>,
}

impl PaperExec {
    pub fn new(shared: Arc<Shared>, cfg: ExecConfig) -> Self {
        let m = &shared.metrics;
        let order_counters = Venue::ALL
            .iter()
            .map(|v| {
                STATUSES.map(|s| {
                    // A paper refusal is always a local one.
                    let reason = if s == OrderStatus::Rejected {
                        crate::exec::refusal::RefusalReason::LocalInvalid.label()
                    } else {
                        ""
                    };
                    m.orders
                        .with_label_values(&[v.as_str(), s.as_str(), reason])
                })
            })
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
        let mut quote_fee_gauge: Vec<(Gauge, Vec<crate::core::InstrumentId>)> = Vec::new();
        let mut quote_fee_group = Vec::new();
        let mut group_of: std::collections::HashMap<(Venue, String), usize> =
            std::collections::HashMap::new();
        for i in shared.instruments.iter() {
            let name = i.quote_name().to_string();
            let k = *group_of.entry((i.venue, name.clone())).or_insert_with(|| {
                quote_fee_gauge.push((
                    m.fees_by_asset
                        .with_label_values(&[i.venue.as_str(), name.as_str()]),
                    Vec::new(),
                ));
                quote_fee_gauge.len() - 1
            });
            quote_fee_gauge[k].1.push(i.id);
            quote_fee_group.push(k);
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
            quote_fee_gauge,
            quote_fee_group,
            other_fee_gauges: std::collections::HashMap::new(),
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
            let Some((position_after, _)) =
                self.positions
                    .apply_fill(f.inst, f.side, f.qty, notional, f.fee, f.fee_asset)
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
                fee_asset: f.fee_asset,
                position_after,
            });
        }
        self.orders = seed.orders;
        self.rejects = seed.rejects;
        for i in shared.instruments.iter() {
            self.update_gauges(i.id);
        }
        let others: Vec<_> = self.positions.other_fees().keys().copied().collect();
        for (v, a) in others {
            self.update_other_fee(v, a);
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
            let Some(r) = self.record_fill(
                o.client_order_id,
                inst_id,
                o.side,
                f.px,
                f.qty,
                f.notional,
                f.fee,
                crate::core::FeeAsset::QUOTE,
            ) else {
                break;
            };
            out(r);
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

    /// Applies one fill to the positions and the fill counters and returns
    /// its report (`None` for an unknown instrument).
    #[allow(clippy::too_many_arguments)]
    fn record_fill(
        &mut self,
        client_order_id: u64,
        inst: crate::core::InstrumentId,
        side: crate::core::Side,
        px: i64,
        qty: i64,
        notional: crate::core::Money,
        fee: crate::core::Money,
        fee_asset: crate::core::FeeAsset,
    ) -> Option<ExecReport> {
        let (position_after, realized_pnl) = self
            .positions
            .apply_fill(inst, side, qty, notional, fee, fee_asset)?;
        if !fee_asset.is_quote()
            && let Some(i) = self.shared.instruments.try_get(inst)
        {
            self.update_other_fee(i.venue, fee_asset);
        }
        self.fills += 1;
        if self.recent_fills.len() >= crate::pipeline::shared::RECENT_FILLS {
            self.recent_fills.pop_front();
        }
        self.recent_fills.push_back(RecentFill {
            client_order_id,
            inst,
            side,
            px,
            qty,
            fee,
            fee_asset,
            position_after,
        });
        if let Some(c) = self.fill_counters.get(inst.idx()) {
            c.inc();
        }
        Some(ExecReport::Fill {
            client_order_id,
            inst,
            side,
            px,
            qty,
            fee,
            fee_asset,
            position_after,
            realized_pnl,
        })
    }

    /// Sets `qt_fees_paid{venue,asset}` of a non-quote fee asset (its gauge
    /// made on the asset's first fee).
    fn update_other_fee(&mut self, venue: Venue, a: crate::core::FeeAsset) {
        let total = self
            .positions
            .other_fees()
            .get(&(venue, a))
            .copied()
            .unwrap_or_default();
        let m = &self.shared.metrics;
        self.other_fee_gauges
            .entry((venue, a))
            .or_insert_with(|| {
                m.fees_by_asset
                    .with_label_values(&[venue.as_str(), a.as_str()])
            })
            .set(total.to_f64());
    }

    /// A venue order handed to the session (venue mode): counted, nothing
    /// reported until the venue speaks.
    pub fn handed_off(&mut self, o: &OrderIntent) {
        self.orders += 1;
        if let (Some(inst), Some(b), Some(a)) = (
            self.shared.instruments.try_get(o.decision.inst),
            o.decision.book.best_bid(),
            o.decision.book.best_ask(),
        ) {
            let mid = 0.5 * (inst.px_f64(b.px) + inst.px_f64(a.px));
            self.positions.set_mark(o.decision.inst, mid);
        }
    }

    /// An order the session could not take (its hand-off ring full): it
    /// never left, so it is rejected locally.
    pub fn handoff_refused(&mut self, o: &OrderIntent, out: impl FnOnce(ExecReport)) {
        self.rejects += 1;
        out(ExecReport::Done {
            client_order_id: o.client_order_id,
            inst: o.decision.inst,
            status: crate::core::OrderStatus::Rejected,
        });
    }

    /// What the venue session reported, as the same exec report a paper
    /// fill or end makes (positions, PnL and fees from the venue's numbers).
    pub fn on_venue(&mut self, r: super::gateway::VenueReport, out: impl FnOnce(ExecReport)) {
        use super::gateway::VenueReport as V;
        match r {
            V::Fill {
                client_order_id,
                inst,
                side,
                px,
                qty,
                fee,
                fee_asset,
            } => {
                let Some(i) = self.shared.instruments.try_get(inst) else {
                    return;
                };
                let notional = super::paper::notional(i, px, qty);
                if let Some(rep) = self.record_fill(
                    client_order_id,
                    inst,
                    side,
                    px,
                    qty,
                    notional,
                    fee,
                    fee_asset,
                ) {
                    out(rep);
                }
                self.update_gauges(inst);
            }
            V::Done {
                client_order_id,
                inst,
                status,
                ..
            } => {
                if status == crate::core::OrderStatus::Rejected {
                    self.rejects += 1;
                }
                out(ExecReport::Done {
                    client_order_id,
                    inst,
                    status,
                });
            }
        }
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
        if let (Some(e), Some(p)) = (
            self.shared.engine_positions.get(k),
            self.positions.get(inst),
        ) {
            e.store(p.qty, Ordering::Release);
        }
        if let (Some(g), Some(p)) = (self.position.get(k), self.positions.get(inst)) {
            g.set(self.positions.qty_f64(inst));
            if let Some(v) = self.fill_volume.get(k) {
                v.set(p.volume_quote.to_f64());
            }
        }
        let m = &self.shared.metrics;
        let fees = self.positions.fees();
        m.realized_pnl
            .set((self.positions.realized() - fees).to_f64());
        m.unrealized_pnl.set(self.positions.unrealized().to_f64());
        m.fees.set(fees.to_f64());
        if let Some((g, members)) = self
            .quote_fee_group
            .get(k)
            .and_then(|g| self.quote_fee_gauge.get(*g))
        {
            let sum: crate::core::Money = members
                .iter()
                .filter_map(|i| self.positions.get(*i))
                .map(|p| p.fees)
                .sum();
            g.set(sum.to_f64());
        }
    }

    /// Publishes the positions view into `shared.positions`.
    pub fn publish(&self) {
        crate::pipeline::thread::timed_work(|| self.publish_now());
    }

    fn publish_now(&self) {
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
                    fee: f.fee.to_f64(),
                    fee_asset: self.positions.fee_asset_name(f.inst, f.fee_asset),
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
    reports: RingTx<ExecReport>,
    shared: Arc<Shared>,
    cfg: ExecConfig,
) {
    run_exec_stage_from(rx, reports, shared, cfg, ExecSeed::default())
}

/// [`run_exec_stage`] starting from recovered state.
pub fn run_exec_stage_from(
    rx: Rx<OrderIntent>,
    reports: RingTx<ExecReport>,
    shared: Arc<Shared>,
    cfg: ExecConfig,
    seed: ExecSeed,
) {
    run_exec_loop(
        rx,
        reports,
        shared,
        cfg,
        seed,
        Outbox::new(),
        Gateway::Paper,
    )
}

/// [`run_exec_stage_from`] with an order gateway: paper, or the hand-off
/// to a venue session (see [`super::gateway`]).
pub fn run_exec_stage_with(
    rx: Rx<OrderIntent>,
    reports: RingTx<ExecReport>,
    shared: Arc<Shared>,
    cfg: ExecConfig,
    seed: ExecSeed,
    gateway: Gateway,
) {
    run_exec_loop(rx, reports, shared, cfg, seed, Outbox::new(), gateway)
}

/// How long exec waits for an intent at a time in venue mode, so the
/// session's reports are taken at least this often.
const VENUE_POLL: Duration = Duration::from_millis(1);

/// The exec stage's turn, shared by both layouts: the outbox and the
/// gateway's reports before each intent ([`ExecRunner::before_item`]), one
/// intent in ([`ExecRunner::on_item`]), the idle work, the stop work
/// ([`ExecRunner::finish`]), health and latencies (tick-to-order
/// included). The threads layout drives it from its own thread
/// ([`run_exec_stage_with`]); the fused layout calls it after the risk stage.
pub struct ExecRunner {
    exec: PaperExec,
    outbox: Outbox,
    gateway: Gateway,
    shared: Arc<Shared>,
    rec: LatencyRecorder,
    t2o: LatencyRecorder,
    om: OutboxMetrics,
    /// The stage's slot in `shared.stages`.
    health: Option<usize>,
    last_publish: u64,
    warned_full: bool,
}

impl ExecRunner {
    /// Restores the recovered state and publishes the first view.
    pub fn new(
        shared: Arc<Shared>,
        cfg: ExecConfig,
        seed: ExecSeed,
        outbox: Outbox,
        gateway: Gateway,
    ) -> ExecRunner {
        let m = shared.metrics.clone();
        let rec = LatencyRecorder::new(&shared.latency, STAGE, m.stage_hist(STAGE));
        let t2o = LatencyRecorder::new(&shared.latency, TICK_TO_ORDER, m.tick_to_order.clone());
        let mut exec = PaperExec::new(shared.clone(), cfg);
        exec.restore(&seed);
        let om = OutboxMetrics::new(&shared.metrics);
        exec.publish();
        ExecRunner {
            exec,
            outbox,
            gateway,
            rec,
            t2o,
            om,
            health: Shared::stage_index(STAGE),
            last_publish: now_ns(),
            warned_full: false,
            shared,
        }
    }

    fn health(&self) -> Option<&crate::pipeline::shared::StageHealth> {
        self.health.map(|i| &self.shared.stages[i])
    }

    /// Before taking the next intent: sends what the outbox holds; while it
    /// is full, calls `wait` (it must let risk take reports) and retries, so
    /// no new order is taken until reports drain (back-pressure). Then takes
    /// the venue session's ready reports. Returns how long to wait for the
    /// next intent at most.
    pub fn before_item(
        &mut self,
        reports: &mut RingTx<ExecReport>,
        mut wait: impl FnMut(),
    ) -> Duration {
        self.outbox.flush(reports);
        self.om.pending.set(self.outbox.pending() as i64);
        if self.outbox.full() {
            // Back-pressure: no new order until risk takes reports.
            self.om.full.inc();
            if !self.warned_full {
                self.warned_full = true;
                tracing::warn!(
                    pending = self.outbox.pending(),
                    "exec outbox full: taking no new order until risk takes its reports (logged once; qt_exec_outbox_full_total counts)"
                );
            }
            while self.outbox.full() {
                wait();
                self.outbox.flush(reports);
            }
            self.om.pending.set(self.outbox.pending() as i64);
        }
        match &mut self.gateway {
            Gateway::Paper => IDLE_BUDGET,
            Gateway::Venue(ports) => {
                take_venue_reports(
                    ports,
                    &mut self.exec,
                    &mut self.outbox,
                    reports,
                    &self.shared,
                );
                VENUE_POLL
            }
        }
    }

    /// One intent: matched on this thread (paper), or handed to the venue
    /// session; its reports go to `reports` (through the outbox). `backlog`
    /// is the input waiting (sampled with each publish in paper mode).
    #[inline]
    pub fn on_item(
        &mut self,
        o: OrderIntent,
        reports: &mut RingTx<ExecReport>,
        backlog: impl FnOnce() -> usize,
    ) {
        // The order is ready to send: right before matching.
        let ready = now_ns();
        self.t2o.record(ready.saturating_sub(o.decision.recv_ns));
        let outbox = &mut self.outbox;
        if let Gateway::Venue(ports) = &mut self.gateway {
            if let Some(p) = self.shared.publish.get() {
                p.emit(crate::pipeline::outbox::Body::order(&o));
            }
            self.exec.handed_off(&o);
            if ports.orders.try_send(o).is_err() {
                // Counted by the queue; the order never left.
                self.exec.handoff_refused(&o, |r| outbox.send(reports, r));
            }
            let now = now_ns();
            self.rec.record(now.saturating_sub(o.hop_ns));
            if let Some(h) = self.health() {
                h.tick(now);
            }
            if now.saturating_sub(self.last_publish) >= PUBLISH_EVERY_NS {
                self.last_publish = now;
                self.exec.publish();
            }
            return;
        }
        match self.shared.publish.get() {
            Some(p) => {
                p.emit(crate::pipeline::outbox::Body::order(&o));
                let venue = o.decision.venue;
                self.exec.execute(&o, |r| {
                    outbox.send(reports, r);
                    p.emit(crate::pipeline::outbox::Body::report(venue, &r));
                });
            }
            None => self.exec.execute(&o, |r| outbox.send(reports, r)),
        }
        let now = now_ns();
        self.rec.record(now.saturating_sub(o.hop_ns));
        if let Some(h) = self.health() {
            h.tick(now);
        }
        if now.saturating_sub(self.last_publish) >= PUBLISH_EVERY_NS {
            self.last_publish = now;
            self.exec.publish();
            if let Some(h) = self.health() {
                h.backlog.store(backlog() as u64, Ordering::Relaxed);
            }
        }
    }

    /// No intent for a while: latencies flushed, the view published (in
    /// venue mode, which idles every millisecond, at the usual pace only).
    pub fn on_idle(&mut self, backlog: usize) {
        let now = now_ns();
        if matches!(self.gateway, Gateway::Venue(_))
            && now.saturating_sub(self.last_publish) < PUBLISH_EVERY_NS
        {
            return;
        }
        self.rec.flush();
        self.t2o.flush();
        self.last_publish = now;
        self.exec.publish();
        if let Some(h) = self.health() {
            h.backlog.store(backlog as u64, Ordering::Relaxed);
        }
    }

    /// The input closed: closes the hand-off to a venue session and takes
    /// what it still reports about orders in flight (for its drain budget,
    /// or until it is gone), then delivers every report the outbox holds,
    /// calling `wait` whenever the reports queue has no room (it must let
    /// risk take reports), and publishes the last view.
    pub fn finish(mut self, reports: &mut RingTx<ExecReport>, mut wait: impl FnMut()) {
        let gateway = std::mem::replace(&mut self.gateway, Gateway::Paper);
        if let Gateway::Venue(ports) = gateway {
            // Closing the hand-off stops the session; it reports what it still
            // learns about orders in flight until it is gone.
            let ExecPorts {
                orders,
                reports: mut from_session,
                drain,
            } = ports;
            drop(orders);
            let until = std::time::Instant::now() + drain;
            while std::time::Instant::now() < until {
                match from_session.next(VENUE_POLL) {
                    Next::Item(r) => {
                        on_venue_report(r, &mut self.exec, &mut self.outbox, reports, &self.shared)
                    }
                    Next::Idle => {
                        self.outbox.flush(reports);
                        wait();
                    }
                    Next::Closed => break,
                }
            }
        }
        self.outbox.drain_with(reports, &mut wait);
        self.om.pending.set(self.outbox.pending() as i64);
        self.rec.flush();
        self.t2o.flush();
        self.exec.publish();
    }
}

/// The exec loop on its own thread: runs until its input closes (at
/// shutdown, once risk has passed on everything it had; the engine's
/// `running` flag does not cut the queue short), then delivers every report
/// it holds before it leaves. While the outbox is full it takes no new
/// order.
fn run_exec_loop(
    mut rx: Rx<OrderIntent>,
    mut reports: RingTx<ExecReport>,
    shared: Arc<Shared>,
    cfg: ExecConfig,
    seed: ExecSeed,
    outbox: Outbox,
    gateway: Gateway,
) {
    let mut stage = ExecRunner::new(shared, cfg, seed, outbox, gateway);
    // Risk takes reports on its own thread: waiting is sleeping.
    let sleep = || std::thread::sleep(OUTBOX_WAIT);
    loop {
        let budget = stage.before_item(&mut reports, sleep);
        match rx.next(budget) {
            Next::Item(o) => stage.on_item(o, &mut reports, || rx.len()),
            Next::Idle => stage.on_idle(rx.len()),
            Next::Closed => break,
        }
    }
    stage.finish(&mut reports, || {});
}

/// Takes every report the session has ready.
fn take_venue_reports(
    ports: &mut ExecPorts,
    exec: &mut PaperExec,
    outbox: &mut Outbox,
    reports: &mut RingTx<ExecReport>,
    shared: &Shared,
) {
    while let Some(r) = ports.reports.try_next() {
        on_venue_report(r, exec, outbox, reports, shared);
    }
}

fn on_venue_report(
    r: super::gateway::VenueReport,
    exec: &mut PaperExec,
    outbox: &mut Outbox,
    reports: &mut RingTx<ExecReport>,
    shared: &Shared,
) {
    let publish = shared.publish.get();
    exec.on_venue(r, |rep| {
        outbox.send(reports, rep);
        if let (Some(p), Some(i)) = (publish, shared.instruments.try_get(report_inst(&rep))) {
            p.emit(crate::pipeline::outbox::Body::report(i.venue, &rep));
        }
    });
}

fn report_inst(r: &ExecReport) -> crate::core::InstrumentId {
    match r {
        ExecReport::Fill { inst, .. } | ExecReport::Done { inst, .. } => *inst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TradingMode, WaitKind};
    use crate::core::{Action, InstrumentId, InstrumentTable, N_FEATURES, Side};
    use crate::exec::paper::tests::{book, inst};
    use crate::pipeline::channel::{queue, spsc};
    use crate::telemetry::metrics::Metrics;

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
        let (rtx, mut rrx) = spsc::<ExecReport>("reports", 64, WaitKind::Park, &m);
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
            assert_eq!(fee.to_string(), "0.03960000");
            assert_eq!(realized_pnl.to_string(), "-1.50000000"); // avg entry 100.50
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
        let o = |s: &str| {
            let reason = if s == "rejected" { "local_invalid" } else { "" };
            m.orders.with_label_values(&["binance", s, reason]).get()
        };
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
        let (mut tx, mut rx) = spsc::<ExecReport>("r", 2, WaitKind::Park, &m);
        let mut ob = Outbox::new();
        let done = |id| ExecReport::Done {
            client_order_id: id,
            inst: InstrumentId(0),
            status: OrderStatus::Filled,
        };
        for id in 1..=5 {
            ob.send(&mut tx, done(id));
        }
        assert_eq!(ob.pending(), 3);
        // One overflow counted by the queue, not one per retry.
        ob.flush(&mut tx);
        assert_eq!(m.queue_overflow.with_label_values(&["r"]).get(), 1);
        let mut ids = Vec::new();
        while ids.len() < 5 {
            while let Next::Item(ExecReport::Done {
                client_order_id, ..
            }) = rx.next(Duration::from_millis(1))
            {
                ids.push(client_order_id);
            }
            ob.flush(&mut tx);
        }
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert_eq!((ob.pending(), ob.lost()), (0, 0));
    }

    /// Risk reads reports slowly through a 2-slot queue; exec's outbox
    /// holds 4: every order still ends with its `Done`, every fill arrives,
    /// and exec paused instead of dropping.
    #[test]
    fn a_full_outbox_pauses_exec_and_loses_no_report() {
        let sh = shared();
        let m = sh.metrics.clone();
        let n = 40u64;
        let (itx, irx) = queue::<OrderIntent>("exec_in", 64, WaitKind::Park, &m);
        let (rtx, mut rrx) = spsc::<ExecReport>("reports", 2, WaitKind::Park, &m);
        for id in 1..=n {
            // Walks both ask levels: two fills and a Done per order.
            itx.try_send(intent(id, Side::Buy, 2_000, 10_100)).unwrap();
        }
        drop(itx);
        let sh2 = sh.clone();
        let exec = std::thread::spawn(move || {
            run_exec_loop(
                irx,
                rtx,
                sh2,
                ExecConfig::default(),
                ExecSeed::default(),
                Outbox::with_capacity(4),
                Gateway::Paper,
            )
        });
        let (mut fills, mut done) = (0u64, Vec::new());
        loop {
            match rrx.next(Duration::from_millis(100)) {
                Next::Item(ExecReport::Fill { .. }) => fills += 1,
                Next::Item(ExecReport::Done {
                    client_order_id, ..
                }) => done.push(client_order_id),
                Next::Idle => {}
                Next::Closed => break,
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        exec.join().unwrap();
        assert_eq!(done, (1..=n).collect::<Vec<_>>());
        assert_eq!(fills, 2 * n);
        assert_eq!(
            m.fills.with_label_values(&["binance", "ETHUSDT"]).get(),
            2 * n
        );
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&m.registry.gather())
            .unwrap();
        let full = text
            .lines()
            .find_map(|l| l.strip_prefix("qt_exec_outbox_full_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(full > 0, "{text}");
    }
}
