//! systemd integration, end to end with the real binary: the unit file passes
//! `systemd-analyze verify`; under a real unix datagram `NOTIFY_SOCKET` the
//! engine sends READY=1, STATUS= and WATCHDOG=1; a stage frozen through the
//! test-only stall hook stops the petting and flips `/ready` to 503 naming the
//! stage, and both come back when the stage moves again.

mod ops_common;

use ops_common::*;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn unit_file_passes_systemd_analyze_verify() {
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        println!("SKIP: systemd-analyze not installed; unit file not verified");
        return;
    };
    assert!(out.status.success());
    // `verify` insists that ExecStart's binary exists: point it at the one
    // just built instead of /usr/local/bin (nothing else is changed).
    let unit = std::fs::read_to_string("scripts/quantum-trader.service").unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=quantum-trader",
        "EnvironmentFile=",
        "User=quantum-trader",
    ] {
        assert!(unit.contains(key), "unit lacks {key}");
    }
    let dir = temp_dir("unit");
    let p = dir.join("quantum-trader.service");
    std::fs::write(
        &p,
        unit.replace(
            "/usr/local/bin/quantum-trader",
            env!("CARGO_BIN_EXE_quantum-trader"),
        ),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&p)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {text}");
    assert!(
        !text.contains("quantum-trader.service:"),
        "warnings: {text}"
    );
    // A broken unit is refused (the check can fail).
    std::fs::write(&p, unit.replace("Type=notify", "Type=notifyy")).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("notifyy"), "broken unit accepted: {text}");
}

/// Datagrams received on the notify socket, with their arrival times.
type Received = Arc<Mutex<Vec<(Instant, String)>>>;

fn listen(sock: UnixDatagram) -> Received {
    let got: Received = Arc::default();
    let g = got.clone();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    g.lock().unwrap().push((Instant::now(), msg));
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if Arc::strong_count(&g) == 1 {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    got
}

/// Datagram lines containing `needle` that arrived after `since`.
fn lines_since(got: &Received, since: Instant, needle: &str) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t >= since)
        .flat_map(|(_, m)| m.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains(needle))
        .collect()
}

fn ready_reasons(ops: std::net::SocketAddr) -> (u16, Vec<String>) {
    let (s, body) = http(ops, "GET", "/ready");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let reasons = v["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (s, reasons)
}

/// The admin token the hook tests give the engine, and its header line.
const HOOK_TOKEN: &str = "hooks-test-token";
const AUTH: &str = "Authorization: Bearer hooks-test-token\r\n";

#[test]
fn notify_ready_status_watchdog_and_a_frozen_stage_stops_the_petting() {
    let dir = temp_dir("notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let got = listen(sock);
    let cfg = demo_config(|c| {
        c.ops.test_hooks = true;
        c.ops.stall_timeout_ms = 500;
    });
    let file = write_config(&dir, &cfg);
    let mut eng = Engine::spawn(
        &file,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
            ("QT_ADMIN_TOKEN", HOOK_TOKEN),
        ],
    );
    let t0 = Instant::now();
    let ops = eng.ops;

    // READY=1 once ready, then STATUS= with the one-line status and WATCHDOG=1.
    assert!(
        wait_until(Duration::from_secs(30), || !lines_since(
            &got, t0, "READY=1"
        )
        .is_empty()),
        "no READY=1; got {:?}\n{}",
        got.lock().unwrap(),
        eng.stderr_text()
    );
    assert_eq!(http(ops, "GET", "/ready").0, 200);
    assert!(
        wait_until(Duration::from_secs(10), || lines_since(
            &got,
            t0,
            "WATCHDOG=1"
        )
        .len()
            >= 3),
        "no watchdog pets: {:?}",
        got.lock().unwrap()
    );
    let status = lines_since(&got, t0, "STATUS=");
    assert!(
        status
            .iter()
            .any(|l| l.starts_with("STATUS=[qt] ready") && all_books_in_sync(l)),
        "{status:?}"
    );
    assert_eq!(lines_since(&got, t0, "READY=1").len(), 1, "READY sent once");

    // Unknown stages are refused.
    // The hooks need the admin token.
    for path in ["/api/test/stall/score", "/api/test/resume/score"] {
        let (s, body) = http(ops, "POST", path);
        assert_eq!(s, 401, "{path}: {body}");
        let (s, body) = http_with(ops, "POST", path, "Authorization: Bearer wrong\r\n");
        assert_eq!(s, 401, "{path}: {body}");
    }
    assert_eq!(ready_reasons(ops).0, 200, "a refused hook froze nothing");
    let (s, body) = http_with(ops, "POST", "/api/test/stall/nope", AUTH);
    assert_eq!(s, 404, "{body}");
    assert!(body.contains("book, score, risk, exec"), "{body}");

    for stage in ["book", "score", "risk"] {
        // Freeze the stage: /ready names it, the petting stops.
        let (s, body) = http_with(ops, "POST", &format!("/api/test/stall/{stage}"), AUTH);
        assert_eq!(s, 200, "{body}");
        let want = format!("stage_stalled:{stage}");
        let mut last = (0, vec![]);
        assert!(
            wait_until(Duration::from_secs(10), || {
                last = ready_reasons(ops);
                last.0 == 503 && last.1.contains(&want)
            }),
            "{stage}: /ready never named the stall: {last:?}"
        );
        // The notifier sees the same evaluation within one watchdog tick.
        std::thread::sleep(Duration::from_millis(400));
        let quiet_from = Instant::now();
        std::thread::sleep(Duration::from_millis(2_500));
        let pets = lines_since(&got, quiet_from, "WATCHDOG=1");
        assert!(
            pets.is_empty(),
            "{stage}: still petting while frozen: {pets:?}"
        );
        assert!(
            lines_since(&got, t0, "STATUS=")
                .iter()
                .any(|l| l.contains("NOT READY") && l.contains(&want)),
            "{stage}: STATUS does not show the stall: {:?}",
            lines_since(&got, t0, "STATUS=")
        );
        assert!(ready_reasons(ops).1.contains(&want));

        // Let it move again: ready and petting resume.
        let (s, _) = http_with(ops, "POST", &format!("/api/test/resume/{stage}"), AUTH);
        assert_eq!(s, 200);
        let resumed = Instant::now();
        assert!(
            wait_until(Duration::from_secs(10), || ready_reasons(ops).0 == 200),
            "{stage}: never ready again: {:?}",
            ready_reasons(ops)
        );
        assert!(
            wait_until(Duration::from_secs(5), || lines_since(
                &got,
                resumed,
                "WATCHDOG=1"
            )
            .len()
                >= 2),
            "{stage}: petting did not resume"
        );
    }

    // SIGTERM: STOPPING=1 and a clean exit.
    let st = eng.terminate().expect("engine exits on SIGTERM");
    assert!(st.success(), "{st:?}\n{}", eng.stderr_text());
    assert!(
        wait_until(Duration::from_secs(2), || !lines_since(
            &got,
            t0,
            "STOPPING=1"
        )
        .is_empty()),
        "no STOPPING=1"
    );
}

#[test]
fn stall_hooks_are_not_served_unless_enabled() {
    let dir = temp_dir("nohooks");
    let file = write_config(&dir, &demo_config(|_| {}));
    let eng = Engine::spawn(&file, &[]);
    let (s, _) = http(eng.ops, "POST", "/api/test/stall/score");
    assert_eq!(s, 404);
}

/// Whether a status line says "books N/N in sync" (every book, whatever N).
fn all_books_in_sync(line: &str) -> bool {
    line.split(" | ")
        .find_map(|part| part.strip_prefix("books "))
        .and_then(|rest| rest.strip_suffix(" in sync"))
        .and_then(|frac| frac.split_once('/'))
        .is_some_and(|(a, b)| a == b && a != "0")
}
