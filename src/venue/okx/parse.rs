//! OKX v5 public wire format: `books` / `books5` (snapshot then updates,
//! with `seqId`, `prevSeqId` and `checksum`), `bbo-tbt`, `trades`,
//! `tickers`, and the `event` replies (subscribe, unsubscribe, error,
//! notice). Levels keep their original price and size strings inline (for
//! the checksum) next to the scaled values; sizes in contracts become base
//! quantities via ctVal. Parsed with simd-json into a reused tape: no
//! allocation per message once buffers are warm. The text `pong` reply is
//! not JSON and is recognised by the feed before parsing.

use super::book::{InlineStr, StrLevel};
use crate::core::{Bbo, InstrumentId, Level, Side, Trade};
use crate::venue::error::ParseError;
use crate::venue::symbols::{WireInfo, WireSymbols};
use crate::venue::tape::{elems, fields, int_at, str_at};
use simd_json::{Buffers, tape::Tape};

/// Which book channel a book message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BookChannel {
    /// `books`: 400 levels, snapshot then incremental, checksum.
    #[default]
    Books,
    /// `books5`: a 5-level snapshot every push.
    Books5,
}

/// One book message in scaled integers with the wire strings.
#[derive(Debug, Clone, Default)]
pub struct BookMsg {
    pub inst: InstrumentId,
    pub channel: BookChannel,
    pub exch_ms: i64,
    /// `action == "snapshot"` (books5 is always a snapshot).
    pub snapshot: bool,
    /// `seqId` / `prevSeqId` (absent in captures older than 2022).
    pub seq: Option<i64>,
    pub prev_seq: Option<i64>,
    /// `checksum`; 0 or absent = no checksum.
    pub checksum: i64,
    pub bids: Vec<StrLevel>,
    pub asks: Vec<StrLevel>,
}

/// An `event` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Subscribe,
    Unsubscribe,
    /// `{"event":"error","code":"60012",...}`.
    Error {
        code: i64,
    },
    /// `{"event":"notice","code":"64008",...}`: service upgrade ahead.
    Notice {
        code: i64,
    },
    Other,
}

/// What one frame held. `Book` leaves the message in [`Parser::book`],
/// `Trades` in [`Parser::trades`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    Book,
    Bbo {
        inst: InstrumentId,
        exch_ms: i64,
        bbo: Bbo,
        /// From `tickers` (else `bbo-tbt`).
        ticker: bool,
    },
    Trades,
    Event(Event),
    Ignored,
}

pub struct Parser {
    scratch: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    pub book: BookMsg,
    pub trades: Vec<(InstrumentId, i64, Trade)>,
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
            buffers: Buffers::new(64 * 1024),
            tape: Some(Tape::null().reset()),
            book: BookMsg {
                bids: Vec::with_capacity(512),
                asks: Vec::with_capacity(512),
                ..Default::default()
            },
            trades: Vec::with_capacity(64),
        }
    }

    /// Parses one WebSocket text frame (not the text `pong`).
    pub fn parse(&mut self, frame: &[u8], syms: &WireSymbols) -> Result<Msg, ParseError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(frame);
        let mut tape = self.tape.take().unwrap_or_else(|| Tape::null().reset());
        let result = match simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape) {
            Ok(()) => walk(&tape.0, syms, &mut self.book, &mut self.trades),
            Err(_) => Err(ParseError::Json),
        };
        self.tape = Some(tape.reset());
        result
    }
}

type Nodes<'t, 'i> = &'t [simd_json::tape::Node<'i>];

fn walk(
    t: Nodes<'_, '_>,
    syms: &WireSymbols,
    book: &mut BookMsg,
    trades: &mut Vec<(InstrumentId, i64, Trade)>,
) -> Result<Msg, ParseError> {
    if !matches!(t.first(), Some(simd_json::tape::Node::Object { .. })) {
        return Err(ParseError::Shape("frame is not an object"));
    }
    let (mut arg, mut action, mut data, mut event, mut code) = (None, None, None, None, None);
    for (k, v) in fields(t, 0) {
        match k {
            "arg" => arg = Some(v),
            "action" => action = str_at(t, v),
            "data" => data = Some(v),
            "event" => event = str_at(t, v),
            "code" => code = int_at(t, v),
            _ => {}
        }
    }
    if let Some(e) = event {
        let code = code.unwrap_or(0);
        return Ok(Msg::Event(match e {
            "subscribe" => Event::Subscribe,
            "unsubscribe" => Event::Unsubscribe,
            "error" => Event::Error { code },
            "notice" => Event::Notice { code },
            _ => Event::Other,
        }));
    }
    let arg = arg.ok_or(ParseError::Shape("frame without `arg` or `event`"))?;
    let (mut channel, mut inst_id) = (None, None);
    for (k, v) in fields(t, arg) {
        match k {
            "channel" => channel = str_at(t, v),
            "instId" => inst_id = str_at(t, v),
            _ => {}
        }
    }
    let channel = channel.ok_or(ParseError::Shape("missing `arg.channel`"))?;
    let data = data.ok_or(ParseError::Shape("missing `data`"))?;
    if !matches!(t.get(data), Some(simd_json::tape::Node::Array { .. })) {
        return Err(ParseError::Shape("`data` is not an array"));
    }
    match channel {
        "books" | "books5" | "books-l2-tbt" | "books50-l2-tbt" => {
            let sym = inst_id.ok_or(ParseError::Shape("missing `arg.instId`"))?;
            let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
            let el = elems(t, data)
                .next()
                .ok_or(ParseError::Shape("empty book `data`"))?;
            book.bids.clear();
            book.asks.clear();
            book.inst = info.id;
            book.channel = if channel == "books5" {
                BookChannel::Books5
            } else {
                BookChannel::Books
            };
            book.snapshot = channel == "books5" || action == Some("snapshot");
            if channel != "books5" && !matches!(action, Some("snapshot") | Some("update")) {
                return Err(ParseError::Shape("book `action` is not snapshot/update"));
            }
            book.seq = None;
            book.prev_seq = None;
            book.checksum = 0;
            book.exch_ms = 0;
            let (mut b, mut a) = (None, None);
            for (k, v) in fields(t, el) {
                match k {
                    "bids" => b = Some(v),
                    "asks" => a = Some(v),
                    "ts" => book.exch_ms = int_at(t, v).unwrap_or(0),
                    "checksum" => book.checksum = int_at(t, v).unwrap_or(0),
                    "seqId" => book.seq = int_at(t, v),
                    "prevSeqId" => book.prev_seq = int_at(t, v),
                    _ => {}
                }
            }
            str_levels(
                t,
                b.ok_or(ParseError::Shape("missing `bids`"))?,
                info,
                &mut book.bids,
            )?;
            str_levels(
                t,
                a.ok_or(ParseError::Shape("missing `asks`"))?,
                info,
                &mut book.asks,
            )?;
            Ok(Msg::Book)
        }
        "bbo-tbt" => {
            let sym = inst_id.ok_or(ParseError::Shape("missing `arg.instId`"))?;
            let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
            let el = elems(t, data)
                .next()
                .ok_or(ParseError::Shape("empty bbo `data`"))?;
            let (mut bid, mut ask, mut ts, mut seq) = (None, None, 0, 0);
            for (k, v) in fields(t, el) {
                match k {
                    "bids" => bid = first_level(t, v, info)?,
                    "asks" => ask = first_level(t, v, info)?,
                    "ts" => ts = int_at(t, v).unwrap_or(0),
                    "seqId" => seq = int_at(t, v).unwrap_or(0),
                    _ => {}
                }
            }
            let (Some(bid), Some(ask)) = (bid, ask) else {
                return Ok(Msg::Ignored);
            };
            Ok(Msg::Bbo {
                inst: info.id,
                exch_ms: ts,
                bbo: Bbo {
                    bid,
                    ask,
                    update_id: seq.max(0) as u64,
                },
                ticker: false,
            })
        }
        "trades" | "trades-all" => {
            trades.clear();
            for el in elems(t, data) {
                let (mut id, mut px, mut sz, mut side, mut ts, mut tid) =
                    (None, None, None, None, 0, 0u64);
                for (k, v) in fields(t, el) {
                    match k {
                        "instId" => id = str_at(t, v),
                        "px" => px = str_at(t, v),
                        "sz" => sz = str_at(t, v),
                        "side" => side = str_at(t, v),
                        "ts" => ts = int_at(t, v).unwrap_or(0),
                        "tradeId" => tid = int_at(t, v).unwrap_or(0).max(0) as u64,
                        _ => {}
                    }
                }
                let sym = id
                    .or(inst_id)
                    .ok_or(ParseError::Shape("trade without instId"))?;
                let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
                let aggressor = match side {
                    Some("buy") => Side::Buy,
                    Some("sell") => Side::Sell,
                    _ => return Err(ParseError::Shape("trade `side` is not buy/sell")),
                };
                trades.push((
                    info.id,
                    ts,
                    Trade {
                        px: px
                            .and_then(|s| info.px(s.as_bytes()))
                            .ok_or(ParseError::Decimal("px"))?,
                        qty: sz
                            .and_then(|s| info.qty(s.as_bytes()))
                            .ok_or(ParseError::Decimal("sz"))?,
                        aggressor,
                        trade_id: tid,
                    },
                ));
            }
            Ok(Msg::Trades)
        }
        "tickers" => {
            let sym = inst_id.ok_or(ParseError::Shape("missing `arg.instId`"))?;
            let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
            let Some(el) = elems(t, data).next() else {
                return Ok(Msg::Ignored);
            };
            let (mut bp, mut bs, mut ap, mut az, mut ts) = (None, None, None, None, 0);
            for (k, v) in fields(t, el) {
                match k {
                    "bidPx" => bp = str_at(t, v).and_then(|s| info.px(s.as_bytes())),
                    "bidSz" => bs = str_at(t, v).and_then(|s| info.qty(s.as_bytes())),
                    "askPx" => ap = str_at(t, v).and_then(|s| info.px(s.as_bytes())),
                    "askSz" => az = str_at(t, v).and_then(|s| info.qty(s.as_bytes())),
                    "ts" => ts = int_at(t, v).unwrap_or(0),
                    _ => {}
                }
            }
            match (bp, bs, ap, az) {
                (Some(bp), Some(bs), Some(ap), Some(az)) => Ok(Msg::Bbo {
                    inst: info.id,
                    exch_ms: ts,
                    bbo: Bbo {
                        bid: Level { px: bp, qty: bs },
                        ask: Level { px: ap, qty: az },
                        update_id: 0,
                    },
                    ticker: true,
                }),
                _ => Ok(Msg::Ignored),
            }
        }
        _ => Ok(Msg::Ignored),
    }
}

fn first_level(t: Nodes<'_, '_>, arr: usize, info: WireInfo) -> Result<Option<Level>, ParseError> {
    let Some(l) = elems(t, arr).next() else {
        return Ok(None);
    };
    let mut it = elems(t, l);
    let (Some(pi), Some(qi)) = (it.next(), it.next()) else {
        return Err(ParseError::Shape("level is not [px, sz, ...]"));
    };
    let px = str_at(t, pi)
        .and_then(|s| info.px(s.as_bytes()))
        .ok_or(ParseError::Decimal("price"))?;
    let qty = str_at(t, qi)
        .and_then(|s| info.qty(s.as_bytes()))
        .ok_or(ParseError::Decimal("size"))?;
    Ok(Some(Level { px, qty }))
}

fn str_levels(
    t: Nodes<'_, '_>,
    arr: usize,
    info: WireInfo,
    out: &mut Vec<StrLevel>,
) -> Result<(), ParseError> {
    if !matches!(t.get(arr), Some(simd_json::tape::Node::Array { .. })) {
        return Err(ParseError::Shape("levels are not an array"));
    }
    for lvl in elems(t, arr) {
        let mut it = elems(t, lvl);
        let (Some(pi), Some(qi)) = (it.next(), it.next()) else {
            return Err(ParseError::Shape("level is not [px, sz, ...]"));
        };
        let p = str_at(t, pi).ok_or(ParseError::Shape("price is not a string"))?;
        let q = str_at(t, qi).ok_or(ParseError::Shape("size is not a string"))?;
        out.push(StrLevel {
            px: info.px(p.as_bytes()).ok_or(ParseError::Decimal("price"))?,
            qty: info.qty(q.as_bytes()).ok_or(ParseError::Decimal("size"))?,
            px_str: InlineStr::new(p.as_bytes()).ok_or(ParseError::Decimal("price too long"))?,
            sz_str: InlineStr::new(q.as_bytes()).ok_or(ParseError::Decimal("size too long"))?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> WireSymbols {
        WireSymbols::from_entries([(
            "BTC-USDT-SWAP".to_string(),
            WireInfo {
                id: InstrumentId(1),
                price_scale: 1,
                // ctVal 0.01 BTC, lot 0.01 contracts: base scale 4.
                size_scale: 2,
                size_mult: 1,
            },
        )])
    }

    #[test]
    fn parses_channels_and_events() {
        let mut p = Parser::new();
        let s = syms();
        let f = br#"{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"update","data":[{"asks":[["30243.5","1.5","0","6"]],"bids":[],"ts":"1652400000000","checksum":-5,"prevSeqId":10,"seqId":17}]}"#;
        assert_eq!(p.parse(f, &s), Ok(Msg::Book));
        let b = &p.book;
        assert!(!b.snapshot);
        assert_eq!((b.seq, b.prev_seq, b.checksum), (Some(17), Some(10), -5));
        assert_eq!(b.asks[0].px, 302435);
        assert_eq!(b.asks[0].qty, 150);
        assert_eq!(b.asks[0].sz_str.as_bytes(), b"1.5");
        let f = br#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},"data":[{"asks":[["38632.4","727","0","22"]],"bids":[["38632.3","990","0","22"]],"ts":"1651761120004"}]}"#;
        assert!(matches!(p.parse(f, &s), Ok(Msg::Bbo { .. })));
        let f = br#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"148266905","px":"48938.5","sz":"5","side":"buy","ts":"1640131236050"}]}"#;
        assert_eq!(p.parse(f, &s), Ok(Msg::Trades));
        assert_eq!(p.trades[0].2.qty, 500);
        assert_eq!(p.trades[0].2.trade_id, 148266905);
        let f = br#"{"event":"notice","code":"64008","msg":"upgrade","connId":"a"}"#;
        assert_eq!(
            p.parse(f, &s),
            Ok(Msg::Event(Event::Notice { code: 64008 }))
        );
        let f = br#"{"event":"error","code":"60012","msg":"Invalid request"}"#;
        assert_eq!(p.parse(f, &s), Ok(Msg::Event(Event::Error { code: 60012 })));
        let f = br#"{"arg":{"channel":"books","instId":"ETH-USDT-SWAP"},"action":"update","data":[{"asks":[],"bids":[]}]}"#;
        assert_eq!(p.parse(f, &s), Err(ParseError::UnknownSymbol));
        assert_eq!(p.parse(b"pong", &s), Err(ParseError::Json));
    }
}
