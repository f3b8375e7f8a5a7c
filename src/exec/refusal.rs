//! Why a venue refused an order request, venue-agnostic: the typed reasons
//! every venue's error codes map onto, each with the `reason` label of
//! `qt_orders_total{status="rejected",reason}`. Which venue code means what
//! lives under `src/venue/<venue>/`; this file only names the reasons.

use std::fmt;

/// A venue's refusal of an order request (new or cancel), typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalReason {
    /// Not enough margin / balance for the order.
    MarginInsufficient,
    /// The order's notional is under the instrument's minimum.
    MinNotional,
    /// Price or quantity has more decimals than the instrument allows.
    Precision,
    /// Price or quantity breaks an instrument filter (tick, step, min/max
    /// qty, percent price, quantity <= 0, ...).
    Filter,
    /// The client order id is already used by an open order.
    DuplicateClientId,
    /// The venue does not know the order (cancel or query of a missing id).
    UnknownOrder,
    /// The request's timestamp fell outside the venue's window: the clock
    /// offset must be measured again before the next signed request.
    Timestamp,
    /// The venue's request or order rate limit was hit (e.g. HTTP 429).
    RateLimited,
    /// The venue banned the IP / key for a while (e.g. HTTP 418).
    Banned,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldTake,
    /// A reduce-only order would not reduce the position.
    ReduceOnly,
    /// A stop order would trigger immediately.
    WouldTrigger,
    /// The venue does not know the symbol.
    InvalidSymbol,
    /// Signature, API key, IP or permissions refused.
    Auth,
    /// A malformed request (missing / extra / bad parameter).
    BadRequest,
    /// The venue refused it for a reason it did not make typed (new-order
    /// rejected without a more precise code).
    VenueRejected,
    /// Refused here before sending (never reached the venue).
    LocalInvalid,
    /// A code this engine has no mapping for (the raw code is kept next to
    /// it by the venue layer).
    Other,
}

impl RefusalReason {
    /// Every reason, for tests and metric pre-registration.
    pub const ALL: [RefusalReason; 18] = [
        RefusalReason::MarginInsufficient,
        RefusalReason::MinNotional,
        RefusalReason::Precision,
        RefusalReason::Filter,
        RefusalReason::DuplicateClientId,
        RefusalReason::UnknownOrder,
        RefusalReason::Timestamp,
        RefusalReason::RateLimited,
        RefusalReason::Banned,
        RefusalReason::PostOnlyWouldTake,
        RefusalReason::ReduceOnly,
        RefusalReason::WouldTrigger,
        RefusalReason::InvalidSymbol,
        RefusalReason::Auth,
        RefusalReason::BadRequest,
        RefusalReason::VenueRejected,
        RefusalReason::LocalInvalid,
        RefusalReason::Other,
    ];

    /// The `reason` label of `qt_orders_total{status="rejected",reason}`.
    pub fn label(self) -> &'static str {
        match self {
            RefusalReason::MarginInsufficient => "margin_insufficient",
            RefusalReason::MinNotional => "min_notional",
            RefusalReason::Precision => "precision",
            RefusalReason::Filter => "filter",
            RefusalReason::DuplicateClientId => "duplicate_client_id",
            RefusalReason::UnknownOrder => "unknown_order",
            RefusalReason::Timestamp => "timestamp",
            RefusalReason::RateLimited => "rate_limited",
            RefusalReason::Banned => "banned",
            RefusalReason::PostOnlyWouldTake => "post_only_would_take",
            RefusalReason::ReduceOnly => "reduce_only",
            RefusalReason::WouldTrigger => "would_trigger",
            RefusalReason::InvalidSymbol => "invalid_symbol",
            RefusalReason::Auth => "auth",
            RefusalReason::BadRequest => "bad_request",
            RefusalReason::VenueRejected => "venue_rejected",
            RefusalReason::LocalInvalid => "local_invalid",
            RefusalReason::Other => "other",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_prometheus_safe_and_all_listed() {
        let mut seen = std::collections::BTreeSet::new();
        for r in RefusalReason::ALL {
            let l = r.label();
            assert!(!l.is_empty());
            assert!(
                l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{l}"
            );
            assert!(seen.insert(l), "label {l} used twice");
            assert_eq!(r.to_string(), l);
        }
        assert_eq!(seen.len(), RefusalReason::ALL.len());
    }
}
