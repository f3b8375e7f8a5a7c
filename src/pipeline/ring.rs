//! A bounded single-producer single-consumer ring: the stage hop for a
//! queue with one producer (one per feed connection into the book stage,
//! and book → score → risk → exec), cheaper than a multi-producer channel
//! because neither side ever contends on a shared index.
//!
//! Invariants:
//! - `tail` (next slot to write) is written only by the producer, `head`
//!   (next slot to read) only by the consumer; `tail - head` is the number
//!   of items held and never exceeds the capacity (a power of two).
//! - A slot in `head..tail` holds an initialised item; any other slot is
//!   uninitialised. The producer publishes a slot with a release store of
//!   `tail`; the consumer takes it after an acquire load of `tail`, and hands
//!   the slot back with a release store of `head`.
//! - Each side caches the other's index and reloads it only when the ring
//!   looks full (producer) or empty (consumer), so an uncontended hop touches
//!   one shared cache line per side.
//! - A consumer that parks first raises `sleeping`, then rechecks `tail`; a
//!   producer of a ring made with a [`Waker`] publishes, then checks
//!   `sleeping`. A sequentially consistent fence on both sides makes at
//!   least one of them see the other, so a wake-up is never lost.
//! - `push` never blocks: a full ring hands the item back.
//! - Items left in the ring when both sides are gone are dropped once.

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Duration;

struct Shared<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    producer_gone: AtomicBool,
    consumer_gone: AtomicBool,
    /// Wakes the consumer (shared by every ring one consumer reads); `None`:
    /// the consumer polls and never parks.
    waker: Option<Arc<Waker>>,
}

/// How a parked consumer is woken: shared by every ring that one consumer
/// reads, so a push into any of them wakes it.
#[derive(Default)]
pub struct Waker {
    /// The consumer is parked (or about to park) waiting for an item.
    sleeping: AtomicBool,
    /// The consumer's thread, set before it parks.
    waiter: Mutex<Option<Thread>>,
}

impl Waker {
    pub fn new() -> Arc<Waker> {
        Arc::new(Waker::default())
    }

    /// Parks the calling thread unless `ready()` says an item (or a close)
    /// is there, until a producer wakes it or `timeout` passes. Spurious
    /// wake-ups are possible: poll again.
    pub fn park(&self, timeout: Duration, ready: impl Fn() -> bool) {
        {
            let mut w = self.waiter.lock().unwrap_or_else(|e| e.into_inner());
            if w.as_ref()
                .is_none_or(|t| t.id() != std::thread::current().id())
            {
                *w = Some(std::thread::current());
            }
        }
        self.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !ready() {
            std::thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Called by a producer after publishing: wakes the consumer if it is
    /// parked.
    #[inline]
    fn after_publish(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        if let Some(t) = self
            .waiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            t.unpark();
        }
    }
}

// SAFETY: a slot is accessed by one side at a time, handed over through the
// release/acquire pairs on `head` and `tail` (see the module invariants), so
// sharing the ring between the two threads is sound when `T: Send`.
unsafe impl<T: Send> Sync for Shared<T> {}
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
        for i in head..tail {
            // SAFETY: slots in head..tail are initialised (module invariant)
            // and nobody else can reach them any more.
            unsafe { (*self.slots[i & self.mask].get()).assume_init_drop() };
        }
    }
}

/// Why [`Producer::push`] handed the item back.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError<T> {
    Full(T),
    /// The consumer is gone.
    Closed(T),
}

/// The writing side (one thread at a time; not `Clone`).
pub struct Producer<T> {
    ring: Arc<Shared<T>>,
    tail: usize,
    cached_head: usize,
}

/// The reading side (one thread at a time; not `Clone`).
pub struct Consumer<T> {
    ring: Arc<Shared<T>>,
    head: usize,
    cached_tail: usize,
}

/// A ring of at least `capacity` slots (rounded up to a power of two, at
/// least 2). With a `waker` the consumer may park ([`Consumer::park`] or
/// [`Waker::park`]), so each push checks whether to wake it (one fence per
/// push); without one a push is a slot write and a store, and the consumer
/// must poll.
pub fn ring<T>(capacity: usize, waker: Option<Arc<Waker>>) -> (Producer<T>, Consumer<T>) {
    let cap = capacity.max(2).next_power_of_two();
    let slots = (0..cap)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect::<Vec<_>>()
        .into_boxed_slice();
    let ring = Arc::new(Shared {
        slots,
        mask: cap - 1,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        producer_gone: AtomicBool::new(false),
        consumer_gone: AtomicBool::new(false),
        waker,
    });
    (
        Producer {
            ring: ring.clone(),
            tail: 0,
            cached_head: 0,
        },
        Consumer {
            ring,
            head: 0,
            cached_tail: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Appends `v`, or hands it back when the ring is full or the consumer
    /// is gone. Never blocks.
    #[inline]
    pub fn push(&mut self, v: T) -> Result<(), PushError<T>> {
        let r = &*self.ring;
        if self.tail.wrapping_sub(self.cached_head) > r.mask {
            self.cached_head = r.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.cached_head) > r.mask {
                if r.consumer_gone.load(Ordering::Relaxed) {
                    return Err(PushError::Closed(v));
                }
                return Err(PushError::Full(v));
            }
        }
        // SAFETY: the slot at `tail` is outside head..tail (the ring is not
        // full), so the consumer does not read it until `tail` is published.
        unsafe { (*r.slots[self.tail & r.mask].get()).write(v) };
        self.tail = self.tail.wrapping_add(1);
        r.tail.store(self.tail, Ordering::Release);
        if let Some(w) = &r.waker {
            w.after_publish();
        }
        Ok(())
    }

    /// Items in the ring now.
    pub fn len(&self) -> usize {
        self.tail
            .wrapping_sub(self.ring.head.load(Ordering::Acquire))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// A reader of the ring's length for another owner (an injector's
    /// pacing, while the producer itself is inside a protocol).
    pub fn len_probe(&self) -> impl Fn() -> usize + Send + Sync + 'static
    where
        T: Send + 'static,
    {
        let r = self.ring.clone();
        move || {
            let tail = r.tail.load(Ordering::Acquire);
            let head = r.head.load(Ordering::Acquire);
            tail.wrapping_sub(head).min(r.mask + 1)
        }
    }

    /// Whether the consumer is gone.
    pub fn is_closed(&self) -> bool {
        self.ring.consumer_gone.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.ring.producer_gone.store(true, Ordering::Release);
        // A parked consumer sees the close at once.
        if let Some(w) = &self.ring.waker {
            w.after_publish();
        }
    }
}

/// What [`Consumer::pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<T> {
    Item(T),
    Empty,
    /// The producer is gone and the ring is drained.
    Closed,
}

impl<T> Consumer<T> {
    /// Takes the oldest item if there is one.
    #[inline]
    pub fn pop(&mut self) -> Pop<T> {
        let r = &*self.ring;
        if self.head == self.cached_tail {
            self.cached_tail = r.tail.load(Ordering::Acquire);
            if self.head == self.cached_tail {
                if r.producer_gone.load(Ordering::Acquire) {
                    // The producer's last push happened before its close.
                    self.cached_tail = r.tail.load(Ordering::Acquire);
                    if self.head == self.cached_tail {
                        return Pop::Closed;
                    }
                } else {
                    return Pop::Empty;
                }
            }
        }
        // SAFETY: head < tail: the slot was published by the producer's
        // release store of `tail`, read here after an acquire load.
        let v = unsafe { (*r.slots[self.head & r.mask].get()).assume_init_read() };
        self.head = self.head.wrapping_add(1);
        r.head.store(self.head, Ordering::Release);
        Pop::Item(v)
    }

    /// Whether a pop may find something (an item or the close); after the
    /// waker's fence, this is what decides whether parking is safe.
    pub fn ready(&self) -> bool {
        let r = &*self.ring;
        r.tail.load(Ordering::Relaxed) != self.head || r.producer_gone.load(Ordering::Relaxed)
    }

    /// Parks the calling thread until an item may be there, the producer
    /// closes, or `timeout` passes (spurious wake-ups are possible: pop
    /// again). A ring made without a waker just sleeps `timeout`.
    pub fn park(&mut self, timeout: Duration) {
        match self.ring.waker.clone() {
            Some(w) => w.park(timeout, || self.ready()),
            None => std::thread::sleep(timeout),
        }
    }

    /// Items in the ring now.
    pub fn len(&self) -> usize {
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reader of the ring's length for another thread (the watchdog).
    pub fn len_probe(&self) -> impl Fn() -> usize + Send + Sync + 'static
    where
        T: Send + 'static,
    {
        let r = self.ring.clone();
        move || {
            let tail = r.tail.load(Ordering::Acquire);
            let head = r.head.load(Ordering::Acquire);
            tail.wrapping_sub(head).min(r.mask + 1)
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.ring.consumer_gone.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn full_empty_close_and_capacity() {
        let (mut p, mut c) = ring::<u32>(3, None);
        assert_eq!(p.capacity(), 4);
        for i in 0..4 {
            assert_eq!(p.push(i), Ok(()));
        }
        assert_eq!(p.push(9), Err(PushError::Full(9)));
        assert_eq!(p.len(), 4);
        assert_eq!(c.pop(), Pop::Item(0));
        assert_eq!(p.push(4), Ok(()));
        for i in 1..5 {
            assert_eq!(c.pop(), Pop::Item(i));
        }
        assert_eq!(c.pop(), Pop::Empty);
        assert_eq!(p.push(5), Ok(()));
        drop(p);
        assert_eq!(c.pop(), Pop::Item(5), "items pushed before the close");
        assert_eq!(c.pop(), Pop::Closed);
    }

    #[test]
    fn a_push_to_a_dropped_consumer_is_closed_once_full() {
        let (mut p, c) = ring::<u32>(2, None);
        drop(c);
        assert!(p.is_closed());
        let _ = p.push(1);
        let _ = p.push(2);
        assert_eq!(p.push(3), Err(PushError::Closed(3)));
    }

    /// Every item arrives once, in order, across threads, through many
    /// wrap-arounds of a small ring, with both waiting styles.
    #[test]
    fn two_threads_see_every_item_once_in_order() {
        for notify in [false, true] {
            let (mut p, mut c) = ring::<u64>(8, notify.then(Waker::new));
            const N: u64 = 200_000;
            let t = std::thread::spawn(move || {
                let mut i = 0;
                while i < N {
                    match p.push(i) {
                        Ok(()) => i += 1,
                        Err(PushError::Full(_)) => std::hint::spin_loop(),
                        Err(PushError::Closed(_)) => panic!("consumer gone"),
                    }
                }
            });
            let mut want = 0;
            loop {
                match c.pop() {
                    Pop::Item(v) => {
                        assert_eq!(v, want);
                        want += 1;
                    }
                    Pop::Empty if notify => c.park(Duration::from_millis(50)),
                    Pop::Empty => std::hint::spin_loop(),
                    Pop::Closed => break,
                }
            }
            assert_eq!(want, N);
            t.join().unwrap();
        }
    }

    /// A parked consumer is woken by a push (the park times out only after
    /// a long time, so a lost wake-up would show as a slow test and a count
    /// of timeouts).
    #[test]
    fn a_parked_consumer_is_woken_by_each_push() {
        let (mut p, mut c) = ring::<u64>(4, Some(Waker::new()));
        let t = std::thread::spawn(move || {
            let mut slow_wakes = 0;
            let mut got = 0;
            while got < 2_000 {
                match c.pop() {
                    Pop::Item(_) => got += 1,
                    Pop::Empty => {
                        let t0 = std::time::Instant::now();
                        c.park(Duration::from_secs(5));
                        if t0.elapsed() >= Duration::from_secs(5) {
                            slow_wakes += 1;
                        }
                    }
                    Pop::Closed => break,
                }
            }
            (got, slow_wakes)
        });
        for i in 0..2_000 {
            while p.push(i).is_err() {
                std::thread::yield_now();
            }
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let (got, slow) = t.join().unwrap();
        assert_eq!(got, 2_000);
        assert_eq!(slow, 0, "a push did not wake the parked consumer");
    }

    /// Items still in the ring are dropped once when both sides are gone.
    #[test]
    fn leftover_items_are_dropped_once() {
        static DROPS: AtomicU64 = AtomicU64::new(0);
        struct D;
        impl Drop for D {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (mut p, mut c) = ring::<D>(8, None);
        for _ in 0..5 {
            assert!(p.push(D).is_ok());
        }
        drop(c.pop());
        drop(p);
        drop(c);
        assert_eq!(DROPS.load(Ordering::Relaxed), 5);
    }
}
