//! Invariants of the risk governor over random sequences (proptest): for any
//! sequence of decisions, fills (partial, late: delivered after other
//! decisions, and duplicated final reports), wall-clock jumps forward and
//! back (across midnight too), breaker and kill-switch commands and restarts
//! (recovery from the journal written by the real writer):
//!
//! - a long-only instrument never goes short, counting SELLs in flight;
//! - no EXECUTE takes a position (fills plus orders in flight) past
//!   `max_position`, its notional past `max_position_notional`, the gross
//!   exposure past `max_gross_exposure`, one order past
//!   `max_order_notional`, or the orders in flight past `max_open_orders`;
//! - the journal's stamps never go back (each record in its day's file) and
//!   no UTC day of it holds more EXECUTEs than `daily_trade_cap`;
//! - no EXECUTE while the kill switch is on or a manual trip stands;
//! - after a restart at any point, the state recovered from the journal is
//!   the state the engine had (positions, today's counters and PnL, loss
//!   floor, breaker, kill switch, next order id).
//!
//! The oracle below keeps its own books from the fills it made; it never
//! reads the governor's limits logic. Cases: `QT_PROPTEST_CASES` (default
//! 64), each up to 80 steps.

use proptest::prelude::*;
use quantum_trader::config::{ExecConfig, JournalConfig, RiskConfig, TradingMode};
use quantum_trader::core::clock::utc_day;
use quantum_trader::core::{
    Action, BookTop, Clock, Decision, ExecReport, Instrument, InstrumentId, InstrumentTable, Level,
    Money, N_FEATURES, OrderStatus, Side, TOP_LEVELS, Venue, Verdict,
};
use quantum_trader::exec::positions::Positions;
use quantum_trader::journal::{self, JournalWriter};
use quantum_trader::risk::governor::{Command, Reply};
use quantum_trader::risk::recovery::recover;
use quantum_trader::risk::{Governor, build_intent};
use quantum_trader::telemetry::metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const DAY_MS: i64 = 86_400_000;
/// 2026-11-23 23:58:00 UTC: two minutes before midnight.
const START_MS: i64 = 20_780 * DAY_MS + DAY_MS - 120_000;
/// Max position per instrument (scaled qty): BTC 0.010, ETH 0.250.
const MAX_POS: [i64; 2] = [10, 250];
const FEE_BPS: f64 = 4.0;

/// BTCUSDT tick 0.1 lot 0.001; ETHUSDT tick 0.01 lot 0.001 (scaled prices).
fn table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (sym, tick) in [("BTCUSDT", "0.1"), ("ETHUSDT", "0.01")] {
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                sym,
                sym,
                tick,
                "0.001",
                5.0,
            )
            .unwrap(),
        );
    }
    Arc::new(t)
}

/// Limits tight enough that random sequences reach every one of them.
fn risk_config() -> RiskConfig {
    RiskConfig {
        max_order_notional: 400.0,
        max_orders_per_sec: 1_000,
        max_orders_per_min: 100_000,
        daily_trade_cap: 12,
        skip_flat_sell: true,
        kill_switch: false,
        max_book_age_ms: 3_600_000,
        max_open_orders: 4,
        max_position_notional: 700.0,
        max_gross_exposure: 900.0,
        price_band_bps: 0.0,
        max_daily_loss: 3.0,
        max_drawdown: 0.0,
        max_consecutive_losses: 4,
        max_consecutive_rejects: 3,
        ..RiskConfig::default()
    }
}

/// Starting (bid) prices, scaled: BTC 60000.0, ETH 3000.00.
const START_BID: [i64; 2] = [600_000, 300_000];

#[derive(Debug, Clone)]
enum Op {
    /// A decision on `inst` after the book moved `ticks`.
    Decide {
        inst: usize,
        action: u8,
        qty: i64,
        ticks: i64,
    },
    /// Fills `pct`% (at least one lot) of the remainder of in-flight order
    /// `k` (modulo their count) at its limit price.
    Fill {
        k: usize,
        pct: u8,
    },
    /// The final report of in-flight order `k` (0 filled or canceled, 1
    /// rejected); `dup` reports it twice.
    Done {
        k: usize,
        rejected: bool,
        dup: bool,
    },
    /// The wall clock jumps by `ms` (negative: back).
    Clock {
        ms: i64,
    },
    /// 0 trip, 1 reset, 2 override, 3 kill on, 4 kill off.
    Admin(u8),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..3u8, 1..12i64, -40..40i64).prop_map(|(inst, action, qty, ticks)| Op::Decide {
            inst,
            action,
            qty,
            ticks
        }),
        4 => (0..8usize, 1..=100u8).prop_map(|(k, pct)| Op::Fill { k, pct }),
        2 => (0..8usize, any::<bool>(), any::<bool>()).prop_map(|(k, rejected, dup)| Op::Done {
            k,
            rejected,
            dup
        }),
        2 => prop_oneof![
            (-2 * DAY_MS..2 * DAY_MS),
            (-180_000..180_000i64),
        ]
        .prop_map(|ms| Op::Clock { ms }),
        1 => (0..5u8).prop_map(Op::Admin),
        1 => Just(Op::Restart),
    ]
}

/// An order the oracle saw sent and not yet reported done.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    coid: u64,
    inst: usize,
    side: Side,
    remaining: i64,
    limit_px: i64,
    filled: bool,
}

/// What a restart must bring back.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    positions: Vec<i64>,
    day: i64,
    trades: u32,
    realized: Money,
    fees: Money,
    losses: u32,
    rejects: u32,
    loss_ack: bool,
    loss_floor: Money,
    breaker: Option<String>,
    history: usize,
    kill: bool,
    open_orders: usize,
    next_coid: u64,
}

fn snapshot(g: &Governor) -> Snapshot {
    let d = g.day_state();
    let v = g.view();
    Snapshot {
        positions: (0..2).map(|i| g.position(InstrumentId(i))).collect(),
        day: d.day,
        trades: d.trades,
        realized: d.realized,
        fees: d.fees,
        losses: d.losses,
        rejects: d.rejects,
        loss_ack: d.loss_ack,
        loss_floor: d.loss_floor,
        breaker: g
            .breaker()
            .trip_info()
            .map(|t| t.reason.as_str().to_string()),
        history: g.breaker().history().len(),
        kill: g.kill_switch(),
        open_orders: g.open_orders().len(),
        next_coid: v["next_client_order_id"].as_u64().unwrap(),
    }
}

struct World {
    table: Arc<InstrumentTable>,
    cfg: RiskConfig,
    exec_cfg: ExecConfig,
    clock: Clock,
    dir: PathBuf,
    metrics: Metrics,
    gov: Option<Governor>,
    writer: Option<JournalWriter>,
    /// The venue side: the real average-cost books.
    exec: Positions,
    /// Oracle: filled position per instrument.
    pos: [i64; 2],
    inflight: Vec<InFlight>,
    done: Vec<(u64, usize)>,
    bid: [i64; 2],
    /// Price the governor marks an instrument at: the latest mid it saw in a
    /// decision, or (after a restart) the last fill price.
    mark: [f64; 2],
    last_fill_px: [f64; 2],
    manual_halt: bool,
    kill: bool,
    executes: u32,
    ns: u64,
    next_decision: u64,
    restarts: u32,
}

fn journal_config(dir: &std::path::Path) -> JournalConfig {
    JournalConfig {
        dir: dir.to_string_lossy().into_owned(),
        queue_capacity: 1 << 16,
        ..JournalConfig::default()
    }
}

impl World {
    fn new(dir: PathBuf) -> World {
        let table = table();
        let clock = Clock::manual(START_MS);
        let metrics = Metrics::new();
        let cfg = risk_config();
        let mut w = World {
            exec: Positions::new(table.clone()),
            table,
            cfg,
            exec_cfg: ExecConfig::default(),
            clock,
            dir,
            metrics,
            gov: None,
            writer: None,
            pos: [0; 2],
            inflight: Vec::new(),
            done: Vec::new(),
            bid: START_BID,
            mark: [0.0; 2],
            last_fill_px: [0.0; 2],
            executes: 0,
            manual_halt: false,
            kill: false,
            ns: 1_000_000_000,
            next_decision: 1,
            restarts: 0,
        };
        w.start(None);
        w
    }

    fn governor(&self) -> Governor {
        Governor::new(
            &self.cfg,
            self.table.clone(),
            MAX_POS.to_vec(),
            self.clock.clone(),
            TradingMode::Paper,
        )
    }

    /// Starts a governor (restored from the journal when `restore`) with a
    /// journal writer on the case's directory.
    fn start(&mut self, restore: Option<()>) {
        let mut g = self.governor();
        // As the engine does: the journal first, then the restore (whose
        // closing of orphan orders is journaled).
        let (tx, w) = journal::start(
            &journal_config(&self.dir),
            self.table.clone(),
            &self.metrics,
        )
        .unwrap();
        g.set_journal(tx, false);
        if restore.is_some() {
            let r = recover(
                &self.dir,
                TradingMode::Paper,
                self.clock.unix_ms(),
                &self.table,
            )
            .unwrap();
            g.restore(&r.seed);
        }
        self.gov = Some(g);
        self.writer = Some(w);
    }

    fn g(&mut self) -> &mut Governor {
        self.gov.as_mut().unwrap()
    }

    fn in_flight(&self, inst: usize, side: Side) -> i64 {
        self.inflight
            .iter()
            .filter(|o| o.inst == inst && o.side == side)
            .map(|o| o.remaining)
            .sum()
    }

    fn decision(&mut self, inst: usize, action: Action, qty: i64) -> Decision {
        let mut bids = [Level::default(); TOP_LEVELS];
        let mut asks = [Level::default(); TOP_LEVELS];
        bids[0] = Level {
            px: self.bid[inst],
            qty: 1_000_000,
        };
        asks[0] = Level {
            px: self.bid[inst] + 1,
            qty: 1_000_000,
        };
        self.ns += 1_000_000;
        self.next_decision += 1;
        let id = InstrumentId(inst as u16);
        Decision {
            id: self.next_decision,
            venue: Venue::Binance,
            inst: id,
            recv_ns: self.ns,
            hop_ns: self.ns,
            exch_ms: 0,
            action,
            score: 0.9,
            confidence: 0.9,
            model_version: 0,
            feature_mask: 0,
            qty,
            features: [0.0; N_FEATURES],
            book: BookTop {
                venue: Venue::Binance,
                inst: id,
                recv_ns: self.ns,
                hop_ns: self.ns,
                exch_ms: 0,
                update_id: self.next_decision,
                in_sync: true,
                n_bids: 1,
                n_asks: 1,
                bids,
                asks,
                xv_best_bid: 0,
                xv_best_ask: 0,
                xv_lead_lag_bps: 0.0,
                extra: Default::default(),
            },
        }
    }

    fn decide(&mut self, inst: usize, action: u8, qty: i64, ticks: i64) {
        let x = self.table.get(InstrumentId(inst as u16)).clone();
        self.bid[inst] = (self.bid[inst] + ticks * x.tick).max(START_BID[inst] / 2);
        let action = [Action::Buy, Action::Sell, Action::Hold][action as usize];
        let d = self.decision(inst, action, qty);
        let halted = self.manual_halt || self.kill;
        let ns = self.ns;
        let v = self.g().check(&d, ns);
        self.g().journal_verdict(&d, v);
        let mid = x.px_f64(2 * self.bid[inst] + 1) / 2.0;
        self.mark[inst] = mid;
        if v != Verdict::Execute {
            return;
        }
        assert!(
            !halted,
            "EXECUTE while the kill switch or a manual trip stands"
        );
        assert_ne!(action, Action::Hold);
        let side = action.side().unwrap();
        // Long-only: the position net of SELLs in flight covers this SELL.
        if side == Side::Sell {
            let held = self.pos[inst] - self.in_flight(inst, Side::Sell);
            assert!(
                qty <= held,
                "SELL {qty} with only {held} held: would go short"
            );
        }
        // Position: fills plus orders in flight on the order's side.
        let projected = match side {
            Side::Buy => self.pos[inst] + self.in_flight(inst, Side::Buy) + qty,
            Side::Sell => self.pos[inst] - self.in_flight(inst, Side::Sell) - qty,
        };
        assert!(
            projected.abs() <= MAX_POS[inst],
            "position {projected} past {}",
            MAX_POS[inst]
        );
        let unit = x.qty_f64(1);
        let pos_notional = projected.unsigned_abs() as f64 * unit * mid;
        assert!(
            pos_notional <= self.cfg.max_position_notional + 1e-6,
            "position notional {pos_notional}"
        );
        let mut gross = pos_notional;
        for j in 0..2 {
            if j != inst {
                let q = self.pos[j] + self.in_flight(j, Side::Buy) - self.in_flight(j, Side::Sell);
                gross += q.unsigned_abs() as f64 * unit * self.mark[j];
            }
        }
        assert!(
            gross <= self.cfg.max_gross_exposure + 1e-6,
            "gross exposure {gross}"
        );
        let touch = match side {
            Side::Buy => self.bid[inst] + 1,
            Side::Sell => self.bid[inst],
        };
        let order_notional = x.notional(touch, qty);
        assert!(
            order_notional <= self.cfg.max_order_notional + 1e-6,
            "order notional {order_notional}"
        );
        assert!(
            self.inflight.len() < self.cfg.max_open_orders as usize,
            "{} orders in flight",
            self.inflight.len()
        );
        self.executes += 1;
        let coid = self.g().next_client_order_id();
        let o = build_intent(&d, coid, x.tick, &self.exec_cfg).unwrap();
        self.g().on_order_sent(&o);
        self.inflight.push(InFlight {
            coid,
            inst,
            side,
            remaining: qty,
            limit_px: o.limit_px,
            filled: false,
        });
    }

    fn fill(&mut self, k: usize, pct: u8) {
        if self.inflight.is_empty() {
            return;
        }
        let k = k % self.inflight.len();
        let o = self.inflight[k];
        let q = (o.remaining * pct as i64 / 100).max(1).min(o.remaining);
        let id = InstrumentId(o.inst as u16);
        let x = self.table.get(id).clone();
        let notional = Money::notional(o.limit_px, q, x.price_scale, x.qty_scale);
        let fee = notional.mul_bps(FEE_BPS);
        let (after, realized) = self
            .exec
            .apply_fill(
                id,
                o.side,
                q,
                notional,
                fee,
                quantum_trader::core::FeeAsset::QUOTE,
            )
            .unwrap();
        self.pos[o.inst] += o.side.sign() * q;
        assert_eq!(after, self.pos[o.inst]);
        self.last_fill_px[o.inst] = x.px_f64(o.limit_px);
        self.inflight[k].remaining -= q;
        self.inflight[k].filled = true;
        self.g().on_report(&ExecReport::Fill {
            client_order_id: o.coid,
            inst: id,
            side: o.side,
            px: o.limit_px,
            qty: q,
            fee,
            fee_asset: quantum_trader::core::FeeAsset::QUOTE,
            position_after: after,
            realized_pnl: realized,
        });
        if self.inflight[k].remaining == 0 {
            self.finish(k, false, false);
        }
    }

    fn finish(&mut self, k: usize, rejected: bool, dup: bool) {
        if self.inflight.is_empty() {
            // A late duplicate of an order already done: idempotent.
            if let Some(&(coid, inst)) = self.done.last()
                && dup
            {
                self.g().on_report(&ExecReport::Done {
                    client_order_id: coid,
                    inst: InstrumentId(inst as u16),
                    status: OrderStatus::Canceled,
                });
            }
            return;
        }
        let k = k % self.inflight.len();
        let o = self.inflight.remove(k);
        let status = if o.remaining == 0 {
            OrderStatus::Filled
        } else if rejected && !o.filled {
            OrderStatus::Rejected
        } else {
            OrderStatus::Canceled
        };
        let r = ExecReport::Done {
            client_order_id: o.coid,
            inst: InstrumentId(o.inst as u16),
            status,
        };
        self.g().on_report(&r);
        if dup {
            self.g().on_report(&r);
        }
        self.done.push((o.coid, o.inst));
    }

    fn clock(&mut self, ms: i64) {
        let t = (self.clock.unix_ms() + ms).max(START_MS - 3 * DAY_MS);
        self.clock.set_ms(t);
        self.g().housekeeping();
    }

    fn admin(&mut self, a: u8) {
        let client = "proptest".to_string();
        let cmd = match a {
            0 => Command::Trip {
                reason: "desk halt".into(),
                client,
            },
            1 => Command::Reset {
                override_: false,
                reason: String::new(),
                client,
            },
            2 => Command::Reset {
                override_: true,
                reason: "reviewed".into(),
                client,
            },
            3 => Command::KillSwitch {
                on: true,
                reason: "stop".into(),
                client,
            },
            _ => Command::KillSwitch {
                on: false,
                reason: "go".into(),
                client,
            },
        };
        let r = self.g().apply(cmd);
        match (a, r) {
            (0, Reply::Ok(_)) => self.manual_halt = true,
            (1 | 2, Reply::Ok(v)) if v["changed"] == true => self.manual_halt = false,
            (3, _) => self.kill = true,
            (4, _) => self.kill = false,
            _ => {}
        }
        // An automatic trip may have been lifted instead; the manual flag
        // follows the breaker's own reason.
        if self.g().breaker().trip_info().is_none() {
            self.manual_halt = false;
        }
    }

    /// Stops the engine at this point (the journal flushed, as at a crash
    /// after the writer's last batch) and starts it again from the journal.
    fn restart(&mut self) {
        let mut g = self.gov.take().unwrap();
        g.flush_holds();
        // What the engine without a restart would hold once the orders in
        // flight are gone (the paper matcher keeps nothing across a restart).
        let mut expected = snapshot(&g);
        if !self.inflight.is_empty() {
            expected.open_orders = 0;
            expected.rejects = 0;
        }
        drop(g);
        self.writer.take().unwrap().join();
        for o in self.inflight.drain(..) {
            self.done.push((o.coid, o.inst));
        }
        self.start(Some(()));
        self.restarts += 1;
        for i in 0..2 {
            self.mark[i] = self.last_fill_px[i];
        }
        let got = snapshot(self.gov.as_ref().unwrap());
        assert_eq!(
            got, expected,
            "state after restart {} differs",
            self.restarts
        );
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Decide {
                inst,
                action,
                qty,
                ticks,
            } => self.decide(inst, action, qty, ticks),
            Op::Fill { k, pct } => self.fill(k, pct),
            Op::Done { k, rejected, dup } => self.finish(k, rejected, dup),
            Op::Clock { ms } => self.clock(ms),
            Op::Admin(a) => self.admin(a),
            Op::Restart => self.restart(),
        }
        // Every step: the oracle's books agree with the governor's, nothing
        // is short, nothing past max_position counting BUYs in flight.
        for (i, &max) in MAX_POS.iter().enumerate() {
            let p = self.pos[i];
            assert!(p >= 0, "instrument {i} short: {p}");
            assert_eq!(
                self.gov.as_ref().unwrap().position(InstrumentId(i as u16)),
                p
            );
            assert!(p + self.in_flight(i, Side::Buy) <= max);
        }
        assert_eq!(
            self.gov.as_ref().unwrap().open_orders().len(),
            self.inflight.len()
        );
    }

    fn finish_case(mut self) {
        // A last restart: whatever the sequence, recovery matches.
        self.restart();
        drop(self.gov.take());
        self.writer.take().unwrap().join();
        // The journal, as written: stamps never go back (in file order, day
        // files oldest first), and no UTC day holds more EXECUTEs than the
        // cap. `executes` counts what the oracle saw executed.
        let (mut last_ts, mut last_id) = (i64::MIN, 0u64);
        let mut per_day: std::collections::BTreeMap<i64, u32> = Default::default();
        for d in journal::list_days(&self.dir).unwrap() {
            let read = journal::read_day(&self.dir, d).unwrap();
            assert_eq!(read.corrupt, 0);
            for r in &read.records {
                assert!(
                    r.ts_ms >= last_ts,
                    "record {} stamped before the one before it",
                    r.id
                );
                assert!(r.id > last_id);
                assert_eq!(utc_day(r.ts_ms), d, "record {} in the wrong day file", r.id);
                (last_ts, last_id) = (r.ts_ms, r.id);
                if let journal::Body::Verdict { verdict, .. } = &r.body
                    && verdict == "EXECUTE"
                {
                    *per_day.entry(d).or_default() += 1;
                }
            }
        }
        let total: u32 = per_day.values().sum();
        assert_eq!(total, self.executes, "every EXECUTE journaled once");
        for (d, n) in per_day {
            assert!(n <= self.cfg.daily_trade_cap, "{n} EXECUTEs on day {d}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cases() -> u32 {
    std::env::var("QT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

static CASE: AtomicU64 = AtomicU64::new(0);

fn case_dir() -> PathBuf {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("qt-risk-prop-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn limits_hold_and_restarts_recover_the_same_state(ops in prop::collection::vec(op(), 1..80)) {
        let mut w = World::new(case_dir());
        for op in &ops {
            w.step(op);
        }
        w.finish_case();
    }
}
