//! The consolidated cross-venue view per underlying (BTCUSDT on Binance,
//! BTCUSDT on Bybit and BTC-USDT-SWAP on OKX are one underlying): best bid
//! and best ask across the in-sync venues (each rescaled to the asking
//! instrument's price scale), the cross-venue spread, and which venue leads.
//!
//! **Leader.** Moves of the venues' mids in one direction within
//! [`LEAD_WINDOW_NS`] of each other form a run; each other venue that joins
//! a run credits the venue that started it with a lead (the follower
//! confirmed it). Credits decay (x0.98 per credit given), so
//! the leader is the venue whose moves the others have recently followed.
//!
//! **Lead-lag return** for an instrument: the leader's mid return over
//! [`LEAD_HORIZON_NS`] minus the instrument's own return over the same
//! horizon, in bps (0 when the instrument is the leader or nothing is known):
//! a positive value says the leader went up and this venue has not yet.
//!
//! Everything is bounded: one mid history ring per instrument of
//! [`HISTORY`] samples.

use crate::core::{InstrumentId, InstrumentTable, Level, Venue};
use serde_json::{Value, json};
use std::collections::VecDeque;

/// How soon a follower's move must come to credit the leader.
pub const LEAD_WINDOW_NS: u64 = 200_000_000;
/// Horizon of the lead-lag return.
pub const LEAD_HORIZON_NS: u64 = 500_000_000;
/// Mid samples kept per instrument.
pub const HISTORY: usize = 512;

struct Group {
    underlying: String,
    members: Vec<InstrumentId>,
    /// (member index, direction, ns) of the first move of the current run.
    last_move: Option<(usize, i8, u64)>,
    scores: Vec<f64>,
}

/// Per-instrument state kept by the consolidated view.
#[derive(Default)]
struct Track {
    mid: f64,
    /// (ns, mid) samples, oldest first.
    hist: VecDeque<(u64, f64)>,
}

pub struct Consolidated {
    groups: Vec<Group>,
    /// Group and member index of each instrument.
    slot: Vec<(usize, usize)>,
    tracks: Vec<Track>,
    scales: Vec<u8>,
    venues: Vec<Venue>,
    symbols: Vec<String>,
}

/// Rescales a price between decimal scales (truncating when coarser).
#[inline]
pub fn rescale(px: i64, from: u8, to: u8) -> i64 {
    use crate::core::fixed::pow10;
    if to >= from {
        px.saturating_mul(pow10(to - from))
    } else {
        px / pow10(from - to)
    }
}

impl Consolidated {
    pub fn new(table: &InstrumentTable) -> Consolidated {
        let mut groups: Vec<Group> = Vec::new();
        let mut slot = Vec::with_capacity(table.len());
        for i in table.iter() {
            let g = match groups.iter().position(|g| g.underlying == i.underlying) {
                Some(g) => g,
                None => {
                    groups.push(Group {
                        underlying: i.underlying.clone(),
                        members: Vec::new(),
                        last_move: None,
                        scores: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            groups[g].members.push(i.id);
            groups[g].scores.push(0.0);
            slot.push((g, groups[g].members.len() - 1));
        }
        Consolidated {
            groups,
            slot,
            tracks: table
                .iter()
                .map(|_| Track {
                    mid: 0.0,
                    hist: VecDeque::with_capacity(HISTORY),
                })
                .collect(),
            scales: table.iter().map(|i| i.price_scale).collect(),
            venues: table.iter().map(|i| i.venue).collect(),
            symbols: table.iter().map(|i| i.symbol.clone()).collect(),
        }
    }

    /// Records the top of book of `inst` after an update (`None` = no usable
    /// mid: empty side or out of sync).
    pub fn on_top(
        &mut self,
        inst: InstrumentId,
        bid: Option<Level>,
        ask: Option<Level>,
        now_ns: u64,
    ) {
        let i = inst.idx();
        let Some(&(g, m)) = self.slot.get(i) else {
            return;
        };
        let (Some(b), Some(a)) = (bid, ask) else {
            return;
        };
        let scale = crate::core::fixed::pow10(self.scales[i]) as f64;
        let mid = (b.px + a.px) as f64 * 0.5 / scale;
        let t = &mut self.tracks[i];
        let prev = t.mid;
        t.mid = mid;
        if t.hist.len() >= HISTORY {
            t.hist.pop_front();
        }
        t.hist.push_back((now_ns, mid));
        if prev == 0.0 || mid == prev {
            return;
        }
        let dir: i8 = if mid > prev { 1 } else { -1 };
        let grp = &mut self.groups[g];
        // `last_move` is the first move of the current run of same-direction
        // moves: a follower credits the venue that started the run.
        match grp.last_move {
            Some((lm, ld, lt)) if ld == dir && now_ns.saturating_sub(lt) <= LEAD_WINDOW_NS => {
                if lm != m {
                    for s in grp.scores.iter_mut() {
                        *s *= 0.98;
                    }
                    grp.scores[lm] += 1.0;
                }
            }
            _ => grp.last_move = Some((m, dir, now_ns)),
        }
    }

    /// The leading member of `inst`'s underlying, if any venue has led.
    pub fn leader(&self, inst: InstrumentId) -> Option<InstrumentId> {
        let (g, _) = *self.slot.get(inst.idx())?;
        let grp = &self.groups[g];
        let (k, s) = grp
            .scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        (*s > 0.0).then(|| grp.members[k])
    }

    fn ret_bps(&self, i: usize, now_ns: u64) -> Option<f64> {
        let t = &self.tracks[i];
        let target = now_ns.checked_sub(LEAD_HORIZON_NS)?;
        // The latest sample at or before the target.
        let (_, m0) = t.hist.iter().rev().find(|(ts, _)| *ts <= target)?;
        (t.mid > 0.0 && *m0 > 0.0).then(|| (t.mid - m0) / m0 * 1e4)
    }

    /// The leader's return minus `inst`'s own, over [`LEAD_HORIZON_NS`] (bps).
    pub fn lead_lag_bps(&self, inst: InstrumentId, now_ns: u64) -> f64 {
        let Some(l) = self.leader(inst) else {
            return 0.0;
        };
        if l == inst {
            return 0.0;
        }
        match (
            self.ret_bps(l.idx(), now_ns),
            self.ret_bps(inst.idx(), now_ns),
        ) {
            (Some(a), Some(b)) => a - b,
            (Some(a), None) => a,
            _ => 0.0,
        }
    }

    /// Peers of `inst` (its underlying's members, itself included).
    pub fn peers(&self, inst: InstrumentId) -> &[InstrumentId] {
        match self.slot.get(inst.idx()) {
            Some(&(g, _)) => &self.groups[g].members,
            None => &[],
        }
    }

    /// Underlyings known to the view.
    pub fn underlyings(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| g.underlying.as_str())
    }

    /// The JSON of `GET /api/consolidated/{underlying}`; `top(inst)` gives
    /// (in sync, best bid, best ask, last update ns) of a member's book.
    pub fn view_json(
        &self,
        underlying: &str,
        now_ns: u64,
        top: impl Fn(InstrumentId) -> (bool, Option<Level>, Option<Level>, u64),
    ) -> Option<Value> {
        let grp = self.groups.iter().find(|g| g.underlying == underlying)?;
        let mut best_bid: Option<(f64, Venue, &str)> = None;
        let mut best_ask: Option<(f64, Venue, &str)> = None;
        let mut venues = Vec::new();
        for (k, id) in grp.members.iter().enumerate() {
            let i = id.idx();
            let (sync, b, a, last) = top(*id);
            let sc = crate::core::fixed::pow10(self.scales[i]) as f64;
            let bid = b.map(|l| l.px as f64 / sc);
            let ask = a.map(|l| l.px as f64 / sc);
            if sync {
                if let Some(p) = bid
                    && best_bid.is_none_or(|x| p > x.0)
                {
                    best_bid = Some((p, self.venues[i], &self.symbols[i]));
                }
                if let Some(p) = ask
                    && best_ask.is_none_or(|x| p < x.0)
                {
                    best_ask = Some((p, self.venues[i], &self.symbols[i]));
                }
            }
            venues.push(json!({
                "venue": self.venues[i].as_str(),
                "symbol": self.symbols[i],
                "in_sync": sync,
                "bid": bid,
                "ask": ask,
                "mid": match (bid, ask) { (Some(b), Some(a)) => Some(0.5 * (b + a)), _ => None },
                "age_ms": if last > 0 { Some(now_ns.saturating_sub(last) / 1_000_000) } else { None },
                "lead_score": grp.scores[k],
                "lead_lag_return_bps": self.lead_lag_bps(*id, now_ns),
            }));
        }
        let leader = self
            .leader(grp.members[0])
            .map(|l| self.venues[l.idx()].as_str());
        let spread = match (best_bid, best_ask) {
            (Some(b), Some(a)) => Some(a.0 - b.0),
            _ => None,
        };
        let mid = match (best_bid, best_ask) {
            (Some(b), Some(a)) => Some(0.5 * (a.0 + b.0)),
            _ => None,
        };
        Some(json!({
            "underlying": grp.underlying,
            "best_bid": best_bid.map(|b| json!({"price": b.0, "venue": b.1.as_str(), "symbol": b.2})),
            "best_ask": best_ask.map(|a| json!({"price": a.0, "venue": a.1.as_str(), "symbol": a.2})),
            "cross_venue_spread": spread,
            "cross_venue_spread_bps": match (spread, mid) { (Some(s), Some(m)) if m > 0.0 => Some(s / m * 1e4), _ => None },
            "leader": leader,
            "venues": venues,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Instrument;

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        for (v, s, tick) in [
            (Venue::Binance, "BTCUSDT", "0.10"),
            (Venue::Bybit, "BTCUSDT", "0.10"),
            (Venue::Okx, "BTC-USDT-SWAP", "0.1"),
            (Venue::Binance, "ETHUSDT", "0.01"),
        ] {
            let u = if s.starts_with("BTC") {
                "BTCUSDT"
            } else {
                "ETHUSDT"
            };
            t.push(Instrument::new(InstrumentId(0), v, s, u, tick, "0.001", 5.0).unwrap());
        }
        t
    }

    fn lv(px: i64) -> Option<Level> {
        Some(Level { px, qty: 1 })
    }

    #[test]
    fn leader_is_the_venue_the_others_follow() {
        let t = table();
        let mut c = Consolidated::new(&t);
        let (bn, by, ok) = (InstrumentId(0), InstrumentId(1), InstrumentId(2));
        assert_eq!(c.peers(bn), &[bn, by, ok]);
        assert_eq!(c.leader(bn), None);
        let ms = 1_000_000u64;
        // Binance (scale 2) moves first each time, Bybit and OKX (scale 1) follow.
        let mut now = 1_000 * ms;
        let mut px2 = 1_000_000i64; // 10000.00
        for (id, p) in [(bn, px2), (by, px2), (ok, px2 / 10)] {
            let s = if id == ok { 1 } else { 10 };
            c.on_top(id, lv(p - s), lv(p + s), now);
        }
        for _ in 0..10 {
            now += 100 * ms;
            px2 += 100;
            c.on_top(bn, lv(px2 - 10), lv(px2 + 10), now);
            now += 20 * ms;
            c.on_top(by, lv(px2 - 10), lv(px2 + 10), now);
            now += 20 * ms;
            c.on_top(ok, lv(px2 / 10 - 1), lv(px2 / 10 + 1), now);
        }
        assert_eq!(c.leader(by), Some(bn));
        assert_eq!(c.leader(InstrumentId(3)), None);
        // Binance went up and Bybit has not moved since: positive lead-lag.
        now += 20 * ms;
        px2 += 500;
        c.on_top(bn, lv(px2 - 10), lv(px2 + 10), now);
        let ll = c.lead_lag_bps(by, now + 10 * ms);
        assert!(ll > 0.0, "{ll}");
        assert_eq!(c.lead_lag_bps(bn, now), 0.0);
        let v = c
            .view_json("BTCUSDT", now, |id| {
                let p = if id == ok { 100_100 } else { 1_001_000 };
                let s = if id == ok { 1 } else { 10 };
                (
                    true,
                    lv(p - s + if id == by { 5 } else { 0 }),
                    lv(p + if id == ok { 0 } else { s }),
                    now,
                )
            })
            .unwrap();
        assert_eq!(v["leader"], "binance");
        assert_eq!(v["best_bid"]["venue"], "bybit");
        assert_eq!(v["best_ask"]["venue"], "okx");
        assert_eq!(v["venues"].as_array().unwrap().len(), 3);
        assert!(
            c.view_json("XRPUSDT", now, |_| (false, None, None, 0))
                .is_none()
        );
        assert_eq!(rescale(1_000_010, 2, 1), 100_001);
        assert_eq!(rescale(100_001, 1, 2), 1_000_010);
    }
}
