//! Single-pass scanner for Binance's compact market-data frames
//! (`depthUpdate`, `bookTicker`, `trade`, `aggTrade`, combined or raw), the
//! fast path of [`super::Parser::parse`].
//!
//! It reads the bytes once, straight into fixed-point levels, with no copy
//! and no tape. It accepts only a strict subset of JSON (no whitespace, no
//! escapes, ASCII strings, no duplicate keys, scalar values for keys it does
//! not use, exactly `[price, qty]` string pairs) and only when every field
//! it needs is present with the type the full parser expects. Anything else,
//! including every malformed frame, returns `None` and the caller runs the
//! full simd-json path, which produces the result (or the counted error).
//! So an accepted frame gives exactly what the full path gives; the tests
//! check that on real captures, generated frames and random mutations.

use super::msg::{DepthMsg, Msg, SymInfo, SymbolMap};
use crate::core::fixed::pow10;
use crate::core::{Bbo, Level, Side, Trade, parse_decimal};

/// A value the scanner kept for a key the message kinds use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum V<'a> {
    Absent,
    Str(&'a [u8]),
    Int(u64),
    Bool(bool),
    /// `[[p,q],...]`, already converted into the bids or asks vector.
    Levels,
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    #[inline(always)]
    fn eat_lit(&mut self, lit: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + lit.len())? == lit {
            self.i += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes, control or non-ASCII bytes; the cursor is
    /// on its opening quote. Returns its contents.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            let c = self.peek()?;
            if c == b'"' {
                let s = &self.b[start..self.i];
                self.i += 1;
                return Some(s);
            }
            if c == b'\\' || !(0x20..0x80).contains(&c) {
                return None;
            }
            self.i += 1;
        }
    }

    /// An object key and its `:`. Binance's keys are mostly one byte: `"k":`
    /// is recognised by looking at four bytes at once.
    #[inline(always)]
    fn key(&mut self) -> Option<&'a [u8]> {
        if let Some(&[b'"', k, b'"', b':']) = self.b.get(self.i..self.i + 4)
            && k != b'"'
            && k != b'\\'
            && (0x20..0x80).contains(&k)
        {
            let key = &self.b[self.i + 1..self.i + 2];
            self.i += 4;
            return Some(key);
        }
        let key = self.string()?;
        self.eat(b':')?;
        Some(key)
    }

    /// A non-negative JSON integer (no fraction or exponent) that fits u64.
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        let first = self.peek()?;
        let v: u64 = match first {
            b'0' => {
                self.i += 1;
                0
            }
            b'1'..=b'9' => {
                self.i += 1;
                let mut v = (first - b'0') as u64;
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
                    self.i += 1;
                }
                v
            }
            _ => return None,
        };
        // A leading zero followed by digits is invalid JSON; a fraction or
        // exponent makes it a float, which the full path types differently.
        if matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E')) {
            return None;
        }
        Some(v)
    }

    /// A scalar JSON value of a key no message kind uses: an ASCII string
    /// without escapes, `true`/`false`/`null`, or a plain number (at most
    /// 18 integer and 17 fraction digits, no exponent: always valid for
    /// simd-json). Arrays and objects are not skipped.
    #[inline]
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b't' => self.eat_lit(b"true"),
            b'f' => self.eat_lit(b"false"),
            b'n' => self.eat_lit(b"null"),
            _ => {
                if self.peek()? == b'-' {
                    self.i += 1;
                }
                let n = self.digits()?;
                if n > 18 || (n > 1 && self.b[self.i - n] == b'0') {
                    return None;
                }
                if self.peek() == Some(b'.') {
                    self.i += 1;
                    if self.digits()? > 17 {
                        return None;
                    }
                }
                if matches!(self.peek(), Some(b'e' | b'E')) {
                    return None;
                }
                Some(())
            }
        }
    }

    /// At least one digit; returns how many.
    #[inline]
    fn digits(&mut self) -> Option<usize> {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        (self.i > start).then_some(self.i - start)
    }

    /// `"<decimal>"` into an integer scaled by `10^scale`, in one pass, with
    /// the same result as [`parse_decimal`] for the forms it accepts
    /// (optional `-`, digits, at most one `.`, at least one digit, at most 18
    /// digits kept, no non-zero digit beyond the scale); `None` for anything
    /// else, including everything `parse_decimal` refuses.
    #[inline(always)]
    fn decimal(&mut self, scale: u8) -> Option<i64> {
        self.eat(b'"')?;
        let neg = self.peek()? == b'-';
        if neg {
            self.i += 1;
        }
        let mut v: i64 = 0;
        let mut kept: u32 = 0;
        let mut seen = false;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v.wrapping_mul(10).wrapping_add((c - b'0') as i64);
            kept += 1;
            seen = true;
            self.i += 1;
        }
        let mut frac: u8 = 0;
        if self.peek()? == b'.' {
            self.i += 1;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                seen = true;
                self.i += 1;
                if frac < scale {
                    v = v.wrapping_mul(10).wrapping_add((c - b'0') as i64);
                    kept += 1;
                    frac += 1;
                } else if c != b'0' {
                    return None;
                }
            }
        }
        self.eat(b'"')?;
        if !seen || kept > 18 {
            return None;
        }
        let v = v.checked_mul(pow10(scale - frac))?;
        Some(if neg { -v } else { v })
    }

    /// `[["p","q"],...]` into `out` (cleared first).
    #[inline]
    fn levels(&mut self, info: SymInfo, out: &mut Vec<Level>) -> Option<()> {
        out.clear();
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let px = self.decimal(info.price_scale)?;
            self.eat(b',')?;
            let qty = self.decimal(info.qty_scale)?;
            self.eat(b']')?;
            out.push(Level { px, qty });
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A value of a key the message kinds use, typed by its first byte.
    #[inline(always)]
    fn value(&mut self, levels: Option<(SymInfo, &mut Vec<Level>)>) -> Option<V<'a>> {
        match self.peek()? {
            b'"' => self.string().map(V::Str),
            b'0'..=b'9' => self.uint().map(V::Int),
            b't' => self.eat_lit(b"true").map(|_| V::Bool(true)),
            b'f' => self.eat_lit(b"false").map(|_| V::Bool(false)),
            b'[' => {
                let (info, out) = levels?;
                self.levels(info, out).map(|_| V::Levels)
            }
            _ => None,
        }
    }
}

/// Fields of one event, by key.
struct Ev<'a> {
    e: V<'a>,
    big_e: V<'a>,
    big_t: V<'a>,
    big_u: V<'a>,
    u: V<'a>,
    pu: V<'a>,
    b: V<'a>,
    a: V<'a>,
    big_b: V<'a>,
    big_a: V<'a>,
    p: V<'a>,
    q: V<'a>,
    m: V<'a>,
    t: V<'a>,
    info: Option<SymInfo>,
}

/// The result [`super::Parser::parse`] would give for `frame`, or `None`
/// when the frame is outside what this scanner handles (the caller then runs
/// the full path). `bids`/`asks` are the scanner's scratch level vectors: on
/// `Some(Msg::Depth)` they are swapped into `depth`, which is left untouched
/// otherwise.
pub(super) fn parse(
    frame: &[u8],
    syms: &SymbolMap,
    bids: &mut Vec<Level>,
    asks: &mut Vec<Level>,
    depth: &mut DepthMsg,
) -> Option<Msg> {
    let mut c = Cur { b: frame, i: 0 };
    // Combined frames as Binance sends them, `stream` first; `data` first
    // (as a re-serialiser with sorted keys writes them) is accepted too.
    const STREAM_FIRST: &[u8] = b"{\"stream\":";
    const DATA_FIRST: &[u8] = b"{\"data\":";
    let ev = if frame.starts_with(STREAM_FIRST) {
        c.i = STREAM_FIRST.len();
        c.string()?;
        c.eat_lit(b",\"data\":")?;
        let ev = event(&mut c, false, syms, bids, asks)?;
        c.eat(b'}')?;
        ev
    } else if frame.starts_with(DATA_FIRST) {
        c.i = DATA_FIRST.len();
        let ev = event(&mut c, false, syms, bids, asks)?;
        c.eat_lit(b",\"stream\":")?;
        c.string()?;
        c.eat(b'}')?;
        ev
    } else {
        event(&mut c, true, syms, bids, asks)?
    };
    if c.i != frame.len() {
        return None;
    }
    finish(&ev, bids, asks, depth)
}

fn event<'a>(
    c: &mut Cur<'a>,
    raw: bool,
    syms: &SymbolMap,
    bids: &mut Vec<Level>,
    asks: &mut Vec<Level>,
) -> Option<Ev<'a>> {
    let mut ev = Ev {
        e: V::Absent,
        big_e: V::Absent,
        big_t: V::Absent,
        big_u: V::Absent,
        u: V::Absent,
        pu: V::Absent,
        b: V::Absent,
        a: V::Absent,
        big_b: V::Absent,
        big_a: V::Absent,
        p: V::Absent,
        q: V::Absent,
        m: V::Absent,
        t: V::Absent,
        info: None,
    };
    let mut s_seen = false;
    c.eat(b'{')?;
    loop {
        let key = c.key()?;
        let slot = match key {
            b"e" => &mut ev.e,
            b"E" => &mut ev.big_e,
            b"T" => &mut ev.big_t,
            b"U" => &mut ev.big_u,
            b"u" => &mut ev.u,
            b"pu" => &mut ev.pu,
            b"B" => &mut ev.big_b,
            b"A" => &mut ev.big_a,
            b"p" => &mut ev.p,
            b"q" => &mut ev.q,
            b"m" => &mut ev.m,
            b"t" => &mut ev.t,
            b"b" | b"a" => {
                let (slot, out) = if key == b"b" {
                    (&mut ev.b, &mut *bids)
                } else {
                    (&mut ev.a, &mut *asks)
                };
                if *slot != V::Absent {
                    return None;
                }
                *slot = c.value(ev.info.map(|i| (i, out)))?;
                match c.peek()? {
                    b',' => {
                        c.i += 1;
                        continue;
                    }
                    b'}' => {
                        c.i += 1;
                        return Some(ev);
                    }
                    _ => return None,
                }
            }
            b"s" => {
                if s_seen {
                    return None;
                }
                s_seen = true;
                ev.info = Some(syms.get_bytes(c.string()?)?);
                match c.peek()? {
                    b',' => {
                        c.i += 1;
                        continue;
                    }
                    b'}' => {
                        c.i += 1;
                        return Some(ev);
                    }
                    _ => return None,
                }
            }
            // The full path reads these at the top level of a raw frame.
            b"stream" | b"data" | b"result" | b"id" | b"code" if raw => return None,
            _ => {
                c.skip_scalar()?;
                match c.peek()? {
                    b',' => {
                        c.i += 1;
                        continue;
                    }
                    b'}' => {
                        c.i += 1;
                        return Some(ev);
                    }
                    _ => return None,
                }
            }
        };
        if *slot != V::Absent {
            return None;
        }
        *slot = c.value(None)?;
        match c.peek()? {
            b',' => c.i += 1,
            b'}' => {
                c.i += 1;
                return Some(ev);
            }
            _ => return None,
        }
    }
}

#[inline]
fn int(v: V<'_>, absent: u64) -> Option<u64> {
    match v {
        V::Absent => Some(absent),
        V::Int(x) => Some(x),
        _ => None,
    }
}

#[inline]
fn i64_of(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

#[inline]
fn dec(v: V<'_>, scale: u8) -> Option<i64> {
    match v {
        V::Str(s) => parse_decimal(s, scale).ok(),
        _ => None,
    }
}

/// Applies the full path's rules (`walk_event`) to the scanned fields.
fn finish(
    ev: &Ev<'_>,
    bids: &mut Vec<Level>,
    asks: &mut Vec<Level>,
    depth: &mut DepthMsg,
) -> Option<Msg> {
    #[derive(PartialEq)]
    enum Kind {
        Depth,
        Bbo,
        Agg,
        Trade,
    }
    let kind = match ev.e {
        V::Str(b"depthUpdate") => Kind::Depth,
        V::Str(b"bookTicker") => Kind::Bbo,
        V::Str(b"aggTrade") => Kind::Agg,
        V::Str(b"trade") => Kind::Trade,
        // Spot bookTicker carries no `e`.
        V::Absent if ev.big_b != V::Absent && ev.big_a != V::Absent => Kind::Bbo,
        _ => return None,
    };
    let info = ev.info?;
    let exch_ms = match ev.big_e {
        V::Absent => i64_of(int(ev.big_t, 0)?)?,
        V::Int(x) => i64_of(x)?,
        _ => return None,
    };
    match kind {
        Kind::Depth => {
            if ev.b != V::Levels || ev.a != V::Levels {
                return None;
            }
            let V::Int(first_id) = ev.big_u else {
                return None;
            };
            let V::Int(last_id) = ev.u else {
                return None;
            };
            depth.prev_id = int(ev.pu, u64::MAX)?;
            depth.inst = info.id;
            depth.exch_ms = exch_ms;
            depth.first_id = first_id;
            depth.last_id = last_id;
            std::mem::swap(&mut depth.bids, bids);
            std::mem::swap(&mut depth.asks, asks);
            Some(Msg::Depth)
        }
        Kind::Bbo => {
            let bbo = Bbo {
                bid: Level {
                    px: dec(ev.b, info.price_scale)?,
                    qty: dec(ev.big_b, info.qty_scale)?,
                },
                ask: Level {
                    px: dec(ev.a, info.price_scale)?,
                    qty: dec(ev.big_a, info.qty_scale)?,
                },
                update_id: int(ev.u, 0)?,
            };
            Some(Msg::Bbo {
                inst: info.id,
                exch_ms,
                bbo,
            })
        }
        Kind::Agg | Kind::Trade => {
            let V::Bool(buyer_is_maker) = ev.m else {
                return None;
            };
            let id = if kind == Kind::Agg { ev.a } else { ev.t };
            let trade = Trade {
                px: dec(ev.p, info.price_scale)?,
                qty: dec(ev.q, info.qty_scale)?,
                aggressor: if buyer_is_maker {
                    Side::Sell
                } else {
                    Side::Buy
                },
                trade_id: int(id, 0)?,
            };
            let exch_ms = match ev.big_t {
                V::Absent => exch_ms,
                V::Int(x) => i64_of(x)?,
                _ => return None,
            };
            Some(Msg::Trade {
                inst: info.id,
                exch_ms,
                trade,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The in-string decimal conversion never disagrees with
    /// `parse_decimal`: where it answers, the value is the same.
    #[test]
    fn decimal_matches_parse_decimal() {
        let mut rng = SmallRng::seed_from_u64(3);
        const ALPHABET: &[u8] = b"0000123456789..-+e ";
        let (mut agreed, mut declined) = (0, 0);
        for n in 0..400_000 {
            let len = rng.random_range(0..24);
            let s: Vec<u8> = (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            let scale = (n % 10) as u8;
            let mut quoted = vec![b'"'];
            quoted.extend_from_slice(&s);
            quoted.extend_from_slice(b"\",");
            let mut c = Cur { b: &quoted, i: 0 };
            match c.decimal(scale) {
                Some(v) => {
                    assert_eq!(
                        Ok(v),
                        parse_decimal(&s, scale),
                        "{:?} scale {scale}",
                        String::from_utf8_lossy(&s)
                    );
                    assert_eq!(c.i, quoted.len() - 1);
                    agreed += 1;
                }
                None => declined += 1,
            }
        }
        assert!(agreed > 10_000 && declined > 10_000, "{agreed} {declined}");
        for (s, scale, v) in [
            ("61800.20", 2, 6180020),
            ("0.014", 3, 14),
            ("-0.5", 1, -5),
            ("10", 0, 10),
            ("5.", 1, 50),
            (".5", 1, 5),
            ("1.000000", 2, 100),
            ("922337203685477580", 0, 922337203685477580),
        ] {
            let q = format!("\"{s}\"");
            assert_eq!(
                Cur {
                    b: q.as_bytes(),
                    i: 0
                }
                .decimal(scale),
                Some(v),
                "{s}"
            );
        }
    }
}
