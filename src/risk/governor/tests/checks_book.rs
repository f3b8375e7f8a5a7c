//! The first checks: kill switch, HOLD, book, flat sell, instrument rules,
//! price band.

use super::*;

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
