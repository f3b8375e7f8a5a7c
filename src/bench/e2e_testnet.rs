//! The end-to-end bench's `--mode testnet`: the whole engine in
//! `mode = "testnet"` against the built-in simulator. Market data comes over
//! a loopback WebSocket from the simulator's generated market; every
//! decision trades, risk lets through at most [`ORDERS_PER_SEC`] orders a
//! second (under the simulated venue's 300 per 10 s and 1,200 per minute),
//! and the Binance trading session signs them and sends them over loopback
//! HTTP, with the user data stream up. Reported beside the stages:
//! `tick_to_wire` (frame received → the order request's first bytes written
//! to the socket, the order connection's write stamp), `tick_to_handoff`
//! (→ the signed request handed to the session's runtime thread),
//! `order_round_trip` (request sent → its answer) and `tick_to_order`
//! (→ the order ready in the exec stage, the paper modes' figure).

use super::report::{Paced, process_cpu_ns};
use crate::app::engine::{Engine, EngineOptions, StartEmbeddedVenues};
use crate::config::{Config, TradingMode};
use crate::core::{Venue, now_ns};
use crate::pipeline::shared::Shared;
use anyhow::{Context, Result, bail};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Orders a second risk lets through (the simulated venue refuses more
/// than 1,200 a minute).
pub const ORDERS_PER_SEC: u32 = 18;

/// The latency slots of the order path, after the stages.
pub const ORDER_SLOTS: [&str; 3] = ["tick_to_handoff", "tick_to_wire", "order_round_trip"];

/// Turns the bench config into a testnet one against the simulator:
/// generated market at `rate` frames/s over all `symbols`, trading
/// endpoints and credentials the simulator's.
pub fn configure(c: &mut Config, rate: u64, symbols: usize) -> Result<()> {
    c.mode = TradingMode::Testnet;
    c.sim.enabled = true;
    c.sim.replay_file = None;
    c.sim.rate_per_symbol = (rate / symbols.max(1) as u64).clamp(1, u32::MAX as u64) as u32;
    c.risk.max_orders_per_sec = ORDERS_PER_SEC;
    c.risk.max_orders_per_min = (ORDERS_PER_SEC * 60).min(1_100);
    // Orders the venue has not answered count as open: a few in flight.
    c.risk.max_open_orders = 64;
    let venue = bench_venue()?;
    let b = c
        .venues
        .section_mut(venue)
        .context("the bench config has no binance section")?;
    // Empty: the built-in simulator's market data, trading endpoints and
    // credentials.
    *b.ws_url = String::new();
    *b.rest_url = String::new();
    let set = |c: &mut Config, k: &str, v: &str| {
        c.venues
            .set(venue, k, toml::Value::String(v.into()))
            .map_err(|e| anyhow::anyhow!("bench config: {e}"))
    };
    set(c, "trade_rest_url", "")?;
    set(c, "user_stream_url", "")?;
    set(c, "api_key_env", "")?;
    set(c, "api_secret_env", "")?;
    Ok(())
}

/// The venue the bench trades (named as data: the seam keeps venue
/// identifiers under `src/venue/`).
fn bench_venue() -> Result<Venue> {
    Venue::parse("binance").context("no binance venue in this build")
}

/// Runs the engine for `secs` after its private stream came up; the stages
/// and the order path's latency slots.
pub fn paced(
    cfg: Config,
    secs: f64,
    rate: u64,
    embedded_venues: Option<StartEmbeddedVenues>,
) -> Result<Paced> {
    if embedded_venues.is_none() {
        bail!("--mode testnet needs the built-in simulator (the quantum-trader binary has it)");
    }
    let engine = Engine::start(
        cfg,
        EngineOptions {
            no_ops: true,
            embedded_venues,
            ..Default::default()
        },
    )?;
    let shared = engine.shared().clone();
    let venue = bench_venue()?;
    let stream_up = |s: &Shared| s.venue_gates.private_stream_up(venue);
    let t_up = now_ns();
    while !stream_up(&shared) {
        if now_ns() - t_up > 30_000_000_000 {
            engine.stop();
            bail!("the private stream did not come up within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let feed = &shared.feeds[venue.idx()];
    let msgs = || feed.messages.load(Ordering::Relaxed);
    let orders = || {
        shared
            .stage("exec")
            .map(|h| h.processed.load(Ordering::Relaxed))
            .unwrap_or(0)
    };
    let (m0, o0) = (msgs(), orders());
    let cpu0 = process_cpu_ns();
    let t0 = now_ns();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let t1 = now_ns();
    let (frames, sent) = (msgs() - m0, orders() - o0);
    let cpu = process_cpu_ns().saturating_sub(cpu0);
    // Stopping flushes the latency recorders (orders in flight answer first).
    engine.stop();
    let seconds = (t1 - t0) as f64 / 1e9;
    let stages = ["book", "score", "risk", "exec", "tick_to_order"]
        .into_iter()
        .chain(ORDER_SLOTS)
        .filter_map(|name| shared.latency.get(name))
        .collect();
    Ok(Paced {
        target_rate: rate as f64,
        achieved_rate: frames as f64 / seconds,
        frames,
        seconds,
        cpu_ns_per_msg: cpu as f64 / frames.max(1) as f64,
        orders: sent,
        stages,
    })
}
