//! Order execution: paper matcher, order state machine, positions (the exec stage).
//!
//! Owns the order lifecycle ([`order`]), the paper IOC matcher that fills
//! intents against the book their decision saw ([`paper`]), positions and
//! PnL ([`positions`]), and the exec stage thread ([`stage`]) that reports
//! fills back to risk and publishes the positions view.

pub mod order;
pub mod paper;
pub mod positions;
pub mod stage;

pub use order::{InvalidTransition, Order, OrderEvent};
pub use paper::{MatchResult, PaperFill, match_ioc};
pub use positions::{Position, Positions};
pub use stage::{Outbox, PaperExec, run_exec_stage};
