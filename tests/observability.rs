//! The monitoring kit against the real engine: `promtool` accepts the alert
//! rules (and their unit tests) and the example scrape config; a real
//! Prometheus scrapes the running demo and its HTTP API returns the engine's
//! series; and every metric name used in `config/prometheus/alerts.yml` and
//! `config/grafana/quantum-trader.json` is one the engine really exports.
//! The Prometheus parts print SKIP when Debian's `prometheus` package is not
//! installed (scripts/test.sh installs it).

mod ops_common;

use ops_common::*;
use quantum_trader::venue::binance::config::BinanceConfig;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every `qt_*` name in `text`.
fn qt_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(p) = text[i..].find("qt_") {
        let start = i + p;
        let boundary =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if boundary {
            out.insert(text[start..end].to_string());
        }
        i = end.max(start + 1);
    }
    out
}

/// Sample names the exposition carries: every family, and for histograms
/// their `_bucket`, `_sum` and `_count` series.
fn exported(metrics: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in metrics.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (Some(name), Some(kind)) = (it.next(), it.next()) else {
                continue;
            };
            out.insert(name.to_string());
            if kind == "histogram" || kind == "summary" {
                for s in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{name}{s}"));
                }
            }
        }
    }
    out
}

/// Every PromQL `expr` of the Grafana dashboard.
fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string("config/grafana/quantum-trader.json").unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == "expr" {
                        out.push(x.as_str().unwrap_or_default().to_string());
                    } else {
                        walk(x, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&v, &mut out);
    out
}

/// A demo engine with every optional series present: an advisory heartbeat,
/// a journal, a manual breaker trip (made through the admin API), and the
/// simulator's faults (a malformed frame, a dropped connection, a silence).
fn rich_engine(dir: &std::path::Path) -> Engine {
    let sim_port = free_port();
    let cfg = demo_config(|c| {
        c.sim.listen = format!("127.0.0.1:{sim_port}");
        if let Some(b) = c.venues.get_mut::<BinanceConfig>() {
            b.silence_timeout_ms = 1000;
            b.backoff_min_ms = 50;
            b.backoff_max_ms = 200;
        }
        c.risk.heartbeats = vec![quantum_trader::config::HeartbeatConfig {
            service: "rl_trainer".into(),
            policy: quantum_trader::config::HeartbeatPolicy::Advisory,
            max_age_ms: 1000,
        }];
    });
    let file = write_config(dir, &cfg);
    let eng = Engine::spawn(&file, &[("QT_ADMIN_TOKEN", "obs-test-token")]);
    assert!(
        wait_until(Duration::from_secs(30), || http(eng.ops, "GET", "/ready").0
            == 200),
        "demo never ready: {}",
        eng.stderr_text()
    );
    // Let orders and fills happen before tripping the breaker.
    wait_until(Duration::from_secs(20), || {
        let (_, m) = http(eng.ops, "GET", "/metrics");
        m.lines().any(|l| l.starts_with("qt_fills_total{"))
    });
    let (s, body) = http_with(
        eng.ops,
        "POST",
        "/api/circuit-breaker/trip?reason=observability%20test",
        "Authorization: Bearer obs-test-token\r\n",
    );
    assert_eq!(s, 200, "{body}");
    let sim: std::net::SocketAddr = format!("127.0.0.1:{sim_port}").parse().unwrap();
    let has = |name: &str| {
        http(eng.ops, "GET", "/metrics")
            .1
            .lines()
            .any(|l| l.starts_with(name))
    };
    for (fault, metric) in [
        (
            "/sim/fault/malformed/BTCUSDT",
            "qt_feed_parse_errors_total{",
        ),
        ("/sim/fault/drop", "qt_feed_reconnects_total{"),
        ("/sim/fault/silence/2500", "qt_feed_silence_total{"),
    ] {
        let (s, body) = http(sim, "POST", fault);
        assert_eq!(s, 200, "{fault}: {body}");
        assert!(
            wait_until(Duration::from_secs(15), || has(metric)),
            "{fault} never produced {metric}"
        );
    }
    eng
}

#[test]
fn dashboard_and_alerts_use_only_exported_metric_names() {
    let dir = temp_dir("names");
    let eng = rich_engine(&dir);
    let mut have_all = BTreeSet::new();
    wait_until(Duration::from_secs(10), || {
        have_all = exported(&http(eng.ops, "GET", "/metrics").1);
        have_all.contains("qt_circuit_breaker_trips_total")
            && have_all.contains("qt_heartbeat_stale")
    });
    assert!(have_all.len() > 40, "{have_all:?}");

    let alerts = std::fs::read_to_string("config/prometheus/alerts.yml").unwrap();
    let used_alerts = qt_names(&alerts);
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 30, "dashboard has {} queries", exprs.len());
    let used_dash: BTreeSet<String> = exprs.iter().flat_map(|e| qt_names(e)).collect();
    assert!(used_alerts.len() >= 15, "{used_alerts:?}");
    assert!(used_dash.len() >= 40, "{used_dash:?}");
    for (what, used) in [("alerts.yml", &used_alerts), ("dashboard", &used_dash)] {
        let unknown: Vec<&String> = used.iter().filter(|n| !have_all.contains(*n)).collect();
        assert!(
            unknown.is_empty(),
            "{what} uses metrics the engine does not export: {unknown:?}\nexported: {have_all:?}"
        );
    }
    // The check can fail: a misspelt name is caught.
    assert!(!have_all.contains("qt_fill_total"));
}

#[test]
fn promtool_accepts_rules_their_tests_and_the_scrape_config() {
    if !have("promtool") {
        println!("SKIP: promtool not installed (apt-get install prometheus); rules not tested");
        return;
    }
    for args in [
        vec!["check", "rules", "config/prometheus/alerts.yml"],
        vec!["test", "rules", "config/prometheus/alerts_test.yml"],
        vec!["check", "config", "config/prometheus/prometheus.yml"],
    ] {
        let out = Command::new("promtool").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A real Prometheus, killed on drop.
struct Prom(std::process::Child);
impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_the_demo() {
    if !have("prometheus") {
        println!("SKIP: prometheus not installed (apt-get install prometheus); scrape not tested");
        return;
    }
    let dir = temp_dir("prom");
    let file = write_config(&dir, &demo_config(|_| {}));
    let eng = Engine::spawn(&file, &[]);
    let port = free_port();
    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: quantum-trader\n    static_configs:\n      - targets: [\"{}\"]\n",
            eng.ops
        ),
    )
    .unwrap();
    let _prom = Prom(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let api: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = |q: &str| -> serde_json::Value {
        let (_, body) = http(api, "GET", &format!("/api/v1/query?query={q}"));
        serde_json::from_str(&body).unwrap_or_default()
    };
    // The target is up and the engine's gauges are there with their labels.
    let mut last = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(60), || {
        last = query("qt_book_in_sync");
        last["data"]["result"].as_array().is_some_and(|r| {
            let syms: Vec<&str> = r
                .iter()
                .filter_map(|x| x["metric"]["symbol"].as_str())
                .collect();
            syms.contains(&"BTCUSDT") && syms.contains(&"ETHUSDT")
        })
    });
    assert!(ok, "no qt_book_in_sync series in Prometheus: {last}");
    let symbols: BTreeSet<&str> = last["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["metric"]["symbol"].as_str())
        .collect();
    assert!(
        symbols.contains("BTCUSDT") && symbols.contains("ETHUSDT"),
        "{symbols:?}"
    );
    let up = query("up");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    // Every family the engine exposes arrived in Prometheus.
    let engine_names: BTreeSet<String> = http(eng.ops, "GET", "/metrics")
        .1
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_whitespace().next())
        .map(String::from)
        .collect();
    assert!(engine_names.len() > 30, "{engine_names:?}");
    let mut prom_names = BTreeSet::new();
    let ok = wait_until(Duration::from_secs(20), || {
        let (_, body) = http(api, "GET", "/api/v1/label/__name__/values");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        prom_names = v["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        engine_names
            .iter()
            .all(|n| prom_names.contains(n) || prom_names.contains(&format!("{n}_count")))
    });
    let missing: Vec<&String> = engine_names
        .iter()
        .filter(|n| !prom_names.contains(*n) && !prom_names.contains(&format!("{n}_count")))
        .collect();
    assert!(ok, "series missing in Prometheus: {missing:?}");
    // A computed query over a histogram works too.
    let v = query(
        "histogram_quantile(0.99,sum(rate(qt_stage_latency_seconds_bucket[30s]))by(le,stage))",
    );
    assert_eq!(v["status"], "success", "{v}");
}
