//! The hot path on one thread: every per-message step the stage threads
//! run, in order and through the real bounded queue between feed and book:
//! frame parse + book sync + chunking (the injecting venue's feed), book apply and top of
//! book, features + model score, the full risk check, order building, paper
//! execution with reports back to risk, latency recording and metrics. The
//! stage threads' idle-time work (views published every 100 ms, API
//! queries) is not here. Used by the zero-allocation test and by the
//! deterministic instruction counts (`--mode single` under callgrind).

use crate::app::engine::{EMBEDDED_MODEL, instruments_from_config};
use crate::book::{BookStage, MAX_LEVELS};
use crate::config::{Config, TradingMode, WaitKind};
use crate::core::{Clock, Verdict, now_ns};
use crate::exec::PaperExec;
use crate::pipeline::channel::FanIn;
use crate::pipeline::shared::Shared;
use crate::risk::{Governor, build_intent};
use crate::score::{Model, Scorer};
use crate::telemetry::latency::LatencyRecorder;
use crate::telemetry::metrics::Metrics;
use crate::venue::inject::Injector;
use std::sync::Arc;

/// The stages' per-message work, driven on one thread.
pub struct HotPath {
    /// The feed protocol of the venue that offers an injector (the venue
    /// whose recorded frames the benches replay).
    pub feed: Injector,
    md_rx: crate::pipeline::channel::Rx<crate::core::MarketEvent>,
    book: BookStage,
    scorer: Scorer,
    gov: Governor,
    exec: PaperExec,
    exec_cfg: crate::config::ExecConfig,
    lat: [LatencyRecorder; 5],
    reports: Vec<crate::core::ExecReport>,
    ticks: Vec<i64>,
    next_coid: u64,
    pub decisions: u64,
    pub orders: u64,
    pub skips: u64,
}

impl HotPath {
    pub fn new(symbols: &[&str]) -> HotPath {
        let mut cfg = Config::demo();
        for ic in &mut cfg.instruments {
            ic.max_position = "1000000".into();
        }
        cfg.model.decision_cooldown_ms = 0;
        cfg.risk.max_orders_per_sec = 10_000;
        cfg.risk.daily_trade_cap = 10_000_000;
        cfg.risk.max_order_notional = 1e9;
        cfg.risk.skip_flat_sell = false;
        cfg.risk.max_book_age_ms = 3_600_000;
        // Every other limit stays on, but far from binding: the replay must
        // run the whole path (orders, fills) for as long as it lasts.
        cfg.risk.max_orders_per_min = 1_000_000;
        cfg.risk.max_position_notional = 1e12;
        cfg.risk.max_gross_exposure = 1e12;
        cfg.risk.max_daily_loss = 1e12;
        cfg.risk.max_drawdown = 1e12;
        let table = Arc::new(instruments_from_config(&cfg).expect("demo instruments are valid"));
        let metrics = Arc::new(Metrics::new());
        let shared = Arc::new(Shared::new(
            table.clone(),
            metrics.clone(),
            "t".into(),
            TradingMode::Paper,
        ));
        let mut md_fan = FanIn::new("feed_to_book", 16_384, WaitKind::Park, &metrics);
        // The injecting venue's section streams exactly `symbols`.
        for v in crate::core::Venue::ALL {
            if let Some(sec) = cfg.venues.section_mut(v) {
                *sec.symbols = symbols.iter().map(|s| s.to_string()).collect();
            }
        }
        let feed = crate::venue::wiring::injector(&cfg, &shared, &mut md_fan)
            .expect("a venue offers an in-process injector");
        let md_rx = md_fan.into_rx();
        // Every decision a BUY or a SELL: the longest path, through exec.
        let mut m: serde_json::Value =
            serde_json::from_str(EMBEDDED_MODEL).expect("embedded model is JSON");
        m["buy_threshold"] = 0.5.into();
        m["sell_threshold"] = 0.4999.into();
        let model = Model::from_json(&m.to_string()).expect("embedded model is valid");
        let qty = vec![2, 50];
        let lat = ["book", "score", "risk", "exec", "tick_to_order"]
            .map(|s| LatencyRecorder::new(&shared.latency, s, metrics.stage_hist(s)));
        HotPath {
            feed,
            md_rx,
            book: BookStage::new(shared.clone(), MAX_LEVELS),
            scorer: Scorer::new(&shared, model, &cfg.model, qty),
            gov: Governor::new(
                &cfg.risk,
                table.clone(),
                vec![1_000_000_000; 2],
                Clock::system(),
                TradingMode::Paper,
            ),
            exec: PaperExec::new(shared.clone(), cfg.exec.clone()),
            exec_cfg: cfg.exec.clone(),
            lat,
            reports: Vec::with_capacity(64),
            ticks: table.iter().map(|i| i.tick).collect(),
            next_coid: 1,
            decisions: 0,
            orders: 0,
            skips: 0,
        }
    }

    /// Answers the snapshot requests made so far with `body(symbol)`.
    pub fn answer(&mut self, body: impl Fn(&str) -> Option<Vec<u8>>) {
        self.feed.answer_snapshots(body);
    }

    /// One frame through the whole path.
    #[inline]
    pub fn frame(&mut self, f: &[u8]) {
        self.feed.frame(f);
        while let Some(ev) = self.md_rx.try_next() {
            let now = now_ns();
            let Some(si) = self.book.apply(&ev, now) else {
                continue;
            };
            self.lat[0].record(now - ev.recv_ns);
            let Some(mut d) = self.scorer.on_input(&si) else {
                continue;
            };
            self.decisions += 1;
            d.hop_ns = now_ns();
            self.lat[1].record(d.hop_ns - now);
            let v = self.gov.check(&d, now_ns());
            self.lat[2].record(now_ns() - d.hop_ns);
            if v != Verdict::Execute {
                self.skips += 1;
                continue;
            }
            let tick = self.ticks[d.inst.idx()];
            let Some(o) = build_intent(&d, self.next_coid, tick, &self.exec_cfg) else {
                continue;
            };
            self.next_coid += 1;
            self.gov.on_order_sent(&o);
            let reports = &mut self.reports;
            self.exec.execute(&o, |r| reports.push(r));
            let ready = now_ns();
            self.lat[3].record(ready - now);
            self.lat[4].record(ready - d.recv_ns);
            self.orders += 1;
            for r in self.reports.drain(..) {
                self.gov.on_report(&r);
            }
        }
    }

    /// Warm-up: frames with snapshot answers and feed ticks every 64.
    pub fn warm(&mut self, frames: &[Vec<u8>], snap: &impl Fn(&str) -> Option<Vec<u8>>) {
        for (i, f) in frames.iter().enumerate() {
            self.frame(f);
            if i % 64 == 0 {
                self.answer(snap);
                self.feed.tick();
            }
        }
    }
}

/// The measured replay, kept out of line so that callgrind can collect
/// exactly it (`--toggle-collect=*measured_replay*`).
#[inline(never)]
pub fn measured_replay(hp: &mut HotPath, frames: &[Vec<u8>]) {
    for f in frames {
        hp.frame(f);
    }
}
