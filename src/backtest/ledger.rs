//! The [`Ledger`] of a backtest follows every fill (positions and cash as
//! exact integers in each instrument's price × quantity scale; fees as exact
//! [`Money`], as the matcher reports them) and samples marked-to-mid equity
//! over recorded time (at most [`MAX_SAMPLES`] points: the interval doubles
//! when full). The report (`super::report`) reads it.

use crate::core::{BookTop, ExecReport, InstrumentTable, Money, OrderStatus, Side};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most equity samples kept.
pub const MAX_SAMPLES: usize = 4096;

/// One point of the equity curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub t_ns: u64,
    pub gross: f64,
    pub net: f64,
    /// Position per instrument, in base units.
    pub pos: Vec<f64>,
}

/// Positions, cash, fees and the equity curve of one backtest.
pub struct Ledger {
    table: Arc<InstrumentTable>,
    /// Scaled quantity per instrument.
    pos: Vec<i64>,
    /// −Σ side·px·qty per instrument (price scale + qty scale), exact.
    cash: Vec<i128>,
    /// Σ px·qty per instrument, exact.
    turnover: Vec<i128>,
    /// Last mark (bid + ask, i.e. twice the mid) per instrument.
    mark2: Vec<i64>,
    /// Σ fees per instrument, exact (the matcher's fee per fill).
    fees: Vec<Money>,
    pub fills: u64,
    pub wins: u64,
    pub losses: u64,
    pub orders_done: BTreeMap<&'static str, u64>,
    pub(super) samples: Vec<Sample>,
    every_ns: u64,
    last_sample_ns: Option<u64>,
    peak: f64,
    pub max_drawdown: f64,
    /// Net equity at the end of each UTC minute seen (for the ratio).
    minutes: BTreeMap<u64, f64>,
}

impl Ledger {
    pub fn new(table: Arc<InstrumentTable>) -> Ledger {
        let n = table.len();
        Ledger {
            table,
            pos: vec![0; n],
            cash: vec![0; n],
            turnover: vec![0; n],
            mark2: vec![0; n],
            fees: vec![Money::ZERO; n],
            fills: 0,
            wins: 0,
            losses: 0,
            orders_done: BTreeMap::new(),
            samples: Vec::new(),
            every_ns: 1_000_000_000,
            last_sample_ns: None,
            peak: 0.0,
            max_drawdown: 0.0,
            minutes: BTreeMap::new(),
        }
    }

    fn unit(&self, i: usize) -> f64 {
        let inst = self.table.get(crate::core::InstrumentId(i as u16));
        inst.contract_value / 10f64.powi(inst.price_scale as i32 + inst.qty_scale as i32)
    }

    /// Gross PnL of instrument `i` marked at its last mid (exact until this
    /// one conversion).
    pub fn gross_of(&self, i: usize) -> f64 {
        let raw2 = self.cash[i] * 2 + self.pos[i] as i128 * self.mark2[i] as i128;
        raw2 as f64 / 2.0 * self.unit(i)
    }

    pub fn gross(&self) -> f64 {
        (0..self.pos.len()).map(|i| self.gross_of(i)).sum()
    }

    pub fn fees(&self) -> f64 {
        self.fees.iter().copied().sum::<Money>().to_f64()
    }

    pub fn turnover(&self) -> f64 {
        (0..self.pos.len())
            .map(|i| self.turnover[i] as f64 * self.unit(i))
            .sum()
    }

    /// One execution report at recorded time `t_ns`.
    pub fn on_report(&mut self, t_ns: u64, r: &ExecReport) {
        match *r {
            ExecReport::Fill {
                inst,
                side,
                px,
                qty,
                fee,
                realized_pnl,
                ..
            } => {
                let i = inst.idx();
                if i >= self.pos.len() {
                    return;
                }
                let s: i64 = if side == Side::Buy { 1 } else { -1 };
                self.pos[i] += s * qty;
                self.cash[i] -= s as i128 * px as i128 * qty as i128;
                self.turnover[i] += px as i128 * qty as i128;
                if self.mark2[i] == 0 {
                    self.mark2[i] = px * 2;
                }
                self.fees[i] += fee;
                self.fills += 1;
                if realized_pnl > Money::ZERO {
                    self.wins += 1;
                } else if realized_pnl < Money::ZERO {
                    self.losses += 1;
                }
                self.push_sample(t_ns);
            }
            ExecReport::Done { status, .. } => {
                let k = match status {
                    OrderStatus::Filled => "filled",
                    OrderStatus::Canceled => "canceled",
                    OrderStatus::Rejected => "rejected",
                    _ => "other",
                };
                *self.orders_done.entry(k).or_default() += 1;
            }
        }
    }

    /// Marks to the latest tops and samples the curve if the interval passed.
    pub fn sample(&mut self, t_ns: u64, tops: &[Option<BookTop>]) {
        for (i, t) in tops.iter().enumerate() {
            if let Some(t) = t
                && let (Some(b), Some(a)) = (t.best_bid(), t.best_ask())
                && i < self.mark2.len()
            {
                self.mark2[i] = b.px + a.px;
            }
        }
        if self
            .last_sample_ns
            .is_none_or(|l| t_ns.saturating_sub(l) >= self.every_ns)
        {
            self.push_sample(t_ns);
        }
    }

    fn push_sample(&mut self, t_ns: u64) {
        let gross = self.gross();
        let net = gross - self.fees();
        self.peak = self.peak.max(net);
        self.max_drawdown = self.max_drawdown.max(self.peak - net);
        self.minutes.insert(t_ns / 60_000_000_000, net);
        let pos = (0..self.pos.len())
            .map(|i| {
                let inst = self.table.get(crate::core::InstrumentId(i as u16));
                inst.qty_f64(self.pos[i])
            })
            .collect();
        self.last_sample_ns = Some(t_ns);
        self.samples.push(Sample {
            t_ns,
            gross,
            net,
            pos,
        });
        if self.samples.len() >= MAX_SAMPLES {
            let mut k = 0;
            self.samples.retain(|_| {
                k += 1;
                k % 2 == 1
            });
            self.every_ns *= 2;
        }
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Mean over standard deviation of daily net PnL: from whole UTC days
    /// when there are at least two, else from one-minute changes × √1440.
    /// `None` when undefined (too little data or no variation).
    pub fn sharpe_like_daily(&self) -> (Option<f64>, &'static str) {
        let mut days: BTreeMap<u64, f64> = BTreeMap::new();
        for (m, v) in &self.minutes {
            days.insert(m / 1440, *v);
        }
        let ratio = |series: Vec<f64>| -> Option<f64> {
            let mut prev = 0.0;
            let d: Vec<f64> = series
                .into_iter()
                .map(|v| {
                    let x = v - prev;
                    prev = v;
                    x
                })
                .collect();
            if d.len() < 2 {
                return None;
            }
            let n = d.len() as f64;
            let mean = d.iter().sum::<f64>() / n;
            let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (var > 0.0).then(|| mean / var.sqrt())
        };
        if days.len() >= 2 {
            (ratio(days.values().copied().collect()), "daily")
        } else {
            (
                ratio(self.minutes.values().copied().collect()).map(|r| r * 1440f64.sqrt()),
                "minutes_scaled_to_day",
            )
        }
    }

    /// Per instrument: venue, symbol, position, gross PnL, fees, turnover.
    pub fn per_instrument(&self) -> Vec<Value> {
        (0..self.pos.len())
            .map(|i| {
                let inst = self.table.get(crate::core::InstrumentId(i as u16));
                json!({
                    "venue": inst.venue.as_str(),
                    "symbol": inst.symbol,
                    "position": inst.qty_f64(self.pos[i]),
                    "pnl_gross": self.gross_of(i),
                    "fees": self.fees[i].to_f64(),
                    "pnl_net": self.gross_of(i) - self.fees[i].to_f64(),
                    "turnover": self.turnover[i] as f64 * self.unit(i),
                })
            })
            .collect()
    }

    pub fn labels(&self) -> Vec<String> {
        (0..self.pos.len())
            .map(|i| {
                let inst = self.table.get(crate::core::InstrumentId(i as u16));
                format!("{} {}", inst.venue.as_str(), inst.symbol)
            })
            .collect()
    }
}
