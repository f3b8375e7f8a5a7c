//! Reconciliation properties (proptest) and pinned cases: every open venue
//! order lands in exactly one list, nothing is duplicated, journal orders
//! the venue lacks are kept for a query, positions take the venue's value,
//! discrepancies are counted once each, and a second comparison after
//! applying the first finds nothing.

use super::*;
use crate::exec::client_id::ClientIdGen;
use proptest::prelude::*;
use std::collections::HashSet;

const N: usize = 3;

fn vorder(id: &str, inst: u16, qty: i64, filled: i64) -> VenueOrder {
    VenueOrder {
        client_id: id.into(),
        venue_order_id: format!("v-{id}"),
        inst: InstrumentId(inst),
        symbol: format!("S{inst}"),
        side: if qty % 2 == 0 { Side::Buy } else { Side::Sell },
        qty,
        filled,
        price: 100,
        reduce_only: false,
    }
}

fn ids(prefix: &str, n: u64) -> Vec<String> {
    let g = ClientIdGen::start(prefix, 1_700_000_000_000, None).unwrap();
    (1..=n).map(|s| g.id(s).unwrap().to_string()).collect()
}

#[test]
fn restart_with_an_open_order_and_a_position_adopts_them() {
    let ours = ids("qt", 2);
    let theirs = ids("other", 1);
    let venue = VenueSnapshot {
        open_orders: vec![
            vorder(&ours[0], 0, 10, 0),
            vorder(&ours[1], 1, 4, 1),
            vorder("web_by_hand", 2, 6, 0),
            vorder(&theirs[0], 0, 2, 0),
        ],
        positions: vec![VenuePosition {
            inst: InstrumentId(0),
            symbol: "S0".into(),
            qty: -7,
            entry_price: "1".into(),
        }],
        ..Default::default()
    };
    let journal = JournalBook {
        open_orders: vec![KnownOrder {
            client_id: ours[1].clone(),
            inst: InstrumentId(1),
            side: Side::Buy,
            qty: 4,
            filled: 0,
        }],
        positions: vec![0, 3, 0],
    };
    let r = reconcile(&journal, &venue, AdoptPolicy::Adopt, "qt", N);
    assert_eq!(r.matched.len(), 1);
    assert_eq!(
        r.adopted.len(),
        2,
        "ours unknown to the journal and the hand-made one"
    );
    assert_eq!(r.foreign.len(), 1, "another engine's order is left alone");
    assert!(r.to_cancel.is_empty() && r.missing.is_empty());
    assert_eq!(r.positions, vec![-7, 0, 0]);
    let c = r.counts();
    assert_eq!(c[&Kind::OrderAdopted], 2);
    assert_eq!(c[&Kind::Fill], 1);
    assert_eq!(c[&Kind::Position], 2);
    let r2 = reconcile(&applied(&r), &venue, AdoptPolicy::Adopt, "qt", N);
    assert!(r2.discrepancies.is_empty(), "{:?}", r2.discrepancies);
    assert_eq!(r2.matched.len(), 3);

    let r = reconcile(&journal, &venue, AdoptPolicy::Cancel, "qt", N);
    assert_eq!(r.to_cancel.len(), 2);
    assert!(r.adopted.is_empty());
}

#[test]
fn schedule_is_due_every_interval_and_never_when_off() {
    let mut s = Schedule::new(60, 1_000);
    assert!(!s.due(60_999));
    assert!(s.due(61_000));
    assert!(!s.due(61_001));
    assert_eq!(s.wait_ms(61_000), Some(60_000));
    // Late: the next one is an interval after now, not back to back.
    assert!(s.due(500_000));
    assert!(!s.due(500_001));
    let mut off = Schedule::new(0, 0);
    assert!(!off.due(u64::MAX));
    assert_eq!(off.wait_ms(0), None);
}

fn cases() -> u32 {
    std::env::var("QT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// (id index into a small pool, inst, qty, filled) — a shared pool makes
/// venue and journal overlap.
fn order_spec() -> impl Strategy<Value = (usize, u16, i64, i64)> {
    (0usize..12, 0u16..N as u16, 1i64..20, 0i64..20)
        .prop_map(|(i, inst, q, f)| (i, inst, q, f.min(q)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn nothing_duplicated_nothing_dropped(
        venue_orders in prop::collection::vec(order_spec(), 0..10),
        journal_orders in prop::collection::vec(order_spec(), 0..10),
        venue_pos in prop::collection::vec(-50i64..50, N),
        journal_pos in prop::collection::vec(-50i64..50, 0..=N),
        cancel in any::<bool>(),
    ) {
        // Pool: ours, another engine's, hand-made.
        let mut pool = ids("qt", 6);
        pool.extend(ids("zz", 3));
        pool.extend(["hand1", "hand2", "hand3"].map(String::from));
        let venue = VenueSnapshot {
            open_orders: venue_orders.iter().map(|(i, inst, q, f)| vorder(&pool[*i], *inst, *q, *f)).collect(),
            positions: venue_pos.iter().enumerate().filter(|(_, q)| **q != 0).map(|(i, q)| VenuePosition {
                inst: InstrumentId(i as u16), symbol: format!("S{i}"), qty: *q, entry_price: "1".into(),
            }).collect(),
            ..Default::default()
        };
        let mut jseen = HashSet::new();
        let journal = JournalBook {
            open_orders: journal_orders.iter()
                .filter(|(i, ..)| jseen.insert(*i))
                .map(|(i, inst, q, f)| KnownOrder {
                    client_id: pool[*i].clone(), inst: InstrumentId(*inst), side: Side::Buy, qty: *q, filled: *f,
                }).collect(),
            positions: journal_pos.clone(),
        };
        let policy = if cancel { AdoptPolicy::Cancel } else { AdoptPolicy::Adopt };
        let r = reconcile(&journal, &venue, policy, "qt", N);

        // Each distinct venue order exactly once across the lists.
        let venue_ids: HashSet<&str> = venue.open_orders.iter().map(|o| o.client_id.as_str()).collect();
        let mut out: Vec<&str> = r.matched.iter().chain(&r.adopted).chain(&r.to_cancel).chain(&r.foreign)
            .map(|o| o.client_id.as_str()).collect();
        let n = out.len();
        out.sort();
        out.dedup();
        prop_assert_eq!(n, out.len(), "an order listed twice");
        prop_assert_eq!(out.into_iter().collect::<HashSet<_>>(), venue_ids.clone());
        // Foreign = another prefix of our scheme; never adopted or canceled.
        for o in &r.foreign {
            prop_assert!(o.client_id.starts_with("zz"));
        }
        for o in r.adopted.iter().chain(&r.to_cancel) {
            prop_assert!(!o.client_id.starts_with("zz"));
            prop_assert!(!journal.open_orders.iter().any(|k| k.client_id == o.client_id));
        }
        if cancel { prop_assert!(r.adopted.is_empty()) } else { prop_assert!(r.to_cancel.is_empty()) }
        // Journal orders: matched or missing, never both, never dropped.
        for k in &journal.open_orders {
            let m = r.matched.iter().any(|o| o.client_id == k.client_id);
            let x = r.missing.iter().any(|o| o.client_id == k.client_id);
            prop_assert!(m ^ x);
            prop_assert_eq!(m, venue_ids.contains(k.client_id.as_str()));
        }
        // Positions: the venue's.
        prop_assert_eq!(&r.positions, &venue_pos);
        let diffs = (0..N).filter(|i| journal_pos.get(*i).copied().unwrap_or(0) != venue_pos[*i]).count();
        let c = r.counts();
        prop_assert_eq!(c.get(&Kind::Position).copied().unwrap_or(0) as usize, diffs);
        prop_assert_eq!(r.position_fixes.len(), diffs);
        prop_assert_eq!(
            c.get(&Kind::OrderAdopted).copied().unwrap_or(0) + c.get(&Kind::OrderCanceled).copied().unwrap_or(0),
            (r.adopted.len() + r.to_cancel.len()) as u64
        );
        prop_assert_eq!(c.get(&Kind::OrderMissing).copied().unwrap_or(0), r.missing.len() as u64);
        // Applied, then compared again with the same venue: nothing left
        // but the orders still to query (and, by policy, to cancel).
        if !cancel {
            let r2 = reconcile(&applied(&r), &venue, policy, "qt", N);
            prop_assert!(r2.adopted.is_empty());
            prop_assert!(r2.position_fixes.is_empty());
            prop_assert_eq!(r2.missing.len(), r.missing.len());
            prop_assert!(r2.discrepancies.iter().all(|d| d.kind == Kind::OrderMissing));
        }
    }
}
