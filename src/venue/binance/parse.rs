//! Binance USD-M market-data wire format: combined-stream frames
//! (`{"stream":..,"data":..}`) or raw ones, `depthUpdate`, `bookTicker`,
//! `aggTrade`, `trade`, subscribe acks and error bodies, and the REST depth
//! snapshot. The compact market-data frames go through a single-pass
//! scanner (`fast`) straight into fixed-point levels; anything else (and
//! every frame the scanner declines) through simd-json into a reused tape.
//! Both give the same result; no allocation per message once buffers are
//! warm.

use super::fast;
use super::msg::SymInfo;
pub use super::msg::{DepthMsg, Msg, SymbolMap};
use crate::core::{Bbo, InstrumentId, Level, Side, Trade, parse_decimal};
use crate::venue::tape::{bool_at, elems, fields, int_at, str_at, u64_at};
use simd_json::{Buffers, tape::Tape};

/// Why a frame was refused (shared by every venue's parser).
pub use crate::venue::error::ParseError;

/// Reusable parser state (scratch copy of the frame, simd-json buffers, tape,
/// the fast path's level buffers, and the last depth update).
pub struct Parser {
    scratch: Vec<u8>,
    /// Levels the fast path fills; swapped into `depth` only on success, so
    /// `depth` always holds the last frame that returned [`Msg::Depth`].
    fast_bids: Vec<Level>,
    fast_asks: Vec<Level>,
    /// Frames the fast path handed to the full simd-json path.
    fallbacks: u64,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    /// The depth update of the last frame that returned [`Msg::Depth`].
    pub depth: DepthMsg,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            scratch: Vec::with_capacity(64 * 1024),
            fast_bids: Vec::with_capacity(1024),
            fast_asks: Vec::with_capacity(1024),
            fallbacks: 0,
            buffers: Buffers::new(64 * 1024),
            tape: Some(Tape::null().reset()),
            depth: DepthMsg {
                bids: Vec::with_capacity(1024),
                asks: Vec::with_capacity(1024),
                ..Default::default()
            },
        }
    }

    /// Parses one WebSocket text frame: Binance's compact market-data frames
    /// through the single-pass scanner (`fast`), anything else (other
    /// messages, whitespace, escapes, malformed input) through simd-json, with
    /// the same result either way.
    #[inline]
    pub fn parse(&mut self, frame: &[u8], syms: &SymbolMap) -> Result<Msg, ParseError> {
        if let Some(msg) = fast::parse(
            frame,
            syms,
            &mut self.fast_bids,
            &mut self.fast_asks,
            &mut self.depth,
        ) {
            return self.refuse_negative(msg);
        }
        self.fallbacks += 1;
        self.parse_full(frame, syms)
    }

    /// A price or quantity below zero is never a market fact: the frame is
    /// refused (a corrupted frame must not put a negative level in a book).
    #[inline]
    fn refuse_negative(&self, msg: Msg) -> Result<Msg, ParseError> {
        let neg = |l: &Level| l.px < 0 || l.qty < 0;
        let bad = match &msg {
            Msg::Depth => self.depth.bids.iter().chain(&self.depth.asks).any(neg),
            Msg::Bbo { bbo, .. } => neg(&bbo.bid) || neg(&bbo.ask),
            Msg::Trade { trade, .. } => trade.px < 0 || trade.qty < 0,
            _ => false,
        };
        if bad {
            Err(ParseError::Decimal("negative price or quantity"))
        } else {
            Ok(msg)
        }
    }

    /// How many frames [`Parser::parse`] handed to the full simd-json path.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks
    }

    /// Parses one frame with simd-json only (the reference the fast path is
    /// tested against, and its fallback).
    pub fn parse_full(&mut self, frame: &[u8], syms: &SymbolMap) -> Result<Msg, ParseError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(frame);
        let mut tape = self.tape.take().unwrap_or_else(|| Tape::null().reset());
        let result = match simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape) {
            Ok(()) => walk_frame(&tape.0, syms, &mut self.depth),
            Err(_) => Err(ParseError::Json),
        };
        self.tape = Some(tape.reset());
        result.and_then(|m| self.refuse_negative(m))
    }

    /// Parses a REST `/fapi/v1/depth` body into [`Parser::depth`].
    pub fn parse_snapshot(
        &mut self,
        body: &[u8],
        inst: InstrumentId,
        syms: &SymbolMap,
        symbol: &str,
    ) -> Result<(), ParseError> {
        let info = syms.get(symbol).ok_or(ParseError::UnknownSymbol)?;
        self.scratch.clear();
        self.scratch.extend_from_slice(body);
        let mut tape = self.tape.take().unwrap_or_else(|| Tape::null().reset());
        let result = match simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape) {
            Ok(()) => walk_snapshot(&tape.0, info, inst, &mut self.depth),
            Err(_) => Err(ParseError::Json),
        };
        self.tape = Some(tape.reset());
        result.and_then(|()| self.refuse_negative(Msg::Depth).map(|_| ()))
    }
}

type Nodes<'t, 'i> = &'t [simd_json::tape::Node<'i>];

fn walk_frame(t: Nodes<'_, '_>, syms: &SymbolMap, depth: &mut DepthMsg) -> Result<Msg, ParseError> {
    if !matches!(t.first(), Some(simd_json::tape::Node::Object { .. })) {
        return Err(ParseError::Shape("frame is not an object"));
    }
    let mut data = None;
    let mut has_stream = false;
    let mut result_seen = false;
    let mut id = None;
    let mut code = None;
    for (k, v) in fields(t, 0) {
        match k {
            "stream" => has_stream = true,
            "data" => data = Some(v),
            "result" => result_seen = true,
            "id" => id = int_at(t, v),
            "code" => code = int_at(t, v),
            _ => {}
        }
    }
    if let Some(code) = code {
        return Ok(Msg::VenueError { code });
    }
    if result_seen {
        return Ok(Msg::Ack {
            id: id.unwrap_or(0),
        });
    }
    let obj = match (has_stream, data) {
        (true, Some(d)) => d,
        (true, None) => return Err(ParseError::Shape("combined frame without data")),
        _ => 0,
    };
    walk_event(t, obj, syms, depth)
}

/// Indices of the fields an event may carry.
#[derive(Default)]
struct EventFields {
    e: Option<usize>,
    s: Option<usize>,
    big_e: Option<usize>,
    big_t: Option<usize>,
    big_u: Option<usize>,
    u: Option<usize>,
    pu: Option<usize>,
    b: Option<usize>,
    a: Option<usize>,
    big_b: Option<usize>,
    big_a: Option<usize>,
    p: Option<usize>,
    q: Option<usize>,
    m: Option<usize>,
    t: Option<usize>,
}

fn walk_event(
    t: Nodes<'_, '_>,
    obj: usize,
    syms: &SymbolMap,
    depth: &mut DepthMsg,
) -> Result<Msg, ParseError> {
    let mut f = EventFields::default();
    for (k, v) in fields(t, obj) {
        let slot = match k {
            "e" => &mut f.e,
            "s" => &mut f.s,
            "E" => &mut f.big_e,
            "T" => &mut f.big_t,
            "U" => &mut f.big_u,
            "u" => &mut f.u,
            "pu" => &mut f.pu,
            "b" => &mut f.b,
            "a" => &mut f.a,
            "B" => &mut f.big_b,
            "A" => &mut f.big_a,
            "p" => &mut f.p,
            "q" => &mut f.q,
            "m" => &mut f.m,
            "t" => &mut f.t,
            _ => continue,
        };
        *slot = Some(v);
    }
    // aggTrade's `a` is the aggregate id (an int), not the asks array.
    let kind = f.e.and_then(|i| str_at(t, i));
    let kind = match kind {
        Some(k) => k,
        // Spot bookTicker carries no `e`.
        None if f.big_b.is_some() && f.big_a.is_some() => "bookTicker",
        None => return Ok(Msg::Ignored),
    };
    if !matches!(kind, "depthUpdate" | "bookTicker" | "aggTrade" | "trade") {
        return Ok(Msg::Ignored);
    }
    let sym =
        f.s.and_then(|i| str_at(t, i))
            .ok_or(ParseError::Shape("missing `s`"))?;
    let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
    let exch_ms = f.big_e.or(f.big_t).and_then(|i| int_at(t, i)).unwrap_or(0);
    match kind {
        "depthUpdate" => {
            depth.clear();
            depth.inst = info.id;
            depth.exch_ms = exch_ms;
            depth.first_id = f
                .big_u
                .and_then(|i| u64_at(t, i))
                .ok_or(ParseError::Shape("missing `U`"))?;
            depth.last_id =
                f.u.and_then(|i| u64_at(t, i))
                    .ok_or(ParseError::Shape("missing `u`"))?;
            // Spot diffs have no `pu`; continuity then uses U == prev u + 1.
            depth.prev_id = f.pu.and_then(|i| u64_at(t, i)).unwrap_or(u64::MAX);
            levels(
                t,
                f.b.ok_or(ParseError::Shape("missing `b`"))?,
                info,
                &mut depth.bids,
            )?;
            levels(
                t,
                f.a.ok_or(ParseError::Shape("missing `a`"))?,
                info,
                &mut depth.asks,
            )?;
            Ok(Msg::Depth)
        }
        "bookTicker" => {
            let px = |i: Option<usize>, w| -> Result<i64, ParseError> {
                let s = i.and_then(|i| str_at(t, i)).ok_or(ParseError::Shape(w))?;
                parse_decimal(s.as_bytes(), info.price_scale).map_err(|_| ParseError::Decimal(w))
            };
            let qty = |i: Option<usize>, w| -> Result<i64, ParseError> {
                let s = i.and_then(|i| str_at(t, i)).ok_or(ParseError::Shape(w))?;
                parse_decimal(s.as_bytes(), info.qty_scale).map_err(|_| ParseError::Decimal(w))
            };
            let bbo = Bbo {
                bid: Level {
                    px: px(f.b, "b")?,
                    qty: qty(f.big_b, "B")?,
                },
                ask: Level {
                    px: px(f.a, "a")?,
                    qty: qty(f.big_a, "A")?,
                },
                // Absent: 0; present: an unsigned integer, else refused.
                update_id: match f.u {
                    None => 0,
                    Some(i) => u64_at(t, i).ok_or(ParseError::Shape("`u` not an unsigned id"))?,
                },
            };
            Ok(Msg::Bbo {
                inst: info.id,
                exch_ms,
                bbo,
            })
        }
        _ => {
            let p =
                f.p.and_then(|i| str_at(t, i))
                    .ok_or(ParseError::Shape("missing `p`"))?;
            let q =
                f.q.and_then(|i| str_at(t, i))
                    .ok_or(ParseError::Shape("missing `q`"))?;
            let buyer_is_maker =
                f.m.and_then(|i| bool_at(t, i))
                    .ok_or(ParseError::Shape("missing `m`"))?;
            let id_field = if kind == "aggTrade" { f.a } else { f.t };
            let trade = Trade {
                px: parse_decimal(p.as_bytes(), info.price_scale)
                    .map_err(|_| ParseError::Decimal("p"))?,
                qty: parse_decimal(q.as_bytes(), info.qty_scale)
                    .map_err(|_| ParseError::Decimal("q"))?,
                // The buyer was the maker, so the taker sold.
                aggressor: if buyer_is_maker {
                    Side::Sell
                } else {
                    Side::Buy
                },
                trade_id: id_field.and_then(|i| u64_at(t, i)).unwrap_or(0),
            };
            let exch_ms = f.big_t.and_then(|i| int_at(t, i)).unwrap_or(exch_ms);
            Ok(Msg::Trade {
                inst: info.id,
                exch_ms,
                trade,
            })
        }
    }
}

fn levels(
    t: Nodes<'_, '_>,
    arr: usize,
    info: SymInfo,
    out: &mut Vec<Level>,
) -> Result<(), ParseError> {
    if !matches!(t.get(arr), Some(simd_json::tape::Node::Array { .. })) {
        return Err(ParseError::Shape("levels are not an array"));
    }
    for lvl in elems(t, arr) {
        let mut it = elems(t, lvl);
        let (Some(pi), Some(qi)) = (it.next(), it.next()) else {
            return Err(ParseError::Shape("level is not [price, qty]"));
        };
        let p = str_at(t, pi).ok_or(ParseError::Shape("price is not a string"))?;
        let q = str_at(t, qi).ok_or(ParseError::Shape("qty is not a string"))?;
        out.push(Level {
            px: parse_decimal(p.as_bytes(), info.price_scale)
                .map_err(|_| ParseError::Decimal("price"))?,
            qty: parse_decimal(q.as_bytes(), info.qty_scale)
                .map_err(|_| ParseError::Decimal("qty"))?,
        });
    }
    Ok(())
}

fn walk_snapshot(
    t: Nodes<'_, '_>,
    info: SymInfo,
    inst: InstrumentId,
    depth: &mut DepthMsg,
) -> Result<(), ParseError> {
    depth.clear();
    depth.inst = inst;
    let mut last = None;
    let (mut b, mut a) = (None, None);
    let mut code = None;
    for (k, v) in fields(t, 0) {
        match k {
            "lastUpdateId" => last = u64_at(t, v),
            "E" => depth.exch_ms = int_at(t, v).unwrap_or(0),
            "bids" => b = Some(v),
            "asks" => a = Some(v),
            "code" => code = int_at(t, v),
            _ => {}
        }
    }
    if code.is_some() {
        return Err(ParseError::Shape("venue error body"));
    }
    let last = last.ok_or(ParseError::Shape("missing lastUpdateId"))?;
    depth.first_id = last;
    depth.last_id = last;
    depth.prev_id = last;
    levels(
        t,
        b.ok_or(ParseError::Shape("missing bids"))?,
        info,
        &mut depth.bids,
    )?;
    levels(
        t,
        a.ok_or(ParseError::Shape("missing asks"))?,
        info,
        &mut depth.asks,
    )?;
    Ok(())
}
