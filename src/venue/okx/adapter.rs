//! OKX v5 SWAP behind the venue seam: its `[venues.okx]` section, its feed
//! connections (one connection gate under OKX's 3 new connections per
//! second, contract values from `[[instruments]]`), their replay, its REST
//! instrument list and the doctor's probes.

use super::config::OkxConfig;
use super::feed::{OkxFeed, OkxFeedConfig, plan_connections};
use crate::config::{AnySection, Config, ConfigError, VenuesConfig};
use crate::core::{MarketEvent, Venue};
use crate::feed::thread::{Connection, spawn_feed_thread};
use crate::feed::{Protocol, RestReply};
use crate::pipeline::channel::FanIn;
use crate::pipeline::shared::Shared;
use crate::venue::adapter::{BoxFuture, Common, CommonMut, FeedContext, VenueAdapter};
use crate::venue::config::VenueSection;
use crate::venue::instruments::{RestInstrument, get, parse_okx};
use crate::venue::pacing::ConnectGate;
use crate::venue::probe::ProbeSpec;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

/// Path of OKX's public stream (appended to a simulator base URL).
pub const WS_PATH: &str = "/ws/v5/public";

/// The OKX adapter (see [`VenueAdapter`]).
pub struct OkxAdapter;

fn enabled(cfg: &Config) -> Option<&OkxConfig> {
    cfg.venues.get::<OkxConfig>().filter(|v| v.enabled)
}

/// Contract values (`ctVal`) of the configured OKX instruments by symbol.
fn ct_vals(cfg: &Config) -> HashMap<String, String> {
    cfg.instruments
        .iter()
        .filter(|i| i.venue == Venue::Okx && !i.contract_value.is_empty())
        .map(|i| (i.symbol.clone(), i.contract_value.clone()))
        .collect()
}

fn feed_config(
    vc: &OkxConfig,
    symbols: Vec<String>,
    stale_after: Duration,
    ct_vals: &HashMap<String, String>,
) -> OkxFeedConfig {
    OkxFeedConfig {
        ws_url: vc.ws_url.clone(),
        symbols,
        depth: vc.depth(),
        ping_idle: vc.ping_idle(),
        stale_after,
        ct_vals: ct_vals.clone(),
    }
}

impl VenueAdapter for OkxAdapter {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    /// `BTC-USDT-SWAP` → `USDT` (the instrument id's second part).
    fn quote_asset(&self, symbol: &str) -> Option<String> {
        let mut parts = symbol.split('-');
        let (_, q) = (parts.next()?, parts.next()?);
        (!q.is_empty() && q.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| q.to_ascii_uppercase())
    }

    fn section<'a>(&self, v: &'a VenuesConfig) -> Option<Common<'a>> {
        v.get::<OkxConfig>().map(|c| c.common())
    }

    fn section_mut<'a>(&self, v: &'a mut VenuesConfig) -> Option<CommonMut<'a>> {
        v.get_mut::<OkxConfig>().map(|c| c.common_mut())
    }

    fn parse_section(
        &self,
        raw: toml::Value,
        path: &str,
    ) -> Result<Box<dyn AnySection>, ConfigError> {
        crate::venue::sections::parse::<OkxConfig>(raw, path)
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
        // OKX allows 3 new connections per second; we open at most 2 per
        // second, 500 ms apart, so jitter cannot push us over.
        let gate = ConnectGate::with_spacing(2, Duration::from_secs(1), Duration::from_millis(500));
        let ct = ct_vals(cfg);
        let stale_after = Duration::from_millis(vc.stale_after_ms);
        let conns = plan_connections(&vc.symbols)
            .into_iter()
            .map(|symbols| {
                let (rtx, rrx) = mpsc::channel::<RestReply>(1);
                let mut proto = OkxFeed::new(
                    feed_config(vc, symbols, stale_after, &ct),
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
            "feed-okx",
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
        let ct = ct_vals(cfg);
        plan_connections(&vc.symbols)
            .into_iter()
            .map(|symbols| {
                Box::new(OkxFeed::new(
                    feed_config(vc, symbols, Duration::ZERO, &ct),
                    shared.clone(),
                    fan.local_producer(),
                    None,
                )) as Box<dyn Protocol>
            })
            .collect()
    }

    fn instruments_from_rest(&self, v: &VenuesConfig) -> bool {
        v.get::<OkxConfig>()
            .is_some_and(|c| c.enabled && c.instruments_from_rest)
    }

    fn clear_instruments_from_rest(&self, v: &mut VenuesConfig) {
        if let Some(c) = v.get_mut::<OkxConfig>() {
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
            parse_okx(
                &get(
                    client,
                    &format!("{base}/api/v5/public/instruments?instType=SWAP"),
                )
                .await?,
            )
        })
    }

    fn probes(&self) -> &'static ProbeSpec {
        &super::probe::PROBES
    }
}
