//! The binary's wiring of the venue simulator (`qt_sim`) and the engine
//! (`quantum_trader`): the only code that knows both. It turns the engine's
//! config and instrument table into the simulator's own spec, starts the
//! simulator for `quantum-trader run` (through
//! [`EngineOptions::embedded_venues`]) and `quantum-trader sim`, and hands the
//! simulator's socket-free frame generator to the engine's bench code.
//!
//! Declared only by `src/main.rs`; the integration tests and benches that
//! run the engine against the simulator include this same file
//! (`#[path = "../src/embedded_sim.rs"]`), so there is one wiring.

use anyhow::{Context, Result};
use qt_sim::frames::FrameGen;
use qt_sim::venues::VenueSimSymbol;
use qt_sim::{SimHandle, SimSpec, SimSymbol, SimVenue};
use quantum_trader::app::engine::{EmbeddedVenues, Engine, EngineOptions, SimTrading};
use quantum_trader::bench::samples::FrameSource;
use quantum_trader::config::{Config, SimConfig};
use quantum_trader::core::{Instrument, InstrumentTable, Venue, format_decimal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The simulator's name for an engine venue.
pub fn sim_venue(v: Venue) -> SimVenue {
    match v {
        Venue::Binance => SimVenue::Binance,
        Venue::Bybit => SimVenue::Bybit,
        Venue::Okx => SimVenue::Okx,
    }
}

/// An engine instrument as a simulated Binance symbol (tick and lot written
/// back as the venue's decimal strings).
pub fn sim_symbol(i: &Instrument, start_price: f64) -> SimSymbol {
    SimSymbol {
        symbol: i.symbol.clone(),
        tick_size: format_decimal(i.tick, i.price_scale),
        lot_size: format_decimal(i.lot, i.qty_scale),
        start_price,
    }
}

/// The simulator spec of an engine config: the Binance instruments of the
/// table, start prices from `cfg.start_prices` (default 100.0).
pub fn sim_spec(cfg: &SimConfig, instruments: &InstrumentTable) -> Result<SimSpec> {
    let listen: SocketAddr = cfg
        .listen
        .parse()
        .with_context(|| format!("sim.listen `{}` is not an address", cfg.listen))?;
    let symbols = instruments
        .of_venue(Venue::Binance)
        .map(|i| sim_symbol(i, cfg.start_prices.get(&i.symbol).copied().unwrap_or(100.0)))
        .collect();
    Ok(SimSpec {
        listen,
        seed: cfg.seed,
        rate_per_symbol: cfg.rate_per_symbol,
        levels: cfg.levels,
        ping_interval: Duration::from_secs(cfg.ping_interval_secs.max(1)),
        symbols,
        replay_file: cfg.replay_file.as_ref().map(PathBuf::from),
    })
}

/// The Bybit and OKX instruments of an engine config, each following the
/// Binance instrument of its underlying (start price: `sim.start_prices`
/// by symbol, else by the followed Binance symbol, else 100).
pub fn venue_symbols(cfg: &Config, table: &InstrumentTable) -> Vec<VenueSimSymbol> {
    table
        .iter()
        .filter(|i| i.venue != Venue::Binance)
        .map(|i| {
            let follows = table
                .of_venue(Venue::Binance)
                .find(|b| b.underlying == i.underlying)
                .map(|b| b.symbol.clone());
            let ct = cfg
                .instruments
                .iter()
                .find(|c| c.venue == i.venue && c.symbol == i.symbol)
                .map(|c| c.contract_value.clone())
                .filter(|c| !c.is_empty());
            let start_price = cfg
                .sim
                .start_prices
                .get(&i.symbol)
                .or_else(|| follows.as_ref().and_then(|f| cfg.sim.start_prices.get(f)))
                .copied()
                .unwrap_or(100.0);
            VenueSimSymbol {
                venue: sim_venue(i.venue),
                symbol: i.symbol.clone(),
                tick_size: format_decimal(i.tick, i.price_scale),
                lot_size: format_decimal(i.lot, i.qty_scale),
                contract_value: ct,
                start_price,
                follows,
                min_notional: i.min_notional,
            }
        })
        .collect()
}

/// Starts the simulator for every venue of the config (Binance symbols
/// plus the Bybit and OKX instruments that follow them), with the config's
/// REST weight limit.
pub fn start_sim_for(cfg: &Config, table: &InstrumentTable) -> Result<SimHandle> {
    let spec = sim_spec(&cfg.sim, table)?;
    let venues = venue_symbols(cfg, table);
    let sim = SimHandle::start_with_venues(spec, &venues)
        .with_context(|| format!("starting the simulator on {}", cfg.sim.listen))?;
    sim.set_rest_weight_limit(
        cfg.sim.rest_weight_limit,
        Duration::from_millis(cfg.sim.rest_weight_window_ms),
    );
    Ok(sim)
}

/// The simulator as the engine's in-process venues.
pub struct EmbeddedSim(pub SimHandle);

impl EmbeddedVenues for EmbeddedSim {
    fn ws_url(&self) -> String {
        self.0.ws_url()
    }

    fn rest_url(&self) -> String {
        self.0.rest_url()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        &self.0
    }

    fn trading(&self, venue: Venue) -> Option<SimTrading> {
        // The simulator's Binance order desk and user data stream.
        (venue == Venue::Binance).then(|| SimTrading {
            rest_url: self.0.rest_url(),
            ws_url: self.0.ws_url(),
            api_key: qt_sim::binance::SIM_API_KEY.to_string(),
            api_secret: qt_sim::binance::SIM_API_SECRET.to_string(),
        })
    }
}

/// Engine options whose `[sim] enabled` starts the built-in simulator.
pub fn engine_options() -> EngineOptions {
    EngineOptions {
        embedded_venues: Some(Arc::new(|cfg: &Config, table: &InstrumentTable| {
            let sim = start_sim_for(cfg, table)?;
            Ok(Box::new(EmbeddedSim(sim)) as Box<dyn EmbeddedVenues>)
        })),
        ..EngineOptions::default()
    }
}

/// The simulator an engine started with [`engine_options`] runs (for the
/// tests and benches that include this file; the binary needs no handle).
#[allow(dead_code)]
pub trait EngineSim {
    fn sim(&self) -> Option<&SimHandle>;
}

impl EngineSim for Engine {
    fn sim(&self) -> Option<&SimHandle> {
        self.embedded_venues()?.as_any().downcast_ref::<SimHandle>()
    }
}

/// The simulator's frame generator for engine instruments (with their
/// start prices).
pub fn frame_gen(instruments: &[(&Instrument, f64)], seed: u64, levels: usize) -> Result<FrameGen> {
    let symbols: Vec<SimSymbol> = instruments
        .iter()
        .map(|(i, px)| sim_symbol(i, *px))
        .collect();
    FrameGen::new(&symbols, seed, levels)
}

/// The simulator's frame generator as the engine bench's frame source.
pub struct SimFrames(pub FrameGen);

impl FrameSource for SimFrames {
    fn next_frame(&mut self, out: &mut Vec<u8>) {
        self.0.next_frame(out)
    }

    fn snapshot(&self, symbol: &str) -> Option<Vec<u8>> {
        self.0.snapshot(symbol)
    }
}

/// [`frame_gen`] behind the bench's [`FrameSource`] (what `quantum-trader
/// bench` generates frames with).
pub fn frame_source(
    instruments: &[(&Instrument, f64)],
    seed: u64,
    levels: usize,
) -> Result<Box<dyn FrameSource>> {
    Ok(Box::new(SimFrames(frame_gen(instruments, seed, levels)?)))
}
