//! quantum-trader command line: `run` the engine (the embedded demo config by
//! default), `check-config` a file, run the venue simulator alone (`sim`),
//! probe a running engine (`healthcheck`) or check a setup (`doctor`).
//!
//! The binary is where the engine library and the venue simulator crate
//! meet: `embedded_sim` starts the simulator for `run` and `sim`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;

mod embedded_sim;
use quantum_trader::app::engine::{Engine, instruments_from_config};
use quantum_trader::config::{Config, ConfigError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(
    name = "quantum-trader",
    version,
    about = "Low-latency crypto trading engine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the engine (default: the embedded demo config, simulator + paper trading).
    Run {
        /// Config file (TOML). Without it the embedded demo config runs.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Arm live trading (needs `mode = "live"` in the config; `QT_LIVE=1`
        /// does the same). Refused with any other mode.
        #[arg(long)]
        live: bool,
    },
    /// Validate a config file and print the effective config; exit 2 if invalid.
    CheckConfig { file: PathBuf },
    /// The journal: `report --day YYYY-MM-DD [--mode paper|testnet|live]`, `bench`.
    Journal {
        #[command(subcommand)]
        cmd: quantum_trader::journal::cli::JournalCmd,
    },
    /// Exit 0 if a running engine's /ready answers 200, else 1 (no curl/wget needed).
    Healthcheck {
        /// The readiness URL.
        #[arg(long, default_value = quantum_trader::ops::healthcheck::DEFAULT_URL)]
        url: String,
    },
    /// Check whether trading could start right now; exit 0 only if it could.
    Doctor {
        /// Config file (TOML). Without it the embedded demo config is checked.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run the venue simulator alone (for pointing other tools at it).
    Sim {
        /// Config whose [sim] section and instruments to use (default: demo).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Latency and throughput of the whole pipeline on recorded or generated frames.
    Bench(quantum_trader::bench::BenchArgs),
    /// Record every feed (frames, REST replies, connection events) without trading.
    Record {
        /// Config file (TOML). Without it the embedded demo config (simulator) is recorded.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Recording directory (default: `[record] dir`).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Replay a recording through the engine: journal, report.json, report.html.
    Backtest(quantum_trader::backtest::cli::BacktestArgs),
    /// Training data from a recording: `export --data DIR --horizons 100ms,1s,10s --out FILE`.
    Features {
        #[command(subcommand)]
        cmd: quantum_trader::backtest::cli::FeaturesCmd,
    },
}

fn load(path: Option<&PathBuf>) -> Result<Config, ConfigError> {
    match path {
        Some(p) => Config::load(p),
        None => Config::from_toml(quantum_trader::config::DEMO_TOML),
    }
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        let _ = b.json().try_init();
    } else {
        let _ = b.try_init();
    }
}

/// Waits for SIGINT or SIGTERM, calling `tick` every `every` meanwhile and
/// `hup` on each SIGHUP (when given; otherwise SIGHUP keeps its default).
fn wait_for_signal(
    every: Option<Duration>,
    mut tick: impl FnMut(),
    hup: Option<&dyn Fn()>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hangup = match hup {
            Some(_) => Some(tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::hangup(),
            )?),
            None => None,
        };
        let mut iv = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
        iv.tick().await;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = term.recv() => return Ok(()),
                Some(_) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    if let Some(f) = hup { f() }
                }
                _ = iv.tick() => if every.is_some() { tick() },
            }
        }
    })
}

/// From now on, the second SIGINT or SIGTERM exits the process at once
/// (status 128 + the signal), cutting the orderly stop short (cancel and
/// flatten on stop, the journal's last sync): the first one starts that
/// stop, which may take up to the session's stop budget. A thread of its
/// own listens from before the first signal, so none falls in a gap.
fn exit_on_second_signal() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered here, before the first signal can come.
    let (mut term, mut int) = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("second-signal".into())
        .spawn(move || {
            rt.block_on(async {
                let mut seen = 0;
                loop {
                    let code = tokio::select! {
                        Some(_) = term.recv() => 128 + libc::SIGTERM,
                        Some(_) = int.recv() => 128 + libc::SIGINT,
                        else => return,
                    };
                    seen += 1;
                    if seen >= 2 {
                        eprintln!(
                            "quantum-trader: second signal: exiting now (the stop work — cancel, flatten, journal sync — is cut short)"
                        );
                        std::process::exit(code);
                    }
                }
            })
        })?;
    Ok(())
}

/// `record`: the feeds and books of `run`, recording on, nothing traded
/// (kill switch on, no journal, no Redis).
fn record_only(cfg: &mut Config, dir: Option<PathBuf>) {
    cfg.record.enabled = true;
    if let Some(d) = dir {
        cfg.record.dir = d.display().to_string();
    }
    cfg.risk.kill_switch = true;
    // Nothing is traded, so no live interlock, account or reconciliation.
    cfg.mode = quantum_trader::config::TradingMode::Paper;
    cfg.journal.enabled = false;
    cfg.redis.url.clear();
    cfg.redis.url_env.clear();
}

fn run(config: Option<PathBuf>, record: Option<Option<PathBuf>>, live: bool) -> Result<ExitCode> {
    let mut cfg = match load(config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(dir) = record {
        record_only(&mut cfg, dir);
        eprintln!(
            "quantum-trader: recording every feed to {} (no trading)",
            cfg.record.dir
        );
    } else if config.is_none() && cfg.journal.enabled {
        // The demo: a fresh journal (and day ledger) per run, so a second
        // run on the same day trades again; a --config keeps its own.
        use quantum_trader::config::demo_run;
        let root = std::path::Path::new(demo_run::DEMO_RUNS_DIR);
        let dir = demo_run::use_fresh_demo_journal(
            &mut cfg,
            root,
            quantum_trader::core::clock::unix_ms(),
        )
        .with_context(|| format!("creating a demo journal under {}", root.display()))?;
        eprintln!(
            "quantum-trader: demo journal {} (fresh each demo run, the {} newest kept)",
            dir.display(),
            demo_run::DEMO_RUNS_KEPT
        );
    }
    init_logging(&cfg);
    let every = (cfg.ops.status_interval_secs > 0)
        .then(|| Duration::from_secs(cfg.ops.status_interval_secs));
    let ops_cfg = cfg.ops.clone();
    let mut opts = embedded_sim::engine_options();
    opts.live_armed = quantum_trader::app::interlock::armed(live, &|k| std::env::var(k).ok());
    let engine = match Engine::start(cfg, opts) {
        Ok(e) => e,
        Err(e) => {
            // A live interlock condition not met: its own line(s), status 2.
            if let Some(r) = e.downcast_ref::<quantum_trader::app::interlock::Refusal>() {
                for line in r.to_string().lines() {
                    eprintln!("quantum-trader: {line}");
                    tracing::error!("{line}");
                }
                return Ok(ExitCode::from(2));
            }
            return Err(e);
        }
    };
    if let Some(a) = engine.ops_addr() {
        eprintln!(
            "quantum-trader: metrics http://{a}/metrics  ready http://{a}/ready  (Ctrl-C to stop)"
        );
    }
    let shared = engine.shared().clone();
    let model_ctl = engine.model_control().clone();
    let mut status = quantum_trader::ops::status::StatusLine::new();
    let mut readiness = quantum_trader::ops::ready::Readiness::new();
    let reload = || {
        let (code, body) = quantum_trader::score::api::reload_now(&shared, &model_ctl, "sighup");
        eprintln!("quantum-trader: SIGHUP model reload: {code} {body}");
    };
    exit_on_second_signal()?;
    wait_for_signal(
        every,
        || {
            let ready = readiness.evaluate(&shared, &ops_cfg, quantum_trader::core::now_ns());
            println!("{}", status.render(&shared, &ready));
        },
        Some(&reload),
    )?;
    eprintln!("quantum-trader: stopping");
    quantum_trader::ops::systemd::notify_stopping();
    engine.stop();
    println!("{}", quantum_trader::ops::status::final_summary(&shared));
    Ok(ExitCode::SUCCESS)
}

fn check_config(file: PathBuf) -> ExitCode {
    match Config::load(&file) {
        Ok(c) => {
            println!(
                "# {} is valid; effective configuration (secrets masked):\n{}",
                file.display(),
                c.to_toml_redacted()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

fn sim(config: Option<PathBuf>) -> Result<ExitCode> {
    let mut cfg = match load(config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    init_logging(&cfg);
    cfg.sim.enabled = true;
    let table = instruments_from_config(&cfg)?;
    let s = embedded_sim::start_sim_for(&cfg, &table).context("simulator")?;
    println!(
        "simulator listening: ws {}  rest {}",
        s.ws_url(),
        s.rest_url()
    );
    println!(
        "Binance streams: {}/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@aggTrade",
        s.ws_url()
    );
    wait_for_signal(None, || {}, None)?;
    s.shutdown();
    Ok(ExitCode::SUCCESS)
}

fn healthcheck(url: &str) -> ExitCode {
    match quantum_trader::ops::healthcheck::check(url) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            println!("{line}");
            ExitCode::FAILURE
        }
    }
}

fn doctor(config: Option<PathBuf>) -> ExitCode {
    let start = embedded_sim::engine_options().embedded_venues;
    let rep = quantum_trader::doctor::run(config.as_deref(), start.as_ref());
    print!("{}", rep.render());
    if rep.can_trade() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Commands that only print a report end quietly when their reader goes
/// away (`check-config … | head`), as Unix tools do, instead of panicking
/// on a broken pipe. The engine's own commands keep SIGPIPE ignored (Rust's
/// default), so a closed socket is an error to handle, never a signal.
fn quiet_on_broken_pipe(cmd: &Cmd) {
    if matches!(
        cmd,
        Cmd::CheckConfig { .. }
            | Cmd::Journal { .. }
            | Cmd::Healthcheck { .. }
            | Cmd::Doctor { .. }
    ) {
        // SAFETY: restoring the default disposition of one signal at start,
        // before any other thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    quiet_on_broken_pipe(&cli.cmd);
    let r = match cli.cmd {
        Cmd::Run { config, live } => run(config, None, live),
        Cmd::Record { config, dir } => run(config, Some(dir), false),
        Cmd::Backtest(a) => {
            quantum_trader::backtest::cli::run_backtest(a).map(|_| ExitCode::SUCCESS)
        }
        Cmd::Features { cmd } => {
            quantum_trader::backtest::cli::run_features(cmd).map(|_| ExitCode::SUCCESS)
        }
        Cmd::CheckConfig { file } => Ok(check_config(file)),
        Cmd::Sim { config } => sim(config),
        Cmd::Journal { cmd } => quantum_trader::journal::cli::run(cmd),
        Cmd::Healthcheck { url } => Ok(healthcheck(&url)),
        Cmd::Doctor { config } => Ok(doctor(config)),
        Cmd::Bench(args) => {
            let venues = embedded_sim::engine_options().embedded_venues;
            quantum_trader::bench::run(args, &embedded_sim::frame_source, venues)
                .map(|_| ExitCode::SUCCESS)
        }
    };
    match r {
        Ok(c) => c,
        Err(e) => {
            eprintln!("quantum-trader: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
