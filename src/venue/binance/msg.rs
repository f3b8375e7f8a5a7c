//! What a Binance market-data frame parses into (scaled integers), and the
//! venue symbol -> instrument map both parsers (the single-pass scanner,
//! `fast`, and the simd-json walk, `parse`) read.

use crate::core::{Bbo, InstrumentId, InstrumentTable, Level, Trade, Venue};
use rustc_hash::FxHashMap;

/// A depth update (or REST snapshot) in scaled integers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepthMsg {
    pub inst: InstrumentId,
    pub exch_ms: i64,
    /// `U`: first update id in the event (snapshot: `lastUpdateId`).
    pub first_id: u64,
    /// `u`: final update id in the event (snapshot: `lastUpdateId`).
    pub last_id: u64,
    /// `pu`: final update id of the previous event.
    pub prev_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

impl DepthMsg {
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}

/// What one frame held. `Depth` leaves the update in
/// [`Parser::depth`](super::parse::Parser::depth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    Depth,
    Bbo {
        inst: InstrumentId,
        exch_ms: i64,
        bbo: Bbo,
    },
    Trade {
        inst: InstrumentId,
        exch_ms: i64,
        trade: Trade,
    },
    /// `{"result":null,"id":N}`: reply to SUBSCRIBE/UNSUBSCRIBE.
    Ack {
        id: i64,
    },
    /// `{"code":-1121,"msg":"..."}`.
    VenueError {
        code: i64,
    },
    /// A well-formed message of a kind the engine does not use.
    Ignored,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct SymInfo {
    pub(super) id: InstrumentId,
    pub(super) price_scale: u8,
    pub(super) qty_scale: u8,
}

/// Venue symbol -> instrument, for one venue.
#[derive(Debug, Clone, Default)]
pub struct SymbolMap {
    /// Keyed by the symbol's bytes, hashed with FxHash (a few instructions
    /// for a short key, against ~100 for SipHash; the keys come from the
    /// instrument table, not from the network).
    map: FxHashMap<Box<[u8]>, SymInfo>,
}

impl SymbolMap {
    pub fn new(table: &InstrumentTable, venue: Venue) -> SymbolMap {
        let map = table
            .of_venue(venue)
            .map(|i| {
                (
                    i.symbol.as_bytes().into(),
                    SymInfo {
                        id: i.id,
                        price_scale: i.price_scale,
                        qty_scale: i.qty_scale,
                    },
                )
            })
            .collect();
        SymbolMap { map }
    }

    #[inline]
    pub(super) fn get(&self, s: &str) -> Option<SymInfo> {
        self.get_bytes(s.as_bytes())
    }

    #[inline]
    pub(super) fn get_bytes(&self, s: &[u8]) -> Option<SymInfo> {
        self.map.get(s).copied()
    }
}
