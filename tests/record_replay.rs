//! Record and replay, proven on the same path: the engine records the
//! built-in simulator (all three venues) while trading, and the replay of
//! that recording through the backtest has, at every checkpoint, exactly the
//! books the live engine had; two backtests of one recording write the same
//! journal, byte for byte; the real Binance capture in ../shared/samples,
//! written as a recording, replays through the backtest to books that match
//! every bookTicker of the capture (as tests/binance_samples.rs expects of
//! the bare sync code); the features export's forward returns match a
//! brute-force computation; the HTML report renders in headless Chromium.

mod common;

use common::embedded_sim::frame_gen;
use common::{EngineSim, engine_options, test_config_all, wait_until};
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::backtest::cli::{BacktestArgs, backtest, export_features};
use quantum_trader::backtest::{NoObserver, Observer, Replay, ReplayOptions, Speed};
use quantum_trader::capture::{Kind, Merged, format};
use quantum_trader::config::Config;
use quantum_trader::core::{BookTop, InstrumentId, Level, Venue, now_ns};
use quantum_trader::venue::binance::config::BinanceConfig;
use quantum_trader::venue::binance::{Msg, Parser, SymbolMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    common::temp_journal_dir(name)
}

/// (in_sync, update_id, bids, asks) of one book.
type Book = (bool, u64, Vec<(i64, i64)>, Vec<(i64, i64)>);

fn replay_book(r: &Replay, id: InstrumentId) -> Book {
    let b = r.books().book(id).expect("book");
    (
        b.in_sync,
        b.update_id,
        b.bids().map(|l| (l.px, l.qty)).collect(),
        b.asks().map(|l| (l.px, l.qty)).collect(),
    )
}

/// Waits until no feed message and no book update arrives for 400 ms.
fn quiesce(engine: &Engine) {
    let sh = engine.shared();
    let snap = || -> Vec<u64> {
        sh.feeds
            .iter()
            .map(|f| f.messages.load(Ordering::Relaxed))
            .chain(sh.books.iter().map(|b| b.updates.load(Ordering::Relaxed)))
            .collect()
    };
    let mut last = snap();
    let mut still = 0;
    assert!(
        wait_until(Duration::from_secs(10), || {
            std::thread::sleep(Duration::from_millis(100));
            let now = snap();
            if now == last {
                still += 1;
            } else {
                still = 0;
                last = now;
            }
            still >= 4
        }),
        "the engine never went quiet after the simulator paused"
    );
}

#[test]
fn a_recorded_simulator_replays_to_the_live_books_and_deterministically() {
    let rec_dir = tmp("rec-sim");
    let cfg = test_config_all(|c| {
        c.record.enabled = true;
        c.record.dir = rec_dir.display().to_string();
        c.journal.enabled = false;
    });
    let engine = Engine::start(
        cfg.clone(),
        EngineOptions {
            no_ops: true,
            ..engine_options()
        },
    )
    .unwrap();
    let sh = engine.shared().clone();
    let n = sh.instruments.len();
    assert_eq!(n, 6, "two instruments on each of three venues");
    assert!(
        wait_until(Duration::from_secs(15), || (0..n)
            .all(|i| sh.books[i].in_sync.load(Ordering::Relaxed))),
        "books never synced"
    );
    // Checkpoints: pause the simulator, wait for the engine to go quiet,
    // copy every live book and note the recording's time; resume.
    let mut checkpoints: Vec<(u64, Vec<Book>)> = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(2500));
        let sim = engine.sim().unwrap();
        sim.pause();
        quiesce(&engine);
        let books: Vec<Book> = (0..n)
            .map(|i| {
                let s = sh
                    .query_book(InstrumentId(i as u16), 1_000_000, Duration::from_secs(5))
                    .expect("book stage answers");
                (s.in_sync, s.update_id, s.bids, s.asks)
            })
            .collect();
        let t = sh.capture.get().unwrap().unix_of(now_ns());
        checkpoints.push((t, books));
        sim.resume();
    }
    engine.stop();
    for (_, books) in &checkpoints {
        for b in books {
            assert!(
                b.0 && !b.2.is_empty() && !b.3.is_empty(),
                "live books in sync at checkpoints"
            );
        }
    }

    // The replay: before the first record after each checkpoint, the books
    // equal the live ones, level for level.
    let rcfg = quantum_trader::backtest::replay_config(&rec_dir, cfg.clone()).unwrap();
    let mut r = Replay::new(&rcfg, ReplayOptions::default()).unwrap();
    let mut m = Merged::open(&rec_dir, None).unwrap();
    let mut k = 0;
    let mut levels = 0;
    while let Some(rec) = m.next() {
        while k < checkpoints.len() && rec.header.ts_ns > checkpoints[k].0 {
            for (i, live) in checkpoints[k].1.iter().enumerate() {
                let got = replay_book(&r, InstrumentId(i as u16));
                let name = sh.instruments.get(InstrumentId(i as u16)).symbol.clone();
                assert_eq!(got.0, live.0, "checkpoint {k} {name}: in sync");
                assert_eq!(got.1, live.1, "checkpoint {k} {name}: update id");
                assert_eq!(got.2, live.2, "checkpoint {k} {name}: bids");
                assert_eq!(got.3, live.3, "checkpoint {k} {name}: asks");
                levels += got.2.len() + got.3.len();
            }
            k += 1;
        }
        r.step(&rec, &mut NoObserver);
    }
    r.finish();
    assert_eq!(
        k,
        checkpoints.len(),
        "the recording runs past every checkpoint"
    );
    assert_eq!(m.stats.torn_tails + m.stats.corrupt, 0);
    assert_eq!(r.stats.unmapped, 0);
    assert!(r.stats.rest_replies >= 2, "Binance snapshots were recorded");
    assert!(levels > 1000, "only {levels} levels compared");
    eprintln!(
        "{} records, {} frames; {levels} levels equal at {} checkpoints",
        r.stats.records,
        r.stats.frames,
        checkpoints.len()
    );

    // Two backtests: the same journal to the byte, the same report.
    let run = |name: &str| {
        let out = tmp(name);
        std::fs::remove_dir_all(&out).unwrap();
        let a = BacktestArgs {
            data: rec_dir.clone(),
            config: None,
            from: None,
            to: None,
            speed: Speed::Max,
            out: out.clone(),
            order_delay_us: None,
            feed_delay_us: None,
        };
        let rep = run_backtest_with(&a, &cfg);
        let mut journal = Vec::new();
        for day in quantum_trader::journal::list_days(&out.join("journal")).unwrap() {
            journal.extend(
                std::fs::read(quantum_trader::journal::day_path(&out.join("journal"), day))
                    .unwrap(),
            );
        }
        (rep, journal, out)
    };
    let (a, ja, out_a) = run("bt-a");
    let (b, jb, _) = run("bt-b");
    assert!(
        a["orders"].as_u64().unwrap() > 0,
        "the backtest traded: {a}"
    );
    assert!(ja.len() > 1000, "journal of {} bytes", ja.len());
    assert!(
        ja == jb,
        "two replays of one recording wrote different journals"
    );
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("run");
        v["replay"].as_object_mut().unwrap().remove("wall_ns");
        v
    };
    assert_eq!(strip(a.clone()), strip(b));
    assert!(out_a.join("report.html").exists());
}

/// `backtest` with `cfg` written to a file (the test config's ports and paths).
fn run_backtest_with(a: &BacktestArgs, cfg: &Config) -> serde_json::Value {
    let dir = tmp("cfg");
    let p = dir.join("config.toml");
    std::fs::write(&p, cfg.to_toml()).unwrap();
    let a = BacktestArgs {
        config: Some(p),
        data: a.data.clone(),
        from: a.from.clone(),
        to: a.to.clone(),
        speed: a.speed,
        out: a.out.clone(),
        order_delay_us: a.order_delay_us,
        feed_delay_us: a.feed_delay_us,
    };
    backtest(&a).unwrap().json
}

fn samples_dir() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/binance"
    ));
    if p.is_dir() {
        Some(p)
    } else {
        quantum_trader::bench::samples::absent("real capture replay", &p);
        None
    }
}

const CAPTURE: &str = "futures_BTCUSDT_mixed_stream_2024-08-08_first3000.ndjson";

/// Writes the real capture as a recording (written here from the documented
/// format, independently of the engine's writer): frames stamped with their
/// event time, the REST depth snapshot line as the reply to the feed's
/// snapshot request for its first symbol (tag 0).
fn capture_as_recording(samples: &Path) -> PathBuf {
    let text = std::fs::read(samples.join(CAPTURE)).unwrap();
    let dir = tmp("rec-samples");
    let mut raw = format::MAGIC.to_vec();
    let meta = br#"{"format":1,"venue":"binance"}"#;
    let mut ts = 0u64;
    let mut first = true;
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let s = std::str::from_utf8(line).unwrap();
        if let Some(i) = s.find("\"E\":") {
            let e: u64 = s[i + 4..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            ts = ts.max(e * 1_000_000);
        }
        if first {
            format::encode(Kind::Meta, 0, ts, meta, &mut raw);
            format::encode(
                Kind::Conn,
                0,
                ts,
                b"wss://fstream.binance.com/stream?streams=btcusdt@depth@0ms",
                &mut raw,
            );
            format::encode(
                Kind::Open,
                0,
                ts,
                b"wss://fstream.binance.com/stream",
                &mut raw,
            );
            first = false;
        }
        ts += 1; // strictly increasing within the file
        if s.contains("lastUpdateId") {
            format::encode(
                Kind::Rest,
                0,
                ts,
                &format::rest_payload(0, &Ok(line.to_vec())),
                &mut raw,
            );
        } else {
            format::encode(Kind::Frame, 0, ts, line, &mut raw);
        }
    }
    format::encode(Kind::End, 0, ts, &[], &mut raw);
    let name = format::file_name(&format::hour_key(ts), Venue::Binance, 0);
    let f = std::fs::File::create(dir.join(name)).unwrap();
    let mut enc = zstd_writer(f);
    enc.write_all(&raw).unwrap();
    drop(enc);
    dir
}

fn zstd_writer(f: std::fs::File) -> impl Write {
    struct Z(Option<zstd::stream::write::Encoder<'static, std::fs::File>>);
    impl Write for Z {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.as_mut().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.as_mut().unwrap().flush()
        }
    }
    impl Drop for Z {
        fn drop(&mut self) {
            let _ = self.0.take().unwrap().finish();
        }
    }
    Z(Some(zstd::stream::write::Encoder::new(f, 3).unwrap()))
}

/// Binance BTCUSDT only (tick 0.10, lot 0.001, as binance_samples.rs).
fn samples_config() -> Config {
    let mut c = Config::demo();
    c.sim.enabled = false;
    c.venues.remove("bybit");
    c.venues.remove("okx");
    c.instruments
        .retain(|i| i.venue == "binance" && i.symbol == "BTCUSDT");
    if let Some(b) = c.venues.get_mut::<BinanceConfig>() {
        b.symbols = vec!["BTCUSDT".into()];
        b.depth_speed_ms = 0;
        // Named for the connection plan only: a replay opens no socket.
        b.ws_url = "wss://fstream.binance.com".into();
        b.rest_url = "https://fapi.binance.com".into();
    }
    c.journal.enabled = false;
    c
}

#[test]
fn the_real_binance_capture_replays_to_books_matching_every_book_ticker() {
    let Some(samples) = samples_dir() else { return };
    let dir = capture_as_recording(&samples);
    let cfg = samples_config();
    // Every bookTicker of the capture, by update id (as binance_samples.rs).
    let text = std::fs::read(samples.join(CAPTURE)).unwrap();
    let mut r = Replay::new(&cfg, ReplayOptions::default()).unwrap();
    let id = r
        .shared()
        .instruments
        .find(Venue::Binance, "BTCUSDT")
        .unwrap();
    let syms = SymbolMap::new(&r.shared().instruments, Venue::Binance);
    let mut p = Parser::new();
    let mut tickers: Vec<(u64, Level, Level)> = Vec::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(Msg::Bbo { bbo, .. }) = p.parse(line, &syms) {
            tickers.push((bbo.update_id, bbo.bid, bbo.ask));
        }
    }
    tickers.sort_by_key(|x| x.0);
    assert!(tickers.len() > 1000);

    let mut m = Merged::open(&dir, None).unwrap();
    let (mut checked, mut size_checked, mut last_u) = (0, 0, 0);
    while let Some(rec) = m.next() {
        r.step(&rec, &mut NoObserver);
        let b = r.books().book(id).unwrap();
        if !b.in_sync || b.update_id == last_u {
            continue;
        }
        last_u = b.update_id;
        assert!(!b.is_crossed(), "crossed after u={last_u}");
        let i = tickers.partition_point(|x| x.0 <= last_u);
        if i == 0 {
            continue;
        }
        let (tu, tb, ta) = tickers[i - 1];
        let (bb, ba) = (b.best_bid().unwrap(), b.best_ask().unwrap());
        assert_eq!(
            (bb.px, ba.px),
            (tb.px, ta.px),
            "best prices at u={last_u} vs bookTicker u={tu}"
        );
        checked += 1;
        if tu == last_u {
            assert_eq!((bb.qty, ba.qty), (tb.qty, ta.qty), "sizes at u={last_u}");
            size_checked += 1;
        }
    }
    r.finish();
    assert_eq!(m.stats.torn_tails + m.stats.corrupt, 0);
    assert_eq!(r.stats.rest_replies, 1);
    assert!(checked >= 200, "only {checked} depth updates were checked");
    assert!(size_checked >= 10, "only {size_checked} exact-u matches");
    eprintln!(
        "{} frames replayed, {checked} best-price checks, {size_checked} size checks",
        r.stats.frames
    );
}

/// Every in-sync mid the score stage saw, per instrument (the brute-force oracle).
#[derive(Default)]
struct Mids(Vec<(u64, f64)>);

impl Observer for Mids {
    fn on_book(&mut self, top: &BookTop) {
        if let (true, Some(b), Some(a)) = (top.in_sync, top.best_bid(), top.best_ask()) {
            self.0.push((top.recv_ns, (b.px + a.px) as f64 / 2.0));
        }
    }
}

#[test]
fn features_export_writes_the_model_features_and_forward_returns() {
    let Some(samples) = samples_dir() else { return };
    let dir = capture_as_recording(&samples);
    let cfg = samples_config();
    let cfg_path = tmp("feat-cfg").join("c.toml");
    std::fs::write(&cfg_path, cfg.to_toml()).unwrap();
    let out = tmp("feat-out").join("features.csv");
    let rows = export_features(&dir, Some(&cfg_path), "100ms,1s", &out, None).unwrap();
    assert!(rows > 500, "{rows} rows");
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for name in quantum_trader::score::FEATURE_NAMES {
        assert!(
            header.contains(&name),
            "feature {name} missing from {header:?}"
        );
    }
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (c_ts, c_mid, c_100, c_1s) = (
        col("ts_ns"),
        col("mid_at_decision"),
        col("ret_100ms_bps"),
        col("ret_1s_bps"),
    );
    // The oracle: the same replay's in-sync mids, searched by brute force.
    let mut r = Replay::new(
        &cfg,
        ReplayOptions {
            trade: false,
            ..Default::default()
        },
    )
    .unwrap();
    let mut mids = Mids::default();
    r.run_dir(&dir, &mut mids).unwrap();
    let asof = |t: u64| -> Option<f64> {
        let i = mids.0.partition_point(|(ts, _)| *ts <= t);
        if i == 0 { None } else { Some(mids.0[i - 1].1) }
    };
    let last_t = mids.0.last().unwrap().0;
    let (mut checked, mut empty) = (0, 0);
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), header.len());
        let t: u64 = f[c_ts].parse().unwrap();
        let mid0: f64 = f[c_mid].parse::<f64>().unwrap() * 100.0; // price scale 2
        for (c, h) in [(c_100, 100_000_000u64), (c_1s, 1_000_000_000)] {
            if t + h >= last_t {
                empty += f[c].is_empty() as u32;
                continue;
            }
            let want = (asof(t + h).unwrap() / mid0 - 1.0) * 1e4;
            let got: f64 = f[c]
                .parse()
                .unwrap_or_else(|_| panic!("row at {t}: empty {h} return"));
            assert!(
                (got - want).abs() < 1e-9,
                "row at {t}, horizon {h}: {got} vs {want}"
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked} returns checked");
    eprintln!("{rows} rows, {checked} forward returns checked, {empty} past the end");
}

#[test]
fn the_html_report_renders_its_charts_in_headless_chromium() {
    let Some(samples) = samples_dir() else { return };
    let dir = capture_as_recording(&samples);
    let mut cfg = samples_config();
    // Trade on every signal so that the charts have fills to draw.
    cfg.model.decision_cooldown_ms = 0;
    cfg.risk.skip_flat_sell = false;
    let out = tmp("html-out");
    std::fs::remove_dir_all(&out).unwrap();
    let a = BacktestArgs {
        data: dir,
        config: None,
        from: None,
        to: None,
        speed: Speed::Max,
        out: out.clone(),
        order_delay_us: Some(0),
        feed_delay_us: None,
    };
    let rep = run_backtest_with(&a, &cfg);
    let html_path = out.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained"
    );
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIP (LOUD): chromium is not installed and could not be installed; the report's charts were NOT checked in a browser"
        );
        return;
    };
    let dom = std::process::Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", html_path.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for id in ["equity", "drawdown", "position", "pnl_per_instrument"] {
        assert!(
            dom.contains(&format!("<svg id=\"{id}\"")),
            "chart {id} missing from the DOM"
        );
    }
    let paths = dom.matches("class=\"series\"").count();
    assert!(paths >= 4, "{paths} series");
    assert!(!dom.contains("d=\"\""), "an empty path");
    // A screenshot of the report differs from one of a blank page.
    let shot = |url: String, png: &Path| {
        let st = std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1000,1600",
            ])
            .arg(format!("--screenshot={}", png.display()))
            .arg(url)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read(png).unwrap()
    };
    let blank = out.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let b = shot(
        format!("file://{}", blank.display()),
        &out.join("blank.png"),
    );
    let r = shot(
        format!("file://{}", html_path.display()),
        &out.join("report.png"),
    );
    assert!(
        r.len() > b.len() * 3,
        "report screenshot {} bytes vs blank {}",
        r.len(),
        b.len()
    );
    eprintln!(
        "fills {}: DOM has {paths} series; screenshot {} bytes (blank {})",
        rep["fills"],
        r.len(),
        b.len()
    );
}

/// The chromium binary, installed with apt-get when missing (None if that fails).
fn chromium() -> Option<String> {
    let find = || {
        ["chromium", "chromium-browser"].into_iter().find(|c| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
    };
    if let Some(c) = find() {
        return Some(c.to_string());
    }
    eprintln!("chromium missing: apt-get update && apt-get install -y chromium");
    let ok = std::process::Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return None;
    }
    find().map(|c| c.to_string())
}

/// Writes a large Binance recording (the simulator's socket-free frame
/// generator, two symbols, a frame every 100 µs of recorded time, the REST
/// snapshots after the first 64 frames) and the config to replay it, for
/// the throughput and memory figures in the README:
/// `QT_BIG_DIR=/tmp/big QT_BIG_FRAMES=5000000 cargo test --release --test
/// record_replay -- --ignored write_a_large`, then
/// `quantum-trader backtest --data /tmp/big --config /tmp/big/config.toml`.
#[test]
#[ignore = "writes a multi-GB recording for the figures; see the doc comment"]
fn write_a_large_binance_recording() {
    let dir = PathBuf::from(std::env::var("QT_BIG_DIR").expect("QT_BIG_DIR"));
    let n: u64 = std::env::var("QT_BIG_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = Config::demo();
    cfg.venues.remove("bybit");
    cfg.venues.remove("okx");
    cfg.instruments.retain(|i| i.venue == "binance");
    if let Some(b) = cfg.venues.get_mut::<BinanceConfig>() {
        b.ws_url = "wss://fstream.binance.com".into();
        b.rest_url = "https://fapi.binance.com".into();
    }
    cfg.sim.enabled = false;
    std::fs::write(dir.join("config.toml"), cfg.to_toml()).unwrap();
    let table = quantum_trader::app::engine::instruments_from_config(&cfg).unwrap();
    let btc = table
        .get(table.find(Venue::Binance, "BTCUSDT").unwrap())
        .clone();
    let eth = table
        .get(table.find(Venue::Binance, "ETHUSDT").unwrap())
        .clone();
    let mut g = frame_gen(&[(&btc, 60000.0), (&eth, 3000.0)], 7, 300).expect("valid instruments");
    let t0 = 1_796_655_600_000_000_000u64; // 2026-12-07T15:00Z
    let mut w = BigWriter {
        dir: dir.clone(),
        file: None,
        rec: Vec::with_capacity(1 << 16),
        raw: 0,
    };
    let mut frame = Vec::with_capacity(1 << 16);
    w.put(Kind::Conn, t0, b"wss://fstream.binance.com/stream");
    w.put(Kind::Open, t0, b"wss://fstream.binance.com/stream");
    for k in 0..n {
        let ts = t0 + 1 + k * 100_000;
        if k == 64 {
            for (tag, s) in ["BTCUSDT", "ETHUSDT"].iter().enumerate() {
                let body = g.snapshot(s).unwrap();
                w.put(Kind::Rest, ts, &format::rest_payload(tag, &Ok(body)));
            }
        }
        g.next_frame(&mut frame);
        w.put(Kind::Frame, ts, &frame);
    }
    w.end(t0 + n * 100_000);
    let raw_bytes = w.raw;
    let disk: u64 = quantum_trader::capture::list_files(&dir)
        .unwrap()
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    eprintln!(
        "{n} frames: {raw_bytes} bytes of records, {disk} bytes on disk in {}",
        dir.display()
    );
}

type Enc = zstd::stream::write::Encoder<'static, std::io::BufWriter<std::fs::File>>;

/// Writes records into hourly files, as the recorder names them.
struct BigWriter {
    dir: PathBuf,
    file: Option<(u64, Enc)>,
    rec: Vec<u8>,
    raw: u64,
}

impl BigWriter {
    fn end(&mut self, ts: u64) {
        if let Some((_, mut e)) = self.file.take() {
            self.rec.clear();
            format::encode(Kind::End, 0, ts, &[], &mut self.rec);
            e.write_all(&self.rec).unwrap();
            e.finish().unwrap().flush().unwrap();
        }
    }

    fn put(&mut self, kind: Kind, ts: u64, payload: &[u8]) {
        let h = format::hour_of(ts);
        if self.file.as_ref().is_some_and(|(fh, _)| *fh != h) {
            self.end(ts);
        }
        if self.file.is_none() {
            let name = format::file_name(&format::hour_key(ts), Venue::Binance, 0);
            let f = std::io::BufWriter::new(std::fs::File::create(self.dir.join(name)).unwrap());
            let mut e = zstd::stream::write::Encoder::new(f, 3).unwrap();
            e.write_all(format::MAGIC).unwrap();
            self.rec.clear();
            format::encode(
                Kind::Meta,
                0,
                ts,
                br#"{"format":1,"venue":"binance"}"#,
                &mut self.rec,
            );
            e.write_all(&self.rec).unwrap();
            self.file = Some((h, e));
        }
        self.rec.clear();
        format::encode(kind, 0, ts, payload, &mut self.rec);
        self.raw += self.rec.len() as u64;
        if let Some((_, e)) = self.file.as_mut() {
            e.write_all(&self.rec).unwrap();
        }
    }
}

#[test]
fn features_export_as_parquet_holds_the_csv_rows() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let Some(samples) = samples_dir() else { return };
    let dir = capture_as_recording(&samples);
    let cfg_path = tmp("pq-cfg").join("c.toml");
    std::fs::write(&cfg_path, samples_config().to_toml()).unwrap();
    let out = tmp("pq-out");
    let n_csv =
        export_features(&dir, Some(&cfg_path), "100ms,1s", &out.join("f.csv"), None).unwrap();
    let n_pq = export_features(
        &dir,
        Some(&cfg_path),
        "100ms,1s",
        &out.join("f.parquet"),
        None,
    )
    .unwrap();
    assert_eq!(n_csv, n_pq);
    let csv = std::fs::read_to_string(out.join("f.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let reader =
        SerializedFileReader::new(std::fs::File::open(out.join("f.parquet")).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows() as u64, n_pq);
    let mut rows = 0u64;
    for (line, row) in lines.zip(reader.get_row_iter(None).unwrap()) {
        let row = row.unwrap();
        let csv_fields: Vec<&str> = line.split(',').collect();
        // The same cells, by column name, as text (numbers as Rust prints them).
        for (name, field) in row.get_column_iter() {
            let k = header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("column {name}"));
            let got = match field {
                parquet::record::Field::Null => String::new(),
                parquet::record::Field::Long(v) => v.to_string(),
                parquet::record::Field::Double(v) => v.to_string(),
                parquet::record::Field::Str(s) => s.clone(),
                other => panic!("{name}: unexpected {other:?}"),
            };
            assert_eq!(got, csv_fields[k], "row {rows} column {name}");
        }
        assert_eq!(row.get_column_iter().count(), header.len());
        rows += 1;
    }
    assert_eq!(rows, n_csv);
    assert!(rows > 500);
}
