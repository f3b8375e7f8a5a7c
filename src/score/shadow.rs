//! Shadow scoring: a candidate model scores the same feature vectors as the
//! live model, on the score thread, without its decisions going anywhere.
//! [`ShadowStats`] keeps the agreement rate (same action) and the Pearson
//! correlation of the two scores, updated per decision in O(1) without
//! allocation (Welford's co-moment update, stable for long runs).

use crate::core::Action;

/// Agreement and score correlation of a candidate against the live model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShadowStats {
    n: u64,
    agree: u64,
    mean_live: f64,
    mean_cand: f64,
    m2_live: f64,
    m2_cand: f64,
    co: f64,
}

impl ShadowStats {
    /// Adds one decision: each model's action and score.
    #[inline]
    pub fn add(&mut self, live: (Action, f32), cand: (Action, f32)) {
        self.n += 1;
        if live.0 == cand.0 {
            self.agree += 1;
        }
        let (x, y) = (live.1 as f64, cand.1 as f64);
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let n = self.n as f64;
        let dx = x - self.mean_live;
        self.mean_live += dx / n;
        let dy = y - self.mean_cand;
        self.mean_cand += dy / n;
        self.co += dx * (y - self.mean_cand);
        self.m2_live += dx * (x - self.mean_live);
        self.m2_cand += dy * (y - self.mean_cand);
    }

    /// Decisions scored by both.
    pub fn decisions(&self) -> u64 {
        self.n
    }

    /// Share of decisions where both chose the same action (`None` before any).
    pub fn agreement(&self) -> Option<f64> {
        (self.n > 0).then(|| self.agree as f64 / self.n as f64)
    }

    /// Pearson correlation of the scores; `None` with fewer than two
    /// decisions or when either score has not varied.
    pub fn correlation(&self) -> Option<f64> {
        if self.n < 2 || self.m2_live <= 0.0 || self.m2_cand <= 0.0 {
            return None;
        }
        let r = self.co / (self.m2_live * self.m2_cand).sqrt();
        r.is_finite().then(|| r.clamp(-1.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn agreement_and_correlation_by_hand() {
        let mut s = ShadowStats::default();
        assert_eq!((s.agreement(), s.correlation()), (None, None));
        s.add((Action::Buy, 1.0), (Action::Buy, 2.0));
        s.add((Action::Hold, 2.0), (Action::Sell, 4.0));
        s.add((Action::Sell, 3.0), (Action::Sell, 6.0));
        s.add((Action::Hold, 4.0), (Action::Hold, 8.0));
        assert_eq!(s.agreement(), Some(0.75));
        assert!((s.correlation().unwrap() - 1.0).abs() < 1e-12);
        let mut s = ShadowStats::default();
        for (x, y) in [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)] {
            s.add((Action::Hold, x), (Action::Hold, y));
        }
        assert!((s.correlation().unwrap() + 1.0).abs() < 1e-12);
        // x = 1,2,3 ; y = 1,3,2 -> r = 0.5 (cov 0.5 / (1 * 1)).
        let mut s = ShadowStats::default();
        for (x, y) in [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0)] {
            s.add((Action::Hold, x), (Action::Hold, y));
        }
        assert!((s.correlation().unwrap() - 0.5).abs() < 1e-12);
        // A constant score has no correlation.
        let mut s = ShadowStats::default();
        s.add((Action::Hold, 1.0), (Action::Hold, 0.5));
        s.add((Action::Hold, 2.0), (Action::Hold, 0.5));
        assert_eq!(s.correlation(), None);
    }

    #[test]
    fn streaming_correlation_equals_two_pass() {
        for seed in 0..20 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut s = ShadowStats::default();
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            for _ in 0..rng.random_range(2..2_000) {
                let x: f32 = rng.random_range(-1.0..1.0);
                let y: f32 = 0.3 * x + rng.random_range(-1.0..1.0);
                s.add((Action::Hold, x), (Action::Hold, y));
                xs.push(x as f64);
                ys.push(y as f64);
            }
            let n = xs.len() as f64;
            let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
            let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
            let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
            let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
            let r = cov / (vx * vy).sqrt();
            assert!((s.correlation().unwrap() - r).abs() < 1e-9, "seed {seed}");
        }
    }
}
