//! Binance USD-M behind the venue seam: its `[venues.binance]` section, its
//! feed connections (depth/bookTicker and trade connections planned by
//! `plan`, one connection gate and one REST weight budget for all of them),
//! their replay, the doctor's probes, the in-process frame injector and
//! the trading session (`session`).

use super::config::BinanceConfig;
use super::feed::{BinanceFeed, BinanceFeedConfig};
use super::plan::{ConnPlan, plan};
use crate::config::{AnySection, Config, ConfigError, VenuesConfig};
use crate::core::{MarketEvent, Venue};
use crate::feed::thread::{Connection, spawn_feed_thread};
use crate::feed::{Protocol, RestClient, RestReply};
use crate::pipeline::channel::FanIn;
use crate::pipeline::shared::Shared;
use crate::venue::adapter::{BoxFuture, Common, CommonMut, FeedContext, VenueAdapter};
use crate::venue::config::VenueSection;
use crate::venue::inject::Injector;
use crate::venue::instruments::RestInstrument;
use crate::venue::pacing::ConnectGate;
use crate::venue::probe::ProbeSpec;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

/// The Binance adapter (see [`VenueAdapter`]).
pub struct BinanceAdapter;

fn feed_config(vc: &BinanceConfig, p: ConnPlan, stale_after: Duration) -> BinanceFeedConfig {
    BinanceFeedConfig {
        ws_base: p.ws_base,
        rest_base: vc.rest_url.clone(),
        symbols: p.symbols,
        depth_speed_ms: vc.depth_speed_ms,
        snapshot_limit: vc.snapshot_limit,
        streams: p.streams,
        stale_after,
    }
}

fn enabled(cfg: &Config) -> Option<&BinanceConfig> {
    cfg.venues.get::<BinanceConfig>().filter(|v| v.enabled)
}

impl VenueAdapter for BinanceAdapter {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn section<'a>(&self, v: &'a VenuesConfig) -> Option<Common<'a>> {
        v.get::<BinanceConfig>().map(|c| c.common())
    }

    fn section_mut<'a>(&self, v: &'a mut VenuesConfig) -> Option<CommonMut<'a>> {
        v.get_mut::<BinanceConfig>().map(|c| c.common_mut())
    }

    fn parse_section(
        &self,
        raw: toml::Value,
        path: &str,
    ) -> Result<Box<dyn AnySection>, ConfigError> {
        crate::venue::sections::parse::<BinanceConfig>(raw, path)
    }

    fn sim_ws_path(&self) -> &'static str {
        // The combined-stream path (`/stream?streams=`) is the feed's.
        ""
    }

    fn spawn_feeds(
        &self,
        cfg: &Config,
        ctx: &mut FeedContext<'_>,
    ) -> std::io::Result<Option<JoinHandle<()>>> {
        let Some(vc) = enabled(cfg) else {
            return Ok(None);
        };
        // Binance publishes no USD-M figure for new connections; we keep
        // under its spot limit (300 per 5 min per IP), 100 ms apart.
        let gate =
            ConnectGate::with_spacing(250, Duration::from_secs(300), Duration::from_millis(100));
        // One REST weight budget for every Binance connection (and the
        // trading session).
        let budget = super::shared_budget(ctx.shared, vc);
        let stale_after = Duration::from_millis(vc.stale_after_ms);
        let conns = plan(vc)
            .into_iter()
            .map(|p| {
                let (rtx, rrx) = mpsc::channel::<RestReply>(64);
                let rest = RestClient::new(rtx).with_budget(budget.clone());
                let proto = BinanceFeed::new(
                    feed_config(vc, p, stale_after),
                    ctx.shared.clone(),
                    ctx.fan.local_producer(),
                    rest,
                )
                .with_gate(gate.clone());
                Connection {
                    proto: Box::new(proto),
                    rest_rx: rrx,
                    cfg: vc.common().session(),
                }
            })
            .collect();
        spawn_feed_thread(
            "feed-binance",
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
        plan(vc)
            .into_iter()
            .map(|p| {
                let (rest, _) = RestClient::offline();
                Box::new(BinanceFeed::new(
                    feed_config(vc, p, Duration::ZERO),
                    shared.clone(),
                    fan.local_producer(),
                    rest,
                )) as Box<dyn Protocol>
            })
            .collect()
    }

    fn fetch_instruments<'a>(
        &self,
        _client: &'a reqwest::Client,
        _base: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<RestInstrument>>> {
        // `[venues.binance]` has no `instruments_from_rest`: Binance's
        // instrument facts come from `[[instruments]]`.
        Box::pin(async {
            anyhow::bail!("binance instruments come from [[instruments]], not from REST")
        })
    }

    fn probes(&self) -> &'static ProbeSpec {
        &super::probe::PROBES
    }

    fn trading(&self) -> Option<&'static dyn crate::venue::adapter::TradingSession> {
        Some(&super::session::BinanceTrading)
    }

    fn injector(
        &self,
        cfg: &Config,
        shared: &Arc<Shared>,
        fan: &mut FanIn<MarketEvent>,
    ) -> Option<Injector> {
        let vc = cfg
            .venues
            .get::<BinanceConfig>()
            .cloned()
            .unwrap_or_default();
        let (rest, requests) = RestClient::offline();
        let fc = BinanceFeedConfig {
            ws_base: String::new(),
            rest_base: "http://injected".into(),
            symbols: vc.symbols.clone(),
            depth_speed_ms: vc.depth_speed_ms,
            snapshot_limit: vc.snapshot_limit,
            streams: super::plan::Streams::ALL,
            stale_after: Duration::ZERO,
        };
        let tx = fan.local_producer();
        let backlog = tx.depth_probe();
        let feed = BinanceFeed::new(fc, shared.clone(), tx, rest);
        Some(Injector::new(Box::new(feed), requests, backlog))
    }
}
