//! Exposure, rate, daily-cap and heartbeat checks.

use super::*;

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
        fee_asset: crate::core::FeeAsset::QUOTE,
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
        fee_asset: crate::core::FeeAsset::QUOTE,
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
        fee_asset: crate::core::FeeAsset::QUOTE,
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
