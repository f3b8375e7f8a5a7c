//! A socket-free source of Binance USD-M combined-stream frames: a seeded
//! random walk per symbol with a ground-truth book, consistent update ids
//! (`U`/`u`/`pu`, non-contiguous), bookTicker and aggTrade frames, and REST
//! depth snapshots on demand. It feeds the in-process pipeline (benches and
//! the memory soak test) where a WebSocket would only add noise.

use crate::decimal::format_decimal;
use crate::spec::{SimSymbol, sym_info};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt::Write as _;

struct GenSym {
    symbol: String,
    lower: String,
    price_scale: u8,
    qty_scale: u8,
    tick: i64,
    lot: i64,
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    /// Best bid price the walk aims at.
    ceil_bid: i64,
    last_u: u64,
    agg_id: u64,
}

/// A generated book: (last update id, bids best first, asks best first).
pub type GenBook = (u64, Vec<(i64, i64)>, Vec<(i64, i64)>);

/// Deterministic Binance frame generator (same seed, same frames).
pub struct FrameGen {
    syms: Vec<GenSym>,
    rng: SmallRng,
    update_id: u64,
    levels: usize,
    next_sym: usize,
    now_ms: i64,
    text: String,
}

impl FrameGen {
    /// `symbols` (tick, lot and start price as the simulator's spec has
    /// them); `levels` per book side. Fails on a symbol the simulator would
    /// refuse to start with.
    pub fn new(symbols: &[SimSymbol], seed: u64, levels: usize) -> anyhow::Result<FrameGen> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut syms = Vec::new();
        for spec in symbols {
            let i = sym_info(spec)?;
            let start = spec.start_price;
            let scaled = start * crate::decimal::pow10(i.price_scale) as f64;
            let ceil_bid = ((scaled / i.tick as f64) as i64).max(levels as i64 + 2) * i.tick;
            let mut s = GenSym {
                symbol: i.symbol.clone(),
                lower: i.symbol.to_ascii_lowercase(),
                price_scale: i.price_scale,
                qty_scale: i.qty_scale,
                tick: i.tick,
                lot: i.lot,
                bids: BTreeMap::new(),
                asks: BTreeMap::new(),
                ceil_bid,
                last_u: 0,
                agg_id: 0,
            };
            for k in 0..levels as i64 {
                s.bids
                    .insert(ceil_bid - k * i.tick, i.lot * rng.random_range(1..100));
                s.asks.insert(
                    ceil_bid + (k + 1) * i.tick,
                    i.lot * rng.random_range(1..100),
                );
            }
            syms.push(s);
        }
        Ok(FrameGen {
            syms,
            rng,
            update_id: 1_000_000,
            levels,
            next_sym: 0,
            now_ms: 1_700_000_000_000,
            text: String::with_capacity(4096),
        })
    }

    /// Writes the next frame (depth ~50%, bookTicker ~35%, aggTrade ~15%,
    /// symbols in turn) into `out`, replacing its contents.
    pub fn next_frame(&mut self, out: &mut Vec<u8>) {
        self.now_ms += 1;
        let idx = self.next_sym;
        self.next_sym = (self.next_sym + 1) % self.syms.len().max(1);
        let roll: f64 = self.rng.random();
        self.text.clear();
        if roll < 0.5 {
            self.depth(idx);
        } else if roll < 0.85 {
            self.book_ticker(idx);
        } else {
            self.agg_trade(idx);
        }
        out.clear();
        out.extend_from_slice(self.text.as_bytes());
    }

    fn depth(&mut self, idx: usize) {
        let rng = &mut self.rng;
        let s = &mut self.syms[idx];
        let mut db: [(i64, i64); 12] = [(0, 0); 12];
        let mut da: [(i64, i64); 12] = [(0, 0); 12];
        let (mut nb, mut na) = (0usize, 0usize);
        if rng.random_bool(0.2) {
            let d = if rng.random_bool(0.5) {
                s.tick
            } else {
                -s.tick
            };
            s.ceil_bid += d;
        }
        let ceil = s.ceil_bid;
        let floor = ceil + s.tick;
        // Remove what would cross.
        while let Some((&p, _)) = s.bids.iter().next_back() {
            if p <= ceil || nb >= 4 {
                break;
            }
            s.bids.remove(&p);
            db[nb] = (p, 0);
            nb += 1;
        }
        while let Some((&p, _)) = s.asks.iter().next() {
            if p >= floor || na >= 4 {
                break;
            }
            s.asks.remove(&p);
            da[na] = (p, 0);
            na += 1;
        }
        for _ in 0..rng.random_range(2..8) {
            let bid = rng.random_bool(0.5);
            let k = rng.random_range(0..20);
            let q = if rng.random_bool(0.2) {
                0
            } else {
                s.lot * rng.random_range(1..100)
            };
            if bid && nb < 12 {
                let p = ceil - k * s.tick;
                if q == 0 && s.bids.len() <= self.levels / 2 {
                    continue;
                }
                set(&mut s.bids, p, q);
                db[nb] = (p, q);
                nb += 1;
            } else if !bid && na < 12 {
                let p = floor + k * s.tick;
                if q == 0 && s.asks.len() <= self.levels / 2 {
                    continue;
                }
                set(&mut s.asks, p, q);
                da[na] = (p, q);
                na += 1;
            }
        }
        // Keep each side at most `levels` deep, publishing the trims.
        while s.bids.len() > self.levels && nb < 12 {
            let Some((&p, _)) = s.bids.iter().next() else {
                break;
            };
            s.bids.remove(&p);
            db[nb] = (p, 0);
            nb += 1;
        }
        while s.asks.len() > self.levels && na < 12 {
            let Some((&p, _)) = s.asks.iter().next_back() else {
                break;
            };
            s.asks.remove(&p);
            da[na] = (p, 0);
            na += 1;
        }
        let first = self.update_id + rng.random_range(2..20);
        let last = first + rng.random_range(0..20);
        self.update_id = last;
        let prev = s.last_u;
        s.last_u = last;
        let t = &mut self.text;
        let _ = write!(
            t,
            r#"{{"stream":"{}@depth@100ms","data":{{"e":"depthUpdate","E":{},"T":{},"s":"{}","U":{},"u":{},"pu":{},"b":["#,
            s.lower, self.now_ms, self.now_ms, s.symbol, first, last, prev
        );
        levels_json(t, &db[..nb], s.price_scale, s.qty_scale);
        t.push_str(r#"],"a":["#);
        levels_json(t, &da[..na], s.price_scale, s.qty_scale);
        t.push_str("]}}");
    }

    fn book_ticker(&mut self, idx: usize) {
        let s = &self.syms[idx];
        let (Some((bp, bq)), Some((ap, aq))) = (s.bids.iter().next_back(), s.asks.iter().next())
        else {
            return;
        };
        let _ = write!(
            self.text,
            r#"{{"stream":"{}@bookTicker","data":{{"e":"bookTicker","u":{},"s":"{}","b":"{}","B":"{}","a":"{}","A":"{}","T":{},"E":{}}}}}"#,
            s.lower,
            s.last_u,
            s.symbol,
            format_decimal(*bp, s.price_scale),
            format_decimal(*bq, s.qty_scale),
            format_decimal(*ap, s.price_scale),
            format_decimal(*aq, s.qty_scale),
            self.now_ms,
            self.now_ms
        );
    }

    fn agg_trade(&mut self, idx: usize) {
        let buy = self.rng.random_bool(0.5);
        let s = &mut self.syms[idx];
        let px = if buy {
            s.asks.keys().next()
        } else {
            s.bids.keys().next_back()
        };
        let Some(&px) = px else { return };
        s.agg_id += 1;
        let _ = write!(
            self.text,
            r#"{{"stream":"{}@aggTrade","data":{{"e":"aggTrade","E":{},"a":{},"s":"{}","p":"{}","q":"{}","f":{},"l":{},"T":{},"m":{}}}}}"#,
            s.lower,
            self.now_ms,
            s.agg_id,
            s.symbol,
            format_decimal(px, s.price_scale),
            format_decimal(s.lot, s.qty_scale),
            s.agg_id * 2,
            s.agg_id * 2 + 1,
            self.now_ms,
            !buy
        );
    }

    /// The REST `/fapi/v1/depth` body for `symbol` at its last update id.
    pub fn snapshot(&self, symbol: &str) -> Option<Vec<u8>> {
        let s = self.syms.iter().find(|s| s.symbol == symbol)?;
        let mut t = String::with_capacity(64 + 32 * (s.bids.len() + s.asks.len()));
        let _ = write!(
            t,
            r#"{{"lastUpdateId":{},"E":{},"T":{},"bids":["#,
            s.last_u, self.now_ms, self.now_ms
        );
        let bids: Vec<(i64, i64)> = s.bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
        levels_json(&mut t, &bids, s.price_scale, s.qty_scale);
        t.push_str(r#"],"asks":["#);
        let asks: Vec<(i64, i64)> = s.asks.iter().map(|(p, q)| (*p, *q)).collect();
        levels_json(&mut t, &asks, s.price_scale, s.qty_scale);
        t.push_str("]}");
        Some(t.into_bytes())
    }

    /// The ground-truth book: (last update id, bids best first, asks best first).
    pub fn book(&self, symbol: &str) -> Option<GenBook> {
        let s = self.syms.iter().find(|s| s.symbol == symbol)?;
        Some((
            s.last_u,
            s.bids.iter().rev().map(|(p, q)| (*p, *q)).collect(),
            s.asks.iter().map(|(p, q)| (*p, *q)).collect(),
        ))
    }
}

fn set(side: &mut BTreeMap<i64, i64>, px: i64, qty: i64) {
    if qty == 0 {
        side.remove(&px);
    } else {
        side.insert(px, qty);
    }
}

fn levels_json(t: &mut String, levels: &[(i64, i64)], ps: u8, qs: u8) {
    for (k, (p, q)) in levels.iter().enumerate() {
        if k > 0 {
            t.push(',');
        }
        let _ = write!(
            t,
            r#"["{}","{}"]"#,
            format_decimal(*p, ps),
            format_decimal(*q, qs)
        );
    }
}
