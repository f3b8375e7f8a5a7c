//! Tests of the order lifecycle: the state × event table (the one in
//! `docs/order-path.md`), fills, fees and limits, and a property test that
//! any reordering / duplication of a valid event history ends where the
//! in-order history ends.

use super::*;
use proptest::prelude::*;

const QTY: i64 = 10;

fn fill(id: &str, qty: i64) -> LifeEvent {
    LifeEvent::Fill(Fill {
        trade_id: id.to_string(),
        qty,
        px: 100,
        fee: Some(Fee {
            amount: Money(qty * 1_000),
            asset: "USDT".into(),
        }),
    })
}

fn ack() -> LifeEvent {
    LifeEvent::Ack {
        venue_order_id: Some("42".into()),
    }
}

fn reject() -> LifeEvent {
    LifeEvent::Reject {
        reason: RefusalReason::MarginInsufficient,
    }
}

fn found(state: VenueState, cum_qty: i64) -> LifeEvent {
    LifeEvent::Query(QueryAnswer::Found {
        state,
        cum_qty,
        venue_order_id: Some("42".into()),
    })
}

fn run(events: &[LifeEvent]) -> VenueOrder {
    let mut o = VenueOrder::new("c1", QTY);
    for e in events {
        o.apply(e).unwrap();
    }
    o
}

/// The events that bring a fresh order to each state.
fn prefix(s: LifeState) -> Vec<LifeEvent> {
    use LifeEvent::*;
    match s {
        LifeState::New => vec![],
        LifeState::Pending => vec![Sent],
        LifeState::Unknown => vec![Sent, OutcomeUnknown],
        LifeState::Accepted => vec![Sent, ack()],
        LifeState::PartiallyFilled => vec![Sent, ack(), fill("t1", 4)],
        LifeState::PendingCancel => vec![Sent, ack(), CancelSent { attempt: 1 }],
        LifeState::Filled => vec![Sent, ack(), fill("t1", QTY)],
        LifeState::Canceled => vec![
            Sent,
            ack(),
            CancelSent { attempt: 1 },
            CancelAck { cum_qty: Some(0) },
        ],
        LifeState::Rejected => vec![Sent, reject()],
        LifeState::Expired => vec![Sent, ack(), Expire { cum_qty: Some(0) }],
    }
}

/// The table: rows are states, columns the events below; `X` = the event
/// is refused (an error, counted) and the state stays; `!S` = goes to S and
/// counts a contradiction.
#[test]
fn transition_table() {
    use LifeState::*;
    let columns: Vec<(&str, LifeEvent)> = vec![
        ("sent", LifeEvent::Sent),
        ("ack", ack()),
        ("reject", reject()),
        ("fill 3", fill("t9", 3)),
        ("cancel_sent", LifeEvent::CancelSent { attempt: 2 }),
        ("cancel_refused #1", LifeEvent::CancelRefused { attempt: 1 }),
        ("cancel_ack", LifeEvent::CancelAck { cum_qty: None }),
        ("expire", LifeEvent::Expire { cum_qty: None }),
        ("outcome_unknown", LifeEvent::OutcomeUnknown),
        ("query found live", found(VenueState::Live, 0)),
        ("query not found", LifeEvent::Query(QueryAnswer::NotFound)),
    ];
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum T {
        Go(LifeState),
        Refused,
        Contra(LifeState),
    }
    use T::*;
    let table: Vec<(LifeState, [T; 11])> = vec![
        (
            New,
            [
                Go(Pending),
                Go(Accepted),
                Go(Rejected),
                Go(PartiallyFilled),
                Go(New),
                Go(New),
                Go(Canceled),
                Go(Expired),
                Go(Unknown),
                Go(Accepted),
                Go(New),
            ],
        ),
        (
            Pending,
            [
                Go(Pending),
                Go(Accepted),
                Go(Rejected),
                Go(PartiallyFilled),
                Go(Pending),
                Go(Pending),
                Go(Canceled),
                Go(Expired),
                Go(Unknown),
                Go(Accepted),
                Go(Pending),
            ],
        ),
        (
            Unknown,
            [
                Go(Unknown),
                Go(Accepted),
                Go(Rejected),
                Go(PartiallyFilled),
                Go(Unknown),
                Go(Unknown),
                Go(Canceled),
                Go(Expired),
                Go(Unknown),
                Go(Accepted),
                Go(Unknown),
            ],
        ),
        (
            Accepted,
            [
                Go(Accepted),
                Go(Accepted),
                Refused,
                Go(PartiallyFilled),
                Go(PendingCancel),
                Go(Accepted),
                Go(Canceled),
                Go(Expired),
                Go(Accepted),
                Go(Accepted),
                Go(Accepted),
            ],
        ),
        (
            PartiallyFilled,
            [
                Go(PartiallyFilled),
                Go(PartiallyFilled),
                Refused,
                Go(PartiallyFilled),
                Go(PendingCancel),
                Go(PartiallyFilled),
                Go(Canceled),
                Go(Expired),
                Go(PartiallyFilled),
                Go(PartiallyFilled),
                Go(PartiallyFilled),
            ],
        ),
        (
            PendingCancel,
            [
                Go(PendingCancel),
                Go(PendingCancel),
                Refused,
                Go(PendingCancel),
                Go(PendingCancel),
                Go(Accepted),
                Go(Canceled),
                Go(Expired),
                Go(PendingCancel),
                Go(PendingCancel),
                Go(PendingCancel),
            ],
        ),
        (
            Filled,
            [
                Go(Filled),
                Go(Filled),
                Refused,
                Refused,
                Go(Filled),
                Go(Filled),
                Contra(Filled),
                Contra(Filled),
                Go(Filled),
                Go(Filled),
                Go(Filled),
            ],
        ),
        (
            Canceled,
            [
                Go(Canceled),
                Go(Canceled),
                Refused,
                Go(Canceled),
                Go(Canceled),
                Go(Canceled),
                Go(Canceled),
                Contra(Canceled),
                Go(Canceled),
                Go(Canceled),
                Go(Canceled),
            ],
        ),
        (
            Rejected,
            [
                Go(Rejected),
                Contra(Accepted),
                Go(Rejected),
                Contra(PartiallyFilled),
                Go(Rejected),
                Go(Rejected),
                Contra(Canceled),
                Contra(Expired),
                Go(Rejected),
                Contra(Accepted),
                Go(Rejected),
            ],
        ),
        (
            Expired,
            [
                Go(Expired),
                Go(Expired),
                Refused,
                Go(Expired),
                Go(Expired),
                Go(Expired),
                Contra(Canceled),
                Go(Expired),
                Go(Expired),
                Go(Expired),
                Go(Expired),
            ],
        ),
    ];
    assert_eq!(table.len(), 10, "every state has a row");
    for (from, row) in &table {
        let pre = prefix(*from);
        assert_eq!(run(&pre).state(), *from, "prefix of {from:?}");
        for ((name, ev), want) in columns.iter().zip(row) {
            let mut o = run(&pre);
            let before = o.clone();
            let r = o.apply(ev);
            let got = match r {
                Err(_) => {
                    // Refused: only the refusal count moved.
                    assert_eq!(o.state(), before.state());
                    assert_eq!(o.filled(), before.filled());
                    assert_eq!(o.anomalies().refused, before.anomalies().refused + 1);
                    Refused
                }
                Ok(_) if o.anomalies().contradictions > 0 => Contra(o.state()),
                Ok(_) => Go(o.state()),
            };
            assert_eq!(got, *want, "{from:?} × {name}");
            // Applying the same event again never changes anything more.
            let again = o.clone();
            match o.apply(ev) {
                Ok(a) => assert_eq!(a, Applied::Unchanged, "{from:?} × {name} twice"),
                Err(_) => assert_eq!(got, Refused),
            }
            assert_eq!(o.state(), again.state());
            assert_eq!(o.filled(), again.filled());
        }
    }
}

#[test]
fn fills_dedup_by_trade_id_and_late_fee_is_merged() {
    let mut o = run(&[LifeEvent::Sent]);
    // TRADE_LITE first: no commission.
    let lite = LifeEvent::Fill(Fill {
        trade_id: "7".into(),
        qty: 3,
        px: 100,
        fee: None,
    });
    assert_eq!(o.apply(&lite), Ok(Applied::Changed));
    assert_eq!((o.filled(), o.fills_without_fee()), (3, 1));
    assert!(o.fees().is_empty());
    // ORDER_TRADE_UPDATE of the same trade adds the fee, not a second fill.
    let full = fill("7", 3);
    assert_eq!(o.apply(&full), Ok(Applied::Changed));
    assert_eq!((o.filled(), o.fills_without_fee()), (3, 0));
    assert_eq!(o.fees()["USDT"], Money(3_000));
    assert_eq!(o.apply(&full), Ok(Applied::Unchanged));
    assert_eq!(o.apply(&lite), Ok(Applied::Unchanged));
    assert_eq!(o.filled(), 3);
    // The same id with another quantity is a conflict, not applied.
    assert!(matches!(
        o.apply(&fill("7", 4)),
        Err(LifeError::ConflictingFill { .. })
    ));
    assert_eq!(o.filled(), 3);
    // A fill before the ack implies the ack.
    assert_eq!(o.state(), LifeState::PartiallyFilled);
    assert_eq!(o.apply(&ack()), Ok(Applied::Changed));
    assert_eq!(o.venue_order_id(), Some("42"));
    assert_eq!(o.state(), LifeState::PartiallyFilled);
}

#[test]
fn excess_and_bad_fills_are_counted_not_applied() {
    let mut o = run(&[LifeEvent::Sent, ack(), fill("a", 8)]);
    assert_eq!(
        o.apply(&fill("b", 3)),
        Err(LifeError::ExcessFill {
            trade_id: "b".into(),
            qty: 3,
            filled: 8,
            order_qty: QTY
        })
    );
    assert_eq!((o.filled(), o.anomalies().refused), (8, 1));
    let zero = LifeEvent::Fill(Fill {
        trade_id: "z".into(),
        qty: 0,
        px: 100,
        fee: None,
    });
    assert!(matches!(o.apply(&zero), Err(LifeError::BadFill { .. })));
    assert_eq!(
        o.apply(&found(VenueState::Live, QTY + 1)),
        Err(LifeError::BadCumQty {
            cum_qty: QTY + 1,
            order_qty: QTY
        })
    );
    assert_eq!(o.anomalies().refused, 3);
    o.apply(&fill("b", 2)).unwrap();
    assert_eq!(
        (o.state(), o.filled(), o.open_qty()),
        (LifeState::Filled, 10, 0)
    );
}

#[test]
fn query_answers_resolve_unknown_and_show_missing_fills() {
    let mut o = run(&[LifeEvent::Sent, LifeEvent::OutcomeUnknown]);
    assert_eq!((o.state(), o.open_qty()), (LifeState::Unknown, QTY));
    assert_eq!(
        o.apply(&LifeEvent::Query(QueryAnswer::NotFound)),
        Ok(Applied::Unchanged)
    );
    assert_eq!(o.state(), LifeState::Unknown);
    assert_eq!(
        o.apply(&found(VenueState::Filled, 9)),
        Err(LifeError::FilledShort {
            cum_qty: 9,
            order_qty: QTY
        })
    );
    o.apply(&found(VenueState::Canceled, 6)).unwrap();
    assert_eq!(o.state(), LifeState::Canceled);
    // The venue filled 6 that no fill reported yet: fetch the trades.
    assert_eq!((o.filled(), o.missing_fill_qty(), o.open_qty()), (0, 6, 0));
    o.apply(&fill("x", 6)).unwrap();
    assert_eq!(o.missing_fill_qty(), 0);
    assert_eq!(
        o.anomalies(),
        Anomalies {
            refused: 1,
            contradictions: 0
        }
    );
}

#[test]
fn cancel_refused_returns_to_working_and_a_later_cancel_pends_again() {
    let mut o = run(&[LifeEvent::Sent, ack(), fill("a", 2)]);
    o.apply(&LifeEvent::CancelSent { attempt: 1 }).unwrap();
    assert_eq!(o.state(), LifeState::PendingCancel);
    o.apply(&LifeEvent::CancelRefused { attempt: 1 }).unwrap();
    assert_eq!(o.state(), LifeState::PartiallyFilled);
    o.apply(&LifeEvent::CancelSent { attempt: 2 }).unwrap();
    assert_eq!(o.state(), LifeState::PendingCancel);
    // A refusal that arrives before its request still pairs with it.
    let mut p = run(&[LifeEvent::Sent, ack()]);
    p.apply(&LifeEvent::CancelRefused { attempt: 1 }).unwrap();
    p.apply(&LifeEvent::CancelSent { attempt: 1 }).unwrap();
    assert_eq!(p.state(), LifeState::Accepted);
    // An unknown order with a cancel on the way stays unknown.
    let mut u = run(&[LifeEvent::Sent, LifeEvent::OutcomeUnknown]);
    u.apply(&LifeEvent::CancelSent { attempt: 1 }).unwrap();
    assert_eq!(u.state(), LifeState::Unknown);
    u.apply(&ack()).unwrap();
    assert_eq!(u.state(), LifeState::PendingCancel);
}

#[test]
fn reject_keeps_its_reason_and_loses_to_evidence_of_life() {
    let o = run(&[LifeEvent::Sent, reject()]);
    assert_eq!(o.reject_reason(), Some(RefusalReason::MarginInsufficient));
    assert_eq!(o.open_qty(), 0);
    let mut o = run(&[LifeEvent::Sent, reject()]);
    o.apply(&fill("a", 1)).unwrap();
    assert_eq!(o.reject_reason(), None);
    assert_eq!(o.anomalies().contradictions, 1);
    assert_eq!(o.open_qty(), QTY - 1);
}

// ---- property test ----------------------------------------------------

/// How a valid history ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Still working.
    Open,
    /// Fills reach the order's quantity.
    Full,
    /// Canceled after some fills (some reported after the cancel ack).
    Cancel,
    /// Expired after some fills.
    Expire,
    /// Refused.
    Reject,
}

#[derive(Debug, Clone)]
struct History {
    qty: i64,
    events: Vec<LifeEvent>,
}

fn history() -> impl Strategy<Value = History> {
    (
        1i64..=1_000,
        prop::collection::vec(1i64..=1_000, 0..8),
        0u8..5,
        any::<bool>(),
        any::<bool>(),
        0usize..4,
    )
        .prop_map(|(qty, parts, end, unknown, lite, late)| {
            let end = [End::Open, End::Full, End::Cancel, End::Expire, End::Reject][end as usize];
            let mut ev = vec![LifeEvent::Sent];
            if unknown {
                ev.push(LifeEvent::OutcomeUnknown);
            }
            if let End::Reject = end {
                ev.push(LifeEvent::Reject {
                    reason: RefusalReason::MinNotional,
                });
                return History { qty, events: ev };
            }
            if unknown {
                ev.push(LifeEvent::Query(QueryAnswer::NotFound));
                ev.push(found(VenueState::Live, 0));
            } else {
                ev.push(ack());
            }
            // Fill quantities: the parts scaled into the order's quantity;
            // `Full` fills all of it, the others strictly less.
            let total: i64 = parts.iter().sum();
            let cap = match end {
                End::Full => qty,
                _ => qty - 1,
            };
            let mut fills = Vec::new();
            let mut sum = 0;
            for (i, p) in parts.iter().enumerate() {
                let q = if total == 0 { 0 } else { p * cap / total };
                let q = q.min(cap - sum);
                if q > 0 {
                    sum += q;
                    fills.push((format!("t{i}"), q));
                }
            }
            if matches!(end, End::Full) && sum < qty {
                fills.push(("tlast".into(), qty - sum));
                sum = qty;
            }
            let mut fill_events = Vec::new();
            for (id, q) in &fills {
                if lite {
                    // A fee-less fast report of the same trade first.
                    fill_events.push(LifeEvent::Fill(Fill {
                        trade_id: id.clone(),
                        qty: *q,
                        px: 100 + q,
                        fee: None,
                    }));
                }
                fill_events.push(LifeEvent::Fill(Fill {
                    trade_id: id.clone(),
                    qty: *q,
                    px: 100 + q,
                    fee: Some(Fee {
                        amount: Money(q * 7 - 3),
                        asset: if q % 2 == 0 { "USDT" } else { "BNB" }.into(),
                    }),
                }));
            }
            // Some fills reported after the cancel / expiry (late fills).
            let late = late.min(fill_events.len());
            let tail = fill_events.split_off(fill_events.len() - late);
            ev.extend(fill_events);
            match end {
                End::Cancel => {
                    ev.push(LifeEvent::CancelSent { attempt: 1 });
                    ev.push(LifeEvent::CancelAck { cum_qty: Some(sum) });
                }
                End::Expire => ev.push(LifeEvent::Expire { cum_qty: Some(sum) }),
                _ => {}
            }
            ev.extend(tail);
            History { qty, events: ev }
        })
}

/// A history with some events duplicated, then shuffled.
fn scrambled() -> impl Strategy<Value = (History, Vec<LifeEvent>)> {
    history().prop_flat_map(|h| {
        let n = h.events.len();
        let dup = prop::collection::vec(0..n, 0..n * 2);
        (Just(h), dup).prop_flat_map(|(h, dup)| {
            let mut evs = h.events.clone();
            evs.extend(dup.iter().map(|&i| h.events[i].clone()));
            (Just(h), Just(evs).prop_shuffle())
        })
    })
}

fn summary(o: &VenueOrder) -> (LifeState, i64, BTreeMap<String, Money>, Vec<Fill>, i64) {
    (
        o.state(),
        o.filled(),
        o.fees(),
        o.fills().cloned().collect(),
        o.open_qty(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_order_and_duplication_converges((h, scrambled) in scrambled()) {
        let mut in_order = VenueOrder::new("c", h.qty);
        for e in &h.events {
            prop_assert!(in_order.apply(e).is_ok(), "in-order {:?}", e);
        }
        let mut o = VenueOrder::new("c", h.qty);
        let mut last_filled = 0;
        for e in &scrambled {
            let r = o.apply(e);
            prop_assert!(r.is_ok(), "{:?} refused: {:?}", e, r);
            prop_assert!(o.filled() >= last_filled, "filled went back");
            prop_assert!(o.filled() <= h.qty);
            last_filled = o.filled();
        }
        prop_assert_eq!(summary(&o), summary(&in_order));
        prop_assert_eq!(o.anomalies(), Anomalies::default());
        // Each fill applied once: the filled quantity is the sum of the
        // distinct trades of the history.
        let mut distinct = BTreeMap::new();
        for e in &h.events {
            if let LifeEvent::Fill(f) = e {
                distinct.insert(f.trade_id.clone(), f.qty);
            }
        }
        prop_assert_eq!(o.filled(), distinct.values().sum::<i64>());
        prop_assert_eq!(o.fills_without_fee(), 0);
    }
}

/// An order adopted at start, partly filled before: the earlier fills
/// count as received (no trades to fetch), later ones add up to its end.
#[test]
fn adopted_order_counts_its_earlier_fills_as_received() {
    let mut o = VenueOrder::adopted("a", QTY, 4, "42");
    assert_eq!(o.venue_order_id(), Some("42"));
    assert_eq!((o.filled(), o.missing_fill_qty(), o.open_qty()), (4, 0, 6));
    assert!(!o.state().is_terminal());
    o.apply(&fill("t9", 3)).unwrap();
    o.apply(&found(VenueState::Live, 7)).unwrap();
    assert_eq!((o.filled(), o.missing_fill_qty()), (7, 0));
    o.apply(&fill("t10", 3)).unwrap();
    assert_eq!(o.filled(), QTY);
    assert!(o.state().is_terminal(), "{:?}", o.state());
    // More than it has left is refused, never applied.
    let mut p = VenueOrder::adopted("b", QTY, 8, "43");
    assert!(p.apply(&fill("t11", 3)).is_err());
    assert_eq!(p.filled(), 8);
}
