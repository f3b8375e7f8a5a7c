//! Bybit and OKX feeds against the simulator over real WebSockets on
//! 127.0.0.1: each venue's books equal the simulator's level for level after
//! thousands of updates and after every injected fault (sequence gap, Bybit
//! `u == 1` restart, OKX checksum mismatch, malformed frame, silent
//! subscription, dropped connections, silence); a fault on one symbol
//! resyncs that symbol only while the other symbol on the same connection
//! keeps updating; the demo runs all three venues and `/ready` is 200 only
//! when all of them are in sync; a 200-symbol cold start stays within every
//! venue's connection and subscribe limits (counted at the simulator).

mod common;

use common::embedded_sim::sim_venue;
use common::*;
use qt_sim::venues::VenueFault;
use qt_sim::{Fault, SimVenue};
use quantum_trader::app::engine::Engine;
use quantum_trader::core::{InstrumentId, Venue, format_decimal};
use quantum_trader::venue::binance::config::BinanceConfig;
use quantum_trader::venue::bybit::config::BybitConfig;
use quantum_trader::venue::okx::config::OkxConfig;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn id(e: &Engine, v: Venue, s: &str) -> InstrumentId {
    e.shared().instruments.find(v, s).expect("instrument")
}

fn updates(e: &Engine, v: Venue, s: &str) -> u64 {
    e.shared().books[id(e, v, s).idx()]
        .updates
        .load(Ordering::Relaxed)
}

fn synced(e: &Engine, v: Venue, s: &str) -> bool {
    e.shared().books[id(e, v, s).idx()]
        .in_sync
        .load(Ordering::Relaxed)
}

fn m(addr: SocketAddr, name: &str, v: Venue, s: &str) -> f64 {
    metric(addr, name, &[("venue", v.as_str()), ("symbol", s)])
}

/// Pauses the simulator, waits for the engine to reach the simulator's last
/// update id, compares the whole book through `/api/books`, resumes.
fn exact(e: &Engine, v: Venue, s: &str) -> usize {
    let sim = e.sim().unwrap();
    let addr = e.ops_addr().unwrap();
    let iid = id(e, v, s);
    let inst = e.shared().instruments.get(iid).clone();
    sim.pause();
    let mut truth = sim.venue_book(sim_venue(v), s).unwrap();
    let ok = wait_until(Duration::from_secs(10), || {
        truth = sim.venue_book(sim_venue(v), s).unwrap();
        let h = &e.shared().books[iid.idx()];
        h.in_sync.load(Ordering::Relaxed)
            && h.update_id.load(Ordering::Relaxed) == truth.last_update_id
    });
    assert!(
        ok,
        "{v} {s}: engine at {} (in sync {}), simulator at {}",
        e.shared().books[iid.idx()]
            .update_id
            .load(Ordering::Relaxed),
        synced(e, v, s),
        truth.last_update_id
    );
    let (st, book) = get_json(addr, &format!("/api/books/{v}/{s}?depth=5000"));
    assert_eq!(st, 200, "{book}");
    let side = |x: &serde_json::Value| -> Vec<(String, String)> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|l| (l[0].as_str().unwrap().into(), l[1].as_str().unwrap().into()))
            .collect()
    };
    let fmt = |x: &[(i64, i64)]| -> Vec<(String, String)> {
        x.iter()
            .map(|(p, q)| {
                (
                    format_decimal(*p, inst.price_scale),
                    format_decimal(*q, inst.qty_scale),
                )
            })
            .collect()
    };
    let (eb, ea) = (side(&book["bids"]), side(&book["asks"]));
    assert!(!eb.is_empty() && !ea.is_empty());
    assert_eq!(eb, fmt(&truth.bids), "{v} {s}: bids differ");
    assert_eq!(ea, fmt(&truth.asks), "{v} {s}: asks differ");
    sim.resume();
    eb.len() + ea.len()
}

/// Injects `f` on `s`, waits until `counter` moved for it and the book is in
/// sync again, checks the other symbol kept updating without a resync, and
/// compares both books exactly.
#[allow(clippy::too_many_arguments)]
fn fault_heals(e: &Engine, v: Venue, s: &str, other: &str, f: VenueFault, counter: &str) {
    let addr = e.ops_addr().unwrap();
    let sim = e.sim().unwrap();
    let before = m(addr, counter, v, s);
    let resyncs = m(addr, "qt_feed_resyncs_total", v, s);
    let other_resyncs = m(addr, "qt_feed_resyncs_total", v, other);
    let other_updates = updates(e, v, other);
    assert!(sim.inject_venue(sim_venue(v), s, f.clone()));
    assert!(
        wait_until(Duration::from_secs(15), || m(addr, counter, v, s) > before),
        "{v} {s} {f:?}: {counter} did not move"
    );
    assert!(
        wait_until(Duration::from_secs(15), || synced(e, v, s)),
        "{v} {s} {f:?}: not back in sync"
    );
    if counter != "qt_venue_restarts_total" {
        assert!(
            m(addr, "qt_feed_resyncs_total", v, s) > resyncs,
            "{v} {s} {f:?}: no resync"
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || updates(e, v, other)
            > other_updates + 50),
        "{v} {other} stopped updating during {s}'s {f:?}"
    );
    assert_eq!(
        m(addr, "qt_feed_resyncs_total", v, other),
        other_resyncs,
        "{v} {other} was resynced by {s}'s {f:?}"
    );
    exact(e, v, s);
    exact(e, v, other);
}

#[test]
fn bybit_and_okx_books_stay_exact_through_every_fault() {
    let cfg = test_config_all(|c| {
        c.sim.rate_per_symbol = 1500;
        // Each venue's section is its own type now.
        if let Some(vc) = c.venues.get_mut::<BybitConfig>() {
            vc.stale_after_ms = 800;
        }
        if let Some(vc) = c.venues.get_mut::<OkxConfig>() {
            vc.stale_after_ms = 800;
        }
    });
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    let pairs = [
        (Venue::Bybit, "BTCUSDT", "ETHUSDT"),
        (Venue::Okx, "BTC-USDT-SWAP", "ETH-USDT-SWAP"),
    ];
    for (v, a, b) in pairs {
        for s in [a, b] {
            assert!(
                wait_until(Duration::from_secs(30), || updates(&e, v, s) >= 2000
                    && synced(&e, v, s)),
                "{v} {s}: {} updates, in sync {}",
                updates(&e, v, s),
                synced(&e, v, s)
            );
            assert!(exact(&e, v, s) > 100);
        }
    }
    assert!(
        wait_until(Duration::from_secs(10), || get_json(addr, "/ready").0
            == 200),
        "not ready with three venues: {:?}",
        get_json(addr, "/ready")
    );

    let (v, a, b) = pairs[0];
    fault_heals(&e, v, a, b, VenueFault::Gap, "qt_feed_gaps_total");
    fault_heals(&e, v, b, a, VenueFault::Restart, "qt_venue_restarts_total");
    fault_heals(&e, v, a, b, VenueFault::Malformed, "qt_feed_gaps_total");
    fault_heals(
        &e,
        v,
        b,
        a,
        VenueFault::SilentSubscription,
        "qt_venue_stale_total",
    );
    let (v, a, b) = pairs[1];
    fault_heals(&e, v, a, b, VenueFault::Gap, "qt_feed_gaps_total");
    fault_heals(
        &e,
        v,
        b,
        a,
        VenueFault::BadChecksum,
        "qt_venue_checksum_failures_total",
    );
    fault_heals(&e, v, a, b, VenueFault::Malformed, "qt_feed_gaps_total");
    fault_heals(
        &e,
        v,
        b,
        a,
        VenueFault::SilentSubscription,
        "qt_venue_stale_total",
    );
    assert!(m(addr, "qt_venue_checksum_checks_total", v, a) > 1000.0);

    // Dropped connections and a silent venue: reconnect, resubscribe, exact.
    let sim = e.sim().unwrap();
    for fault in [
        Fault::DropConnections,
        Fault::Silence(Duration::from_millis(2500)),
    ] {
        let before: f64 = [Venue::Bybit, Venue::Okx]
            .iter()
            .map(|v| metric(addr, "qt_feed_reconnects_total", &[("venue", v.as_str())]))
            .sum();
        sim.inject(fault.clone());
        assert!(
            wait_until(Duration::from_secs(15), || [Venue::Bybit, Venue::Okx]
                .iter()
                .all(|v| metric(
                    addr,
                    "qt_feed_reconnects_total",
                    &[("venue", v.as_str())]
                ) > 0.0))
                && wait_until(Duration::from_secs(15), || [Venue::Bybit, Venue::Okx]
                    .iter()
                    .map(|v| metric(addr, "qt_feed_reconnects_total", &[("venue", v.as_str())]))
                    .sum::<f64>()
                    >= before + 2.0),
            "{fault:?}: no reconnect"
        );
        for (v, a, b) in pairs {
            for s in [a, b] {
                assert!(
                    wait_until(Duration::from_secs(20), || synced(&e, v, s)),
                    "{fault:?}: {v} {s} not back in sync"
                );
                exact(&e, v, s);
            }
        }
    }
    assert!(
        wait_until(Duration::from_secs(10), || get_json(addr, "/ready").0
            == 200),
        "not ready after the faults: {:?}",
        get_json(addr, "/ready")
    );
    e.stop();
}

/// `qt_feed_resyncs_total` means the same on every venue: a symbol's first
/// sync after start is not a resync; a dropped connection resyncs every
/// book it carried, once each, on Binance, Bybit and OKX alike.
#[test]
fn resyncs_count_the_same_on_every_venue() {
    let cfg = test_config_all(|c| c.sim.rate_per_symbol = 200);
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    let books = [
        (Venue::Binance, "BTCUSDT"),
        (Venue::Binance, "ETHUSDT"),
        (Venue::Bybit, "BTCUSDT"),
        (Venue::Bybit, "ETHUSDT"),
        (Venue::Okx, "BTC-USDT-SWAP"),
        (Venue::Okx, "ETH-USDT-SWAP"),
    ];
    assert!(
        wait_until(Duration::from_secs(30), || books
            .iter()
            .all(|&(v, s)| synced(&e, v, s) && updates(&e, v, s) > 20)),
        "not every book synced"
    );
    for &(v, s) in &books {
        assert_eq!(
            m(addr, "qt_feed_resyncs_total", v, s),
            0.0,
            "{v} {s}: the first sync counted as a resync"
        );
    }
    let reconnects = |v: Venue| metric(addr, "qt_feed_reconnects_total", &[("venue", v.as_str())]);
    let before: Vec<f64> = Venue::ALL.iter().map(|&v| reconnects(v)).collect();
    e.sim().unwrap().inject(Fault::DropConnections);
    assert!(
        wait_until(Duration::from_secs(15), || Venue::ALL
            .iter()
            .zip(&before)
            .all(|(&v, &b)| reconnects(v) > b)),
        "not every venue reconnected"
    );
    assert!(
        wait_until(Duration::from_secs(20), || books
            .iter()
            .all(|&(v, s)| synced(&e, v, s))),
        "not back in sync after the reconnect"
    );
    for &(v, s) in &books {
        // Binance counts when the snapshot is requested, after the first
        // diff on the new connection.
        assert!(
            wait_until(Duration::from_secs(15), || m(
                addr,
                "qt_feed_resyncs_total",
                v,
                s
            ) >= 1.0),
            "{v} {s}: a reconnect's resync not counted"
        );
        assert!(
            wait_until(Duration::from_secs(20), || synced(&e, v, s)),
            "{v} {s}: not back in sync"
        );
    }
    e.stop();
}

#[test]
fn ready_needs_all_three_venues_in_sync() {
    let cfg = test_config_all(|c| c.sim.rate_per_symbol = 200);
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || get_json(addr, "/ready").0
            == 200),
        "{:?}",
        get_json(addr, "/ready")
    );
    // The consolidated view: three venues, best prices across the in-sync ones.
    let ok_view = wait_until(Duration::from_secs(5), || {
        let (st, v) = get_json(addr, "/api/consolidated/BTCUSDT");
        st == 200
            && v["venues"].as_array().is_some_and(|a| {
                a.len() == 3
                    && a.iter()
                        .all(|x| x["in_sync"] == true && x["bid"].is_number())
            })
    });
    let (_, v) = get_json(addr, "/api/consolidated/BTCUSDT");
    assert!(ok_view, "{v}");
    let venues = v["venues"].as_array().unwrap();
    let max_bid = venues
        .iter()
        .map(|x| x["bid"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let min_ask = venues
        .iter()
        .map(|x| x["ask"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    assert_eq!(v["best_bid"]["price"].as_f64(), Some(max_bid), "{v}");
    assert_eq!(v["best_ask"]["price"].as_f64(), Some(min_ask), "{v}");
    let spread = v["cross_venue_spread"].as_f64().unwrap();
    assert!((spread - (min_ask - max_bid)).abs() < 1e-6, "{v}");
    // One correlated price path: the three mids stay within 0.5% of each other.
    let mids: Vec<f64> = venues.iter().map(|x| x["mid"].as_f64().unwrap()).collect();
    let (lo, hi) = mids
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), m| (l.min(*m), h.max(*m)));
    assert!((hi - lo) / lo < 0.005, "mids {mids:?}");
    assert_eq!(get_json(addr, "/api/consolidated/NOPE").0, 404);
    // One OKX book out of sync (its subscription silenced, staleness off
    // by default in this test's 5 s window) -> not ready.
    let sim = e.sim().unwrap();
    sim.pause();
    assert!(sim.inject_venue(SimVenue::Okx, "ETH-USDT-SWAP", VenueFault::Gap));
    sim.resume();
    let seen_not_ready = wait_until(Duration::from_secs(10), || {
        !synced(&e, Venue::Okx, "ETH-USDT-SWAP") && get_json(addr, "/ready").0 == 503
    });
    // The resync may be faster than the poll; either way it must heal.
    assert!(
        wait_until(Duration::from_secs(15), || get_json(addr, "/ready").0
            == 200),
        "{:?}",
        get_json(addr, "/ready")
    );
    eprintln!("observed not-ready during the OKX resync: {seen_not_ready}");
    e.stop();
}

#[test]
fn cold_start_with_200_symbols_respects_venue_limits() {
    let cfg = test_config_all(|c| {
        c.sim.rate_per_symbol = 5;
        c.sim.levels = 20;
        c.instruments.clear();
        let mut add = |venue: &str, symbol: String, ct: &str, lot: &str| {
            c.instruments
                .push(quantum_trader::config::InstrumentConfig {
                    venue: quantum_trader::core::Venue::parse(venue).unwrap(),
                    underlying: symbol.clone(),
                    symbol,
                    tick_size: "0.1".into(),
                    lot_size: lot.into(),
                    min_notional: 0.0,
                    order_qty: lot.into(),
                    max_position: "1".into(),
                    contract_value: ct.into(),
                });
        };
        let mut bn = Vec::new();
        let mut by = Vec::new();
        let mut ok = Vec::new();
        for i in 0..200 {
            let s = format!("S{i:03}USDT");
            add("binance", s.clone(), "", "0.001");
            add("bybit", s.clone(), "", "0.001");
            let o = format!("S{i:03}-USDT-SWAP");
            add("okx", o.clone(), "0.01", "0.01");
            bn.push(s.clone());
            by.push(s);
            ok.push(o);
        }
        c.venues.get_mut::<BinanceConfig>().unwrap().symbols = bn;
        // 200 snapshots of weight 2 (limit 50 >= the 20 simulated levels)
        // fit the REST weight budget's first minute; at limit 1000 (weight
        // 20, 4,000 in all) the budget would spread them over 3 minutes.
        c.venues.get_mut::<BinanceConfig>().unwrap().snapshot_limit = 50;
        c.venues.get_mut::<BybitConfig>().unwrap().symbols = by;
        c.venues.get_mut::<OkxConfig>().unwrap().symbols = ok;
        c.risk.kill_switch = true;
    });
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let all_synced = || {
        e.shared()
            .books
            .iter()
            .all(|b| b.in_sync.load(Ordering::Relaxed))
    };
    assert!(
        wait_until(Duration::from_secs(60), all_synced),
        "not all 600 books in sync"
    );
    let sim = e.sim().unwrap();
    let by = sim.pacing(SimVenue::Bybit);
    let ok = sim.pacing(SimVenue::Okx);
    eprintln!("bybit {by:?}\nokx {ok:?}\nsim {:?}", sim.stats());
    // Bybit: 500 connections per 5 min; 21,000 topic characters per connection.
    assert!(by.connections >= 1 && by.max_connections_per_5min <= 500);
    assert!(by.max_topic_chars_per_conn <= 21_000, "{by:?}");
    assert!(by.max_topic_chars_per_conn > 10_000, "{by:?}");
    // 600 topics in batches of 10: 60 subscribe frames on one connection.
    assert!(by.max_ops_per_hour_per_conn <= 60, "{by:?}");
    assert_eq!(by.rejected_ops, 0);
    // OKX: 3 connections per second; 480 ops per hour per connection; fewer
    // than 30 depth channels per connection.
    assert!(ok.connections >= 7, "{ok:?}");
    assert!(ok.max_connections_per_sec <= 3, "{ok:?}");
    assert!(ok.max_ops_per_hour_per_conn <= 480, "{ok:?}");
    assert!(ok.max_book_channels_per_conn < 30, "{ok:?}");
    assert_eq!(ok.rejected_ops, 0);
    // Binance: streams are named in the URL (<= 1024 per connection), so no
    // subscribe frame is ever sent; the snapshots stayed within the weight
    // limit.
    let st = sim.stats();
    assert_eq!(st.subscribe_messages, 0);
    assert_eq!(st.rest_throttled_429, 0, "{st:?}");
    assert!(st.rest_weight_max_used <= 1920, "{st:?}");
    e.stop();
}

#[test]
fn instruments_load_from_the_venues_rest_endpoints() {
    use qt_sim::venues::VenueSimSymbol;
    use qt_sim::{SimHandle, SimSpec};
    // The simulated venues list other facts than the config says.
    let spec = SimSpec {
        listen: "127.0.0.1:0".parse().unwrap(),
        seed: 1,
        rate_per_symbol: 10,
        levels: 10,
        ping_interval: Duration::from_secs(60),
        symbols: vec![],
        replay_file: None,
    };
    let v = |venue, symbol: &str, tick: &str, lot: &str, ct: Option<&str>| VenueSimSymbol {
        venue,
        symbol: symbol.into(),
        tick_size: tick.into(),
        lot_size: lot.into(),
        contract_value: ct.map(str::to_string),
        start_price: 100.0,
        follows: None,
        min_notional: 7.0,
    };
    let sim = SimHandle::start_with_venues(
        spec,
        &[
            v(SimVenue::Bybit, "BTCUSDT", "0.50", "0.010", None),
            v(SimVenue::Bybit, "ETHUSDT", "0.05", "0.01", None),
            v(
                SimVenue::Okx,
                "BTC-USDT-SWAP",
                "0.5",
                "0.001",
                Some("0.001"),
            ),
            v(SimVenue::Okx, "ETH-USDT-SWAP", "0.05", "0.01", Some("0.1")),
        ],
    )
    .unwrap();
    let mut cfg = test_config_all(|c| {
        c.sim.enabled = false;
        // Each venue's section is its own type now.
        let by = c.venues.get_mut::<BybitConfig>().unwrap();
        by.ws_url = format!("{}/v5/public/linear", sim.ws_url());
        by.rest_url = sim.rest_url();
        by.instruments_from_rest = true;
        let ok = c.venues.get_mut::<OkxConfig>().unwrap();
        ok.ws_url = format!("{}/ws/v5/public", sim.ws_url());
        ok.rest_url = sim.rest_url();
        ok.instruments_from_rest = true;
        let b = c.venues.get_mut::<BinanceConfig>().unwrap();
        b.ws_url = sim.ws_url();
        b.rest_url = sim.rest_url();
    });
    quantum_trader::venue::instruments::load_into(&mut cfg).unwrap();
    let get = |venue: &str, s: &str| {
        cfg.instruments
            .iter()
            .find(|i| i.venue == venue && i.symbol == s)
            .unwrap()
            .clone()
    };
    let b = get("bybit", "BTCUSDT");
    assert_eq!(
        (b.tick_size.as_str(), b.lot_size.as_str(), b.min_notional),
        ("0.50", "0.010", 7.0)
    );
    let o = get("okx", "BTC-USDT-SWAP");
    assert_eq!(
        (
            o.tick_size.as_str(),
            o.lot_size.as_str(),
            o.contract_value.as_str()
        ),
        ("0.5", "0.001", "0.001")
    );
    let o = get("okx", "ETH-USDT-SWAP");
    assert_eq!(
        (o.lot_size.as_str(), o.contract_value.as_str()),
        ("0.01", "0.1")
    );
    // A configured instrument the venue does not list is an error.
    assert_eq!(cfg.instruments[2].symbol, "BTCUSDT");
    cfg.instruments[2].symbol = "NOPEUSDT".into();
    cfg.venues.get_mut::<BybitConfig>().unwrap().symbols[0] = "NOPEUSDT".into();
    let e = quantum_trader::venue::instruments::load_into(&mut cfg).unwrap_err();
    assert!(e.to_string().contains("does not list"), "{e}");
}

/// The engine's ticker view of one instrument as decimal strings.
fn engine_ticker(addr: SocketAddr, v: Venue, s: &str) -> serde_json::Value {
    let (st, t) = get_json(addr, &format!("/api/tickers/{v}/{s}"));
    assert_eq!(st, 200, "{t}");
    t
}

#[test]
fn bybit_and_okx_tickers_merge_to_the_simulators_state() {
    let cfg = test_config_all(|c| c.sim.rate_per_symbol = 300);
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    let sim = e.sim().unwrap();
    let all = [
        (Venue::Bybit, "BTCUSDT"),
        (Venue::Bybit, "ETHUSDT"),
        (Venue::Okx, "BTC-USDT-SWAP"),
        (Venue::Okx, "ETH-USDT-SWAP"),
    ];
    let ticker_updates = |v: Venue, s: &str| {
        e.shared().tickers[id(&e, v, s).idx()]
            .updates
            .load(Ordering::Relaxed)
    };
    for (v, s) in all {
        assert!(
            wait_until(Duration::from_secs(30), || ticker_updates(v, s) >= 200),
            "{v} {s}: {} ticker updates",
            ticker_updates(v, s)
        );
    }
    // Every ticker channel reached the engine over the socket.
    let kind = |v: Venue, k: &str| {
        metric(
            addr,
            "qt_feed_messages_total",
            &[("venue", v.as_str()), ("kind", k)],
        )
    };
    assert!(
        wait_until(Duration::from_secs(20), || kind(Venue::Bybit, "ticker")
            > 200.0
            && kind(Venue::Okx, "bbo") > 200.0
            && kind(Venue::Okx, "ticker") > 20.0),
        "bybit ticker {}, okx bbo {}, okx ticker {}",
        kind(Venue::Bybit, "ticker"),
        kind(Venue::Okx, "bbo"),
        kind(Venue::Okx, "ticker")
    );
    let (tickers, bbos) = sim
        .venue_ticker_frames(SimVenue::Okx, "BTC-USDT-SWAP")
        .unwrap();
    assert!(
        tickers > 5 && bbos > tickers,
        "okx tickers {tickers}, bbo {bbos}"
    );
    let (tickers, bbos) = sim.venue_ticker_frames(SimVenue::Bybit, "BTCUSDT").unwrap();
    assert!(
        tickers > 100 && bbos == 0,
        "bybit tickers {tickers}, bbo {bbos}"
    );
    // Quiet market: the engine's merged ticker equals what the simulator's
    // ticker streams add up to, field for field. Three rounds.
    for round in 0..3 {
        for (v, s) in all {
            let inst = e.shared().instruments.get(id(&e, v, s)).clone();
            sim.pause();
            let ((bp, bq), (ap, aq)) = sim.venue_ticker(sim_venue(v), s).expect("sim ticker");
            let f = |p: i64, q: i64| {
                serde_json::json!([
                    format_decimal(p, inst.price_scale),
                    format_decimal(q, inst.qty_scale)
                ])
            };
            let (want_bid, want_ask) = (f(bp, bq), f(ap, aq));
            let ok = wait_until(Duration::from_secs(10), || {
                let t = engine_ticker(addr, v, s);
                t["bid"] == want_bid && t["ask"] == want_ask
            });
            assert!(
                ok,
                "round {round} {v} {s}: engine {} vs simulator bid {want_bid} ask {want_ask}",
                engine_ticker(addr, v, s)
            );
            // The book's touch agrees with the ticker's.
            let book = sim.venue_book(sim_venue(v), s).unwrap();
            assert_eq!(book.bids[0], (bp, bq), "{v} {s}");
            assert_eq!(book.asks[0], (ap, aq), "{v} {s}");
            sim.resume();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(get_json(addr, "/api/tickers/bybit/NOPE").0, 404);
    assert_eq!(get_json(addr, "/api/tickers/nope/BTCUSDT").0, 404);
    e.stop();
}
