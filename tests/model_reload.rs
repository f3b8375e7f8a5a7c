//! Hot model reload against a running engine (simulator on loopback, a real
//! `redis-server`, the journal on disk): while decisions flow, a bad model
//! file and one naming an unknown feature are refused over the admin API
//! (the live model keeps trading), then a good file is shadow-scored and
//! swapped in; every decision in the journal and in Redis names the version
//! that made it, switching exactly once, in decision-id order. And SIGHUP
//! reloads the binary's model file.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use common::*;
use quantum_trader::app::engine::Engine;
use quantum_trader::journal::{self, Body};
use redis_server::{RedisServer, field, xrange};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN_ENV: &str = "QT_TEST_MODEL_RELOAD_TOKEN";
const TOKEN: &str = "model-reload-token";
const DECISION: &str = "quantum:stream:ai.decision";

/// The shipped model under another version, with `book_imbalance`'s
/// weight replaced (the swap must change decisions, not only the label).
fn model_text(version: &str, imbalance_weight: &str) -> String {
    let text = std::fs::read_to_string("config/model.json").unwrap();
    assert!(text.contains("\"weight\": 2.2,"));
    text.replace("logit-imbalance-2026.11.1", version).replace(
        "\"weight\": 2.2,",
        &format!("\"weight\": {imbalance_weight},"),
    )
}

fn post_reload(addr: SocketAddr, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let (s, b) = http_with(addr, "POST", "/api/model/reload", &headers);
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn decisions(addr: SocketAddr) -> f64 {
    metric(addr, "qt_decisions_total", &[])
}

/// Waits until at least `n` more decisions were made.
fn more_decisions(addr: SocketAddr, n: f64) {
    let start = decisions(addr);
    assert!(
        wait_until(Duration::from_secs(30), || decisions(addr) >= start + n),
        "decisions stopped at {} (from {start})",
        decisions(addr)
    );
}

#[test]
fn reload_under_load_refuses_bad_files_then_shadows_and_swaps() {
    unsafe { std::env::set_var(TOKEN_ENV, TOKEN) };
    let redis = RedisServer::start(false);
    let dir = temp_journal_dir("model-reload");
    let model = dir.join("model.json");
    std::fs::write(&model, model_text("reload-it-v1", "2.2")).unwrap();
    let cfg = test_config(|c| {
        c.admin.token_env = TOKEN_ENV.into();
        c.journal.dir = dir.join("journal").to_string_lossy().into_owned();
        c.journal.record_holds = true;
        c.model.path = model.to_string_lossy().into_owned();
        c.model.shadow_decisions = 40;
        c.model.decision_cooldown_ms = 0;
        c.redis.url = redis.url();
        c.redis.url_env = String::new();
    });
    let engine = Engine::start(cfg, engine_options()).expect("engine starts");
    let addr = engine.ops_addr().unwrap();
    more_decisions(addr, 50.0);
    let (s, v) = get_json(addr, "/api/model");
    assert_eq!(s, 200);
    assert_eq!(v["live"]["version"], "reload-it-v1", "{v}");
    assert_eq!(v["state"], "idle");

    // No token: 401, nothing read.
    assert_eq!(post_reload(addr, None).0, 401);

    // A truncated file: refused, named, counted; the live model trades on.
    let good = model_text("reload-it-v2", "-2.2");
    std::fs::write(&model, &good[..good.len() / 2]).unwrap();
    let (s, v) = post_reload(addr, Some(TOKEN));
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["refused"], "refused_format", "{v}");
    assert!(v["error"].as_str().unwrap().contains("model.json"), "{v}");
    // A model naming a feature the registry does not have.
    std::fs::write(&model, good.replace("\"return_bps\"", "\"return_bps_5m\"")).unwrap();
    let (s, v) = post_reload(addr, Some(TOKEN));
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["refused"], "refused_features", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("unknown feature \"return_bps_5m\""),
        "{v}"
    );
    assert_eq!(
        metric(
            addr,
            "qt_model_reloads_total",
            &[("result", "refused_format")]
        ),
        1.0
    );
    more_decisions(addr, 50.0);
    let (_, v) = get_json(addr, "/api/model");
    assert_eq!(v["live"]["version"], "reload-it-v1", "{v}");
    assert_eq!(v["history"][0]["result"], "refused_features", "{v}");

    // The good file: accepted, shadow-scored for 40 decisions, swapped.
    std::fs::write(&model, &good).unwrap();
    let (s, v) = post_reload(addr, Some(TOKEN));
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["version"], "reload-it-v2");
    assert!(
        wait_until(
            Duration::from_secs(30),
            || get_json(addr, "/api/model").1["live"]["version"] == "reload-it-v2"
        ),
        "no swap: {}",
        get_json(addr, "/api/model").1
    );
    let (_, v) = get_json(addr, "/api/model");
    assert_eq!(v["state"], "idle", "{v}");
    assert_eq!(v["shadow"]["decisions"], 40, "{v}");
    let h = &v["history"][0];
    assert_eq!(h["result"], "swapped", "{v}");
    let agreement = h["agreement"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&agreement), "{v}");
    assert_eq!(metric(addr, "qt_model_swaps_total", &[]), 1.0);
    assert_eq!(metric(addr, "qt_model_shadow_decisions", &[]), 40.0);
    assert_eq!(
        metric(addr, "qt_model_live", &[("version", "reload-it-v2")]),
        1.0
    );
    assert_eq!(
        metric(addr, "qt_model_live", &[("version", "reload-it-v1")]),
        0.0
    );
    more_decisions(addr, 50.0);
    // Let the publisher drain, then stop.
    std::thread::sleep(Duration::from_millis(500));
    engine.stop();

    // Journal: every decision names its model; v1 then v2, one switch.
    let jdir = dir.join("journal");
    let mut by_id: BTreeMap<u64, String> = BTreeMap::new();
    for day in journal::list_days(&jdir).unwrap() {
        for r in journal::read_day(&jdir, day).unwrap().records {
            if let Body::Decision {
                decision_id,
                model_version,
                ..
            } = r.body
            {
                by_id.insert(decision_id, model_version);
            }
        }
    }
    assert!(by_id.len() > 200, "{} decisions journaled", by_id.len());
    let versions: Vec<&str> = by_id.values().map(String::as_str).collect();
    let switch = versions
        .iter()
        .position(|v| *v == "reload-it-v2")
        .expect("decisions by v2");
    assert!(switch > 100, "v1 decided before the swap");
    assert!(versions[..switch].iter().all(|v| *v == "reload-it-v1"));
    assert!(versions[switch..].iter().all(|v| *v == "reload-it-v2"));

    // Redis: each decision entry names the same version as the journal.
    let mut c = redis.conn();
    let dec = xrange(&mut c, DECISION);
    assert!(dec.len() > 200, "{} decisions in redis", dec.len());
    let mut seen = [0usize; 2];
    for e in &dec {
        let id: u64 = field(e, "decision_id").parse().unwrap();
        let v = field(e, "model_version");
        if let Some(j) = by_id.get(&id) {
            assert_eq!(v, j, "decision {id}");
        }
        seen[(v == "reload-it-v2") as usize] += 1;
        assert!(v == "reload-it-v1" || v == "reload-it-v2", "{v}");
    }
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
}

/// The demo config for the binary, on free ports, with `model` as its model.
fn binary_config(dir: &std::path::Path, model: &std::path::Path) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string("config/demo.toml").unwrap();
    for (a, b) in [
        (
            "listen = \"127.0.0.1:9898\"",
            "listen = \"127.0.0.1:0\"".to_string(),
        ),
        (
            "listen = \"127.0.0.1:18080\"",
            "listen = \"127.0.0.1:0\"".to_string(),
        ),
        (
            "status_interval_secs = 5",
            "status_interval_secs = 0".to_string(),
        ),
        (
            "path = \"config/model.json\"",
            format!("path = {:?}", model.to_string_lossy()),
        ),
        (
            "shadow_decisions = 500",
            "shadow_decisions = 10".to_string(),
        ),
        (
            "dir = \"var/journal\"",
            format!("dir = {:?}", dir.join("journal").to_string_lossy()),
        ),
    ] {
        assert!(text.contains(a), "demo.toml lacks {a}");
        text = text.replace(a, &b);
    }
    let path = dir.join("engine.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn sighup_reloads_the_model_file() {
    let dir = temp_journal_dir("model-sighup");
    let model = dir.join("model.json");
    std::fs::write(&model, model_text("sighup-v1", "2.2")).unwrap();
    let cfg = binary_config(&dir, &model);
    let mut child = Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the engine");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (htx, hrx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("metrics http://").nth(1) {
                let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
            }
            if line.contains("SIGHUP model reload") {
                let _ = htx.send(line);
            }
        }
    });
    let addr: SocketAddr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("engine printed its ops address")
        .parse()
        .unwrap();
    more_decisions(addr, 20.0);
    assert_eq!(
        get_json(addr, "/api/model").1["live"]["version"],
        "sighup-v1"
    );
    let hup = |child: &std::process::Child| {
        // SAFETY: signalling the child we spawned, by its pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    };
    // A bad file on SIGHUP: refused, logged; the engine keeps running.
    std::fs::write(&model, "{ not json").unwrap();
    hup(&child);
    let line = hrx
        .recv_timeout(Duration::from_secs(10))
        .expect("reload line");
    assert!(
        line.contains("422") && line.contains("refused_format"),
        "{line}"
    );
    more_decisions(addr, 20.0);
    assert_eq!(
        get_json(addr, "/api/model").1["live"]["version"],
        "sighup-v1"
    );
    // A good file: shadow, swap.
    std::fs::write(&model, model_text("sighup-v2", "1.5")).unwrap();
    hup(&child);
    let line = hrx
        .recv_timeout(Duration::from_secs(10))
        .expect("reload line");
    assert!(line.contains("202"), "{line}");
    assert!(
        wait_until(
            Duration::from_secs(30),
            || get_json(addr, "/api/model").1["live"]["version"] == "sighup-v2"
        ),
        "no swap: {}",
        get_json(addr, "/api/model").1
    );
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
}
