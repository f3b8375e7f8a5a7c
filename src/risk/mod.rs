//! The risk governor (the risk stage).
//!
//! Owns the pre-trade checks ([`governor`]: kill switch, book freshness,
//! long-only flat-sell rule, position, notional, order rate, daily trade cap
//! per UTC day and trading mode), the positions risk believes in (from exec
//! reports), and the risk stage thread ([`stage`]) that turns EXECUTE
//! verdicts into [`crate::core::OrderIntent`]s with a protective limit price.

pub mod governor;
pub mod stage;

pub use governor::Governor;
pub use stage::{build_intent, limit_price, run_risk_stage};
