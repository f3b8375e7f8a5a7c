use super::*;
use crate::config::{BreakerConfig, HeartbeatConfig};
use crate::core::{BookTop, Instrument, Level, N_FEATURES, TOP_LEVELS, Venue};
use crate::risk::heartbeat::Heartbeats;

/// BTCUSDT-like: tick 0.1 (scale 1), lot 0.001 (scale 3), min notional 5.
pub(crate) fn table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    t.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Binance,
            "BTCUSDT",
            "BTCUSDT",
            "0.1",
            "0.001",
            5.0,
        )
        .unwrap(),
    );
    Arc::new(t)
}

/// Two instruments: BTCUSDT as in [`table`], ETHUSDT tick 0.5, lot 0.010.
fn table2() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (sym, tick, lot) in [("BTCUSDT", "0.1", "0.001"), ("ETHUSDT", "0.5", "0.010")] {
        t.push(Instrument::new(InstrumentId(0), Venue::Binance, sym, sym, tick, lot, 5.0).unwrap());
    }
    Arc::new(t)
}

/// bid 100.0 x 5, ask 100.1 x 5 (scaled: px scale 1, qty scale 3).
pub(crate) fn decision(action: Action, qty: i64, recv_ns: u64) -> Decision {
    book_decision(action, qty, recv_ns, 1_000, 1_001)
}

fn book_decision(action: Action, qty: i64, recv_ns: u64, bid: i64, ask: i64) -> Decision {
    let mut bids = [Level::default(); TOP_LEVELS];
    let mut asks = [Level::default(); TOP_LEVELS];
    bids[0] = Level {
        px: bid,
        qty: 5_000,
    };
    asks[0] = Level {
        px: ask,
        qty: 5_000,
    };
    Decision {
        id: 1,
        venue: Venue::Binance,
        inst: InstrumentId(0),
        recv_ns,
        hop_ns: recv_ns,
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
            inst: InstrumentId(0),
            recv_ns,
            hop_ns: recv_ns,
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
    }
}

/// Permissive limits: each test tightens the one it is about.
pub(crate) fn cfg() -> RiskConfig {
    RiskConfig {
        max_order_notional: 1_000_000.0,
        max_orders_per_sec: 1_000,
        daily_trade_cap: 1_000,
        skip_flat_sell: true,
        kill_switch: false,
        max_book_age_ms: 5_000,
        max_orders_per_min: 100_000,
        max_open_orders: 1024,
        price_band_bps: 0.0,
        max_consecutive_rejects: 0,
        ..RiskConfig::default()
    }
}

const DAY_MS: i64 = 86_400_000;
const T0: i64 = 20_000 * DAY_MS + 3_600_000; // 2024-10-04 01:00 UTC

fn gov(cfg: RiskConfig, max_pos: i64) -> Governor {
    Governor::new(
        &cfg,
        table(),
        vec![max_pos],
        Clock::manual(T0),
        TradingMode::Paper,
    )
}

const SEC: u64 = NS_PER_SEC;
const NOW: u64 = 10 * SEC;
const ONE: i64 = 1_000; // 1.0 BTC

fn fill_at(g: &mut Governor, side: Side, qty: i64, px: i64, fee: f64, realized: f64) {
    let pos = g.position(InstrumentId(0)) + side.sign() * qty;
    g.on_report(&ExecReport::Fill {
        client_order_id: 0,
        inst: InstrumentId(0),
        side,
        px,
        qty,
        fee: Money::from_f64(fee),
        position_after: pos,
        realized_pnl: Money::from_f64(realized),
    });
}

fn fill(g: &mut Governor, side: Side, qty: i64) {
    fill_at(g, side, qty, 1_000, 0.0, 0.0);
}

fn done(g: &mut Governor, id: u64, status: OrderStatus) {
    g.on_report(&ExecReport::Done {
        client_order_id: id,
        inst: InstrumentId(0),
        status,
    });
}

fn skip(r: SkipReason) -> Verdict {
    Verdict::Skip(r)
}

fn intent(id: u64, side: Side, qty: i64, d: Decision) -> OrderIntent {
    OrderIntent {
        client_order_id: id,
        side,
        qty,
        limit_px: 0,
        decision: d,
        hop_ns: 0,
    }
}

#[test]
fn kill_switch_and_hold() {
    let mut g = gov(cfg(), 10_000);
    assert_eq!(
        g.check(&decision(Action::Hold, ONE, NOW), NOW),
        skip(SkipReason::Hold)
    );
    g.set_kill_switch(true);
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        skip(SkipReason::KillSwitch)
    );
    assert_eq!(
        g.check(&decision(Action::Hold, ONE, NOW), NOW),
        skip(SkipReason::KillSwitch)
    );
    assert_eq!(&**g.last_label(), "kill_switch");
    g.set_kill_switch(false);
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        Verdict::Execute
    );
    let mut c = cfg();
    c.kill_switch = true;
    assert!(gov(c, 10_000).kill_switch());
    assert_eq!(g.verdict_count(skip(SkipReason::KillSwitch)), 2);
    assert_eq!(g.verdict_count(Verdict::Execute), 1);
    // By command: a reason is required.
    let off = |on, reason: &str| Command::KillSwitch {
        on,
        reason: reason.into(),
        client: "127.0.0.1:1".into(),
    };
    assert!(matches!(g.apply(off(true, " ")), Reply::Refused(400, _)));
    assert!(matches!(g.apply(off(true, "maintenance")), Reply::Ok(_)));
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        skip(SkipReason::KillSwitch)
    );
    assert_eq!(g.view()["kill_switch_reason"], "maintenance");
    assert!(matches!(g.apply(off(false, "done")), Reply::Ok(_)));
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        Verdict::Execute
    );
}

#[test]
fn book_sync_age_and_empty() {
    let mut g = gov(cfg(), 10_000);
    let mut d = decision(Action::Buy, ONE, NOW);
    d.book.in_sync = false;
    assert_eq!(g.check(&d, NOW), skip(SkipReason::BookOutOfSync));
    // Exactly max_book_age_ms old passes; one ns more does not.
    let d = decision(Action::Buy, ONE, NOW);
    assert_eq!(g.check(&d, NOW + 5_000_000_000), Verdict::Execute);
    assert_eq!(
        g.check(&d, NOW + 5_000_000_001),
        skip(SkipReason::BookStale)
    );
    let mut d = decision(Action::Buy, ONE, NOW);
    d.book.n_asks = 0;
    assert_eq!(g.check(&d, NOW), skip(SkipReason::BookEmpty));
    let mut d = decision(Action::Sell, ONE, NOW);
    d.book.n_bids = 0;
    assert_eq!(g.check(&d, NOW), skip(SkipReason::BookEmpty));
}

#[test]
fn skip_flat_sell() {
    let mut g = gov(cfg(), 10_000);
    let sell = decision(Action::Sell, ONE, NOW);
    assert_eq!(g.check(&sell, NOW), skip(SkipReason::SkipFlatSell));
    fill(&mut g, Side::Sell, ONE); // short
    assert_eq!(g.check(&sell, NOW), skip(SkipReason::SkipFlatSell));
    fill(&mut g, Side::Buy, 3 * ONE); // long 2
    assert_eq!(g.check(&sell, NOW), Verdict::Execute);
    let mut c = cfg();
    c.skip_flat_sell = false;
    let mut g = gov(c, 10_000);
    assert_eq!(g.check(&sell, NOW), Verdict::Execute);
}

#[test]
fn a_sell_larger_than_the_position_is_skipped_never_clipped_or_sent() {
    let mut g = gov(cfg(), 10_000);
    fill(&mut g, Side::Buy, 100); // 0.1 held (a partial fill)
    let sell2 = decision(Action::Sell, 200, NOW); // order_qty 0.2
    assert_eq!(g.check(&sell2, NOW), skip(SkipReason::SellExceedsPosition));
    assert_eq!(&**g.last_label(), "sell_exceeds_position");
    let sell1 = decision(Action::Sell, 100, NOW);
    assert_eq!(
        g.check(&sell1, NOW),
        Verdict::Execute,
        "exactly the position"
    );
    // With 0.2 held and a SELL of 0.1 in flight, 0.2 more would go short.
    fill(&mut g, Side::Buy, 100);
    g.on_order_sent(&intent(9, Side::Sell, 100, sell1));
    assert_eq!(g.check(&sell2, NOW), skip(SkipReason::SellExceedsPosition));
    assert_eq!(g.check(&sell1, NOW), Verdict::Execute);
    let mut c = cfg();
    c.skip_flat_sell = false;
    let mut g = gov(c, 10_000);
    fill(&mut g, Side::Buy, 100);
    assert_eq!(g.check(&sell2, NOW), Verdict::Execute, "shorts allowed");
}

#[test]
fn in_flight_sells_count_toward_flat() {
    let mut g = gov(cfg(), 10_000);
    fill(&mut g, Side::Buy, ONE);
    let sell = decision(Action::Sell, ONE, NOW);
    assert_eq!(g.check(&sell, NOW), Verdict::Execute);
    g.on_order_sent(&intent(7, Side::Sell, ONE, sell));
    assert_eq!(g.check(&sell, NOW), skip(SkipReason::SkipFlatSell));
    done(&mut g, 7, OrderStatus::Canceled);
    assert_eq!(g.check(&sell, NOW), Verdict::Execute);
}

#[test]
fn tick_lot_and_min_notional() {
    let mut c = cfg();
    c.skip_flat_sell = false;
    let mut g = Governor::new(
        &c,
        table2(),
        vec![100_000, 100_000],
        Clock::manual(T0),
        TradingMode::Paper,
    );
    // ETHUSDT: tick 0.5 (5 at scale 1), lot 0.010 (10 at scale 3).
    let eth = |qty, bid, ask| {
        let mut d = book_decision(Action::Buy, qty, NOW, bid, ask);
        d.inst = InstrumentId(1);
        d.book.inst = InstrumentId(1);
        d
    };
    assert_eq!(g.check(&eth(1_000, 995, 1_000), NOW), Verdict::Execute);
    assert_eq!(
        g.check(&eth(1_000, 995, 1_001), NOW),
        skip(SkipReason::TickSize)
    );
    assert_eq!(g.check(&eth(1_010, 995, 1_000), NOW), Verdict::Execute);
    assert_eq!(
        g.check(&eth(1_005, 995, 1_000), NOW),
        skip(SkipReason::LotSize)
    );
    assert_eq!(g.check(&eth(0, 995, 1_000), NOW), skip(SkipReason::LotSize));
    // BTCUSDT min notional 5: SELL 0.050 at the bid 100.0 = 5.0 passes.
    let sell = |qty| decision(Action::Sell, qty, NOW);
    assert_eq!(g.check(&sell(50), NOW), Verdict::Execute);
    assert_eq!(g.check(&sell(49), NOW), skip(SkipReason::MinNotional));
    // An unknown instrument never trades.
    let mut d = decision(Action::Buy, ONE, NOW);
    d.inst = InstrumentId(5);
    assert_eq!(g.check(&d, NOW), skip(SkipReason::MaxPosition));
}

#[test]
fn price_band_judges_the_limit_price_against_the_mid() {
    // mid 100.05; BUY limit = ask 100.1 with no slippage: 0.05 / 100.05.
    let dev = 0.5 / 1_000.5 * 1e4;
    let mut c = cfg();
    c.price_band_bps = dev;
    let mut g = gov(c.clone(), 100_000);
    let buy = decision(Action::Buy, ONE, NOW);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    c.price_band_bps = dev * 0.999;
    let mut g = gov(c.clone(), 100_000);
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::PriceBand));
    // With 10 bps slippage the limit is 100.2: 0.15 from the mid.
    c.price_band_bps = 1.5 / 1_000.5 * 1e4;
    let mut g = gov(c.clone(), 100_000);
    g.set_max_slippage_bps(10.0);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    g.set_max_slippage_bps(20.0);
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::PriceBand));
}

#[test]
fn max_position_quantity() {
    let mut g = gov(cfg(), 2 * ONE);
    let buy = decision(Action::Buy, ONE, NOW);
    fill(&mut g, Side::Buy, ONE);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    fill(&mut g, Side::Buy, ONE);
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::MaxPosition));
    // In-flight buys count too.
    let mut g = gov(cfg(), 2 * ONE);
    g.on_order_sent(&intent(1, Side::Buy, 1_500, buy));
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::MaxPosition));
    g.on_report(&ExecReport::Fill {
        client_order_id: 1,
        inst: InstrumentId(0),
        side: Side::Buy,
        px: 1_001,
        qty: 500,
        fee: Money::ZERO,
        position_after: 500,
        realized_pnl: Money::ZERO,
    });
    done(&mut g, 1, OrderStatus::Canceled);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    // Short side, no flat-sell rule.
    let mut c = cfg();
    c.skip_flat_sell = false;
    let mut g = gov(c, 2 * ONE);
    let sell = decision(Action::Sell, 2 * ONE, NOW);
    assert_eq!(g.check(&sell, NOW), Verdict::Execute);
    fill(&mut g, Side::Sell, 2 * ONE);
    assert_eq!(g.check(&sell, NOW), skip(SkipReason::MaxPosition));
}

#[test]
fn position_notional_and_gross_exposure() {
    // 1.0 BTC at mid 100.05 = 100.05.
    let mut c = cfg();
    c.max_position_notional = 100.05;
    let mut g = gov(c.clone(), 100_000);
    let buy = decision(Action::Buy, ONE, NOW);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    fill(&mut g, Side::Buy, ONE);
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::MaxPositionNotional));
    // Per-symbol override.
    c.max_position_notional_by_symbol
        .insert("BTCUSDT".into(), 200.1);
    let mut g = gov(c, 100_000);
    fill(&mut g, Side::Buy, ONE);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    // Gross: ETH 1.0 marked at 50.0 plus BTC 1.0 at 100.05 = 150.05.
    let mut c = cfg();
    c.max_gross_exposure = 150.05;
    let mut g = Governor::new(
        &c,
        table2(),
        vec![100_000, 100_000],
        Clock::manual(T0),
        TradingMode::Paper,
    );
    g.on_report(&ExecReport::Fill {
        client_order_id: 0,
        inst: InstrumentId(1),
        side: Side::Buy,
        px: 500,
        qty: ONE,
        fee: Money::ZERO,
        position_after: ONE,
        realized_pnl: Money::ZERO,
    });
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    let mut c2 = c.clone();
    c2.max_gross_exposure = 150.0;
    let mut g2 = Governor::new(
        &c2,
        table2(),
        vec![100_000, 100_000],
        Clock::manual(T0),
        TradingMode::Paper,
    );
    g2.on_report(&ExecReport::Fill {
        client_order_id: 0,
        inst: InstrumentId(1),
        side: Side::Buy,
        px: 500,
        qty: ONE,
        fee: Money::ZERO,
        position_after: ONE,
        realized_pnl: Money::ZERO,
    });
    assert_eq!(g2.check(&buy, NOW), skip(SkipReason::GrossExposure));
}

#[test]
fn max_order_notional() {
    let mut c = cfg();
    c.max_order_notional = 1_001.0; // 10 @ 100.1 = 1001
    let mut g = gov(c, 100_000);
    assert_eq!(
        g.check(&decision(Action::Buy, 10_000, NOW), NOW),
        Verdict::Execute
    );
    assert_eq!(
        g.check(&decision(Action::Buy, 10_001, NOW), NOW),
        skip(SkipReason::MaxOrderNotional)
    );
    // SELL uses the bid: 10.01 @ 100.0 = 1001.
    fill(&mut g, Side::Buy, 50_000);
    assert_eq!(
        g.check(&decision(Action::Sell, 10_010, NOW), NOW),
        Verdict::Execute
    );
    assert_eq!(
        g.check(&decision(Action::Sell, 10_011, NOW), NOW),
        skip(SkipReason::MaxOrderNotional)
    );
}

#[test]
fn max_open_orders() {
    let mut c = cfg();
    c.max_open_orders = 2;
    let mut g = gov(c, 100_000);
    let buy = decision(Action::Buy, ONE, NOW);
    for id in 1..=2 {
        assert_eq!(g.check(&buy, NOW), Verdict::Execute);
        g.on_order_sent(&intent(id, Side::Buy, ONE, buy));
    }
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::MaxOpenOrders));
    done(&mut g, 1, OrderStatus::Filled);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
}

#[test]
fn order_rate_per_second_and_per_minute() {
    let mut c = cfg();
    c.max_orders_per_sec = 3;
    let mut g = gov(c, 100_000);
    let d = decision(Action::Buy, ONE, NOW);
    for k in 0..3 {
        assert_eq!(
            g.check(&d, NOW + k * 100_000_000),
            Verdict::Execute,
            "order {k}"
        );
    }
    assert_eq!(g.check(&d, NOW + 300_000_000), skip(SkipReason::OrderRate));
    assert_eq!(g.check(&d, NOW + SEC - 1), skip(SkipReason::OrderRate));
    assert_eq!(g.check(&d, NOW + SEC), Verdict::Execute);
    assert_eq!(g.check(&d, NOW + SEC + 1), skip(SkipReason::OrderRate));
    assert_eq!(g.check(&d, NOW + SEC + 100_000_000), Verdict::Execute);

    let mut c = cfg();
    c.max_orders_per_min = 3;
    c.max_book_age_ms = 3_600_000;
    let mut g = gov(c, 100_000);
    for k in 0..3 {
        assert_eq!(g.check(&d, NOW + k * SEC), Verdict::Execute);
    }
    assert_eq!(
        g.check(&d, NOW + 3 * SEC),
        skip(SkipReason::OrderRateMinute)
    );
    assert_eq!(
        g.check(&d, NOW + 60 * SEC - 1),
        skip(SkipReason::OrderRateMinute)
    );
    assert_eq!(g.check(&d, NOW + 60 * SEC), Verdict::Execute);
}

#[test]
fn daily_cap_warns_and_resets_on_a_new_utc_day() {
    let mut c = cfg();
    c.daily_trade_cap = 5;
    let clock = Clock::manual(T0);
    let mut g = Governor::new(
        &c,
        table(),
        vec![100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    let d = decision(Action::Buy, ONE, NOW);
    for k in 0..5 {
        assert_eq!(g.view()["daily_trade_cap_warning"], k >= 4, "after {k}");
        assert_eq!(g.check(&d, NOW), Verdict::Execute);
    }
    assert_eq!(g.view()["daily_trade_cap_warning"], true);
    assert_eq!(g.daily_trades(), 5);
    assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
    clock.set_ms(T0 - 3_600_000 + DAY_MS - 1); // 23:59:59.999 same day
    assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
    clock.set_ms(T0 - 3_600_000 + DAY_MS); // midnight
    assert_eq!(g.daily_trades(), 0);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
    assert_eq!(g.daily_trades(), 1);
    let v = g.view();
    assert_eq!(v["utc_day"], "2024-10-05");
    assert_eq!(v["daily_trades"], 1);
    assert_eq!(v["daily_trade_cap_warning"], false);
    assert_eq!(v["verdicts"]["skip"]["daily_trade_cap"], 2);
}

#[test]
fn a_clock_stepped_back_across_midnight_keeps_todays_counters() {
    let mut c = cfg();
    c.daily_trade_cap = 2;
    c.max_consecutive_rejects = 5;
    let midnight = T0 - 3_600_000 + DAY_MS; // 2024-10-05 00:00
    let clock = Clock::manual(midnight + 30_000);
    let mut g = Governor::new(
        &c,
        table(),
        vec![100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    let d = decision(Action::Buy, ONE, NOW);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
    round_trip(&mut g, 990);
    done(&mut g, 1, OrderStatus::Rejected);
    let before = g.day_state();
    assert_eq!((before.trades, before.rejects), (2, 1));
    // NTP steps the clock back 60 s, to yesterday 23:59:30.
    clock.set_ms(midnight - 30_000);
    g.housekeeping();
    assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
    done(&mut g, 2, OrderStatus::Rejected);
    let after = g.day_state();
    assert_eq!(after.day, before.day, "the day never goes back");
    assert_eq!(after.trades, 2);
    assert_eq!(after.rejects, 2);
    assert_eq!(after.realized_net(), before.realized_net());
    assert_eq!(g.view()["utc_day"], "2024-10-05");
    // Forward to the next midnight: a new day.
    clock.set_ms(midnight + DAY_MS);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
    assert_eq!(g.day_state().trades, 1);
    assert_eq!(g.view()["utc_day"], "2024-10-06");
}

#[test]
fn daily_cap_is_per_trading_mode() {
    let mut c = cfg();
    c.daily_trade_cap = 1;
    let mut g = gov(c, 100_000);
    let d = decision(Action::Buy, ONE, NOW);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
    assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
    g.set_mode(TradingMode::Live);
    assert_eq!(g.daily_trades(), 0);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
    assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
    g.set_mode(TradingMode::Paper);
    assert_eq!(g.daily_trades(), 1);
    assert_eq!(g.view()["mode"], "paper");
}

#[test]
fn required_heartbeat_blocks_and_advisory_does_not() {
    let mut c = cfg();
    c.heartbeats = vec![
        HeartbeatConfig {
            service: "rl_trainer".into(),
            policy: HeartbeatPolicy::Required,
            max_age_ms: 1_000,
        },
        HeartbeatConfig {
            service: "feedback".into(),
            policy: HeartbeatPolicy::Advisory,
            max_age_ms: 1_000,
        },
    ];
    let clock = Clock::manual(T0);
    let mut g = Governor::new(
        &c,
        table(),
        vec![100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    let store = Heartbeats::new();
    g.attach_heartbeats(&store);
    let d = decision(Action::Buy, ONE, NOW);
    // Never seen: missing.
    assert_eq!(g.check(&d, NOW), skip(SkipReason::HeartbeatMissing));
    assert_eq!(&**g.last_label(), "heartbeat_missing:rl_trainer");
    // Exactly max_age_ms old passes; 1 ms more is stale.
    store.record("rl_trainer", T0 - 1_000);
    assert_eq!(
        g.check(&d, NOW),
        Verdict::Execute,
        "advisory feedback never seen"
    );
    clock.set_ms(T0 + 1);
    assert_eq!(g.check(&d, NOW), skip(SkipReason::HeartbeatMissing));
    store.record("rl_trainer", T0);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
    assert_eq!(g.label_count("heartbeat_missing:rl_trainer"), 2);
    assert_eq!(g.verdict_count(skip(SkipReason::HeartbeatMissing)), 2);
    let v = g.view();
    assert_eq!(v["heartbeats"][0]["stale"], false);
    assert_eq!(v["heartbeats"][1]["stale"], true);
    assert_eq!(v["heartbeats"][1]["policy"], "advisory");
    // A stamp in µs (or any far-future ts_ms) is refused: the gate closes
    // once the last real stamp is stale, and stays closed.
    assert_eq!(
        store.record_at("rl_trainer", T0 * 1_000, T0),
        crate::risk::heartbeat::Recorded::Future
    );
    clock.set_ms(T0 + 1_001);
    assert_eq!(g.check(&d, NOW), skip(SkipReason::HeartbeatMissing));
    // A held stamp ahead of the clock (the host clock stepped back) is
    // not fresh, however far ahead.
    let slot = store.slot("rl_trainer").unwrap();
    slot.store(T0 + 3_600_000, Ordering::Relaxed);
    assert_eq!(g.check(&d, NOW), skip(SkipReason::HeartbeatMissing));
    assert_eq!(g.view()["heartbeats"][0]["stale"], true);
    // The next plausible stamp replaces it.
    store.record_at("rl_trainer", T0 + 1_001, T0 + 1_001);
    assert_eq!(g.check(&d, NOW), Verdict::Execute);
}

/// A losing round trip: buy 1 @ 100.0, sell 1 @ `exit`, fees 0.
fn round_trip(g: &mut Governor, exit_px: i64) {
    fill_at(g, Side::Buy, ONE, 1_000, 0.0, 0.0);
    let realized = (exit_px - 1_000) as f64 / 10.0;
    fill_at(g, Side::Sell, ONE, exit_px, 0.0, realized);
}

#[test]
fn breaker_trips_on_daily_loss_and_reset_needs_the_condition_gone_or_an_override() {
    let mut c = cfg();
    c.max_daily_loss = 1.0;
    let clock = Clock::manual(T0);
    let mut g = Governor::new(
        &c,
        table(),
        vec![100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    round_trip(&mut g, 990); // -1.0: at the limit
    assert!(!g.breaker().is_open());
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        Verdict::Execute
    );
    fill_at(&mut g, Side::Buy, ONE, 1_000, 0.01, 0.0); // fee: -1.01
    assert!(g.breaker().is_open());
    assert_eq!(
        g.breaker().trip_info().unwrap().reason,
        TripReason::DailyLoss
    );
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        skip(SkipReason::CircuitOpen)
    );
    assert_eq!(&**g.last_label(), "circuit_open:daily_loss");
    assert_eq!(
        g.check(&decision(Action::Hold, ONE, NOW), NOW),
        skip(SkipReason::CircuitOpen)
    );
    let reset = |o: bool, r: &str| Command::Reset {
        override_: o,
        reason: r.into(),
        client: "127.0.0.1:9".into(),
    };
    match g.apply(reset(false, "")) {
        Reply::Refused(409, msg) => assert!(msg.contains("daily_loss"), "{msg}"),
        r => panic!("{r:?}"),
    }
    assert!(matches!(g.apply(reset(true, "  ")), Reply::Refused(400, _)));
    assert!(g.breaker().is_open());
    assert!(matches!(
        g.apply(reset(true, "loss understood")),
        Reply::Ok(_)
    ));
    assert!(!g.breaker().is_open());
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        Verdict::Execute
    );
    // The override set a new floor at -1.01: 0.5 more is within the limit,
    // a further 1.0 past the floor trips again the same day.
    assert_eq!(g.day_state().loss_floor.to_string(), "-1.01000000");
    fill_at(&mut g, Side::Sell, ONE, 995, 0.0, -0.5);
    assert!(!g.breaker().is_open());
    let h = g.breaker().history();
    assert_eq!(h.len(), 2);
    assert_eq!((h[0].state.as_str(), h[0].override_), ("closed", true));
    assert_eq!(h[0].client, "127.0.0.1:9");
    assert_eq!(h[0].reason, "loss understood");
    assert_eq!(h[1].reason, "daily_loss");
    fill_at(&mut g, Side::Buy, ONE, 1_000, 0.0, 0.0);
    fill_at(&mut g, Side::Sell, ONE, 994, 0.0, -0.6);
    assert!(g.breaker().is_open(), "a further loss past the limit trips");
    assert_eq!(
        g.breaker().trip_info().unwrap().reason,
        TripReason::DailyLoss
    );
    assert!(matches!(g.apply(reset(false, "")), Reply::Refused(409, _)));
    // A new UTC day: the condition is gone, a plain reset works.
    let mut c2 = c.clone();
    c2.max_daily_loss = 0.5;
    let mut g = Governor::new(
        &c2,
        table(),
        vec![100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    round_trip(&mut g, 990);
    assert!(g.breaker().is_open());
    assert!(matches!(g.apply(reset(false, "")), Reply::Refused(409, _)));
    clock.set_ms(T0 + DAY_MS);
    assert!(matches!(g.apply(reset(false, "")), Reply::Ok(_)));
    assert!(!g.breaker().is_open());
}

#[test]
fn breaker_trips_on_drawdown_from_the_days_peak() {
    let mut c = cfg();
    c.max_drawdown = 2.0;
    let mut g = gov(c, 100_000);
    fill_at(&mut g, Side::Buy, ONE, 1_000, 0.0, 0.0); // long 1 @ 100.0
    // mid 101.0: equity +1.0 (the peak).
    assert_eq!(
        g.check(&book_decision(Action::Buy, ONE, NOW, 1_005, 1_015), NOW),
        Verdict::Execute
    );
    // mid 99.0: equity -1.0, drawdown 2.0: at the limit.
    assert_eq!(
        g.check(&book_decision(Action::Hold, ONE, NOW, 985, 995), NOW),
        skip(SkipReason::Hold)
    );
    assert!(!g.breaker().is_open());
    assert_eq!(g.day_state().drawdown().to_string(), "2.00000000");
    // mid 98.95: past it.
    assert_eq!(
        g.check(&book_decision(Action::Buy, ONE, NOW, 985, 994), NOW),
        skip(SkipReason::CircuitOpen)
    );
    assert_eq!(&**g.last_label(), "circuit_open:drawdown");
    let reset = Command::Reset {
        override_: false,
        reason: String::new(),
        client: String::new(),
    };
    assert!(matches!(g.apply(reset.clone()), Reply::Refused(409, _)));
    // The price comes back: the condition is gone, the reset is allowed.
    g.check(&book_decision(Action::Hold, ONE, NOW, 1_000, 1_010), NOW);
    assert!(matches!(g.apply(reset), Reply::Ok(_)));
}

#[test]
fn breaker_trips_on_consecutive_losses_and_rejects() {
    let mut c = cfg();
    c.max_consecutive_losses = 2;
    let mut g = gov(c, 100_000);
    round_trip(&mut g, 999);
    round_trip(&mut g, 999);
    assert!(!g.breaker().is_open(), "2 losses: at the limit");
    round_trip(&mut g, 1_001); // a win resets the streak
    round_trip(&mut g, 999);
    round_trip(&mut g, 999);
    assert!(!g.breaker().is_open());
    round_trip(&mut g, 999);
    assert_eq!(
        g.breaker().trip_info().unwrap().reason,
        TripReason::ConsecutiveLosses
    );
    // A streak is an event: a plain reset is allowed and clears it.
    let reset = Command::Reset {
        override_: false,
        reason: "looked at it".into(),
        client: String::new(),
    };
    assert!(matches!(g.apply(reset.clone()), Reply::Ok(_)));
    assert_eq!(g.day_state().losses, 0);

    let mut c = cfg();
    c.max_consecutive_rejects = 2;
    let mut g = gov(c, 100_000);
    done(&mut g, 1, OrderStatus::Rejected);
    done(&mut g, 2, OrderStatus::Rejected);
    done(&mut g, 3, OrderStatus::Canceled);
    done(&mut g, 4, OrderStatus::Rejected);
    done(&mut g, 5, OrderStatus::Rejected);
    assert!(!g.breaker().is_open());
    done(&mut g, 6, OrderStatus::Rejected);
    assert_eq!(
        g.breaker().trip_info().unwrap().reason,
        TripReason::ConsecutiveRejects
    );
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        skip(SkipReason::CircuitOpen)
    );
    assert_eq!(&**g.last_label(), "circuit_open:consecutive_rejects");
    assert!(matches!(g.apply(reset), Reply::Ok(_)));
    assert_eq!(
        g.check(&decision(Action::Buy, ONE, NOW), NOW),
        Verdict::Execute
    );
}

#[test]
fn manual_trip_and_cooldown() {
    let mut c = cfg();
    c.breaker = BreakerConfig { cooldown_secs: 10 };
    let clock = Clock::manual(T0);
    let mut g = Governor::new(
        &c,
        table(),
        vec![100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    let trip = |r: &str| Command::Trip {
        reason: r.into(),
        client: "c".into(),
    };
    assert!(matches!(g.apply(trip("")), Reply::Refused(400, _)));
    assert!(matches!(g.apply(trip("fat finger seen")), Reply::Ok(_)));
    assert!(matches!(g.apply(trip("again")), Reply::Refused(409, _)));
    assert_eq!(g.breaker_status()["state"], "OPEN");
    assert_eq!(g.breaker_status()["detail"], "fat finger seen");
    // A manual trip (a desk halt) never closes by itself.
    for t in [T0 + 9_999, T0 + 10_000, T0 + 3_600_000] {
        clock.set_ms(t);
        g.housekeeping();
        assert!(
            g.breaker().is_open(),
            "manual trip closed by cool-down at {t}"
        );
    }
    let reset = Command::Reset {
        override_: false,
        reason: "desk says go".into(),
        client: "c".into(),
    };
    assert!(matches!(g.apply(reset), Reply::Ok(_)));
    // An automatic trip cools down.
    let mut c = c.clone();
    c.max_consecutive_rejects = 1;
    let clock = Clock::manual(T0);
    let mut g = Governor::new(
        &c,
        table(),
        vec![100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    done(&mut g, 1, OrderStatus::Rejected);
    done(&mut g, 2, OrderStatus::Rejected);
    assert!(g.breaker().is_open());
    clock.set_ms(T0 + 9_999);
    g.housekeeping();
    assert!(g.breaker().is_open());
    clock.set_ms(T0 + 10_000);
    g.housekeeping();
    assert!(!g.breaker().is_open());
    assert_eq!(g.breaker().history()[0].by, "cooldown");
}

#[test]
fn restore_brings_back_state_and_closes_orphan_orders() {
    let mut g = gov(cfg(), 100_000);
    let mut day = DayState::new(utc_day(T0));
    day.trades = 7;
    day.losses = 1;
    let seed = RiskSeed {
        positions: vec![2 * ONE],
        books: vec![],
        open_orders: vec![OpenOrder {
            client_order_id: 41,
            inst: InstrumentId(0),
            side: Side::Buy,
            remaining: ONE,
        }],
        today: Some(day),
        breaker_open: Some(Trip {
            reason: TripReason::Manual,
            since_ms: T0 - 5,
            detail: "x".into(),
        }),
        breaker_history: vec![],
        kill_switch: Some((true, "from journal".into())),
        next_client_order_id: 42,
        last_ts_ms: T0 - 5,
    };
    g.restore(&seed);
    assert_eq!(g.position(InstrumentId(0)), 2 * ONE);
    assert_eq!(g.daily_trades(), 7);
    assert!(g.breaker().is_open() && g.kill_switch());
    assert!(g.open_orders().is_empty(), "orphans are closed");
    assert_eq!(g.next_client_order_id(), 42);
    // A seed from another day does not restore counters.
    let mut g = gov(cfg(), 100_000);
    day.day -= 1;
    g.restore(&RiskSeed {
        today: Some(day),
        ..Default::default()
    });
    assert_eq!(g.daily_trades(), 0);
}

#[test]
fn view_shape() {
    let mut g = gov(cfg(), 10_000);
    fill(&mut g, Side::Buy, 2 * ONE);
    let v = g.view();
    assert_eq!(v["positions"]["binance:BTCUSDT"], 2.0);
    assert_eq!(v["limits"]["max_position"]["binance:BTCUSDT"], 10.0);
    assert_eq!(v["kill_switch"], false);
    assert_eq!(v["daily_trade_cap"], 1_000);
    assert_eq!(v["utc_day"], "2024-10-04");
    assert_eq!(v["circuit_breaker"]["state"], "CLOSED");
    assert!(v["verdicts"]["skip"]["circuit_open:daily_loss"].is_number());
}

/// Without `record_holds`, every HOLD is still in the journal: summed per
/// instrument and verdict, at least once a second, and the day report
/// counts each one with its verdict.
#[test]
fn holds_are_journaled_summed_and_the_report_counts_every_one() {
    use crate::journal::report::DayReport;
    use crate::journal::{read_day, start};
    let dir = crate::journal::tests::tmp_dir("holds-sum");
    let jcfg = crate::config::JournalConfig {
        dir: dir.to_string_lossy().into_owned(),
        ..crate::config::JournalConfig::default()
    };
    let m = crate::telemetry::metrics::Metrics::new();
    let (tx, w) = start(&jcfg, table2(), &m).unwrap();
    let clock = Clock::manual(T0);
    let mut g = Governor::new(
        &cfg(),
        table2(),
        vec![100_000, 100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    g.set_journal(tx, false);
    let mut id = 0u64;
    let mut hold = |g: &mut Governor, inst: u16| {
        id += 1;
        let mut d = decision(Action::Hold, 0, NOW);
        d.id = id;
        d.inst = InstrumentId(inst);
        d.book.inst = InstrumentId(inst);
        let v = g.check(&d, NOW);
        g.journal_verdict(&d, v);
    };
    // 3 seconds of HOLDs on two instruments, the kill switch on in the last.
    for i in 0..3_000i64 {
        clock.set_ms(T0 + i);
        if i == 2_000 {
            g.set_kill_switch(true);
        }
        hold(&mut g, (i % 3 == 0) as u16);
    }
    g.flush_holds();
    drop(g);
    w.join();
    let read = read_day(&dir, T0.div_euclid(DAY_MS)).unwrap();
    let sums: Vec<_> = read
        .records
        .iter()
        .filter(|r| r.body.kind() == "holds")
        .collect();
    // One per second, instrument and verdict: 3 s x 2 instruments.
    assert_eq!(sums.len(), 6, "{sums:#?}");
    assert!(
        read.records.iter().all(|r| r.body.kind() == "holds"),
        "no per-HOLD record without record_holds"
    );
    let r = DayReport::build(&read, TradingMode::Paper);
    assert_eq!(r.decisions.get("HOLD"), Some(&3_000));
    assert_eq!(r.verdicts.get("SKIP hold"), Some(&2_000));
    assert_eq!(r.verdicts.get("SKIP kill_switch"), Some(&1_000));
    let _ = std::fs::remove_dir_all(&dir);
}
