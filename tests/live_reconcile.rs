//! Startup reconciliation over real sockets, the simulator as the venue
//! (kept running across engine restarts, as a venue is): an open GTC order
//! and a position put at the venue by hand (or by an engine that died), then
//! the engine starts in live mode (the interlock passes for real with the
//! simulator's key) → the order is adopted once, the position is the
//! venue's, each discrepancy is counted and the position journaled; no
//! order leaves (each is over a tiny order-notional limit). A restart adopts the same order once again
//! (nothing duplicated at the venue or in the seed) and finds the position
//! already agreed; with `adopt_unknown_orders = "cancel"` the order is
//! canceled at the venue.

mod common;

use common::venue_rig::{KEY_ENV, SECRET_ENV, VenueRig};
use common::*;
use qt_sim::binance::SIM_API_KEY;
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::config::{AdoptPolicy, Config, TradingMode};
use quantum_trader::core::{Side, format_decimal};
use quantum_trader::journal::{self, Body};
use quantum_trader::venue::binance::signed::{NewOrder, NewOrderKind, TimeInForce, WireSide};
use std::time::Duration;

fn config(sim: &qt_sim::SimHandle, journal: &std::path::Path) -> Config {
    test_config(|c| {
        c.mode = TradingMode::Live;
        // The engine trades, but every order stays under the tiny order
        // notional limit's SKIP (set, as live requires), so the venue's
        // orders and position are only what the test placed; and stop
        // leaves the adopted order working.
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
        // The simulator is also where the orders go (trading endpoints).
        let b = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
            .unwrap();
        b.trade_rest_url = sim.rest_url();
        b.user_stream_url = sim.ws_url();
    })
}

fn start(cfg: Config) -> Engine {
    Engine::start(
        cfg,
        EngineOptions {
            no_ops: true,
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

#[test]
fn restart_with_an_open_order_and_a_position_adopts_them_once() {
    let VenueRig {
        sim,
        btc,
        rt,
        client,
        bid,
    } = VenueRig::start();
    let order = |id: &str, kind: NewOrderKind, qty: i64| NewOrder {
        symbol: "BTCUSDT".into(),
        side: WireSide::Buy,
        kind,
        quantity: format_decimal(qty, btc.qty_scale),
        client_order_id: id.into(),
        reduce_only: false,
    };
    // A position of 0.003 and a resting buy far under the market.
    rt.block_on(client.new_order(&order("byhand1", NewOrderKind::Market, 3)))
        .unwrap();
    let far = bid / 2 / btc.tick * btc.tick;
    let resting = rt
        .block_on(client.new_order(&order(
            "byhand2",
            NewOrderKind::Limit {
                price: format_decimal(far, btc.price_scale),
                tif: TimeInForce::Gtc,
            },
            2,
        )))
        .unwrap();
    let venue_pos = || {
        let p = rt.block_on(client.position_risk(Some("BTCUSDT"))).unwrap();
        p[0].position_amt.clone()
    };
    let open_at_venue = || rt.block_on(client.open_orders(None)).unwrap();
    assert_eq!(venue_pos(), "0.003");

    let jdir = temp_journal_dir("reconcile");
    for round in 0..2 {
        let e = start(config(&sim, &jdir));
        let st = e.startup();
        assert_eq!(st.venues.len(), 1);
        let v = &st.venues[0];
        let r = &v.reconciliation;
        let adopted: Vec<&str> = r.adopted.iter().map(|o| o.client_id.as_str()).collect();
        assert_eq!(adopted, ["byhand2"], "round {round}");
        assert_eq!(r.adopted[0].venue_order_id, resting.order_id.to_string());
        assert_eq!((r.adopted[0].qty, r.adopted[0].filled), (2, 0));
        assert_eq!(r.adopted[0].price, far);
        assert_eq!(r.adopted[0].side, Side::Buy);
        assert_eq!(r.positions[btc.id.idx()], 3);
        assert!(
            v.account
                .key_hint
                .ends_with(&SIM_API_KEY[SIM_API_KEY.len() - 4..])
        );
        assert!(v.account.snapshot.clock_rtt_ms >= 0);
        assert_eq!(count(&e, "order_adopted"), 1, "round {round}");
        // The first start took the venue's position and journaled it; the
        // restart finds the journal agreeing.
        assert_eq!(count(&e, "position"), if round == 0 { 1 } else { 0 });
        // The trades the venue reports for the symbol: the market fill.
        let trades = v.account.snapshot.recent_trades.as_ref().unwrap();
        assert_eq!(trades.iter().map(|t| t.qty).sum::<i64>(), 3);
        // Trading runs, but no order leaves (over the order notional limit).
        std::thread::sleep(Duration::from_millis(1500));
        e.stop();
        assert_eq!(
            open_at_venue().len(),
            1,
            "nothing duplicated, nothing dropped"
        );
        assert_eq!(venue_pos(), "0.003");
    }
    // The journal holds the position record of the first start.
    let mut positions = 0;
    for d in journal::list_days(&jdir).unwrap() {
        for rec in journal::open_day(&jdir, d).unwrap().unwrap() {
            if let Body::Reconcile {
                kind, venue_value, ..
            } = &rec.body
                && kind == "position"
            {
                assert_eq!(venue_value, "0.003");
                positions += 1;
            }
        }
    }
    assert_eq!(positions, 1);

    // Policy `cancel`: the order the journal lacks is canceled at the venue.
    let mut cfg = config(&sim, &jdir);
    cfg.trading.adopt_unknown_orders = AdoptPolicy::Cancel;
    let e = start(cfg);
    let r = &e.startup().venues[0].reconciliation;
    assert!(r.adopted.is_empty());
    assert_eq!(r.to_cancel.len(), 1);
    assert_eq!(count(&e, "order_canceled"), 1);
    e.stop();
    assert!(open_at_venue().is_empty());
    assert_eq!(venue_pos(), "0.003");
}

/// An order placed by hand before the start is adopted and handed to the
/// trading session: when the market crosses it, its fill from the private
/// stream moves the engine's position, exactly once (not parked).
#[test]
fn an_adopted_order_fills_into_the_engines_position_once() {
    let VenueRig {
        sim,
        btc,
        rt,
        client,
        bid,
    } = VenueRig::start();
    // A resting buy of 0.002 a little under the market.
    let px = bid / 1000 * 999 / btc.tick * btc.tick;
    rt.block_on(client.new_order(&NewOrder {
        symbol: "BTCUSDT".into(),
        side: WireSide::Buy,
        kind: NewOrderKind::Limit {
            price: format_decimal(px, btc.price_scale),
            tif: TimeInForce::Gtc,
        },
        quantity: format_decimal(2, btc.qty_scale),
        client_order_id: "byhand-adopt".into(),
        reduce_only: false,
    }))
    .unwrap();

    let e = start(config(&sim, &temp_journal_dir("adopt-fill")));
    let adopted: Vec<String> = e.startup().venues[0]
        .reconciliation
        .adopted
        .iter()
        .map(|o| o.client_id.clone())
        .collect();
    assert_eq!(adopted, ["byhand-adopt"]);
    let shared = e.shared().clone();
    assert!(
        wait_until(Duration::from_secs(20), || shared
            .venue_gates
            .private_stream_up(quantum_trader::core::Venue::Binance)),
        "the private stream comes up"
    );
    let qty = || {
        shared
            .positions
            .lock()
            .positions
            .iter()
            .find(|p| p.symbol == "BTCUSDT")
            .map_or(0.0, |p| p.qty)
    };
    let fills0 = shared.positions.lock().fills;
    assert_eq!(qty(), 0.0);
    // The market falls through the order's price: it fills at the venue.
    let low = bid / 1000 * 997 / btc.tick * btc.tick;
    assert!(sim.steer_market("BTCUSDT", &format_decimal(low, btc.price_scale)));
    assert!(
        wait_until(Duration::from_secs(20), || sim
            .account()
            .open_orders
            .is_empty()),
        "the adopted order filled at the venue"
    );
    assert!(
        wait_until(Duration::from_secs(10), || (qty() - 0.002).abs() < 1e-9),
        "the engine's position took the adopted order's fill: {}",
        qty()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!((qty() - 0.002).abs() < 1e-9, "once: {}", qty());
    assert_eq!(shared.positions.lock().fills, fills0 + 1);
    e.stop();
    let p = rt.block_on(client.position_risk(Some("BTCUSDT"))).unwrap();
    assert_eq!(p[0].position_amt, "0.002");
}
