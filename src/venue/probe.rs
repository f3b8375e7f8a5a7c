//! What the doctor needs to probe one venue, as data: the server-time and
//! instrument-list endpoints with their parsers, the trading state's
//! spelling, and the WebSocket probes. Each venue fills one [`ProbeSpec`] in
//! its `probe.rs`; the doctor drives and judges them (`doctor::venue`).

use super::instruments::RestInstrument;
use crate::config::Config;
use crate::core::venue_error::{Disposition, VenueError};

/// Why a probe's answer could not be used. The doctor renders it (its
/// `Display` is the detail a check shows); [`ProbeError::disposition`] says
/// what a caller would do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The body is not the endpoint's answer at all (a proxy page, another
    /// API): `what` is the body expected (`a Binance time body`).
    #[error("not {what} ({detail}): {body}")]
    NotTheBody {
        what: &'static str,
        detail: String,
        body: String,
    },
    /// The endpoint's body without a field it must have.
    #[error("{what} without {field}: {body}")]
    Missing {
        what: &'static str,
        field: &'static str,
        body: String,
    },
    /// The venue refused the request with its own error code in the body,
    /// written the venue's way (`label` is `retCode` or `code`).
    #[error("{label} {code}: {msg}")]
    Refused {
        label: &'static str,
        code: i64,
        msg: String,
    },
    /// The venue refused (a subscription, or a request with a code that is
    /// no number) and said only this.
    #[error("{msg}")]
    RefusedText { msg: String },
    /// The instrument list could not be read.
    #[error("{0}")]
    Instruments(String),
}

impl ProbeError {
    /// The venue error it is, if the venue refused the request by its own
    /// code (`VenueError::Refused`).
    pub fn venue_error(&self) -> Option<VenueError> {
        match self {
            ProbeError::Refused { code, msg, .. } => Some(VenueError::Refused {
                code: *code,
                msg: msg.clone(),
            }),
            _ => None,
        }
    }

    /// What a caller does about it: a venue refusal is the venue's (see
    /// [`VenueError::disposition`]); a body that is not the endpoint's
    /// answer will not change by asking again (`rest_url` is wrong): reject.
    pub fn disposition(&self) -> Disposition {
        self.venue_error()
            .map_or(Disposition::Reject, |e| e.disposition())
    }

    /// The first 120 bytes of a body, as text (what an error shows of it).
    pub fn clip(body: &[u8]) -> String {
        String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned()
    }
}

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
    pub refusal: fn(&str) -> Option<ProbeError>,
}

/// One page of an instrument list: what it lists and the next cursor.
pub type Page = (Vec<Listed>, String);

/// How one venue is probed.
pub struct ProbeSpec {
    pub time_url: fn(&str) -> String,
    pub parse_time: fn(&[u8]) -> Result<i64, ProbeError>,
    /// The venue's error body (`ProbeError::Refused`), if the body is one.
    pub error_text: fn(&[u8]) -> Option<ProbeError>,
    /// The instruments URL of one page (`cursor` empty: the first).
    pub instruments_url: fn(&str, &str) -> String,
    /// One page: what it lists and the next cursor (empty: the last page).
    pub parse_instruments: fn(&[u8]) -> Result<Page, ProbeError>,
    /// The state an instrument must be in to trade, as the venue spells it.
    pub trading: &'static str,
    /// What `rest_url` must be.
    pub rest_hint: &'static str,
    /// The WebSocket probes of the venue's section for one symbol.
    pub ws: fn(&Config, &str) -> Vec<WsProbe>,
}

/// A probe whose stream never refuses in-band.
pub fn no_refusal(_: &str) -> Option<ProbeError> {
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
