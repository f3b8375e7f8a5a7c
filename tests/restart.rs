//! The real binary, killed with SIGKILL and restarted on the same journal:
//! positions, today's counters and the breaker come back equal, a torn
//! journal tail is tolerated, and a kill in the middle of trading restarts
//! into a consistent state whose record ids keep rising; and what the Redis
//! publisher had kept in the journal during an outage reaches Redis from
//! the next life after a SIGKILL.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use common::{get_json, http_with, temp_journal_dir, wait_until};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "restart-test-token";

fn config(dir: &std::path::Path, journal: &std::path::Path) -> std::path::PathBuf {
    let model = std::fs::read_to_string("config/model.json")
        .unwrap()
        .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
        .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
    let model_path = dir.join("model.json");
    std::fs::write(&model_path, model).unwrap();
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
            "rate_per_symbol = 500",
            "rate_per_symbol = 1000".to_string(),
        ),
        (
            "path = \"config/model.json\"",
            format!("path = {:?}", model_path.to_string_lossy()),
        ),
        (
            "decision_cooldown_ms = 250",
            "decision_cooldown_ms = 0".to_string(),
        ),
        (
            "max_orders_per_sec = 5",
            "max_orders_per_sec = 50".to_string(),
        ),
        (
            "max_orders_per_min = 60",
            "max_orders_per_min = 100000".to_string(),
        ),
        (
            "daily_trade_cap = 200",
            "daily_trade_cap = 100000".to_string(),
        ),
        (
            "dir = \"var/journal\"",
            format!("dir = {:?}", journal.to_string_lossy()),
        ),
        (
            "token_env = \"QT_ADMIN_TOKEN\"",
            "token_env = \"QT_RESTART_TEST_TOKEN\"".to_string(),
        ),
    ] {
        assert!(text.contains(a), "demo.toml lacks {a}");
        text = text.replace(a, &b);
    }
    let path = dir.join("engine.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the binary; returns it and its ops address (read from stderr).
fn spawn(cfg: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
        .args(["run", "--config"])
        .arg(cfg)
        .env("QT_RESTART_TEST_TOKEN", TOKEN)
        .env("QT_LOG", "quantum_trader=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the engine");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("recovered from journal") || line.contains("torn") {
                eprintln!("[engine] {line}");
            }
            if !sent && let Some(rest) = line.split("metrics http://").nth(1) {
                let a = rest.split('/').next().unwrap_or("").to_string();
                let _ = tx.send(a);
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("engine printed its ops address")
        .parse()
        .unwrap();
    (child, addr)
}

fn post(addr: SocketAddr, path: &str) -> (u16, String) {
    http_with(
        addr,
        "POST",
        path,
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
}

/// The parts of `/api/positions` a restart must keep.
fn positions_core(v: &Value) -> Value {
    let list: Vec<Value> = v["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            serde_json::json!([
                p["symbol"],
                p["qty"],
                p["avg_entry_px"],
                p["realized_pnl"],
                p["fees"],
                p["fills"],
                p["volume_quote"]
            ])
        })
        .collect();
    serde_json::json!([
        list,
        v["realized_pnl"],
        v["fees"],
        v["orders"],
        v["fills"],
        v["rejects"]
    ])
}

/// The parts of `/api/risk` a restart must keep.
fn risk_core(v: &Value) -> Value {
    serde_json::json!([
        v["mode"],
        v["utc_day"],
        v["daily_trades"],
        v["positions"],
        v["daily_realized_pnl"],
        v["daily_fees"],
        v["consecutive_losses"],
        v["consecutive_rejects"],
        v["kill_switch"],
        v["circuit_breaker"]["state"],
        v["circuit_breaker"]["reason"],
        v["circuit_breaker"]["detail"],
        v["circuit_breaker"]["since_ms"],
        v["circuit_breaker"]["counters"]["trips"]
    ])
}

/// Fill records in the journal's day files (a torn tail is skipped).
fn journal_fills(journal: &std::path::Path) -> u64 {
    use quantum_trader::journal::{Body, list_days, read_day};
    let mut n = 0;
    for day in list_days(journal).unwrap_or_default() {
        if let Ok(d) = read_day(journal, day) {
            n += d
                .records
                .iter()
                .filter(|r| matches!(r.body, Body::Fill { .. }))
                .count() as u64;
        }
    }
    n
}

fn settled(addr: SocketAddr) -> (Value, Value, Value) {
    // The journal has written everything and two reads agree.
    let mut last = None;
    for _ in 0..100 {
        let (_, r) = get_json(addr, "/api/risk");
        let (_, p) = get_json(addr, "/api/positions");
        let (_, h) = get_json(addr, "/api/circuit-breaker/history");
        let now = (r, p, h);
        if now.0["journal"]["pending"] == 0
            && last.as_ref().is_some_and(|l: &(Value, Value, Value)| {
                risk_core(&l.0) == risk_core(&now.0)
                    && positions_core(&l.1) == positions_core(&now.1)
            })
        {
            return now;
        }
        last = Some(now);
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("engine state never settled: {:?}", last.map(|l| l.0));
}

#[test]
fn sigkill_and_restart_restore_positions_counters_and_breaker() {
    let dir = temp_journal_dir("restart-test");
    let journal = dir.join("journal");
    let cfg = config(&dir, &journal);

    // Run 1: trade, then trip the breaker (trading stops) and SIGKILL.
    let (mut a, addr) = spawn(&cfg);
    assert!(
        wait_until(Duration::from_secs(60), || get_json(addr, "/api/positions")
            .1["fills"]
            .as_u64()
            .unwrap_or(0)
            >= 10),
        "run 1 never traded: {}",
        get_json(addr, "/api/positions").1
    );
    let (s, b) = post(addr, "/api/circuit-breaker/trip?reason=restart%20drill");
    assert_eq!(s, 200, "{b}");
    let (risk1, pos1, hist1) = settled(addr);
    assert_eq!(risk1["circuit_breaker"]["state"], "OPEN");
    assert!(risk1["daily_trades"].as_u64().unwrap() >= 5, "{risk1}");
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();

    // A crash mid-write: half a frame at the end of today's file.
    let day = risk1["utc_day"].as_str().unwrap().to_string();
    let file = journal.join(format!("{day}.journal"));
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"'])
        .unwrap();

    // Run 2: the same state comes back.
    let (mut b2, addr) = spawn(&cfg);
    assert!(wait_until(Duration::from_secs(20), || get_json(
        addr,
        "/api/risk"
    )
    .1["recovery"]
        .is_object()));
    let (risk2, pos2, hist2) = settled(addr);
    assert_eq!(
        risk_core(&risk2),
        risk_core(&risk1),
        "risk state after restart"
    );
    assert_eq!(
        positions_core(&pos2),
        positions_core(&pos1),
        "positions after restart"
    );
    assert_eq!(hist2, hist1, "breaker history after restart");
    assert_eq!(risk2["recovery"]["torn_tails"], 1, "{}", risk2["recovery"]);
    assert_eq!(
        risk2["circuit_breaker"]["state"], "OPEN",
        "still tripped: no trading after the restart"
    );
    // The torn bytes were cut before appending.
    assert!(std::fs::metadata(&file).unwrap().len() >= len);
    let last_id_2 = risk2["journal"]["last_id"].as_u64().unwrap_or(0);

    // Reset, trade on, and SIGKILL in the middle of trading.
    let (s, b) = post(addr, "/api/circuit-breaker/reset?reason=drill%20done");
    assert_eq!(s, 200, "{b}");
    let fills2 = pos2["fills"].as_u64().unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || get_json(addr, "/api/positions")
            .1["fills"]
            .as_u64()
            .unwrap_or(0)
            >= fills2 + 5),
        "run 2 never traded after the reset"
    );
    let id_before_kill = get_json(addr, "/api/risk").1["journal"]["last_id"]
        .as_u64()
        .unwrap();
    assert!(id_before_kill > last_id_2);
    // Those fills are in the day file (the writer hands each burst to the OS
    // when its queue empties; under load it may lag the API by a moment):
    // the kill tests recovery, not the writer's lag.
    assert!(
        wait_until(Duration::from_secs(30), || journal_fills(&journal)
            >= fills2 + 5),
        "run 2's fills never reached the journal file: {} on disk",
        journal_fills(&journal)
    );
    b2.kill().unwrap();
    b2.wait().unwrap();

    // Run 3: a consistent state: what the governor and the exec stage
    // restored agree, counters did not go back, ids keep rising.
    let (mut c, addr) = spawn(&cfg);
    assert!(wait_until(Duration::from_secs(20), || get_json(
        addr,
        "/api/risk"
    )
    .1["recovery"]
        .is_object()));
    let (_, risk3) = get_json(addr, "/api/risk");
    let (_, pos3) = get_json(addr, "/api/positions");
    assert_eq!(risk3["circuit_breaker"]["state"], "CLOSED");
    assert!(risk3["daily_trades"].as_u64().unwrap() > risk2["daily_trades"].as_u64().unwrap());
    assert!(pos3["fills"].as_u64().unwrap() >= fills2 + 5);
    for p in pos3["positions"].as_array().unwrap() {
        let key = format!(
            "{}:{}",
            p["venue"].as_str().unwrap(),
            p["symbol"].as_str().unwrap()
        );
        let gov = risk3["positions"][&key].as_f64().unwrap();
        assert!(
            (gov - p["qty"].as_f64().unwrap()).abs() < 1e-12,
            "{key}: {gov} vs {p}"
        );
    }
    assert!(wait_until(Duration::from_secs(20), || get_json(
        addr,
        "/api/risk"
    )
    .1["journal"]["last_id"]
        .as_u64()
        .unwrap_or(0)
        > id_before_kill));
    c.kill().unwrap();
    c.wait().unwrap();

    // The day report reads the journal the runs wrote.
    let out = Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
        .args([
            "journal", "report", "--day", &day, "--mode", "paper", "--dir",
        ])
        .arg(&journal)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("breaker events   2"), "{text}");
    assert!(text.contains("OPEN reason=manual"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_during_a_redis_outage_then_the_next_life_publishes_the_journal_part() {
    use redis_server::{RedisServer, xrange};
    let mut redis = RedisServer::start(true);
    let dir = temp_journal_dir("restart-redis-test");
    let journal = dir.join("journal");
    let cfg = config(&dir, &journal);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "url = \"\"\nurl_env = \"QT_REDIS_URL\"",
        &format!(
            "url = {:?}\nurl_env = \"\"\nbuffer_capacity = 50\nbatch_size = 64\nbackoff_max_ms = 300",
            redis.url()
        ),
    );
    assert!(
        text.contains("buffer_capacity = 50"),
        "the [redis] section was edited"
    );
    std::fs::write(&cfg, text).unwrap();

    // Life 1: publishing, then Redis dies, the spill goes to the journal,
    // and the engine is killed without a chance to flush.
    let (mut a, addr) = spawn(&cfg);
    assert!(
        wait_until(
            Duration::from_secs(60),
            || get_json(addr, "/api/redis").1["published"]
                .as_u64()
                .unwrap_or(0)
                > 0
        ),
        "life 1 never published: {}",
        get_json(addr, "/api/redis").1
    );
    let epoch1 = get_json(addr, "/api/redis").1["epoch_ms"].as_u64().unwrap();
    // Entries spilled while still connected (the small buffer filled) and
    // read back by life 1 itself are in the journal and in Redis.
    let kept_before_outage = common::published_of(&journal, epoch1).len();
    redis.kill();
    assert!(
        wait_until(Duration::from_secs(60), || common::metric(
            addr,
            "qt_redis_journal_kept_total",
            &[]
        ) > 100.0),
        "no spill to the journal: {}",
        get_json(addr, "/api/redis").1
    );
    // The counter above counts entries handed to the journal writer; wait
    // until more than 100 entries kept since the outage began are in the day
    // file (the writer flushes after each burst), so that the kill below
    // tests the next life, not the writer's lag.
    assert!(
        wait_until(Duration::from_secs(60), || common::published_of(
            &journal, epoch1
        )
        .len()
            > kept_before_outage + 100),
        "kept entries never reached the journal file"
    );
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let kept = common::published_of(&journal, epoch1);
    assert!(kept.len() > 100, "kept in the journal: {}", kept.len());

    // Life 2 on the same journal, Redis back with what life 1 wrote.
    redis.spawn();
    // What life 1 kept in the journal is owed to Redis unless Redis already
    // has it: entries life 1 spilled while connected (its buffer filled)
    // and read back itself, and the batch Redis applied just before it was
    // killed (its reply cut) are at or below their stream's last id. The
    // next life must write exactly the rest.
    let stream_key = |stream: &str| match stream {
        "decision" => "quantum:stream:ai.decision",
        "intent" => "quantum:stream:trade.intent",
        "verdict" => "quantum:stream:apply.result",
        "execution" => "quantum:stream:execution.result",
        "market" => "quantum:stream:exchange.normalized",
        other => panic!("unknown stream {other}"),
    };
    let last_id = |c: &mut redis::Connection, key: &str| -> (u64, u64) {
        xrange(c, key).last().map_or((0, 0), |e| {
            let (x, y) = e.0.split_once('-').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
    };
    let owed = {
        let mut c = redis.conn();
        kept.iter()
            .filter(|k| (epoch1, k.seq) > last_id(&mut c, stream_key(&k.stream)))
            .count()
    };
    // Entries kept after the outage began: only the last batch in flight at
    // the kill can be in Redis.
    assert!(owed > 0, "nothing of life 1 is owed to Redis");
    let (mut b, addr) = spawn(&cfg);
    assert!(
        wait_until(
            Duration::from_secs(60),
            || get_json(addr, "/api/redis").1["backlog"] == "done"
        ),
        "backlog: {}",
        get_json(addr, "/api/redis").1
    );
    let epoch2 = get_json(addr, "/api/redis").1["epoch_ms"].as_u64().unwrap();
    let written = common::metric(addr, "qt_redis_backlog_replayed_total", &[]) as usize;
    // Exactly what Redis lacked; the per-entry check below proves every kept
    // entry is in Redis exactly once, under its own id, with its fields.
    assert_eq!(
        written,
        owed,
        "kept {} entries, {owed} of them above the stream tops: replayed {written}",
        kept.len()
    );
    assert_eq!(common::metric(addr, "qt_redis_duplicates_total", &[]), 0.0);
    b.kill().unwrap();
    b.wait().unwrap();

    let mut c = redis.conn();
    for stream in ["decision", "intent", "verdict", "execution"] {
        let key = match stream {
            "decision" => "quantum:stream:ai.decision",
            "intent" => "quantum:stream:trade.intent",
            "verdict" => "quantum:stream:apply.result",
            _ => "quantum:stream:execution.result",
        };
        let entries = xrange(&mut c, key);
        let ids: Vec<(u64, u64)> = entries
            .iter()
            .map(|e| {
                let (x, y) = e.0.split_once('-').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{key}: ids rise, none twice"
        );
        assert!(ids.iter().all(|i| i.0 == epoch1 || i.0 == epoch2), "{key}");
        // Each kept entry is there, under its own id, with its fields.
        for k in kept.iter().filter(|k| k.stream == stream) {
            let seq = k.seq;
            let e = entries
                .iter()
                .find(|e| e.0 == format!("{epoch1}-{seq}"))
                .unwrap_or_else(|| panic!("{stream} {epoch1}-{seq} missing from {key}"));
            assert_eq!(e.1, k.fields, "{key} {seq}: fields as kept");
        }
        // Life 2's entries all come after life 1's.
        if let Some(first2) = ids.iter().position(|i| i.0 == epoch2) {
            assert!(
                ids[first2..].iter().all(|i| i.0 == epoch2),
                "{key}: life 2 after life 1"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
