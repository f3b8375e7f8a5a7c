//! One hop between two threads: our stage queue (spin, yield and park
//! waits) beside `std::sync::mpsc::sync_channel` and a plain crossbeam
//! bounded channel. Ping-pong: one iteration is a round trip of a 64-byte
//! message, reported as half of it (the one-way latency).

use criterion::{Criterion, criterion_group, criterion_main};
use quantum_trader::config::WaitKind;
use quantum_trader::pipeline::channel::{Next, queue};
use quantum_trader::telemetry::metrics::Metrics;
use std::time::{Duration, Instant};

/// A message the size of a small pipeline event.
#[derive(Clone, Copy)]
struct Msg([u64; 8]);

/// Runs `iters` round trips with `send`/`recv` for each direction; returns
/// half of the total time.
fn ping_pong<S, R>(
    iters: u64,
    mut a_send: S,
    mut a_recv: R,
    echo: std::thread::JoinHandle<()>,
) -> Duration
where
    S: FnMut(Msg),
    R: FnMut() -> Msg,
{
    let t = Instant::now();
    for i in 0..iters {
        a_send(Msg([i; 8]));
        let m = a_recv();
        assert_eq!(m.0[0], i);
    }
    let d = t.elapsed();
    a_send(Msg([u64::MAX; 8])); // tells the echo thread to stop
    echo.join().expect("echo thread");
    d / 2
}

fn ours(iters: u64, wait: WaitKind) -> Duration {
    let m = Metrics::new();
    let (tx1, mut rx1) = queue::<Msg>("ping", 1024, wait, &m);
    let (tx2, mut rx2) = queue::<Msg>("pong", 1024, wait, &m);
    let echo = std::thread::spawn(move || {
        loop {
            match rx1.next(Duration::from_millis(100)) {
                Next::Item(m) if m.0[0] == u64::MAX => return,
                Next::Item(m) => {
                    let _ = tx2.try_send(m);
                }
                Next::Idle => {}
                Next::Closed => return,
            }
        }
    });
    ping_pong(
        iters,
        |m| {
            let _ = tx1.try_send(m);
        },
        || loop {
            if let Next::Item(m) = rx2.next(Duration::from_millis(100)) {
                return m;
            }
        },
        echo,
    )
}

fn std_mpsc(iters: u64) -> Duration {
    let (tx1, rx1) = std::sync::mpsc::sync_channel::<Msg>(1024);
    let (tx2, rx2) = std::sync::mpsc::sync_channel::<Msg>(1024);
    let echo = std::thread::spawn(move || {
        while let Ok(m) = rx1.recv() {
            if m.0[0] == u64::MAX {
                return;
            }
            let _ = tx2.send(m);
        }
    });
    ping_pong(
        iters,
        |m| tx1.send(m).expect("send"),
        || rx2.recv().expect("recv"),
        echo,
    )
}

fn crossbeam(iters: u64) -> Duration {
    let (tx1, rx1) = crossbeam_channel::bounded::<Msg>(1024);
    let (tx2, rx2) = crossbeam_channel::bounded::<Msg>(1024);
    let echo = std::thread::spawn(move || {
        while let Ok(m) = rx1.recv() {
            if m.0[0] == u64::MAX {
                return;
            }
            let _ = tx2.send(m);
        }
    });
    ping_pong(
        iters,
        |m| tx1.send(m).expect("send"),
        || rx2.recv().expect("recv"),
        echo,
    )
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("channel_hop");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("ours_park", |b| b.iter_custom(|n| ours(n, WaitKind::Park)));
    g.bench_function("ours_yield", |b| {
        b.iter_custom(|n| ours(n, WaitKind::Yield))
    });
    // Two spinning threads need two free cores; on fewer it measures the
    // scheduler, not the queue.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 4 {
        g.bench_function("ours_spin", |b| b.iter_custom(|n| ours(n, WaitKind::Spin)));
    } else {
        eprintln!("SKIP channel_hop/ours_spin: fewer than 4 logical CPUs");
    }
    g.bench_function("std_mpsc_sync_channel", |b| b.iter_custom(std_mpsc));
    g.bench_function("crossbeam_bounded", |b| b.iter_custom(crossbeam));
    g.finish();
}

criterion_group!(channel, benches);
criterion_main!(channel);
