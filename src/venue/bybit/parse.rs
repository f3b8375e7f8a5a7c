//! Bybit v5 public linear wire format: `orderbook.{depth}.{symbol}`
//! snapshots and deltas, `publicTrade.{symbol}`, `tickers.{symbol}`
//! (snapshot + delta, missing fields unchanged), ping/pong and subscribe
//! replies. Parsed with simd-json into a reused tape straight into
//! fixed-point levels: no allocation per message once buffers are warm.

use crate::core::{InstrumentId, Level, Side, Trade};
use crate::venue::error::ParseError;
use crate::venue::symbols::{WireInfo, WireSymbols};
use crate::venue::tape::{bool_at, elems, fields, int_at, str_at, u64_at};
use simd_json::{Buffers, tape::Tape};

/// One `orderbook.*` message in scaled integers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookMsg {
    pub inst: InstrumentId,
    pub exch_ms: i64,
    /// `type == "snapshot"`.
    pub snapshot: bool,
    /// Update id `u` (+1 per message within a topic; 1 = service restart).
    pub u: u64,
    /// Cross sequence `seq` (not contiguous).
    pub seq: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// Fields of a `tickers` message; `None` = absent (a delta leaves it unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickerMsg {
    pub inst: InstrumentId,
    pub exch_ms: i64,
    pub snapshot: bool,
    pub bid_px: Option<i64>,
    pub bid_qty: Option<i64>,
    pub ask_px: Option<i64>,
    pub ask_qty: Option<i64>,
    pub last_px: Option<i64>,
    pub mark_px: Option<i64>,
}

/// What one frame held. `Book` leaves the update in [`Parser::book`],
/// `Trades` in [`Parser::trades`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    Book,
    Trades,
    Ticker(TickerMsg),
    /// Reply to our `{"op":"ping"}`.
    Pong,
    /// Reply to subscribe/unsubscribe; `ok == false` is a rejection.
    OpReply {
        ok: bool,
        subscribe: bool,
    },
    Ignored,
}

/// Reusable parser state.
pub struct Parser {
    scratch: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    pub book: BookMsg,
    /// (instrument, trade time ms, trade) of the last `Trades` frame.
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
                bids: Vec::with_capacity(1024),
                asks: Vec::with_capacity(1024),
                ..Default::default()
            },
            trades: Vec::with_capacity(64),
        }
    }

    /// Parses one WebSocket text frame.
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

/// The symbol part of a topic (`orderbook.50.BTCUSDT` -> `BTCUSDT`).
pub fn topic_symbol(topic: &str) -> &str {
    topic.rsplit('.').next().unwrap_or(topic)
}

fn walk(
    t: Nodes<'_, '_>,
    syms: &WireSymbols,
    book: &mut BookMsg,
    trades: &mut Vec<(InstrumentId, i64, Trade)>,
) -> Result<Msg, ParseError> {
    if !matches!(t.first(), Some(simd_json::tape::Node::Object { .. })) {
        return Err(ParseError::Shape("frame is not an object"));
    }
    let (mut topic, mut typ, mut ts, mut data) = (None, None, None, None);
    let (mut op, mut success, mut ret_msg) = (None, None, None);
    for (k, v) in fields(t, 0) {
        match k {
            "topic" => topic = str_at(t, v),
            "type" => typ = str_at(t, v),
            "ts" => ts = int_at(t, v),
            "data" => data = Some(v),
            "op" => op = str_at(t, v),
            "success" => success = bool_at(t, v),
            "ret_msg" => ret_msg = str_at(t, v),
            _ => {}
        }
    }
    let Some(topic) = topic else {
        return Ok(match op {
            Some("ping") | Some("pong") => {
                if success == Some(false) {
                    Msg::Ignored
                } else {
                    Msg::Pong
                }
            }
            Some("subscribe") => Msg::OpReply {
                ok: success.unwrap_or(false),
                subscribe: true,
            },
            Some("unsubscribe") => Msg::OpReply {
                ok: success.unwrap_or(false),
                subscribe: false,
            },
            _ if ret_msg == Some("pong") => Msg::Pong,
            _ => Msg::Ignored,
        });
    };
    let data = data.ok_or(ParseError::Shape("data frame without `data`"))?;
    let exch_ms = ts.unwrap_or(0);
    let snapshot = match typ {
        Some("snapshot") => true,
        Some("delta") => false,
        _ => return Err(ParseError::Shape("missing or unknown `type`")),
    };
    let sym = topic_symbol(topic);
    if topic.starts_with("orderbook.") {
        let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
        book.bids.clear();
        book.asks.clear();
        book.inst = info.id;
        book.exch_ms = exch_ms;
        book.snapshot = snapshot;
        let (mut u, mut seq, mut b, mut a) = (None, None, None, None);
        for (k, v) in fields(t, data) {
            match k {
                "u" => u = u64_at(t, v),
                "seq" => seq = u64_at(t, v),
                "b" => b = Some(v),
                "a" => a = Some(v),
                _ => {}
            }
        }
        book.u = u.ok_or(ParseError::Shape("missing `u`"))?;
        book.seq = seq.unwrap_or(0);
        levels(
            t,
            b.ok_or(ParseError::Shape("missing `b`"))?,
            info,
            &mut book.bids,
        )?;
        levels(
            t,
            a.ok_or(ParseError::Shape("missing `a`"))?,
            info,
            &mut book.asks,
        )?;
        Ok(Msg::Book)
    } else if topic.starts_with("publicTrade.") {
        let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
        trades.clear();
        if !matches!(t.get(data), Some(simd_json::tape::Node::Array { .. })) {
            return Err(ParseError::Shape("publicTrade data is not an array"));
        }
        for el in elems(t, data) {
            let (mut tt, mut side, mut v, mut p, mut id) = (None, None, None, None, None);
            for (k, x) in fields(t, el) {
                match k {
                    "T" => tt = int_at(t, x),
                    "S" => side = str_at(t, x),
                    "v" => v = str_at(t, x),
                    "p" => p = str_at(t, x),
                    "i" => id = str_at(t, x),
                    _ => {}
                }
            }
            let aggressor = match side {
                Some("Buy") => Side::Buy,
                Some("Sell") => Side::Sell,
                _ => return Err(ParseError::Shape("trade side `S` is not Buy/Sell")),
            };
            let px = p
                .and_then(|s| info.px(s.as_bytes()))
                .ok_or(ParseError::Decimal("p"))?;
            let qty = v
                .and_then(|s| info.qty(s.as_bytes()))
                .ok_or(ParseError::Decimal("v"))?;
            trades.push((
                info.id,
                tt.unwrap_or(exch_ms),
                Trade {
                    px,
                    qty,
                    aggressor,
                    trade_id: id.map(id_hash).unwrap_or(0),
                },
            ));
        }
        Ok(Msg::Trades)
    } else if topic.starts_with("tickers.") {
        let info = syms.get(sym).ok_or(ParseError::UnknownSymbol)?;
        let mut m = TickerMsg {
            inst: info.id,
            exch_ms,
            snapshot,
            ..Default::default()
        };
        for (k, v) in fields(t, data) {
            let (slot, price) = match k {
                "bid1Price" => (&mut m.bid_px, true),
                "bid1Size" => (&mut m.bid_qty, false),
                "ask1Price" => (&mut m.ask_px, true),
                "ask1Size" => (&mut m.ask_qty, false),
                "lastPrice" => (&mut m.last_px, true),
                "markPrice" => (&mut m.mark_px, true),
                _ => continue,
            };
            let s = str_at(t, v).ok_or(ParseError::Shape("ticker field is not a string"))?;
            // Bybit sends "" for a field with no value yet.
            if s.is_empty() {
                continue;
            }
            let x = if price {
                info.px(s.as_bytes())
            } else {
                info.qty(s.as_bytes())
            };
            *slot = Some(x.ok_or(ParseError::Decimal("ticker"))?);
        }
        Ok(Msg::Ticker(m))
    } else {
        Ok(Msg::Ignored)
    }
}

/// A stable 64-bit id for a UUID trade id (FNV-1a).
fn id_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn levels(
    t: Nodes<'_, '_>,
    arr: usize,
    info: WireInfo,
    out: &mut Vec<Level>,
) -> Result<(), ParseError> {
    if !matches!(t.get(arr), Some(simd_json::tape::Node::Array { .. })) {
        return Err(ParseError::Shape("levels are not an array"));
    }
    for lvl in elems(t, arr) {
        let mut it = elems(t, lvl);
        let (Some(pi), Some(qi)) = (it.next(), it.next()) else {
            return Err(ParseError::Shape("level is not [price, size]"));
        };
        let p = str_at(t, pi).ok_or(ParseError::Shape("price is not a string"))?;
        let q = str_at(t, qi).ok_or(ParseError::Shape("size is not a string"))?;
        out.push(Level {
            px: info.px(p.as_bytes()).ok_or(ParseError::Decimal("price"))?,
            qty: info.qty(q.as_bytes()).ok_or(ParseError::Decimal("size"))?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> WireSymbols {
        WireSymbols::from_entries([(
            "BTCUSDT".to_string(),
            WireInfo {
                id: InstrumentId(3),
                price_scale: 2,
                size_scale: 3,
                size_mult: 1,
            },
        )])
    }

    #[test]
    fn parses_book_trade_ticker_and_control() {
        let mut p = Parser::new();
        let s = syms();
        let f = br#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":5,"data":{"s":"BTCUSDT","b":[["28552.00","0.012"]],"a":[["28553.1","0"]],"u":7,"seq":9},"cts":4}"#;
        assert_eq!(p.parse(f, &s), Ok(Msg::Book));
        assert!(!p.book.snapshot);
        assert_eq!((p.book.u, p.book.seq, p.book.exch_ms), (7, 9, 5));
        assert_eq!(
            p.book.bids,
            [Level {
                px: 2855200,
                qty: 12
            }]
        );
        assert_eq!(
            p.book.asks,
            [Level {
                px: 2855310,
                qty: 0
            }]
        );
        let f = br#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":2,"s":"BTCUSDT","S":"Sell","v":"0.5","p":"10.5","L":"x","i":"abc","BT":false}]}"#;
        assert_eq!(p.parse(f, &s), Ok(Msg::Trades));
        assert_eq!(p.trades.len(), 1);
        assert_eq!(p.trades[0].2.aggressor, Side::Sell);
        assert_eq!((p.trades[0].2.px, p.trades[0].2.qty), (1050, 500));
        let f = br#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"1.00","ask1Size":"2"},"cs":1,"ts":3}"#;
        match p.parse(f, &s) {
            Ok(Msg::Ticker(m)) => {
                assert_eq!(m.bid_px, Some(100));
                assert_eq!(m.ask_qty, Some(2000));
                assert_eq!(m.bid_qty, None);
            }
            other => panic!("{other:?}"),
        }
        let f = br#"{"success":true,"ret_msg":"pong","conn_id":"x","req_id":"","op":"ping"}"#;
        assert_eq!(p.parse(f, &s), Ok(Msg::Pong));
        let f = br#"{"success":false,"ret_msg":"error:handler not found,topic:orderbook.7.BTCUSDT","conn_id":"x","req_id":"1","op":"subscribe"}"#;
        assert_eq!(
            p.parse(f, &s),
            Ok(Msg::OpReply {
                ok: false,
                subscribe: true
            })
        );
        let f = br#"{"topic":"orderbook.50.ETHUSDT","type":"delta","ts":5,"data":{"s":"ETHUSDT","b":[],"a":[],"u":7,"seq":9}}"#;
        assert_eq!(p.parse(f, &s), Err(ParseError::UnknownSymbol));
        assert_eq!(p.parse(b"{\"topic\":", &s), Err(ParseError::Json));
        let f = br#"{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"b":[["x","1"]],"a":[],"u":7}}"#;
        assert!(matches!(p.parse(f, &s), Err(ParseError::Decimal(_))));
    }
}
