//! Orders the journal had open at start that the venue did not list (the
//! startup reconciliation's *missing* ones: filled, canceled or expired
//! while the engine was down, or never placed). Each is tracked on the desk
//! and put on the unknown-outcome watch list, so the resolver queries it by
//! client id (paced) and its answer reaches the governor as the order's end:
//!
//! - found (FILLED / CANCELED / EXPIRED): the fills beyond the journaled
//!   ones happened before this start: the start applied them as fills
//!   (`app::startup`, from the venue's trades) or took them in the venue's
//!   position; they count as received here (never applied twice) and the
//!   order's end is reported;
//! - not found after the resolver's fast queries: never placed (the engine
//!   died between journaling it and sending it) or gone without a fill; it
//!   is reported canceled, with nothing filled beyond the journal.

use super::{Desk, Tracked};
use crate::core::{Money, OrderStatus};
use crate::exec::gateway::VenueReport;
use crate::exec::lifecycle::{LifeEvent, QueryAnswer, VenueOrder};
use crate::exec::reconcile::KnownOrder;
use crate::exec::unknown::Exposure;
use std::collections::HashSet;

impl Desk {
    /// Tracks a journal-open order the venue did not list and watches it
    /// (its query by client id comes from the resolver).
    pub fn recover(&mut self, k: &KnownOrder, now_ms: u64) {
        if self.orders.contains_key(&k.client_id) || k.qty <= k.filled {
            return;
        }
        let coid = crate::exec::client_id::parse(&k.client_id).map_or(0, |p| p.seq);
        self.orders.insert(
            k.client_id.clone(),
            Tracked {
                coid,
                inst: k.inst,
                side: k.side,
                order: VenueOrder::recovered(&k.client_id, k.qty, k.filled),
                reported: HashSet::new(),
                fee_wait_since: None,
                accepted_counted: true,
                done: false,
                // Its fills before this start are in the venue's position
                // the start took.
                since_ms: crate::core::clock::unix_ms(),
            },
        );
        self.recovered.insert(k.client_id.clone());
        self.resolver.watch(
            &k.client_id,
            Exposure {
                inst: k.inst,
                side: k.side,
                qty: k.qty - k.filled,
                // Its limit price is not journaled with the id; the
                // governor counts it as open meanwhile.
                notional: Money::ZERO,
            },
            now_ms,
        );
        self.publish_unresolved();
        self.retry_parked();
    }

    /// Whether `client_id` is a recovered order not yet settled.
    pub fn is_recovered(&self, client_id: &str) -> bool {
        self.recovered.contains(client_id)
    }

    /// Before events `evs` are applied (every path: resolver, gap fill,
    /// periodic reconciliation): for a recovered order, what the venue's
    /// first answer says filled happened before this start (see the module
    /// doc), so it counts as received.
    pub(super) fn before_query_answer(&mut self, client_id: &str, evs: &[LifeEvent]) {
        if self.recovered.is_empty() || !self.recovered.contains(client_id) {
            return;
        }
        let Some(t) = self.orders.get_mut(client_id) else {
            return;
        };
        for ev in evs {
            if let LifeEvent::Query(QueryAnswer::Found { cum_qty, .. }) = ev {
                self.recovered.remove(client_id);
                let before = t.order.filled();
                t.order.count_as_received(*cum_qty);
                let gained = t.order.filled() - before;
                tracing::info!(
                    client_id,
                    filled_while_down = gained,
                    "recovered order found at the venue; fills before this start are in the venue's position taken at start"
                );
            }
        }
    }

    /// After a not-found answer: a recovered order the venue still does
    /// not know after the fast queries is reported canceled (see the
    /// module doc). True when it was.
    pub fn after_not_found(&mut self, client_id: &str) -> bool {
        if !self.recovered.contains(client_id) || !self.resolver.is_lingering(client_id) {
            return false;
        }
        self.recovered.remove(client_id);
        self.resolver.give_up(client_id);
        self.publish_unresolved();
        let Some(t) = self.orders.get_mut(client_id) else {
            return false;
        };
        if t.done {
            return false;
        }
        t.done = true;
        let (coid, inst) = (t.coid, t.inst);
        self.m.order(OrderStatus::Canceled.as_str());
        tracing::warn!(
            client_id,
            "order open in the journal is unknown to the venue after repeated queries: never placed or gone unfilled; closed as canceled"
        );
        self.send(VenueReport::Done {
            client_order_id: coid,
            inst,
            status: OrderStatus::Canceled,
            reason: None,
        });
        true
    }
}
