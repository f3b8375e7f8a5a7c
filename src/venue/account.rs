//! The account side of the venues behind the seam, for the start of
//! testnet and live: which venues have order entry in this build, and each
//! one's preflight (clock offset, account reachable with the configured
//! key, balances, positions, open orders, recent trades) as a
//! venue-agnostic [`VenueSnapshot`]. The composition root calls these and
//! never names a venue.

use crate::config::Config;
use crate::core::venue_error::Disposition;
use crate::core::{InstrumentTable, Venue};
use crate::exec::reconcile::VenueSnapshot;
use crate::pipeline::shared::Shared;
use crate::venue::adapter::SimTrading;
use crate::venue::binance::account::PreflightError;
use crate::venue::binance::signed::CredentialsError;
use std::sync::Arc;

/// Why a venue's account side (preflight, startup cancel) failed. Each one
/// refuses the start of testnet/live ([`AccountError::disposition`]).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("venue {0} has no order entry in this build")]
    NoOrderEntry(Venue),
    #[error("no [venues.{0}] section")]
    NoSection(Venue),
    #[error(
        "venues.{0}.api_key_env is empty and the built-in simulator (whose key would be used) is not running"
    )]
    NoSimulator(Venue),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Preflight(#[from] PreflightError),
}

impl AccountError {
    /// What the caller does: the account cannot be traded.
    pub fn disposition(&self) -> Disposition {
        Disposition::StopTrading
    }
}

/// Whether `v` can take orders in this build.
pub fn has_order_entry(v: Venue) -> bool {
    matches!(v, Venue::Binance)
}

/// The last 4 characters of an API key, the rest masked (`****abcd`).
pub fn redact_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 4 {
        return "****".into();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// What the preflight of one venue found.
#[derive(Debug, Clone)]
pub struct Account {
    pub venue: Venue,
    /// The API key, all but its last 4 characters masked.
    pub key_hint: String,
    /// The signed REST base the account was reached at.
    pub rest_base: String,
    pub snapshot: VenueSnapshot,
}

/// Runs `v`'s preflight (blocking the calling thread, its own runtime).
/// The error is one line naming what failed (never a secret).
/// `sim`: the built-in simulator's trading endpoints and key, used, as by
/// the trading session, when the venue's trading endpoint and key variable
/// are both empty.
pub fn preflight(
    cfg: &Config,
    v: Venue,
    table: &InstrumentTable,
    shared: &Arc<Shared>,
    sim: Option<&SimTrading>,
) -> Result<Account, AccountError> {
    match v {
        Venue::Binance => binance(cfg, table, shared, sim),
        other => Err(AccountError::NoOrderEntry(other)),
    }
}

/// Cancels `orders` at `v` (reconciliation's `cancel` policy), with the
/// clock offset the preflight measured. Returns how many the venue canceled.
pub fn cancel_orders(
    cfg: &Config,
    v: Venue,
    clock_offset_ms: i64,
    orders: &[crate::exec::reconcile::VenueOrder],
    sim: Option<&SimTrading>,
) -> Result<usize, AccountError> {
    if orders.is_empty() {
        return Ok(0);
    }
    match v {
        Venue::Binance => {
            use super::binance::{account, signed::SignedClient};
            let (base, creds, _) = binance_endpoint(cfg, sim)?;
            let client = SignedClient::new(&base, creds, None).with_clock_offset(clock_offset_ms);
            Ok(runtime()?.block_on(account::cancel_all(&client, orders))?)
        }
        other => Err(AccountError::NoOrderEntry(other)),
    }
}

/// The venue's order id and filled quantity of each of `orders` (client
/// id, symbol, qty scale), queried by client id at `v` (the journal's open
/// orders the venue did not list at start); orders the venue does not know
/// are left out.
pub fn query_filled(
    cfg: &Config,
    v: Venue,
    clock_offset_ms: i64,
    orders: &[(String, String, u8)],
    sim: Option<&SimTrading>,
) -> Result<Vec<crate::exec::missed_fills::VenueFilled>, AccountError> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    match v {
        Venue::Binance => {
            use super::binance::{account, signed::SignedClient};
            let (base, creds, _) = binance_endpoint(cfg, sim)?;
            let client = SignedClient::new(&base, creds, None).with_clock_offset(clock_offset_ms);
            Ok(runtime()?.block_on(account::query_filled(&client, orders))?)
        }
        other => Err(AccountError::NoOrderEntry(other)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AccountError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AccountError::Runtime)
}

/// Binance's signed REST base, credentials and API key: the trading
/// endpoint (`trade_rest_url`, else the market-data `rest_url`) with the key
/// from the named variables; with both the endpoint and the key variable
/// empty, the built-in simulator's (the trading session's rule).
fn binance_endpoint(
    cfg: &Config,
    sim: Option<&SimTrading>,
) -> Result<(String, super::binance::signed::ApiCredentials, String), AccountError> {
    use super::binance::signed::ApiCredentials;
    let vc = cfg
        .venues
        .get::<super::binance::config::BinanceConfig>()
        .ok_or(AccountError::NoSection(Venue::Binance))?;
    if vc.trade_rest_url.is_empty() && vc.api_key_env.is_empty() {
        let s = sim.ok_or(AccountError::NoSimulator(Venue::Binance))?;
        let creds = ApiCredentials::new(s.api_key.clone(), s.api_secret.clone());
        return Ok((s.rest_url.clone(), creds, s.api_key.clone()));
    }
    let creds = ApiCredentials::from_env(&vc.api_key_env, &vc.api_secret_env)?;
    let key = std::env::var(&vc.api_key_env).unwrap_or_default();
    let base = if vc.trade_rest_url.is_empty() {
        vc.rest_url.clone()
    } else {
        vc.trade_rest_url.clone()
    };
    Ok((base, creds, key))
}

fn binance(
    cfg: &Config,
    table: &InstrumentTable,
    shared: &Arc<Shared>,
    sim: Option<&SimTrading>,
) -> Result<Account, AccountError> {
    let vc = cfg
        .venues
        .get::<super::binance::config::BinanceConfig>()
        .ok_or(AccountError::NoSection(Venue::Binance))?;
    let (base, creds, key) = binance_endpoint(cfg, sim)?;
    // The budget the market data and the session share.
    let budget = super::binance::shared_budget(shared, vc);
    let rt = runtime()?;
    let snapshot = rt.block_on(super::binance::account::preflight(
        &base,
        creds,
        Some(budget),
        table,
    ))?;
    Ok(Account {
        venue: Venue::Binance,
        key_hint: redact_key(key.trim()),
        rest_base: base,
        snapshot,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_redacted_to_their_last_four() {
        assert_eq!(super::redact_key("abcdefgh1234"), "****1234");
        assert_eq!(super::redact_key("abc"), "****");
    }
}
