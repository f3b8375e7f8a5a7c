//! The live path's venue checks: `private_stream_down`, `venue_budget_spent`,
//! orders of unknown outcome counted as in flight; plus a property test over
//! random gate states and orders in flight (proptest).

use super::*;
use crate::pipeline::venue_gates::VenueGates;
use proptest::prelude::*;

/// The fixtures' venue (whichever the decisions are for).
fn venue() -> Venue {
    decision(Action::Buy, 1, 0).venue
}

fn gated(c: RiskConfig, max_pos: i64, mode: TradingMode) -> (Governor, Arc<VenueGates>) {
    let mut g = gov(c, max_pos);
    let gates = Arc::new(VenueGates::new(mode));
    g.attach_venue_gates(gates.clone());
    (g, gates)
}

#[test]
fn private_stream_and_venue_budget_gate_every_order() {
    let (mut g, gates) = gated(cfg(), 2 * ONE, TradingMode::Live);
    let buy = decision(Action::Buy, ONE, NOW);
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::PrivateStreamDown));
    assert_eq!(&**g.last_label(), "private_stream_down");
    gates.set_private_stream_up(venue(), true);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    // A 429 stop until T0 + 5 s: SKIP until then (the manual clock is T0).
    gates
        .venue(venue())
        .rest_stopped_until_ms
        .store(T0 + 5_000, Ordering::Release);
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::VenueBudgetSpent));
    assert_eq!(&**g.last_label(), "venue_budget_spent");
    gates
        .venue(venue())
        .rest_stopped_until_ms
        .store(T0, Ordering::Release);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    // HOLDs stay HOLDs; the kill switch still comes first.
    assert_eq!(
        g.check(&decision(Action::Hold, ONE, NOW), NOW),
        skip(SkipReason::Hold)
    );
    // Paper gates: up from the start.
    let (mut g, _) = gated(cfg(), 2 * ONE, TradingMode::Paper);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
}

/// An order whose outcome is unknown has had no `Done` report, so it is
/// still in flight and counts as if it could fill.
#[test]
fn unknown_outcome_orders_count_as_in_flight() {
    let (mut g, _) = gated(cfg(), 2 * ONE, TradingMode::Live);
    g.venue_gates
        .as_ref()
        .unwrap()
        .set_private_stream_up(venue(), true);
    let buy = decision(Action::Buy, ONE, NOW);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
    g.on_order_sent(&intent(1, Side::Buy, 1_500, buy));
    assert_eq!(g.check(&buy, NOW), skip(SkipReason::MaxPosition));
    done(&mut g, 1, OrderStatus::Canceled);
    assert_eq!(g.check(&buy, NOW), Verdict::Execute);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No EXECUTE while the stream is down or the budget spent, and none
    /// that could take |position + in flight + qty| past the max.
    #[test]
    fn no_execute_past_the_venue_gates(
        up in any::<bool>(),
        stopped_for_ms in -5_000i64..5_000,
        held in 0i64..3_000,
        unknown_buy in 0i64..3_000,
        unknown_sell in 0i64..3_000,
        buy in any::<bool>(),
        qty in 1i64..2_000,
    ) {
        let max = 2 * ONE;
        let mut c = cfg();
        c.skip_flat_sell = false;
        let (mut g, gates) = gated(c, max, TradingMode::Live);
        gates.set_private_stream_up(venue(), up);
        gates.venue(venue()).rest_stopped_until_ms.store(T0 + stopped_for_ms, Ordering::Release);
        if held > 0 {
            fill(&mut g, Side::Buy, held.min(max));
        }
        let held = held.min(max);
        let d = decision(if buy { Action::Buy } else { Action::Sell }, qty, NOW);
        // Orders in flight (outcome unknown), sent when the gates allowed.
        if unknown_buy > 0 {
            g.on_order_sent(&intent(1, Side::Buy, unknown_buy, d));
        }
        if unknown_sell > 0 {
            g.on_order_sent(&intent(2, Side::Sell, unknown_sell, d));
        }
        let v = g.check(&d, NOW);
        if v == Verdict::Execute {
            prop_assert!(up);
            prop_assert!(stopped_for_ms <= 0);
            let worst = if buy { held + unknown_buy + qty } else { held - unknown_sell - qty };
            prop_assert!(worst.abs() <= max, "worst {worst}");
        }
        if !up {
            prop_assert_eq!(v, skip(SkipReason::PrivateStreamDown));
        } else if stopped_for_ms > 0 {
            prop_assert_eq!(v, skip(SkipReason::VenueBudgetSpent));
        }
    }
}
