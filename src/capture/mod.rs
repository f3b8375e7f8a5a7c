//! Recording every feed at the transport boundary: each frame of each
//! connection with its receive stamp, every REST reply the feed used,
//! connection open/close and the messages sent (subscriptions), so that a
//! backtest (`crate::backtest`) can feed the same bytes through the same
//! venue protocol code.
//!
//! The session loop (`feed::session`) owns a [`ConnTap`] per connection
//! when `Shared::capture` holds a [`Recorder`]; a tap copies the record and
//! `try_send`s it to the writer thread (bounded queue `capture`; a full
//! queue drops and counts, the feed never waits). The writer keeps one zstd
//! file per venue and UTC hour in `[record] dir`:
//! `YYYY-MM-DDTHH.<venue>.<part>.qtcap.zst` (`part` grows when an engine
//! restarts within the hour), rotated at the hour, flushed every 200 ms,
//! and the directory kept under `max_total_mb` by deleting the oldest files
//! first. The byte format is in [`format`]; docs/record-replay.md.

pub mod format;
pub mod reader;
pub mod writer;

pub use format::{Kind, Record};
pub use reader::{FileReader, Header, Merged, ReadStats, RecordRef};
pub use writer::{CaptureMetrics, ConnTap, Recorder, RecorderHandle, enforce_cap, list_files};

use crate::config::Config;
use crate::core::Venue;

/// The JSON of a venue's `Meta` record: format version, engine version, the
/// venue's config section and its instruments as the engine used them
/// (after any `instruments_from_rest` load).
pub fn meta_json(cfg: &Config, venue: Venue) -> Vec<u8> {
    let vc = cfg.venues.section(venue);
    let instruments: Vec<_> = cfg
        .instruments
        .iter()
        .filter(|i| i.venue == venue)
        .collect();
    serde_json::json!({
        "format": 1,
        "venue": venue.as_str(),
        "engine": env!("CARGO_PKG_VERSION"),
        "symbols": vc.map(|v| v.symbols.to_vec()).unwrap_or_default(),
        "instruments": instruments,
    })
    .to_string()
    .into_bytes()
}

/// Starts the recorder for `cfg` (`[record]`), with each venue's meta.
pub fn start_for(
    cfg: &Config,
    metrics: &crate::telemetry::metrics::Metrics,
) -> std::io::Result<(Recorder, RecorderHandle)> {
    let meta = Venue::ALL.map(|v| meta_json(cfg, v));
    writer::start(&cfg.record, metrics, meta)
}

#[cfg(test)]
mod tests;
