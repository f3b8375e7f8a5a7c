//! The seam between the engine and one venue: [`VenueAdapter`] is
//! everything the composition root, the doctor, the recorder/replay and the
//! config checks may ask of a venue: its config section, its market-data
//! connections (live and for replay), its REST instrument list, its doctor
//! probes, and the slot for its trading session. Each venue implements it
//! in its own folder (`binance/adapter.rs`, ...); `registry` lists them.

use super::instruments::RestInstrument;
use super::probe::ProbeSpec;
use crate::config::{AnySection, Config, ConfigError, VenuesConfig};
use crate::core::{MarketEvent, Venue};
use crate::feed::Protocol;
use crate::pipeline::channel::FanIn;
use crate::pipeline::shared::Shared;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::watch;

pub use super::config::{Common, CommonMut};

/// What a venue's feed threads are started with.
pub struct FeedContext<'a> {
    pub shared: &'a Arc<Shared>,
    /// The feed-to-book queue: each connection takes its own producer
    /// ([`FanIn::local_producer`]), so one busy connection cannot starve
    /// another.
    pub fan: &'a mut FanIn<MarketEvent>,
    /// Core to pin the venue's feed thread to.
    pub core: Option<usize>,
    pub stop: &'a watch::Receiver<bool>,
}

/// A boxed future (the adapter is used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Engine-wide trading settings a session is started with (defaults until
/// the `[trading]` section fills them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradingSettings {
    /// Client order id prefix: 1-8 ASCII alphanumerics, one per engine.
    pub client_id_prefix: String,
    /// Time in force of the LIMIT orders sent: `IOC` (takes what is there
    /// within the limit, the rest expires) or `GTC` (the rest works).
    pub time_in_force: String,
}

impl Default for TradingSettings {
    fn default() -> Self {
        TradingSettings {
            client_id_prefix: "qt".into(),
            time_in_force: "IOC".into(),
        }
    }
}

/// The built-in simulator's endpoints and credentials (for a venue whose
/// trading endpoints are empty).
#[derive(Clone)]
pub struct SimTrading {
    /// `http://host:port`.
    pub rest_url: String,
    /// `ws://host:port`.
    pub ws_url: String,
    pub api_key: String,
    pub api_secret: String,
}

/// What a trading session is started with.
pub struct TradingContext<'a> {
    pub cfg: &'a Config,
    pub shared: &'a Arc<Shared>,
    /// The session's ends of the exec hand-off.
    pub ports: crate::exec::gateway::SessionPorts,
    pub settings: TradingSettings,
    /// The built-in simulator, when it runs.
    pub sim: Option<SimTrading>,
    /// Floor of this life's client-id epoch (from the journal; see
    /// `exec::client_id::ClientIdGen::start`).
    pub epoch_floor_ms: Option<u64>,
    /// The venue's orders the startup reconciliation found working (matched
    /// and adopted): the session tracks them as its own from the start.
    pub adopted: Vec<crate::exec::reconcile::VenueOrder>,
    /// The journal's open orders the startup reconciliation did not find at
    /// the venue: the session queries each by client id until it is settled.
    pub missing: Vec<crate::exec::reconcile::KnownOrder>,
    /// The mode's journal: the session writes its client id scheme there
    /// (`client_ids`) before its first order, and its reconciliations.
    pub journal: Option<crate::journal::JournalTx>,
}

/// A running trading session; stops once the exec hand-off closes.
pub trait RunningSession: Send {
    /// Waits for the session's threads to finish (after exec closed the
    /// hand-off), at most about `timeout`.
    fn join(self: Box<Self>, timeout: std::time::Duration);

    /// The longest the session's stop work takes once exec closed the
    /// hand-off (answers in flight, cancel on stop, flatten on stop): exec
    /// keeps taking its reports that long, and the engine waits for it.
    fn stop_budget(&self) -> std::time::Duration {
        crate::exec::gateway::DEFAULT_DRAIN
    }
}

/// The live trading session of a venue: order entry, its private streams
/// and the unknown-outcome resolution. Implemented in the venue's folder
/// and returned from [`VenueAdapter::trading`]; `None` means the venue
/// trades paper only.
pub trait TradingSession: Send + Sync {
    /// The venue this session trades on.
    fn venue(&self) -> Venue;

    /// Starts the session's threads.
    fn start(&self, ctx: TradingContext<'_>) -> anyhow::Result<Box<dyn RunningSession>>;
}

/// One venue, as the rest of the engine sees it.
pub trait VenueAdapter: Sync {
    /// Which venue this is (its name is `venue().as_str()`, its config
    /// section `[venues.<name>]`).
    fn venue(&self) -> Venue;

    /// The shared keys of its `[venues.<name>]` section, if present.
    fn section<'a>(&self, v: &'a VenuesConfig) -> Option<Common<'a>>;

    /// Write access to those keys, if the section is present.
    fn section_mut<'a>(&self, v: &'a mut VenuesConfig) -> Option<CommonMut<'a>>;

    /// Parses its raw `[venues.<name>]` section (at `path`) strictly into
    /// its typed section (`venue::sections::parse::<ItsConfig>`).
    fn parse_section(
        &self,
        raw: toml::Value,
        path: &str,
    ) -> Result<Box<dyn AnySection>, ConfigError>;

    /// Checks the section (present and enabled) with its key paths.
    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        let name = self.venue().as_str();
        match cfg.venues.typed(name) {
            Some(s) if s.enabled() => s.check(&format!("venues.{name}"), cfg.sim.enabled),
            _ => Ok(()),
        }
    }

    /// Path the built-in simulator serves this venue's public stream on,
    /// appended to the simulator's `ws://addr` for an empty `ws_url`.
    fn sim_ws_path(&self) -> &'static str;

    /// Starts the market-data connections of the enabled section on one
    /// feed thread (within the venue's connection and stream limits), each
    /// with its own producer of `ctx.fan`.
    fn spawn_feeds(
        &self,
        cfg: &Config,
        ctx: &mut FeedContext<'_>,
    ) -> std::io::Result<Option<JoinHandle<()>>>;

    /// The protocols of its connections for a replay, in the order
    /// [`VenueAdapter::spawn_feeds`] plans them (connection `i` here is
    /// connection `i` of a recording), each with its own producer of `fan`;
    /// no sockets, gates or REST.
    fn replay_protocols(
        &self,
        cfg: &Config,
        shared: &Arc<Shared>,
        fan: &mut FanIn<MarketEvent>,
    ) -> Vec<Box<dyn Protocol>>;

    /// True when the enabled section loads its instruments over REST.
    fn instruments_from_rest(&self, _v: &VenuesConfig) -> bool {
        false
    }

    /// Turns `instruments_from_rest` off (a replay takes the recorded ones).
    fn clear_instruments_from_rest(&self, _v: &mut VenuesConfig) {}

    /// Every instrument the venue's REST lists, from `base`.
    fn fetch_instruments<'a>(
        &self,
        client: &'a reqwest::Client,
        base: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<RestInstrument>>>;

    /// How the doctor probes this venue.
    fn probes(&self) -> &'static ProbeSpec;

    /// The quote asset of `symbol` (the currency its prices, PnL and quote
    /// fees are in), from the venue's symbol naming; `None` when it does
    /// not tell. The default reads a concatenated linear symbol
    /// (`BTCUSDT` → `USDT`).
    fn quote_asset(&self, symbol: &str) -> Option<String> {
        super::common::symbols::quote_suffix(symbol)
    }

    /// An in-process frame injector for benches and soak tests (the venue
    /// whose frames the benches speak), with its own producer of `fan`;
    /// `None` for the others.
    fn injector(
        &self,
        _cfg: &Config,
        _shared: &Arc<Shared>,
        _fan: &mut FanIn<MarketEvent>,
    ) -> Option<super::inject::Injector> {
        None
    }

    /// The venue's live trading session: `None` until the live-execution
    /// issues add one (see [`TradingSession`]).
    fn trading(&self) -> Option<&'static dyn TradingSession> {
        None
    }
}
