//! Helpers shared by the integration tests: a test config (simulator and ops
//! server on free loopback ports), waiting, plain HTTP/1.1 over TCP, and
//! exact book comparison against the simulator's ground truth.
#![allow(dead_code)]

/// The binary's simulator wiring (one copy of it: the same file main.rs declares).
#[path = "../../src/embedded_sim.rs"]
pub mod embedded_sim;

#[allow(unused_imports)]
pub use embedded_sim::{EngineSim, engine_options};

/// A simulated Binance venue outside the engine, and a quiet testnet engine on it.
pub mod venue_rig;

use quantum_trader::app::engine::Engine;
use quantum_trader::config::Config;
use quantum_trader::core::{InstrumentId, Venue, format_decimal};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Engine logs on stderr when `QT_TEST_LOG` is set (e.g. `QT_TEST_LOG=debug`).
pub fn init_log() {
    if let Ok(level) = std::env::var("QT_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_test_writer()
            .try_init();
    }
}

/// The demo config on free ports, **Binance only** (these tests compare and
/// trade Binance books), tweaked by `f`.
pub fn test_config(f: impl FnOnce(&mut Config)) -> Config {
    test_config_all(|c| {
        c.venues.remove("bybit");
        c.venues.remove("okx");
        c.instruments.retain(|i| i.venue == "binance");
        f(c)
    })
}

/// The demo config (all three venues) on free ports, tweaked by `f`.
pub fn test_config_all(f: impl FnOnce(&mut Config)) -> Config {
    init_log();
    let mut c = Config::demo();
    c.sim.listen = "127.0.0.1:0".into();
    c.ops.listen = "127.0.0.1:0".into();
    c.ops.status_interval_secs = 0;
    // Every engine gets its own journal under the OS temp dir, never the repo's.
    c.journal.dir = temp_journal_dir("test").to_string_lossy().into_owned();
    // Each venue's section is its own type: the shared keys through the
    // registry's view of them.
    for v in quantum_trader::core::Venue::ALL {
        if let Some(b) = c.venues.section_mut(v) {
            *b.silence_timeout_ms = 1500;
            *b.backoff_min_ms = 50;
            *b.backoff_max_ms = 500;
        }
    }
    f(&mut c);
    quantum_trader::config::validate(&c).expect("test config is valid");
    c
}

/// A fresh, empty directory under the OS temp dir for one engine's journal.
pub fn temp_journal_dir(name: &str) -> std::path::PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!(
        "qt-journal-{name}-{}-{n}-{nanos}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp journal dir");
    d
}

pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A GET over a fresh TCP connection: (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_with(addr, method, path, &[])
}

/// A request with extra headers over a fresh TCP connection: (status, body).
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to ops server");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n..];
        rest = rest.strip_prefix("\r\n").unwrap_or(rest);
    }
    out
}

pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (s, b) = http(addr, "GET", path);
    (
        s,
        serde_json::from_str(&b).unwrap_or(serde_json::Value::Null),
    )
}

/// Sum of a counter family's samples whose labels contain all `labels`.
pub fn metric(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (_, text) = http(addr, "GET", "/metrics");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name)
                && (l.as_bytes().get(name.len()) == Some(&b'{')
                    || l.as_bytes().get(name.len()) == Some(&b' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn inst(engine: &Engine, symbol: &str) -> InstrumentId {
    engine
        .shared()
        .instruments
        .find(Venue::Binance, symbol)
        .expect("instrument")
}

pub fn book_updates(engine: &Engine, symbol: &str) -> u64 {
    engine.shared().books[inst(engine, symbol).idx()]
        .updates
        .load(Ordering::Relaxed)
}

pub fn in_sync(engine: &Engine, symbol: &str) -> bool {
    engine.shared().books[inst(engine, symbol).idx()]
        .in_sync
        .load(Ordering::Relaxed)
}

/// Pauses the simulator, waits until the engine has its last update, and
/// compares `/api/books/binance/{symbol}` with the simulator's book, level
/// for level, as decimal strings. Resumes the simulator. Returns the levels compared.
pub fn assert_book_exact(engine: &Engine, symbol: &str) -> usize {
    let sim = engine.sim().expect("simulator");
    let addr = engine.ops_addr().expect("ops");
    let id = inst(engine, symbol);
    let i = engine.shared().instruments.get(id).clone();
    sim.pause();
    let truth = {
        let mut truth = sim.book(symbol).expect("sim book");
        let ok = wait_until(Duration::from_secs(10), || {
            truth = sim.book(symbol).expect("sim book");
            let h = &engine.shared().books[id.idx()];
            h.in_sync.load(Ordering::Relaxed)
                && h.update_id.load(Ordering::Relaxed) == truth.last_update_id
        });
        assert!(
            ok,
            "{symbol}: engine did not reach the simulator's update id {}",
            truth.last_update_id
        );
        truth
    };
    let (status, book) = get_json(addr, &format!("/api/books/binance/{symbol}?depth=5000"));
    assert_eq!(status, 200, "{book}");
    assert_eq!(book["last_update_id"].as_u64(), Some(truth.last_update_id));
    assert_eq!(book["in_sync"], true);
    let side = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l[0].as_str().unwrap().to_string(),
                    l[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let fmt = |v: &[(i64, i64)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(p, q)| {
                (
                    format_decimal(*p, i.price_scale),
                    format_decimal(*q, i.qty_scale),
                )
            })
            .collect()
    };
    let (eb, ea) = (side(&book["bids"]), side(&book["asks"]));
    let (tb, ta) = (fmt(&truth.bids), fmt(&truth.asks));
    assert!(!tb.is_empty() && !ta.is_empty());
    assert_eq!(eb.len(), tb.len(), "{symbol}: bid level count");
    assert_eq!(ea.len(), ta.len(), "{symbol}: ask level count");
    for (k, (e, t)) in eb.iter().zip(&tb).enumerate() {
        assert_eq!(e, t, "{symbol}: bid level {k}");
    }
    for (k, (e, t)) in ea.iter().zip(&ta).enumerate() {
        assert_eq!(e, t, "{symbol}: ask level {k}");
    }
    sim.resume();
    eb.len() + ea.len()
}

/// One `published` journal record (a Redis entry the publisher kept).
pub struct Kept {
    pub seq: u64,
    pub stream: String,
    pub fields: Vec<(String, String)>,
    pub at_shutdown: bool,
    /// Its size on disk (frame header included).
    pub bytes: usize,
}

/// The `published` records of one engine life in a journal directory, in
/// file order.
pub fn published_of(dir: &std::path::Path, epoch: u64) -> Vec<Kept> {
    use quantum_trader::journal::{Body, list_days, read_day};
    let mut v = Vec::new();
    for day in list_days(dir).unwrap() {
        for r in read_day(dir, day).unwrap().records {
            let bytes = 8 + serde_json::to_vec(&r).unwrap().len();
            if let Body::Published {
                epoch_ms,
                seq,
                stream,
                fields,
                at_shutdown,
            } = r.body
                && epoch_ms == epoch
            {
                v.push(Kept {
                    seq,
                    stream,
                    fields,
                    at_shutdown,
                    bytes,
                });
            }
        }
    }
    v
}
