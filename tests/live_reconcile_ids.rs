//! Client order ids in the journal, used by the startup reconciliation, and
//! the periodic reconciliation while running; real sockets, the simulator
//! as the venue (kept running across engine restarts, as a venue is).
//!
//! A first life of the engine (live mode, no order passes the tiny order
//! notional limit) journals its client id scheme (`client_ids`: prefix and
//! epoch) when its session starts. The test then stands in for that life's
//! order path: it journals an `order` record for engine sequence 7 (as the
//! risk stage does) and sends that order to the venue under the id the
//! scheme gives it. At the restart:
//!
//! - an order still resting is **matched** (not adopted): tracked by the
//!   session and the governor under its engine id, its later fill applied
//!   once, its end closing the governor's open order;
//! - an order that filled while the engine was down is **missing**, queried
//!   by client id and reported done, its fills not applied a second time
//!   (they are in the venue's position the start took); an order journaled
//!   but never placed is closed after the venue's repeated "unknown order".
//!
//! Periodic reconciliation: an order placed by hand while the engine runs
//! is adopted (or canceled, by policy) and a position changed behind the
//! engine's back is counted, each within about two intervals, once, and
//! shown in `GET /api/orders`.

mod common;

use common::venue_rig::{KEY_ENV, SECRET_ENV, VenueRig};
use common::*;
use quantum_trader::app::engine::{Engine, EngineOptions, instruments_from_config};
use quantum_trader::config::{AdoptPolicy, Config, TradingMode};
use quantum_trader::core::{Instrument, Money, Side, Venue, format_decimal};
use quantum_trader::exec::client_id::ClientIdGen;
use quantum_trader::journal::{self, Body, Entry, Event};
use quantum_trader::venue::binance::signed::{NewOrder, NewOrderKind, TimeInForce, WireSide};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(sim: &qt_sim::SimHandle, journal: &Path) -> Config {
    test_config(|c| {
        c.mode = TradingMode::Live;
        // No order of the engine's own passes (tiny notional limit): the
        // venue's orders are only those of the test.
        c.risk.max_order_notional = 0.01;
        c.trading.cancel_on_stop = Some(false);
        c.sim.enabled = false;
        c.journal.dir = journal.to_string_lossy().into_owned();
        let b = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
            .unwrap();
        b.api_key_env = KEY_ENV.into();
        b.api_secret_env = SECRET_ENV.into();
        b.ws_url.clear();
        b.rest_url.clear();
        quantum_trader::venue::wiring::fill_sim_urls(c, &sim.ws_url(), &sim.rest_url());
        let b = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
            .unwrap();
        b.trade_rest_url = sim.rest_url();
        b.user_stream_url = sim.ws_url();
    })
}

fn start(cfg: Config, ops: bool) -> Engine {
    Engine::start(
        cfg,
        EngineOptions {
            no_ops: !ops,
            live_armed: true,
            ..Default::default()
        },
    )
    .expect("live starts against the simulator")
}

fn count(e: &Engine, kind: &str) -> u64 {
    e.shared()
        .metrics
        .reconcile
        .discrepancies
        .with_label_values(&["binance", kind])
        .get()
}

/// Orders by hand and the venue's position, on the shared rig.
impl VenueRig {
    fn send(&self, id: &str, side: WireSide, kind: NewOrderKind, qty: i64) {
        self.rt
            .block_on(self.client.new_order(&NewOrder {
                symbol: "BTCUSDT".into(),
                side,
                kind,
                quantity: format_decimal(qty, self.btc.qty_scale),
                client_order_id: id.into(),
                reduce_only: false,
            }))
            .unwrap();
    }

    fn gtc(&self, px: i64) -> NewOrderKind {
        NewOrderKind::Limit {
            price: format_decimal(px, self.btc.price_scale),
            tif: TimeInForce::Gtc,
        }
    }

    fn venue_pos(&self) -> String {
        let p = self
            .rt
            .block_on(self.client.position_risk(Some("BTCUSDT")))
            .unwrap();
        p.first()
            .map(|p| p.position_amt.clone())
            .unwrap_or_default()
    }
}

/// Every record of the journal in `dir`, oldest first.
fn records(dir: &Path) -> Vec<journal::Record> {
    let mut out = Vec::new();
    for d in journal::list_days(dir).unwrap() {
        out.extend(journal::open_day(dir, d).unwrap().unwrap());
    }
    out
}

/// Runs a first life that sends nothing; returns the client id scheme it
/// journaled for Binance.
fn first_life(sim: &qt_sim::SimHandle, jdir: &Path) -> ClientIdGen {
    let cfg = config(sim, jdir);
    let prefix = cfg.trading.client_id_prefix.clone();
    let e = start(cfg, false);
    std::thread::sleep(Duration::from_millis(300));
    e.stop();
    let schemes: Vec<(String, String, u64)> = records(jdir)
        .into_iter()
        .filter_map(|r| match r.body {
            Body::ClientIds {
                venue,
                prefix,
                epoch_ms,
            } => Some((venue, prefix, epoch_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(schemes.len(), 1, "one client_ids record per session start");
    let (venue, p, epoch) = schemes[0].clone();
    assert_eq!((venue.as_str(), p.as_str()), ("binance", prefix.as_str()));
    ClientIdGen::start(&prefix, epoch, None).unwrap()
}

/// Journals `order` records as the first life's risk stage would have.
fn journal_orders(cfg: &Config, orders: &[(u64, &Instrument, Side, i64, i64)]) {
    let table = Arc::new(instruments_from_config(cfg).unwrap());
    let m = quantum_trader::telemetry::metrics::Metrics::new();
    let (tx, w) = journal::start(&cfg.journal, table, &m).unwrap();
    for (coid, x, side, qty, px) in orders {
        assert!(tx.send(Entry {
            ts_ms: quantum_trader::core::clock::unix_ms(),
            mode: cfg.mode,
            event: Event::Order {
                client_order_id: *coid,
                decision_id: *coid,
                inst: x.id,
                side: *side,
                qty: *qty,
                limit_px: *px,
            },
        }));
    }
    drop(tx);
    w.join();
}

fn risk_open_orders(e: &Engine) -> u64 {
    e.shared().risk.lock()["open_orders"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

fn engine_qty(e: &Engine) -> f64 {
    e.shared()
        .positions
        .lock()
        .positions
        .iter()
        .find(|p| p.symbol == "BTCUSDT")
        .map_or(0.0, |p| p.qty)
}

/// (a) An own GTC order resting at the venue across a restart is matched,
/// tracked under its engine id, and its later fill is applied once.
#[test]
fn restart_matches_an_own_resting_order_and_applies_its_fill_once() {
    let v = VenueRig::start();
    let jdir = temp_journal_dir("ids-match");
    let ids = first_life(&v.sim, &jdir);
    let cfg = config(&v.sim, &jdir);
    let px = v.bid / 1000 * 999 / v.btc.tick * v.btc.tick;
    journal_orders(&cfg, &[(7, &v.btc, Side::Buy, 2, px)]);
    let cid = ids.id(7).unwrap().to_string();
    v.send(&cid, WireSide::Buy, v.gtc(px), 2);

    let e = start(cfg, false);
    let r = &e.startup().venues[0].reconciliation;
    let matched: Vec<&str> = r.matched.iter().map(|o| o.client_id.as_str()).collect();
    assert_eq!(matched, [cid.as_str()], "matched, not adopted");
    assert!(r.adopted.is_empty() && r.missing.is_empty() && r.to_cancel.is_empty());
    assert_eq!(count(&e, "order_adopted"), 0);
    // The governor keeps it open (it may still fill).
    assert!(
        wait_until(Duration::from_secs(5), || risk_open_orders(&e) == 1),
        "the matched order stays open at the governor: {}",
        risk_open_orders(&e)
    );
    let shared = e.shared().clone();
    assert!(wait_until(Duration::from_secs(20), || shared
        .venue_gates
        .private_stream_up(Venue::Binance)));
    assert_eq!(engine_qty(&e), 0.0);
    let low = v.bid / 1000 * 997 / v.btc.tick * v.btc.tick;
    assert!(
        v.sim
            .steer_market("BTCUSDT", &format_decimal(low, v.btc.price_scale))
    );
    assert!(
        wait_until(Duration::from_secs(20), || v
            .sim
            .account()
            .open_orders
            .is_empty()),
        "the order filled at the venue"
    );
    assert!(
        wait_until(Duration::from_secs(10), || (engine_qty(&e) - 0.002).abs()
            < 1e-9),
        "the fill reached the engine: {}",
        engine_qty(&e)
    );
    assert!(
        wait_until(Duration::from_secs(5), || risk_open_orders(&e) == 0),
        "its end closed the governor's open order"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!((engine_qty(&e) - 0.002).abs() < 1e-9, "once");
    e.stop();
    assert_eq!(v.venue_pos(), "0.002");
    // Nothing duplicated: the venue saw that id once and no other order.
    let sent = v.sim.new_order_requests_by_client_id();
    assert_eq!(sent.get(&cid), Some(&1));
    assert_eq!(sent.len(), 1, "{sent:?}");
    // The journal has the fill and the end under the engine's id 7.
    let recs = records(&jdir);
    let fills: Vec<&Body> = recs
        .iter()
        .map(|r| &r.body)
        .filter(|b| {
            matches!(
                b,
                Body::Fill {
                    client_order_id: 7,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(fills.len(), 1, "{fills:?}");
    assert!(recs.iter().any(|r| matches!(&r.body,
        Body::OrderDone { client_order_id: 7, status, .. } if status == "filled")));
    // No "canceled at recovery" for it.
    assert!(!recs.iter().any(|r| matches!(&r.body,
        Body::OrderDone { client_order_id: 7, status, .. } if status == "canceled")));
}

/// (b) Orders journaled open that filled while the engine was down (or
/// never reached the venue) are missing, queried by client id and reported
/// done; the position is the venue's, not counted twice.
#[test]
fn orders_filled_while_down_are_queried_and_closed_once() {
    let v = VenueRig::start();
    let jdir = temp_journal_dir("ids-missing");
    let ids = first_life(&v.sim, &jdir);
    let cfg = config(&v.sim, &jdir);
    journal_orders(
        &cfg,
        &[
            (7, &v.btc, Side::Buy, 2, v.bid),
            (8, &v.btc, Side::Buy, 1, v.bid),
        ],
    );
    let filled = ids.id(7).unwrap().to_string();
    let never = ids.id(8).unwrap().to_string();
    // Order 7 reached the venue and filled there while the engine was
    // down; order 8 never left (the engine died first).
    v.send(&filled, WireSide::Buy, NewOrderKind::Market, 2);
    assert_eq!(v.venue_pos(), "0.002");

    let e = start(cfg, false);
    let r = &e.startup().venues[0].reconciliation;
    let mut missing: Vec<&str> = r.missing.iter().map(|o| o.client_id.as_str()).collect();
    missing.sort();
    assert_eq!(missing, [filled.as_str(), never.as_str()]);
    assert!(r.matched.is_empty() && r.adopted.is_empty());
    assert_eq!(count(&e, "order_missing"), 2);
    assert!(wait_until(Duration::from_secs(5), || risk_open_orders(&e) == 2));
    // The filled one: queried, done, its fill not applied a second time.
    assert!(
        wait_until(Duration::from_secs(10), || risk_open_orders(&e) == 1),
        "the filled order's query closed it: {}",
        risk_open_orders(&e)
    );
    assert!((engine_qty(&e) - 0.002).abs() < 1e-9, "{}", engine_qty(&e));
    // The one the venue never had: closed after the repeated not-found.
    assert!(
        wait_until(Duration::from_secs(30), || risk_open_orders(&e) == 0),
        "the never-placed order is closed: {}",
        risk_open_orders(&e)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        (engine_qty(&e) - 0.002).abs() < 1e-9,
        "position once: {}",
        engine_qty(&e)
    );
    // The fill made while the engine was down is applied as a fill (fee
    // and PnL in the ledger), before the position comparison: no
    // position discrepancy.
    assert_eq!(count(&e, "position"), 0, "the position matched");
    let view = position_view(&e);
    assert_eq!(view.fills, 1, "{view:?}");
    assert!(view.fees > 0.0, "its fee is in the ledger: {view:?}");
    e.stop();
    assert_eq!(v.venue_pos(), "0.002");
    let recs = records(&jdir);
    let done = |coid: u64, want: &str| {
        recs.iter().any(|r| matches!(&r.body,
            Body::OrderDone { client_order_id, status, .. } if *client_order_id == coid && status == want))
    };
    assert!(done(7, "filled"), "order 7 reported filled");
    assert!(done(8, "canceled"), "order 8 reported canceled");
    let fills = |recs: &[journal::Record]| -> Vec<(String, Money)> {
        recs.iter()
            .filter_map(|r| match &r.body {
                Body::Fill {
                    client_order_id: 7,
                    qty,
                    fee,
                    ..
                } => Some((qty.clone(), *fee)),
                _ => None,
            })
            .collect()
    };
    let once = fills(&recs);
    assert_eq!(once.len(), 1, "journaled once: {once:?}");
    assert_eq!(once[0].0, "0.002");
    assert!(once[0].1 > Money::ZERO, "with its fee: {once:?}");
    // Nothing resent: only the test's own request for order 7.
    let sent = v.sim.new_order_requests_by_client_id();
    assert_eq!(sent.len(), 1, "{sent:?}");

    // A second start applies nothing again and finds no discrepancy.
    let e = start(config(&v.sim, &jdir), false);
    let r = &e.startup().venues[0].reconciliation;
    assert!(r.missing.is_empty(), "{:?}", r.missing);
    assert_eq!(count(&e, "position"), 0);
    std::thread::sleep(Duration::from_millis(500));
    let view = position_view(&e);
    assert_eq!(view.fills, 1, "replayed once: {view:?}");
    assert!((view.qty - 0.002).abs() < 1e-9, "{view:?}");
    e.stop();
    assert_eq!(fills(&records(&jdir)), once, "nothing journaled twice");
}

/// (c) An own GTC order resting when the engine stops fills at the venue
/// while the engine is down (the simulator's market steered across it):
/// the next start applies that fill once (journaled `fill` with its fee,
/// in `/api/positions`), with no position discrepancy; a third start
/// applies nothing.
#[test]
fn a_resting_order_filled_while_down_is_applied_once_across_restarts() {
    let v = VenueRig::start();
    let jdir = temp_journal_dir("ids-down-fill");
    let ids = first_life(&v.sim, &jdir);
    let cfg = config(&v.sim, &jdir);
    let px = v.bid / 1000 * 999 / v.btc.tick * v.btc.tick;
    journal_orders(&cfg, &[(7, &v.btc, Side::Buy, 2, px)]);
    let cid = ids.id(7).unwrap().to_string();
    v.send(&cid, WireSide::Buy, v.gtc(px), 2);
    // A life with the order resting (matched, kept), stopped without
    // canceling it.
    let e = start(cfg, false);
    assert_eq!(e.startup().venues[0].reconciliation.matched.len(), 1);
    e.stop();
    assert_eq!(v.sim.account().open_orders.len(), 1, "still resting");
    // Down: the market crosses the order.
    let low = v.bid / 1000 * 997 / v.btc.tick * v.btc.tick;
    assert!(
        v.sim
            .steer_market("BTCUSDT", &format_decimal(low, v.btc.price_scale))
    );
    assert!(
        wait_until(Duration::from_secs(20), || v
            .sim
            .account()
            .open_orders
            .is_empty()),
        "the order filled at the venue while the engine was down"
    );
    assert_eq!(v.venue_pos(), "0.002");

    let e = start(config(&v.sim, &jdir), false);
    let r = &e.startup().venues[0].reconciliation;
    let missing: Vec<&str> = r.missing.iter().map(|o| o.client_id.as_str()).collect();
    assert_eq!(missing, [cid.as_str()]);
    assert_eq!(count(&e, "position"), 0, "no position discrepancy");
    let view = position_view(&e);
    assert_eq!(view.fills, 1, "{view:?}");
    assert!((view.qty - 0.002).abs() < 1e-9, "{view:?}");
    assert!(view.fees > 0.0, "{view:?}");
    assert!(
        wait_until(Duration::from_secs(10), || risk_open_orders(&e) == 0),
        "the order's end closed it: {}",
        risk_open_orders(&e)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(position_view(&e).fills, 1, "not applied a second time");
    e.stop();
    let fills = || -> Vec<Money> {
        records(&jdir)
            .iter()
            .filter_map(|r| match &r.body {
                Body::Fill {
                    client_order_id: 7,
                    fee,
                    ..
                } => Some(*fee),
                _ => None,
            })
            .collect()
    };
    let once = fills();
    assert_eq!(once.len(), 1, "journaled once: {once:?}");
    assert!(once[0] > Money::ZERO, "{once:?}");

    let e = start(config(&v.sim, &jdir), false);
    assert_eq!(count(&e, "position"), 0);
    assert_eq!(count(&e, "fill"), 0);
    std::thread::sleep(Duration::from_millis(500));
    let view = position_view(&e);
    assert_eq!(view.fills, 1, "{view:?}");
    assert!((view.qty - 0.002).abs() < 1e-9, "{view:?}");
    e.stop();
    assert_eq!(fills(), once, "nothing journaled again");
    let sent = v.sim.new_order_requests_by_client_id();
    assert_eq!(sent.len(), 1, "{sent:?}");
}

fn position_view(e: &Engine) -> quantum_trader::pipeline::shared::PositionView {
    e.shared()
        .positions
        .lock()
        .positions
        .iter()
        .find(|p| p.symbol == "BTCUSDT")
        .cloned()
        .unwrap_or_default()
}

fn api_orders(rt: &tokio::runtime::Runtime, port: u16) -> serde_json::Value {
    rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/api/orders"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    })
}

fn shown(v: &serde_json::Value, kind: &str) -> bool {
    v["venues"]["binance"]["last_reconcile"]["discrepancies"]
        .as_array()
        .is_some_and(|a| a.iter().any(|d| d["kind"] == kind))
}

/// (c) Periodic reconciliation: an order placed by hand while running is
/// adopted (policy adopt) or canceled (policy cancel), a position changed
/// behind the engine's back is counted, within about two intervals, once,
/// and `/api/orders` shows them.
#[test]
fn periodic_reconciliation_finds_orders_and_positions_behind_the_engines_back() {
    for policy in [AdoptPolicy::Adopt, AdoptPolicy::Cancel] {
        let v = VenueRig::start();
        let port = free_port();
        let mut cfg = config(&v.sim, &temp_journal_dir("ids-periodic"));
        cfg.trading.reconcile_interval_secs = 1;
        cfg.trading.adopt_unknown_orders = policy;
        cfg.ops.listen = format!("127.0.0.1:{port}");
        let e = start(cfg, true);
        let shared = e.shared().clone();
        assert!(wait_until(Duration::from_secs(20), || shared
            .venue_gates
            .private_stream_up(Venue::Binance)));
        // A run has happened with nothing to find.
        assert!(wait_until(Duration::from_secs(5), || {
            api_orders(&v.rt, port)["venues"]["binance"]["last_reconcile"]["result"] == "ok"
        }));
        assert_eq!(count(&e, "order_adopted") + count(&e, "order_canceled"), 0);
        assert_eq!(count(&e, "position"), 0);

        // An order placed by hand, far from the market, while running.
        let far = v.bid / 2 / v.btc.tick * v.btc.tick;
        v.send("byhand-run", WireSide::Buy, v.gtc(far), 1);
        let kind = match policy {
            AdoptPolicy::Adopt => "order_adopted",
            AdoptPolicy::Cancel => "order_canceled",
        };
        assert!(
            wait_until(Duration::from_millis(2_500), || count(&e, kind) == 1),
            "{kind} counted within about two intervals"
        );
        let view = api_orders(&v.rt, port);
        assert!(shown(&view, kind), "{view}");
        let listed = view["venues"]["binance"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["client_id"] == "byhand-run");
        match policy {
            AdoptPolicy::Adopt => {
                assert!(listed, "the adopted order is a working order: {view}");
                assert_eq!(v.sim.account().open_orders.len(), 1);
            }
            AdoptPolicy::Cancel => assert!(
                wait_until(Duration::from_secs(3), || v
                    .sim
                    .account()
                    .open_orders
                    .is_empty()),
                "canceled at the venue"
            ),
        }

        // A position changed behind the engine's back.
        v.send("byhand-mkt", WireSide::Buy, NewOrderKind::Market, 1);
        assert!(
            wait_until(Duration::from_millis(2_500), || count(&e, "position") == 1),
            "position counted within about two intervals"
        );
        assert!(shown(&api_orders(&v.rt, port), "position"));
        // Counted once while it lasts (shown at every run).
        std::thread::sleep(Duration::from_millis(2_500));
        assert_eq!(count(&e, "position"), 1);
        assert_eq!(count(&e, kind), 1);
        assert!(shown(&api_orders(&v.rt, port), "position"));
        e.stop();
    }
}
