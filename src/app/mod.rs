//! The composition root: the one module that knows every other. It builds
//! the instrument table and the model, creates the bounded queues and the
//! shared state, spawns the stage threads (feeds through `crate::venue`,
//! book, score, risk, exec), starts the publisher, the recorder, the journal
//! and the ops server, and stops them all in order. It names no venue:
//! venue wiring goes through `crate::venue`. See docs/layout.md.

pub mod engine;
pub mod fused;
pub mod interlock;
pub mod startup;

pub use engine::{Engine, EngineOptions, Injector};

#[cfg(test)]
mod drain_tests;
