//! The day report of `quantum-trader journal report --day YYYY-MM-DD
//! [--mode paper|testnet|live]`: decisions by action, verdicts by reason,
//! orders, fills, volume, fees (the quote's, and per asset those charged
//! in another asset such as BNB, which no PnL figure includes), realized
//! PnL, the day's max drawdown of realized equity (net of quote fees, fill
//! by fill), breaker and kill-switch events. Built from one day file, one
//! trading mode.

use super::frame::Tail;
use super::reader::DayRead;
use super::record::{Body, Record};
use crate::config::TradingMode;
use crate::core::clock::format_day;
use crate::core::fixed::decimals_of;
use crate::core::{Money, parse_decimal};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One breaker or kill-switch event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventLine {
    pub id: u64,
    pub ts_ms: i64,
    pub what: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct DayReport {
    pub day: String,
    pub mode: String,
    pub records: u64,
    pub first_id: Option<u64>,
    pub last_id: Option<u64>,
    pub decisions: BTreeMap<String, u64>,
    /// `EXECUTE` and one entry per SKIP reason.
    pub verdicts: BTreeMap<String, u64>,
    pub orders: u64,
    pub orders_by_status: BTreeMap<String, u64>,
    pub fills: u64,
    pub volume_quote: Money,
    /// Fees paid in the quote (PnL net of fees subtracts these).
    pub fees: Money,
    /// Fees charged in another asset (`BNB`), per asset, exact: not in any
    /// PnL or drawdown figure (no price converts them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fees_other: BTreeMap<String, Money>,
    /// Gross of fees.
    pub realized_pnl: Money,
    pub realized_pnl_net: Money,
    /// Largest drop of realized equity (net of fees) from its running peak.
    pub max_drawdown: Money,
    pub breaker_events: Vec<EventLine>,
    pub kill_switch_events: Vec<EventLine>,
    pub torn_tail: bool,
    pub corrupt_records: u64,
    /// Damaged regions skipped: `offset`, `bytes`, `reason`.
    pub damaged_regions: Vec<DamageLine>,
    /// The read error that left the end of the file unread.
    pub unreadable: Option<String>,
    /// Failed reads that were retried.
    pub read_retries: u64,
}

/// One damaged region of the day file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DamageLine {
    pub offset: u64,
    pub bytes: u64,
    pub reason: String,
}

impl DayReport {
    /// The report of `read`'s records in `mode`.
    pub fn build(read: &DayRead, mode: TradingMode) -> DayReport {
        let mut r = DayReport {
            day: format_day(read.day),
            mode: mode.as_str().into(),
            torn_tail: matches!(read.tail, Tail::Torn { .. }),
            corrupt_records: read.corrupt,
            damaged_regions: read
                .damaged
                .iter()
                .map(|d| DamageLine {
                    offset: d.offset,
                    bytes: d.len,
                    reason: d.reason.into(),
                })
                .collect(),
            unreadable: match &read.tail {
                Tail::Unreadable { error } => Some(error.clone()),
                _ => None,
            },
            read_retries: read.retries,
            ..Default::default()
        };
        let (mut equity, mut peak) = (Money::ZERO, Money::ZERO);
        for rec in read.records.iter().filter(|x| x.mode == mode) {
            r.add(rec, &mut equity, &mut peak);
        }
        r
    }

    fn add(&mut self, rec: &Record, equity: &mut Money, peak: &mut Money) {
        // Spilled Redis entries (see `publish::replay`) are not trading records.
        if matches!(rec.body, Body::Published { .. }) {
            return;
        }
        self.records += 1;
        self.first_id.get_or_insert(rec.id);
        self.last_id = Some(rec.id);
        match &rec.body {
            Body::Decision { action, .. } => {
                *self.decisions.entry(action.clone()).or_default() += 1
            }
            Body::Verdict {
                verdict, reason, ..
            } => {
                let k = if verdict == "EXECUTE" {
                    verdict.clone()
                } else {
                    format!("SKIP {reason}")
                };
                *self.verdicts.entry(k).or_default() += 1;
            }
            Body::Holds { count, reason, .. } => {
                *self.decisions.entry("HOLD".into()).or_default() += count;
                *self.verdicts.entry(format!("SKIP {reason}")).or_default() += count;
            }
            Body::Order { .. } => self.orders += 1,
            Body::OrderDone { status, .. } => {
                *self.orders_by_status.entry(status.clone()).or_default() += 1
            }
            Body::Fill {
                px,
                qty,
                fee,
                fee_asset,
                realized_pnl,
                ..
            } => {
                self.fills += 1;
                let (ps, qs) = (decimals_of(px), decimals_of(qty));
                let n = match (
                    parse_decimal(px.as_bytes(), ps),
                    parse_decimal(qty.as_bytes(), qs),
                ) {
                    (Ok(p), Ok(q)) => Money::notional(p, q, ps, qs),
                    _ => Money::ZERO,
                };
                self.volume_quote += n.abs();
                let quote_fee = if fee_asset.is_empty() {
                    *fee
                } else {
                    *self.fees_other.entry(fee_asset.clone()).or_default() += *fee;
                    Money::ZERO
                };
                self.fees += quote_fee;
                self.realized_pnl += *realized_pnl;
                *equity += *realized_pnl - quote_fee;
                *peak = (*peak).max(*equity);
                self.max_drawdown = self.max_drawdown.max(*peak - *equity);
            }
            Body::Breaker {
                state,
                reason,
                detail,
                by,
                client,
                override_,
            } => self.breaker_events.push(EventLine {
                id: rec.id,
                ts_ms: rec.ts_ms,
                what: format!(
                    "{} reason={reason} by={by}{}{}{}",
                    state.to_uppercase(),
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(" detail=\"{detail}\"")
                    },
                    if client.is_empty() {
                        String::new()
                    } else {
                        format!(" client={client}")
                    },
                    if *override_ { " override" } else { "" }
                ),
            }),
            Body::KillSwitch {
                on,
                reason,
                by,
                client,
            } => self.kill_switch_events.push(EventLine {
                id: rec.id,
                ts_ms: rec.ts_ms,
                what: format!(
                    "{} reason=\"{reason}\" by={by}{}",
                    if *on { "ON" } else { "OFF" },
                    if client.is_empty() {
                        String::new()
                    } else {
                        format!(" client={client}")
                    }
                ),
            }),
            Body::Published { .. } | Body::Reconcile { .. } | Body::ClientIds { .. } => {}
        }
        self.realized_pnl_net = self.realized_pnl - self.fees;
    }

    /// Human-readable text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "journal report {} mode {}", self.day, self.mode);
        let ids = match (self.first_id, self.last_id) {
            (Some(a), Some(b)) => format!(" (ids {a}..={b})"),
            _ => String::new(),
        };
        let _ = writeln!(s, "records          {}{ids}", self.records);
        if self.torn_tail || self.corrupt_records > 0 {
            let _ = writeln!(
                s,
                "damage           torn tail: {}, corrupt records skipped: {}",
                self.torn_tail, self.corrupt_records
            );
        }
        for d in &self.damaged_regions {
            let _ = writeln!(
                s,
                "damage           damaged region at byte {}, {} bytes ({}): skipped, reading resumed after it",
                d.offset, d.bytes, d.reason
            );
        }
        if let Some(e) = &self.unreadable {
            let _ = writeln!(
                s,
                "damage           the rest of the file is unreadable ({e}): records after it are not counted"
            );
        }
        let map = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(s, "decisions        {}", map(&self.decisions));
        let _ = writeln!(s, "verdicts         {}", map(&self.verdicts));
        let _ = writeln!(
            s,
            "orders           {} ({})",
            self.orders,
            map(&self.orders_by_status)
        );
        let _ = writeln!(s, "fills            {}", self.fills);
        let _ = writeln!(s, "volume (quote)   {}", self.volume_quote);
        let _ = writeln!(s, "fees             {}", self.fees);
        if !self.fees_other.is_empty() {
            let other: Vec<String> = self
                .fees_other
                .iter()
                .map(|(a, m)| format!("{a} {m}"))
                .collect();
            let _ = writeln!(
                s,
                "fees, not quote  {} (not in PnL: no price converts them)",
                other.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "realized PnL     {} gross, {} net of fees",
            self.realized_pnl, self.realized_pnl_net
        );
        let _ = writeln!(s, "max drawdown     {}", self.max_drawdown);
        let _ = writeln!(s, "breaker events   {}", self.breaker_events.len());
        for e in &self.breaker_events {
            let _ = writeln!(s, "  #{} {} {}", e.id, fmt_ms(e.ts_ms), e.what);
        }
        let _ = writeln!(s, "kill switch      {}", self.kill_switch_events.len());
        for e in &self.kill_switch_events {
            let _ = writeln!(s, "  #{} {} {}", e.id, fmt_ms(e.ts_ms), e.what);
        }
        s
    }
}

/// Unix ms as `HH:MM:SS.mmm` UTC.
pub fn fmt_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}
