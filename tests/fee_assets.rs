//! Commissions in another asset than the quote, over real sockets with the
//! simulator as the venue: with the simulator charging BNB (its fee
//! discount switch), the testnet engine's quote PnL is its gross PnL (no
//! quote fee taken), its BNB total equals what the simulator charged, shown
//! in `/api/account`, `qt_fees_paid{venue,asset}` and the journal (each
//! fill record names `BNB`); a restart rebuilds the same BNB total and the
//! same quote PnL from the journal. With USDT commissions (the default)
//! nothing changes: quote fees equal the simulator's USDT commissions and
//! realized PnL is net of them. And the session's client id scheme record
//! is on disk (fsynced, in the day file) when the engine has started.

mod common;

use common::venue_rig::VenueRig;
use common::*;
use quantum_trader::core::Money;
use quantum_trader::journal::{Body, list_days, read_day};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const TOKEN_ENV: &str = "QT_TEST_FEE_ASSETS_ADMIN_TOKEN";
const TOKEN: &str = "fee-assets-test-token";

/// Sums of the journal's fill records: (fills, realized PnL, fees per
/// asset, `""` being the quote).
fn journal_fills(dir: &std::path::Path) -> (u64, Money, BTreeMap<String, Money>) {
    let (mut n, mut realized, mut fees) = (0, Money::ZERO, BTreeMap::new());
    for d in list_days(dir).unwrap() {
        for r in read_day(dir, d).unwrap().records {
            if let Body::Fill {
                fee,
                fee_asset,
                realized_pnl,
                ..
            } = r.body
            {
                n += 1;
                realized += realized_pnl;
                *fees.entry(fee_asset).or_insert(Money::ZERO) += fee;
            }
        }
    }
    (n, realized, fees)
}

fn binance_fees(addr: SocketAddr) -> Vec<Value> {
    let (code, v) = get_json(addr, "/api/account");
    assert_eq!(code, 200, "{v}");
    v["venues"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["venue"] == "binance"))
        .and_then(|b| b["fees"].as_array().cloned())
        .unwrap_or_else(|| panic!("no binance fees: {v}"))
}

fn sim_commission(v: &VenueRig, asset: &str) -> Money {
    v.sim
        .account()
        .commissions
        .iter()
        .find(|(a, _)| a == asset)
        .map_or(Money::ZERO, |(_, m)| Money::parse(m).unwrap())
}

/// Trades until `fills` fills and a position, then stops new orders (kill
/// switch) and lets the last ones settle.
fn trade_then_halt(
    v: &VenueRig,
    dir: &std::path::Path,
    fills: u64,
) -> quantum_trader::app::engine::Engine {
    // SAFETY: this variable is read by this test binary only.
    unsafe { std::env::set_var(TOKEN_ENV, TOKEN) };
    let cfg = v.trading_config(dir, |c| c.admin.token_env = TOKEN_ENV.into());
    let e = v.engine(cfg, true);
    let addr = e.ops_addr().unwrap();
    let shared = e.shared().clone();
    assert!(
        wait_until(Duration::from_secs(60), || shared.positions.lock().fills
            >= fills),
        "too few fills: {:?}",
        shared.positions.lock()
    );
    let (code, body) = http_with(
        addr,
        "POST",
        "/api/kill-switch?on=true&reason=test",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_millis(2_500));
    e
}

#[test]
fn bnb_commissions_stay_out_of_quote_pnl_and_a_restart_rebuilds_them() {
    let v = VenueRig::start();
    assert!(v.sim.set_commission_asset("BNB", "0.0015"));
    let dir = temp_journal_dir("fees-bnb");
    let e = trade_then_halt(&v, &dir, 8);
    let addr = e.ops_addr().unwrap();
    let shared = e.shared().clone();
    let charged = sim_commission(&v, "BNB");
    assert!(charged > Money::ZERO, "{:?}", v.sim.account());
    assert_eq!(sim_commission(&v, "USDT"), Money::ZERO);
    // Published view (every 100 ms) after the last fill.
    std::thread::sleep(Duration::from_millis(300));
    let view = shared.positions.lock().clone();
    assert_eq!(view.fees, 0.0, "no quote fee: {view:?}");
    let bnb: Vec<_> = view
        .fees_by_asset
        .iter()
        .filter(|f| f.asset == "BNB" && f.venue == "binance")
        .collect();
    assert_eq!(bnb.len(), 1, "{:?}", view.fees_by_asset);
    assert!(!bnb[0].quote);
    assert_eq!(
        bnb[0].amount,
        charged.to_string(),
        "counted at the simulator"
    );
    // Quote PnL net of fees is the gross.
    let net = metric(addr, "qt_realized_pnl_quote", &[]);
    assert_eq!(net, view.realized_pnl, "net = gross with BNB fees");
    assert_eq!(metric(addr, "qt_fees_paid_quote", &[]), 0.0);
    let gauge = metric(
        addr,
        "qt_fees_paid",
        &[("venue", "binance"), ("asset", "BNB")],
    );
    assert!(
        (gauge - charged.to_f64()).abs() < 1e-12,
        "{gauge} vs {charged}"
    );
    let fees = binance_fees(addr);
    let b = fees
        .iter()
        .find(|f| f["asset"] == "BNB")
        .expect("BNB in /api/account");
    assert_eq!(b["amount"], charged.to_string());
    assert_eq!(b["in_quote_pnl"], false);
    for f in fees.iter().filter(|f| f["in_quote_pnl"] == true) {
        assert_eq!(f["amount"], "0.00000000", "{fees:?}");
    }
    e.stop();

    // The journal: every fill names BNB; its totals are the engine's.
    let journal = dir.join("journal");
    let (n, realized, by_asset) = journal_fills(&journal);
    assert!(n >= 8);
    assert_eq!(
        by_asset.keys().collect::<Vec<_>>(),
        vec!["BNB"],
        "{by_asset:?}"
    );
    assert_eq!(by_asset["BNB"], charged);
    assert_eq!(realized.to_f64(), view.realized_pnl);

    // Restart (a quiet engine on the same journal): the same BNB total and
    // quote PnL, rebuilt from the journal.
    let e2 = v.engine(v.config(&journal, |_| {}), true);
    let shared2 = e2.shared().clone();
    assert!(wait_until(Duration::from_secs(5), || shared2
        .positions
        .lock()
        .fills
        == n));
    std::thread::sleep(Duration::from_millis(300));
    let after = shared2.positions.lock().clone();
    assert_eq!(after.realized_pnl, view.realized_pnl);
    assert_eq!(after.fees, 0.0);
    assert_eq!(after.fees_by_asset, view.fees_by_asset);
    let addr2 = e2.ops_addr().unwrap();
    let gauge = metric(
        addr2,
        "qt_fees_paid",
        &[("venue", "binance"), ("asset", "BNB")],
    );
    assert!(
        (gauge - charged.to_f64()).abs() < 1e-12,
        "{gauge} vs {charged}"
    );
    assert_eq!(
        metric(addr2, "qt_realized_pnl_quote", &[]),
        view.realized_pnl
    );
    e2.stop();
}

#[test]
fn usdt_commissions_are_quote_fees_as_before() {
    let v = VenueRig::start();
    let dir = temp_journal_dir("fees-usdt");
    let e = trade_then_halt(&v, &dir, 6);
    let addr = e.ops_addr().unwrap();
    let shared = e.shared().clone();
    std::thread::sleep(Duration::from_millis(300));
    let charged = sim_commission(&v, "USDT");
    assert!(charged > Money::ZERO);
    let view = shared.positions.lock().clone();
    assert_eq!(
        view.fees,
        charged.to_f64(),
        "quote fees = the venue's commissions"
    );
    assert_eq!(view.fees_by_asset.len(), 1, "{:?}", view.fees_by_asset);
    let f = &view.fees_by_asset[0];
    assert_eq!((f.asset.as_str(), f.quote), ("USDT", true));
    assert_eq!(f.amount, charged.to_string());
    let net = metric(addr, "qt_realized_pnl_quote", &[]);
    let want = (Money::from_f64(view.realized_pnl) - charged).to_f64();
    assert!((net - want).abs() < 1e-9, "net {net} vs {want}");
    assert!(
        (metric(
            addr,
            "qt_fees_paid",
            &[("venue", "binance"), ("asset", "USDT")]
        ) - charged.to_f64())
        .abs()
            < 1e-12
    );
    e.stop();
    let (_, _, by_asset) = journal_fills(&dir.join("journal"));
    assert_eq!(
        by_asset.keys().collect::<Vec<_>>(),
        vec![""],
        "quote fees name no asset"
    );
    assert_eq!(by_asset[""], charged);
}

#[test]
fn the_client_id_scheme_is_on_disk_when_the_session_has_started() {
    let v = VenueRig::start();
    let dir = temp_journal_dir("fees-barrier");
    let cfg = v.config(&dir, |c| {
        // No sync of the policy's own within the test: only the barrier's.
        c.journal.batch_ms = 60_000;
    });
    let e = quantum_trader::app::engine::Engine::start(
        cfg,
        quantum_trader::app::engine::EngineOptions::default(),
    )
    .expect("testnet starts against the simulator");
    let addr = e.ops_addr().unwrap();
    // Read at once: the record is in the day file, and it was fsynced.
    let mut found = 0;
    for d in list_days(&dir).unwrap() {
        for r in read_day(&dir, d).unwrap().records {
            if matches!(&r.body, Body::ClientIds { venue, .. } if venue == "binance") {
                found += 1;
            }
        }
    }
    assert_eq!(found, 1, "the client_ids record is in the day file");
    assert!(
        metric(addr, "qt_journal_fsyncs_total", &[]) >= 1.0,
        "the barrier fsynced it"
    );
    e.stop();
}
