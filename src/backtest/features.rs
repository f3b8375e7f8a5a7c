//! Training data from a recording: for every scored event (each decision
//! the scorer makes, HOLDs included), every registered feature (names
//! from `score::FEATURE_NAMES`, in slot order; the export's scorer computes
//! all of them, not only the model's) and the forward mid return
//! at each horizon: (mid as of t + h) / (mid at the decision) − 1, in bps,
//! where "as of" is the last book update of that instrument at or before
//! t + h. Rows whose horizon runs past the end of the recording have an
//! empty value. Rows are written once all their horizons are known, so
//! memory holds only the last `max horizon` of rows.

use super::driver::Observer;
use crate::core::{BookTop, Decision, InstrumentTable};
use crate::score::FEATURE_NAMES;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

/// Parses `100ms,1s,10s` (units ms, s, m; a bare number is ms) to ns.
pub fn parse_horizons(s: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (num, mult) = if let Some(n) = part.strip_suffix("ms") {
            (n, 1_000_000)
        } else if let Some(n) = part.strip_suffix('s') {
            (n, 1_000_000_000)
        } else if let Some(n) = part.strip_suffix('m') {
            (n, 60_000_000_000)
        } else {
            (part, 1_000_000)
        };
        let v: u64 = num
            .trim()
            .parse()
            .map_err(|_| format!("horizon `{part}`: expected e.g. 100ms, 1s, 10s"))?;
        if v == 0 {
            return Err(format!("horizon `{part}` must be positive"));
        }
        out.push(v * mult);
    }
    if out.is_empty() {
        return Err("no horizons given".into());
    }
    Ok(out)
}

/// A horizon's column name: `ret_100ms_bps`, `ret_1s_bps`.
pub fn horizon_name(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000_000) {
        format!("ret_{}s_bps", ns / 1_000_000_000)
    } else {
        format!("ret_{}ms_bps", ns / 1_000_000)
    }
}

/// One row waiting for its forward returns.
struct Row {
    t_ns: u64,
    decision_id: u64,
    action: &'static str,
    score: f32,
    mid0: f64,
    features: Vec<f32>,
    /// Per horizon: the mid as of t + h, once known.
    fwd: Vec<Option<f64>>,
}

/// Per instrument: rows in time order, and per horizon the first row whose
/// horizon is not yet settled.
#[derive(Default)]
struct InstRows {
    rows: VecDeque<Row>,
    next: Vec<usize>,
    last_mid: Option<f64>,
}

/// Where rows go.
pub trait RowSink {
    fn header(&mut self, columns: &[String]) -> std::io::Result<()>;
    /// One row: key columns as text, then the numbers (`None` = empty).
    fn row(&mut self, keys: &[&str], values: &[Option<f64>]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
}

/// CSV with a header line.
pub struct CsvSink<W: Write> {
    out: W,
    line: String,
}

impl<W: Write> CsvSink<W> {
    pub fn new(out: W) -> Self {
        CsvSink {
            out,
            line: String::with_capacity(512),
        }
    }
}

impl<W: Write> RowSink for CsvSink<W> {
    fn header(&mut self, columns: &[String]) -> std::io::Result<()> {
        writeln!(self.out, "{}", columns.join(","))
    }

    fn row(&mut self, keys: &[&str], values: &[Option<f64>]) -> std::io::Result<()> {
        use std::fmt::Write as _;
        self.line.clear();
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            self.line.push_str(k);
        }
        for v in values {
            self.line.push(',');
            if let Some(v) = v
                && v.is_finite()
            {
                let _ = write!(self.line, "{v}");
            }
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The features exporter (an [`Observer`] of a scoring-only replay).
pub struct FeatureExport<'a> {
    table: Arc<InstrumentTable>,
    horizons: Vec<u64>,
    insts: Vec<InstRows>,
    sink: &'a mut dyn RowSink,
    pub rows_written: u64,
    pub error: Option<std::io::Error>,
    /// Feature count of the decisions (checked against the names).
    n_features: usize,
}

impl<'a> FeatureExport<'a> {
    pub fn new(
        table: Arc<InstrumentTable>,
        horizons: Vec<u64>,
        sink: &'a mut dyn RowSink,
    ) -> std::io::Result<FeatureExport<'a>> {
        let mut cols: Vec<String> = ["ts_ns", "venue", "symbol", "decision_id", "action"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        cols.push("score".into());
        cols.push("mid_at_decision".into());
        if let Some(dup) = FEATURE_NAMES.iter().find(|n| cols.iter().any(|c| c == *n)) {
            return Err(std::io::Error::other(format!(
                "feature `{dup}` has the name of a key column of the export"
            )));
        }
        cols.extend(FEATURE_NAMES.iter().map(|s| s.to_string()));
        cols.extend(horizons.iter().map(|h| horizon_name(*h)));
        sink.header(&cols)?;
        let n = table.len();
        Ok(FeatureExport {
            table,
            insts: (0..n)
                .map(|_| InstRows {
                    next: vec![0; horizons.len()],
                    ..Default::default()
                })
                .collect(),
            horizons,
            sink,
            rows_written: 0,
            error: None,
            n_features: FEATURE_NAMES.len(),
        })
    }

    fn mid(top: &BookTop) -> Option<f64> {
        let (b, a) = (top.best_bid()?, top.best_ask()?);
        Some((b.px as f64 + a.px as f64) / 2.0)
    }

    /// Writes the settled rows at the front of instrument `i`.
    fn flush_front(&mut self, i: usize, all: bool) {
        let inst = self.table.get(crate::core::InstrumentId(i as u16));
        let (venue, symbol) = (inst.venue.as_str(), inst.symbol.clone());
        let ir = &mut self.insts[i];
        loop {
            let settled = ir.next.iter().copied().min().unwrap_or(0);
            if ir.rows.is_empty() || (!all && settled == 0) {
                break;
            }
            let Some(r) = ir.rows.pop_front() else { break };
            for n in &mut ir.next {
                *n = n.saturating_sub(1);
            }
            let mut vals: Vec<Option<f64>> = Vec::with_capacity(2 + r.features.len() + r.fwd.len());
            vals.push(Some(r.score as f64));
            vals.push(Some(r.mid0 / 10f64.powi(inst.price_scale as i32)));
            vals.extend(r.features.iter().map(|f| Some(*f as f64)));
            vals.extend(r.fwd.iter().map(|m| m.map(|m| (m / r.mid0 - 1.0) * 1e4)));
            let ts = r.t_ns.to_string();
            let id = r.decision_id.to_string();
            if self.error.is_none() {
                match self.sink.row(&[&ts, venue, &symbol, &id, r.action], &vals) {
                    Ok(()) => self.rows_written += 1,
                    Err(e) => self.error = Some(e),
                }
            }
        }
    }

    /// Ends the export: rows whose horizon was not reached get no value.
    pub fn finish(&mut self) -> std::io::Result<()> {
        for i in 0..self.insts.len() {
            self.flush_front(i, true);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.sink.finish()
    }
}

impl Observer for FeatureExport<'_> {
    fn on_book(&mut self, top: &BookTop) {
        let i = top.inst.idx();
        let Some(ir) = self.insts.get_mut(i) else {
            return;
        };
        let mid = if top.in_sync { Self::mid(top) } else { None };
        let t = top.recv_ns;
        // Rows whose t + h passed before this update: their as-of mid is the
        // last one before it.
        for (k, h) in self.horizons.iter().enumerate() {
            while ir.next[k] < ir.rows.len() && ir.rows[ir.next[k]].t_ns + h < t {
                let idx = ir.next[k];
                ir.rows[idx].fwd[k] = ir.last_mid;
                ir.next[k] += 1;
            }
        }
        if mid.is_some() {
            ir.last_mid = mid;
        }
        self.flush_front(i, false);
    }

    fn on_decision(&mut self, d: &Decision) {
        let Some(mid0) = Self::mid(&d.book) else {
            return;
        };
        let Some(ir) = self.insts.get_mut(d.inst.idx()) else {
            return;
        };
        debug_assert_eq!(d.features.len(), self.n_features);
        ir.rows.push_back(Row {
            t_ns: d.recv_ns,
            decision_id: d.id,
            action: d.action.as_str(),
            score: d.score,
            mid0,
            features: d.features.to_vec(),
            fwd: vec![None; self.horizons.len()],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizons_parse() {
        assert_eq!(
            parse_horizons("100ms,1s,10s").unwrap(),
            vec![100_000_000, 1_000_000_000, 10_000_000_000]
        );
        assert_eq!(parse_horizons("250").unwrap(), vec![250_000_000]);
        assert!(parse_horizons("0s").is_err());
        assert!(parse_horizons("x").is_err());
        assert_eq!(horizon_name(100_000_000), "ret_100ms_bps");
        assert_eq!(horizon_name(10_000_000_000), "ret_10s_bps");
    }
}
