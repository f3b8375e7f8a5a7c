//! The account's order-rate limit acted on before the venue refuses: the
//! simulator's ORDERS limit lowered to 6 per 10 s (published in its
//! `exchangeInfo.rateLimits`, enforced with HTTP 429 `-1015`), a testnet
//! engine that wants to trade 5 times a second → the engine keeps under
//! the limit across windows (orders keep flowing, in windows), stops with
//! `venue_order_rate` SKIPs while a window is full, and the simulator never
//! answers `-1015` (counted at the simulator).

mod common;

use common::venue_rig::VenueRig;
use common::*;
use std::time::Duration;

#[test]
fn trading_faster_than_the_accounts_order_limit_never_earns_a_1015() {
    let v = VenueRig::start();
    v.sim.set_order_limits(6, 1_200);
    let cfg = v.trading_config(&temp_journal_dir("order-rate"), |_| {});
    let e = v.engine(cfg, true);
    let addr = e.ops_addr().unwrap();
    let placed0 = v.sim.stats().orders_placed;
    // Three windows' worth of orders: more than one window allows.
    assert!(
        wait_until(Duration::from_secs(40), || v.sim.stats().orders_placed
            >= placed0 + 12),
        "orders flow in windows: {} placed",
        v.sim.stats().orders_placed - placed0
    );
    let stats = v.sim.stats();
    let skips = metric(
        addr,
        "qt_verdicts_total",
        &[("verdict", "SKIP"), ("reason", "venue_order_rate")],
    );
    let stops = metric(
        addr,
        "qt_venue_order_rate_stops_total",
        &[("venue", "binance")],
    );
    let refused_locally = metric(
        addr,
        "qt_orders_total",
        &[("status", "rejected"), ("reason", "rate_limited")],
    );
    e.stop();
    eprintln!(
        "placed {}, venue -1015 answers {}, SKIP venue_order_rate {skips}, stops {stops}, refused locally {refused_locally}",
        stats.orders_placed - placed0,
        stats.new_orders_rate_limited
    );
    assert_eq!(stats.new_orders_rate_limited, 0, "never a -1015");
    assert!(stops >= 2.0, "stopped at each full window: {stops}");
    assert!(skips > 0.0, "risk SKIPs while the window is full");
    assert_eq!(stats.rest_banned_418, 0);
}
