//! The daily trade cap: EXECUTEs per UTC day and trading mode, counted in
//! the day ledger (see `ledger`).

use super::super::Governor;
use crate::core::SkipReason;

impl Governor {
    pub(in crate::risk::governor) fn check_daily_cap(&mut self) -> Option<SkipReason> {
        let cap = self.cfg.daily_trade_cap;
        (self.today().trades >= cap).then_some(SkipReason::DailyTradeCap)
    }

    /// Counts an EXECUTE in today's ledger; warns once at
    /// `daily_cap_warn_ratio` of the cap.
    pub(in crate::risk::governor) fn count_trade(&mut self) {
        let cap = self.cfg.daily_trade_cap;
        let ratio = self.cfg.daily_cap_warn_ratio;
        let c = self.today();
        c.trades = c.trades.saturating_add(1);
        let trades = c.trades;
        if !self.cap_warned && trades as f64 >= (cap as f64 * ratio).ceil() {
            self.cap_warned = true;
            if let Some(m) = &self.metrics {
                m.cap_warning.set(1);
            }
            tracing::warn!(
                trades,
                cap,
                mode = self.mode.as_str(),
                "daily trade cap: {}% reached",
                (ratio * 100.0).round()
            );
        }
    }
}
