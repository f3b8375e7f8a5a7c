//! Starts the Bybit and OKX feeds for the engine: splits each venue's
//! symbols into connections within the venue's limits, gives all of a
//! venue's connections one shared connection gate (Bybit 500 per 5 min, OKX
//! 3 per second), and runs them on one feed thread per venue.

use super::bybit::feed::{BybitFeed, BybitFeedConfig};
use super::okx::feed::{OkxFeed, OkxFeedConfig};
use super::pacing::ConnectGate;
use crate::config::{Config, VenueConfig};
use crate::core::{MarketEvent, Venue};
use crate::feed::RestReply;
use crate::feed::session::SessionConfig;
use crate::feed::thread::{Connection, spawn_feed_thread};
use crate::pipeline::channel::Tx;
use crate::pipeline::shared::Shared;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Path of Bybit's public linear stream (appended to a simulator base URL).
pub const BYBIT_WS_PATH: &str = "/v5/public/linear";
/// Path of OKX's public stream.
pub const OKX_WS_PATH: &str = "/ws/v5/public";

/// Fills empty Bybit/OKX URLs with the simulator's.
pub fn fill_sim_urls(cfg: &mut Config, ws_base: &str, rest_base: &str) {
    for (vc, path) in [
        (&mut cfg.venues.bybit, BYBIT_WS_PATH),
        (&mut cfg.venues.okx, OKX_WS_PATH),
    ] {
        if let Some(vc) = vc.as_mut() {
            if vc.ws_url.is_empty() {
                vc.ws_url = format!("{ws_base}{path}");
            }
            if vc.rest_url.is_empty() {
                vc.rest_url = rest_base.to_string();
            }
        }
    }
}

fn session(v: &VenueConfig) -> SessionConfig {
    SessionConfig {
        silence_timeout: Duration::from_millis(v.silence_timeout_ms),
        max_age: Duration::from_secs(v.max_connection_age_secs),
        backoff_min: Duration::from_millis(v.backoff_min_ms),
        backoff_max: Duration::from_millis(v.backoff_max_ms),
        healthy_after: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
    }
}

fn ms_or(v: u64, default_ms: u64) -> Duration {
    Duration::from_millis(if v == 0 { default_ms } else { v })
}

/// Spawns the feed threads of the enabled Bybit and OKX venues.
pub fn spawn_feeds(
    cfg: &Config,
    shared: &Arc<Shared>,
    tx: &Tx<MarketEvent>,
    core: Option<usize>,
    stop: &watch::Receiver<bool>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut threads = Vec::new();
    if let Some(vc) = cfg.venues.bybit.as_ref().filter(|v| v.enabled) {
        let depth = if vc.book_depth == 0 {
            50
        } else {
            vc.book_depth
        };
        // Bybit allows 500 new connections per 5 minutes per IP.
        let gate =
            ConnectGate::with_spacing(400, Duration::from_secs(300), Duration::from_millis(100));
        let conns = super::bybit::feed::plan_connections(&vc.symbols, depth)
            .into_iter()
            .map(|symbols| {
                let fc = BybitFeedConfig {
                    ws_url: vc.ws_url.clone(),
                    symbols,
                    depth,
                    ping_interval: ms_or(vc.ping_interval_ms, 20_000),
                    stale_after: Duration::from_millis(vc.stale_after_ms),
                };
                let (rtx, rrx) = mpsc::channel::<RestReply>(1);
                let mut proto = BybitFeed::new(fc, shared.clone(), tx.clone(), Some(gate.clone()));
                proto.keep_rest_sender(rtx);
                Connection {
                    proto: Box::new(proto),
                    rest_rx: rrx,
                    cfg: session(vc),
                }
            })
            .collect();
        threads.push(spawn_feed_thread(
            "feed-bybit",
            core,
            conns,
            shared.clone(),
            stop.clone(),
        )?);
    }
    if let Some(vc) = cfg.venues.okx.as_ref().filter(|v| v.enabled) {
        let depth = if vc.book_depth == 0 {
            400
        } else {
            vc.book_depth
        };
        // OKX allows 3 new connections per second; we open at most 2 per
        // second, 500 ms apart, so jitter cannot push us over.
        let gate = ConnectGate::with_spacing(2, Duration::from_secs(1), Duration::from_millis(500));
        let ct_vals: HashMap<String, String> = cfg
            .instruments
            .iter()
            .filter(|i| i.venue == Venue::Okx.as_str() && !i.contract_value.is_empty())
            .map(|i| (i.symbol.clone(), i.contract_value.clone()))
            .collect();
        let conns = super::okx::feed::plan_connections(&vc.symbols)
            .into_iter()
            .map(|symbols| {
                let fc = OkxFeedConfig {
                    ws_url: vc.ws_url.clone(),
                    symbols,
                    depth,
                    ping_idle: ms_or(vc.ping_interval_ms, 25_000),
                    stale_after: Duration::from_millis(vc.stale_after_ms),
                    ct_vals: ct_vals.clone(),
                };
                let (rtx, rrx) = mpsc::channel::<RestReply>(1);
                let mut proto = OkxFeed::new(fc, shared.clone(), tx.clone(), Some(gate.clone()));
                proto.keep_rest_sender(rtx);
                Connection {
                    proto: Box::new(proto),
                    rest_rx: rrx,
                    cfg: session(vc),
                }
            })
            .collect();
        threads.push(spawn_feed_thread(
            "feed-okx",
            core,
            conns,
            shared.clone(),
            stop.clone(),
        )?);
    }
    Ok(threads)
}

/// The protocols of every enabled venue's connections for a replay, in the
/// order the engine plans and starts them (connection index `i` of a venue
/// here is connection `i` of a recording): Binance as the engine splits it
/// (depth/bookTicker connections first, then trade connections when
/// `ws_market_url` is set), then Bybit and OKX as [`spawn_feeds`] does. No
/// sockets, gates or REST: REST replies come from the recording, and
/// per-symbol staleness (a wall-clock judgement) is off.
pub fn replay_protocols(
    cfg: &Config,
    shared: &Arc<Shared>,
    tx: &Tx<MarketEvent>,
) -> [Vec<Box<dyn crate::feed::Protocol>>; 3] {
    use super::binance::{BinanceFeed, BinanceFeedConfig, Streams};
    let mut out: [Vec<Box<dyn crate::feed::Protocol>>; 3] = Default::default();
    if let Some(vc) = cfg.venues.binance.as_ref().filter(|v| v.enabled) {
        let plans: Vec<(&str, Streams)> = if vc.ws_market_url.is_empty() {
            vec![(vc.ws_url.as_str(), Streams::ALL)]
        } else {
            vec![
                (
                    vc.ws_url.as_str(),
                    Streams {
                        depth: true,
                        book_ticker: true,
                        trades: false,
                    },
                ),
                (
                    vc.ws_market_url.as_str(),
                    Streams {
                        depth: false,
                        book_ticker: false,
                        trades: true,
                    },
                ),
            ]
        };
        for (base, streams) in plans {
            for symbols in super::binance::plan_connections(&vc.symbols, streams) {
                let fc = BinanceFeedConfig {
                    ws_base: base.to_string(),
                    rest_base: vc.rest_url.clone(),
                    symbols,
                    depth_speed_ms: vc.depth_speed_ms,
                    snapshot_limit: vc.snapshot_limit,
                    streams,
                    stale_after: Duration::ZERO,
                };
                let (rest, _) = crate::feed::RestClient::offline();
                out[Venue::Binance as usize].push(Box::new(BinanceFeed::new(
                    fc,
                    shared.clone(),
                    tx.clone(),
                    rest,
                )));
            }
        }
    }
    if let Some(vc) = cfg.venues.bybit.as_ref().filter(|v| v.enabled) {
        let depth = if vc.book_depth == 0 {
            50
        } else {
            vc.book_depth
        };
        for symbols in super::bybit::feed::plan_connections(&vc.symbols, depth) {
            let fc = BybitFeedConfig {
                ws_url: vc.ws_url.clone(),
                symbols,
                depth,
                ping_interval: ms_or(vc.ping_interval_ms, 20_000),
                stale_after: Duration::ZERO,
            };
            out[Venue::Bybit as usize].push(Box::new(BybitFeed::new(
                fc,
                shared.clone(),
                tx.clone(),
                None,
            )));
        }
    }
    if let Some(vc) = cfg.venues.okx.as_ref().filter(|v| v.enabled) {
        let depth = if vc.book_depth == 0 {
            400
        } else {
            vc.book_depth
        };
        let ct_vals: HashMap<String, String> = cfg
            .instruments
            .iter()
            .filter(|i| i.venue == Venue::Okx.as_str() && !i.contract_value.is_empty())
            .map(|i| (i.symbol.clone(), i.contract_value.clone()))
            .collect();
        for symbols in super::okx::feed::plan_connections(&vc.symbols) {
            let fc = OkxFeedConfig {
                ws_url: vc.ws_url.clone(),
                symbols,
                depth,
                ping_idle: ms_or(vc.ping_interval_ms, 25_000),
                stale_after: Duration::ZERO,
                ct_vals: ct_vals.clone(),
            };
            out[Venue::Okx as usize].push(Box::new(OkxFeed::new(
                fc,
                shared.clone(),
                tx.clone(),
                None,
            )));
        }
    }
    out
}
