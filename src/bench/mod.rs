//! The `bench` command: replays the real Binance capture (or generated
//! frames) through the whole pipeline, frame bytes in at the feed stage and
//! order ready out of the exec stage, and reports saturation throughput and,
//! at a fixed rate, tick-to-order and per-stage latency percentiles plus CPU
//! time per message, as JSON. Inputs shared with the criterion benches and
//! the callgrind replay live in [`samples`].

pub mod e2e;
pub mod e2e_testnet;
pub mod hotpath;
pub mod report;
pub mod samples;

pub use e2e::{BenchArgs, run};
