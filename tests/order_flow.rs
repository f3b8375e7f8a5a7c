//! The live order path against the simulator's Binance order venue (real
//! sockets on 127.0.0.1): the exec stage's gateway hands intents to the
//! Binance trading session, which signs and sends them, follows the user
//! data stream and reports fills and ends back through exec (positions,
//! fees from the venue). Each test drives one fault of the simulator and
//! checks the simulator's own counters (new-order requests per client
//! order id, 418 answers).

mod common;

use common::embedded_sim::start_sim_for;
use qt_sim::{Fault, SimHandle};
use quantum_trader::app::engine::instruments_from_config;
use quantum_trader::config::{ExecConfig, TradingMode, WaitKind};
use quantum_trader::core::{
    Action, BookTop, Decision, ExecReport, InstrumentId, Level, N_FEATURES, OrderIntent,
    OrderStatus, Side, TOP_LEVELS, Venue, now_ns,
};
use quantum_trader::exec::gateway::{Gateway, ports};
use quantum_trader::exec::stage::{ExecSeed, run_exec_stage_with};
use quantum_trader::exec::unknown::ResolverConfig;
use quantum_trader::pipeline::channel::{Next, Rx, Tx, queue, spsc};
use quantum_trader::pipeline::shared::Shared;
use quantum_trader::telemetry::metrics::Metrics;
use quantum_trader::venue::adapter::{RunningSession, SimTrading, TradingContext, TradingSettings};
use quantum_trader::venue::binance::session::{BinanceTrading, Timings};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SYMBOL: &str = "BTCUSDT";

struct Rig {
    sim: SimHandle,
    shared: Arc<Shared>,
    intents: Option<Tx<OrderIntent>>,
    reports: Rx<ExecReport>,
    got: Vec<ExecReport>,
    exec: Option<JoinHandle<()>>,
    session: Option<Box<dyn RunningSession>>,
    inst: quantum_trader::core::Instrument,
}

fn timings() -> Timings {
    Timings {
        order_timeout: Duration::from_millis(400),
        keepalive: Duration::from_secs(1800),
        clock_sync: Duration::from_secs(60),
        fee_wait: Duration::from_millis(300),
        pause_default: Duration::from_secs(1),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(1000),
        resolver: ResolverConfig {
            first_query_ms: 100,
            backoff_base_ms: 100,
            backoff_max_ms: 400,
            fast_queries: 3,
            slow_interval_ms: 1_000,
            min_spacing_ms: 20,
            query_timeout_ms: 2_000,
        },
        dead_man: Duration::ZERO,
        cancel_on_stop: true,
    }
}

fn rig(tif: &str, t: Timings) -> Rig {
    let cfg = common::test_config(|c| {
        c.mode = TradingMode::Testnet;
        c.instruments.retain(|i| i.symbol == SYMBOL);
        if let Some(b) = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
        {
            b.symbols = vec![SYMBOL.into()];
        }
    });
    let table = instruments_from_config(&cfg).unwrap();
    let inst = table.get(InstrumentId(0)).clone();
    let sim = start_sim_for(&cfg, &table).unwrap();
    let metrics = Arc::new(Metrics::new());
    let shared = Arc::new(Shared::new(
        Arc::new(table),
        metrics.clone(),
        "t".into(),
        TradingMode::Testnet,
    ));
    let (exec_ports, session_ports) = ports(1024, WaitKind::Park, &metrics);
    let session = BinanceTrading
        .start_with(
            TradingContext {
                cfg: &cfg,
                shared: &shared,
                ports: session_ports,
                settings: TradingSettings {
                    client_id_prefix: "t".into(),
                    time_in_force: tif.into(),
                },
                sim: Some(SimTrading {
                    rest_url: sim.rest_url(),
                    ws_url: sim.ws_url(),
                    api_key: qt_sim::binance::SIM_API_KEY.into(),
                    api_secret: qt_sim::binance::SIM_API_SECRET.into(),
                }),
                epoch_floor_ms: None,
                adopted: Vec::new(),
                missing: Vec::new(),
                journal: None,
            },
            t,
        )
        .unwrap();
    let (itx, irx) = queue::<OrderIntent>("exec_in", 64, WaitKind::Park, &metrics);
    let (rtx, rrx) = spsc::<ExecReport>("exec_to_risk", 1024, WaitKind::Park, &metrics);
    let sh = shared.clone();
    let exec = std::thread::spawn(move || {
        run_exec_stage_with(
            irx,
            rtx,
            sh,
            ExecConfig::default(),
            ExecSeed::default(),
            Gateway::Venue(exec_ports),
        )
    });
    let r = Rig {
        sim,
        shared,
        intents: Some(itx),
        reports: rrx,
        got: Vec::new(),
        exec: Some(exec),
        session: Some(session),
        inst,
    };
    r.wait_stream_up();
    r
}

impl Rig {
    fn stream_up(&self) -> bool {
        self.shared.venue_gates.private_stream_up(Venue::Binance)
    }

    fn wait_stream_up(&self) {
        let t0 = Instant::now();
        while !self.stream_up() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "private stream never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn touch(&self) -> (i64, i64) {
        let b = self.sim.book(SYMBOL).expect("sim book");
        (b.bids[0].0, b.asks[0].0)
    }

    fn send(&self, coid: u64, side: Side, lots: i64, limit_px: i64) {
        let (bid, ask) = self.touch();
        let mut bids = [Level::default(); TOP_LEVELS];
        let mut asks = [Level::default(); TOP_LEVELS];
        bids[0] = Level { px: bid, qty: 1 };
        asks[0] = Level { px: ask, qty: 1 };
        let now = now_ns();
        let qty = lots * self.inst.lot;
        let d = Decision {
            id: coid,
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
            score: 0.9,
            confidence: 0.9,
            model_version: 0,
            feature_mask: 0,
            qty,
            features: [0.0; N_FEATURES],
            book: BookTop {
                venue: Venue::Binance,
                inst: InstrumentId(0),
                recv_ns: now,
                hop_ns: now,
                exch_ms: 0,
                update_id: 1,
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
        };
        self.intents
            .as_ref()
            .unwrap()
            .try_send(OrderIntent {
                client_order_id: coid,
                side,
                qty,
                limit_px,
                decision: d,
                hop_ns: now,
            })
            .unwrap();
    }

    /// A buy that crosses the book by 50 ticks (an IOC takes at once).
    fn buy_crossing(&self, coid: u64, lots: i64) {
        let (_, ask) = self.touch();
        self.send(coid, Side::Buy, lots, ask + 50 * self.inst.tick);
    }

    fn pump(&mut self, for_: Duration) {
        let until = Instant::now() + for_;
        while Instant::now() < until {
            if let Next::Item(r) = self.reports.next(Duration::from_millis(5)) {
                self.got.push(r);
            }
        }
    }

    /// Waits until order `coid` is done; returns its status.
    fn wait_done(&mut self, coid: u64, timeout: Duration) -> OrderStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.done(coid) {
                return s;
            }
            assert!(
                t0.elapsed() < timeout,
                "order {coid} not done after {timeout:?}: {:?}",
                self.got
            );
            self.pump(Duration::from_millis(20));
        }
    }

    fn done(&self, coid: u64) -> Option<OrderStatus> {
        self.got.iter().find_map(|r| match r {
            ExecReport::Done {
                client_order_id,
                status,
                ..
            } if *client_order_id == coid => Some(*status),
            _ => None,
        })
    }

    fn dones(&self, coid: u64) -> usize {
        self.got
            .iter()
            .filter(|r| matches!(r, ExecReport::Done { client_order_id, .. } if *client_order_id == coid))
            .count()
    }

    /// (filled qty, fee) reported for `coid`.
    fn filled(&self, coid: u64) -> (i64, quantum_trader::core::Money) {
        let mut q = 0;
        let mut fee = quantum_trader::core::Money::ZERO;
        for r in &self.got {
            if let ExecReport::Fill {
                client_order_id,
                qty,
                fee: f,
                ..
            } = r
                && *client_order_id == coid
            {
                q += qty;
                fee += *f;
            }
        }
        (q, fee)
    }

    fn position(&self) -> i64 {
        self.got
            .iter()
            .rev()
            .find_map(|r| match r {
                ExecReport::Fill { position_after, .. } => Some(*position_after),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// New-order requests the simulator received, per client order id.
    fn requests(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .sim
            .new_order_requests_by_client_id()
            .into_values()
            .collect();
        v.sort();
        v
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.shared
            .metrics
            .registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
            .filter(|m| {
                labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            .map(|m| m.get_counter().value() + m.get_gauge().value())
            .sum::<f64>() as u64
    }

    fn stop(mut self) -> Self {
        drop(self.intents.take());
        if let Some(e) = self.exec.take() {
            while !e.is_finished() {
                if let Next::Item(r) = self.reports.next(Duration::from_millis(5)) {
                    self.got.push(r);
                }
            }
            e.join().unwrap();
        }
        while let Next::Item(r) = self.reports.next(Duration::from_millis(1)) {
            self.got.push(r);
        }
        if let Some(s) = self.session.take() {
            s.join(Duration::from_secs(10));
        }
        self
    }
}

#[test]
fn ioc_taker_fill_drives_position_and_the_venues_fee() {
    let mut r = rig("IOC", timings());
    assert!(r.sim.set_fee_rates("0.0002", "0.0005"));
    r.buy_crossing(1, 3);
    assert_eq!(r.wait_done(1, Duration::from_secs(10)), OrderStatus::Filled);
    r.pump(Duration::from_millis(300));
    let (q, fee) = r.filled(1);
    assert_eq!(q, 3 * r.inst.lot);
    assert_eq!(r.position(), 3 * r.inst.lot);
    // The venue's commission: 0.05% of the notional, exactly.
    let notional: i64 = r
        .got
        .iter()
        .filter_map(|x| match x {
            ExecReport::Fill { px, qty, .. } => Some(
                quantum_trader::core::Money::notional(
                    *px,
                    *qty,
                    r.inst.price_scale,
                    r.inst.qty_scale,
                )
                .0,
            ),
            _ => None,
        })
        .sum();
    assert!(fee.0 > 0, "fee from the venue");
    assert_eq!(fee.0, notional * 5 / 10_000, "taker fee 0.05%");
    assert_eq!(r.dones(1), 1);
    assert_eq!(r.requests(), vec![1]);
    assert_eq!(r.metric("qt_orders_total", &[("status", "filled")]), 1);
    let v = r.shared.positions.lock().clone();
    assert!(
        (v.fees - fee.to_f64()).abs() < 1e-9,
        "{} vs {}",
        v.fees,
        fee
    );
    r.stop();
}

#[test]
fn gtc_rests_then_fills_when_the_market_crosses_it() {
    let mut r = rig("GTC", timings());
    let (bid, _) = r.touch();
    let limit = bid - 30 * r.inst.tick;
    r.send(1, Side::Buy, 2, limit);
    r.pump(Duration::from_millis(500));
    assert_eq!(r.done(1), None, "a GTC below the bid rests");
    assert_eq!(r.filled(1).0, 0);
    let target = quantum_trader::core::format_decimal(limit - 40 * r.inst.tick, r.inst.price_scale);
    assert!(r.sim.steer_market(SYMBOL, &target));
    assert_eq!(r.wait_done(1, Duration::from_secs(10)), OrderStatus::Filled);
    r.pump(Duration::from_millis(200));
    assert_eq!(r.filled(1).0, 2 * r.inst.lot);
    assert_eq!(r.dones(1), 1);
    assert_eq!(r.requests(), vec![1]);
    r.stop();
}

#[test]
fn unknown_503_placed_is_resolved_without_a_second_order() {
    let mut r = rig("IOC", timings());
    r.sim.inject(Fault::NewOrder503Placed(1));
    r.buy_crossing(1, 1);
    assert_eq!(r.wait_done(1, Duration::from_secs(10)), OrderStatus::Filled);
    r.pump(Duration::from_millis(800));
    assert_eq!(r.filled(1).0, r.inst.lot);
    assert_eq!(r.requests(), vec![1], "never resent");
    assert!(r.metric("qt_order_unknown_outcomes_total", &[]) >= 1);
    assert_eq!(
        r.shared
            .trading(Venue::Binance)
            .unresolved_orders
            .load(Ordering::Relaxed),
        0
    );
    r.stop();
}

#[test]
fn unknown_500_not_placed_stays_watched_and_is_never_resent() {
    let mut r = rig("IOC", timings());
    r.sim.inject(Fault::NewOrder500NotPlaced(1));
    r.buy_crossing(1, 1);
    r.pump(Duration::from_millis(2_500));
    assert_eq!(r.done(1), None, "not found is not evidence: still unknown");
    assert_eq!(
        r.shared
            .trading(Venue::Binance)
            .unresolved_orders
            .load(Ordering::Relaxed),
        1,
        "its exposure stays visible"
    );
    assert_eq!(r.requests(), vec![1], "never resent");
    // The next order goes through normally.
    r.buy_crossing(2, 1);
    assert_eq!(r.wait_done(2, Duration::from_secs(10)), OrderStatus::Filled);
    assert_eq!(r.requests(), vec![1, 1]);
    r.stop();
}

#[test]
fn timeout_with_the_order_placed_is_resolved_once() {
    let mut r = rig("IOC", timings());
    r.sim.inject(Fault::NewOrderDelay {
        orders: 1,
        delay: Duration::from_millis(1_500),
    });
    r.buy_crossing(1, 2);
    assert_eq!(r.wait_done(1, Duration::from_secs(10)), OrderStatus::Filled);
    r.pump(Duration::from_millis(2_000));
    assert_eq!(r.filled(1).0, 2 * r.inst.lot);
    assert_eq!(r.dones(1), 1);
    assert_eq!(r.requests(), vec![1], "never resent");
    assert_eq!(r.position(), 2 * r.inst.lot);
    r.stop();
}

#[test]
fn a_fill_inside_a_stream_gap_is_applied_once() {
    let mut t = timings();
    // A slow reconnect so the fills happen inside the gaps.
    t.reconnect_min = Duration::from_millis(800);
    t.reconnect_max = Duration::from_millis(800);
    let mut r = rig("GTC", t);
    // Dropped stream: the resting order fills while it is down.
    let (bid, _) = r.touch();
    let limit = bid - 30 * r.inst.tick;
    r.send(1, Side::Buy, 2, limit);
    r.pump(Duration::from_millis(300));
    assert_eq!(r.done(1), None);
    r.sim.inject(Fault::DropPrivateStreams);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!r.stream_up(), "the drop is seen");
    let low = quantum_trader::core::format_decimal(limit - 40 * r.inst.tick, r.inst.price_scale);
    assert!(r.sim.steer_market(SYMBOL, &low));
    assert_eq!(r.wait_done(1, Duration::from_secs(10)), OrderStatus::Filled);
    r.wait_stream_up();
    // listenKey expiry: a second resting order fills inside that gap.
    let (bid, _) = r.touch();
    let limit2 = bid - 30 * r.inst.tick;
    r.send(2, Side::Buy, 1, limit2);
    r.pump(Duration::from_millis(300));
    r.sim.inject(Fault::ExpireListenKey);
    std::thread::sleep(Duration::from_millis(100));
    let low2 = quantum_trader::core::format_decimal(limit2 - 40 * r.inst.tick, r.inst.price_scale);
    assert!(r.sim.steer_market(SYMBOL, &low2));
    assert_eq!(r.wait_done(2, Duration::from_secs(10)), OrderStatus::Filled);
    r.wait_stream_up();
    r.pump(Duration::from_millis(500));
    assert_eq!(r.filled(1).0, 2 * r.inst.lot, "applied once");
    assert_eq!(r.filled(2).0, r.inst.lot, "applied once");
    assert_eq!((r.dones(1), r.dones(2)), (1, 1));
    assert_eq!(r.position(), 3 * r.inst.lot);
    assert!(r.metric("qt_private_gap_fills_total", &[]) >= 3);
    assert!(r.metric("qt_private_stream_total", &[("step", "expired")]) >= 1);
    assert_eq!(r.requests(), vec![1, 1]);
    r.stop();
}

#[test]
fn duplicated_and_reordered_events_change_nothing() {
    let mut r = rig("IOC", timings());
    r.sim.inject(Fault::StreamDuplicate(40));
    r.sim.inject(Fault::StreamReorder(2));
    for coid in 1..=3 {
        r.buy_crossing(coid, 1);
        assert_eq!(
            r.wait_done(coid, Duration::from_secs(10)),
            OrderStatus::Filled
        );
    }
    r.pump(Duration::from_millis(500));
    for coid in 1..=3 {
        assert_eq!(r.filled(coid).0, r.inst.lot, "order {coid}");
        assert_eq!(r.dones(coid), 1);
    }
    assert_eq!(r.position(), 3 * r.inst.lot);
    assert_eq!(
        r.metric("qt_order_anomalies_total", &[("kind", "conflicting_fill")]),
        0
    );
    assert_eq!(
        r.metric("qt_order_anomalies_total", &[("kind", "excess_fill")]),
        0
    );
    r.stop();
}

#[test]
fn a_429_storm_stops_orders_and_never_earns_a_418() {
    let mut r = rig("IOC", timings());
    r.sim.inject(Fault::RateLimitStorm {
        requests: 1,
        duration: Duration::from_millis(1_500),
    });
    r.buy_crossing(1, 1);
    assert_eq!(
        r.wait_done(1, Duration::from_secs(5)),
        OrderStatus::Rejected
    );
    for coid in 2..=5 {
        r.buy_crossing(coid, 1);
    }
    for coid in 2..=5 {
        assert_eq!(
            r.wait_done(coid, Duration::from_secs(5)),
            OrderStatus::Rejected
        );
    }
    assert_eq!(r.requests(), vec![1], "nothing sent while Retry-After runs");
    // Retry-After is whole seconds (2 here): after it, orders flow again.
    std::thread::sleep(Duration::from_millis(2_500));
    r.buy_crossing(6, 1);
    assert_eq!(r.wait_done(6, Duration::from_secs(10)), OrderStatus::Filled);
    assert_eq!(r.sim.stats().rest_banned_418, 0, "no 418");
    assert_eq!(
        r.metric(
            "qt_orders_total",
            &[("status", "rejected"), ("reason", "rate_limited")]
        ),
        5
    );
    r.stop();
}

/// The whole engine in `mode = "testnet"` against the built-in simulator:
/// decisions become orders at the simulated venue, every client order id is
/// sent exactly once, and the engine's position equals the venue's.
#[test]
fn testnet_engine_trades_at_the_simulator_and_matches_its_position() {
    use common::EngineSim;
    use quantum_trader::app::engine::Engine;
    let text = std::fs::read_to_string("config/model.json").unwrap();
    let text = text
        .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
        .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
    let model = std::env::temp_dir().join(format!("qt-model-testnet-{}.json", std::process::id()));
    std::fs::write(&model, text).unwrap();
    let cfg = common::test_config(|c| {
        c.mode = TradingMode::Testnet;
        c.model.path = model.to_string_lossy().into_owned();
        c.model.decision_cooldown_ms = 0;
        c.risk.max_orders_per_sec = 5;
        c.risk.max_orders_per_min = 100_000;
        c.risk.daily_trade_cap = 100_000;
        c.sim.rate_per_symbol = 1000;
        // A private stream that stays down long enough for `/ready` to see it.
        if let Some(b) = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
        {
            b.backoff_min_ms = 2_000;
            b.backoff_max_ms = 2_000;
        }
    });
    let engine = Engine::start(cfg, common::engine_options()).expect("testnet engine starts");
    let shared = engine.shared().clone();
    assert!(
        common::wait_until(Duration::from_secs(40), || shared.positions.lock().fills
            >= 10),
        "too few venue fills: {:?}",
        shared.positions.lock()
    );
    let sim = engine.sim().unwrap();
    // `/ready` shows the private stream; drop it and it says why it is not ready.
    let addr = engine.ops_addr().unwrap();
    let (_, ready) = common::get_json(addr, "/ready");
    assert_eq!(
        ready["checks"]["private_streams"]["binance"]["up"], true,
        "{ready}"
    );
    sim.inject(Fault::DropPrivateStreams);
    assert!(
        common::wait_until(Duration::from_secs(5), || {
            let (code, r) = common::get_json(addr, "/ready");
            code == 503 && r.to_string().contains("private_stream_down:binance")
        }),
        "/ready reports the private stream down"
    );
    assert!(
        common::wait_until(Duration::from_secs(10), || shared
            .venue_gates
            .private_stream_up(Venue::Binance)),
        "the stream comes back"
    );
    let requests = sim.new_order_requests_by_client_id();
    assert!(requests.values().all(|n| *n == 1), "{requests:?}");
    assert!(shared.venue_gates.private_stream_up(Venue::Binance));
    // Orders keep flowing (a few per second): at some moment between two
    // orders the engine's position equals the venue's.
    let same = || {
        let acct = sim.account();
        let view = shared.positions.lock().clone();
        view.positions.iter().all(|p| {
            let venue = acct
                .positions
                .iter()
                .find(|(s, _, _)| *s == p.symbol)
                .map(|(_, amt, _)| amt.parse::<f64>().unwrap())
                .unwrap_or(0.0);
            (venue - p.qty).abs() < 1e-9
        })
    };
    assert!(
        common::wait_until(Duration::from_secs(15), same),
        "engine {:?} venue {:?}",
        shared.positions.lock().positions,
        sim.account().positions
    );
    let view = shared.positions.lock().clone();
    engine.stop();
    for name in ["tick_to_wire", "order_round_trip"] {
        if let Some(l) = shared.latency.get(name) {
            eprintln!(
                "engine {name}: n={} p50={:.0}us p99={:.0}us p99.9={:.0}us",
                l.count,
                l.p50_ns as f64 / 1e3,
                l.p99_ns as f64 / 1e3,
                l.p999_ns as f64 / 1e3
            );
        }
    }
    assert!(view.fees > 0.0, "fees from the venue");
}

/// Figures for the closing note: order round trip (request sent → answer)
/// and intent → request handed to the HTTP client, over 200 sequential IOC
/// orders against the simulator on loopback. Printed, and sanity-checked.
#[test]
fn order_round_trip_figures() {
    let mut r = rig("IOC", timings());
    let n = 200;
    for coid in 1..=n {
        let side = if coid % 2 == 0 { Side::Sell } else { Side::Buy };
        let (bid, ask) = r.touch();
        let limit = match side {
            Side::Buy => ask + 50 * r.inst.tick,
            Side::Sell => bid - 50 * r.inst.tick,
        };
        r.send(coid, side, 1, limit);
        assert_eq!(
            r.wait_done(coid, Duration::from_secs(10)),
            OrderStatus::Filled
        );
    }
    r.pump(Duration::from_millis(300));
    let lat = |name: &str| {
        let s = r.shared.latency.get(name).unwrap();
        (
            s.count,
            s.p50_ns as f64 / 1e3,
            s.p99_ns as f64 / 1e3,
            s.p999_ns as f64 / 1e3,
        )
    };
    let rt = lat("order_round_trip");
    let t2w = lat("tick_to_wire");
    eprintln!(
        "order_round_trip n={} p50={:.0}us p99={:.0}us p99.9={:.0}us | intent_to_wire n={} p50={:.0}us p99={:.0}us p99.9={:.0}us",
        rt.0, rt.1, rt.2, rt.3, t2w.0, t2w.1, t2w.2, t2w.3
    );
    assert_eq!(rt.0, n);
    assert_eq!(r.requests(), vec![1; n as usize]);
    r.stop();
}

#[test]
fn dead_man_switch_is_re_armed_and_stop_cancels_open_orders() {
    let mut t = timings();
    t.dead_man = Duration::from_millis(2_000);
    let mut r = rig("GTC", t);
    let (bid, _) = r.touch();
    r.send(1, Side::Buy, 1, bid - 30 * r.inst.tick);
    r.send(2, Side::Buy, 1, bid - 31 * r.inst.tick);
    r.pump(Duration::from_millis(1_600));
    assert_eq!(r.sim.account().open_orders.len(), 2, "both rest");
    let armed = r.metric("qt_private_stream_total", &[("step", "dead_man_armed")]);
    assert!(armed >= 2, "armed and re-armed every 500 ms: {armed}");
    assert!(
        r.sim.stats().countdown_arms >= 2,
        "the venue saw the re-arms"
    );
    assert_eq!(r.sim.stats().countdown_triggers, 0);
    let r = r.stop();
    assert!(r.sim.account().open_orders.is_empty(), "canceled at stop");
    assert_eq!(r.done(1), Some(OrderStatus::Canceled));
    assert_eq!(r.done(2), Some(OrderStatus::Canceled));
}

#[test]
fn the_kill_switch_cancels_open_orders_at_the_venue() {
    let mut r = rig("GTC", timings());
    let (bid, _) = r.touch();
    r.send(1, Side::Buy, 1, bid - 30 * r.inst.tick);
    r.pump(Duration::from_millis(500));
    assert_eq!(r.sim.account().open_orders.len(), 1);
    // What the risk stage publishes when the kill switch is turned on.
    *r.shared.risk.lock() =
        serde_json::json!({"kill_switch": true, "circuit_breaker": {"state": "CLOSED"}});
    assert_eq!(
        r.wait_done(1, Duration::from_secs(5)),
        OrderStatus::Canceled
    );
    assert!(r.sim.account().open_orders.is_empty());
    r.stop();
}
