//! The order gateway: where an order leaves the exec stage. In paper mode
//! the exec thread matches it itself (`paper`); in venue mode (`testnet`,
//! `live`) the exec thread only hands the intent to the venue's trading
//! session through a bounded single-producer ring ([`EXEC_TO_SESSION`], a
//! lock-free push, `qt_queue_*` metrics like every queue) and reads the
//! session's reports back through another ([`SESSION_TO_EXEC`]). Signing,
//! sending, the private stream and reconciliation all run on the session's
//! threads, never on the book/score/risk/exec threads.
//!
//! A [`VenueReport`] is what the venue said in engine units: a fill (with
//! the venue's commission and the asset it was charged in) or the end of an order (with
//! the refusal reason when rejected). The exec stage turns them into the
//! same `ExecReport`s paper fills make, so positions, PnL, fees and the risk
//! governor work the same way in every mode.

use crate::config::WaitKind;
use crate::core::{FeeAsset, InstrumentId, Money, OrderIntent, OrderStatus, Side};
use crate::exec::refusal::RefusalReason;
use crate::pipeline::channel::{RingTx, Rx, spsc};
use crate::telemetry::metrics::Metrics;
use std::time::Duration;

/// The queue label of the exec-to-session hand-off.
pub const EXEC_TO_SESSION: &str = "exec_to_session";
/// The queue label of the session's reports back to exec.
pub const SESSION_TO_EXEC: &str = "session_to_exec";
/// How long exec takes the session's reports at shutdown by default (after
/// it closed the hand-off); a session with more stop work (cancel on stop,
/// flatten on stop) says how long in [`RunningSession::stop_budget`]
/// (`crate::venue::adapter`), and the engine sets [`ExecPorts::drain`].
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// The highest sequence number of a life's client order ids
/// (`exec::client_id`: 8 base-36 digits). Orders the session makes itself
/// at stop (flatten on stop) take their numbers downward from here, so they
/// never meet the engine's own, which count up from 1, and are told apart
/// in the journal by their number alone ([`is_stop_order`]).
pub const STOP_ORDER_SEQ_TOP: u64 = 36u64.pow(crate::exec::client_id::SEQ_DIGITS as u32) - 1;

/// Sequence numbers reserved for stop orders (far more than any stop sends).
const STOP_ORDER_SEQS: u64 = 1_000_000;

/// Whether a client order id number is one of a session's stop orders.
pub fn is_stop_order(client_order_id: u64) -> bool {
    client_order_id > STOP_ORDER_SEQ_TOP - STOP_ORDER_SEQS && client_order_id <= STOP_ORDER_SEQ_TOP
}

/// What the venue session reports about one of the engine's orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VenueReport {
    /// One execution, applied once per venue trade id.
    Fill {
        client_order_id: u64,
        inst: InstrumentId,
        side: Side,
        px: i64,
        qty: i64,
        /// The venue's commission, exact, in `fee_asset`.
        fee: Money,
        /// The instrument's quote asset, or the other asset the venue
        /// charged it in (`BNB`).
        fee_asset: FeeAsset,
    },
    /// The order will not trade any more (filled, canceled / expired
    /// remainder, rejected). `reason` is set for rejections.
    Done {
        client_order_id: u64,
        inst: InstrumentId,
        status: OrderStatus,
        reason: Option<RefusalReason>,
    },
}

/// The exec thread's ends.
pub struct ExecPorts {
    pub orders: RingTx<OrderIntent>,
    pub reports: Rx<VenueReport>,
    /// How long exec keeps taking reports after it closed the hand-off
    /// (the session's stop work: cancels, flatten), unless the session
    /// closes first.
    pub drain: Duration,
}

/// The session's ends.
pub struct SessionPorts {
    pub orders: Rx<OrderIntent>,
    pub reports: RingTx<VenueReport>,
}

/// The two bounded rings between the exec stage and a venue session.
pub fn ports(capacity: usize, wait: WaitKind, m: &Metrics) -> (ExecPorts, SessionPorts) {
    let (otx, orx) = spsc(EXEC_TO_SESSION, capacity, wait, m);
    // The exec thread polls reports between intents; it never parks on them.
    let (rtx, rrx) = spsc(SESSION_TO_EXEC, capacity, WaitKind::Park, m);
    (
        ExecPorts {
            orders: otx,
            reports: rrx,
            drain: DEFAULT_DRAIN,
        },
        SessionPorts {
            orders: orx,
            reports: rtx,
        },
    )
}

/// Where the exec stage sends orders.
pub enum Gateway {
    /// The paper matcher, on the exec thread.
    Paper,
    /// A venue session on its own threads.
    Venue(ExecPorts),
}
