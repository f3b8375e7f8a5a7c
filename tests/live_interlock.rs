//! The live interlock as a user meets it: `quantum-trader run` with a
//! testnet or live config. Each missing condition refuses to start with
//! exit status 2 and its own reason line: `--live` without live mode, live
//! mode without `--live`/`QT_LIVE=1`, an API key or secret not in the
//! environment, each money limit at 0, the account unreachable (no clock),
//! a key the venue refuses. With everything in place, live starts against
//! the embedded simulator (whose signed endpoints accept the key and secret
//! given here: the simulator's own), prints the startup block with the key
//! redacted, and stops cleanly on SIGTERM.

mod common;

use common::*;
use qt_sim::binance::{SIM_API_KEY, SIM_API_SECRET};
use quantum_trader::config::{Config, TradingMode};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY_ENV: &str = "QT_TEST_BINANCE_KEY";
const SECRET_ENV: &str = "QT_TEST_BINANCE_SECRET";

/// The demo (Binance only, embedded simulator) in live mode with every
/// limit set, tweaked by `f`, written to a file.
fn live_config(name: &str, f: impl FnOnce(&mut Config)) -> PathBuf {
    let cfg = test_config(|c| {
        c.mode = TradingMode::Live;
        let b = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
            .unwrap();
        b.api_key_env = KEY_ENV.into();
        b.api_secret_env = SECRET_ENV.into();
        f(c)
    });
    let dir = temp_journal_dir(name);
    let p = dir.join("live.toml");
    std::fs::write(&p, cfg.to_toml()).unwrap();
    p
}

fn run(cfg: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quantum-trader"));
    c.arg("run").arg("--config").arg(cfg).args(args);
    c.env_remove("QT_LIVE")
        .env_remove(KEY_ENV)
        .env_remove(SECRET_ENV);
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null());
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refusal exits at once; guard against a start.
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        // SAFETY: signalling the child we spawned, by its pid.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let out = child.wait_with_output().unwrap();
    drop(killer);
    out
}

const CREDS: [(&str, &str); 2] = [(KEY_ENV, SIM_API_KEY), (SECRET_ENV, SIM_API_SECRET)];

fn refused(out: &Output, reason: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("refusing to start:") && l.contains(reason))
        .unwrap_or_else(|| panic!("no refusal line with `{reason}`: {err}"));
    assert!(!line.contains(SIM_API_SECRET), "{line}");
    // Only the condition the case breaks is reported (so `QT_LIVE=1` did
    // arm live where a case relies on it).
    let others = err
        .lines()
        .filter(|l| l.starts_with("quantum-trader: refusing to start:") && !l.contains(reason))
        .count();
    assert_eq!(others, 0, "{err}");
}

#[test]
fn each_missing_condition_refuses_with_status_2_and_its_reason() {
    // --live with a paper config.
    let paper = live_config("il-paper", |c| c.mode = TradingMode::Paper);
    refused(&run(&paper, &["--live"], &CREDS), "mode is \"paper\"");
    // Live without --live / QT_LIVE.
    let live = live_config("il-live", |_| {});
    refused(&run(&live, &[], &CREDS), "needs `--live`");
    // Credentials, each variable.
    refused(
        &run(&live, &["--live"], &[(SECRET_ENV, SIM_API_SECRET)]),
        &format!("environment variable {KEY_ENV}"),
    );
    refused(
        &run(&live, &[], &[("QT_LIVE", "1"), (KEY_ENV, SIM_API_KEY)]),
        &format!("environment variable {SECRET_ENV}"),
    );
    // Each money limit at 0 (max_order_notional, the order rates, the daily
    // cap and an instrument's max_position cannot be 0 in any mode: the
    // config check refuses them).
    type Set = fn(&mut Config);
    let limits: [(Set, &str); 5] = [
        (|c| c.risk.max_daily_loss = 0.0, "risk.max_daily_loss"),
        (|c| c.risk.max_drawdown = 0.0, "risk.max_drawdown"),
        (
            |c| c.risk.max_gross_exposure = 0.0,
            "risk.max_gross_exposure",
        ),
        (|c| c.risk.price_band_bps = 0.0, "risk.price_band_bps"),
        (
            |c| c.risk.max_position_notional = 0.0,
            "risk.max_position_notional",
        ),
    ];
    for (i, (set, key)) in limits.into_iter().enumerate() {
        let p = live_config(&format!("il-limit{i}"), set);
        refused(&run(&p, &["--live"], &CREDS), key);
    }
    // The account unreachable: no clock offset can be measured.
    let dead = live_config("il-dead", |c| {
        c.venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
            .unwrap()
            .rest_url = "http://127.0.0.1:1".into();
    });
    refused(
        &run(&dead, &["--live"], &CREDS),
        "clock offset not measured",
    );
    // A key the venue refuses: the account is not reachable with it.
    refused(
        &run(
            &live,
            &["--live"],
            &[(KEY_ENV, "not-the-key-0000"), (SECRET_ENV, SIM_API_SECRET)],
        ),
        "account not reachable",
    );
    // Testnet needs credentials, not --live and not the limits.
    let testnet = live_config("il-testnet", |c| {
        c.mode = TradingMode::Testnet;
        c.risk.max_daily_loss = 0.0;
    });
    refused(&run(&testnet, &[], &[]), "environment variable");
    refused(&run(&testnet, &["--live"], &CREDS), "mode is \"testnet\"");
}

#[test]
fn live_starts_when_every_condition_holds() {
    let live = live_config("il-start", |_| {});
    let mut child = Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
        .arg("run")
        .arg("--config")
        .arg(&live)
        .arg("--live")
        .env_remove("QT_LIVE")
        .env(KEY_ENV, SIM_API_KEY)
        .env(SECRET_ENV, SIM_API_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut block = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            block.push_str(&line);
            block.push('\n');
            if line.starts_with("trading: ") {
                let _ = tx.send(block.clone());
            }
        }
    });
    let stderr = child.stderr.take().unwrap();
    let (etx, erx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    let block = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(b) => b,
        Err(_) => {
            let _ = child.kill();
            let err: Vec<String> = erx.try_iter().collect();
            panic!("no startup block; stderr:\n{}", err.join("\n"));
        }
    };
    let last4 = &SIM_API_KEY[SIM_API_KEY.len() - 4..];
    assert!(block.contains("== quantum-trader live start =="), "{block}");
    assert!(block.contains(&format!("key ****{last4}")), "{block}");
    assert!(!block.contains(SIM_API_KEY) && !block.contains(SIM_API_SECRET));
    assert!(
        block.contains("clock offset") && block.contains("balance USDT"),
        "{block}"
    );
    assert!(block.contains("limits: max_order_notional"), "{block}");
    // It runs (no refusal), then stops on SIGTERM.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        assert!(child.try_wait().unwrap().is_none(), "the engine exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signalling the child we spawned, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    let err: Vec<String> = erx.try_iter().collect();
    assert!(st.success(), "{st:?}\n{}", err.join("\n"));
    assert!(
        !err.iter().any(|l| l.contains("refusing to start")),
        "{}",
        err.join("\n")
    );
}

/// The shipped `config/testnet.toml` and `config/live.example.toml` pass
/// every static condition but the key: without the API key and secret in
/// the variables they name, each refuses with exactly those two reasons
/// (so every money limit is set in the live template), before any socket
/// opens (they name Binance's real hosts; nothing is reached).
#[test]
fn shipped_trading_configs_refuse_only_for_the_missing_keys() {
    let cases = [
        ("config/testnet.toml", &[][..], "BINANCE_TESTNET_API"),
        ("config/live.example.toml", &["--live"][..], "BINANCE_API"),
    ];
    for (file, args, var) in cases {
        let mut c = Command::new(env!("CARGO_BIN_EXE_quantum-trader"));
        c.arg("run").arg("--config").arg(file).args(args);
        for v in [
            "QT_LIVE",
            "BINANCE_API_KEY",
            "BINANCE_API_SECRET",
            "BINANCE_TESTNET_API_KEY",
            "BINANCE_TESTNET_API_SECRET",
        ] {
            c.env_remove(v);
        }
        let out = c.stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("quantum-trader: refusing to start:"))
            .collect();
        assert_eq!(lines.len(), 2, "{file}: {err}");
        for suffix in ["KEY", "SECRET"] {
            let name = format!("environment variable {var}_{suffix}");
            assert!(
                lines.iter().any(|l| l.contains(&name)),
                "{file}: no refusal naming {name}: {err}"
            );
        }
    }
}
