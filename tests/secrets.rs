//! No secret is ever logged or printed: the engine runs with JSON logs at
//! debug level, an admin token and venue API keys in its environment, gets
//! admin calls with right and wrong tokens, and `check-config`, `doctor` and
//! `healthcheck` run on the same config; none of the secret values appears
//! in any output.

mod ops_common;

use ops_common::*;
use quantum_trader::venue::binance::config::BinanceConfig;
use std::time::Duration;

const TOKEN: &str = "tok-3f9a1c77e2b94d0b8a5e-admin";
const API_KEY: &str = "key-9d2e8b1a44c34e7fa0c1-binance";
const API_SECRET: &str = "sec-1b7c9e3d5f214a6b8c0d-binance";

#[test]
fn secrets_never_reach_logs_or_output() {
    let dir = temp_dir("secrets");
    let cfg = demo_config(|c| {
        c.log.format = "json".into();
        c.log.level = "debug".into();
        let b = c.venues.get_mut::<BinanceConfig>().unwrap();
        b.api_key_env = "QT_TEST_BINANCE_KEY".into();
        b.api_secret_env = "QT_TEST_BINANCE_SECRET".into();
    });
    let file = write_config(&dir, &cfg);
    let env = [
        ("QT_ADMIN_TOKEN", TOKEN),
        ("QT_TEST_BINANCE_KEY", API_KEY),
        ("QT_TEST_BINANCE_SECRET", API_SECRET),
        ("QT_LOG", "debug"),
    ];
    let mut eng = Engine::spawn(&file, &env);
    assert!(
        wait_until(Duration::from_secs(30), || http(eng.ops, "GET", "/ready").0
            == 200),
        "{}",
        eng.stderr_text()
    );
    let mut bodies = String::new();
    for (auth, path) in [
        (
            format!("Authorization: Bearer {TOKEN}x\r\n"),
            "/api/circuit-breaker/trip?reason=a",
        ),
        (
            format!("Authorization: Bearer {TOKEN}\r\n"),
            "/api/circuit-breaker/trip?reason=b",
        ),
        (
            format!("Authorization: Bearer {TOKEN}\r\n"),
            "/api/circuit-breaker/reset?override=true&reason=c",
        ),
        (
            format!("Authorization: Basic {TOKEN}\r\n"),
            "/api/kill-switch?on=true",
        ),
    ] {
        bodies.push_str(&http_with(eng.ops, "POST", path, &auth).1);
    }
    for p in [
        "/api/risk",
        "/ready",
        "/metrics",
        "/api/circuit-breaker/status",
    ] {
        bodies.push_str(&http(eng.ops, "GET", p).1);
    }
    let run = |args: &[&str]| -> String {
        let mut c = bin();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let file_s = file.to_str().unwrap();
    let check = run(&["check-config", file_s]);
    assert!(
        check.contains("api_key_env = \"QT_TEST_BINANCE_KEY\""),
        "{check}"
    );
    let ready_url = format!("http://{}/ready", eng.ops);
    let hc = run(&["healthcheck", "--url", &ready_url]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(eng.terminate().is_some_and(|s| s.success()));
    let doctor = run(&["doctor", "--config", file_s]);
    assert!(doctor.contains("$QT_TEST_BINANCE_KEY is set"), "{doctor}");
    let logs = eng.stderr_text();
    assert!(logs.lines().count() > 5, "{logs}");
    assert!(
        logs.contains("\"level\":\"DEBUG\"") || logs.contains("\"level\":\"INFO\""),
        "{logs}"
    );
    for (what, text) in [
        ("engine logs", &logs),
        ("API answers", &bodies),
        ("check-config", &check),
        ("healthcheck", &hc),
        ("doctor", &doctor),
    ] {
        for secret in [TOKEN, API_KEY, API_SECRET] {
            assert!(!text.contains(secret), "{what} contains a secret: {text}");
        }
    }
}
