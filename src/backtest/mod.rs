//! Backtests and training data from a recording (`crate::capture`): the
//! recorded frames go through the same venue protocol code and the same
//! stage logic as a live run (`driver`), on one thread, in recorded-time
//! order, with a replay clock, the risk governor (and its journal), the
//! paper matcher and a latency model (`latency`); `report` turns the result
//! into JSON and a self-contained HTML page; `features` exports feature
//! vectors with forward returns; `cli` holds the two commands.

pub mod cli;
pub mod driver;
pub mod features;
pub mod latency;
pub mod ledger;
pub mod parquet_sink;
pub mod report;

pub use driver::{NoObserver, Observer, Replay, ReplayOptions, ReplayStats, Speed, replay_config};
pub use report::{Ledger, Report};
