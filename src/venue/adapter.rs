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
use crate::pipeline::channel::Tx;
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
    /// The feed-to-book queue.
    pub tx: &'a Tx<MarketEvent>,
    /// Core to pin the venue's feed thread to.
    pub core: Option<usize>,
    pub stop: &'a watch::Receiver<bool>,
}

/// A boxed future (the adapter is used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The live trading session of a venue: order entry, its private streams
/// and reconciliation. **Not built yet**: the live-execution issues add it
/// per venue (every adapter answers `None` from [`VenueAdapter::trading`]
/// today, and `run` refuses modes other than paper). This is where it goes:
/// implement it in the venue's folder and return it from `trading`.
pub trait TradingSession: Send + Sync {
    /// The venue this session trades on.
    fn venue(&self) -> Venue;
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
    /// feed thread (within the venue's connection and stream limits).
    fn spawn_feeds(
        &self,
        cfg: &Config,
        ctx: &FeedContext<'_>,
    ) -> std::io::Result<Option<JoinHandle<()>>>;

    /// The protocols of its connections for a replay, in the order
    /// [`VenueAdapter::spawn_feeds`] plans them (connection `i` here is
    /// connection `i` of a recording); no sockets, gates or REST.
    fn replay_protocols(
        &self,
        cfg: &Config,
        shared: &Arc<Shared>,
        tx: &Tx<MarketEvent>,
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

    /// An in-process frame injector for benches and soak tests (the venue
    /// whose frames the benches speak); `None` for the others.
    fn injector(
        &self,
        _cfg: &Config,
        _shared: &Arc<Shared>,
        _tx: &Tx<MarketEvent>,
    ) -> Option<super::inject::Injector> {
        None
    }

    /// The venue's live trading session: `None` until the live-execution
    /// issues add one (see [`TradingSession`]).
    fn trading(&self) -> Option<&'static dyn TradingSession> {
        None
    }
}
