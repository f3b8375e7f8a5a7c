//! The circuit breaker: trips on daily loss, drawdown and streaks; reset,
//! override, manual trip, cool-down; restore after a restart.

use super::*;

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
        working_orders: vec![OpenOrder {
            client_order_id: 40,
            inst: InstrumentId(0),
            side: Side::Sell,
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
        startup_fills: Vec::new(),
    };
    g.restore(&seed);
    assert_eq!(g.position(InstrumentId(0)), 2 * ONE);
    assert_eq!(g.daily_trades(), 7);
    assert!(g.breaker().is_open() && g.kill_switch());
    // The orphan is closed; the order still working at the venue stays.
    assert_eq!(
        g.open_orders()
            .iter()
            .map(|o| o.client_order_id)
            .collect::<Vec<_>>(),
        vec![40],
        "orphans are closed, working orders kept"
    );
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
