//! `[venues]`: the config sections of every venue, one field per venue (the
//! registry's config line; the adapters, in `registry::ADAPTERS`, read
//! them). Apart from the registry so that the adapter trait can name it
//! without importing the registry that lists the adapters.

use super::{binance, bybit, okx};
use serde::{Deserialize, Serialize};

/// `[venues]`: one strict, optional section per venue (each defined in its
/// venue's folder, with only its own keys besides the shared ones).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VenuesConfig {
    pub binance: Option<binance::config::BinanceConfig>,
    pub bybit: Option<bybit::config::BybitConfig>,
    pub okx: Option<okx::config::OkxConfig>,
}
