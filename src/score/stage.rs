//! The score stage thread: book tops and trades in, decisions out.
//!
//! Between two events the stage polls for a reloaded model
//! ([`super::reload`]); while one is in shadow, both models score every
//! decision and only the live one's goes downstream; at the end of the
//! shadow run the candidate replaces the live model before the next event.

use super::features::FeatureState;
use super::manifest::Model;
use super::registry::FeaturePlan;
use super::reload::{Candidate, ModelControl, ROW_EVERY, ScoringModel, ShadowOutcome};
use super::shadow::ShadowStats;
use super::versions;
use crate::config::ModelConfig;
use crate::core::{Action, BookTop, Decision, InstrumentId, N_FEATURES, ScoreInput, now_ns};
use crate::pipeline::channel::{Handoff, Next, RingTx, Rx};
use crate::pipeline::shared::Shared;
use crate::telemetry::latency::LatencyRecorder;
use crate::telemetry::metrics::Metrics;
use crossbeam_channel::Receiver;
use prometheus::IntCounter;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Stage name (health slot, latency slot, metric label).
pub const STAGE: &str = "score";

/// How long the stage waits for input before it counts as idle.
pub const IDLE_BUDGET: Duration = Duration::from_millis(50);

/// A candidate model being shadow-scored.
struct ShadowRun {
    cand: Candidate,
    stats: ShadowStats,
}

/// Scoring state of the stage, separate from the thread loop so it can be
/// driven directly in tests.
pub struct Scorer {
    model: Model,
    /// Number of the live model's version (`score::versions`).
    version: u16,
    live_plan: FeaturePlan,
    /// Features computed per event: the live plan, plus the candidate's in shadow.
    plan: FeaturePlan,
    shadow: Option<ShadowRun>,
    ctl: Arc<ModelControl>,
    candidates: Receiver<Candidate>,
    metrics: Arc<Metrics>,
    mode: &'static str,
    cooldown_ms: i64,
    states: Vec<FeatureState>,
    /// Exchange time of the last non-HOLD decision, per instrument.
    last_signal_ms: Vec<Option<i64>>,
    order_qty: Vec<i64>,
    next_id: u64,
}

impl Scorer {
    /// A scorer with a model control of its own (benches, backtests, tools:
    /// nothing reloads its model); it still tells the book stage, through
    /// `shared`, which depth features the model wants.
    pub fn new(shared: &Shared, model: Model, cfg: &ModelConfig, order_qty: Vec<i64>) -> Scorer {
        let ctl = Arc::new(ModelControl::sharing(shared.wants_depth10.clone()));
        Scorer::with_control(shared, ctl, model, cfg, order_qty)
    }

    /// A scorer driven by `ctl` (the engine's: the model API reloads through
    /// it).
    pub fn with_control(
        shared: &Shared,
        ctl: Arc<ModelControl>,
        model: Model,
        cfg: &ModelConfig,
        order_qty: Vec<i64>,
    ) -> Scorer {
        let states = shared
            .instruments
            .iter()
            .map(|i| FeatureState::new(i, cfg.trade_flow_window_ms, cfg.return_horizon_ms))
            .collect::<Vec<_>>();
        let n = states.len();
        let version = versions::intern(model.version_str()).unwrap_or(u16::MAX);
        let names = model.feature_names();
        let live_plan =
            FeaturePlan::from_names(names.iter().map(String::as_str)).unwrap_or(FeaturePlan::all());
        ctl.start_with(
            model.version_str(),
            version,
            live_plan,
            crate::core::clock::unix_ms(),
        );
        ctl.set_active_plan(live_plan);
        shared
            .metrics
            .model
            .live
            .with_label_values(&[model.version_str()])
            .set(1);
        Scorer {
            model,
            version,
            live_plan,
            plan: live_plan,
            shadow: None,
            candidates: ctl.candidates(),
            ctl,
            metrics: shared.metrics.clone(),
            mode: shared.mode.as_str(),
            cooldown_ms: cfg.decision_cooldown_ms.min(i64::MAX as u64) as i64,
            states,
            last_signal_ms: vec![None; n],
            order_qty,
            next_id: 1,
        }
    }

    /// Computes every registered feature on each event, not only those the
    /// live model reads (the features export: training data for a model
    /// that may read other features). Scores are unchanged.
    pub fn compute_every_feature(&mut self) {
        self.live_plan = FeaturePlan::all();
        self.plan = self.live_plan;
        self.ctl.set_active_plan(self.plan);
    }

    /// The live model's version string.
    pub fn live_version(&self) -> &str {
        self.model.version_str()
    }

    /// Whether a candidate is being shadow-scored.
    pub fn in_shadow(&self) -> bool {
        self.shadow.is_some()
    }

    /// Updates features with one input and, when the instrument's last book
    /// is in sync and two-sided, returns the decision (HOLD included).
    /// `hop_ns` of the decision is left 0 (set at hand-off).
    pub fn on_input(&mut self, ev: &ScoreInput) -> Option<Decision> {
        if self.shadow.is_none()
            && self.ctl.candidate_pending()
            && let Ok(c) = self.candidates.try_recv()
        {
            self.begin_shadow(c);
        }
        let (inst, recv_ns, exch_ms) = match ev {
            ScoreInput::Book(b) => (b.inst, b.recv_ns, b.exch_ms),
            ScoreInput::Trade {
                inst,
                recv_ns,
                exch_ms,
                ..
            } => (*inst, *recv_ns, *exch_ms),
        };
        let st = self.states.get_mut(inst.idx())?;
        match ev {
            ScoreInput::Book(b) => st.on_book(b),
            ScoreInput::Trade { trade, .. } => st.on_trade(exch_ms, trade),
        }
        let features = st.compute_plan(self.plan)?;
        let book: BookTop = *st.last_book()?;
        let (mut action, score, confidence) = self.model.score_features(&features);
        let mut shadow_done = false;
        if let Some(sh) = self.shadow.as_mut() {
            let (ca, cs, _) = sh.cand.model.score_features(&features);
            sh.stats.add((action, score), (ca, cs));
            let (n, a, r) = (
                sh.stats.decisions(),
                sh.stats.agreement(),
                sh.stats.correlation(),
            );
            self.ctl.shadow_progress(n, a, r);
            let m = &self.metrics.model;
            m.shadow_decisions.set(n as i64);
            m.shadow_agreement.set(a.unwrap_or(f64::NAN));
            m.shadow_correlation.set(r.unwrap_or(f64::NAN));
            shadow_done = n >= sh.cand.shadow_decisions;
        }
        if action != Action::Hold {
            action = self.cooldown(inst, exch_ms, action);
        }
        let mut f32s = [0.0f32; N_FEATURES];
        for (o, v) in f32s.iter_mut().zip(features.iter()) {
            *o = *v as f32;
        }
        let id = self.next_id;
        self.next_id += 1;
        if id.is_multiple_of(ROW_EVERY) {
            self.ctl.rows.record(&features);
        }
        let d = Decision {
            id,
            venue: book.venue,
            inst,
            recv_ns,
            hop_ns: 0,
            exch_ms,
            action,
            score,
            confidence,
            model_version: self.version,
            feature_mask: self.plan.mask(),
            qty: self.order_qty.get(inst.idx()).copied().unwrap_or(0),
            features: f32s,
            book,
        };
        if shadow_done {
            self.finish_shadow();
        }
        Some(d)
    }

    /// A candidate arrived: shadow it, or swap at once for `shadow_decisions = 0`.
    fn begin_shadow(&mut self, c: Candidate) {
        let m = &self.metrics.model;
        m.shadow_target.set(c.shadow_decisions as i64);
        m.shadow_decisions.set(0);
        m.shadow_agreement.set(f64::NAN);
        m.shadow_correlation.set(f64::NAN);
        self.ctl.shadow_started(c.version, c.shadow_decisions);
        self.plan = self.live_plan.union(c.plan);
        self.ctl.set_active_plan(self.plan);
        self.shadow = Some(ShadowRun {
            cand: c,
            stats: ShadowStats::default(),
        });
        if self
            .shadow
            .as_ref()
            .is_some_and(|s| s.cand.shadow_decisions == 0)
        {
            self.finish_shadow();
        }
    }

    /// Ends the shadow run: swap, or drop the candidate below the agreement floor.
    fn finish_shadow(&mut self) {
        let Some(run) = self.shadow.take() else {
            return;
        };
        let now_ms = crate::core::clock::unix_ms();
        let stats = run.stats;
        let c = run.cand;
        let agreement = stats.agreement();
        let swapped = c.min_agreement <= 0.0 || agreement.unwrap_or(0.0) >= c.min_agreement;
        let outcome = ShadowOutcome {
            version: c.version,
            swapped,
            decisions: stats.decisions(),
            agreement,
            correlation: stats.correlation(),
            min_agreement: c.min_agreement,
            at_ms: now_ms,
        };
        let m = &self.metrics.model;
        if swapped {
            let old = std::mem::replace(&mut self.model, c.model);
            let new_version = self.model.version_str();
            m.live.with_label_values(&[old.version_str()]).set(0);
            m.live.with_label_values(&[new_version]).set(1);
            m.swaps.inc();
            let pkg = env!("CARGO_PKG_VERSION");
            let _ =
                self.metrics
                    .build_info
                    .remove_label_values(&[pkg, old.version_str(), self.mode]);
            self.metrics
                .build_info
                .with_label_values(&[pkg, new_version, self.mode])
                .set(1);
            tracing::info!(
                from = old.version_str(),
                to = new_version,
                shadow_decisions = stats.decisions(),
                agreement = ?agreement,
                score_correlation = ?stats.correlation(),
                "model swapped at an event boundary"
            );
            self.version = c.version;
            self.live_plan = c.plan;
            self.ctl.set_live(c.version, c.plan, now_ms);
        } else {
            m.reloads.with_label_values(&["rejected_in_shadow"]).inc();
            tracing::warn!(
                candidate = c.model.version_str(),
                live = self.model.version_str(),
                agreement = ?agreement,
                min_agreement = c.min_agreement,
                "model candidate rejected after shadow scoring; the live model keeps trading"
            );
        }
        self.plan = self.live_plan;
        self.ctl.set_active_plan(self.plan);
        self.ctl.shadow_finished(outcome);
    }

    /// BUY/SELL within `decision_cooldown_ms` (exchange time) of the last
    /// non-HOLD decision on the instrument becomes HOLD.
    fn cooldown(&mut self, inst: InstrumentId, exch_ms: i64, action: Action) -> Action {
        let Some(slot) = self.last_signal_ms.get_mut(inst.idx()) else {
            return Action::Hold;
        };
        if let Some(last) = *slot
            && exch_ms.saturating_sub(last) < self.cooldown_ms
        {
            return Action::Hold;
        }
        *slot = Some(exch_ms);
        action
    }
}

/// The score stage's turn, shared by both layouts: one input in
/// ([`ScoreRunner::on_item`]), the idle work, the decision counters, health
/// and latency. The threads layout drives it from its own thread
/// ([`run_score_stage`]); the fused layout calls it after the book stage.
pub struct ScoreRunner {
    scorer: Scorer,
    shared: Arc<Shared>,
    rec: LatencyRecorder,
    c_buy: IntCounter,
    c_sell: IntCounter,
    c_hold: IntCounter,
    /// The stage's slot in `shared.stages`.
    health: Option<usize>,
    n: u32,
}

impl ScoreRunner {
    pub fn new(
        shared: Arc<Shared>,
        ctl: Arc<ModelControl>,
        model: Model,
        cfg: &ModelConfig,
        order_qty: Vec<i64>,
    ) -> ScoreRunner {
        let m = &shared.metrics;
        let rec = LatencyRecorder::new(&shared.latency, STAGE, m.stage_hist(STAGE));
        let count = |a: Action| -> IntCounter { m.decisions.with_label_values(&[a.as_str()]) };
        let (c_buy, c_sell, c_hold) =
            (count(Action::Buy), count(Action::Sell), count(Action::Hold));
        let scorer = Scorer::with_control(&shared, ctl, model, cfg, order_qty);
        ScoreRunner {
            scorer,
            shared,
            rec,
            c_buy,
            c_sell,
            c_hold,
            health: Shared::stage_index(STAGE),
            n: 0,
        }
    }

    /// Scores one input and hands the decision (if any) to `send`; returns
    /// `false` when `send` says downstream is gone (shutting down).
    /// `backlog` is the input waiting (sampled every 256 inputs).
    #[inline]
    pub fn on_item(
        &mut self,
        ev: &ScoreInput,
        send: impl FnOnce(Decision) -> Handoff,
        backlog: impl FnOnce() -> usize,
    ) -> bool {
        let hop_in = match ev {
            ScoreInput::Book(b) => b.hop_ns,
            ScoreInput::Trade { hop_ns, .. } => *hop_ns,
        };
        let out = self.scorer.on_input(ev);
        let now = now_ns();
        if let Some(mut d) = out {
            match d.action {
                Action::Buy => self.c_buy.inc(),
                Action::Sell => self.c_sell.inc(),
                Action::Hold => self.c_hold.inc(),
            }
            d.hop_ns = now;
            if send(d) == Handoff::Closed {
                // Downstream is gone: shutting down.
                return false;
            }
            if let Some(p) = self.shared.publish.get() {
                p.emit(crate::pipeline::outbox::Body::decision(&d));
            }
        }
        self.rec.record(now.saturating_sub(hop_in));
        if let Some(h) = self.health.map(|i| &self.shared.stages[i]) {
            h.tick(now);
            self.n = self.n.wrapping_add(1);
            if self.n & 255 == 0 {
                h.backlog.store(backlog() as u64, Ordering::Relaxed);
            }
        }
        true
    }

    /// No input for a while: the latency flush and the backlog sample.
    pub fn on_idle(&mut self, backlog: usize) {
        self.rec.flush();
        if let Some(h) = self.health.map(|i| &self.shared.stages[i]) {
            h.backlog.store(backlog as u64, Ordering::Relaxed);
        }
    }

    /// The input closed.
    pub fn finish(&mut self) {
        self.rec.flush();
    }
}

/// Runs the score stage until its input closes: at shutdown the book stage
/// closes it once it has handed over its last event, and everything queued
/// is scored and passed on before the stage leaves (the engine's `running`
/// flag does not cut the queue short).
pub fn run_score_stage(
    mut rx: Rx<ScoreInput>,
    mut tx: RingTx<Decision>,
    shared: Arc<Shared>,
    ctl: Arc<ModelControl>,
    model: Model,
    cfg: ModelConfig,
    order_qty: Vec<i64>,
) {
    let mut stage = ScoreRunner::new(shared, ctl, model, &cfg, order_qty);
    loop {
        match rx.next(IDLE_BUDGET) {
            Next::Item(ev) => {
                if !stage.on_item(&ev, |d| Handoff::of(tx.try_send(d)), || rx.len()) {
                    break;
                }
            }
            Next::Idle => stage.on_idle(rx.len()),
            Next::Closed => break,
        }
    }
    stage.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TradingMode, WaitKind};
    use crate::core::{Instrument, InstrumentTable, Side, Trade, Venue};
    use crate::pipeline::channel::{queue, spsc};
    use crate::score::features::tests::book;
    use crate::telemetry::metrics::Metrics;

    fn shared() -> Arc<Shared> {
        let mut t = InstrumentTable::new();
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                "BTCUSDT",
                "BTCUSDT",
                "0.01",
                "0.001",
                5.0,
            )
            .unwrap(),
        );
        Arc::new(Shared::new(
            Arc::new(t),
            Arc::new(Metrics::new()),
            "t1".into(),
            TradingMode::Paper,
        ))
    }

    fn cfg(cooldown: u64) -> ModelConfig {
        ModelConfig {
            path: String::new(),
            shadow_decisions: 3,
            shadow_min_agreement: 0.0,
            decision_cooldown_ms: cooldown,
            trade_flow_window_ms: 1_000,
            return_horizon_ms: 500,
        }
    }

    /// BUY when bids outweigh asks, SELL when asks do.
    fn model() -> Model {
        Model::from_json(
            r#"{"version":"t1","kind":"linear","features":[{"name":"book_imbalance","weight":1.0,"mean":0.0,"scale":1.0}],"bias":0.0,"buy_threshold":0.5,"sell_threshold":-0.5}"#,
        )
        .unwrap()
    }

    fn bullish(t: i64) -> ScoreInput {
        ScoreInput::Book(book(t, &[(9_900, 9_000)], &[(10_100, 1_000)]))
    }

    #[test]
    fn cooldown_turns_signals_into_hold() {
        let sh = shared();
        let mut s = Scorer::new(&sh, model(), &cfg(250), vec![2]);
        let d = s.on_input(&bullish(1_000)).unwrap();
        assert_eq!((d.id, d.action, d.qty), (1, Action::Buy, 2));
        assert_eq!(s.on_input(&bullish(1_100)).unwrap().action, Action::Hold);
        assert_eq!(s.on_input(&bullish(1_249)).unwrap().action, Action::Hold);
        let d = s.on_input(&bullish(1_250)).unwrap();
        assert_eq!((d.id, d.action), (4, Action::Buy));
        // A HOLD does not restart the cooldown; a SELL is subject to it too.
        let bearish = ScoreInput::Book(book(1_300, &[(9_900, 1_000)], &[(10_100, 9_000)]));
        assert_eq!(s.on_input(&bearish).unwrap().action, Action::Hold);
        let mut s = Scorer::new(&sh, model(), &cfg(0), vec![2]);
        assert_eq!(s.on_input(&bullish(1)).unwrap().action, Action::Buy);
        assert_eq!(s.on_input(&bullish(1)).unwrap().action, Action::Buy);
    }

    #[test]
    fn trades_score_on_the_last_book_and_bad_books_are_skipped() {
        let sh = shared();
        let mut s = Scorer::new(&sh, model(), &cfg(0), vec![2]);
        let trade = ScoreInput::Trade {
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns: 7,
            hop_ns: 0,
            exch_ms: 5,
            trade: Trade {
                px: 10_000,
                qty: 1_000,
                aggressor: Side::Buy,
                trade_id: 1,
            },
        };
        assert!(s.on_input(&trade).is_none()); // no book yet
        let mut b = book(1, &[(9_900, 1_000)], &[(10_100, 1_000)]);
        b.in_sync = false;
        assert!(s.on_input(&ScoreInput::Book(b)).is_none());
        assert!(s.on_input(&trade).is_none()); // last book out of sync
        assert!(s.on_input(&bullish(2)).is_some());
        let d = s.on_input(&trade).unwrap();
        assert_eq!(d.recv_ns, 7);
        assert_eq!(
            d.features[crate::score::features::idx::TRADE_FLOW_IMBALANCE],
            1.0
        );
        // Unknown instrument: ignored, never a panic.
        let mut b = book(3, &[(9_900, 1_000)], &[(10_100, 1_000)]);
        b.inst = InstrumentId(9);
        assert!(s.on_input(&ScoreInput::Book(b)).is_none());
    }

    #[test]
    fn stage_emits_decisions_and_counts_them() {
        let sh = shared();
        let m = sh.metrics.clone();
        let (itx, irx) = queue::<ScoreInput>("score_in", 16, WaitKind::Park, &m);
        let (otx, mut orx) = spsc::<Decision>("score_out", 16, WaitKind::Park, &m);
        itx.try_send(bullish(1_000)).unwrap();
        itx.try_send(bullish(1_010)).unwrap();
        drop(itx);
        // Shutting down with input queued: every queued input is still scored.
        sh.running.store(false, Ordering::Relaxed);
        run_score_stage(
            irx,
            otx,
            sh.clone(),
            Arc::new(ModelControl::new()),
            model(),
            cfg(250),
            vec![2],
        );
        let mut got = Vec::new();
        while let Next::Item(d) = orx.next(Duration::from_millis(1)) {
            got.push(d);
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].action, Action::Buy);
        assert_eq!(got[1].action, Action::Hold);
        assert!(got[1].id > got[0].id);
        assert!(got[0].hop_ns > 0);
        assert_eq!(m.decisions.with_label_values(&["BUY"]).get(), 1);
        assert_eq!(m.decisions.with_label_values(&["HOLD"]).get(), 1);
        assert_eq!(
            sh.stage(STAGE).unwrap().processed.load(Ordering::Relaxed),
            2
        );
        assert_eq!(sh.latency.get(STAGE).unwrap().count, 2);
    }

    fn model_json(version: &str, feature: &str, weight: f64) -> String {
        format!(
            r#"{{"version":"{version}","kind":"linear","features":[{{"name":"{feature}","weight":{weight},"mean":0.0,"scale":1.0}}],"bias":0.0,"buy_threshold":0.5,"sell_threshold":-0.5}}"#
        )
    }

    /// Writes `text` as the configured model file of `sh` (shadow of `n` decisions).
    fn set_model_file(s: &Scorer, dir: &std::path::Path, text: &str, n: u64, min: f64) {
        let path = dir.join("model.json");
        std::fs::write(&path, text).unwrap();
        s.ctl.configure(crate::score::reload::ReloadSettings {
            path: path.display().to_string(),
            shadow_decisions: n,
            min_agreement: min,
        });
    }

    fn reload(s: &Scorer) -> Result<serde_json::Value, crate::score::reload::Refusal> {
        s.ctl.reload("test", 1, &s.metrics.model)
    }

    #[test]
    fn reload_shadows_then_swaps_between_events() {
        use crate::score::reload::{RefusalKind, ReloadState};
        let dir = crate::core::testkit::tmp_dir("score-reload");
        let sh = shared();
        let m = sh.metrics.clone();
        let mut s = Scorer::new(&sh, model(), &cfg(0), vec![2]);
        let v_live = versions::intern("t1").unwrap();
        for t in 0..20 {
            let d = s.on_input(&bullish(t)).unwrap();
            assert_eq!((d.model_version, d.action), (v_live, Action::Buy));
        }
        // A bad file: refused with the reason, nothing changes.
        set_model_file(&s, &dir, "{\"version\": \"t2\", ", 3, 0.0);
        let e = reload(&s).unwrap_err();
        assert_eq!(e.kind, RefusalKind::Format);
        assert!(e.reason.contains("model.json"), "{}", e.reason);
        // An unknown feature: refused naming it.
        set_model_file(&s, &dir, &model_json("t2", "ofi_3s", 1.0), 3, 0.0);
        let e = reload(&s).unwrap_err();
        assert_eq!(e.kind, RefusalKind::Features);
        assert!(
            e.reason.contains("unknown feature \"ofi_3s\""),
            "{}",
            e.reason
        );
        // The live version again: refused.
        set_model_file(&s, &dir, &model_json("t1", "ofi_1s", 1.0), 3, 0.0);
        assert_eq!(reload(&s).unwrap_err().kind, RefusalKind::Version);
        // Self-test: mid (≈ 100) times 1e40 is finite as f64 but not as
        // the decision's f32 score; the zero row alone would pass.
        set_model_file(&s, &dir, &model_json("t2-huge", "mid", 1e40), 3, 0.0);
        let e = reload(&s).unwrap_err();
        assert_eq!(e.kind, RefusalKind::SelfTest);
        assert!(e.reason.contains("stored feature row"), "{}", e.reason);
        assert_eq!(
            m.model
                .reloads
                .with_label_values(&["refused_self_test"])
                .get(),
            1
        );
        let d = s.on_input(&bullish(30)).unwrap();
        assert_eq!(d.model_version, v_live);
        assert!(!s.in_shadow());

        // A good file that disagrees (SELL where the live model BUYs).
        set_model_file(&s, &dir, &model_json("t2", "book_imbalance", -1.0), 3, 0.0);
        let ok = reload(&s).unwrap();
        assert_eq!(ok["version"], "t2");
        assert_eq!(s.ctl.state(), ReloadState::Pending);
        // A second reload while the first is pending: busy.
        set_model_file(&s, &dir, &model_json("t3", "book_imbalance", 1.0), 3, 0.0);
        assert_eq!(reload(&s).unwrap_err().kind, RefusalKind::Busy);
        let v2 = versions::intern("t2").unwrap();
        for t in 40..43 {
            // Shadowed decisions are still the live model's.
            let d = s.on_input(&bullish(t)).unwrap();
            assert_eq!((d.model_version, d.action), (v_live, Action::Buy));
        }
        // The third shadow decision ended the run: the next event is t2's.
        assert!(!s.in_shadow());
        let d = s.on_input(&bullish(50)).unwrap();
        assert_eq!((d.model_version, d.action), (v2, Action::Sell));
        assert_eq!(s.live_version(), "t2");
        let view = s.ctl.view();
        assert_eq!(view["live"]["version"], "t2");
        assert_eq!(view["shadow"]["decisions"], 3);
        assert_eq!(view["shadow"]["agreement"], 0.0);
        assert_eq!(view["history"][0]["result"], "swapped");
        assert_eq!(m.model.swaps.get(), 1);
        assert_eq!(m.model.live.with_label_values(&["t2"]).get(), 1);
        assert_eq!(m.model.live.with_label_values(&["t1"]).get(), 0);
        assert_eq!(m.model.shadow_agreement.get(), 0.0);

        // Below the agreement floor: the candidate is dropped after shadow.
        set_model_file(&s, &dir, &model_json("t3", "book_imbalance", 1.0), 2, 0.9);
        reload(&s).unwrap();
        for t in 60..64 {
            let d = s.on_input(&bullish(t)).unwrap();
            assert_eq!(d.model_version, v2);
        }
        assert_eq!(
            m.model
                .reloads
                .with_label_values(&["rejected_in_shadow"])
                .get(),
            1
        );
        assert_eq!(s.ctl.view()["history"][0]["result"], "rejected_in_shadow");
    }

    #[test]
    fn shadow_computes_the_candidates_features_and_swaps_at_once_with_zero() {
        let dir = crate::core::testkit::tmp_dir("score-reload-plan");
        let sh = shared();
        let mut s = Scorer::new(&sh, model(), &cfg(0), vec![2]);
        let d = s.on_input(&bullish(1)).unwrap();
        assert_eq!(d.feature_mask, crate::score::registry::BASE);
        assert!(!s.ctl.wants_depth10());
        assert!(!sh.wants_depth10.load(Ordering::Relaxed));
        set_model_file(
            &s,
            &dir,
            &model_json("p2", "book_imbalance_10", 1.0),
            0,
            0.0,
        );
        reload(&s).unwrap();
        let d = s.on_input(&bullish(2)).unwrap();
        let bit = 1 << crate::score::registry::idx::BOOK_IMBALANCE_10;
        // Swapped before this event: decided by p2 on its features.
        assert_eq!(d.model_version, versions::intern("p2").unwrap());
        assert_eq!(d.feature_mask, crate::score::registry::BASE | bit);
        assert!(s.ctl.wants_depth10());
        // The book stage reads the same flag through `Shared`.
        assert!(sh.wants_depth10.load(Ordering::Relaxed));
    }
}
