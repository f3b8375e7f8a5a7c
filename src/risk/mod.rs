//! The risk governor (the risk stage).
//!
//! Owns the pre-trade checks ([`governor`], split into its ordered checks,
//! day ledger, breaker control, audit and API view: kill switch, circuit breaker,
//! heartbeats, book freshness, long-only flat-sell rule, instrument rules,
//! price band, position/notional/gross exposure, open orders, order rate,
//! daily trade cap per UTC day and trading mode), the circuit breaker
//! ([`breaker`]), the auxiliary heartbeat store ([`heartbeat`]), the admin
//! API ([`api`], [`control`]), restart recovery from the journal
//! ([`recovery`]), its metrics ([`metrics`]), and the risk stage thread
//! ([`stage`]) that turns EXECUTE verdicts into [`crate::core::OrderIntent`]s
//! with a protective limit price.

pub mod api;
pub mod breaker;
pub mod control;
pub mod governor;
pub mod metrics;
pub mod price;
pub mod recovery;
pub mod stage;

pub use crate::pipeline::heartbeat::{self, Heartbeats};
pub use governor::Governor;
pub use stage::{build_intent, limit_price, run_risk_stage};
