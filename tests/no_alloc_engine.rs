//! Zero heap allocations per message in the engine's real threads: the
//! whole engine runs (every stage thread, the three venues' feed threads on
//! the built-in simulator's WebSockets, the journal writer and the Redis
//! publisher on a real `redis-server`) under a global allocator that counts
//! allocations per thread, by thread name. After a warm-up the test measures
//! a window of thousands of messages and asserts that the per-message
//! threads (book, score, risk, exec and each venue's feed thread: socket
//! receive, parse, sync, chunking) allocated nothing outside the stages'
//! timed work, and, in a second test, that the in-process injector (the
//! feed's work on the caller's thread) allocated nothing either. The timed
//! work (a stage publishing its view for the ops API at most every 50-100 ms,
//! answering a query; marked with `pipeline::thread::timed_work`) is
//! counted apart and printed, as is what the other threads allocate
//! (journal, publisher, ops, simulator), per message and per second (README
//! lists it). `QT_ALLOC_TRACE=<thread>[:<n>]` prints a backtrace of that
//! thread's first `n` allocations in the window.
//!
//! Needs `redis-server` on the PATH: a loud SKIP without it, a failure under
//! `CI=true`.

mod common;

#[path = "common/redis_server.rs"]
mod redis_server;

use common::{engine_options, test_config_all, wait_until};
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::config::Config;
use quantum_trader::pipeline::shared::Shared;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Per-thread allocation counters, registered on a thread's first
/// allocation under its name (fixed slots: registering must not allocate).
mod per_thread {
    use super::*;

    const SLOTS: usize = 512;
    const NAME: usize = 40;

    pub struct Slot {
        name: [AtomicU64; NAME / 8],
        len: AtomicUsize,
        /// Allocations outside the stage's timed work.
        pub count: AtomicU64,
        /// Allocations inside it (`pipeline::thread::timed_work`).
        pub timed: AtomicU64,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        name: [const { AtomicU64::new(0) }; NAME / 8],
        len: AtomicUsize::new(0),
        count: AtomicU64::new(0),
        timed: AtomicU64::new(0),
    };
    static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
    static USED: AtomicUsize = AtomicUsize::new(0);
    /// Allocations of threads beyond the table (none expected).
    pub static OVERFLOW: AtomicU64 = AtomicU64::new(0);

    const UNSET: usize = usize::MAX;
    const BUSY: usize = usize::MAX - 1;

    thread_local! {
        static MINE: Cell<usize> = const { Cell::new(UNSET) };
        /// Allocations of this thread left to print with a backtrace
        /// (`QT_ALLOC_TRACE=<thread name>[:<count>]`, for finding one).
        static TRACE: Cell<u32> = const { Cell::new(0) };
    }
    static TRACING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Starts printing the traced thread's allocations (after a warm-up).
    pub fn trace_from_now() {
        TRACING.store(true, Ordering::Relaxed);
    }

    fn trace_budget(name: &str) -> u32 {
        let Ok(spec) = std::env::var("QT_ALLOC_TRACE") else {
            return 0;
        };
        let (who, n) = spec.split_once(':').unwrap_or((&spec, "20"));
        if who == name {
            n.parse().unwrap_or(20)
        } else {
            0
        }
    }

    #[cold]
    fn trace(m: &Cell<usize>, i: usize) {
        let _ = TRACE.try_with(|t| {
            if t.get() > 0 && TRACING.load(Ordering::Relaxed) {
                t.set(t.get() - 1);
                m.set(BUSY);
                eprintln!(
                    "allocation on a traced thread:\n{}",
                    std::backtrace::Backtrace::force_capture()
                );
                m.set(i);
            }
        });
    }

    fn register() -> usize {
        // Allocations made while registering (the thread handle) are this
        // thread's but cannot be counted in a slot not yet made: counted
        // after the fact below.
        let t = std::thread::current();
        let name = t.name().unwrap_or("<unnamed>").as_bytes();
        let i = USED.fetch_add(1, Ordering::Relaxed);
        if i >= SLOTS {
            return UNSET;
        }
        let s = &TABLE[i];
        let n = name.len().min(NAME);
        for (k, w) in s.name.iter().enumerate() {
            let mut b = [0u8; 8];
            for (j, x) in b.iter_mut().enumerate() {
                let at = k * 8 + j;
                if at < n {
                    *x = name[at];
                }
            }
            w.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        s.len.store(n, Ordering::Release);
        let budget = trace_budget(&String::from_utf8_lossy(&name[..n]));
        let _ = TRACE.try_with(|t| t.set(budget));
        i
    }

    #[inline]
    pub fn note() {
        let _ = MINE.try_with(|m| match m.get() {
            UNSET => {
                m.set(BUSY);
                let i = register();
                m.set(i);
                match i {
                    UNSET => OVERFLOW.fetch_add(1, Ordering::Relaxed),
                    i => TABLE[i].count.fetch_add(1, Ordering::Relaxed),
                };
            }
            BUSY => {}
            i if quantum_trader::pipeline::thread::in_timed_work() => {
                TABLE[i].timed.fetch_add(1, Ordering::Relaxed);
            }
            i => {
                TABLE[i].count.fetch_add(1, Ordering::Relaxed);
                if TRACING.load(Ordering::Relaxed) {
                    trace(m, i);
                }
            }
        });
    }

    /// Allocations the calling thread made so far (reads no name, makes
    /// nothing).
    pub fn mine() -> u64 {
        match MINE.with(Cell::get) {
            UNSET | BUSY => 0,
            i => TABLE[i].count.load(Ordering::Relaxed),
        }
    }

    /// Allocations so far outside timed work, summed per thread name.
    pub fn snapshot() -> BTreeMap<String, u64> {
        snapshot_of(|s| &s.count)
    }

    /// Allocations so far inside timed work, summed per thread name.
    pub fn snapshot_timed() -> BTreeMap<String, u64> {
        snapshot_of(|s| &s.timed)
    }

    fn snapshot_of(which: impl Fn(&Slot) -> &AtomicU64) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in TABLE.iter().take(USED.load(Ordering::Relaxed).min(SLOTS)) {
            let n = s.len.load(Ordering::Acquire);
            let mut bytes = Vec::with_capacity(NAME);
            for w in &s.name {
                bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            bytes.truncate(n);
            let name = String::from_utf8_lossy(&bytes).into_owned();
            *out.entry(name).or_insert(0) += which(s).load(Ordering::Relaxed);
        }
        out
    }
}

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        per_thread::note();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        per_thread::note();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        per_thread::note();
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The threads that run once per market message (named by
/// `pipeline::thread::spawn_stage`: `qt-<stage>`).
const HOT: [&str; 4] = ["qt-book", "qt-score", "qt-risk", "qt-exec"];

/// The feed threads (socket receive, parse, sync, chunking), one per venue.
const FEEDS: [&str; 3] = ["qt-feed-binance", "qt-feed-bybit", "qt-feed-okx"];

/// Sum of every sample of a metric family (all label values).
fn total(shared: &Shared, name: &str) -> u64 {
    shared
        .metrics
        .registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .map(|m| {
            if m.get_counter().is_some() {
                m.get_counter().value() as u64
            } else {
                m.get_gauge().value() as u64
            }
        })
        .sum()
}

fn processed(shared: &Shared, stage: &str) -> u64 {
    shared
        .stage(stage)
        .map(|h| h.processed.load(Ordering::Relaxed))
        .unwrap_or(0)
}

fn delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    b.iter()
        .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0)))
        .collect()
}

/// `redis-server` is on the PATH; otherwise a loud SKIP (a failure under
/// `CI=true`).
fn redis_available(what: &str) -> bool {
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{what}: redis-server is not installed and CI=true (scripts/test.sh installs it)"
    );
    eprintln!("!!!!!!!! SKIP {what}: redis-server is not installed; NOT run !!!!!!!!");
    false
}

fn config(redis_url: &str, f: impl FnOnce(&mut Config)) -> Config {
    test_config_all(|c| {
        c.journal.enabled = true;
        c.redis.url = redis_url.into();
        c.redis.url_env = String::new();
        c.redis.heartbeat_interval_ms = 200;
        c.redis.heartbeat_ttl_ms = 1_000;
        // Orders flow all window long (paper), whatever the demo caps say.
        c.risk.max_orders_per_sec = 10_000;
        c.risk.max_orders_per_min = 1_000_000;
        c.risk.daily_trade_cap = 10_000_000;
        c.risk.max_gross_exposure = 1e12;
        c.risk.max_daily_loss = 1e12;
        c.risk.max_drawdown = 1e12;
        for ic in &mut c.instruments {
            ic.max_position = "1000000".into();
        }
        f(c)
    })
}

/// Prints the window's allocations per thread name, per message and per
/// second, hot threads first.
fn report(what: &str, d: &BTreeMap<String, u64>, msgs: u64, secs: f64) {
    eprintln!("{what}: {msgs} messages in {secs:.2} s; allocations per thread:");
    for (name, n) in d.iter().filter(|(_, n)| **n > 0) {
        eprintln!(
            "  {name:<28} {n:>9}  {:>8.3}/msg  {:>10.1}/s",
            *n as f64 / msgs.max(1) as f64,
            *n as f64 / secs
        );
    }
}

fn hot_allocs(d: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    d.iter()
        .filter(|(k, v)| HOT.contains(&k.as_str()) && **v > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Three venues over the simulator's WebSockets, journal and Redis on:
/// after a warm-up, the stage threads allocate nothing over thousands of
/// messages.
#[test]
fn the_real_stage_threads_allocate_nothing_per_message() {
    if !redis_available("no-alloc in the real engine") {
        return;
    }
    let redis = redis_server::RedisServer::start(false);
    let cfg = config(&redis.url(), |c| {
        c.sim.rate_per_symbol = 1500;
    });
    let mut venues: Vec<String> = cfg
        .instruments
        .iter()
        .map(|i| i.venue.as_str().to_string())
        .collect();
    venues.sort();
    venues.dedup();
    assert_eq!(venues, ["binance", "bybit", "okx"], "all three venues run");
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let shared = e.shared().clone();

    // Warm-up: every book in sync, decisions, orders and Redis entries flow.
    let warm = wait_until(Duration::from_secs(60), || {
        let books_synced =
            (0..shared.instruments.len()).all(|i| shared.books[i].in_sync.load(Ordering::Relaxed));
        books_synced
            && total(&shared, "qt_orders_total") > 50
            && total(&shared, "qt_redis_entries_total") > 50
            && processed(&shared, "book") > 20_000
    });
    assert!(
        warm,
        "warm-up: books {:?}, orders {}, redis entries {}, book processed {}",
        (0..shared.instruments.len())
            .map(|i| shared.books[i].in_sync.load(Ordering::Relaxed))
            .collect::<Vec<_>>(),
        total(&shared, "qt_orders_total"),
        total(&shared, "qt_redis_entries_total"),
        processed(&shared, "book")
    );
    // Let the one-off growth of the warm-up settle (views, tables).
    std::thread::sleep(Duration::from_secs(2));
    per_thread::trace_from_now();

    let m0 = total(&shared, "qt_feed_messages_total");
    let (b0, s0, r0, x0) = (
        processed(&shared, "book"),
        processed(&shared, "score"),
        processed(&shared, "risk"),
        processed(&shared, "exec"),
    );
    let o0 = total(&shared, "qt_orders_total");
    let j0 = total(&shared, "qt_redis_entries_total");
    let t0 = Instant::now();
    let (a0, z0) = (per_thread::snapshot(), per_thread::snapshot_timed());
    std::thread::sleep(Duration::from_secs(6));
    let (a1, z1) = (per_thread::snapshot(), per_thread::snapshot_timed());
    let secs = t0.elapsed().as_secs_f64();
    let msgs = total(&shared, "qt_feed_messages_total") - m0;
    let (b, s, r, x) = (
        processed(&shared, "book") - b0,
        processed(&shared, "score") - s0,
        processed(&shared, "risk") - r0,
        processed(&shared, "exec") - x0,
    );
    let orders = total(&shared, "qt_orders_total") - o0;
    let published = total(&shared, "qt_redis_entries_total") - j0;
    let d = delta(&a0, &a1);
    report("engine on the simulator", &d, msgs, secs);
    report(
        "  ... and in the stages' timed work (views, queries)",
        &delta(&z0, &z1),
        msgs,
        secs,
    );
    eprintln!(
        "  processed: book {b}, score {s}, risk {r}, exec {x}; orders {orders}; redis entries {published}"
    );
    e.stop();

    // The window exercised the whole path, or zero proves nothing.
    assert!(msgs > 10_000, "only {msgs} feed messages in the window");
    assert!(
        b > 10_000 && s > 1_000 && r > 1_000,
        "book {b}, score {s}, risk {r}"
    );
    assert!(orders > 50 && x > 50, "only {orders} orders, exec {x}");
    assert!(published > 50, "only {published} Redis entries");
    for t in HOT.iter().chain(&FEEDS) {
        assert!(
            d.contains_key(*t),
            "thread {t} never seen: is it still named so?"
        );
    }
    assert_eq!(per_thread::OVERFLOW.load(Ordering::Relaxed), 0);
    let hot = hot_allocs(&d);
    assert!(
        hot.is_empty(),
        "hot stage threads allocated over {msgs} messages: {hot:?}"
    );
    let feeds: Vec<_> = FEEDS
        .iter()
        .filter(|t| d[**t] > 0)
        .map(|t| (t, d[*t]))
        .collect();
    assert!(
        feeds.is_empty(),
        "feed threads allocated over {msgs} messages: {feeds:?}"
    );
}

/// The feed's own per-message work (Binance parse, sync, chunking, the
/// hand-off ring) through the in-process injector on this thread, with
/// every stage thread, journal and Redis on: nothing allocates per frame,
/// on the injecting thread or on a stage thread.
#[test]
fn the_injector_and_stage_threads_allocate_nothing_per_frame() {
    if !redis_available("no-alloc through the injector") {
        return;
    }
    let redis = redis_server::RedisServer::start(false);
    let cfg = config(&redis.url(), |c| {
        c.venues.remove("bybit");
        c.venues.remove("okx");
        c.instruments.retain(|i| i.venue == "binance");
        c.sim.enabled = false;
        for v in quantum_trader::core::Venue::ALL {
            if let Some(b) = c.venues.section_mut(v) {
                // Never dialled: frames are injected in-process.
                *b.ws_url = "ws://injected.invalid".into();
                *b.rest_url = "http://injected.invalid".into();
            }
        }
    });
    let symbols: Vec<String> = cfg.instruments.iter().map(|i| i.symbol.clone()).collect();
    let table = quantum_trader::app::engine::instruments_from_config(&cfg).unwrap();
    let insts: Vec<_> = table.iter().cloned().collect();
    let with_px: Vec<_> = insts.iter().zip([60_000.0, 3_000.0]).collect();
    let g = common::embedded_sim::frame_gen(&with_px, 11, 300).expect("frame generator");
    let (frames, snaps) = quantum_trader::bench::samples::pregenerate(
        &mut common::embedded_sim::SimFrames(g),
        &symbols,
        200_000,
    );
    let opts = EngineOptions {
        inject: true,
        ..Default::default()
    };
    let mut e = Engine::start(cfg, opts).expect("engine starts");
    let shared = e.shared().clone();
    let mut inj = e.take_injector().expect("an injector");
    let feed = |frames: &[Vec<u8>], inj: &mut quantum_trader::venue::inject::Injector| {
        for f in frames {
            inj.frame(f);
            inj.answer_snapshots(|s| snaps.iter().find(|x| x.0 == s).map(|x| x.1.clone()));
            while inj.backlog() > 4096 {
                std::thread::yield_now();
            }
        }
    };
    let warm = frames.len() / 4;
    feed(&frames[..warm], &mut inj);
    assert!(
        wait_until(Duration::from_secs(30), || inj.backlog() == 0
            && total(&shared, "qt_orders_total") > 50),
        "warm-up: orders {}",
        total(&shared, "qt_orders_total")
    );
    // A fresh one-second order-rate window, so orders flow in the window.
    std::thread::sleep(Duration::from_millis(1100));
    let o0 = total(&shared, "qt_orders_total");
    let b0 = processed(&shared, "book");
    let t0 = Instant::now();
    let (a0, z0) = (per_thread::snapshot(), per_thread::snapshot_timed());
    let c0 = per_thread::mine();
    per_thread::trace_from_now();
    // Only the frames themselves on this thread: no snapshot is due after
    // the warm-up (answering one clones its body).
    for f in &frames[warm..] {
        inj.frame(f);
        while inj.backlog() > 4096 {
            std::thread::yield_now();
        }
    }
    let injecting = per_thread::mine() - c0;
    assert!(wait_until(Duration::from_secs(30), || inj.backlog() == 0));
    std::thread::sleep(Duration::from_millis(300));
    let (a1, z1) = (per_thread::snapshot(), per_thread::snapshot_timed());
    let secs = t0.elapsed().as_secs_f64();
    let n = (frames.len() - warm) as u64;
    let orders = total(&shared, "qt_orders_total") - o0;
    let b = processed(&shared, "book") - b0;
    let d = delta(&a0, &a1);
    report("engine through the injector", &d, n, secs);
    report(
        "  ... and in the stages' timed work (views, queries)",
        &delta(&z0, &z1),
        n,
        secs,
    );
    eprintln!("  processed: book {b}; orders {orders}");
    drop(inj);
    e.stop();

    assert!(b > 50_000, "book processed only {b}");
    assert!(orders > 50, "only {orders} orders in the window");
    assert_eq!(
        injecting, 0,
        "the injecting thread allocated {injecting} times over {n} frames"
    );
    let hot = hot_allocs(&d);
    assert!(
        hot.is_empty(),
        "hot stage threads allocated over {n} frames: {hot:?}"
    );
}
