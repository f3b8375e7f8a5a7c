//! `quantum-trader doctor`: checks, one line each, whether this machine and
//! config could start trading right now — config, model, secrets present,
//! Redis and the auxiliary heartbeats, each venue's REST, clock offset,
//! instruments and WebSocket, the ops port, CPU pinning, the open-file
//! limit, the kill switch — and ends with the verdict and every reason. The
//! exit code says whether trading can start.
//!
//! - [`report`]: verdicts, the report and its rendering.
//! - [`venue`]: venue probes over the network (REST time, instruments, WS).
//! - [`system`]: local checks (ops port, pinning, open files, config content).
//! - [`state`]: journal, breaker, kill switch, heartbeats; a running engine's live state.
//! - [`redis`]: `[redis]` reachable (version, latency) and the heartbeat keys.

pub mod redis;
pub mod report;
pub mod state;
pub mod system;
pub mod venue;

pub use report::{Check, Report, Verdict};

use crate::app::engine::{StartEmbeddedVenues, instruments_from_config};
use crate::config::Config;
use std::path::Path;
use std::time::Duration;

/// How long one network probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs every check for the config at `path` (the embedded demo when `None`);
/// `embedded_venues` starts the built-in simulator when `[sim]` is enabled
/// (the binary passes its own; the engine library has none).
pub fn run(path: Option<&Path>, embedded_venues: Option<&StartEmbeddedVenues>) -> Report {
    let mut rep = Report::default();
    let name = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(embedded demo config)".into());
    let loaded = match path {
        Some(p) => Config::load(p),
        None => Config::from_toml(crate::config::DEMO_TOML),
    };
    let mut cfg = match loaded {
        Ok(c) => {
            rep.push(Check::ok(
                "config",
                format!(
                    "{name} is valid: mode {}, {} instrument(s), venues {}",
                    c.mode.as_str(),
                    c.instruments.len(),
                    system::venue_names(&c).join(",")
                ),
            ));
            c
        }
        Err(e) => {
            rep.push(Check::fail(
                "config",
                format!("{name}: {e}"),
                "fix the key named above (`quantum-trader check-config FILE` shows the effective config)",
            ));
            system::host_checks(&mut rep, None);
            return rep;
        }
    };
    system::config_checks(&mut rep, &cfg);
    let running = state::engine_running(&cfg.ops.listen);
    state::journal_checks(&mut rep, &cfg, !running);
    let engine_beats = running.then(|| state::live_checks(&mut rep, &cfg));
    let keys = redis::redis_checks(&mut rep, &cfg);
    state::heartbeat_checks(&mut rep, &cfg, engine_beats.as_deref(), &keys);

    // The built-in simulator stands in for the venues, as `run` would start
    // it (or, with an engine running, as that engine started it).
    let sim_addr = cfg.sim.listen.clone();
    let sim = if cfg.sim.enabled && running {
        crate::venue::wiring::fill_sim_urls(
            &mut cfg,
            &format!("ws://{sim_addr}"),
            &format!("http://{sim_addr}"),
        );
        rep.push(Check::ok(
            "simulator",
            format!("[sim] enabled: probing the running engine's simulator on {sim_addr}"),
        ));
        None
    } else if cfg.sim.enabled {
        let started = match embedded_venues {
            Some(start) => instruments_from_config(&cfg).and_then(|t| start(&cfg, &t)),
            None => Err(anyhow::anyhow!(
                "this program embeds no simulator (the quantum-trader binary does)"
            )),
        };
        match started {
            Ok(s) => {
                rep.push(Check::ok(
                    "simulator",
                    format!(
                        "[sim] enabled: started it on {} for these checks (the engine starts its own)",
                        s.rest_url().trim_start_matches("http://")
                    ),
                ));
                crate::venue::wiring::fill_sim_urls(&mut cfg, &s.ws_url(), &s.rest_url());
                Some(s)
            }
            Err(e) => {
                rep.push(Check::fail(
                    "simulator",
                    format!("[sim] enabled but it cannot start: {e:#}"),
                    "free sim.listen (another engine or `quantum-trader sim` may hold it) or set [sim] enabled = false",
                ));
                None
            }
        }
    } else {
        None
    };
    venue::venue_checks(&mut rep, &cfg);
    // Dropping the embedded venues stops them.
    drop(sim);
    if running {
        rep.push(Check::warn(
            "ops.listen",
            format!(
                "an engine already runs on {}: the checks above read its live state",
                cfg.ops.listen
            ),
            "stop it (`systemctl stop quantum-trader`) to check a fresh start",
        ));
        system::host_checks(&mut rep, None);
        rep.push(system::pinning(&cfg));
    } else {
        system::host_checks(&mut rep, Some(&cfg));
    }
    rep
}
