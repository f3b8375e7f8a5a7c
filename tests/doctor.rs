//! `doctor` and `healthcheck` as a user runs them (the real binary): a healthy
//! demo setup (Binance, Bybit and OKX on the simulator) can trade (exit 0);
//! broken setups name every failing check and exit 1 — among them Redis down,
//! a stale required heartbeat read from a real `redis-server` and an
//! unreachable venue; `healthcheck` follows `/ready` of a running engine.

mod ops_common;
#[path = "common/redis_server.rs"]
mod redis_server;

use axum::Router;
use axum::routing::get;
use ops_common::*;
use quantum_trader::venue::binance::config::BinanceConfig;
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
    c.venues.remove("bybit");
    c.venues.remove("okx");
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
        "bybit.rest",
        "bybit.clock",
        "bybit.instruments",
        "bybit.ws",
        "okx.rest",
        "okx.clock",
        "okx.instruments",
        "okx.ws",
        "redis",
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
    assert!(
        line(&text, "okx.instruments").contains("BTC-USDT-SWAP,ETH-USDT-SWAP listed and live"),
        "{text}"
    );
    assert!(
        line(&text, "bybit.instruments").contains("listed and Trading"),
        "{text}"
    );
    assert!(!text.contains("not probed"), "{text}");
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
        let b = c.venues.get_mut::<BinanceConfig>().unwrap();
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
        let b = c.venues.get_mut::<BinanceConfig>().unwrap();
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

    // 3. All three venues unreachable: Bybit and OKX are probed like
    //    Binance, and every check of each is named.
    let cfg = demo_config(|c| {
        c.sim.enabled = false;
        // Each venue's section is its own type: set the shared keys through
        // the registry's view of them.
        for v in quantum_trader::core::Venue::ALL {
            let s = c.venues.section_mut(v).unwrap();
            *s.rest_url = format!("http://127.0.0.1:{dead}");
            *s.ws_url = format!("ws://127.0.0.1:{dead}");
        }
    });
    let (code, text) = doctor(&write_config(&dir, &cfg));
    assert_eq!(code, 1, "{text}");
    for venue in ["binance", "bybit", "okx"] {
        for check in ["rest", "instruments", "ws"] {
            let name = format!("{venue}.{check}");
            assert!(line(&text, &name).starts_with("FAIL"), "{name}:\n{text}");
            assert!(text.contains(&format!("  - {name}: ")), "{name}:\n{text}");
        }
    }
    assert!(
        line(&text, "bybit.rest").contains(&format!("127.0.0.1:{dead}/v5/market/time")),
        "{text}"
    );
    assert!(
        line(&text, "okx.rest").contains(&format!("127.0.0.1:{dead}/api/v5/public/time")),
        "{text}"
    );
    assert!(text.contains("can trade: NO (9 reason(s))"), "{text}");
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
    let eng = Engine::spawn(&file, &[("QT_ADMIN_TOKEN", "hc-token")]);
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
    assert_eq!(
        http_with(
            eng.ops,
            "POST",
            "/api/test/stall/score",
            "Authorization: Bearer hc-token\r\n"
        )
        .0,
        200
    );
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

fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The issue's case: Redis down, a stale required heartbeat and an
/// unreachable venue are each named, and doctor exits non-zero. Redis is a
/// real `redis-server` (with a password) on a free port for the up cases,
/// and a port nothing listens on for the down ones.
#[test]
fn redis_down_stale_required_heartbeat_and_unreachable_venue_are_named() {
    let dir = temp_dir("doctor-redis");
    let redis = redis_server::RedisServer::start_with_password("doctor-s3cret");
    let mut rc = redis.conn();
    let set = |c: &mut redis::Connection, service: &str, v: String| {
        redis::cmd("SET")
            .arg(format!("quantum:svc:{service}:heartbeat"))
            .arg(v)
            .query::<()>(c)
            .unwrap();
    };
    let dead_redis = redis_server::free_port();
    let dead_venue = free_port();
    let setup = |redis_url: String, required: bool, venue_up: bool| {
        demo_config(move |c| {
            c.redis.url = redis_url;
            c.redis.url_env = String::new();
            c.redis.required = required;
            c.risk.heartbeats = vec![
                quantum_trader::config::HeartbeatConfig {
                    service: "rl_trainer".into(),
                    policy: quantum_trader::config::HeartbeatPolicy::Required,
                    max_age_ms: 5_000,
                },
                quantum_trader::config::HeartbeatConfig {
                    service: "rl_feedback_v2".into(),
                    policy: quantum_trader::config::HeartbeatPolicy::Advisory,
                    max_age_ms: 5_000,
                },
            ];
            if !venue_up {
                binance_only(c);
                c.sim.enabled = false;
                let b = c.venues.get_mut::<BinanceConfig>().unwrap();
                b.rest_url = format!("http://127.0.0.1:{dead_venue}");
                b.ws_url = format!("ws://127.0.0.1:{dead_venue}");
            }
        })
    };

    // 1. Healthy: Redis answers, both heartbeats fresh, the simulated venues up.
    set(&mut rc, "rl_trainer", format!("{}.250", unix_s()));
    set(&mut rc, "rl_feedback_v2", (unix_s() * 1000).to_string());
    let (code, text) = doctor(&write_config(&dir, &setup(redis.url(), true, true)));
    assert_eq!(code, 0, "{text}");
    let r = line(&text, "redis");
    assert!(
        r.starts_with("OK ") && r.contains("reachable: Redis "),
        "{text}"
    );
    assert!(r.contains("(with password)"), "{text}");
    assert!(
        !text.contains("doctor-s3cret"),
        "the password was printed:\n{text}"
    );
    for hb in ["heartbeat.rl_trainer", "heartbeat.rl_feedback_v2"] {
        let l = line(&text, hb);
        assert!(l.starts_with("OK ") && l.contains("last seen"), "{text}");
        assert_eq!(
            text.matches(&format!(" {hb} ")).count(),
            1,
            "{hb} twice:\n{text}"
        );
    }

    // 2. Redis up, the required heartbeat a minute old, the venue unreachable.
    set(&mut rc, "rl_trainer", (unix_s() - 60).to_string());
    let (code, text) = doctor(&write_config(&dir, &setup(redis.url(), true, false)));
    assert_eq!(code, 1, "{text}");
    assert!(line(&text, "redis").starts_with("OK "), "{text}");
    let hb = line(&text, "heartbeat.rl_trainer");
    assert!(hb.starts_with("FAIL") && hb.contains("STALE"), "{text}");
    assert!(
        hb.contains("quantum:svc:rl_trainer:heartbeat 6")
            || hb.contains("quantum:svc:rl_trainer:heartbeat 5"),
        "{text}"
    );
    assert!(
        line(&text, "heartbeat.rl_feedback_v2").starts_with("OK "),
        "{text}"
    );
    assert!(line(&text, "binance.rest").starts_with("FAIL"), "{text}");
    for name in [
        "heartbeat.rl_trainer",
        "binance.rest",
        "binance.instruments",
        "binance.ws",
    ] {
        assert!(text.contains(&format!("  - {name}: ")), "{name}:\n{text}");
    }
    assert!(text.contains("can trade: NO (4 reason(s))"), "{text}");

    // 3. Redis down (required), so neither heartbeat can be read, and the
    //    venue unreachable: each is named.
    let down = format!("redis://:doctor-s3cret@127.0.0.1:{dead_redis}");
    let (code, text) = doctor(&write_config(&dir, &setup(down.clone(), true, false)));
    assert_eq!(code, 1, "{text}");
    let r = line(&text, "redis");
    assert!(
        r.starts_with("FAIL") && r.contains(&dead_redis.to_string()) && r.contains("required"),
        "{text}"
    );
    assert!(
        text.contains("fix: start redis-server or fix [redis] url"),
        "{text}"
    );
    let hb = line(&text, "heartbeat.rl_trainer");
    assert!(
        hb.starts_with("FAIL") && hb.contains("cannot be read"),
        "{text}"
    );
    assert!(
        line(&text, "heartbeat.rl_feedback_v2").starts_with("WARN"),
        "{text}"
    );
    for name in ["redis", "heartbeat.rl_trainer", "binance.rest"] {
        assert!(text.contains(&format!("  - {name}: ")), "{name}:\n{text}");
    }
    assert!(text.contains("can trade: NO (5 reason(s))"), "{text}");
    assert!(
        !text.contains("doctor-s3cret"),
        "the password was printed:\n{text}"
    );

    // 4. The same outage with Redis not required: a warning that the engine
    //    runs degraded, not a reason; the venue still fails.
    let (code, text) = doctor(&write_config(&dir, &setup(down, false, false)));
    assert_eq!(code, 1, "{text}");
    let r = line(&text, "redis");
    assert!(
        r.starts_with("WARN") && r.contains("engine will run degraded"),
        "{text}"
    );
    assert!(!text.contains("  - redis: "), "{text}");
    assert!(text.contains("  - binance.rest: "), "{text}");
}

/// A running engine that reads Redis: each heartbeat gets one line that
/// names both sources (the engine's view and the Redis key), and the
/// freshest decides.
#[test]
fn running_engine_and_redis_heartbeats_merge_into_one_line() {
    let dir = temp_dir("doctor-merge");
    let redis = redis_server::RedisServer::start(false);
    let mut rc = redis.conn();
    let key = "quantum:svc:rl_trainer:heartbeat";
    redis::cmd("SET")
        .arg(key)
        .arg((unix_s() - 60).to_string())
        .query::<()>(&mut rc)
        .unwrap();
    let cfg = demo_config(|c| {
        c.ops.listen = format!("127.0.0.1:{}", free_port());
        c.redis.url = redis.url();
        c.redis.url_env = String::new();
        c.risk.heartbeats = vec![quantum_trader::config::HeartbeatConfig {
            service: "rl_trainer".into(),
            policy: quantum_trader::config::HeartbeatPolicy::Required,
            max_age_ms: 5_000,
        }];
    });
    let file = write_config(&dir, &cfg);
    let eng = Engine::spawn(&file, &[("QT_ADMIN_TOKEN", "merge-token")]);
    // The engine has read the stale key.
    let mut last = String::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            last = http(eng.ops, "GET", "/api/heartbeats").1;
            last.contains("rl_trainer") && last.contains("\"age_ms\":6")
        }),
        "the engine never read the key: {last}\n{}",
        eng.stderr_text()
    );
    let (code, text) = doctor(&file);
    assert_eq!(code, 1, "{text}");
    assert_eq!(text.matches(" heartbeat.rl_trainer ").count(), 1, "{text}");
    let hb = line(&text, "heartbeat.rl_trainer");
    assert!(hb.starts_with("FAIL") && hb.contains("STALE"), "{text}");
    assert!(
        hb.contains("engine 6") && hb.contains(&format!("Redis {key} 6")),
        "{text}"
    );
    assert!(line(&text, "redis").starts_with("OK "), "{text}");

    // A fresh beat through the API: the engine's view is fresh, the key is
    // still a minute old; the freshest decides.
    let (s, body) = http_with(
        eng.ops,
        "POST",
        "/api/heartbeats/rl_trainer",
        "Authorization: Bearer merge-token\r\n",
    );
    assert!(s == 200 || s == 204, "{s} {body}");
    let (_, text) = doctor(&file);
    assert_eq!(text.matches(" heartbeat.rl_trainer ").count(), 1, "{text}");
    let hb = line(&text, "heartbeat.rl_trainer");
    assert!(hb.starts_with("OK "), "{text}");
    assert!(hb.contains(&format!("Redis {key} 6")), "{text}");
}
