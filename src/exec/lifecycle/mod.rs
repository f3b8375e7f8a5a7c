//! One order's lifecycle, the same for every venue (paper's simpler
//! machine stays in [`crate::exec::order`] until the order path is wired).
//!
//! States: `new → pending (sent) → accepted → partially filled → filled /
//! canceled / rejected / expired`, plus `pending cancel` and `unknown` (the
//! placement's outcome is not known: HTTP 5xx, timeout, reset).
//!
//! The order does not keep a state that events move; it keeps the **facts**
//! the events taught it (sent, acked, outcome unknown, cancel attempts sent
//! and refused, canceled, expired, rejected, the venue's cumulative filled
//! quantity, and the fills by venue trade id), and its state is a function
//! of those facts ([`VenueOrder::state`]). Every fact only grows (a flag is
//! set, a maximum rises, a set gains a member), so:
//!
//! * the same event twice changes nothing (idempotent);
//! * events in any order end in the same state (a fill before its ack, a
//!   cancel ack before the last fill: late fills are legal);
//! * a fill is applied once, keyed by the venue's trade id (a second copy
//!   may only add the commission the first lacked, e.g. `TRADE_LITE` then
//!   `ORDER_TRADE_UPDATE`);
//! * the filled quantity never decreases and never exceeds the order's
//!   quantity: a fill that would exceed it is an error, counted, not applied;
//! * terminal states are absorbing, except that fills still count (late
//!   fills), and that evidence the order lives (an ack, a fill, a query that
//!   finds it) outranks a reject (counted as a contradiction).
//!
//! The table of state × event → state is in `docs/order-path.md` and is
//! checked by `tests::transition_table`.

use crate::core::Money;
use crate::exec::refusal::RefusalReason;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[cfg(test)]
mod tests;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LifeState {
    /// Created, not sent.
    New,
    /// Sent, no answer yet.
    Pending,
    /// Sent, and the answer was lost (5xx, timeout, reset): it may exist.
    Unknown,
    /// The venue has it, nothing filled.
    Accepted,
    /// Some quantity filled, the rest working.
    PartiallyFilled,
    /// A cancel is on its way for a working order.
    PendingCancel,
    Filled,
    Canceled,
    Rejected,
    Expired,
}

impl LifeState {
    pub fn as_str(self) -> &'static str {
        match self {
            LifeState::New => "new",
            LifeState::Pending => "pending",
            LifeState::Unknown => "unknown",
            LifeState::Accepted => "accepted",
            LifeState::PartiallyFilled => "partially_filled",
            LifeState::PendingCancel => "pending_cancel",
            LifeState::Filled => "filled",
            LifeState::Canceled => "canceled",
            LifeState::Rejected => "rejected",
            LifeState::Expired => "expired",
        }
    }

    /// The order will not trade any more (late fills may still be reported).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            LifeState::Filled | LifeState::Canceled | LifeState::Rejected | LifeState::Expired
        )
    }
}

/// A fill's commission, in the asset the venue charged it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    /// Positive is paid, negative is a rebate.
    pub amount: Money,
    pub asset: String,
}

/// One execution, as the venue reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The venue's trade id (unique per instrument at the venue).
    pub trade_id: String,
    /// Quantity at the instrument's quantity scale (> 0).
    pub qty: i64,
    /// Price at the instrument's price scale (> 0).
    pub px: i64,
    /// `None` when the report carries no commission (Binance `TRADE_LITE`);
    /// a later report of the same trade may add it.
    pub fee: Option<Fee>,
}

/// What the venue said when asked about the order by client order id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAnswer {
    /// The venue has the order.
    Found {
        state: VenueState,
        /// The venue's cumulative filled quantity (quantity scale).
        cum_qty: i64,
        venue_order_id: Option<String>,
    },
    /// The venue does not know the id (yet, or any more).
    NotFound,
}

/// An order's state as a venue reports it in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueState {
    /// New or partially filled: working.
    Live,
    Filled,
    Canceled,
    Expired,
    Rejected,
}

/// What can happen to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifeEvent {
    /// The request left (written to the journal first, then to the socket).
    Sent,
    /// The venue took the order.
    Ack {
        venue_order_id: Option<String>,
    },
    /// The venue (or the local checks) refused the order.
    Reject {
        reason: RefusalReason,
    },
    Fill(Fill),
    /// A cancel request left; `attempt` tells repeated requests apart.
    CancelSent {
        attempt: u32,
    },
    /// The venue refused cancel `attempt` (e.g. the order had filled).
    CancelRefused {
        attempt: u32,
    },
    /// The remainder was canceled; `cum_qty` is the venue's filled
    /// quantity at that point when it says so.
    CancelAck {
        cum_qty: Option<i64>,
    },
    /// The remainder expired (IOC/FOK rest, GTD, self-trade prevention).
    Expire {
        cum_qty: Option<i64>,
    },
    /// The placement's answer was lost: 5xx, timeout, reset, `-1006/-1007`.
    OutcomeUnknown,
    /// The answer to a query by client order id.
    Query(QueryAnswer),
}

impl LifeEvent {
    pub fn as_str(&self) -> &'static str {
        match self {
            LifeEvent::Sent => "sent",
            LifeEvent::Ack { .. } => "ack",
            LifeEvent::Reject { .. } => "reject",
            LifeEvent::Fill(_) => "fill",
            LifeEvent::CancelSent { .. } => "cancel_sent",
            LifeEvent::CancelRefused { .. } => "cancel_refused",
            LifeEvent::CancelAck { .. } => "cancel_ack",
            LifeEvent::Expire { .. } => "expire",
            LifeEvent::OutcomeUnknown => "outcome_unknown",
            LifeEvent::Query(QueryAnswer::Found { .. }) => "query_found",
            LifeEvent::Query(QueryAnswer::NotFound) => "query_not_found",
        }
    }
}

/// An event the order refused (counted in [`Anomalies`], not applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifeError {
    /// A fill with zero/negative quantity or price.
    BadFill { trade_id: String, qty: i64, px: i64 },
    /// The fill would take the filled quantity past the order's.
    ExcessFill {
        trade_id: String,
        qty: i64,
        filled: i64,
        order_qty: i64,
    },
    /// A trade id seen before with a different quantity, price or fee.
    ConflictingFill { trade_id: String },
    /// The venue's cumulative quantity is negative or above the order's.
    BadCumQty { cum_qty: i64, order_qty: i64 },
    /// The venue says FILLED with less than the order's quantity.
    FilledShort { cum_qty: i64, order_qty: i64 },
    /// A reject for an order the venue already showed alive.
    RejectAfterLive { reason: RefusalReason },
}

impl fmt::Display for LifeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifeError::BadFill { trade_id, qty, px } => {
                write!(
                    f,
                    "fill {trade_id}: quantity {qty} / price {px} not positive"
                )
            }
            LifeError::ExcessFill {
                trade_id,
                qty,
                filled,
                order_qty,
            } => write!(
                f,
                "fill {trade_id} of {qty} would take filled {filled} past the order's {order_qty}"
            ),
            LifeError::ConflictingFill { trade_id } => {
                write!(
                    f,
                    "trade id {trade_id} reported twice with different values"
                )
            }
            LifeError::BadCumQty { cum_qty, order_qty } => {
                write!(f, "venue filled quantity {cum_qty} outside 0..={order_qty}")
            }
            LifeError::FilledShort { cum_qty, order_qty } => {
                write!(f, "venue says filled with {cum_qty} of {order_qty}")
            }
            LifeError::RejectAfterLive { reason } => {
                write!(f, "reject ({reason}) for an order the venue showed alive")
            }
        }
    }
}

impl std::error::Error for LifeError {}

/// Counts of refused or contradictory events on one order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// [`LifeError`]s returned (events not applied).
    pub refused: u32,
    /// Events applied to a terminal order that moved it to another state
    /// (a fill or an ack after a reject) or asserted another end (a cancel
    /// ack for a filled order): the venue's story does not add up.
    pub contradictions: u32,
}

/// Whether an event changed what the order knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// Already known (a duplicate, or implied by what is known).
    Unchanged,
}

/// One order at a venue and everything known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueOrder {
    client_id: String,
    qty: i64,
    sent: bool,
    acked: bool,
    unknown: bool,
    rejected: Option<RefusalReason>,
    canceled: bool,
    expired: bool,
    /// The venue said FILLED (query answer).
    venue_filled: bool,
    /// Highest cumulative filled quantity the venue stated.
    venue_cum: i64,
    venue_order_id: Option<String>,
    cancels_sent: BTreeSet<u32>,
    cancels_refused: BTreeSet<u32>,
    /// Fills by trade id.
    fills: BTreeMap<String, Fill>,
    /// Sum of the applied fills' quantities.
    filled: i64,
    anomalies: Anomalies,
}

impl VenueOrder {
    /// A new order of `qty` (quantity scale, > 0) under `client_id`.
    pub fn new(client_id: impl Into<String>, qty: i64) -> VenueOrder {
        VenueOrder {
            client_id: client_id.into(),
            qty,
            sent: false,
            acked: false,
            unknown: false,
            rejected: None,
            canceled: false,
            expired: false,
            venue_filled: false,
            venue_cum: 0,
            venue_order_id: None,
            cancels_sent: BTreeSet::new(),
            cancels_refused: BTreeSet::new(),
            fills: BTreeMap::new(),
            filled: 0,
            anomalies: Anomalies::default(),
        }
    }

    /// An order already working at the venue when the engine started
    /// (adopted by the startup reconciliation): sent and accepted, with
    /// `filled` (quantity scale) traded before this life. Those earlier
    /// fills are in the venue's position the start took, so they count as
    /// received: only later fills are applied.
    pub fn adopted(
        client_id: impl Into<String>,
        qty: i64,
        filled: i64,
        venue_order_id: impl Into<String>,
    ) -> VenueOrder {
        let mut o = VenueOrder::new(client_id, qty);
        o.sent = true;
        o.acked = true;
        o.venue_order_id = Some(venue_order_id.into());
        o.filled = filled.clamp(0, qty);
        o.venue_cum = o.filled;
        o
    }

    /// An order the journal had open at start that the venue did not list
    /// (filled, canceled or expired while the engine was down, or never
    /// placed): sent, its outcome unknown until a query answers, with
    /// `filled` (quantity scale) journaled before.
    pub fn recovered(client_id: impl Into<String>, qty: i64, filled: i64) -> VenueOrder {
        let mut o = VenueOrder::new(client_id, qty);
        o.sent = true;
        o.unknown = true;
        o.filled = filled.clamp(0, qty);
        o.venue_cum = o.filled;
        o
    }

    /// Fills up to `cum_qty` happened before this life: they are in the
    /// venue's position the start took, so they count as received (as
    /// for [`VenueOrder::adopted`]) and are not applied again.
    pub fn count_as_received(&mut self, cum_qty: i64) {
        self.filled = self.filled.max(cum_qty.clamp(0, self.qty));
        self.venue_cum = self.venue_cum.max(self.filled);
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn qty(&self) -> i64 {
        self.qty
    }

    /// Quantity filled by the fills applied (by trade id).
    pub fn filled(&self) -> i64 {
        self.filled
    }

    /// Quantity the venue says is filled beyond the fills received: trades
    /// to fetch (e.g. `userTrades`) before positions are complete.
    pub fn missing_fill_qty(&self) -> i64 {
        (self.venue_cum - self.filled).max(0)
    }

    /// Quantity that may still fill: 0 once terminal, else the order's
    /// quantity less what is known filled.
    pub fn open_qty(&self) -> i64 {
        if self.state().is_terminal() {
            0
        } else {
            self.qty - self.filled.max(self.venue_cum)
        }
    }

    pub fn venue_order_id(&self) -> Option<&str> {
        self.venue_order_id.as_deref()
    }

    pub fn reject_reason(&self) -> Option<RefusalReason> {
        self.rejected.filter(|_| !self.alive())
    }

    /// The fills applied, ordered by trade id.
    pub fn fills(&self) -> impl Iterator<Item = &Fill> {
        self.fills.values()
    }

    /// Commissions of the applied fills, per asset (fills whose commission
    /// is not known yet count nothing).
    pub fn fees(&self) -> BTreeMap<String, Money> {
        let mut out: BTreeMap<String, Money> = BTreeMap::new();
        for f in self.fills.values() {
            if let Some(fee) = &f.fee {
                *out.entry(fee.asset.clone()).or_default() += fee.amount;
            }
        }
        out
    }

    /// Fills whose commission has not been reported yet.
    pub fn fills_without_fee(&self) -> usize {
        self.fills.values().filter(|f| f.fee.is_none()).count()
    }

    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// The venue showed the order exists (or existed).
    fn alive(&self) -> bool {
        self.acked || self.filled > 0 || self.venue_cum > 0 || self.venue_filled
    }

    fn cancel_outstanding(&self) -> bool {
        self.cancels_sent
            .iter()
            .any(|a| !self.cancels_refused.contains(a))
    }

    /// The state the known facts imply.
    pub fn state(&self) -> LifeState {
        let alive = self.alive();
        let cum = self.filled.max(self.venue_cum);
        if cum >= self.qty || self.venue_filled {
            LifeState::Filled
        } else if self.canceled {
            LifeState::Canceled
        } else if self.expired {
            LifeState::Expired
        } else if self.rejected.is_some() && !alive {
            LifeState::Rejected
        } else if alive && self.cancel_outstanding() {
            LifeState::PendingCancel
        } else if cum > 0 {
            LifeState::PartiallyFilled
        } else if alive {
            LifeState::Accepted
        } else if self.unknown {
            LifeState::Unknown
        } else if self.sent {
            LifeState::Pending
        } else {
            LifeState::New
        }
    }

    /// Applies one event. On `Err` nothing changed except the anomaly count.
    pub fn apply(&mut self, ev: &LifeEvent) -> Result<Applied, LifeError> {
        let r = self.apply_inner(ev);
        if r.is_err() {
            self.anomalies.refused = self.anomalies.refused.saturating_add(1);
        }
        r
    }

    fn apply_inner(&mut self, ev: &LifeEvent) -> Result<Applied, LifeError> {
        let before = self.state();
        let was_alive = self.alive();
        let changed = match ev {
            LifeEvent::Sent => set(&mut self.sent),
            LifeEvent::OutcomeUnknown => set(&mut self.sent) | set(&mut self.unknown),
            LifeEvent::Ack { venue_order_id } => {
                self.set_venue_id(venue_order_id) | set(&mut self.acked)
            }
            LifeEvent::Reject { reason } => {
                if was_alive {
                    return Err(LifeError::RejectAfterLive { reason: *reason });
                }
                if self.rejected.is_none() {
                    self.rejected = Some(*reason);
                    true
                } else {
                    false
                }
            }
            LifeEvent::Fill(f) => self.add_fill(f)?,
            LifeEvent::CancelSent { attempt } => self.cancels_sent.insert(*attempt),
            LifeEvent::CancelRefused { attempt } => self.cancels_refused.insert(*attempt),
            LifeEvent::CancelAck { cum_qty } => {
                self.check_cum(*cum_qty)?;
                // A cancel ack also proves the order was accepted.
                self.raise_cum(*cum_qty) | set(&mut self.acked) | set(&mut self.canceled)
            }
            LifeEvent::Expire { cum_qty } => {
                self.check_cum(*cum_qty)?;
                self.raise_cum(*cum_qty) | set(&mut self.acked) | set(&mut self.expired)
            }
            LifeEvent::Query(QueryAnswer::NotFound) => false,
            LifeEvent::Query(QueryAnswer::Found {
                state,
                cum_qty,
                venue_order_id,
            }) => {
                self.check_cum(Some(*cum_qty))?;
                match state {
                    VenueState::Rejected => {
                        return self.apply_inner(&LifeEvent::Reject {
                            reason: RefusalReason::VenueRejected,
                        });
                    }
                    VenueState::Filled if *cum_qty < self.qty => {
                        return Err(LifeError::FilledShort {
                            cum_qty: *cum_qty,
                            order_qty: self.qty,
                        });
                    }
                    _ => {}
                }
                let mut c = self.set_venue_id(venue_order_id)
                    | self.raise_cum(Some(*cum_qty))
                    | set(&mut self.acked);
                c |= match state {
                    VenueState::Live | VenueState::Rejected => false,
                    VenueState::Filled => set(&mut self.venue_filled),
                    VenueState::Canceled => set(&mut self.canceled),
                    VenueState::Expired => set(&mut self.expired),
                };
                c
            }
        };
        let after = self.state();
        if before.is_terminal()
            && (after != before || asserted_end(ev).is_some_and(|s| s != before))
        {
            self.anomalies.contradictions = self.anomalies.contradictions.saturating_add(1);
        }
        Ok(if changed {
            Applied::Changed
        } else {
            Applied::Unchanged
        })
    }

    fn set_venue_id(&mut self, id: &Option<String>) -> bool {
        match (&self.venue_order_id, id) {
            (None, Some(v)) => {
                self.venue_order_id = Some(v.clone());
                true
            }
            _ => false,
        }
    }

    fn check_cum(&self, cum: Option<i64>) -> Result<(), LifeError> {
        match cum {
            Some(c) if c < 0 || c > self.qty => Err(LifeError::BadCumQty {
                cum_qty: c,
                order_qty: self.qty,
            }),
            _ => Ok(()),
        }
    }

    fn raise_cum(&mut self, cum: Option<i64>) -> bool {
        match cum {
            Some(c) if c > self.venue_cum => {
                self.venue_cum = c;
                true
            }
            _ => false,
        }
    }

    fn add_fill(&mut self, f: &Fill) -> Result<bool, LifeError> {
        if f.qty <= 0 || f.px <= 0 {
            return Err(LifeError::BadFill {
                trade_id: f.trade_id.clone(),
                qty: f.qty,
                px: f.px,
            });
        }
        if let Some(known) = self.fills.get_mut(&f.trade_id) {
            if known.qty != f.qty || known.px != f.px {
                return Err(LifeError::ConflictingFill {
                    trade_id: f.trade_id.clone(),
                });
            }
            return match (&known.fee, &f.fee) {
                (None, Some(fee)) => {
                    known.fee = Some(fee.clone());
                    Ok(true)
                }
                (Some(a), Some(b)) if a != b => Err(LifeError::ConflictingFill {
                    trade_id: f.trade_id.clone(),
                }),
                _ => Ok(false),
            };
        }
        if f.qty > self.qty - self.filled {
            return Err(LifeError::ExcessFill {
                trade_id: f.trade_id.clone(),
                qty: f.qty,
                filled: self.filled,
                order_qty: self.qty,
            });
        }
        self.filled += f.qty;
        self.fills.insert(f.trade_id.clone(), f.clone());
        Ok(true)
    }
}

/// The terminal state an event asserts, if any.
fn asserted_end(ev: &LifeEvent) -> Option<LifeState> {
    match ev {
        LifeEvent::Reject { .. } => Some(LifeState::Rejected),
        LifeEvent::CancelAck { .. } => Some(LifeState::Canceled),
        LifeEvent::Expire { .. } => Some(LifeState::Expired),
        LifeEvent::Query(QueryAnswer::Found { state, .. }) => match state {
            VenueState::Live => None,
            VenueState::Filled => Some(LifeState::Filled),
            VenueState::Canceled => Some(LifeState::Canceled),
            VenueState::Expired => Some(LifeState::Expired),
            VenueState::Rejected => Some(LifeState::Rejected),
        },
        _ => None,
    }
}

/// Sets a flag; true if it was not set.
fn set(flag: &mut bool) -> bool {
    !std::mem::replace(flag, true)
}
