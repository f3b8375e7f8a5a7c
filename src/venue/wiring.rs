//! Every enabled venue at once, through the registry: simulator URLs for
//! empty `ws_url`/`rest_url`, one feed thread per venue, the replay
//! protocols of a recording, and the in-process injector. Each venue's own
//! wiring (connection split, gates, budgets) is its adapter's.

use super::adapter::FeedContext;
use super::inject::Injector;
use super::registry::ADAPTERS;
use crate::config::Config;
use crate::core::{MarketEvent, Venue};
use crate::pipeline::channel::FanIn;
use crate::pipeline::shared::Shared;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::watch;

/// Fills every venue's empty URLs with the simulator's (`ws_base` plus the
/// venue's stream path, `rest_base`).
pub fn fill_sim_urls(cfg: &mut Config, ws_base: &str, rest_base: &str) {
    for a in ADAPTERS {
        if let Some(c) = a.section_mut(&mut cfg.venues) {
            if c.ws_url.is_empty() {
                *c.ws_url = format!("{ws_base}{}", a.sim_ws_path());
            }
            if c.rest_url.is_empty() {
                *c.rest_url = rest_base.to_string();
            }
        }
    }
}

/// Spawns the feed thread of every enabled venue, in venue order; each
/// connection gets its own producer of the feed-to-book `fan`.
pub fn spawn_feeds(
    cfg: &Config,
    shared: &Arc<Shared>,
    fan: &mut FanIn<MarketEvent>,
    core: Option<usize>,
    stop: &watch::Receiver<bool>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut ctx = FeedContext {
        shared,
        fan,
        core,
        stop,
    };
    let mut threads = Vec::new();
    for a in ADAPTERS {
        threads.extend(a.spawn_feeds(cfg, &mut ctx)?);
    }
    Ok(threads)
}

/// The protocols of every enabled venue's connections for a replay, indexed
/// by venue, in the order each adapter plans and starts them (connection
/// index `i` of a venue here is connection `i` of a recording). No sockets,
/// gates or REST: REST replies come from the recording, and per-symbol
/// staleness (a wall-clock judgement) is off. Each protocol gets its own
/// producer of `fan`.
pub fn replay_protocols(
    cfg: &Config,
    shared: &Arc<Shared>,
    fan: &mut FanIn<MarketEvent>,
) -> [Vec<Box<dyn crate::feed::Protocol>>; Venue::COUNT] {
    let mut out: [Vec<Box<dyn crate::feed::Protocol>>; Venue::COUNT] = Default::default();
    for a in ADAPTERS {
        out[a.venue().idx()] = a.replay_protocols(cfg, shared, fan);
    }
    out
}

/// The in-process frame injector of the first venue that offers one, with
/// its own producer of `fan`.
pub fn injector(
    cfg: &Config,
    shared: &Arc<Shared>,
    fan: &mut FanIn<MarketEvent>,
) -> Option<Injector> {
    ADAPTERS.iter().find_map(|a| a.injector(cfg, shared, fan))
}
