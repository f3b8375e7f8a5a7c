//! The end-to-end bench: builds an engine configured for measurement (every
//! decision trades, within the validated risk limits), feeds it frames
//! in-process through the real Binance protocol (`--mode inject`) or over
//! loopback WebSocket from the simulator replaying the same capture
//! (`--mode loopback`), and measures saturation throughput and, at a fixed
//! rate, per-stage and tick-to-order latency from the engine's own HDR
//! histograms. `--mode testnet` sends the orders to the simulator's venue
//! (`e2e_testnet`: tick-to-wire and the order round trip).

use super::report::{Machine, Paced, Report, Saturation, process_cpu_ns};
use super::samples::{Capture, FULL_CAPTURE, load_capture, samples_dir};
use crate::app::engine::{EMBEDDED_MODEL, Engine, EngineOptions, Injector, StartEmbeddedVenues};
use crate::bench::samples::MakeFrameSource;
use crate::config::{Config, Layout, WaitKind};
use crate::core::now_ns;
use crate::pipeline::shared::{STAGES, Shared};
use crate::telemetry::latency::{LatencySummary, new_histogram};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `quantum-trader bench` options.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Venue whose protocol the frames go through (this build: binance).
    #[arg(long, default_value = "binance")]
    pub venue: String,
    /// Offered rate of the latency phase, frames per second.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// Seconds of each phase (saturation, then the fixed rate).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// How stage threads wait: spin, yield, park or spin_then_park.
    #[arg(long, default_value = "park")]
    pub wait: String,
    /// With `--wait spin_then_park`: microseconds a stage spins before it
    /// parks.
    #[arg(long, default_value_t = crate::config::DEFAULT_SPIN_US)]
    pub spin_us: u64,
    /// The hot path's layout: `threads` (a thread per stage), `fused`
    /// (book, score, risk and exec on one thread) or `auto`.
    #[arg(long, default_value = "threads")]
    pub layout: String,
    /// Cores for feed,book,score,risk,exec (e.g. `2,3,4,5,6`); the feed is
    /// the injecting thread in inject mode.
    #[arg(long)]
    pub pin: Option<String>,
    /// `inject` (frames pushed in-process: the engine alone), `loopback`
    /// (the simulator replays them over a loopback WebSocket), `testnet`
    /// (the engine in `mode = "testnet"`: the simulator's generated market
    /// over loopback, signed orders to its venue over loopback HTTP; reports
    /// tick-to-wire and the order round trip) or `single` (every stage's
    /// per-message work on this one thread, no queues between threads: a
    /// deterministic replay for instruction counts).
    #[arg(long, default_value = "inject")]
    pub mode: String,
    /// `capture` (the real Binance capture in ../shared/samples) or
    /// `generated` (the seeded frame generator). Default: the capture when
    /// present.
    #[arg(long)]
    pub frames: Option<String>,
    /// Capture file (ndjson or hftbacktest .gz); default the full real capture.
    #[arg(long)]
    pub capture: Option<PathBuf>,
    /// Frames measured in `--mode single` (after a warm-up of a quarter of
    /// the source or 20,000 frames, whichever is less); 0 = the rest.
    #[arg(long, default_value_t = 0)]
    pub messages: usize,
    /// Skip the saturation phase.
    #[arg(long)]
    pub no_saturation: bool,
    /// Skip the fixed-rate phase.
    #[arg(long)]
    pub no_paced: bool,
    /// Write the JSON report here (it is printed to stdout either way).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Frames to replay, with the REST snapshot bodies to answer with.
struct Source {
    name: String,
    frames: Vec<Vec<u8>>,
    snapshots: Vec<(String, Vec<u8>)>,
    /// Symbols the frames are about.
    symbols: Vec<String>,
    /// File the simulator replays in loopback mode.
    replay_path: Option<PathBuf>,
}

impl Source {
    fn snapshot(&self, sym: &str) -> Option<Vec<u8>> {
        self.snapshots
            .iter()
            .find(|(s, _)| s == sym)
            .map(|(_, b)| b.clone())
    }
}

fn wait_kind(s: &str) -> Result<WaitKind> {
    WaitKind::parse(s)
        .with_context(|| format!("--wait must be spin, yield, park or spin_then_park (got `{s}`)"))
}

fn layout(s: &str) -> Result<Layout> {
    Ok(match s {
        "threads" => Layout::Threads,
        "fused" => Layout::Fused,
        "auto" => Layout::Auto,
        _ => bail!("--layout must be threads, fused or auto (got `{s}`)"),
    })
}

fn parse_pin(s: &str) -> Result<Vec<usize>> {
    let v: Vec<usize> = s
        .split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--pin `{s}`: expected comma-separated core numbers"))?;
    if v.len() != 5 {
        bail!(
            "--pin needs 5 cores (feed,book,score,risk,exec), got {}",
            v.len()
        );
    }
    Ok(v)
}

fn load_source(args: &BenchArgs, make_frames: &MakeFrameSource) -> Result<Source> {
    let want = args.frames.as_deref();
    let path = match (&args.capture, samples_dir()) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(d)) => Some(d.join(FULL_CAPTURE)),
        (None, None) => None,
    };
    match (want, path) {
        (Some("generated"), _) => generated_source(make_frames),
        (Some("capture") | None, Some(p)) => {
            let cap: Capture = load_capture(&p, 0)?;
            let snapshot = cap
                .snapshot
                .clone()
                .with_context(|| format!("{}: no REST depth snapshot line", p.display()))?;
            eprintln!(
                "bench: {} frames ({:.1} MB) from {}",
                cap.frames.len(),
                cap.bytes as f64 / 1e6,
                p.display()
            );
            Ok(Source {
                name: format!("capture {}", p.display()),
                frames: cap.frames,
                snapshots: vec![("BTCUSDT".into(), snapshot)],
                symbols: vec!["BTCUSDT".into()],
                replay_path: Some(p),
            })
        }
        (Some("capture"), None) => {
            bail!("--frames capture: ../shared/samples is absent and no --capture given")
        }
        (None, None) => {
            eprintln!("bench: SKIP capture: ../shared/samples is absent; using generated frames");
            generated_source(make_frames)
        }
        (Some(o), _) => bail!("--frames must be capture or generated (got `{o}`)"),
    }
}

/// 200,000 generated frames over BTCUSDT and ETHUSDT (300 levels a side),
/// with the snapshots that precede them.
fn generated_source(make_frames: &MakeFrameSource) -> Result<Source> {
    let cfg = Config::demo();
    let table = crate::app::engine::instruments_from_config(&cfg)
        .expect("the demo config's instruments are valid");
    let insts: Vec<_> = table.iter().cloned().collect();
    let with_px: Vec<_> = insts
        .iter()
        .map(|i| {
            (
                i,
                if i.symbol == "BTCUSDT" {
                    60_000.0
                } else {
                    3_000.0
                },
            )
        })
        .collect();
    let mut g = make_frames(&with_px, 7, 300)?;
    let symbols: Vec<String> = insts.iter().map(|i| i.symbol.clone()).collect();
    let (frames, snapshots) = super::samples::pregenerate(g.as_mut(), &symbols, 200_000);
    Ok(Source {
        name: "generated (seed 7, BTCUSDT+ETHUSDT, 300 levels)".into(),
        frames,
        snapshots,
        symbols,
        replay_path: None,
    })
}

/// The model of `config/model.json` with thresholds that make every
/// decision a BUY or a SELL, so every scored message goes on to risk and
/// exec (the longest path).
fn bench_model_path() -> Result<PathBuf> {
    let mut v: serde_json::Value = serde_json::from_str(EMBEDDED_MODEL)?;
    v["version"] = serde_json::Value::from("bench-every-decision-trades");
    v["buy_threshold"] = serde_json::Value::from(0.5);
    v["sell_threshold"] = serde_json::Value::from(0.4999);
    let p = std::env::temp_dir().join(format!("qt-bench-model-{}.json", std::process::id()));
    std::fs::write(&p, serde_json::to_vec_pretty(&v)?)
        .with_context(|| format!("write {}", p.display()))?;
    Ok(p)
}

fn bench_config(
    args: &BenchArgs,
    src: &Source,
    wait: WaitKind,
    pin: &Option<Vec<usize>>,
) -> Result<Config> {
    let mut c = Config::demo();
    // The bench drives Binance only: the demo's other venues (which need
    // the simulator or real URLs) and their instruments are left out.
    let venue = crate::core::Venue::parse("binance").context("no binance venue")?;
    c.venues.retain(|name| name == venue.as_str());
    c.instruments.retain(|i| i.venue == venue);
    c.ops.status_interval_secs = 0;
    c.ops.listen = "127.0.0.1:0".into();
    c.sim.enabled = false;
    c.sim.listen = "127.0.0.1:0".into();
    if let Some(b) = c.venues.section_mut(venue) {
        *b.symbols = src.symbols.clone();
        *b.silence_timeout_ms = 60_000;
        if args.mode == "inject" {
            // Never dialled: frames are injected in-process.
            *b.ws_url = "ws://injected.invalid".into();
            *b.rest_url = "http://injected.invalid".into();
        }
        c.venues
            .set(venue, "depth_speed_ms", toml::Value::Integer(0))
            .map_err(|e| anyhow::anyhow!("bench config: {e}"))?;
    }
    for ic in &mut c.instruments {
        ic.max_position = "1000000".into();
    }
    let stages = [
        &mut c.pipeline.feed,
        &mut c.pipeline.book,
        &mut c.pipeline.score,
        &mut c.pipeline.risk,
        &mut c.pipeline.exec,
    ];
    for (i, s) in stages.into_iter().enumerate() {
        s.wait = wait;
        s.spin_us = args.spin_us;
        s.core = pin.as_ref().map(|p| p[i]);
    }
    // Fused: the one hot thread takes the book stage's core.
    c.pipeline.layout = layout(&args.layout)?;
    c.model.path = bench_model_path()?.to_string_lossy().into_owned();
    c.model.decision_cooldown_ms = 0;
    c.risk.max_orders_per_sec = 10_000;
    c.risk.daily_trade_cap = 10_000_000;
    c.risk.max_order_notional = 1e9;
    c.risk.skip_flat_sell = false;
    c.risk.max_book_age_ms = 3_600_000;
    // The governor's other limits stay on, far from binding (as in the hot
    // path bench): the run measures orders, not SKIPs.
    c.risk.max_orders_per_min = 1_000_000;
    c.risk.max_open_orders = 1024;
    c.risk.max_position_notional = 1e12;
    c.risk.max_gross_exposure = 1e12;
    c.risk.max_daily_loss = 1e12;
    c.risk.max_drawdown = 1e12;
    // Its own journal per run: never state restored from an earlier run.
    c.journal.dir = std::env::temp_dir()
        .join(format!(
            "qt-bench-journal-{}-{}",
            std::process::id(),
            crate::core::clock::unix_ms()
        ))
        .to_string_lossy()
        .into_owned();
    if args.mode == "testnet" {
        super::e2e_testnet::configure(&mut c, args.rate, src.symbols.len())?;
    }
    if args.mode == "loopback" {
        c.sim.enabled = true;
        c.sim.rate_per_symbol = args.rate.min(u32::MAX as u64) as u32;
        c.sim.replay_file = match &src.replay_path {
            Some(p) => Some(replayable(p)?.to_string_lossy().into_owned()),
            None => None,
        };
    }
    crate::config::validate(&c).map_err(|e| anyhow::anyhow!("bench config: {e}"))?;
    Ok(c)
}

/// The simulator replays plain files: a `.gz` capture is decompressed to a
/// temporary file first.
fn replayable(p: &std::path::Path) -> Result<PathBuf> {
    if p.extension().is_none_or(|e| e != "gz") {
        return Ok(p.to_path_buf());
    }
    let out = std::env::temp_dir().join(format!("qt-bench-capture-{}.ndjson", std::process::id()));
    let mut r = flate2::read::GzDecoder::new(
        std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?,
    );
    let mut w = std::fs::File::create(&out).with_context(|| format!("create {}", out.display()))?;
    std::io::copy(&mut r, &mut w).with_context(|| format!("decompress {}", p.display()))?;
    Ok(out)
}

/// The layout a run with `cfg` gets (`auto` resolved as the engine does).
fn resolved_layout(cfg: &Config) -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    cfg.pipeline
        .layout
        .resolve(cores, cfg.venues.enabled().len())
        .as_str()
        .to_string()
}

fn processed(shared: &Shared) -> [u64; 4] {
    let mut out = [0; 4];
    for (i, s) in STAGES.iter().enumerate() {
        out[i] = shared
            .stage(s)
            .map(|h| h.processed.load(Ordering::Relaxed))
            .unwrap_or(0);
    }
    out
}

/// Waits until no stage has made progress for `quiet`; returns the time
/// (`now_ns`) of the last progress seen.
fn wait_quiet(shared: &Shared, inj: Option<&Injector>, quiet: Duration) -> u64 {
    let mut last = processed(shared);
    let mut last_change = now_ns();
    loop {
        std::thread::sleep(Duration::from_micros(200));
        let p = processed(shared);
        let now = now_ns();
        let backlog = inj.map(|i| i.backlog()).unwrap_or(0);
        if p != last || backlog > 0 {
            last = p;
            last_change = now;
        } else if now - last_change >= quiet.as_nanos() as u64 {
            return last_change;
        }
    }
}

fn orders(shared: &Shared) -> u64 {
    shared
        .stage("exec")
        .map(|h| h.processed.load(Ordering::Relaxed))
        .unwrap_or(0)
}

fn start_injected(cfg: Config) -> Result<(Engine, Injector)> {
    let mut engine = Engine::start(
        cfg,
        EngineOptions {
            inject: true,
            no_ops: true,
            ..Default::default()
        },
    )?;
    let inj = engine
        .take_injector()
        .context("engine has no injector in inject mode")?;
    Ok((engine, inj))
}

/// Frames as fast as the pipeline takes them (the injector backs off when
/// the feed-to-book queue is half full).
fn saturation(cfg: Config, src: &Source, secs: f64) -> Result<Saturation> {
    let (engine, mut inj) = start_injected(cfg.clone())?;
    let shared = engine.shared().clone();
    let high_water = cfg.pipeline.queue_capacity / 2;
    let cpu0 = process_cpu_ns();
    let t0 = now_ns();
    let end = t0 + (secs * 1e9) as u64;
    let (mut frames, mut bytes) = (0u64, 0u64);
    'outer: loop {
        for f in &src.frames {
            inj.frame(f);
            frames += 1;
            bytes += f.len() as u64;
            if frames & 63 == 0 {
                inj.answer_snapshots(|s| src.snapshot(s));
                inj.tick();
                while inj.backlog() > high_water {
                    std::thread::yield_now();
                }
                if now_ns() >= end {
                    break 'outer;
                }
            }
        }
    }
    let t_end = wait_quiet(&shared, Some(&inj), Duration::from_millis(20));
    let cpu = process_cpu_ns().saturating_sub(cpu0);
    let seconds = (t_end.saturating_sub(t0)) as f64 / 1e9;
    let p = processed(&shared);
    let out = Saturation {
        frames,
        bytes,
        seconds,
        msgs_per_s: frames as f64 / seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
        cpu_ns_per_msg: cpu as f64 / frames as f64,
        stage_processed: STAGES
            .iter()
            .zip(p)
            .map(|(s, n)| (s.to_string(), n))
            .collect(),
        orders: orders(&shared),
    };
    drop(inj);
    engine.stop();
    Ok(out)
}

/// Sleeps/yields/spins until `due` (ns): spin within 20 µs of it.
#[inline]
fn wait_until(due: u64, spin: bool) {
    loop {
        let n = now_ns();
        if n >= due {
            return;
        }
        if !spin && due - n > 20_000 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

fn collect_stages(shared: &Shared, feed: Option<LatencySummary>) -> Vec<LatencySummary> {
    let mut v: Vec<LatencySummary> = feed.into_iter().collect();
    for name in ["book", "score", "risk", "exec", "tick_to_order"] {
        if let Some(s) = shared.latency.get(name) {
            v.push(s);
        }
    }
    v
}

/// Frames at a fixed rate, each one timed through the feed stage.
fn paced_inject(cfg: Config, src: &Source, rate: u64, secs: f64, spin: bool) -> Result<Paced> {
    let (engine, mut inj) = start_injected(cfg)?;
    let shared = engine.shared().clone();
    let mut feed_hist = new_histogram();
    let period = 1e9 / rate.max(1) as f64;
    let total = (secs * rate as f64) as u64;
    let cpu0 = process_cpu_ns();
    let t0 = now_ns();
    let mut sent = 0u64;
    let mut i = 0usize;
    while sent < total {
        let due = t0 + (sent as f64 * period) as u64;
        wait_until(due, spin);
        let f = &src.frames[i];
        let a = now_ns();
        inj.frame(f);
        let b = now_ns();
        let _ = feed_hist.record((b - a).max(1));
        sent += 1;
        i += 1;
        if i == src.frames.len() {
            i = 0;
        }
        if sent & 63 == 0 {
            inj.answer_snapshots(|s| src.snapshot(s));
            inj.tick();
        }
    }
    let t_sent = now_ns();
    wait_quiet(&shared, Some(&inj), Duration::from_millis(120));
    let cpu = process_cpu_ns().saturating_sub(cpu0);
    let seconds = (t_sent - t0) as f64 / 1e9;
    let feed = LatencySummary::of("feed", &feed_hist);
    let out = Paced {
        target_rate: rate as f64,
        achieved_rate: sent as f64 / seconds,
        frames: sent,
        seconds,
        cpu_ns_per_msg: cpu as f64 / sent as f64,
        orders: orders(&shared),
        stages: collect_stages(&shared, Some(feed)),
    };
    drop(inj);
    engine.stop();
    Ok(out)
}

/// The simulator replays the capture over a loopback WebSocket at `rate`.
fn paced_loopback(
    cfg: Config,
    secs: f64,
    rate: u64,
    embedded_venues: Option<StartEmbeddedVenues>,
) -> Result<Paced> {
    // The bench config enables one venue: the one whose frames it replays.
    let venue = cfg
        .venues
        .enabled()
        .first()
        .map(|(v, _)| *v)
        .context("the bench config enables no venue")?;
    let engine = Engine::start(
        cfg,
        EngineOptions {
            no_ops: true,
            embedded_venues,
            ..Default::default()
        },
    )?;
    let shared = engine.shared().clone();
    let feed = &shared.feeds[venue.idx()];
    let msgs = || feed.messages.load(Ordering::Relaxed);
    let cpu0 = process_cpu_ns();
    let t0 = now_ns();
    let m0 = msgs();
    let end = t0 + (secs * 1e9) as u64;
    let mut last = m0;
    let mut last_change = t0;
    while now_ns() < end {
        std::thread::sleep(Duration::from_millis(50));
        let m = msgs();
        if m != last {
            last = m;
            last_change = now_ns();
        } else if m > m0 && now_ns() - last_change > 2_000_000_000 {
            break; // the replay reached the end of the file
        }
    }
    let t1 = now_ns();
    let frames = msgs() - m0;
    wait_quiet(&shared, None, Duration::from_millis(120));
    let cpu = process_cpu_ns().saturating_sub(cpu0);
    let seconds = (t1 - t0) as f64 / 1e9;
    let out = Paced {
        target_rate: rate as f64,
        achieved_rate: frames as f64 / seconds,
        frames,
        seconds,
        cpu_ns_per_msg: cpu as f64 / frames.max(1) as f64,
        orders: orders(&shared),
        stages: collect_stages(&shared, None),
    };
    engine.stop();
    Ok(out)
}

/// The single-thread replay (`--mode single`): prints frames and wall ns per
/// frame; under callgrind, `measured_replay` is the part to count.
fn single(args: &BenchArgs, src: &Source) -> Result<Report> {
    let syms: Vec<&str> = src.symbols.iter().map(|s| s.as_str()).collect();
    let mut hp = super::hotpath::HotPath::new(&syms);
    let warm = (src.frames.len() / 4).min(20_000);
    hp.warm(&src.frames[..warm], &|s| src.snapshot(s));
    let rest = &src.frames[warm..];
    let n = if args.messages == 0 {
        rest.len()
    } else {
        args.messages.min(rest.len())
    };
    let (d0, o0) = (hp.decisions, hp.orders);
    let t0 = now_ns();
    super::hotpath::measured_replay(&mut hp, &rest[..n]);
    let ns = now_ns() - t0;
    let bytes: usize = rest[..n].iter().map(|f| f.len()).sum();
    println!(
        "single: {n} frames ({bytes} bytes), {} decisions, {} orders, {:.0} ns/frame wall",
        hp.decisions - d0,
        hp.orders - o0,
        ns as f64 / n.max(1) as f64
    );
    Ok(Report {
        machine: Machine::here(),
        venue: args.venue.clone(),
        mode: args.mode.clone(),
        wait: args.wait.clone(),
        layout: "single".into(),
        pin: None,
        frames_source: src.name.clone(),
        saturation: None,
        paced: None,
    })
}

/// Runs the bench; prints the human summary on stderr and the JSON on stdout.
/// `make_frames` makes the generated frames (`--frames generated`, or no
/// capture); `embedded_venues` starts the simulator of `--mode loopback`
/// (the binary passes its own).
pub fn run(
    args: BenchArgs,
    make_frames: &MakeFrameSource,
    embedded_venues: Option<StartEmbeddedVenues>,
) -> Result<Report> {
    if args.venue != "binance" {
        bail!(
            "--venue {}: this build benches the binance protocol only",
            args.venue
        );
    }
    let wait = wait_kind(&args.wait)?;
    layout(&args.layout)?;
    let pin = args.pin.as_deref().map(parse_pin).transpose()?;
    if !matches!(
        args.mode.as_str(),
        "inject" | "loopback" | "testnet" | "single"
    ) {
        bail!(
            "--mode must be inject, loopback, testnet or single (got `{}`)",
            args.mode
        );
    }
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration must be in (0, 3600] seconds");
    }
    if args.rate == 0 {
        bail!("--rate must be at least 1 frame/s");
    }
    let src = if args.mode == "testnet" {
        // The simulator generates the market the orders trade against.
        Source {
            name: "the simulator's generated market".into(),
            frames: Vec::new(),
            snapshots: Vec::new(),
            symbols: vec!["BTCUSDT".into()],
            replay_path: None,
        }
    } else {
        load_source(&args, make_frames)?
    };
    if args.mode == "single" {
        return single(&args, &src);
    }
    let cfg = bench_config(&args, &src, wait, &pin)?;
    if let Some(p) = &pin {
        crate::pipeline::thread::pin_current("feed", Some(p[0]));
    }
    let spin = wait == WaitKind::Spin;
    let mut report = Report {
        machine: Machine::here(),
        venue: args.venue.clone(),
        mode: args.mode.clone(),
        wait: args.wait.clone(),
        layout: resolved_layout(&cfg),
        pin: pin.clone(),
        frames_source: src.name.clone(),
        saturation: None,
        paced: None,
    };
    if args.mode == "inject" {
        if !args.no_saturation {
            eprintln!("bench: saturation phase ({:.1}s)", args.duration);
            report.saturation = Some(saturation(cfg.clone(), &src, args.duration)?);
        }
        if !args.no_paced {
            eprintln!(
                "bench: fixed-rate phase ({} frames/s, {:.1}s)",
                args.rate, args.duration
            );
            report.paced = Some(paced_inject(
                cfg.clone(),
                &src,
                args.rate,
                args.duration,
                spin,
            )?);
        }
    } else if args.mode == "testnet" {
        eprintln!(
            "bench: testnet phase ({} frames/s, {:.1}s, at most {} orders/s)",
            args.rate,
            args.duration,
            super::e2e_testnet::ORDERS_PER_SEC
        );
        report.paced = Some(super::e2e_testnet::paced(
            cfg.clone(),
            args.duration,
            args.rate,
            embedded_venues,
        )?);
    } else {
        if src.replay_path.is_none() {
            bail!("--mode loopback replays a capture file; generated frames are inject-only");
        }
        eprintln!(
            "bench: loopback phase ({} frames/s, {:.1}s)",
            args.rate, args.duration
        );
        report.paced = Some(paced_loopback(
            cfg.clone(),
            args.duration,
            args.rate,
            embedded_venues,
        )?);
    }
    let _ = std::fs::remove_file(&cfg.model.path);
    if let Some(f) = &cfg.sim.replay_file
        && f.contains("qt-bench-capture-")
    {
        let _ = std::fs::remove_file(f);
    }
    eprint!("{}", report.human());
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(p) = &args.out {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
        }
        std::fs::write(p, &json).with_context(|| format!("write {}", p.display()))?;
    }
    println!("{json}");
    Ok(report)
}
