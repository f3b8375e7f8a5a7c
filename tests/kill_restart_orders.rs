//! SIGKILL between an order's send and its answer, then a restart: the real
//! binary in `mode = "testnet"` trades at the simulator, which runs inside
//! this test process (so it outlives the engine, as a venue does). The
//! simulator places the first new order at once but answers it only after
//! 30 s; as soon as it has received that request the engine is killed. The
//! restart on the same journal must start, take the venue's position (the
//! startup block and `/api/positions` equal the venue's), match the orders
//! the journal holds (by the client id scheme it journaled) and adopt only
//! the others still open at the venue, query the journal's open orders the
//! venue no longer lists until each is closed at the governor, and never
//! send a client order id a second time.

mod common;

use common::*;
use qt_sim::Fault;
use qt_sim::binance::{SIM_API_KEY, SIM_API_SECRET};
use quantum_trader::app::engine::instruments_from_config;
use quantum_trader::config::{Config, TradingMode};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

const KEY_ENV: &str = "QT_TEST_KILL_KEY";
const SECRET_ENV: &str = "QT_TEST_KILL_SECRET";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The testnet config for the binary, everything at `sim`, written to `dir`.
fn write_config(sim: &qt_sim::SimHandle, dir: &Path, ops_port: u16, trade: bool) -> PathBuf {
    // A model that decides often, so the first life sends an order soon.
    let text = std::fs::read_to_string("config/model.json").unwrap();
    let text = text
        .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
        .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
    let model = dir.join("model.json");
    std::fs::write(&model, text).unwrap();
    let cfg: Config = test_config(|c| {
        c.mode = TradingMode::Testnet;
        c.sim.enabled = false;
        c.ops.listen = format!("127.0.0.1:{ops_port}");
        c.journal.dir = dir.join("journal").to_string_lossy().into_owned();
        c.model.path = model.to_string_lossy().into_owned();
        c.model.decision_cooldown_ms = 0;
        c.risk.max_orders_per_sec = 5;
        c.risk.max_orders_per_min = 100_000;
        c.risk.daily_trade_cap = 100_000;
        if !trade {
            // The second life sends nothing (every order SKIPs on the
            // notional limit), so its position stays the venue's.
            c.risk.max_order_notional = 0.01;
        }
        let b = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
            .unwrap();
        b.api_key_env = KEY_ENV.into();
        b.api_secret_env = SECRET_ENV.into();
        b.ws_url.clear();
        b.rest_url.clear();
        quantum_trader::venue::wiring::fill_sim_urls(c, &sim.ws_url(), &sim.rest_url());
        let b = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
            .unwrap();
        b.trade_rest_url = sim.rest_url();
        b.user_stream_url = sim.ws_url();
    });
    let p = dir.join(if trade { "trade.toml" } else { "quiet.toml" });
    std::fs::write(&p, cfg.to_toml()).unwrap();
    p
}

/// Spawns the binary; its stdout lines and stderr lines come on channels.
fn spawn(cfg: &Path) -> (Child, Receiver<String>, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .env_remove("QT_LIVE")
        .env(KEY_ENV, SIM_API_KEY)
        .env(SECRET_ENV, SIM_API_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = |r: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(r).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        rx
    };
    let out = lines(Box::new(child.stdout.take().unwrap()));
    let err = lines(Box::new(child.stderr.take().unwrap()));
    (child, out, err)
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling the child we spawned, by its pid.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// The startup block (up to its `trading:` line), or a panic with stderr.
fn startup_block(child: &mut Child, out: &Receiver<String>, err: &Receiver<String>) -> String {
    let mut block = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        match out.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                block.push_str(&l);
                block.push('\n');
                if l.starts_with("trading: ") {
                    return block;
                }
            }
            Err(_) => {
                if let Ok(Some(st)) = child.try_wait() {
                    let e: Vec<String> = err.try_iter().collect();
                    panic!("the engine exited ({st:?}):\n{block}\n{}", e.join("\n"));
                }
            }
        }
    }
    let _ = child.kill();
    let e: Vec<String> = err.try_iter().collect();
    panic!("no startup block:\n{block}\n{}", e.join("\n"));
}

/// The venue's position per traded symbol, as written (`"0"` when flat).
fn venue_positions(sim: &qt_sim::SimHandle) -> Vec<(String, String)> {
    let acct = sim.account();
    ["BTCUSDT", "ETHUSDT"]
        .iter()
        .map(|sym| {
            let q = acct
                .positions
                .iter()
                .find(|(s, _, _)| s == sym)
                .map(|(_, amt, _)| amt.clone())
                .unwrap_or_else(|| "0".into());
            (sym.to_string(), q)
        })
        .collect()
}

/// The venue client ids of every `order` record in the journal at `dir`
/// (the `client_ids` record before it gives prefix and epoch).
fn journaled_ids(dir: &Path) -> std::collections::HashSet<String> {
    use quantum_trader::journal::{self, Body};
    let mut out = std::collections::HashSet::new();
    let mut scheme = None;
    for d in journal::list_days(dir).unwrap() {
        for r in journal::open_day(dir, d).unwrap().unwrap() {
            match r.body {
                Body::ClientIds {
                    prefix, epoch_ms, ..
                } => {
                    scheme =
                        quantum_trader::exec::client_id::ClientIdGen::start(&prefix, epoch_ms, None)
                            .ok()
                }
                Body::Order {
                    client_order_id, ..
                } => {
                    if let Some(id) = scheme.as_ref().and_then(|g| g.id(client_order_id).ok()) {
                        out.insert(id.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn sigkill_between_send_and_ack_then_restart_resolves_without_a_resend() {
    let proto = test_config(|c| c.sim.rate_per_symbol = 1000);
    let table = instruments_from_config(&proto).unwrap();
    let sim = embedded_sim::start_sim_for(&proto, &table).unwrap();
    sim.set_api_credentials(SIM_API_KEY, SIM_API_SECRET);
    let dir = temp_journal_dir("kill-restart");

    // Life 1: every new order is placed at once, answered after 30 s.
    sim.inject(Fault::NewOrderDelay {
        orders: 1_000,
        delay: Duration::from_secs(30),
    });
    let (mut child, out, err) = spawn(&write_config(&sim, &dir, free_port(), true));
    let block1 = startup_block(&mut child, &out, &err);
    assert!(block1.contains("0 adopted"), "{block1}");
    // Polled tightly, so the engine dies soon after its first order reaches
    // the venue and its record reaches the journal's file (often before it
    // can journal the fill the venue streams at once).
    let t = std::time::Instant::now();
    let mut sent = false;
    while t.elapsed() < Duration::from_secs(60) {
        if !sim.new_order_requests_by_client_id().is_empty() {
            sent = true;
            break;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    if !sent {
        let _ = child.kill();
        let e: Vec<String> = err.try_iter().collect();
        panic!("no order reached the venue:\n{}", e.join("\n"));
    }
    // A per-order `order` record is queued to the journal writer before the
    // hand-off and written under `journal.fsync`; a kill in the same
    // millisecond can lose it (that order is then adopted at restart, not
    // matched: docs/order-path.md). This test is about the unknown outcome,
    // so it kills once the first order's record is in the journal's file
    // (the venue still holds every answer back for 30 s).
    let journal_dir = dir.join("journal");
    let t = std::time::Instant::now();
    while journaled_ids(&journal_dir).is_empty() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_micros(200));
    }
    signal(&child, libc::SIGKILL);
    let st = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGKILL)
    );
    let before = sim.new_order_requests_by_client_id();
    assert!(before.values().all(|n| *n == 1), "{before:?}");
    // Clear the fault.
    sim.inject(Fault::NewOrderDelay {
        orders: 0,
        delay: Duration::ZERO,
    });
    // The venue settles: the killed orders filled (IOC), nothing moves now.
    std::thread::sleep(Duration::from_millis(300));
    let pos = venue_positions(&sim);
    let open = sim.account().open_orders;
    // The venue client ids the journal holds (its `client_ids` scheme
    // applied to its `order` records), as the first life left them.
    let journaled = journaled_ids(&dir.join("journal"));
    assert!(!journaled.is_empty(), "the first life journaled its orders");
    eprintln!("after the kill: venue positions {pos:?}, open {open:?}, requests {before:?}");
    assert!(
        pos.iter().any(|(_, q)| q != "0"),
        "the killed orders traded at the venue: {pos:?}"
    );

    // Life 2, same journal: starts, takes the venue's position, adopts what
    // is open, resends nothing.
    let ops = free_port();
    let (mut child, out, err) = spawn(&write_config(&sim, &dir, ops, false));
    let block2 = startup_block(&mut child, &out, &err);
    eprintln!("{block2}");
    for (sym, q) in &pos {
        if q != "0" {
            let line = format!("position {sym} {q} entry");
            assert!(block2.contains(&line), "venue has {sym} {q}:\n{block2}");
        }
    }
    // Open venue orders the journal holds are matched, the others adopted.
    let ours = open.iter().filter(|c| journaled.contains(*c)).count();
    assert!(
        block2.contains(&format!("{ours} matched, {} adopted", open.len() - ours)),
        "venue has open {open:?}, journaled {journaled:?}:\n{block2}"
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{ops}").parse().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || std::net::TcpStream::connect(
            addr
        )
        .is_ok()),
        "the ops server listens"
    );
    let engine_qty = |sym: &str| {
        let (code, v) = get_json(addr, "/api/positions");
        if code != 200 {
            return None;
        }
        let p = v["positions"].as_array()?;
        Some(
            p.iter()
                .find(|p| p["symbol"] == sym)
                .and_then(|p| p["qty"].as_f64())
                .unwrap_or(0.0),
        )
    };
    let agrees = || {
        pos.iter().all(|(sym, q)| {
            let venue: f64 = q.parse().unwrap();
            engine_qty(sym).is_some_and(|e| (e - venue).abs() < 1e-9)
        })
    };
    assert!(
        wait_until(Duration::from_secs(10), agrees),
        "engine BTCUSDT {:?} ETHUSDT {:?}, venue {pos:?}",
        engine_qty("BTCUSDT"),
        engine_qty("ETHUSDT")
    );
    // The journal disagreed with the venue where the kill left a fill the
    // first life never heard: at most one position discrepancy per
    // instrument, counted.
    let position_discrepancies = metric(
        addr,
        "qt_reconcile_discrepancies_total",
        &[("venue", "binance"), ("kind", "position")],
    );
    assert!(
        position_discrepancies <= pos.len() as f64,
        "{position_discrepancies}"
    );
    // Every order the journal had open is settled (matched ones canceled
    // at stop only; the missing ones queried and closed): the governor's
    // open orders are the matched ones.
    let risk_open = || get_json(addr, "/api/risk").1["open_orders"].as_u64();
    assert!(
        wait_until(Duration::from_secs(40), || risk_open() == Some(ours as u64)),
        "the journal's open orders are settled: {:?}",
        risk_open()
    );
    // `/api/orders` (republished every 250 ms) lists the same.
    let listed = || {
        get_json(addr, "/api/orders").1["venues"]["binance"]["orders"]
            .as_array()
            .map(|a| a.len())
    };
    assert!(
        wait_until(Duration::from_secs(5), || listed() == Some(open.len())),
        "{}",
        get_json(addr, "/api/orders").1
    );
    // It keeps running, and sends nothing again.
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "the engine exited");
    assert!(agrees(), "the engine's positions stay the venue's");
    signal(&child, libc::SIGTERM);
    let st = child.wait().unwrap();
    let e: Vec<String> = err.try_iter().collect();
    assert!(st.success(), "{st:?}\n{}", e.join("\n"));
    let after = sim.new_order_requests_by_client_id();
    assert!(after.values().all(|n| *n == 1), "a resend: {after:?}");
    assert_eq!(after, before, "the second life sent no order");
    assert_eq!(venue_positions(&sim), pos);
    // Nothing of ours left working (cancel on stop covers adopted orders:
    // it cancels every open order of each traded symbol).
    assert!(sim.account().open_orders.is_empty());
    sim.shutdown();
}
