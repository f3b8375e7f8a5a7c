//! The terminal status line (one line every few seconds) and the latency table
//! printed at exit. Both read only metrics counters and the shared views.

use super::ready::ReadyReport;
use crate::core::{Venue, now_ns};
use crate::pipeline::shared::{STAGES, Shared};
use crate::telemetry::latency::LatencySummary;
use prometheus::IntCounterVec;
use prometheus::core::Collector;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Sums a counter vector over the series whose labels pass `keep`
/// (called with `(name, value)` pairs).
pub fn sum_counter(v: &IntCounterVec, keep: impl Fn(&str, &str) -> bool) -> u64 {
    let mut total = 0.0;
    for mf in v.collect() {
        for m in mf.get_metric() {
            if m.get_label().iter().all(|l| keep(l.name(), l.value())) {
                total += m.get_counter().value();
            }
        }
    }
    total as u64
}

/// Sums a counter vector over the series whose `label` equals `value`
/// (ASCII case-insensitive).
pub fn sum_where(v: &IntCounterVec, label: &str, value: &str) -> u64 {
    sum_counter(v, |n, x| n != label || x.eq_ignore_ascii_case(value))
}

/// Sums every series of a counter vector.
pub fn sum_all(v: &IntCounterVec) -> u64 {
    sum_counter(v, |_, _| true)
}

/// Counters the status line turns into rates and totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    msgs: u64,
    venue_msgs: [u64; Venue::COUNT],
}

/// Counter totals read from the metrics and the positions view.
#[derive(Debug, Clone, Default)]
struct Totals {
    counts: Counts,
    buy: u64,
    sell: u64,
    hold: u64,
    decisions: u64,
    exec: u64,
    skip: u64,
    orders: u64,
    fills: u64,
}

fn read_totals(shared: &Shared) -> Totals {
    let m = &shared.metrics;
    let mut counts = Counts {
        msgs: sum_all(&m.feed_messages),
        ..Counts::default()
    };
    for v in Venue::ALL {
        counts.venue_msgs[v as usize] = sum_where(&m.feed_messages, "venue", v.as_str());
    }
    let exec = sum_counter(&m.verdicts, |n, x| {
        n != "verdict" || x.eq_ignore_ascii_case("execute") || x.eq_ignore_ascii_case("exec")
    });
    let verdicts = sum_all(&m.verdicts);
    let pos = shared.positions.lock();
    let mut orders = sum_where(&m.orders, "status", "new");
    if orders == 0 {
        orders = pos.orders;
    }
    let mut fills = sum_all(&m.fills);
    if fills == 0 {
        fills = pos.fills;
    }
    Totals {
        counts,
        buy: sum_where(&m.decisions, "action", "buy"),
        sell: sum_where(&m.decisions, "action", "sell"),
        hold: sum_where(&m.decisions, "action", "hold"),
        decisions: sum_all(&m.decisions),
        exec,
        skip: verdicts.saturating_sub(exec),
        orders,
        fills,
    }
}

/// `950`, `12.3k`, `4.1M`; fractional below 10 (`0.4`).
pub fn compact(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "-".into()
    } else if a >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 10.0 || x == x.trunc() {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// A quantity with up to 8 decimals, trailing zeros dropped (`0.004`, `0`).
pub fn fmt_qty(q: f64) -> String {
    if !q.is_finite() {
        return "-".into();
    }
    let s = format!("{q:.8}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Nanoseconds as microseconds (`38µs`, `1.2µs`).
pub fn fmt_us(ns: u64) -> String {
    let us = ns as f64 / 1e3;
    if us < 10.0 {
        format!("{us:.1}µs")
    } else {
        format!("{us:.0}µs")
    }
}

/// The periodic one-line status; keeps the previous counters to show rates.
#[derive(Debug, Clone)]
pub struct StatusLine {
    prev: Counts,
    prev_ns: u64,
}

impl Default for StatusLine {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusLine {
    /// Rates of the first line are measured from now, starting at zero counts.
    pub fn new() -> Self {
        Self::starting_at(now_ns())
    }

    /// As [`StatusLine::new`], with an explicit start time (tests).
    pub fn starting_at(now_ns: u64) -> Self {
        StatusLine {
            prev: Counts::default(),
            prev_ns: now_ns,
        }
    }

    pub fn render(&mut self, shared: &Shared, ready: &ReadyReport) -> String {
        self.render_at(shared, ready, now_ns())
    }

    /// Renders the line at `now_ns`; rates are the counter deltas since the
    /// previous render divided by the elapsed time.
    pub fn render_at(&mut self, shared: &Shared, ready: &ReadyReport, now_ns: u64) -> String {
        let t = read_totals(shared);
        let dt = now_ns.saturating_sub(self.prev_ns) as f64 / 1e9;
        let rate = |now: u64, prev: u64| {
            if dt > 0.0 {
                now.saturating_sub(prev) as f64 / dt
            } else {
                0.0
            }
        };
        let mut s = String::with_capacity(256);
        s.push_str("[qt] ");
        if ready.ready {
            s.push_str("ready");
        } else {
            s.push_str("NOT READY");
            let shown: Vec<&str> = ready.reasons.iter().take(2).map(String::as_str).collect();
            if !shown.is_empty() {
                let _ = write!(s, " ({}", shown.join(", "));
                if ready.reasons.len() > shown.len() {
                    let _ = write!(s, ", +{} more", ready.reasons.len() - shown.len());
                }
                s.push(')');
            }
        }

        let _ = write!(
            s,
            " | msgs {}/s",
            compact(rate(t.counts.msgs, self.prev.msgs))
        );
        let venues: Vec<String> = Venue::ALL
            .iter()
            .filter(|v| shared.instruments.of_venue(**v).next().is_some())
            .map(|v| {
                let i = *v as usize;
                format!(
                    "{v} {}/s",
                    compact(rate(t.counts.venue_msgs[i], self.prev.venue_msgs[i]))
                )
            })
            .collect();
        if !venues.is_empty() {
            let _ = write!(s, " ({})", venues.join(", "));
        }

        let in_sync = shared
            .books
            .iter()
            .filter(|b| b.in_sync.load(Ordering::Relaxed))
            .count();
        let _ = write!(s, " | books {in_sync}/{} in sync", shared.books.len());
        let _ = write!(
            s,
            " | decisions {} (B {} S {} H {})",
            compact(t.decisions as f64),
            compact(t.buy as f64),
            compact(t.sell as f64),
            compact(t.hold as f64)
        );
        let _ = write!(
            s,
            " | exec {} skip {}",
            compact(t.exec as f64),
            compact(t.skip as f64)
        );
        let _ = write!(
            s,
            " | orders {} fills {}",
            compact(t.orders as f64),
            compact(t.fills as f64)
        );

        {
            let pos = shared.positions.lock();
            s.push_str(" | pos");
            if pos.positions.is_empty() {
                s.push_str(" -");
            }
            // `venue:symbol`: the same symbol on two venues stays apart
            // (the venue name is core's `Venue::as_str`, set by the view).
            for p in &pos.positions {
                let _ = write!(s, " {}:{} {}", p.venue, p.symbol, fmt_qty(p.qty));
            }
            let _ = write!(
                s,
                " | pnl {:.2} (unrl {:.2})",
                pos.realized_pnl, pos.unrealized_pnl
            );
        }

        match shared.latency.get("tick_to_order") {
            Some(l) if l.count > 0 => {
                let _ = write!(
                    s,
                    " | t2o p50 {} p99 {}",
                    fmt_us(l.p50_ns),
                    fmt_us(l.p99_ns)
                );
            }
            _ => s.push_str(" | t2o -"),
        }

        self.prev = t.counts;
        self.prev_ns = now_ns;
        s
    }
}

fn latency_row(out: &mut String, l: &LatencySummary) {
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1e3);
    let _ = writeln!(
        out,
        "  {:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        l.name,
        l.count,
        us(l.p50_ns),
        us(l.p90_ns),
        us(l.p99_ns),
        us(l.p999_ns),
        us(l.max_ns)
    );
}

/// Multi-line summary for exit: a latency table (µs) per stage and
/// tick-to-order, then the run's totals.
pub fn final_summary(shared: &Shared) -> String {
    let mut out = String::new();
    let mut lat = shared.latency.summary();
    // Pipeline order first, then anything else, tick_to_order last.
    let rank = |n: &str| match STAGES.iter().position(|s| *s == n) {
        Some(i) => i,
        None if n == "tick_to_order" => usize::MAX,
        None => STAGES.len(),
    };
    lat.sort_by(|a, b| {
        rank(&a.name)
            .cmp(&rank(&b.name))
            .then_with(|| a.name.cmp(&b.name))
    });
    let _ = writeln!(out, "latency (µs):");
    let _ = writeln!(
        out,
        "  {:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "stage", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    if lat.is_empty() {
        let _ = writeln!(out, "  (no samples)");
    }
    for l in &lat {
        latency_row(&mut out, l);
    }

    let t = read_totals(shared);
    let m = &shared.metrics;
    let _ = writeln!(out, "totals:");
    let venues: Vec<String> = Venue::ALL
        .iter()
        .filter(|v| t.counts.venue_msgs[**v as usize] > 0)
        .map(|v| format!("{v} {}", t.counts.venue_msgs[*v as usize]))
        .collect();
    let _ = write!(out, "  messages   {}", t.counts.msgs);
    if !venues.is_empty() {
        let _ = write!(out, " ({})", venues.join(", "));
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "  decisions  {} (BUY {} SELL {} HOLD {})",
        t.decisions, t.buy, t.sell, t.hold
    );
    let mut skips: Vec<(String, u64)> = Vec::new();
    for mf in m.verdicts.collect() {
        for metric in mf.get_metric() {
            let labels = metric.get_label();
            let get = |k: &str| {
                labels
                    .iter()
                    .find(|l| l.name() == k)
                    .map(|l| l.value().to_string())
                    .unwrap_or_default()
            };
            let verdict = get("verdict");
            if verdict.eq_ignore_ascii_case("execute") || verdict.eq_ignore_ascii_case("exec") {
                continue;
            }
            let n = metric.get_counter().value() as u64;
            if n > 0 {
                skips.push((get("reason"), n));
            }
        }
    }
    skips.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let _ = write!(out, "  verdicts   execute {} skip {}", t.exec, t.skip);
    if !skips.is_empty() {
        let list: Vec<String> = skips.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = write!(out, " ({})", list.join(", "));
    }
    out.push('\n');
    let pos = shared.positions.lock();
    let _ = writeln!(
        out,
        "  orders     {} fills {} rejects {}",
        t.orders, t.fills, pos.rejects
    );
    let _ = writeln!(
        out,
        "  pnl        realized {:.4} unrealized {:.4} fees {:.4}",
        pos.realized_pnl, pos.unrealized_pnl, pos.fees
    );
    for p in &pos.positions {
        let _ = writeln!(
            out,
            "  position   {} {} {} @ {} (fills {})",
            p.venue,
            p.symbol,
            fmt_qty(p.qty),
            fmt_qty(p.avg_entry_px),
            p.fills
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::ready::tests::test_shared;
    use crate::pipeline::shared::PositionView;

    const S: u64 = 1_000_000_000;

    fn ready() -> ReadyReport {
        ReadyReport {
            ready: true,
            reasons: vec![],
            checks: serde_json::json!({}),
            trading: Default::default(),
        }
    }

    fn fill(shared: &Shared) {
        let m = &shared.metrics;
        m.feed_messages
            .with_label_values(&["binance", "depth"])
            .inc_by(10_000);
        m.feed_messages
            .with_label_values(&["binance", "trade"])
            .inc_by(2_300);
        m.decisions.with_label_values(&["BUY"]).inc_by(12);
        m.decisions.with_label_values(&["SELL"]).inc_by(3);
        m.decisions.with_label_values(&["HOLD"]).inc_by(10_085);
        m.verdicts.with_label_values(&["execute", ""]).inc_by(15);
        m.verdicts
            .with_label_values(&["skip", "hold"])
            .inc_by(10_085);
        m.orders
            .with_label_values(&["binance", "new", ""])
            .inc_by(15);
        m.orders
            .with_label_values(&["binance", "filled", ""])
            .inc_by(15);
        m.fills
            .with_label_values(&["binance", "BTCUSDT"])
            .inc_by(15);
        shared.books[0].in_sync.store(true, Ordering::Relaxed);
        shared.books[1].in_sync.store(true, Ordering::Relaxed);
        {
            let mut p = shared.positions.lock();
            p.positions = vec![
                PositionView {
                    venue: "binance".into(),
                    symbol: "BTCUSDT".into(),
                    qty: 0.004,
                    avg_entry_px: 61800.2,
                    fills: 15,
                    ..Default::default()
                },
                PositionView {
                    venue: "bybit".into(),
                    symbol: "BTCUSDT".into(),
                    qty: 0.0,
                    ..Default::default()
                },
            ];
            p.realized_pnl = -0.42;
            p.unrealized_pnl = 0.13;
        }
        let h = shared.latency.slot("tick_to_order");
        let mut h = h.lock();
        for _ in 0..98 {
            h.record(38_000).unwrap();
        }
        h.record_n(120_000, 2).unwrap();
    }

    #[test]
    fn status_line_counts_and_rates() {
        let shared = test_shared();
        fill(&shared);
        let mut sl = StatusLine::starting_at(0);
        let line = sl.render_at(&shared, &ready(), S);
        assert_eq!(
            line,
            "[qt] ready | msgs 12.3k/s (binance 12.3k/s) | books 2/2 in sync \
             | decisions 10.1k (B 12 S 3 H 10.1k) | exec 15 skip 10.1k \
             | orders 15 fills 15 | pos binance:BTCUSDT 0.004 bybit:BTCUSDT 0 \
             | pnl -0.42 (unrl 0.13) | t2o p50 38µs p99 120µs"
        );

        // Rates come from deltas: 500 more messages over 2 s.
        shared
            .metrics
            .feed_messages
            .with_label_values(&["binance", "depth"])
            .inc_by(500);
        let line = sl.render_at(&shared, &ready(), 3 * S);
        assert!(line.contains("msgs 250/s (binance 250/s)"), "{line}");
        // No new messages: zero rate; totals unchanged.
        let line = sl.render_at(&shared, &ready(), 4 * S);
        assert!(line.contains("msgs 0/s"), "{line}");
        assert!(
            line.contains("decisions 10.1k (B 12 S 3 H 10.1k)"),
            "{line}"
        );
    }

    #[test]
    fn status_line_not_ready_and_empty() {
        let shared = test_shared();
        let rep = ReadyReport {
            ready: false,
            reasons: vec!["a".into(), "b".into(), "c".into()],
            checks: serde_json::json!({}),
            trading: Default::default(),
        };
        let line = StatusLine::starting_at(0).render_at(&shared, &rep, S);
        assert!(
            line.starts_with("[qt] NOT READY (a, b, +1 more) | msgs 0/s"),
            "{line}"
        );
        assert!(line.contains("books 0/2 in sync"), "{line}");
        assert!(
            line.contains("pos - | pnl 0.00 (unrl 0.00) | t2o -"),
            "{line}"
        );
        // Same timestamp twice: no division by zero.
        let mut sl = StatusLine::starting_at(S);
        assert!(sl.render_at(&shared, &rep, S).contains("msgs 0/s"));
    }

    #[test]
    fn final_summary_table() {
        let shared = test_shared();
        fill(&shared);
        shared.latency.slot("book").lock().record(1_500).unwrap();
        let out = final_summary(&shared);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "latency (µs):");
        assert!(lines[1].contains("p99.9"), "{out}");
        assert!(lines[2].trim_start().starts_with("book"), "{out}");
        assert!(lines[3].trim_start().starts_with("tick_to_order"), "{out}");
        assert!(lines[3].contains(" 100 "), "{out}");
        assert!(lines[3].contains("38.0"), "{out}");
        assert!(out.contains("messages   12300 (binance 12300)"), "{out}");
        assert!(
            out.contains("decisions  10100 (BUY 12 SELL 3 HOLD 10085)"),
            "{out}"
        );
        assert!(out.contains("execute 15 skip 10085 (hold 10085)"), "{out}");
        assert!(out.contains("orders     15 fills 15 rejects 0"), "{out}");
        assert!(out.contains("realized -0.4200"), "{out}");
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(12_345.0), "12.3k");
        assert_eq!(compact(4_100_000.0), "4.1M");
        assert_eq!(compact(0.4), "0.4");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(f64::NAN), "-");
        assert_eq!(fmt_qty(0.004), "0.004");
        assert_eq!(fmt_qty(-0.0), "0");
        assert_eq!(fmt_qty(-1.5), "-1.5");
        assert_eq!(fmt_qty(2.0), "2");
        assert_eq!(fmt_us(38_000), "38µs");
        assert_eq!(fmt_us(1_234), "1.2µs");
    }
}
