//! Read-only views of the desk: its working orders (for the periodic
//! reconciliation's comparison and for `/api/orders`).

use super::Desk;
use crate::core::{InstrumentId, Side};
use crate::exec::lifecycle::LifeState;

/// One order on the desk, as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskOrder {
    pub client_id: String,
    /// The engine's client order id (0: placed by hand, adopted).
    pub coid: u64,
    pub inst: InstrumentId,
    pub side: Side,
    pub qty: i64,
    /// Quantity of the fills received (or counted as received).
    pub filled: i64,
    pub state: LifeState,
    pub venue_order_id: Option<String>,
    /// On the unknown-outcome watch list.
    pub unresolved: bool,
}

impl Desk {
    /// Every order not yet done (its end not reported to exec).
    pub fn open_orders(&self) -> Vec<DeskOrder> {
        let mut v: Vec<DeskOrder> = self
            .orders
            .iter()
            .filter(|(_, t)| !t.done)
            .map(|(k, t)| DeskOrder {
                client_id: k.clone(),
                coid: t.coid,
                inst: t.inst,
                side: t.side,
                qty: t.order.qty(),
                filled: t.order.filled(),
                state: t.order.state(),
                venue_order_id: t.order.venue_order_id().map(str::to_string),
                unresolved: self.resolver.is_watched(k),
            })
            .collect();
        v.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        v
    }

    /// Whether `client_id` is known and its end not yet reported.
    pub fn is_open(&self, client_id: &str) -> bool {
        self.orders.get(client_id).is_some_and(|t| !t.done)
    }
}
