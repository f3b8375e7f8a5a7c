//! Binance feed connections against the simulator over real WebSockets on
//! 127.0.0.1: a symbol whose streams go silent on an open connection (the
//! other symbol keeps flowing) is detected, counted, resubscribed and its
//! book is exact again, without a reconnect; when the resubscribe does not
//! help, the connection is renewed and the books are exact again; and 400 symbols (1,200
//! streams) are split over connections of at most 1024 streams each,
//! opened through the venue's connection gate, within Binance's incoming
//! message limit, every book in sync and exact, a fault on the second
//! connection resyncing that symbol only. REST request weight: a cold start
//! under a low simulator weight limit waits for the engine's budget and
//! never gets a 429; with the simulator's limit below the engine's budget,
//! the 429's `Retry-After` is honoured and every book still syncs.

mod common;

use common::*;
use qt_sim::{Fault, SimVenue};
use quantum_trader::app::engine::Engine;
use quantum_trader::venue::binance::config::BinanceConfig;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn m(addr: SocketAddr, name: &str, s: &str) -> f64 {
    metric(addr, name, &[("venue", "binance"), ("symbol", s)])
}

fn reconnects(addr: SocketAddr) -> f64 {
    metric(addr, "qt_feed_reconnects_total", &[("venue", "binance")])
}

#[test]
fn a_silent_symbol_is_detected_counted_and_healed_by_resubscribing() {
    let cfg = test_config(|c| {
        c.sim.rate_per_symbol = 500;
        c.venues.get_mut::<BinanceConfig>().unwrap().stale_after_ms = 1000;
    });
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    let sim = e.sim().unwrap();
    let (s, other) = ("BTCUSDT", "ETHUSDT");
    for x in [s, other] {
        assert!(
            wait_until(Duration::from_secs(30), || in_sync(&e, x)
                && book_updates(&e, x) >= 500),
            "{x}: {} updates, in sync {}",
            book_updates(&e, x),
            in_sync(&e, x)
        );
    }
    assert_book_exact(&e, s);
    assert_book_exact(&e, other);
    // Let the per-symbol counters settle after the pauses of the checks.
    std::thread::sleep(Duration::from_millis(300));
    let stale0 = m(addr, "qt_venue_stale_total", s);
    let resub0 = m(addr, "qt_venue_resubscribes_total", s);
    let resync0 = m(addr, "qt_feed_resyncs_total", s);
    let other_resync0 = m(addr, "qt_feed_resyncs_total", other);
    let other_stale0 = m(addr, "qt_venue_stale_total", other);
    let reconnects0 = reconnects(addr);
    let subs0 = sim.stats().subscribe_messages;
    assert!(m(addr, "qt_venue_messages_total", s) > 500.0);

    let t0 = std::time::Instant::now();
    sim.inject(Fault::SilentStream(s.into()));
    let other_updates0 = book_updates(&e, other);
    assert!(
        wait_until(Duration::from_secs(10), || m(
            addr,
            "qt_venue_stale_total",
            s
        ) > stale0),
        "{s}: staleness not detected"
    );
    assert!(
        wait_until(Duration::from_secs(10), || m(
            addr,
            "qt_venue_resubscribes_total",
            s
        ) > resub0),
        "{s}: not resubscribed"
    );
    // UNSUBSCRIBE + SUBSCRIBE reached the venue.
    assert!(
        wait_until(Duration::from_secs(5), || sim.stats().subscribe_messages
            >= subs0 + 2),
        "{:?}",
        sim.stats()
    );
    let healed_from = book_updates(&e, s);
    assert!(
        wait_until(Duration::from_secs(15), || in_sync(&e, s)
            && book_updates(&e, s) > healed_from + 100),
        "{s}: not back in sync and updating"
    );
    eprintln!(
        "silent {s}: detected, resubscribed and in sync again {} ms after the fault (stale_after_ms 1000)",
        t0.elapsed().as_millis()
    );
    assert!(
        m(addr, "qt_feed_resyncs_total", s) > resync0,
        "{s}: no resync"
    );
    assert!(
        book_updates(&e, other) > other_updates0 + 200,
        "{other} stopped updating during {s}'s silence"
    );
    assert_eq!(m(addr, "qt_feed_resyncs_total", other), other_resync0);
    assert_eq!(m(addr, "qt_venue_stale_total", other), other_stale0);
    // Healed by the resubscribe alone: the connection stayed up.
    assert_eq!(reconnects(addr), reconnects0, "the connection was renewed");
    assert!(sim.stats().incoming_rate_disconnects == 0);
    assert_book_exact(&e, s);
    assert_book_exact(&e, other);

    // A resubscribe that does not help (the open connection stays deaf to
    // the symbol): the second strike renews the connection, which heals it.
    std::thread::sleep(Duration::from_millis(300));
    let stale1 = m(addr, "qt_venue_stale_total", other);
    let resub1 = m(addr, "qt_venue_resubscribes_total", other);
    let stale_reconnects = || {
        metric(
            addr,
            "qt_feed_reconnects_total",
            &[("venue", "binance"), ("cause", "stale_symbol")],
        )
    };
    let renewals0 = stale_reconnects();
    let opened0 = sim.stats().connections_total;
    let t0 = std::time::Instant::now();
    sim.inject(Fault::DeafStream(other.into()));
    assert!(
        wait_until(Duration::from_secs(15), || stale_reconnects() > renewals0),
        "{other}: no reconnect after the resubscribe failed"
    );
    assert!(m(addr, "qt_venue_stale_total", other) >= stale1 + 2.0);
    assert!(m(addr, "qt_venue_resubscribes_total", other) > resub1);
    assert!(
        wait_until(Duration::from_secs(10), || sim.stats().connections_total
            > opened0),
        "no new connection"
    );
    for x in [s, other] {
        assert!(
            wait_until(Duration::from_secs(15), || in_sync(&e, x)),
            "{x}: not back in sync after the reconnect"
        );
    }
    eprintln!(
        "deaf {other}: reconnected and both books in sync {} ms after the fault",
        t0.elapsed().as_millis()
    );
    for x in [s, other] {
        assert_book_exact(&e, x);
    }
    e.stop();
}

/// `n` Binance symbols `S000USDT`.., 5 messages/s each, 20 levels, kill
/// switch on.
fn many_symbols(c: &mut quantum_trader::config::Config, n: usize) {
    c.sim.rate_per_symbol = 5;
    c.sim.levels = 20;
    c.instruments.clear();
    let mut symbols = Vec::new();
    for i in 0..n {
        let s = format!("S{i:03}USDT");
        c.instruments
            .push(quantum_trader::config::InstrumentConfig {
                venue: quantum_trader::core::Venue::Binance,
                underlying: s.clone(),
                symbol: s.clone(),
                tick_size: "0.1".into(),
                lot_size: "0.001".into(),
                min_notional: 0.0,
                order_qty: "0.001".into(),
                max_position: "1".into(),
                contract_value: String::new(),
            });
        symbols.push(s);
    }
    c.venues.get_mut::<BinanceConfig>().unwrap().symbols = symbols;
    c.risk.kill_switch = true;
}

/// Each symbol's book gets updates and equals the simulator's.
fn updating_and_exact(e: &Engine, symbols: &[&str]) {
    for s in symbols {
        assert!(
            wait_until(Duration::from_secs(10), || book_updates(e, s) > 0),
            "{s}: no updates"
        );
        assert_book_exact(e, s);
    }
}

fn synced_count(e: &Engine) -> usize {
    e.shared()
        .books
        .iter()
        .filter(|b| b.in_sync.load(Ordering::Relaxed))
        .count()
}

fn venue_metric(addr: SocketAddr, name: &str) -> f64 {
    metric(addr, name, &[("venue", "binance")])
}

#[test]
fn a_cold_start_waits_for_the_rest_weight_budget_and_never_gets_a_429() {
    // 60 symbols x weight 2 (limit 50) = 120 weight against a venue limit of
    // 40 per 1 s window: the engine allows itself 80% (32), so the budget,
    // not the 2-in-flight pacing, sets the pace (about 4 windows).
    const N: usize = 60;
    let cfg = test_config(|c| {
        many_symbols(c, N);
        c.sim.rest_weight_limit = 40;
        c.sim.rest_weight_window_ms = 1000;
        let b = c.venues.get_mut::<BinanceConfig>().unwrap();
        b.snapshot_limit = 50;
        b.rest_weight_per_min = 40;
        b.rest_weight_safety_pct = 80;
        b.rest_weight_window_ms = 1000;
    });
    let t0 = std::time::Instant::now();
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || synced_count(&e) == N),
        "{} of {N} books in sync",
        synced_count(&e)
    );
    let took = t0.elapsed();
    let st = e.sim().unwrap().stats();
    eprintln!(
        "{N} symbols in sync after {} ms; sim {st:?}",
        took.as_millis()
    );
    assert_eq!(st.rest_weight_limit, 40);
    assert_eq!(st.rest_throttled_429, 0, "{st:?}");
    assert_eq!(st.rest_banned_418, 0, "{st:?}");
    assert!(st.rest_weight_max_used <= 40, "{st:?}");
    assert!(st.rest_weight_total >= 2 * N as u64, "{st:?}");
    // 120 weight at 32 per second cannot take less than ~3 windows.
    assert!(took >= Duration::from_millis(2500), "{took:?}");
    assert!(venue_metric(addr, "qt_venue_rest_budget_waits_total") >= 1.0);
    assert_eq!(venue_metric(addr, "qt_venue_rest_weight_cap"), 32.0);
    assert_eq!(
        metric(
            addr,
            "qt_venue_rest_throttled_total",
            &[("venue", "binance"), ("status", "429")]
        ),
        0.0
    );
    updating_and_exact(&e, &["S000USDT", "S030USDT", "S059USDT"]);
    e.stop();
}

#[test]
fn a_429_stops_every_rest_call_until_retry_after_and_the_books_still_sync() {
    // Misconfigured: the engine believes in 400 per 2 s window, the venue
    // allows 20. 30 symbols x weight 2 = 60: the venue answers 429 with
    // Retry-After; the engine must send nothing until it has passed.
    const N: usize = 30;
    let cfg = test_config(|c| {
        many_symbols(c, N);
        c.sim.rest_weight_limit = 20;
        c.sim.rest_weight_window_ms = 2000;
        let b = c.venues.get_mut::<BinanceConfig>().unwrap();
        b.snapshot_limit = 50;
        b.rest_weight_per_min = 400;
        b.rest_weight_safety_pct = 100;
        b.rest_weight_window_ms = 2000;
    });
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || synced_count(&e) == N),
        "{} of {N} books in sync; sim {:?}",
        synced_count(&e),
        e.sim().unwrap().stats()
    );
    let st = e.sim().unwrap().stats();
    eprintln!("sim {st:?}");
    assert!(st.rest_throttled_429 >= 1, "{st:?}");
    // Nothing was sent while a Retry-After ran (beyond what was already in
    // flight when the 429 left), and the IP was never banned.
    assert_eq!(st.rest_requests_during_retry_after, 0, "{st:?}");
    assert_eq!(st.rest_banned_418, 0, "{st:?}");
    assert!(
        metric(
            addr,
            "qt_venue_rest_throttled_total",
            &[("venue", "binance"), ("status", "429")]
        ) >= 1.0
    );
    updating_and_exact(&e, &["S000USDT", "S015USDT", "S029USDT"]);
    e.stop();
}

#[test]
fn four_hundred_symbols_split_over_connections_within_binance_limits() {
    const N: usize = 400;
    let cfg = test_config(|c| {
        many_symbols(c, N);
        // 400 snapshots of weight 2 (limit 50 >= the 20 simulated levels):
        // 800, within the default budget (80% of 2400 per minute).
        c.venues.get_mut::<BinanceConfig>().unwrap().snapshot_limit = 50;
    });
    let t0 = std::time::Instant::now();
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = e.ops_addr().unwrap();
    let all_synced = || {
        e.shared()
            .books
            .iter()
            .all(|b| b.in_sync.load(Ordering::Relaxed))
    };
    assert!(
        wait_until(Duration::from_secs(90), all_synced),
        "{} of {N} books in sync",
        e.shared()
            .books
            .iter()
            .filter(|b| b.in_sync.load(Ordering::Relaxed))
            .count()
    );
    eprintln!(
        "{N} symbols: every book in sync {} ms after start",
        t0.elapsed().as_millis()
    );
    let sim = e.sim().unwrap();
    let st = sim.stats();
    let pacing = sim.pacing(SimVenue::Binance);
    eprintln!("sim {st:?}\nbinance {pacing:?}");
    // 1,200 streams: two connections (341 symbols = 1,023 streams, then 59).
    assert_eq!(st.connections_open, 2, "{st:?}");
    assert_eq!(pacing.connections, 2, "{pacing:?}");
    assert!(pacing.max_connections_per_5min <= 250, "{pacing:?}");
    assert!(st.max_streams_per_conn <= 1024, "{st:?}");
    assert!(st.max_streams_per_conn >= 1000, "{st:?}");
    assert_eq!(st.stream_limit_refusals, 0, "{st:?}");
    // Streams are named in the URLs: no message was needed, and none
    // broke the 10 incoming messages/s limit.
    assert_eq!(st.subscribe_messages, 0, "{st:?}");
    assert!(st.max_incoming_per_sec <= 10, "{st:?}");
    assert_eq!(st.incoming_rate_disconnects, 0, "{st:?}");
    // Both connections live: the venue counts as connected.
    assert!(
        wait_until(Duration::from_secs(5), || metric(
            addr,
            "qt_feed_connected",
            &[("venue", "binance")]
        ) == 1.0),
        "not connected"
    );
    // Books on both connections are exact.
    updating_and_exact(&e, &["S000USDT", "S340USDT", "S341USDT", "S399USDT"]);
    // A gap on the second connection resyncs that symbol only.
    let (s, other) = ("S350USDT", "S360USDT");
    let gaps0 = m(addr, "qt_feed_gaps_total", s);
    let resync0 = m(addr, "qt_feed_resyncs_total", s);
    let other_resync0 = m(addr, "qt_feed_resyncs_total", other);
    sim.inject(Fault::Gap(s.into()));
    assert!(
        wait_until(Duration::from_secs(15), || m(addr, "qt_feed_gaps_total", s)
            > gaps0
            && m(addr, "qt_feed_resyncs_total", s) > resync0
            && in_sync(&e, s)),
        "{s}: gap not detected or not resynced"
    );
    assert_eq!(m(addr, "qt_feed_resyncs_total", other), other_resync0);
    assert_book_exact(&e, s);
    assert_book_exact(&e, other);
    e.stop();
}
