//! The risk governor's admin API over real HTTP against a running engine
//! (simulator on loopback): the bearer token (401 without it), a manual trip
//! and reset with their history (which survives a restart), the kill switch,
//! and auxiliary heartbeats (a stale `required` one blocks trading with
//! `heartbeat_missing:<service>`, an `advisory` one does not).

mod common;

use common::*;
use quantum_trader::app::engine::Engine;
use quantum_trader::config::{HeartbeatConfig, HeartbeatPolicy};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const TOKEN_ENV: &str = "QT_TEST_RISK_API_TOKEN";
const TOKEN: &str = "s3cret-risk-token";

fn set_token() {
    // Only this test binary reads this variable; every test sets the same value.
    unsafe { std::env::set_var(TOKEN_ENV, TOKEN) };
}

fn post(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let (s, b) = http_with(addr, "POST", path, &headers);
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

/// A model that trades often: thresholds close to 0.5.
fn eager_model(name: &str) -> String {
    let text = std::fs::read_to_string("config/model.json").unwrap();
    let text = text
        .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
        .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
    let path = std::env::temp_dir().join(format!("qt-model-{name}-{}.json", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn breaker_and_kill_switch_api_with_token_and_history_across_restart() {
    set_token();
    let dir = temp_journal_dir("risk-api");
    let cfg = test_config(|c| {
        c.admin.token_env = TOKEN_ENV.into();
        c.journal.dir = dir.to_string_lossy().into_owned();
    });
    let engine = Engine::start(cfg.clone(), engine_options()).expect("engine starts");
    let addr = engine.ops_addr().unwrap();
    assert!(wait_until(Duration::from_secs(10), || get_json(
        addr,
        "/api/circuit-breaker/status"
    )
    .0 == 200));

    // State-changing calls without the token, or with a wrong one: 401.
    for path in [
        "/api/circuit-breaker/trip?reason=x",
        "/api/circuit-breaker/reset",
        "/api/kill-switch?on=true&reason=x",
        "/api/heartbeats/rl_trainer",
    ] {
        let (s, v) = post(addr, path, None);
        assert_eq!(s, 401, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains("bearer"), "{v}");
        assert_eq!(post(addr, path, Some("wrong")).0, 401, "{path}");
    }
    let (_, st) = get_json(addr, "/api/circuit-breaker/status");
    assert_eq!(st["state"], "CLOSED", "{st}");

    // A trip needs a reason; with one it opens the breaker.
    assert_eq!(post(addr, "/api/circuit-breaker/trip", Some(TOKEN)).0, 400);
    let (s, v) = post(
        addr,
        "/api/circuit-breaker/trip?reason=desk%20halt",
        Some(TOKEN),
    );
    assert_eq!(s, 200, "{v}");
    let (_, st) = get_json(addr, "/api/circuit-breaker/status");
    assert_eq!(
        (st["state"].as_str(), st["reason"].as_str()),
        (Some("OPEN"), Some("manual"))
    );
    assert_eq!(st["detail"], "desk halt");
    assert!(st["thresholds"]["max_daily_loss"].is_number());
    // Every decision now SKIPs with circuit_open:manual.
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            addr,
            "qt_verdicts_total",
            &[("reason", "circuit_open:manual")]
        ) > 0.0),
        "no circuit_open:manual verdicts"
    );
    let executes = metric(addr, "qt_verdicts_total", &[("verdict", "EXECUTE")]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        metric(addr, "qt_verdicts_total", &[("verdict", "EXECUTE")]),
        executes
    );
    assert_eq!(metric(addr, "qt_circuit_breaker_open", &[]), 1.0);
    // An override needs a reason.
    let (s, v) = post(
        addr,
        "/api/circuit-breaker/reset?override=true",
        Some(TOKEN),
    );
    assert_eq!(s, 400, "{v}");
    // A manual trip holds no condition: a plain reset closes it.
    let (s, v) = post(
        addr,
        "/api/circuit-breaker/reset?reason=resume",
        Some(TOKEN),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["changed"], true);
    let (_, st) = get_json(addr, "/api/circuit-breaker/status");
    assert_eq!(st["state"], "CLOSED");
    assert_eq!(st["counters"]["trips"], 1);
    let (_, h) = get_json(addr, "/api/circuit-breaker/history");
    let h = h.as_array().unwrap().clone();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(
        (h[0]["state"].as_str(), h[0]["reason"].as_str()),
        (Some("closed"), Some("resume"))
    );
    assert!(
        h[0]["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{h:?}"
    );
    assert_eq!(h[0]["override"], false);
    assert_eq!(
        (h[1]["state"].as_str(), h[1]["reason"].as_str()),
        (Some("open"), Some("manual"))
    );

    // Kill switch: on needs a reason; everything SKIPs kill_switch.
    assert_eq!(post(addr, "/api/kill-switch?on=true", Some(TOKEN)).0, 400);
    assert_eq!(
        post(addr, "/api/kill-switch?on=maybe&reason=x", Some(TOKEN)).0,
        400
    );
    let (s, v) = post(addr, "/api/kill-switch?on=true&reason=drill", Some(TOKEN));
    assert_eq!(s, 200, "{v}");
    assert!(wait_until(Duration::from_secs(5), || get_json(
        addr,
        "/api/risk"
    )
    .1["kill_switch"]
        == true));
    assert!(wait_until(Duration::from_secs(20), || metric(
        addr,
        "qt_verdicts_total",
        &[("reason", "kill_switch")]
    ) > 0.0));
    assert_eq!(get_json(addr, "/api/risk").1["kill_switch_reason"], "drill");
    assert_eq!(
        post(
            addr,
            "/api/kill-switch?on=false&reason=drill%20over",
            Some(TOKEN)
        )
        .0,
        200
    );

    // Heartbeats can be posted with the token and are listed.
    let (s, v) = post(addr, "/api/heartbeats/rl_trainer", Some(TOKEN));
    assert_eq!(s, 200, "{v}");
    assert_eq!(post(addr, "/api/heartbeats/Bad%20Name", Some(TOKEN)).0, 400);
    let (_, hb) = get_json(addr, "/api/heartbeats");
    assert_eq!(hb[0]["service"], "rl_trainer", "{hb}");
    assert!(hb[0]["age_ms"].as_i64().unwrap() < 60_000);
    engine.stop();

    // The history (and the breaker state) survive a restart: same journal.
    let engine = Engine::start(cfg, engine_options()).expect("engine restarts");
    let addr = engine.ops_addr().unwrap();
    assert!(wait_until(Duration::from_secs(10), || get_json(
        addr,
        "/api/circuit-breaker/status"
    )
    .0 == 200));
    let (_, h2) = get_json(addr, "/api/circuit-breaker/history");
    assert_eq!(h2.as_array().unwrap(), &h, "history after restart");
    let (_, st) = get_json(addr, "/api/circuit-breaker/status");
    assert_eq!(st["state"], "CLOSED");
    assert_eq!(st["counters"]["trips"], 1);
    let (_, risk) = get_json(addr, "/api/risk");
    assert_eq!(
        risk["kill_switch"], false,
        "the last kill-switch record was off"
    );
    assert!(
        risk["recovery"]["records"].as_u64().unwrap() >= 4,
        "{}",
        risk["recovery"]
    );
    engine.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stale_required_heartbeat_blocks_trading_and_an_advisory_one_does_not() {
    set_token();
    let cfg = test_config(|c| {
        c.admin.token_env = TOKEN_ENV.into();
        c.model.path = eager_model("hb");
        c.model.decision_cooldown_ms = 0;
        c.risk.max_orders_per_sec = 50;
        c.risk.max_orders_per_min = 100_000;
        c.risk.daily_trade_cap = 100_000;
        c.sim.rate_per_symbol = 1000;
        c.risk.heartbeats = vec![
            HeartbeatConfig {
                service: "rl_trainer".into(),
                policy: HeartbeatPolicy::Required,
                max_age_ms: 1_000,
            },
            HeartbeatConfig {
                service: "feedback".into(),
                policy: HeartbeatPolicy::Advisory,
                max_age_ms: 1_000,
            },
        ];
    });
    let engine = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = engine.ops_addr().unwrap();
    let m = engine.shared().metrics.clone();
    let missing = || {
        m.verdicts
            .with_label_values(&["SKIP", "heartbeat_missing:rl_trainer"])
            .get()
    };
    let executes = || m.verdicts.with_label_values(&["EXECUTE", ""]).get();
    // Never seen: every BUY/SELL decision is blocked.
    assert!(
        wait_until(Duration::from_secs(30), || missing() >= 20),
        "no heartbeat_missing verdicts"
    );
    assert_eq!(executes(), 0);
    // The service comes alive (posts every 200 ms): trading starts, even
    // though the advisory `feedback` heartbeat is still missing.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let beat = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (s, _) = post(addr, "/api/heartbeats/rl_trainer", Some(TOKEN));
                assert_eq!(s, 200);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || executes() >= 3),
        "never traded with a fresh heartbeat"
    );
    assert!(wait_until(Duration::from_secs(5), || metric(
        addr,
        "qt_heartbeat_stale",
        &[("service", "feedback"), ("policy", "advisory")]
    ) == 1.0));
    assert!(wait_until(Duration::from_secs(5), || metric(
        addr,
        "qt_heartbeat_stale",
        &[("service", "rl_trainer"), ("policy", "required")]
    ) == 0.0));
    // It stops beating: blocked again within max_age_ms.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    beat.join().unwrap();
    std::thread::sleep(Duration::from_millis(1_300));
    let (before_exec, before_missing) = (executes(), missing());
    assert!(wait_until(Duration::from_secs(30), || missing() > before_missing + 10));
    assert_eq!(
        executes(),
        before_exec,
        "traded with a stale required heartbeat"
    );
    let (_, risk) = get_json(addr, "/api/risk");
    assert_eq!(
        risk["heartbeats"][0]["stale"], true,
        "{}",
        risk["heartbeats"]
    );
    engine.stop();
}

#[test]
fn a_daily_loss_trips_the_breaker_and_reset_is_refused_until_overridden() {
    set_token();
    let cfg = test_config(|c| {
        c.admin.token_env = TOKEN_ENV.into();
        c.model.path = eager_model("loss");
        c.model.decision_cooldown_ms = 0;
        c.risk.max_orders_per_sec = 50;
        c.risk.max_orders_per_min = 100_000;
        c.risk.daily_trade_cap = 100_000;
        c.sim.rate_per_symbol = 1000;
        // Fees alone pass this within a few fills.
        c.risk.max_daily_loss = 0.05;
    });
    let engine = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = engine.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || get_json(
            addr,
            "/api/circuit-breaker/status"
        )
        .1["state"]
            == "OPEN"),
        "never tripped: {}",
        get_json(addr, "/api/circuit-breaker/status").1
    );
    let (_, st) = get_json(addr, "/api/circuit-breaker/status");
    assert_eq!(st["reason"], "daily_loss", "{st}");
    assert!(st["counters"]["daily_realized_pnl"].as_f64().unwrap() < -0.05);
    // Refused while the loss stands, with the reason.
    let (s, v) = post(addr, "/api/circuit-breaker/reset", Some(TOKEN));
    assert_eq!(s, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("daily_loss"), "{v}");
    assert_eq!(
        post(
            addr,
            "/api/circuit-breaker/reset?override=true",
            Some(TOKEN)
        )
        .0,
        400
    );
    assert_eq!(
        get_json(addr, "/api/circuit-breaker/status").1["state"],
        "OPEN"
    );
    // Counted before the override: trading resumes at once, and with a
    // loss limit this small a further loss past the new floor may trip the
    // breaker again before the counter is read.
    let executes = metric(addr, "qt_verdicts_total", &[("verdict", "EXECUTE")]);
    let (s, v) = post(
        addr,
        "/api/circuit-breaker/reset?override=true&reason=loss%20reviewed",
        Some(TOKEN),
    );
    assert_eq!(s, 200, "{v}");
    let (_, st) = get_json(addr, "/api/circuit-breaker/status");
    assert_eq!(st["state"], "CLOSED");
    assert_eq!(st["counters"]["loss_acknowledged"], true);
    let (_, h) = get_json(addr, "/api/circuit-breaker/history");
    assert_eq!(h[0]["override"], true, "{h}");
    assert_eq!(h[0]["reason"], "loss reviewed");
    assert_eq!(h[1]["reason"], "daily_loss");
    assert_eq!(h[1]["by"], "auto");
    // Trading resumes.
    assert!(
        wait_until(Duration::from_secs(30), || metric(
            addr,
            "qt_verdicts_total",
            &[("verdict", "EXECUTE")]
        ) > executes),
        "no EXECUTE after the override: {}",
        get_json(addr, "/api/risk").1
    );
    engine.stop();
}
