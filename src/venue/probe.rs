//! What the doctor needs to probe one venue, as data: the server-time and
//! instrument-list endpoints with their parsers, the trading state's
//! spelling, and the WebSocket probes. Each venue fills one [`ProbeSpec`] in
//! its `probe.rs`; the doctor drives and judges them (`doctor::venue`).

use super::instruments::RestInstrument;
use crate::config::Config;

/// One instrument as the venue lists it: its symbol and trading state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub symbol: String,
    pub status: String,
}

/// One WebSocket probe: the check's name, the URL, the subscribe request to
/// send first (none: the URL names the stream), how to tell stream data and
/// a refusal.
pub struct WsProbe {
    pub name: String,
    pub url: String,
    pub subscribe: Option<String>,
    pub is_data: fn(&str) -> bool,
    pub refusal: fn(&str) -> Option<String>,
}

/// One page of an instrument list: what it lists and the next cursor.
pub type Page = (Vec<Listed>, String);

/// How one venue is probed.
pub struct ProbeSpec {
    pub time_url: fn(&str) -> String,
    pub parse_time: fn(&[u8]) -> Result<i64, String>,
    /// The venue's error body as text, if the body is one.
    pub error_text: fn(&[u8]) -> Option<String>,
    /// The instruments URL of one page (`cursor` empty: the first).
    pub instruments_url: fn(&str, &str) -> String,
    /// One page: what it lists and the next cursor (empty: the last page).
    pub parse_instruments: fn(&[u8]) -> Result<Page, String>,
    /// The state an instrument must be in to trade, as the venue spells it.
    pub trading: &'static str,
    /// What `rest_url` must be.
    pub rest_hint: &'static str,
    /// The WebSocket probes of the venue's section for one symbol.
    pub ws: fn(&Config, &str) -> Vec<WsProbe>,
}

/// A probe whose stream never refuses in-band.
pub fn no_refusal(_: &str) -> Option<String> {
    None
}

/// REST instruments as listed ones.
pub fn listed(v: Vec<RestInstrument>) -> Vec<Listed> {
    v.into_iter()
        .map(|i| Listed {
            symbol: i.symbol,
            status: i.status,
        })
        .collect()
}
