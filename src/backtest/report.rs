//! What a backtest made: [`Report`] turns the [`Ledger`] (`super::ledger`)
//! of a replay into PnL (gross, net), fees, turnover, fills,
//! hit rate, max drawdown, a Sharpe-like ratio per day, verdict counts by
//! reason and latency percentiles, as JSON and as one self-contained HTML
//! page with inline SVG charts (no script, no network).

use serde_json::{Value, json};
use std::fmt::Write as _;

pub use super::ledger::{Ledger, MAX_SAMPLES, Sample};

/// The report: `deterministic` is identical for two replays of one
/// recording; `run` holds wall-clock figures of this run.
pub struct Report {
    pub json: Value,
    samples: Vec<Sample>,
    labels: Vec<String>,
}

impl Report {
    pub fn build(r: &super::driver::Replay, read: &crate::capture::ReadStats) -> Report {
        let l = &r.ledger;
        let labels = r.verdict_labels();
        let mut verdicts = serde_json::Map::new();
        for (k, n) in r.verdicts.iter().enumerate() {
            if *n > 0 {
                let name = if k == 0 {
                    "EXECUTE".to_string()
                } else {
                    format!("SKIP:{}", labels.get(k).cloned().unwrap_or_default())
                };
                verdicts.insert(name, json!(n));
            }
        }
        let (count, p50, p90, p99, max) = r.latency().tick_to_order();
        let (sharpe, sharpe_basis) = l.sharpe_like_daily();
        let decided = l.wins + l.losses;
        let s = &r.stats;
        let wall_s = s.wall_ns as f64 / 1e9;
        let gross = l.gross();
        let json = json!({
            "window": {
                "first_ns": s.first_ts_ns,
                "last_ns": s.last_ts_ns,
                "first": fmt_ns(s.first_ts_ns),
                "last": fmt_ns(s.last_ts_ns),
                "seconds": (s.last_ts_ns.saturating_sub(s.first_ts_ns)) as f64 / 1e9,
            },
            "model": {
                "feed_delay_us": r.latency().feed_delay_ns / 1000,
                "order_delay_us": r.latency().order_delay_ns / 1000,
            },
            "pnl_gross": gross,
            "fees": l.fees(),
            "pnl_net": gross - l.fees(),
            "turnover": l.turnover(),
            "orders": s.orders,
            "orders_done": l.orders_done,
            "fills": l.fills,
            "hit_rate": if decided > 0 { json!(l.wins as f64 / decided as f64) } else { Value::Null },
            "winning_fills": l.wins,
            "losing_fills": l.losses,
            "max_drawdown": l.max_drawdown,
            "sharpe_like_daily": sharpe,
            "sharpe_basis": sharpe_basis,
            "decisions": s.decisions,
            "verdicts": verdicts,
            "latency": {
                "tick_to_order_modeled_ns": {"count": count, "p50": p50, "p90": p90, "p99": p99, "max": max},
            },
            "per_instrument": l.per_instrument(),
            "replay": s,
            "recording": read,
            "run": {
                "wall_seconds": wall_s,
                "records_per_second": if wall_s > 0.0 { s.records as f64 / wall_s } else { 0.0 },
                "frames_per_second": if wall_s > 0.0 { s.frames as f64 / wall_s } else { 0.0 },
                "peak_rss_bytes": peak_rss_bytes(),
            },
        });
        Report {
            json,
            samples: l.samples().to_vec(),
            labels: l.labels(),
        }
    }

    /// One self-contained HTML page: headline figures, equity and drawdown,
    /// position over time, PnL per instrument (inline SVG).
    pub fn html(&self) -> String {
        let j = &self.json;
        let f = |k: &str| j[k].as_f64().unwrap_or(0.0);
        let mut h = String::new();
        h.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>quantum-trader backtest</title><style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}th{text-align:left}h2{margin-top:28px}svg{background:#fafafa;border:1px solid #ddd}</style></head><body>");
        let _ = write!(
            h,
            "<h1>Backtest {} &ndash; {}</h1>",
            esc(j["window"]["first"].as_str().unwrap_or("")),
            esc(j["window"]["last"].as_str().unwrap_or(""))
        );
        h.push_str("<table id=\"summary\">");
        for (name, v) in [
            ("PnL gross", format!("{:.4}", f("pnl_gross"))),
            ("Fees", format!("{:.4}", f("fees"))),
            ("PnL net", format!("{:.4}", f("pnl_net"))),
            ("Turnover", format!("{:.2}", f("turnover"))),
            ("Orders", j["orders"].to_string()),
            ("Fills", j["fills"].to_string()),
            ("Hit rate", j["hit_rate"].to_string()),
            ("Max drawdown", format!("{:.4}", f("max_drawdown"))),
            (
                "Sharpe-like / day",
                format!(
                    "{} ({})",
                    j["sharpe_like_daily"],
                    j["sharpe_basis"].as_str().unwrap_or("")
                ),
            ),
            ("Decisions", j["decisions"].to_string()),
            (
                "Tick-to-order p50/p99 (modeled, µs)",
                format!(
                    "{} / {}",
                    j["latency"]["tick_to_order_modeled_ns"]["p50"]
                        .as_u64()
                        .unwrap_or(0)
                        / 1000,
                    j["latency"]["tick_to_order_modeled_ns"]["p99"]
                        .as_u64()
                        .unwrap_or(0)
                        / 1000
                ),
            ),
        ] {
            let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(name), esc(&v));
        }
        h.push_str("</table>");
        let t: Vec<f64> = self.samples.iter().map(|s| s.t_ns as f64 / 1e9).collect();
        h.push_str("<h2>Equity (gross, net) and drawdown</h2>");
        let gross: Vec<f64> = self.samples.iter().map(|s| s.gross).collect();
        let net: Vec<f64> = self.samples.iter().map(|s| s.net).collect();
        let mut peak = f64::MIN;
        let dd: Vec<f64> = net
            .iter()
            .map(|v| {
                peak = peak.max(*v);
                v - peak
            })
            .collect();
        h.push_str(&line_chart(
            "equity",
            &t,
            &[("gross", &gross, "#1f77b4"), ("net", &net, "#2ca02c")],
        ));
        h.push_str(&line_chart("drawdown", &t, &[("drawdown", &dd, "#d62728")]));
        h.push_str("<h2>Position over time</h2>");
        let colors = [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        ];
        let pos: Vec<Vec<f64>> = (0..self.labels.len())
            .map(|i| {
                self.samples
                    .iter()
                    .map(|s| s.pos.get(i).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        let series: Vec<(&str, &Vec<f64>, &str)> = self
            .labels
            .iter()
            .zip(pos.iter())
            .enumerate()
            .map(|(i, (l, p))| (l.as_str(), p, colors[i % colors.len()]))
            .collect();
        let refs: Vec<(&str, &[f64], &str)> = series
            .iter()
            .map(|(a, b, c)| (*a, b.as_slice(), *c))
            .collect();
        h.push_str(&line_chart("position", &t, &refs));
        h.push_str("<h2>PnL per instrument (net)</h2>");
        let bars: Vec<(String, f64)> = j["per_instrument"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            format!(
                                "{} {}",
                                x["venue"].as_str().unwrap_or(""),
                                x["symbol"].as_str().unwrap_or("")
                            ),
                            x["pnl_net"].as_f64().unwrap_or(0.0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        h.push_str(&bar_chart("pnl_per_instrument", &bars));
        h.push_str("<h2>Verdicts</h2><table id=\"verdicts\">");
        if let Some(m) = j["verdicts"].as_object() {
            for (k, v) in m {
                let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), v);
            }
        }
        h.push_str("</table></body></html>\n");
        h
    }
}

const W: f64 = 900.0;
const H: f64 = 260.0;
const PAD: f64 = 50.0;

/// An SVG line chart of `series` over `t`, with the y range labelled.
fn line_chart(id: &str, t: &[f64], series: &[(&str, &[f64], &str)]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"{id}\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">"
    );
    let (t0, t1) = (
        t.first().copied().unwrap_or(0.0),
        t.last().copied().unwrap_or(1.0),
    );
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    for (_, v, _) in series {
        for x in v.iter() {
            lo = lo.min(*x);
            hi = hi.max(*x);
        }
    }
    if lo > hi {
        lo = 0.0;
        hi = 1.0;
    }
    if hi - lo < 1e-12 {
        lo -= 1.0;
        hi += 1.0;
    }
    let span_t = if t1 > t0 { t1 - t0 } else { 1.0 };
    let x = |v: f64| PAD + (v - t0) / span_t * (W - 2.0 * PAD);
    let y = |v: f64| H - PAD + (lo - v) / (hi - lo) * (H - 2.0 * PAD);
    let _ = write!(
        s,
        "<line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>",
        H - PAD,
        W - PAD,
        H - PAD
    );
    let _ = write!(
        s,
        "<text x=\"4\" y=\"{}\" font-size=\"11\">{:.4}</text><text x=\"4\" y=\"{}\" font-size=\"11\">{:.4}</text>",
        PAD,
        hi,
        H - PAD,
        lo
    );
    let _ = write!(
        s,
        "<text x=\"{PAD}\" y=\"{}\" font-size=\"11\">+0 s</text><text x=\"{}\" y=\"{}\" font-size=\"11\">+{:.0} s</text>",
        H - PAD + 16.0,
        W - PAD - 40.0,
        H - PAD + 16.0,
        t1 - t0
    );
    if lo < 0.0 && hi > 0.0 {
        let _ = write!(
            s,
            "<line x1=\"{PAD}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#ccc\" stroke-dasharray=\"4\"/>",
            y(0.0),
            W - PAD
        );
    }
    for (k, (name, v, color)) in series.iter().enumerate() {
        let mut d = String::new();
        for (i, (tv, yv)) in t.iter().zip(v.iter()).enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(*tv),
                y(*yv)
            );
        }
        if d.is_empty() {
            // No samples: a flat line at zero so the chart still shows its axes.
            let _ = write!(d, "M{PAD},{:.1} L{},{:.1}", y(0.0), W - PAD, y(0.0));
        }
        let _ = write!(
            s,
            "<path class=\"series\" data-name=\"{}\" d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>",
            esc(name)
        );
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}</text>",
            W - PAD - 160.0,
            16.0 + 14.0 * k as f64,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// An SVG bar chart (one bar per label, from a zero line).
fn bar_chart(id: &str, bars: &[(String, f64)]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"{id}\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">"
    );
    let m = bars.iter().map(|b| b.1.abs()).fold(0.0, f64::max).max(1e-9);
    let zero = H / 2.0;
    let n = bars.len().max(1) as f64;
    let bw = (W - 2.0 * PAD) / n;
    let _ = write!(
        s,
        "<line x1=\"{PAD}\" y1=\"{zero}\" x2=\"{}\" y2=\"{zero}\" stroke=\"#999\"/>",
        W - PAD
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let hgt = (v.abs() / m * (H / 2.0 - PAD)).max(1.0);
        let top = if *v >= 0.0 { zero - hgt } else { zero };
        let x = PAD + bw * i as f64 + bw * 0.15;
        let color = if *v >= 0.0 { "#2ca02c" } else { "#d62728" };
        let _ = write!(
            s,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{hgt:.1}\" fill=\"{color}\"><title>{}: {v:.4}</title></rect>",
            bw * 0.7,
            esc(label)
        );
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{}\" font-size=\"10\">{}</text><text x=\"{x:.1}\" y=\"{}\" font-size=\"10\">{v:.4}</text>",
            H - 20.0,
            esc(label),
            H - 8.0
        );
    }
    s.push_str("</svg>");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a unix-ns time.
pub fn fmt_ns(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = (ns % 1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ns.to_string(),
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ExecReport, Instrument, InstrumentId, InstrumentTable, Money, Side, Venue};
    use std::sync::Arc;

    fn table() -> Arc<InstrumentTable> {
        let mut t = InstrumentTable::new();
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                "BTCUSDT",
                "BTCUSDT",
                "0.10",
                "0.001",
                5.0,
            )
            .unwrap(),
        );
        Arc::new(t)
    }

    fn fill(side: Side, px: i64, qty: i64, fee: f64, realized: f64) -> ExecReport {
        ExecReport::Fill {
            client_order_id: 1,
            inst: InstrumentId(0),
            side,
            px,
            qty,
            fee: Money::from_f64(fee),
            fee_asset: crate::core::FeeAsset::QUOTE,
            position_after: 0,
            realized_pnl: Money::from_f64(realized),
        }
    }

    #[test]
    fn pnl_is_exact_and_drawdown_follows_the_net_curve() {
        let mut l = Ledger::new(table());
        // Buy 0.002 at 60000.00, sell 0.002 at 60010.00: +0.02 gross.
        l.on_report(1, &fill(Side::Buy, 6_000_000, 2, 0.048, 0.0));
        assert!((l.gross() - 0.0).abs() < 1e-12, "marked at its own price");
        l.on_report(2, &fill(Side::Sell, 6_001_000, 2, 0.048, 0.02));
        assert!((l.gross() - 0.02).abs() < 1e-12, "{}", l.gross());
        assert!((l.fees() - 0.096).abs() < 1e-12);
        assert!((l.turnover() - 240.02).abs() < 1e-9, "{}", l.turnover());
        assert_eq!((l.fills, l.wins, l.losses), (2, 1, 0));
        // Net curve: -0.048, -0.076: drawdown 0.076 from the 0 start.
        assert!((l.max_drawdown - 0.076).abs() < 1e-12, "{}", l.max_drawdown);
        // Marked to a mid: long 0.001 at 60000.00, mid 59990.00 -> -0.01.
        l.on_report(3, &fill(Side::Buy, 6_000_000, 1, 0.0, 0.0));
        let lv = |px| crate::core::Level { px, qty: 1 };
        let mut top = crate::core::BookTop {
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns: 0,
            hop_ns: 0,
            exch_ms: 0,
            update_id: 0,
            in_sync: true,
            n_bids: 1,
            n_asks: 1,
            bids: [crate::core::Level::default(); crate::core::TOP_LEVELS],
            asks: [crate::core::Level::default(); crate::core::TOP_LEVELS],
            xv_best_bid: 0,
            xv_best_ask: 0,
            xv_lead_lag_bps: 0.0,
            extra: Default::default(),
        };
        top.bids[0] = lv(5_998_000);
        top.asks[0] = lv(6_000_000);
        l.sample(10_000_000_000, &[Some(top)]);
        assert!((l.gross() - (0.02 - 0.01)).abs() < 1e-12, "{}", l.gross());
    }

    #[test]
    fn samples_stay_bounded() {
        let mut l = Ledger::new(table());
        for k in 0..(MAX_SAMPLES as u64 * 5) {
            l.sample(k * 2_000_000_000, &[None]);
        }
        assert!(l.samples().len() < MAX_SAMPLES);
        assert!(l.samples().windows(2).all(|w| w[0].t_ns < w[1].t_ns));
    }
}
