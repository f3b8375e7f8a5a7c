//! quantum-trader: a low-latency crypto trading engine. One binary streams
//! market data from the venues, keeps exact L2 books, scores every change with
//! a decision model, passes decisions through a risk governor and executes
//! them (paper by default), on dedicated threads joined by bounded lock-free
//! queues. See README.md for the architecture.

pub mod app;
pub mod backtest;
pub mod bench;
pub mod book;
pub mod capture;
pub mod config;
pub mod core;
pub mod doctor;
pub mod exec;
pub mod feed;
pub mod journal;
pub mod ops;
pub mod pipeline;
pub mod publish;
pub mod risk;
pub mod score;
pub mod telemetry;
pub mod venue;
