//! Sums of timestamped values over several trailing time windows at once,
//! in one fixed-capacity ring (allocated at construction, never again).
//!
//! A value pushed at time `t` counts in window `w` while `now - w < t`, i.e.
//! the window is `(now - w, now]` (the convention of the trade-flow
//! feature). Times are made non-decreasing on push (a sample older than the
//! previous one takes the previous one's time). The capacity is rounded up
//! to a power of two (indexing is a mask, not a division). When the ring is full the
//! oldest sample is evicted from every window early and counted in
//! [`WindowSums::evicted`]. Integer sums use wrapping arithmetic, so adding
//! and later subtracting a value is exact; float sums are reset to exactly
//! 0 whenever a window empties, so rounding does not accumulate.

/// A value that can be summed and un-summed.
pub trait Summable: Copy {
    const ZERO: Self;
    fn add(self, v: Self) -> Self;
    fn sub(self, v: Self) -> Self;
}

impl Summable for i64 {
    const ZERO: i64 = 0;
    #[inline]
    fn add(self, v: i64) -> i64 {
        self.wrapping_add(v)
    }
    #[inline]
    fn sub(self, v: i64) -> i64 {
        self.wrapping_sub(v)
    }
}

impl Summable for f64 {
    const ZERO: f64 = 0.0;
    #[inline]
    fn add(self, v: f64) -> f64 {
        self + v
    }
    #[inline]
    fn sub(self, v: f64) -> f64 {
        self - v
    }
}

/// Trailing sums over `W` windows.
pub struct WindowSums<T: Summable, const W: usize> {
    windows_ms: [i64; W],
    /// (time, value) by sequence number modulo capacity.
    ring: Box<[(i64, T)]>,
    /// Capacity - 1 (the capacity is a power of two).
    mask: u64,
    /// Sequence number of the next push.
    next: u64,
    /// Per window: sequence number of its oldest sample, and its sum.
    tails: [u64; W],
    sums: [T; W],
    last_t: i64,
    evicted: u64,
}

impl<T: Summable, const W: usize> WindowSums<T, W> {
    /// `capacity` samples (at least 1, rounded up to a power of two), windows in ms.
    pub fn new(capacity: usize, windows_ms: [i64; W]) -> Self {
        let cap = capacity.max(1).next_power_of_two();
        WindowSums {
            windows_ms,
            ring: vec![(i64::MIN, T::ZERO); cap].into_boxed_slice(),
            mask: cap as u64 - 1,
            next: 0,
            tails: [0; W],
            sums: [T::ZERO; W],
            last_t: i64::MIN,
            evicted: 0,
        }
    }

    fn cap(&self) -> u64 {
        self.ring.len() as u64
    }

    #[inline]
    fn at(&self, seq: u64) -> (i64, T) {
        self.ring[(seq & self.mask) as usize]
    }

    /// Oldest sequence number still held by some window.
    fn oldest(&self) -> u64 {
        self.tails.iter().copied().min().unwrap_or(self.next)
    }

    /// Adds `v` at time `t` (clamped to the previous sample's time).
    #[inline]
    pub fn push(&mut self, t: i64, v: T) {
        let t = t.max(self.last_t);
        self.last_t = t;
        if self.next - self.oldest() == self.cap() {
            let old = self.oldest();
            let (_, ov) = self.at(old);
            for w in 0..W {
                if self.tails[w] == old {
                    self.sums[w] = self.sums[w].sub(ov);
                    self.tails[w] += 1;
                    if self.tails[w] == self.next {
                        self.sums[w] = T::ZERO;
                    }
                }
            }
            self.evicted += 1;
        }
        self.ring[(self.next & self.mask) as usize] = (t, v);
        self.next += 1;
        for s in self.sums.iter_mut() {
            *s = s.add(v);
        }
    }

    /// Drops samples that left their windows at time `now`.
    #[inline]
    pub fn expire(&mut self, now: i64) {
        for w in 0..W {
            let cutoff = now.saturating_sub(self.windows_ms[w]);
            while self.tails[w] < self.next {
                let (t, v) = self.at(self.tails[w]);
                if t > cutoff {
                    break;
                }
                self.sums[w] = self.sums[w].sub(v);
                self.tails[w] += 1;
            }
            if self.tails[w] == self.next {
                self.sums[w] = T::ZERO;
            }
        }
    }

    /// Sum of window `w` (as of the last [`WindowSums::expire`]).
    #[inline]
    pub fn sum(&self, w: usize) -> T {
        self.sums[w]
    }

    /// Samples in window `w`.
    pub fn count(&self, w: usize) -> u64 {
        self.next - self.tails[w]
    }

    /// Samples evicted early because the ring was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The window lengths (ms).
    pub fn windows_ms(&self) -> [i64; W] {
        self.windows_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_expire_per_window() {
        let mut s = WindowSums::<i64, 2>::new(8, [100, 1_000]);
        s.push(0, 5);
        s.push(50, 7);
        s.expire(50);
        assert_eq!((s.sum(0), s.sum(1)), (12, 12));
        s.expire(100); // the sample at 0 is exactly 100 old: out of (0, 100]
        assert_eq!((s.sum(0), s.sum(1)), (7, 12));
        s.expire(999);
        assert_eq!((s.sum(0), s.sum(1)), (0, 12));
        s.expire(1_000);
        assert_eq!((s.sum(0), s.sum(1)), (0, 7));
        s.expire(5_000);
        assert_eq!((s.sum(0), s.sum(1), s.count(1)), (0, 0, 0));
    }

    #[test]
    fn full_ring_evicts_oldest_and_late_samples_clamp() {
        // Capacity 3 becomes 4.
        let mut s = WindowSums::<i64, 1>::new(3, [1_000_000]);
        for i in 0..6 {
            s.push(i, 1 << i);
        }
        s.expire(10);
        // 1 + 2 evicted; 4 + 8 + 16 + 32 remain.
        assert_eq!((s.sum(0), s.count(0), s.evicted()), (60, 4, 2));
        let mut s = WindowSums::<f64, 1>::new(4, [10]);
        s.push(100, 1.0);
        s.push(5, 2.0); // clamped to 100
        s.expire(109);
        assert_eq!(s.sum(0), 3.0);
        s.expire(110);
        assert_eq!(s.sum(0), 0.0);
    }
}
