//! The order state machine:
//!
//! ```text
//! New ──Accept──▶ Accepted ──Fill──▶ PartiallyFilled ──Fill──▶ … ──▶ Filled
//!  │                 │  └──────────────Fill (all)──────────────────▶ Filled
//!  └─Reject─▶ Rejected └─Cancel─▶ Canceled ◀─Cancel─ PartiallyFilled
//! ```
//!
//! Every transition is validated: an event that does not apply to the
//! current state (or a fill beyond the order quantity) is an
//! [`InvalidTransition`] and leaves the order unchanged.

use crate::core::{InstrumentId, OrderIntent, OrderStatus, Side};
use std::fmt;

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The venue (or the paper matcher) took the order.
    Accept,
    /// The order was refused before it could trade.
    Reject,
    /// Part or all of the remaining quantity traded (scaled qty).
    Fill { qty: i64 },
    /// The remainder was canceled (an IOC's unfilled part, or a cancel).
    Cancel,
}

impl OrderEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderEvent::Accept => "accept",
            OrderEvent::Reject => "reject",
            OrderEvent::Fill { .. } => "fill",
            OrderEvent::Cancel => "cancel",
        }
    }
}

/// An event that does not apply to the order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: OrderStatus,
    pub event: OrderEvent,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            OrderEvent::Fill { qty } => write!(
                f,
                "invalid order transition: fill of {qty} in state {}",
                self.from.as_str()
            ),
            e => write!(
                f,
                "invalid order transition: {} in state {}",
                e.as_str(),
                self.from.as_str()
            ),
        }
    }
}

impl std::error::Error for InvalidTransition {}

/// One order and its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub client_order_id: u64,
    pub inst: InstrumentId,
    pub side: Side,
    /// Ordered quantity (scaled).
    pub qty: i64,
    pub limit_px: i64,
    /// Filled so far (scaled).
    pub filled: i64,
    pub status: OrderStatus,
}

impl Order {
    pub fn new(
        client_order_id: u64,
        inst: InstrumentId,
        side: Side,
        qty: i64,
        limit_px: i64,
    ) -> Self {
        Order {
            client_order_id,
            inst,
            side,
            qty,
            limit_px,
            filled: 0,
            status: OrderStatus::New,
        }
    }

    /// A new order from a risk intent.
    pub fn from_intent(o: &OrderIntent) -> Self {
        Self::new(
            o.client_order_id,
            o.decision.inst,
            o.side,
            o.qty,
            o.limit_px,
        )
    }

    pub fn remaining(&self) -> i64 {
        self.qty - self.filled
    }

    /// Applies one event, or refuses it without changing the order.
    pub fn apply(&mut self, ev: OrderEvent) -> Result<(), InvalidTransition> {
        use OrderStatus as S;
        let err = InvalidTransition {
            from: self.status,
            event: ev,
        };
        let next = match (self.status, ev) {
            (S::New, OrderEvent::Accept) => S::Accepted,
            (S::New, OrderEvent::Reject) => S::Rejected,
            (S::Accepted | S::PartiallyFilled, OrderEvent::Fill { qty }) => {
                if qty <= 0 || qty > self.remaining() {
                    return Err(err);
                }
                self.filled += qty;
                if self.filled == self.qty {
                    S::Filled
                } else {
                    S::PartiallyFilled
                }
            }
            (S::Accepted | S::PartiallyFilled, OrderEvent::Cancel) => S::Canceled,
            _ => return Err(err),
        };
        self.status = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(qty: i64) -> Order {
        Order::new(1, InstrumentId(0), Side::Buy, qty, 100)
    }

    #[test]
    fn happy_paths() {
        let mut o = order(10);
        o.apply(OrderEvent::Accept).unwrap();
        o.apply(OrderEvent::Fill { qty: 4 }).unwrap();
        assert_eq!(o.status, OrderStatus::PartiallyFilled);
        o.apply(OrderEvent::Fill { qty: 3 }).unwrap();
        assert_eq!((o.status, o.remaining()), (OrderStatus::PartiallyFilled, 3));
        o.apply(OrderEvent::Fill { qty: 3 }).unwrap();
        assert_eq!(o.status, OrderStatus::Filled);

        let mut o = order(10);
        o.apply(OrderEvent::Accept).unwrap();
        o.apply(OrderEvent::Fill { qty: 2 }).unwrap();
        o.apply(OrderEvent::Cancel).unwrap();
        assert_eq!((o.status, o.filled), (OrderStatus::Canceled, 2));

        let mut o = order(10);
        o.apply(OrderEvent::Accept).unwrap();
        o.apply(OrderEvent::Cancel).unwrap();
        assert_eq!(o.status, OrderStatus::Canceled);

        let mut o = order(10);
        o.apply(OrderEvent::Reject).unwrap();
        assert_eq!(o.status, OrderStatus::Rejected);
    }

    #[test]
    fn illegal_transitions_are_rejected() {
        let mut o = order(10);
        let e = o.apply(OrderEvent::Fill { qty: 1 }).unwrap_err();
        assert_eq!(e.from, OrderStatus::New);
        assert_eq!(o, order(10)); // unchanged
        assert!(o.apply(OrderEvent::Cancel).is_err());
        o.apply(OrderEvent::Accept).unwrap();
        assert!(o.apply(OrderEvent::Accept).is_err());
        assert!(o.apply(OrderEvent::Reject).is_err());
        assert!(o.apply(OrderEvent::Fill { qty: 0 }).is_err());
        assert!(o.apply(OrderEvent::Fill { qty: -1 }).is_err());
        let e = o.apply(OrderEvent::Fill { qty: 11 }).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid order transition: fill of 11 in state accepted"
        );
        assert_eq!(o.filled, 0);
        o.apply(OrderEvent::Fill { qty: 10 }).unwrap();
        for ev in [
            OrderEvent::Accept,
            OrderEvent::Reject,
            OrderEvent::Fill { qty: 1 },
            OrderEvent::Cancel,
        ] {
            let e = o.apply(ev).unwrap_err();
            assert_eq!(e.from, OrderStatus::Filled);
        }
        let mut o = order(10);
        o.apply(OrderEvent::Reject).unwrap();
        assert!(o.apply(OrderEvent::Accept).is_err());
        let mut o = order(10);
        o.apply(OrderEvent::Accept).unwrap();
        o.apply(OrderEvent::Cancel).unwrap();
        assert!(o.apply(OrderEvent::Fill { qty: 1 }).is_err());
        assert!(o.apply(OrderEvent::Cancel).is_err());
    }
}
