//! Bounded stage-to-stage queues with an overflow counter and a depth gauge
//! each, and the configurable way a stage waits for its next item: spin,
//! spin-then-yield, park, or spin for a bounded time then park
//! (`spin_then_park`, its spin budget set by [`Rx::with_spin`]).
//!
//! Two kinds, one consumer type ([`Rx`]):
//! - [`queue`]: a multi-producer queue (crossbeam, lock-free on the fast
//!   path) for hops with many or changing producers;
//! - [`spsc`] and [`FanIn`]: single-producer rings ([`super::ring`]), one per
//!   producer, read by one consumer that polls them in turn (fair: after an
//!   item from ring `i` it looks at ring `i + 1` first). A producer is a
//!   [`RingTx`] (`try_send(&mut self)`) or, for code that holds it behind
//!   shared references on its one thread (a feed connection's protocol), a
//!   [`LocalTx`] (`try_send(&self)`, `Send` but not `Sync`).

use super::ring::{self, Consumer, Pop, Producer, PushError, Waker};
use crate::config::WaitKind;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use prometheus::{IntCounter, IntGauge};
use std::cell::UnsafeCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Producer side. `try_send` never blocks; a full queue is counted.
pub struct Tx<T> {
    inner: Sender<T>,
    overflow: IntCounter,
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Self {
        Tx {
            inner: self.inner.clone(),
            overflow: self.overflow.clone(),
        }
    }
}

/// Why an item could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The queue is at capacity (counted as an overflow).
    Full(T),
    /// The consumer is gone (shutdown).
    Closed(T),
}

/// What became of an item handed to the next stage, without the item (a
/// stage's runner hands its output through a closure that answers this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    Sent,
    /// Dropped: the queue was full (counted by the queue).
    Full,
    /// The consumer is gone (shutdown).
    Closed,
}

impl Handoff {
    /// The outcome of a `try_send`.
    #[inline]
    pub fn of<T>(r: Result<(), SendError<T>>) -> Handoff {
        match r {
            Ok(()) => Handoff::Sent,
            Err(SendError::Full(_)) => Handoff::Full,
            Err(SendError::Closed(_)) => Handoff::Closed,
        }
    }
}

impl<T> Tx<T> {
    #[inline]
    pub fn try_send(&self, v: T) -> Result<(), SendError<T>> {
        match self.inner.try_send(v) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(v)) => {
                self.overflow.inc();
                Err(SendError::Full(v))
            }
            Err(TrySendError::Disconnected(v)) => Err(SendError::Closed(v)),
        }
    }

    /// Items waiting in the queue.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.inner.capacity().unwrap_or(0)
    }
}

/// What [`Rx::next`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<T> {
    Item(T),
    /// Nothing arrived within the wait budget.
    Idle,
    /// All producers are gone and the queue is drained.
    Closed,
}

/// Consumer side, waiting the way its stage is configured to.
pub struct Rx<T> {
    inner: Source<T>,
    wait: WaitKind,
    /// `spin_then_park`: how long to spin before parking.
    spin: Duration,
    depth: IntGauge,
    polls: u32,
}

/// The spin budget of `spin_then_park` until [`Rx::with_spin`] sets one.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(crate::config::DEFAULT_SPIN_US);

/// Where an [`Rx`] reads from.
enum Source<T> {
    Channel(Receiver<T>),
    Rings(Rings<T>),
}

/// One ring per producer, polled in turn.
struct Rings<T> {
    rings: Vec<Consumer<T>>,
    /// The ring looked at first by the next poll.
    next: usize,
    /// Rings whose producer is gone and that are drained.
    closed: Vec<bool>,
    open: usize,
    waker: Arc<Waker>,
}

/// What one poll of a source found.
enum Polled<T> {
    Item(T),
    Empty,
    Closed,
}

impl<T> Rings<T> {
    #[inline]
    fn poll(&mut self) -> Polled<T> {
        let n = self.rings.len();
        if self.open == 0 {
            return Polled::Closed;
        }
        for k in 0..n {
            let i = (self.next + k) % n;
            if self.closed[i] {
                continue;
            }
            match self.rings[i].pop() {
                Pop::Item(v) => {
                    self.next = if i + 1 == n { 0 } else { i + 1 };
                    return Polled::Item(v);
                }
                Pop::Empty => {}
                Pop::Closed => {
                    self.closed[i] = true;
                    self.open -= 1;
                }
            }
        }
        if self.open == 0 {
            Polled::Closed
        } else {
            Polled::Empty
        }
    }

    fn len(&self) -> usize {
        self.rings.iter().map(Consumer::len).sum()
    }

    fn park(&self, timeout: Duration) {
        self.waker
            .park(timeout, || self.rings.iter().any(Consumer::ready));
    }
}

impl<T> Source<T> {
    #[inline]
    fn poll(&mut self) -> Polled<T> {
        match self {
            Source::Channel(r) => match r.try_recv() {
                Ok(v) => Polled::Item(v),
                Err(TryRecvError::Empty) => Polled::Empty,
                Err(TryRecvError::Disconnected) => Polled::Closed,
            },
            Source::Rings(r) => r.poll(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Source::Channel(r) => r.len(),
            Source::Rings(r) => r.len(),
        }
    }
}

impl<T> Rx<T> {
    /// Sets how long a `spin_then_park` consumer spins before it parks
    /// (other wait kinds ignore it).
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// How this consumer waits.
    pub fn wait(&self) -> WaitKind {
        self.wait
    }

    /// Next item, waiting at most about `budget` (then [`Next::Idle`]).
    #[inline]
    pub fn next(&mut self, budget: Duration) -> Next<T> {
        self.polls = self.polls.wrapping_add(1);
        if self.polls & 255 == 0 {
            self.depth.set(self.inner.len() as i64);
        }
        match self.inner.poll() {
            Polled::Item(v) => return Next::Item(v),
            Polled::Closed => return Next::Closed,
            Polled::Empty => {}
        }
        self.depth.set(0);
        match self.wait {
            WaitKind::Park => self.park_for(budget),
            WaitKind::Spin | WaitKind::Yield => {
                self.spin_for(budget, self.wait == WaitKind::Yield, 1023)
            }
            WaitKind::SpinThenPark => {
                let start = Instant::now();
                let spin = self.spin.min(budget);
                match self.spin_for(spin, false, 63) {
                    Next::Idle => {}
                    got => return got,
                }
                self.park_for(budget.saturating_sub(start.elapsed()))
            }
        }
    }

    /// Polls for at most about `budget` without parking (yielding the CPU
    /// between polls after 64 when `yield_cpu`), reading the clock once per
    /// `mask + 1` polls.
    #[inline]
    fn spin_for(&mut self, budget: Duration, yield_cpu: bool, mask: u32) -> Next<T> {
        let start = Instant::now();
        let mut spins: u32 = 0;
        loop {
            match self.inner.poll() {
                Polled::Item(v) => return Next::Item(v),
                Polled::Closed => return Next::Closed,
                Polled::Empty => {}
            }
            spins = spins.wrapping_add(1);
            if yield_cpu && spins > 64 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            if spins & mask == 0 && start.elapsed() >= budget {
                return Next::Idle;
            }
        }
    }

    /// Waits parked (woken by a producer) for at most `budget`.
    fn park_for(&mut self, budget: Duration) -> Next<T> {
        match &mut self.inner {
            Source::Channel(r) => match r.recv_timeout(budget) {
                Ok(v) => Next::Item(v),
                Err(RecvTimeoutError::Timeout) => Next::Idle,
                Err(RecvTimeoutError::Disconnected) => Next::Closed,
            },
            Source::Rings(r) => {
                let deadline = Instant::now() + budget;
                loop {
                    match r.poll() {
                        Polled::Item(v) => return Next::Item(v),
                        Polled::Closed => return Next::Closed,
                        Polled::Empty => {}
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Next::Idle;
                    }
                    r.park(deadline - now);
                }
            }
        }
    }

    /// Takes an item only if one is ready now.
    #[inline]
    pub fn try_next(&mut self) -> Option<T> {
        match self.inner.poll() {
            Polled::Item(v) => Some(v),
            Polled::Empty | Polled::Closed => None,
        }
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a queue's current length from another thread (the ops watchdog),
/// whatever the consumer is doing, so a stage stuck mid-event is still seen
/// with input waiting.
pub type DepthProbe = Box<dyn Fn() -> usize + Send + Sync>;

impl<T: Send + 'static> Rx<T> {
    /// A [`DepthProbe`] for this queue.
    pub fn depth_probe(&self) -> DepthProbe {
        match &self.inner {
            Source::Channel(r) => {
                let r = r.clone();
                Box::new(move || r.len())
            }
            Source::Rings(r) => {
                let probes: Vec<_> = r.rings.iter().map(Consumer::len_probe).collect();
                Box::new(move || probes.iter().map(|p| p()).sum())
            }
        }
    }
}

/// Producer side of a single-producer ring: `try_send` never blocks; a full
/// ring is counted. Not `Clone`: each producer gets its own ring
/// ([`FanIn::producer`]).
pub struct RingTx<T> {
    inner: Producer<T>,
    overflow: IntCounter,
}

impl<T> RingTx<T> {
    #[inline]
    pub fn try_send(&mut self, v: T) -> Result<(), SendError<T>> {
        match self.inner.push(v) {
            Ok(()) => Ok(()),
            Err(PushError::Full(v)) => {
                self.overflow.inc();
                Err(SendError::Full(v))
            }
            Err(PushError::Closed(v)) => Err(SendError::Closed(v)),
        }
    }

    /// Items waiting in the ring.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl<T: Send + 'static> RingTx<T> {
    /// Reads this ring's length from anywhere (see [`DepthProbe`]).
    pub fn depth_probe(&self) -> DepthProbe {
        Box::new(self.inner.len_probe())
    }
}

impl<T: Send + 'static> LocalTx<T> {
    /// Reads this ring's length from anywhere (see [`DepthProbe`]).
    pub fn depth_probe(&self) -> DepthProbe {
        // SAFETY: as in `try_send`: one thread, no re-entry.
        unsafe { (*self.inner.get()).depth_probe() }
    }
}

/// A ring producer sent through shared references by the one thread that
/// owns it (a feed connection's protocol and the emitters it lends out):
/// `Send`, not `Sync` and not `Clone`, so only one thread ever reaches it.
pub struct LocalTx<T> {
    inner: UnsafeCell<RingTx<T>>,
}

impl<T> LocalTx<T> {
    #[inline]
    pub fn try_send(&self, v: T) -> Result<(), SendError<T>> {
        // SAFETY: `LocalTx` is not `Sync` (it holds an `UnsafeCell`), so no
        // other thread can reach `inner`; on this thread the `&mut` lives
        // only for this call, which runs no caller code (a ring push, a
        // counter increment, an unpark), so it cannot be re-entered.
        unsafe { (*self.inner.get()).try_send(v) }
    }

    /// Items waiting in this producer's ring.
    pub fn len(&self) -> usize {
        // SAFETY: as in `try_send`: one thread, no re-entry.
        unsafe { (*self.inner.get()).len() }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots of this producer's ring.
    pub fn capacity(&self) -> usize {
        // SAFETY: as in `try_send`: one thread, no re-entry.
        unsafe { (*self.inner.get()).capacity() }
    }
}

impl<T> From<RingTx<T>> for LocalTx<T> {
    fn from(tx: RingTx<T>) -> Self {
        LocalTx {
            inner: UnsafeCell::new(tx),
        }
    }
}

/// Builds a consumer over one ring per producer, named `name` (the `queue`
/// label of its metrics, shared by its rings): call [`FanIn::producer`] once
/// per producer, then [`FanIn::into_rx`].
pub struct FanIn<T> {
    name: String,
    capacity: usize,
    wait: WaitKind,
    overflow: IntCounter,
    depth: IntGauge,
    capacity_gauge: IntGauge,
    waker: Arc<Waker>,
    rings: Vec<Consumer<T>>,
}

impl<T> FanIn<T> {
    /// `capacity`: slots per producer's ring (rounded up to a power of two).
    pub fn new(
        name: &str,
        capacity: usize,
        wait: WaitKind,
        metrics: &crate::telemetry::metrics::Metrics,
    ) -> FanIn<T> {
        FanIn {
            name: name.to_string(),
            capacity,
            wait,
            overflow: metrics.queue_overflow.with_label_values(&[name]),
            depth: metrics.queue_depth.with_label_values(&[name]),
            capacity_gauge: metrics.queue_capacity.with_label_values(&[name]),
            waker: Waker::new(),
            rings: Vec::new(),
        }
    }

    /// A new producer with its own ring.
    pub fn producer(&mut self) -> RingTx<T> {
        let waker = self.wait.parks().then(|| self.waker.clone());
        let (p, c) = ring::ring(self.capacity, waker);
        self.rings.push(c);
        self.capacity_gauge
            .set((self.rings.len() * p.capacity()) as i64);
        RingTx {
            inner: p,
            overflow: self.overflow.clone(),
        }
    }

    /// A new producer with its own ring, sent through `&self` (see
    /// [`LocalTx`]).
    pub fn local_producer(&mut self) -> LocalTx<T> {
        self.producer().into()
    }

    /// Producers made so far.
    pub fn producers(&self) -> usize {
        self.rings.len()
    }

    /// The queue's name (its metrics label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The consumer of every ring made so far.
    pub fn into_rx(self) -> Rx<T> {
        let n = self.rings.len();
        Rx {
            inner: Source::Rings(Rings {
                rings: self.rings,
                next: 0,
                closed: vec![false; n],
                open: n,
                waker: self.waker,
            }),
            wait: self.wait,
            spin: DEFAULT_SPIN,
            depth: self.depth,
            polls: 0,
        }
    }
}

/// A single-producer queue named `name`: one ring, its producer and its
/// consumer.
pub fn spsc<T>(
    name: &str,
    capacity: usize,
    wait: WaitKind,
    metrics: &crate::telemetry::metrics::Metrics,
) -> (RingTx<T>, Rx<T>) {
    let mut f = FanIn::new(name, capacity, wait, metrics);
    let tx = f.producer();
    (tx, f.into_rx())
}

/// Creates a bounded queue named `name` (the `queue` label of its metrics).
pub fn queue<T>(
    name: &str,
    capacity: usize,
    wait: WaitKind,
    metrics: &crate::telemetry::metrics::Metrics,
) -> (Tx<T>, Rx<T>) {
    let (s, r) = crossbeam_channel::bounded(capacity);
    metrics
        .queue_capacity
        .with_label_values(&[name])
        .set(capacity as i64);
    (
        Tx {
            inner: s,
            overflow: metrics.queue_overflow.with_label_values(&[name]),
        },
        Rx {
            inner: Source::Channel(r),
            wait,
            spin: DEFAULT_SPIN,
            depth: metrics.queue_depth.with_label_values(&[name]),
            polls: 0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metrics::Metrics;

    #[test]
    fn overflow_is_counted_and_close_is_seen() {
        let m = Metrics::new();
        for wait in [
            WaitKind::Park,
            WaitKind::Spin,
            WaitKind::Yield,
            WaitKind::SpinThenPark,
        ] {
            let (tx, mut rx) = queue::<u32>("t", 2, wait, &m);
            assert!(tx.try_send(1).is_ok());
            assert!(tx.try_send(2).is_ok());
            assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
            assert_eq!(rx.next(Duration::from_millis(1)), Next::Item(1));
            assert_eq!(rx.next(Duration::from_millis(1)), Next::Item(2));
            assert_eq!(rx.next(Duration::from_millis(1)), Next::Idle);
            drop(tx);
            assert_eq!(rx.next(Duration::from_millis(1)), Next::Closed);
        }
        assert_eq!(m.queue_overflow.with_label_values(&["t"]).get(), 4);
    }

    #[test]
    fn a_ring_queue_counts_overflow_and_sees_the_close() {
        let m = Metrics::new();
        for wait in [
            WaitKind::Park,
            WaitKind::Spin,
            WaitKind::Yield,
            WaitKind::SpinThenPark,
        ] {
            let (mut tx, mut rx) = spsc::<u32>("r", 2, wait, &m);
            assert_eq!(tx.capacity(), 2);
            assert!(tx.try_send(1).is_ok());
            assert!(tx.try_send(2).is_ok());
            assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
            assert_eq!(rx.len(), 2);
            assert_eq!(rx.next(Duration::from_millis(1)), Next::Item(1));
            assert_eq!(rx.try_next(), Some(2));
            assert_eq!(rx.next(Duration::from_millis(1)), Next::Idle);
            drop(tx);
            assert_eq!(rx.next(Duration::from_millis(1)), Next::Closed);
        }
        assert_eq!(m.queue_overflow.with_label_values(&["r"]).get(), 4);
        assert_eq!(m.queue_capacity.with_label_values(&["r"]).get(), 2);
    }

    /// One ring per producer, polled in turn: a busy producer cannot starve
    /// another, and the consumer closes only when every producer is gone.
    #[test]
    fn a_fan_in_is_fair_and_closes_when_every_producer_is_gone() {
        let m = Metrics::new();
        let mut f = FanIn::<(u8, u32)>::new("f", 64, WaitKind::Spin, &m);
        let mut a = f.producer();
        let mut b = f.producer();
        let mut rx = f.into_rx();
        for i in 0..50 {
            assert!(a.try_send((0, i)).is_ok());
        }
        for i in 0..3 {
            assert!(b.try_send((1, i)).is_ok());
        }
        let first: Vec<u8> = (0..6).map(|_| rx.try_next().unwrap().0).collect();
        assert_eq!(
            first,
            [0, 1, 0, 1, 0, 1],
            "alternates while both have items"
        );
        let probe = rx.depth_probe();
        assert_eq!(probe(), 47);
        drop(a);
        assert_eq!(rx.try_next(), Some((0, 3)), "a's items outlive a");
        drop(b);
        let mut n = 1;
        while let Next::Item(_) = rx.next(Duration::from_millis(1)) {
            n += 1;
        }
        assert_eq!(n, 47);
        assert_eq!(rx.next(Duration::from_millis(1)), Next::Closed);
    }

    /// Two producers on their own threads, one flooding its ring for the
    /// whole run: the other's items still arrive one every other item (the
    /// consumer alternates while both rings hold items), the flooder's
    /// refusals are counted under the queue's name, and the consumer closes
    /// once both are gone.
    #[test]
    fn a_flooding_producer_does_not_starve_another() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let m = Metrics::new();
        let mut f = FanIn::<(u8, u32)>::new("flood", 256, WaitKind::Spin, &m);
        let flood = f.local_producer();
        let quiet = f.local_producer();
        let mut rx = f.into_rx();
        let stop = Arc::new(AtomicBool::new(false));
        let flooding = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let _ = flood.try_send((0, i));
                    i = i.wrapping_add(1);
                }
            })
        };
        // Let the flooder fill its ring and start overflowing.
        while m.queue_overflow.with_label_values(&["flood"]).get() == 0 {
            std::thread::yield_now();
        }
        const N: u32 = 200;
        let quiet_thread = std::thread::spawn(move || {
            for i in 0..N {
                while quiet.try_send((1, i)).is_err() {
                    std::hint::spin_loop();
                }
            }
            quiet
        });
        let quiet = quiet_thread.join().unwrap();
        // Every quiet item is already queued: the consumer must take them
        // with at most one flood item before each.
        let mut got = 0;
        let mut since_last = 0;
        let mut worst = 0;
        while got < N {
            match rx.next(Duration::from_secs(5)) {
                Next::Item((1, i)) => {
                    assert_eq!(i, got, "a producer's items stay in order");
                    got += 1;
                    worst = worst.max(since_last);
                    since_last = 0;
                }
                Next::Item(_) => since_last += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(worst <= 1, "{worst} flood items between two quiet ones");
        stop.store(true, Ordering::Relaxed);
        flooding.join().unwrap();
        drop(quiet);
        let mut rest = 0;
        while let Next::Item(_) = rx.next(Duration::from_millis(10)) {
            rest += 1;
        }
        assert!(rest <= 256, "{rest} left: at most the flooder's ring");
        assert_eq!(rx.next(Duration::from_millis(1)), Next::Closed);
        assert!(m.queue_overflow.with_label_values(&["flood"]).get() > 0);
        assert_eq!(m.queue_capacity.with_label_values(&["flood"]).get(), 512);
    }

    /// `spin_then_park`: an item pushed while the consumer spins is taken
    /// without a park; once the spin budget is spent the consumer parks and
    /// a push wakes it (the ring was made with a waker), long before the
    /// wait budget ends.
    #[test]
    fn spin_then_park_spins_then_is_woken_from_its_park() {
        let m = Metrics::new();
        for ring in [true, false] {
            let (tx, rx): (Box<dyn FnMut(u32) + Send>, Rx<u32>) = if ring {
                let (mut t, r) = spsc::<u32>("stp", 8, WaitKind::SpinThenPark, &m);
                (Box::new(move |v| t.try_send(v).unwrap()), r)
            } else {
                let (t, r) = queue::<u32>("stq", 8, WaitKind::SpinThenPark, &m);
                (Box::new(move |v| t.try_send(v).unwrap()), r)
            };
            let mut tx = tx;
            let mut rx = rx.with_spin(Duration::from_millis(2));
            // Spent spin budget, nothing came: Idle after the wait budget.
            let t0 = Instant::now();
            assert_eq!(rx.next(Duration::from_millis(20)), Next::Idle);
            assert!(
                t0.elapsed() >= Duration::from_millis(15),
                "parked for the rest"
            );
            let h = std::thread::spawn(move || {
                let t0 = Instant::now();
                let got = rx.next(Duration::from_secs(10));
                (got, t0.elapsed())
            });
            std::thread::sleep(Duration::from_millis(60));
            tx(9);
            let (got, waited) = h.join().unwrap();
            assert_eq!(got, Next::Item(9));
            assert!(
                waited < Duration::from_secs(5),
                "woken by the push after the spin, not the timeout"
            );
        }
    }

    /// A parked consumer of a fan-in wakes for a push into any ring.
    #[test]
    fn a_parked_fan_in_wakes_for_any_producer() {
        let m = Metrics::new();
        let mut f = FanIn::<u32>::new("p", 8, WaitKind::Park, &m);
        let _a = f.producer();
        let mut b = f.producer();
        let mut rx = f.into_rx();
        let t = std::thread::spawn(move || {
            let t0 = Instant::now();
            let got = rx.next(Duration::from_secs(10));
            (got, t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(b.try_send(7).is_ok());
        let (got, waited) = t.join().unwrap();
        assert_eq!(got, Next::Item(7));
        assert!(
            waited < Duration::from_secs(5),
            "woken by the push, not the timeout"
        );
    }
}
