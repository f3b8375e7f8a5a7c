//! `doctor` and `healthcheck` as a user runs them (the real binary): a healthy
//! demo setup can trade (exit 0); broken setups name every failing check and
//! exit 1; `healthcheck` follows `/ready` of a running engine.

mod ops_common;

use axum::Router;
use axum::routing::get;
use ops_common::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn doctor(config: &std::path::Path) -> (i32, String) {
    let out = bin()
        .args(["doctor", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Keeps only the Binance venue and its instruments (the broken setups
/// point Binance at a dead or fake venue with the simulator off).
fn binance_only(c: &mut quantum_trader::config::Config) {
    c.venues.bybit = None;
    c.venues.okx = None;
    c.instruments.retain(|i| i.venue == "binance");
}

/// The line of check `name`.
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
}

#[test]
fn healthy_demo_can_trade() {
    let dir = temp_dir("doctor-ok");
    let file = write_config(&dir, &demo_config(|_| {}));
    let (code, text) = doctor(&file);
    assert_eq!(code, 0, "{text}");
    for name in [
        "config",
        "mode",
        "model",
        "kill_switch",
        "simulator",
        "binance.rest",
        "binance.clock",
        "binance.instruments",
        "binance.ws",
        "ops.listen",
        "open_files",
    ] {
        assert!(line(&text, name).starts_with("OK "), "{name}:\n{text}");
    }
    assert!(
        line(&text, "cpu_pinning").starts_with("OK ")
            || line(&text, "cpu_pinning").starts_with("WARN")
    );
    assert!(text.trim_end().ends_with("can trade: YES"), "{text}");
    assert!(
        line(&text, "binance.instruments").contains("BTCUSDT,ETHUSDT"),
        "{text}"
    );
}

/// A Binance-shaped REST venue whose clock runs 5 s ahead and which lists
/// only BTCUSDT (no WebSocket route: the handshake gets a 404).
fn skewed_venue() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let now = || {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64
            };
            let app = Router::new()
                .route(
                    "/fapi/v1/time",
                    get(move || async move { format!("{{\"serverTime\":{}}}", now() + 5_000) }),
                )
                .route(
                    "/fapi/v1/exchangeInfo",
                    get(|| async {
                        r#"{"timezone":"UTC","serverTime":1,"symbols":[{"symbol":"BTCUSDT","status":"TRADING",
                        "filters":[{"filterType":"PRICE_FILTER","tickSize":"0.10"}]}]}"#
                    }),
                );
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    addr
}

#[test]
fn broken_setups_name_every_failure_and_exit_1() {
    // 1. An unreachable venue (nothing listens), the kill switch on, a
    //    missing model file and the ops port taken.
    let dir = temp_dir("doctor-bad");
    let dead = free_port();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = demo_config(|c| {
        binance_only(c);
        c.sim.enabled = false;
        let b = c.venues.binance.as_mut().unwrap();
        b.rest_url = format!("http://127.0.0.1:{dead}");
        b.ws_url = format!("ws://127.0.0.1:{dead}");
        c.risk.kill_switch = true;
        c.model.path = dir.join("missing.json").display().to_string();
        c.ops.listen = taken.local_addr().unwrap().to_string();
    });
    let (code, text) = doctor(&write_config(&dir, &cfg));
    assert_eq!(code, 1, "{text}");
    for name in [
        "binance.rest",
        "binance.instruments",
        "binance.ws",
        "kill_switch",
        "model",
        "ops.listen",
    ] {
        assert!(line(&text, name).starts_with("FAIL"), "{name}:\n{text}");
        assert!(
            text.contains(&format!("  - {name}: ")),
            "{name} not in the verdict:\n{text}"
        );
    }
    assert!(text.contains("can trade: NO (6 reason(s))"), "{text}");
    assert!(
        line(&text, "binance.rest").contains(&dead.to_string()),
        "{text}"
    );
    assert!(text.contains("fix: "), "{text}");

    // 2. A venue that answers, but with a clock 5 s ahead, one symbol not
    //    listed and no WebSocket.
    let venue = skewed_venue();
    let cfg = demo_config(|c| {
        binance_only(c);
        c.sim.enabled = false;
        let b = c.venues.binance.as_mut().unwrap();
        b.rest_url = format!("http://{venue}");
        b.ws_url = format!("ws://{venue}");
    });
    let (code, text) = doctor(&write_config(&dir, &cfg));
    assert_eq!(code, 1, "{text}");
    assert!(line(&text, "binance.rest").starts_with("OK "), "{text}");
    let clock = line(&text, "binance.clock");
    assert!(
        clock.starts_with("FAIL") && (clock.contains("+49") || clock.contains("+50")),
        "{text}"
    );
    let inst = line(&text, "binance.instruments");
    assert!(
        inst.starts_with("FAIL") && inst.contains("ETHUSDT not listed"),
        "{text}"
    );
    assert!(line(&text, "binance.ws").starts_with("FAIL"), "{text}");
    assert!(text.contains("can trade: NO (3 reason(s))"), "{text}");
}

#[test]
fn healthcheck_follows_ready() {
    let out = bin()
        .args(["healthcheck", "--url"])
        .arg(format!("http://127.0.0.1:{}/ready", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unreachable"));

    let dir = temp_dir("hc");
    let file = write_config(
        &dir,
        &demo_config(|c| {
            c.ops.test_hooks = true;
            c.ops.stall_timeout_ms = 500;
        }),
    );
    let eng = Engine::spawn(&file, &[]);
    let url = format!("http://{}/ready", eng.ops);
    let hc = || {
        let out = bin().args(["healthcheck", "--url", &url]).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let mut last = (None, String::new());
    assert!(
        wait_until(Duration::from_secs(30), || {
            last = hc();
            last.0 == Some(0)
        }),
        "never healthy: {last:?}"
    );
    assert!(last.1.starts_with("ready"), "{last:?}");
    assert_eq!(http(eng.ops, "POST", "/api/test/stall/score").0, 200);
    assert!(
        wait_until(Duration::from_secs(10), || {
            last = hc();
            last.0 == Some(1)
        }),
        "never unhealthy: {last:?}"
    );
    assert!(last.1.contains("stage_stalled:score"), "{last:?}");
}

#[test]
fn running_engine_stale_required_heartbeat_and_open_breaker_are_named() {
    let dir = temp_dir("doctor-live");
    let cfg = demo_config(|c| {
        c.ops.listen = format!("127.0.0.1:{}", free_port());
        c.risk.heartbeats = vec![quantum_trader::config::HeartbeatConfig {
            service: "rl_trainer".into(),
            policy: quantum_trader::config::HeartbeatPolicy::Required,
            max_age_ms: 1000,
        }];
    });
    let file = write_config(&dir, &cfg);
    let eng = Engine::spawn(&file, &[("QT_ADMIN_TOKEN", "doctor-token")]);
    let auth = "Authorization: Bearer doctor-token\r\n";
    let old = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let (s, body) = http_with(
        eng.ops,
        "POST",
        &format!("/api/heartbeats/rl_trainer?ts_ms={old}"),
        auth,
    );
    assert!(s == 200 || s == 204, "{s} {body}");
    let (s, body) = http_with(
        eng.ops,
        "POST",
        "/api/circuit-breaker/trip?reason=doctor%20test",
        auth,
    );
    assert_eq!(s, 200, "{body}");
    let (code, text) = doctor(&file);
    assert_eq!(code, 1, "{text}");
    let hb = line(&text, "heartbeat.rl_trainer");
    assert!(hb.starts_with("FAIL") && hb.contains("STALE"), "{text}");
    let br = line(&text, "circuit_breaker");
    assert!(br.starts_with("FAIL") && br.contains("OPEN"), "{text}");
    assert!(line(&text, "ops.listen").starts_with("WARN"), "{text}");
    assert!(text.contains("  - heartbeat.rl_trainer: "), "{text}");
    assert!(text.contains("  - circuit_breaker: "), "{text}");
    drop(eng);

    // Stopped: the journal still holds the open breaker, and a start would
    // restore it.
    let (code, text) = doctor(&file);
    assert_eq!(code, 1, "{text}");
    let br = line(&text, "circuit_breaker");
    assert!(br.starts_with("FAIL") && br.contains("manual"), "{text}");
    assert!(line(&text, "journal.dir").starts_with("OK "), "{text}");
    assert!(line(&text, "journal.today").starts_with("OK "), "{text}");
    assert!(
        line(&text, "heartbeat.rl_trainer").starts_with("WARN"),
        "{text}"
    );
}
