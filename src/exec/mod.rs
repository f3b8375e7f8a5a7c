//! Order execution: paper matcher, order state machine, positions (the exec stage).
//!
//! Owns the order lifecycle ([`order`]), the paper IOC matcher that fills
//! intents against the book their decision saw ([`paper`]), positions and
//! PnL ([`positions`]), the order gateway ([`gateway`]: paper, or the
//! hand-off to a venue session) and the exec stage thread ([`stage`]) that
//! reports fills back to risk and publishes the positions view. The venue
//! order path's venue-agnostic parts (see `docs/order-path.md`):
//! the order lifecycle for every venue ([`lifecycle`]), client order ids
//! ([`client_id`]), refusal reasons ([`refusal`]) and the unknown-outcome
//! resolver ([`unknown`]).

pub mod client_id;
pub mod gateway;
pub mod lifecycle;
pub mod missed_fills;
pub mod order;
pub mod paper;
pub mod positions;
pub mod reconcile;
pub mod refusal;
pub mod stage;
pub mod unknown;

pub use gateway::{ExecPorts, Gateway, SessionPorts, VenueReport};
pub use order::{InvalidTransition, Order, OrderEvent};
pub use paper::{MatchResult, PaperFill, match_ioc};
pub use positions::{Position, Positions};
pub use stage::{Outbox, PaperExec, run_exec_stage, run_exec_stage_with};
