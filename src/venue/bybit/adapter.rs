//! Bybit v5 linear behind the venue seam: its `[venues.bybit]` section, its
//! feed connections (split within the `args` cap, one connection gate for
//! Bybit's 500 new connections per 5 minutes), their replay, its REST
//! instrument list and the doctor's probes.

use super::config::BybitConfig;
use super::feed::{BybitFeed, BybitFeedConfig, plan_connections};
use crate::config::{AnySection, Config, ConfigError, VenuesConfig};
use crate::core::{MarketEvent, Venue};
use crate::feed::thread::{Connection, spawn_feed_thread};
use crate::feed::{Protocol, RestReply};
use crate::pipeline::channel::FanIn;
use crate::pipeline::shared::Shared;
use crate::venue::adapter::{BoxFuture, Common, CommonMut, FeedContext, VenueAdapter};
use crate::venue::config::VenueSection;
use crate::venue::instruments::{RestInstrument, get, parse_bybit};
use crate::venue::pacing::ConnectGate;
use crate::venue::probe::ProbeSpec;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

/// Path of Bybit's public linear stream (appended to a simulator base URL).
pub const WS_PATH: &str = "/v5/public/linear";

/// The Bybit adapter (see [`VenueAdapter`]).
pub struct BybitAdapter;

fn enabled(cfg: &Config) -> Option<&BybitConfig> {
    cfg.venues.get::<BybitConfig>().filter(|v| v.enabled)
}

fn feed_config(vc: &BybitConfig, symbols: Vec<String>, stale_after: Duration) -> BybitFeedConfig {
    BybitFeedConfig {
        ws_url: vc.ws_url.clone(),
        symbols,
        depth: vc.depth(),
        ping_interval: vc.ping_interval(),
        stale_after,
    }
}

impl VenueAdapter for BybitAdapter {
    fn venue(&self) -> Venue {
        Venue::Bybit
    }

    /// `BTCUSDT` → `USDT`; USDC perpetuals are named `BTCPERP` (→ `USDC`).
    fn quote_asset(&self, symbol: &str) -> Option<String> {
        if symbol.len() > 4 && symbol.ends_with("PERP") {
            return Some("USDC".into());
        }
        crate::venue::symbols::quote_suffix(symbol)
    }

    fn section<'a>(&self, v: &'a VenuesConfig) -> Option<Common<'a>> {
        v.get::<BybitConfig>().map(|c| c.common())
    }

    fn section_mut<'a>(&self, v: &'a mut VenuesConfig) -> Option<CommonMut<'a>> {
        v.get_mut::<BybitConfig>().map(|c| c.common_mut())
    }

    fn parse_section(
        &self,
        raw: toml::Value,
        path: &str,
    ) -> Result<Box<dyn AnySection>, ConfigError> {
        crate::venue::sections::parse::<BybitConfig>(raw, path)
    }

    fn sim_ws_path(&self) -> &'static str {
        WS_PATH
    }

    fn spawn_feeds(
        &self,
        cfg: &Config,
        ctx: &mut FeedContext<'_>,
    ) -> std::io::Result<Option<JoinHandle<()>>> {
        let Some(vc) = enabled(cfg) else {
            return Ok(None);
        };
        // Bybit allows 500 new connections per 5 minutes per IP.
        let gate =
            ConnectGate::with_spacing(400, Duration::from_secs(300), Duration::from_millis(100));
        let stale_after = Duration::from_millis(vc.stale_after_ms);
        let conns = plan_connections(&vc.symbols, vc.depth())
            .into_iter()
            .map(|symbols| {
                let (rtx, rrx) = mpsc::channel::<RestReply>(1);
                let mut proto = BybitFeed::new(
                    feed_config(vc, symbols, stale_after),
                    ctx.shared.clone(),
                    ctx.fan.local_producer(),
                    Some(gate.clone()),
                );
                proto.keep_rest_sender(rtx);
                Connection {
                    proto: Box::new(proto),
                    rest_rx: rrx,
                    cfg: vc.common().session(),
                }
            })
            .collect();
        spawn_feed_thread(
            "feed-bybit",
            ctx.core,
            conns,
            ctx.shared.clone(),
            ctx.stop.clone(),
        )
        .map(Some)
    }

    fn replay_protocols(
        &self,
        cfg: &Config,
        shared: &Arc<Shared>,
        fan: &mut FanIn<MarketEvent>,
    ) -> Vec<Box<dyn Protocol>> {
        let Some(vc) = enabled(cfg) else {
            return Vec::new();
        };
        plan_connections(&vc.symbols, vc.depth())
            .into_iter()
            .map(|symbols| {
                Box::new(BybitFeed::new(
                    feed_config(vc, symbols, Duration::ZERO),
                    shared.clone(),
                    fan.local_producer(),
                    None,
                )) as Box<dyn Protocol>
            })
            .collect()
    }

    fn instruments_from_rest(&self, v: &VenuesConfig) -> bool {
        v.get::<BybitConfig>()
            .is_some_and(|c| c.enabled && c.instruments_from_rest)
    }

    fn clear_instruments_from_rest(&self, v: &mut VenuesConfig) {
        if let Some(c) = v.get_mut::<BybitConfig>() {
            c.instruments_from_rest = false;
        }
    }

    fn fetch_instruments<'a>(
        &self,
        client: &'a reqwest::Client,
        base: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<RestInstrument>>> {
        Box::pin(async move {
            let base = base.trim_end_matches('/');
            let mut all = Vec::new();
            let mut cursor = String::new();
            // Bounded: at most 20 pages of 1000.
            for _ in 0..20 {
                let mut url =
                    format!("{base}/v5/market/instruments-info?category=linear&limit=1000");
                if !cursor.is_empty() {
                    url.push_str("&cursor=");
                    url.push_str(&cursor);
                }
                let (list, next) = parse_bybit(&get(client, &url).await?)?;
                all.extend(list);
                if next.is_empty() {
                    break;
                }
                cursor = next;
            }
            Ok(all)
        })
    }

    fn probes(&self) -> &'static ProbeSpec {
        &super::probe::PROBES
    }
}
