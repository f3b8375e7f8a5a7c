//! Exponential reconnect backoff with jitter. The delay resets only after a
//! connection stayed healthy for a while, so a flapping venue is not hammered.

use rand::{Rng, SeedableRng, rngs::SmallRng};
use std::time::Duration;

pub struct Backoff {
    min: Duration,
    max: Duration,
    cur: Duration,
    rng: SmallRng,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            cur: min,
            rng: SmallRng::from_os_rng(),
        }
    }

    /// The next delay: uniformly in [cur/2, cur], then cur doubles up to max.
    pub fn next_delay(&mut self) -> Duration {
        let hi = self.cur.as_millis().max(1) as u64;
        let d = Duration::from_millis(self.rng.random_range(hi / 2..=hi));
        self.cur = (self.cur * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.cur = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let d: Vec<u64> = (0..6).map(|_| b.next_delay().as_millis() as u64).collect();
        assert!((50..=100).contains(&d[0]), "{d:?}");
        assert!((100..=200).contains(&d[1]), "{d:?}");
        assert!((500..=1000).contains(&d[5]), "{d:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
