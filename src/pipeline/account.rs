//! A venue account **as the venue states it**: balances per asset and
//! positions per instrument, each with the venue time it was stated at.
//! Seeded by the startup preflight's snapshot, kept up to date by the
//! venue's trading session (its private stream's account updates and the
//! REST reads of its gap fills), read by the ops API (`/api/account`).
//!
//! It never moves the engine's positions (the fill path owns them): a
//! difference between the two is the session's alarm to raise. Bounded:
//! at most [`MAX_ASSETS`] assets (a new one beyond is refused, counted by
//! the writer) and one position per instrument of the table.

use crate::core::{InstrumentId, Money};
use std::collections::BTreeMap;

/// Most assets kept per venue account.
pub const MAX_ASSETS: usize = 64;

/// A new asset refused: the view already holds [`MAX_ASSETS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssetsFull;

impl std::fmt::Display for AssetsFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the account view already holds {MAX_ASSETS} assets")
    }
}

impl std::error::Error for AssetsFull {}

/// One asset's balance as the venue stated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetBalance {
    /// Wallet balance.
    pub wallet: Money,
    /// Cross wallet (stream) or available balance (REST), when stated.
    pub available: Option<Money>,
    /// Venue time (Unix ms) of the statement.
    pub at_ms: i64,
}

/// One instrument's position as the venue stated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatedPosition {
    /// Signed, at the instrument's quantity scale (< 0 short).
    pub qty: i64,
    /// Entry price as the venue wrote it (an average: finer than the tick).
    pub entry_price: String,
    /// Unrealized PnL, when stated.
    pub unrealized: Option<Money>,
    pub at_ms: i64,
}

/// Where the last statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountSource {
    #[default]
    None,
    /// The startup preflight's snapshot.
    Preflight,
    /// A private-stream account update.
    Stream,
    /// A REST read after a private-stream gap.
    GapFill,
}

impl AccountSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountSource::None => "none",
            AccountSource::Preflight => "preflight",
            AccountSource::Stream => "stream",
            AccountSource::GapFill => "gap_fill",
        }
    }
}

/// See the module doc.
#[derive(Debug, Clone, Default)]
pub struct AccountView {
    pub balances: BTreeMap<String, AssetBalance>,
    pub positions: BTreeMap<InstrumentId, StatedPosition>,
    /// Venue time of the latest statement applied (Unix ms; 0 = none).
    pub updated_ms: i64,
    pub source: AccountSource,
    /// Statements applied.
    pub updates: u64,
}

impl AccountView {
    fn touch(&mut self, at_ms: i64, source: AccountSource) {
        self.updated_ms = self.updated_ms.max(at_ms);
        self.source = source;
        self.updates += 1;
    }

    /// States `asset`'s balance at `at_ms`. An older statement than the
    /// one held changes nothing (`Ok(false)`); a new asset beyond
    /// [`MAX_ASSETS`] is refused (`Err`).
    pub fn set_balance(
        &mut self,
        asset: &str,
        b: AssetBalance,
        source: AccountSource,
    ) -> Result<bool, AssetsFull> {
        let at = b.at_ms;
        let full = self.balances.len() >= MAX_ASSETS;
        match self.balances.get_mut(asset) {
            Some(old) if old.at_ms > at => return Ok(false),
            Some(old) => *old = b,
            None if full => return Err(AssetsFull),
            None => {
                self.balances.insert(asset.to_string(), b);
            }
        }
        self.touch(at, source);
        Ok(true)
    }

    /// States `inst`'s position at `p.at_ms`; an older statement than the
    /// one held changes nothing (`false`).
    pub fn set_position(
        &mut self,
        inst: InstrumentId,
        p: StatedPosition,
        source: AccountSource,
    ) -> bool {
        let at = p.at_ms;
        match self.positions.get_mut(&inst) {
            Some(old) if old.at_ms > at => return false,
            Some(old) => *old = p,
            None => {
                self.positions.insert(inst, p);
            }
        }
        self.touch(at, source);
        true
    }

    /// The venue's stated position of `inst` (`None`: never stated).
    pub fn position(&self, inst: InstrumentId) -> Option<i64> {
        self.positions.get(&inst).map(|p| p.qty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bal(w: i64, at: i64) -> AssetBalance {
        AssetBalance {
            wallet: Money(w),
            available: None,
            at_ms: at,
        }
    }

    fn pos(q: i64, at: i64) -> StatedPosition {
        StatedPosition {
            qty: q,
            entry_price: "0".into(),
            unrealized: None,
            at_ms: at,
        }
    }

    #[test]
    fn later_statements_win_and_assets_are_bounded() {
        let mut v = AccountView::default();
        assert_eq!(
            v.set_balance("USDT", bal(5, 10), AccountSource::Stream),
            Ok(true)
        );
        // An older statement (a stream event buffered behind a REST read).
        assert_eq!(
            v.set_balance("USDT", bal(4, 9), AccountSource::Stream),
            Ok(false)
        );
        assert_eq!(v.balances["USDT"].wallet, Money(5));
        assert!(v.set_position(InstrumentId(0), pos(3, 10), AccountSource::GapFill));
        assert!(!v.set_position(InstrumentId(0), pos(1, 9), AccountSource::Stream));
        assert!(v.set_position(InstrumentId(0), pos(0, 10), AccountSource::Stream));
        assert_eq!(v.position(InstrumentId(0)), Some(0));
        assert_eq!(v.position(InstrumentId(1)), None);
        assert_eq!(
            (v.updated_ms, v.updates, v.source),
            (10, 3, AccountSource::Stream)
        );
        for i in 1..MAX_ASSETS {
            assert_eq!(
                v.set_balance(&format!("A{i}"), bal(1, 1), AccountSource::Stream),
                Ok(true)
            );
        }
        assert_eq!(
            v.set_balance("ONE_TOO_MANY", bal(1, 1), AccountSource::Stream),
            Err(AssetsFull)
        );
        assert_eq!(v.balances.len(), MAX_ASSETS);
    }
}
