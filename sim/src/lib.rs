//! Venue simulator: Binance USD-M futures, Bybit v5 (public linear) and OKX
//! v5 (public) on one loopback port: the ground truth the engine's
//! integration tests compare their books against, the demo's market and the
//! target of benches. It knows no engine code: its wire formats, limits,
//! error codes and header names are written from the venues' documentation
//! (`../shared/protocols.md`), so a test can catch the engine's adapter
//! disagreeing with the venue.
//!
//! This file owns the crate's map and [`SimVenue`]. The pieces:
//! * `spec`: what it is started with ([`SimSpec`], [`SimSymbol`]);
//! * `handle`: [`SimHandle`], the running simulator;
//! * `state`: the state the generator, replayer and server share;
//! * `control`: [`Fault`]s, [`SimStats`] and the `/sim/...` control API;
//! * `control_orders`: the order venue's faults, counters and account
//!   controls ([`SimAccount`]);
//! * `server`: the axum app on the one port;
//! * `market`: the random-walk generator and the ground-truth book per symbol;
//! * `replay`: streaming a recorded file instead of generating;
//! * `binance`: Binance's wire format, WebSocket streams, REST market data,
//!   request-weight limit, request signing and order desk;
//! * `venues`, `bybit`, `okx`: the Bybit and OKX venues;
//! * `frames`: a socket-free Binance frame generator (benches);
//! * `decimal`: the simulator's own fixed-point decimals.
//!
//! Everything runs on one OS thread with a current-thread tokio runtime, so
//! the simulator never competes with the engine's pinned stage threads for
//! more than one core.

pub mod binance;
mod bybit;
mod control;
mod control_orders;
pub mod decimal;
pub mod frames;
mod handle;
mod market;
mod okx;
mod replay;
mod server;
mod spec;
mod state;
pub mod venues;

#[cfg(test)]
mod tests;

pub use control::{Fault, SimStats};
pub use control_orders::SimAccount;
pub use handle::SimHandle;
pub use spec::{SimSpec, SimSymbol};
pub use state::SimBook;

/// The venues the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimVenue {
    /// Binance USD-M futures.
    Binance,
    /// Bybit v5, public linear.
    Bybit,
    /// OKX v5, public.
    Okx,
}

impl SimVenue {
    /// The venue of a lower-case name (`binance`, `bybit`, `okx`).
    pub fn parse(s: &str) -> Option<SimVenue> {
        match s {
            "binance" => Some(SimVenue::Binance),
            "bybit" => Some(SimVenue::Bybit),
            "okx" => Some(SimVenue::Okx),
            _ => None,
        }
    }

    /// Lower-case name (`binance`, `bybit`, `okx`).
    pub fn as_str(self) -> &'static str {
        match self {
            SimVenue::Binance => "binance",
            SimVenue::Bybit => "bybit",
            SimVenue::Okx => "okx",
        }
    }
}

/// The recorded venue payloads (`../shared/samples` beside the repository),
/// for the simulator's own tests.
#[cfg(test)]
pub(crate) fn samples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples")
}

/// Says that the recorded venue payloads (`what` needs `path`) are absent:
/// a loud SKIP on a developer's machine, a failure under `CI=true` (as the
/// engine's tests do).
#[cfg(test)]
pub(crate) fn samples_absent(what: &str, path: &std::path::Path) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{what}: {} is absent and CI=true: the recorded venue payloads in ../shared/samples are required in CI",
        path.display()
    );
    eprintln!(
        "!!!!!!!! SKIP {what}: {} is absent (../shared/samples); real-message checks NOT run !!!!!!!!",
        path.display()
    );
}
