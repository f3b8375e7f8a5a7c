//! Binance USD-M futures: its adapter (`adapter`) and config section
//! (`config`), wire parsing (`parse`), the local-order-book sync rules
//! (`sync`), connection planning (`plan`) and the per-connection protocol
//! (`feed`), the REST request-weight facts (the depth weight table, the
//! used-weight header, the USD-M limit), the doctor's probes (`probe`),
//! signed order entry (`signed`, `orders`), what a failed order request
//! means (`refusal`), the user data stream (`user_data`) and the trading
//! session that drives them (`session`).

pub mod account;
pub mod adapter;
pub mod config;
mod fast;
pub mod feed;
pub mod msg;
pub mod order_wire;
pub mod orders;
pub mod parse;
pub mod plan;
pub mod probe;
pub mod refusal;
pub mod session;
pub mod signed;
pub mod sync;
pub mod user_data;

pub use feed::{BinanceFeed, BinanceFeedConfig, Streams, plan_connections, stream_url};
pub use parse::{DepthMsg, Msg, ParseError, Parser, SymbolMap};
pub use sync::{BookSync, SyncOut, SyncState};

/// Binance USD-M's REST request-weight limit per minute per IP.
pub const REST_WEIGHT_PER_MIN: u32 = 2400;

/// The response header carrying the IP's weight used this minute (lower-case).
pub const USED_WEIGHT_HEADER: &str = "x-mbx-used-weight-1m";

/// Request weight of `GET /fapi/v1/depth` by `limit`: 5–50 → 2, 100 → 5,
/// 500 → 10, 1000 → 20.
pub fn depth_weight(limit: u32) -> u32 {
    match limit {
        0..=50 => 2,
        51..=100 => 5,
        101..=500 => 10,
        _ => 20,
    }
}

/// The budget settings of a `[venues.binance]` config.
pub fn weight_config(
    per_min: u32,
    safety_pct: u32,
    window_ms: u64,
) -> crate::venue::weight::WeightConfig {
    crate::venue::weight::WeightConfig {
        limit: if per_min == 0 {
            REST_WEIGHT_PER_MIN
        } else {
            per_min
        },
        safety_pct,
        window: std::time::Duration::from_millis(window_ms.max(1)),
        used_header: Some(USED_WEIGHT_HEADER),
        retry_after_max: crate::venue::weight::DEFAULT_RETRY_AFTER_MAX,
    }
}

/// The one REST weight budget of an engine's Binance traffic (market data,
/// the testnet/live start and the trading session alike), created by
/// whichever asks first; its 429/418 stops are published to the venue gate
/// risk reads (`venue_budget_spent`).
pub fn shared_budget(
    shared: &std::sync::Arc<crate::pipeline::shared::Shared>,
    vc: &config::BinanceConfig,
) -> crate::venue::weight::RestBudget {
    use std::sync::{Arc, Weak};
    type Budgets = parking_lot::Mutex<
        Vec<(
            Weak<crate::pipeline::shared::Shared>,
            crate::venue::weight::RestBudget,
        )>,
    >;
    static BUDGETS: std::sync::OnceLock<Budgets> = std::sync::OnceLock::new();
    let mut list = BUDGETS.get_or_init(Default::default).lock();
    list.retain(|(w, _)| w.strong_count() > 0);
    if let Some((_, b)) = list
        .iter()
        .find(|(w, _)| w.upgrade().is_some_and(|s| Arc::ptr_eq(&s, shared)))
    {
        return b.clone();
    }
    let mut weight = weight_config(
        vc.rest_weight_per_min,
        vc.rest_weight_safety_pct,
        vc.rest_weight_window_ms,
    );
    weight.retry_after_max = std::time::Duration::from_secs(vc.rest_retry_after_max_secs);
    let b = crate::venue::weight::RestBudget::new(
        crate::core::Venue::Binance.as_str(),
        weight,
        &shared.metrics,
    );
    b.publish_stops(
        shared
            .venue_gates
            .venue(crate::core::Venue::Binance)
            .rest_stopped_until_ms
            .clone(),
    );
    list.push((Arc::downgrade(shared), b.clone()));
    b
}

#[cfg(test)]
mod weight_tests {
    #[test]
    fn depth_weights_follow_binance_table() {
        for (l, w) in [
            (5, 2),
            (10, 2),
            (20, 2),
            (50, 2),
            (100, 5),
            (500, 10),
            (1000, 20),
        ] {
            assert_eq!(super::depth_weight(l), w, "limit {l}");
        }
    }
}
