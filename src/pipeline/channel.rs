//! Bounded stage-to-stage queues (crossbeam, lock-free on the fast path) with
//! an overflow counter and a depth gauge each, and the configurable way a
//! stage waits for its next item: spin, spin-then-yield, or park.

use crate::config::WaitKind;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use prometheus::{IntCounter, IntGauge};
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
    inner: Receiver<T>,
    wait: WaitKind,
    depth: IntGauge,
    polls: u32,
}

impl<T> Rx<T> {
    /// Next item, waiting at most about `budget` (then [`Next::Idle`]).
    #[inline]
    pub fn next(&mut self, budget: Duration) -> Next<T> {
        self.polls = self.polls.wrapping_add(1);
        if self.polls & 255 == 0 {
            self.depth.set(self.inner.len() as i64);
        }
        match self.inner.try_recv() {
            Ok(v) => return Next::Item(v),
            Err(TryRecvError::Disconnected) => return Next::Closed,
            Err(TryRecvError::Empty) => {}
        }
        self.depth.set(0);
        match self.wait {
            WaitKind::Park => match self.inner.recv_timeout(budget) {
                Ok(v) => Next::Item(v),
                Err(RecvTimeoutError::Timeout) => Next::Idle,
                Err(RecvTimeoutError::Disconnected) => Next::Closed,
            },
            WaitKind::Spin | WaitKind::Yield => {
                let start = Instant::now();
                let mut spins: u32 = 0;
                loop {
                    match self.inner.try_recv() {
                        Ok(v) => return Next::Item(v),
                        Err(TryRecvError::Disconnected) => return Next::Closed,
                        Err(TryRecvError::Empty) => {}
                    }
                    spins = spins.wrapping_add(1);
                    if self.wait == WaitKind::Yield && spins > 64 {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                    if spins & 1023 == 0 && start.elapsed() >= budget {
                        return Next::Idle;
                    }
                }
            }
        }
    }

    /// Takes an item only if one is ready now.
    #[inline]
    pub fn try_next(&self) -> Option<T> {
        self.inner.try_recv().ok()
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// Reads a queue's current length from another thread (the ops watchdog),
/// whatever the consumer is doing, so a stage stuck mid-event is still seen
/// with input waiting.
pub type DepthProbe = Box<dyn Fn() -> usize + Send + Sync>;

impl<T: Send + 'static> Rx<T> {
    /// A [`DepthProbe`] for this queue.
    pub fn depth_probe(&self) -> DepthProbe {
        let r = self.inner.clone();
        Box::new(move || r.len())
    }
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
            inner: r,
            wait,
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
        for wait in [WaitKind::Park, WaitKind::Spin, WaitKind::Yield] {
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
        assert_eq!(m.queue_overflow.with_label_values(&["t"]).get(), 3);
    }
}
