//! The account as the venue states it, over real sockets with the
//! simulator as the venue: the testnet engine's `/api/account` (seeded by
//! the preflight, then every `ACCOUNT_UPDATE`) equals the simulator's own
//! account after fills, and so do `qt_venue_balance` / `qt_venue_position`;
//! a position changed behind the engine's back (an order placed by hand)
//! is one `position` discrepancy after the settle time, counted once,
//! while the engine's position is left alone; the engine's own trading,
//! faster than the settle time, raises no alarm.

mod common;

use common::venue_rig::VenueRig;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn account(addr: SocketAddr) -> Value {
    let (code, v) = get_json(addr, "/api/account");
    assert_eq!(code, 200, "{v}");
    v["venues"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["venue"] == "binance"))
        .cloned()
        .unwrap_or_else(|| panic!("no binance account: {v}"))
}

fn btc(acct: &Value) -> Value {
    acct["positions"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["symbol"] == "BTCUSDT"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn usdt(acct: &Value) -> String {
    acct["balances"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["asset"] == "USDT"))
        .and_then(|b| b["wallet"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn discrepancies(addr: SocketAddr) -> f64 {
    metric(
        addr,
        "qt_reconcile_discrepancies_total",
        &[("venue", "binance"), ("kind", "position")],
    )
}

/// The engine's view equals the simulator's account: wallet, BTCUSDT.
fn same_as_venue(v: &VenueRig, addr: SocketAddr) -> bool {
    let a = account(addr);
    let sim = v.sim.account();
    let venue_btc = sim
        .positions
        .iter()
        .find(|(s, _, _)| s == "BTCUSDT")
        .map_or(0.0, |(_, q, _)| q.parse::<f64>().unwrap());
    let view_btc = btc(&a)["venue_qty"]
        .as_str()
        .map_or(f64::NAN, |q| q.parse::<f64>().unwrap());
    usdt(&a) == sim.wallet && view_btc == venue_btc
}

#[test]
fn a_position_changed_behind_the_engines_back_is_one_discrepancy_and_the_view_follows() {
    let v = VenueRig::start();
    let e = v.engine(v.config(&temp_journal_dir("account"), |_| {}), true);
    let addr = e.ops_addr().unwrap();
    // Seeded by the preflight: the venue's wallet, BTCUSDT flat.
    let a = account(addr);
    assert_eq!(usdt(&a), v.sim.account().wallet, "{a}");
    assert_eq!(btc(&a)["venue_qty"], "0.000", "{a}");
    assert_eq!(btc(&a)["agrees"], true, "{a}");
    let before = discrepancies(addr);

    // A trade the engine did not make.
    v.market_by_hand("byhand-1", true, 3);
    assert!(
        wait_until(Duration::from_secs(5), || same_as_venue(&v, addr)),
        "the view follows the venue: {} vs {:?}",
        account(addr),
        v.sim.account()
    );
    let a = account(addr);
    assert_eq!(btc(&a)["venue_qty"], "0.003");
    assert_eq!(btc(&a)["engine_qty"], "0.000", "the engine's is left alone");
    assert_eq!(btc(&a)["agrees"], false);
    assert_eq!(a["source"], "stream", "{a}");
    assert_eq!(
        metric(
            addr,
            "qt_venue_position",
            &[("venue", "binance"), ("symbol", "BTCUSDT")]
        ),
        0.003
    );
    let wallet: f64 = v.sim.account().wallet.parse().unwrap();
    let gauge = metric(
        addr,
        "qt_venue_balance",
        &[("venue", "binance"), ("asset", "USDT")],
    );
    assert!((gauge - wallet).abs() < 1e-6, "{gauge} vs {wallet}");
    // Not before the settle time; then once.
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(discrepancies(addr), before, "settling");
    assert!(
        wait_until(Duration::from_secs(5), || discrepancies(addr)
            == before + 1.0),
        "counted after the settle time"
    );
    eprintln!("discrepancy after {:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(discrepancies(addr), before + 1.0, "once");
    // Closed by hand again: the two agree, nothing more counted.
    v.market_by_hand("byhand-2", false, 3);
    assert!(wait_until(
        Duration::from_secs(5),
        || btc(&account(addr))["agrees"] == true
    ));
    assert!(same_as_venue(&v, addr));
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(discrepancies(addr), before + 1.0);
    e.stop();
}

#[test]
fn the_engines_own_fills_keep_the_view_equal_and_raise_no_alarm() {
    const TOKEN_ENV: &str = "QT_TEST_ACCOUNT_ADMIN_TOKEN";
    const TOKEN: &str = "account-test-token";
    // SAFETY: this variable is read by this test only.
    unsafe { std::env::set_var(TOKEN_ENV, TOKEN) };
    let v = VenueRig::start();
    let cfg = v.trading_config(&temp_journal_dir("account-trading"), |c| {
        c.admin.token_env = TOKEN_ENV.into();
    });
    let e = v.engine(cfg, true);
    let addr = e.ops_addr().unwrap();
    let shared = e.shared().clone();
    let engine_qty = |sym: &str| {
        shared
            .positions
            .lock()
            .positions
            .iter()
            .find(|p| p.symbol == sym)
            .map_or(0.0, |p| p.qty)
    };
    // Trading for longer than the settle time, until it holds a position.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        wait_until(Duration::from_secs(40), || shared.positions.lock().fills
            >= 10
            && (engine_qty("BTCUSDT") != 0.0 || engine_qty("ETHUSDT") != 0.0)),
        "too few fills: {:?}",
        shared.positions.lock()
    );
    // The kill switch stops new orders; the last ones settle.
    let (code, body) = http_with(
        addr,
        "POST",
        "/api/kill-switch?on=true&reason=test",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(
        same_as_venue(&v, addr),
        "{} vs {:?}",
        account(addr),
        v.sim.account()
    );
    let a = account(addr);
    for p in a["positions"].as_array().unwrap() {
        let sym = p["symbol"].as_str().unwrap();
        assert_eq!(p["agrees"], true, "{a}");
        let stated: f64 = p["engine_qty"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            stated,
            engine_qty(sym),
            "{sym}: the engine's exact position"
        );
    }
    assert_eq!(
        discrepancies(addr),
        0.0,
        "no alarm for the engine's own fills"
    );
    e.stop();
}
