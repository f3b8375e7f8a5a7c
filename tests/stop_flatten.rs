//! Flatten on stop (`trading.flatten_on_stop`) against the simulator, over
//! real sockets: a position put at the venue by hand, a quiet testnet
//! engine that takes it at start, then the engine's stop → the venue's
//! position is 0, closed by one reduce-only MARKET order of the engine's
//! client-id scheme, whose fill is in the journal; a flatten that cannot
//! complete (every new order answered 500, not placed) ends when
//! `flatten_timeout_ms` is up, never resends, and says why; and the real
//! binary: one SIGTERM stops in order with the reason logged, a second
//! SIGTERM exits at once.

mod common;

use common::venue_rig::{KEY_ENV, SECRET_ENV, VenueRig};
use common::*;
use qt_sim::Fault;
use qt_sim::binance::{SIM_API_KEY, SIM_API_SECRET};
use quantum_trader::exec::gateway::STOP_ORDER_SEQ_TOP;
use quantum_trader::journal::{self, Body};
use quantum_trader::venue::binance::orders::VenueOrderStatus;
use quantum_trader::venue::binance::signed::OrderRef;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

fn metric(shared: &quantum_trader::pipeline::shared::Shared, name: &str, result: &str) -> u64 {
    shared
        .metrics
        .registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "result" && l.value() == result)
        })
        .map(|m| m.get_counter().value())
        .sum::<f64>() as u64
}

/// The client ids the venue received new orders for, but `by_hand`'s.
fn engine_orders(v: &VenueRig, by_hand: &str) -> Vec<(String, u64)> {
    let mut ids: Vec<(String, u64)> = v
        .sim
        .new_order_requests_by_client_id()
        .into_iter()
        .filter(|(id, _)| id != by_hand)
        .collect();
    ids.sort();
    ids
}

fn qty(s: &str) -> f64 {
    s.parse().unwrap()
}

#[test]
fn stop_flattens_the_venue_position_with_one_reduce_only_order_journaled() {
    let v = VenueRig::start();
    v.market_by_hand("byhand-long", true, 3);
    assert_eq!(qty(&v.position()), 0.003);
    let jdir = temp_journal_dir("flatten");
    let cfg = v.config(&jdir, |c| {
        c.trading.flatten_on_stop = true;
        c.trading.flatten_timeout_ms = 5_000;
    });
    let e = v.engine(cfg, false);
    let shared = e.shared().clone();
    // The engine took the venue's position at start.
    assert_eq!(
        e.startup().venues[0].reconciliation.positions[v.btc.id.idx()],
        3
    );
    assert!(
        engine_orders(&v, "byhand-long").is_empty(),
        "a quiet engine"
    );
    let t0 = Instant::now();
    e.stop();
    eprintln!("stop with flatten took {:?}", t0.elapsed());
    assert_eq!(qty(&v.position()), 0.0, "flat at the venue");
    // One order, sent once, reduce-only, of the engine's id scheme.
    let sent = engine_orders(&v, "byhand-long");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (cid, n) = &sent[0];
    assert_eq!(*n, 1);
    let parsed = quantum_trader::exec::client_id::parse(cid).expect("our id scheme");
    assert_eq!(parsed.seq, STOP_ORDER_SEQ_TOP);
    let o =
        v.rt.block_on(
            v.client
                .query_order("BTCUSDT", &OrderRef::ClientOrderId(cid.clone())),
        )
        .unwrap();
    assert!(o.reduce_only, "{o:?}");
    assert_eq!(o.order_type, "MARKET");
    assert_eq!(o.side, "SELL");
    assert_eq!(o.status, VenueOrderStatus::Filled);
    assert_eq!(metric(&shared, "qt_stop_flatten_total", "flat"), 1);
    // Exec took the fill: the engine's position is flat too.
    let view = shared.positions.lock().clone();
    let p = view
        .positions
        .iter()
        .find(|p| p.symbol == "BTCUSDT")
        .unwrap();
    assert_eq!(p.qty, 0.0, "{view:?}");
    // The journal has the flatten order's fill and its end.
    let (mut fills, mut dones) = (Vec::new(), Vec::new());
    for d in journal::list_days(&jdir).unwrap() {
        for rec in journal::open_day(&jdir, d).unwrap().unwrap() {
            match rec.body {
                Body::Fill {
                    client_order_id,
                    side,
                    qty,
                    position_after,
                    ..
                } if client_order_id == STOP_ORDER_SEQ_TOP => {
                    fills.push((side, qty, position_after))
                }
                Body::OrderDone {
                    client_order_id,
                    status,
                    note,
                    ..
                } if client_order_id == STOP_ORDER_SEQ_TOP => dones.push((status, note)),
                _ => {}
            }
        }
    }
    let sold: f64 = fills.iter().map(|(_, q, _)| qty(q)).sum();
    assert!(fills.iter().all(|(s, _, _)| s == "SELL"), "{fills:?}");
    assert_eq!(sold, 0.003, "{fills:?}");
    assert_eq!(qty(&fills.last().unwrap().2), 0.0, "{fills:?}");
    assert_eq!(
        dones,
        vec![("filled".to_string(), "flatten_on_stop".to_string())]
    );
}

#[test]
fn a_flatten_that_cannot_complete_ends_when_its_time_is_up_without_a_resend() {
    let v = VenueRig::start();
    v.market_by_hand("byhand-short", false, 2);
    assert_eq!(qty(&v.position()), -0.002);
    let jdir = temp_journal_dir("flatten-timeout");
    let cfg = v.config(&jdir, |c| {
        c.trading.flatten_on_stop = true;
        c.trading.flatten_timeout_ms = 1_500;
    });
    let e = v.engine(cfg, false);
    let shared = e.shared().clone();
    // Every new order from now on: HTTP 500, not placed (outcome unknown).
    v.sim.inject(Fault::NewOrder500NotPlaced(1_000));
    let t0 = Instant::now();
    e.stop();
    let took = t0.elapsed();
    eprintln!("stop with an incomplete flatten took {took:?}");
    assert!(took >= Duration::from_millis(1_500), "it waited: {took:?}");
    assert!(took < Duration::from_secs(10), "bounded: {took:?}");
    assert_eq!(qty(&v.position()), -0.002, "still short at the venue");
    let sent = engine_orders(&v, "byhand-short");
    assert_eq!(sent.len(), 1, "one flatten order: {sent:?}");
    assert_eq!(sent[0].1, 1, "never resent blind");
    assert_eq!(metric(&shared, "qt_stop_flatten_total", "incomplete"), 1);
    assert_eq!(metric(&shared, "qt_stop_flatten_total", "flat"), 0);
}

/// The testnet config for the binary (quiet, flatten on), written to `dir`.
fn binary_config(v: &VenueRig, dir: &std::path::Path, timeout_ms: u64) -> std::path::PathBuf {
    let cfg = v.config(&dir.join("journal"), |c| {
        c.ops.listen = "127.0.0.1:0".into();
        c.trading.flatten_on_stop = true;
        c.trading.flatten_timeout_ms = timeout_ms;
    });
    let p = dir.join("flatten.toml");
    std::fs::write(&p, cfg.to_toml()).unwrap();
    p
}

fn spawn(cfg: &std::path::Path) -> (Child, Receiver<String>, Receiver<String>) {
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

fn sigterm(child: &Child) {
    // SAFETY: signalling the child we spawned, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

/// Lines of `rx` until one contains `what` (all of them, or a panic).
fn wait_line(rx: &Receiver<String>, what: &str, timeout: Duration, seen: &mut Vec<String>) {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = l.contains(what);
            seen.push(l);
            if hit {
                return;
            }
        }
    }
    panic!("no line with `{what}`:\n{}", seen.join("\n"));
}

/// The binary under SIGTERM with a flatten that cannot complete: one
/// signal → the stop waits out `flatten_timeout_ms`, logs why the position
/// is not flat and exits 0; a second signal while it waits → it exits at
/// once (status 128 + SIGTERM).
#[test]
fn the_binary_logs_an_incomplete_flatten_and_a_second_sigterm_exits_at_once() {
    let v = VenueRig::start();
    v.market_by_hand("byhand-bin", true, 2);
    v.sim.inject(Fault::NewOrder500NotPlaced(1_000));
    let dir = temp_journal_dir("flatten-bin");
    std::fs::create_dir_all(&dir).unwrap();

    // One SIGTERM: an orderly stop, bounded by the flatten timeout.
    let (mut child, out, err) = spawn(&binary_config(&v, &dir, 1_500));
    let mut seen = Vec::new();
    wait_line(&out, "trading: ", Duration::from_secs(60), &mut seen);
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    sigterm(&child);
    let st = child.wait().unwrap();
    let took = t0.elapsed();
    let lines: Vec<String> = err.try_iter().collect();
    let text = lines.join("\n");
    assert!(st.success(), "{st:?}\n{text}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(
        text.contains("flatten on stop INCOMPLETE") && text.contains("BTCUSDT 0.002"),
        "the reason is logged:\n{text}"
    );
    assert_eq!(qty(&v.position()), 0.002);

    // Two SIGTERMs: the second one cuts the (long) flatten short.
    let (mut child, out, err) = spawn(&binary_config(&v, &dir, 60_000));
    let mut seen = Vec::new();
    wait_line(&out, "trading: ", Duration::from_secs(60), &mut seen);
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&child);
    let mut seen = Vec::new();
    wait_line(
        &err,
        "reduce-only MARKET order sent",
        Duration::from_secs(20),
        &mut seen,
    );
    let t0 = Instant::now();
    sigterm(&child);
    let st = child.wait().unwrap();
    let took = t0.elapsed();
    seen.extend(err.try_iter());
    assert!(took < Duration::from_secs(2), "at once: {took:?}");
    assert_eq!(
        st.code(),
        Some(128 + libc::SIGTERM),
        "{st:?}\n{}",
        seen.join("\n")
    );
    assert!(
        seen.iter().any(|l| l.contains("second signal")),
        "{}",
        seen.join("\n")
    );
}
