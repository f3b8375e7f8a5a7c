//! The feature registry: every feature the engine can compute, by the name a
//! model file uses, in the fixed slot order of `Decision::features` and of
//! the array a model scores; and the [`FeaturePlan`] made when a model is
//! loaded, which says which slots the score stage computes.
//!
//! A model naming a feature not listed here is refused at load with that
//! name ([`FeaturePlan::from_names`]). The first eight slots are the
//! original features (their names unchanged); they form the [`BASE`] set,
//! always computed because every decision publishes them (docs/redis.md).
//! The others are computed only when the live model (or a model being
//! shadow-scored) names them.

use crate::core::N_FEATURES;

/// One registered feature.
#[derive(Debug, Clone, Copy)]
pub struct FeatureDef {
    /// The name model files use.
    pub name: &'static str,
    /// What it is, with its unit and window (docs/models.md "Features").
    pub doc: &'static str,
}

macro_rules! registry {
    ($( $slot:ident = $name:literal : $doc:literal ),* $(,)?) => {
        /// Slot of each feature in the feature array.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        enum Slot { $( $slot ),* }
        /// Slot constants (`idx::MID`, ...).
        pub mod idx {
            $( pub const $slot: usize = super::Slot::$slot as usize; )*
        }
        /// Every feature, in slot order.
        pub const FEATURES: [FeatureDef; N_FEATURES] = [
            $( FeatureDef { name: $name, doc: $doc } ),*
        ];
    };
}

registry! {
    MID = "mid": "mid price (quote units)",
    MICROPRICE_OFFSET_BPS = "microprice_offset_bps": "size-weighted microprice minus mid, bps of mid",
    SPREAD_BPS = "spread_bps": "best ask minus best bid, bps of mid",
    BOOK_IMBALANCE = "book_imbalance": "(bid qty - ask qty) / (bid qty + ask qty) over the top 5 levels",
    TRADE_FLOW_IMBALANCE = "trade_flow_imbalance": "(taker buy qty - taker sell qty) / total over model.trade_flow_window_ms",
    RETURN_BPS = "return_bps": "mid return over model.return_horizon_ms, bps",
    CROSS_VENUE_MID_DIFF_BPS = "cross_venue_mid_diff_bps": "mid minus the consolidated best bid/ask mid, bps of mid",
    LEAD_LAG_RETURN_BPS = "lead_lag_return_bps": "leading venue's 500 ms return minus this venue's, bps",
    BOOK_IMBALANCE_5 = "book_imbalance_5": "book imbalance over the top 5 levels (= book_imbalance)",
    BOOK_IMBALANCE_10 = "book_imbalance_10": "book imbalance over the top 10 levels",
    OFI_100MS = "ofi_100ms": "order-flow imbalance (Cont-Kukanov-Stoikov, best level) summed over 100 ms, base qty",
    OFI_1S = "ofi_1s": "order-flow imbalance summed over 1 s, base qty",
    OFI_10S = "ofi_10s": "order-flow imbalance summed over 10 s, base qty",
    REALIZED_VOL_1S_BPS = "realized_vol_1s_bps": "sqrt of the sum of squared mid log returns over 1 s, bps",
    REALIZED_VOL_10S_BPS = "realized_vol_10s_bps": "sqrt of the sum of squared mid log returns over 10 s, bps",
    TRADE_INTENSITY_1S = "trade_intensity_1s": "public trades per second over 1 s",
    TRADE_INTENSITY_10S = "trade_intensity_10s": "public trades per second over 10 s",
    SPREAD_TICKS = "spread_ticks": "best ask minus best bid, in ticks",
    MICROPRICE_OFFSET_TICKS = "microprice_offset_ticks": "microprice minus mid, in ticks",
    CROSS_VENUE_BASIS_BPS = "cross_venue_basis_bps": "mid minus the mean mid of the other in-sync venues of the underlying, bps of theirs",
    IS_LEAD_VENUE = "is_lead_venue": "1 when this venue currently leads its underlying (book::consolidated), else 0",
    TIME_SINCE_LAST_TRADE_MS = "time_since_last_trade_ms": "exchange ms since the last public trade, capped at 60000 (60000 before any)",
}

/// Feature names in slot order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = {
    let mut out = [""; N_FEATURES];
    let mut i = 0;
    while i < N_FEATURES {
        out[i] = FEATURES[i].name;
        i += 1;
    }
    out
};

const _: () = assert!(N_FEATURES <= 32, "the feature mask is a u32");

/// Slot of a feature name, if registered.
pub fn feature_index(name: &str) -> Option<usize> {
    FEATURE_NAMES.iter().position(|n| *n == name)
}

/// The original eight features, always computed (published with every decision).
pub const BASE: u32 = (1 << 8) - 1;

/// Every feature.
pub const ALL: u32 = if N_FEATURES == 32 {
    u32::MAX
} else {
    (1 << N_FEATURES) - 1
};

/// A model named a feature the registry does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature \"{name}\" (known: {known})", known = FEATURE_NAMES.join(", "))]
pub struct UnknownFeature {
    /// Position of the name in the model's list.
    pub position: usize,
    pub name: String,
}

/// Which feature slots the score stage computes: a bit per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeaturePlan {
    mask: u32,
}

impl Default for FeaturePlan {
    fn default() -> Self {
        FeaturePlan { mask: BASE }
    }
}

impl FeaturePlan {
    /// Every registered feature.
    pub const fn all() -> FeaturePlan {
        FeaturePlan { mask: ALL }
    }

    /// Only the given slots (no base set; for tests and benches).
    pub const fn from_mask(mask: u32) -> FeaturePlan {
        FeaturePlan { mask: mask & ALL }
    }

    /// The base set plus the named features; the first unknown name is an error.
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<FeaturePlan, UnknownFeature> {
        let mut mask = BASE;
        for (position, name) in names.into_iter().enumerate() {
            match feature_index(name) {
                Some(k) => mask |= 1 << k,
                None => {
                    return Err(UnknownFeature {
                        position,
                        name: name.to_string(),
                    });
                }
            }
        }
        Ok(FeaturePlan { mask })
    }

    /// Features of both plans (live and shadow model).
    pub const fn union(self, other: FeaturePlan) -> FeaturePlan {
        FeaturePlan {
            mask: self.mask | other.mask,
        }
    }

    pub const fn mask(self) -> u32 {
        self.mask
    }

    #[inline]
    pub const fn has(self, slot: usize) -> bool {
        slot < 32 && self.mask & (1 << slot) != 0
    }

    /// Names of the planned features, in slot order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FEATURE_NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.has(*i))
            .map(|(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_slots_match() {
        for (i, n) in FEATURE_NAMES.iter().enumerate() {
            assert_eq!(feature_index(n), Some(i), "{n}");
            assert!(!n.is_empty() && !FEATURES[i].doc.is_empty());
        }
        assert_eq!(FEATURE_NAMES[idx::MID], "mid");
        assert_eq!(FEATURE_NAMES[idx::OFI_10S], "ofi_10s");
        assert_eq!(
            FEATURE_NAMES[idx::TIME_SINCE_LAST_TRADE_MS],
            "time_since_last_trade_ms"
        );
        // The original eight keep their names and slots.
        assert_eq!(
            &FEATURE_NAMES[..8],
            &[
                "mid",
                "microprice_offset_bps",
                "spread_bps",
                "book_imbalance",
                "trade_flow_imbalance",
                "return_bps",
                "cross_venue_mid_diff_bps",
                "lead_lag_return_bps",
            ]
        );
    }

    #[test]
    fn plan_from_names() {
        let p = FeaturePlan::from_names(["ofi_1s", "spread_ticks"]).unwrap();
        assert!(p.has(idx::OFI_1S) && p.has(idx::SPREAD_TICKS) && p.has(idx::MID));
        assert!(!p.has(idx::OFI_10S) && !p.has(idx::BOOK_IMBALANCE_10));
        assert_eq!(p.names().count(), 10);
        let e = FeaturePlan::from_names(["ofi_1s", "ofi_2s"]).unwrap_err();
        assert_eq!((e.position, e.name.as_str()), (1, "ofi_2s"));
        assert!(
            e.to_string()
                .starts_with("unknown feature \"ofi_2s\" (known: mid, ")
        );
        assert_eq!(FeaturePlan::all().names().count(), N_FEATURES);
        let u = FeaturePlan::from_mask(1 << idx::OFI_1S).union(FeaturePlan::from_mask(1));
        assert_eq!(u.mask(), (1 << idx::OFI_1S) | 1);
    }
}
