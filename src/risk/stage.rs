//! The risk stage thread: decisions (and exec reports) in, order intents out.

use super::control::RiskControl;
use super::governor::Governor;
use crate::config::ExecConfig;
use crate::core::{Decision, ExecReport, OrderIntent, Side, Verdict, now_ns};
use crate::pipeline::channel::{Handoff, Next, RingTx, Rx};
use crate::pipeline::shared::Shared;
use crate::telemetry::latency::LatencyRecorder;
use prometheus::IntCounter;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Stage name (health slot, latency slot, metric label).
pub const STAGE: &str = "risk";

pub const IDLE_BUDGET: Duration = Duration::from_millis(50);
const PUBLISH_EVERY_NS: u64 = 100_000_000;

pub use super::price::limit_price;

/// Builds the order for an EXECUTE verdict (`hop_ns` left 0).
pub fn build_intent(
    d: &Decision,
    client_order_id: u64,
    tick: i64,
    exec: &ExecConfig,
) -> Option<OrderIntent> {
    let side = d.action.side()?;
    let touch = match side {
        Side::Buy => d.book.best_ask()?.px,
        Side::Sell => d.book.best_bid()?.px,
    };
    Some(OrderIntent {
        client_order_id,
        side,
        qty: d.qty,
        limit_px: limit_price(side, touch, tick, exec.max_slippage_bps),
        decision: *d,
        hop_ns: 0,
    })
}

/// Publishes the governor's view (plus journal stats and the recovery
/// summary) and, when it changed, the breaker history.
fn publish(shared: &Shared, ctl: &RiskControl, gov: &mut Governor, history_version: &mut u64) {
    crate::pipeline::thread::timed_work(|| publish_now(shared, ctl, gov, history_version));
}

fn publish_now(shared: &Shared, ctl: &RiskControl, gov: &mut Governor, history_version: &mut u64) {
    gov.housekeeping();
    let future = shared.heartbeats.future_rejected();
    gov.note_heartbeat_future_rejected(future);
    let mut v = gov.view();
    v["heartbeats_future_rejected"] = serde_json::json!(future);
    if let Some(j) = gov.journal() {
        v["journal"] = j.stats().view();
    }
    v["recovery"] = ctl.recovery.lock().clone();
    *shared.risk.lock() = v;
    if gov.breaker().version != *history_version {
        *history_version = gov.breaker().version;
        *ctl.history.lock() = serde_json::to_value(gov.breaker().history()).unwrap_or_default();
    }
}

/// Applies pending admin commands and publishes the new state *before*
/// answering them, so a client that reads the status right after its command
/// succeeded sees the command's effect; `true` if any.
fn serve_commands(
    shared: &Shared,
    ctl: &RiskControl,
    gov: &mut Governor,
    history_version: &mut u64,
) -> bool {
    let mut answered = Vec::new();
    while let Ok(req) = ctl.requests().try_recv() {
        let r = gov.apply(req.cmd);
        answered.push((req.reply, r));
    }
    if answered.is_empty() {
        return false;
    }
    publish(shared, ctl, gov, history_version);
    for (reply, r) in answered {
        let _ = reply.send(r);
    }
    true
}

/// The risk stage's turn, shared by both layouts: exec reports in
/// ([`RiskRunner::take_reports`]), admin commands, one decision in
/// ([`RiskRunner::on_item`]), the idle work, verdict counters, health and
/// latency. The threads layout drives it from its own thread
/// ([`run_risk_stage`]); the fused layout calls it after the score stage and
/// drains exec's reports into it every turn.
pub struct RiskRunner {
    gov: Governor,
    shared: Arc<Shared>,
    ctl: Arc<RiskControl>,
    exec_cfg: ExecConfig,
    rec: LatencyRecorder,
    /// One counter per verdict label (slot 0 = EXECUTE).
    counters: Vec<IntCounter>,
    /// The stage's slot in `shared.stages`.
    health: Option<usize>,
    ticks: Vec<i64>,
    last_publish: u64,
    history_version: u64,
}

impl RiskRunner {
    /// Sets the governor up and publishes its first view.
    pub fn new(
        shared: Arc<Shared>,
        ctl: Arc<RiskControl>,
        mut gov: Governor,
        exec_cfg: ExecConfig,
    ) -> RiskRunner {
        let m = &shared.metrics;
        let rec = LatencyRecorder::new(&shared.latency, STAGE, m.stage_hist(STAGE));
        let counters: Vec<IntCounter> = gov
            .labels()
            .iter()
            .enumerate()
            .map(|(k, l)| {
                if k == 0 {
                    m.verdicts.with_label_values(&["EXECUTE", ""])
                } else {
                    m.verdicts.with_label_values(&["SKIP", l])
                }
            })
            .collect();
        gov.set_max_slippage_bps(exec_cfg.max_slippage_bps);
        m.daily_trade_cap.set(gov.daily_trade_cap() as i64);
        m.daily_trades.set(gov.daily_trades() as i64);
        let ticks: Vec<i64> = shared.instruments.iter().map(|i| i.tick).collect();
        let mut r = RiskRunner {
            gov,
            rec,
            counters,
            health: Shared::stage_index(STAGE),
            ticks,
            last_publish: now_ns(),
            // Never a real version: the first publish renders the history.
            history_version: u64::MAX,
            shared,
            ctl,
            exec_cfg,
        };
        r.publish();
        r
    }

    fn health(&self) -> Option<&crate::pipeline::shared::StageHealth> {
        self.health.map(|i| &self.shared.stages[i])
    }

    fn publish(&mut self) {
        publish(
            &self.shared,
            &self.ctl,
            &mut self.gov,
            &mut self.history_version,
        );
    }

    /// Applies every exec report waiting in `reports`.
    #[inline]
    pub fn take_reports(&mut self, reports: &mut Rx<ExecReport>) {
        while let Some(r) = reports.try_next() {
            self.gov.on_report(&r);
        }
    }

    /// Applies one exec report.
    pub fn on_report(&mut self, r: &ExecReport) {
        self.gov.on_report(r);
    }

    /// Applies pending admin commands (see [`serve_commands`]).
    #[inline]
    pub fn serve_commands(&mut self) {
        serve_commands(
            &self.shared,
            &self.ctl,
            &mut self.gov,
            &mut self.history_version,
        );
    }

    /// Checks one decision, journals and counts the verdict, and hands an
    /// EXECUTE's order to `send`; returns `false` when `send` says exec is
    /// gone (shutting down). `backlog` is the input waiting (sampled with
    /// each publish).
    #[inline]
    pub fn on_item(
        &mut self,
        d: &Decision,
        send: impl FnOnce(OrderIntent) -> Handoff,
        backlog: impl FnOnce() -> usize,
    ) -> bool {
        let m = &self.shared.metrics;
        let v = self.gov.check(d, now_ns());
        if let Some(c) = self.counters.get(self.gov.last_slot()) {
            c.inc();
        }
        self.gov.journal_verdict(d, v);
        let mut closed = false;
        let mut executed = false;
        if v == Verdict::Execute {
            let tick = self.ticks.get(d.inst.idx()).copied().unwrap_or(1);
            let coid = self.gov.next_client_order_id();
            if let Some(mut o) = build_intent(d, coid, tick, &self.exec_cfg) {
                o.hop_ns = now_ns();
                let sent = o;
                match send(o) {
                    Handoff::Sent => {
                        self.gov.on_order_sent(&sent);
                        executed = true;
                        if let Some(p) = self.shared.publish.get() {
                            p.emit(crate::pipeline::outbox::Body::intent(&sent));
                        }
                    }
                    // Dropped (counted by the queue); the order
                    // still counts toward rate and daily cap.
                    Handoff::Full => {}
                    Handoff::Closed => closed = true,
                }
            }
            m.daily_trades.set(self.gov.daily_trades() as i64);
        }
        if let Some(p) = self.shared.publish.get() {
            let slot = self.gov.last_slot();
            p.emit(crate::pipeline::outbox::Body::verdict(d, v, executed, slot));
        }
        let now = now_ns();
        self.rec.record(now.saturating_sub(d.hop_ns));
        if let Some(h) = self.health() {
            h.tick(now);
        }
        if now.saturating_sub(self.last_publish) >= PUBLISH_EVERY_NS {
            self.last_publish = now;
            m.daily_trades.set(self.gov.daily_trades() as i64);
            self.publish();
            if let Some(h) = self.health() {
                h.backlog.store(backlog() as u64, Ordering::Relaxed);
            }
        }
        !closed
    }

    /// No decision for a while: holds and latencies flushed, reports taken,
    /// the view published.
    pub fn on_idle(&mut self, reports: &mut Rx<ExecReport>, backlog: usize) {
        self.rec.flush();
        self.gov.flush_holds();
        self.take_reports(reports);
        self.last_publish = now_ns();
        self.shared
            .metrics
            .daily_trades
            .set(self.gov.daily_trades() as i64);
        self.publish();
        if let Some(h) = self.health() {
            h.backlog.store(backlog as u64, Ordering::Relaxed);
        }
    }

    /// Exec is gone and every report taken: the last flush and publish.
    pub fn finish(&mut self) {
        self.rec.flush();
        self.gov.flush_holds();
        self.publish();
    }

    /// After the decisions closed: takes exec's reports until exec has sent
    /// its last one and gone, serving admin commands meanwhile; then
    /// [`RiskRunner::finish`].
    pub fn drain_reports_until_closed(&mut self, reports: &mut Rx<ExecReport>) {
        loop {
            match reports.next(IDLE_BUDGET) {
                Next::Item(r) => self.gov.on_report(&r),
                Next::Idle => self.serve_commands(),
                Next::Closed => break,
            }
        }
        self.finish();
    }
}

/// Runs the risk stage until its decision input closes (at shutdown, once
/// the score stage has passed on everything it had), then shuts down stage
/// by stage: it closes the exec stage's input and takes every report exec
/// still sends (fills made while draining included, journaled like any
/// other) until exec is gone. The engine's `running` flag does not cut
/// either queue short.
pub fn run_risk_stage(
    mut rx: Rx<Decision>,
    mut reports: Rx<ExecReport>,
    mut tx: RingTx<OrderIntent>,
    shared: Arc<Shared>,
    ctl: Arc<RiskControl>,
    gov: Governor,
    exec_cfg: ExecConfig,
) {
    let mut stage = RiskRunner::new(shared, ctl, gov, exec_cfg);
    loop {
        stage.take_reports(&mut reports);
        stage.serve_commands();
        match rx.next(IDLE_BUDGET) {
            Next::Item(d) => {
                if !stage.on_item(&d, |o| Handoff::of(tx.try_send(o)), || rx.len()) {
                    break;
                }
            }
            Next::Idle => stage.on_idle(&mut reports, rx.len()),
            Next::Closed => break,
        }
    }
    // No more decisions: let exec drain what it holds, and take its reports
    // until it has sent its last one and gone.
    drop(tx);
    stage.drain_reports_until_closed(&mut reports);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TradingMode, WaitKind};
    use crate::core::{Action, Clock, InstrumentId, OrderStatus};
    use crate::pipeline::channel::{queue, spsc};
    use crate::risk::governor::tests::{cfg, decision, table};
    use crate::telemetry::metrics::Metrics;

    #[test]
    fn limit_is_protective_and_on_tick() {
        // ask 100.1 (scale 1, tick 1): 10 bps = 0.1001 -> 1 tick.
        assert_eq!(limit_price(Side::Buy, 1_001, 1, 10.0), 1_002);
        assert_eq!(limit_price(Side::Sell, 1_000, 1, 10.0), 999);
        // 60000.00 with tick 0.10 (scale 2, tick 10): 10 bps = 60.00 -> 600 ticks.
        assert_eq!(limit_price(Side::Buy, 6_000_000, 10, 10.0), 6_006_000);
        // 3 bps of 100.00 = 0.03 < one 0.10 tick: the limit is the touch.
        assert_eq!(limit_price(Side::Buy, 10_000, 10, 3.0), 10_000);
        // 25 bps of 100.00 = 0.25 -> 2 ticks (rounded toward the touch).
        assert_eq!(limit_price(Side::Buy, 10_000, 10, 25.0), 10_020);
        assert_eq!(limit_price(Side::Sell, 10_000, 10, 25.0), 9_980);
        assert_eq!(limit_price(Side::Sell, 5, 10, 1000.0), 5);
        assert_eq!(limit_price(Side::Buy, 10_000, 0, f64::NAN), 10_000);
    }

    #[test]
    fn stage_sends_intents_and_publishes_view() {
        let m = Arc::new(Metrics::new());
        let sh = Arc::new(Shared::new(
            table(),
            m.clone(),
            "t".into(),
            TradingMode::Paper,
        ));
        let (dtx, drx) = queue::<Decision>("risk_in", 16, WaitKind::Park, &m);
        let (mut rtx, rrx) = spsc::<ExecReport>("reports", 16, WaitKind::Park, &m);
        let (otx, mut orx) = spsc::<OrderIntent>("risk_out", 16, WaitKind::Park, &m);
        let gov = Governor::new(
            &cfg(),
            table(),
            vec![10_000],
            Clock::manual(1_723_161_256_299),
            TradingMode::Paper,
        );
        let now = now_ns();
        dtx.try_send(decision(Action::Buy, 1_000, now)).unwrap();
        dtx.try_send(decision(Action::Hold, 1_000, now)).unwrap();
        dtx.try_send(decision(Action::Sell, 1_000, now)).unwrap(); // flat: skipped
        rtx.try_send(ExecReport::Done {
            client_order_id: 99,
            inst: InstrumentId(0),
            status: OrderStatus::Canceled,
        })
        .unwrap();
        drop(dtx);
        // Exec is gone: the reports queue is closed.
        drop(rtx);
        run_risk_stage(
            drx,
            rrx,
            otx,
            sh.clone(),
            Arc::new(RiskControl::new()),
            gov,
            ExecConfig::default(),
        );
        let Next::Item(o) = orx.next(Duration::from_millis(1)) else {
            panic!("no intent")
        };
        assert_eq!(o.client_order_id, 1);
        assert_eq!((o.side, o.qty), (Side::Buy, 1_000));
        assert_eq!(o.limit_px, 1_001 + 1); // 10 bps of 100.1 = 1 tick
        assert!(o.hop_ns > 0);
        assert!(!matches!(orx.next(Duration::from_millis(1)), Next::Item(_)));
        assert_eq!(m.verdicts.with_label_values(&["EXECUTE", ""]).get(), 1);
        assert_eq!(m.verdicts.with_label_values(&["SKIP", "hold"]).get(), 1);
        assert_eq!(
            m.verdicts
                .with_label_values(&["SKIP", "skip_flat_sell"])
                .get(),
            1
        );
        assert_eq!(m.daily_trades.get(), 1);
        let v = sh.risk.lock().clone();
        assert_eq!(v["daily_trades"], 1);
        assert_eq!(v["utc_day"], "2024-08-08");
        assert_eq!(v["open_orders"], 1);
        assert_eq!(
            sh.stage(STAGE).unwrap().processed.load(Ordering::Relaxed),
            3
        );
    }
}
