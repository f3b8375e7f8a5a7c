//! Binance USD-M account preflight and reconciliation fetch: the server
//! clock offset from `GET /fapi/v1/time` (round-trip midpoint), then, with
//! the offset applied to every signed timestamp, balances
//! (`GET /fapi/v3/balance`, the account-reachable check: it needs a valid
//! key and signature), positions (`GET /fapi/v3/positionRisk`), open
//! orders (`GET /fapi/v1/openOrders`, all symbols) and recent trades of
//! each traded symbol (`GET /fapi/v1/userTrades`). Every signed request
//! waits for its weight in the venue's REST budget, so the fetch is paced
//! within it. Replies are scaled at the instruments' decimals into the
//! venue-agnostic [`VenueSnapshot`] (`exec::reconcile`); a value that does
//! not fit is a typed error, never rounded.

use super::orders::{OrderResponse, PositionRisk, SignedError};
use super::signed::SignedClient;
use crate::core::{InstrumentTable, Money, Side, Venue, parse_decimal};
use crate::exec::reconcile::{Balance, VenueOrder, VenuePosition, VenueSnapshot, VenueTrade};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// One entry of `GET /fapi/v3/balance` (unknown fields ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceEntry {
    pub asset: String,
    pub balance: String,
    #[serde(default)]
    pub available_balance: String,
}

/// One entry of `GET /fapi/v1/userTrades`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTrade {
    pub id: i64,
    pub order_id: i64,
    pub symbol: String,
    pub side: String,
    pub price: String,
    pub qty: String,
    pub commission: String,
    pub commission_asset: String,
    pub time: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    server_time: i64,
}

/// Why the preflight could not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreflightError {
    /// `GET /fapi/v1/time` failed: the clock offset is not measured.
    Clock(String),
    /// A signed call failed (`what` names it).
    Account { what: &'static str, err: String },
    /// A reply value that does not fit the instrument's scale.
    Value { what: &'static str, value: String },
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreflightError::Clock(e) => {
                write!(f, "clock offset not measured (GET /fapi/v1/time): {e}")
            }
            PreflightError::Account { what, err } => {
                write!(f, "account not reachable ({what}): {err}")
            }
            PreflightError::Value { what, value } => {
                write!(
                    f,
                    "reconciliation not finished: {what} `{value}` does not fit"
                )
            }
        }
    }
}

impl std::error::Error for PreflightError {}

/// Clock offset (server minus local, ms) and round trip (ms), from one
/// `GET /fapi/v1/time`: the server's time is taken as the midpoint.
async fn measure_clock(http: &reqwest::Client, base: &str) -> Result<(i64, i64), String> {
    let url = format!("{}/fapi/v1/time", base.trim_end_matches('/'));
    let t0 = crate::core::clock::unix_ms();
    let resp = http
        .get(&url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let t1 = crate::core::clock::unix_ms();
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let st: ServerTime = serde_json::from_slice(&body).map_err(|e| format!("reply: {e}"))?;
    let mid = t0 + (t1 - t0) / 2;
    Ok((st.server_time - mid, t1 - t0))
}

fn account_err(what: &'static str) -> impl Fn(SignedError) -> PreflightError {
    move |e| PreflightError::Account {
        what,
        err: e.to_string(),
    }
}

fn side(s: &str, what: &'static str) -> Result<Side, PreflightError> {
    match s {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(PreflightError::Value {
            what,
            value: s.chars().take(16).collect(),
        }),
    }
}

fn dec(s: &str, scale: u8, what: &'static str) -> Result<i64, PreflightError> {
    parse_decimal(s.trim().as_bytes(), scale).map_err(|_| PreflightError::Value {
        what,
        value: s.chars().take(40).collect(),
    })
}

fn money(s: &str, what: &'static str) -> Result<Money, PreflightError> {
    Money::parse(s).ok_or_else(|| PreflightError::Value {
        what,
        value: s.chars().take(40).collect(),
    })
}

/// Scales the venue's replies into a snapshot. Orders and trades of
/// symbols that are not configured are left out (another strategy's);
/// positions of such symbols are named in `unconfigured_positions`.
pub fn to_snapshot(
    table: &InstrumentTable,
    balances: &[BalanceEntry],
    positions: &[PositionRisk],
    open: &[OrderResponse],
    trades: Option<&[UserTrade]>,
) -> Result<VenueSnapshot, PreflightError> {
    let mut s = VenueSnapshot {
        venue: Some(Venue::Binance),
        ..Default::default()
    };
    for b in balances {
        s.balances.push(Balance {
            asset: b.asset.clone(),
            wallet: money(&b.balance, "balance")?,
            available: if b.available_balance.is_empty() {
                Money::ZERO
            } else {
                money(&b.available_balance, "availableBalance")?
            },
        });
    }
    for p in positions {
        let Some(id) = table.find(Venue::Binance, &p.symbol) else {
            if p.position_amt.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
                s.unconfigured_positions.push(p.symbol.clone());
            }
            continue;
        };
        let qty = dec(&p.position_amt, table.get(id).qty_scale, "positionAmt")?;
        if qty != 0 {
            s.positions.push(VenuePosition {
                inst: id,
                symbol: p.symbol.clone(),
                qty,
                entry_price: p.entry_price.clone(),
            });
        }
    }
    for o in open {
        let Some(id) = table.find(Venue::Binance, &o.symbol) else {
            continue;
        };
        let i = table.get(id);
        s.open_orders.push(VenueOrder {
            client_id: o.client_order_id.clone(),
            venue_order_id: o.order_id.to_string(),
            inst: id,
            symbol: o.symbol.clone(),
            side: side(&o.side, "side")?,
            qty: dec(&o.orig_qty, i.qty_scale, "origQty")?,
            filled: dec(&o.executed_qty, i.qty_scale, "executedQty")?,
            price: dec(&o.price, i.price_scale, "price")?,
            reduce_only: o.reduce_only,
        });
    }
    if let Some(trades) = trades {
        let mut out = Vec::with_capacity(trades.len());
        for t in trades {
            let Some(id) = table.find(Venue::Binance, &t.symbol) else {
                continue;
            };
            let i = table.get(id);
            out.push(VenueTrade {
                trade_id: t.id,
                venue_order_id: t.order_id.to_string(),
                inst: id,
                side: side(&t.side, "side")?,
                qty: dec(&t.qty, i.qty_scale, "qty")?,
                price: dec(&t.price, i.price_scale, "price")?,
                fee: money(&t.commission, "commission")?,
                fee_asset: t.commission_asset.clone(),
                time_ms: t.time,
            });
        }
        s.recent_trades = Some(out);
    }
    Ok(s)
}

/// Clock samples taken at start; the one with the shortest round trip wins.
pub const CLOCK_SAMPLES: usize = 3;

/// Measures the clock ([`CLOCK_SAMPLES`] tries, shortest round trip), then
/// fetches the account with a signed client that carries the offset.
/// Returns the snapshot (offset and round trip in it).
pub async fn preflight(
    rest_base: &str,
    creds: super::signed::ApiCredentials,
    budget: Option<crate::venue::weight::RestBudget>,
    table: &InstrumentTable,
) -> Result<VenueSnapshot, PreflightError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| PreflightError::Clock(e.to_string()))?;
    let mut best: Option<(i64, i64)> = None;
    let mut last_err = String::new();
    for _ in 0..CLOCK_SAMPLES {
        if let Some(b) = &budget {
            b.acquire(1, None).await;
        }
        match measure_clock(&http, rest_base).await {
            Ok((off, rtt)) if best.is_none_or(|(_, r)| rtt < r) => best = Some((off, rtt)),
            Ok(_) => {}
            Err(e) => last_err = e,
        }
    }
    let (offset, rtt) = best.ok_or(PreflightError::Clock(last_err))?;
    let client = SignedClient::new(rest_base, creds, budget).with_clock_offset(offset);
    let mut snap = fetch(&client, table).await?;
    snap.clock_offset_ms = offset;
    snap.clock_rtt_ms = rtt;
    Ok(snap)
}

/// Cancels `orders` by their venue order ids (the `cancel` policy for
/// orders the journal lacks). An order the venue no longer knows
/// (`-2011`/`-2013`: filled or canceled meanwhile) counts as done; any
/// other failure is returned.
pub async fn cancel_all(
    client: &SignedClient,
    orders: &[crate::exec::reconcile::VenueOrder],
) -> Result<usize, PreflightError> {
    use super::orders::ApiErrorKind;
    use super::signed::OrderRef;
    let mut n = 0;
    for o in orders {
        let id = o
            .venue_order_id
            .parse::<i64>()
            .map(OrderRef::OrderId)
            .unwrap_or_else(|_| OrderRef::ClientOrderId(o.client_id.clone()));
        match client.cancel_order(&o.symbol, &id).await {
            Ok(_) => n += 1,
            Err(SignedError::Api(e)) if e.kind == ApiErrorKind::UnknownOrder => {}
            Err(e) => {
                return Err(PreflightError::Account {
                    what: "DELETE /fapi/v1/order",
                    err: format!("{} ({}): {e}", o.client_id, o.symbol),
                });
            }
        }
    }
    Ok(n)
}

/// Queries each of `orders` (client id, symbol, qty scale) by client id
/// (`GET /fapi/v1/order`): the venue's order id and filled quantity of
/// every one the venue knows (an unknown one, `-2013`, is left out).
pub async fn query_filled(
    client: &SignedClient,
    orders: &[(String, String, u8)],
) -> Result<Vec<crate::exec::missed_fills::VenueFilled>, PreflightError> {
    use super::orders::ApiErrorKind;
    use super::signed::OrderRef;
    let mut out = Vec::new();
    for (cid, symbol, qty_scale) in orders {
        match client
            .query_order(symbol, &OrderRef::ClientOrderId(cid.clone()))
            .await
        {
            Ok(o) => out.push(crate::exec::missed_fills::VenueFilled {
                client_id: cid.clone(),
                venue_order_id: o.order_id.to_string(),
                filled: dec(&o.executed_qty, *qty_scale, "executedQty")?,
            }),
            Err(SignedError::Api(e)) if e.kind == ApiErrorKind::UnknownOrder => {}
            Err(e) => {
                return Err(PreflightError::Account {
                    what: "GET /fapi/v1/order",
                    err: format!("{cid} ({symbol}): {e}"),
                });
            }
        }
    }
    Ok(out)
}

/// Trades fetched per symbol at start (the venue's default page).
pub const TRADES_LIMIT: u32 = 100;

/// The whole preflight: clock, then the signed calls through `client`
/// (which must carry the measured offset: see [`preflight`]).
pub async fn fetch(
    client: &SignedClient,
    table: &InstrumentTable,
) -> Result<VenueSnapshot, PreflightError> {
    let balances: Vec<BalanceEntry> = client
        .get_signed("/fapi/v3/balance", &[], 5)
        .await
        .map_err(account_err("GET /fapi/v3/balance"))?;
    let positions = client
        .position_risk(None)
        .await
        .map_err(account_err("GET /fapi/v3/positionRisk"))?;
    let open = client
        .open_orders(None)
        .await
        .map_err(account_err("GET /fapi/v1/openOrders"))?;
    let mut trades = Vec::new();
    for i in table.of_venue(Venue::Binance) {
        let page: Vec<UserTrade> = client
            .get_signed(
                "/fapi/v1/userTrades",
                &[
                    ("symbol", i.symbol.clone()),
                    ("limit", TRADES_LIMIT.to_string()),
                ],
                5,
            )
            .await
            .map_err(account_err("GET /fapi/v1/userTrades"))?;
        trades.extend(page);
    }
    to_snapshot(table, &balances, &positions, &open, Some(&trades))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Instrument, InstrumentId};

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                "BTCUSDT",
                "BTCUSDT",
                "0.10",
                "0.001",
                5.0,
            )
            .unwrap(),
        );
        t
    }

    fn order(json: &str) -> OrderResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn replies_scale_exactly_or_fail_typed() {
        let t = table();
        let o = order(
            r#"{"orderId":7,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"qtx","price":"61800.10","avgPrice":"0","origQty":"0.005","executedQty":"0.001","cumQuote":"0","timeInForce":"GTC","type":"LIMIT","side":"BUY","updateTime":1}"#,
        );
        let other = order(
            r#"{"orderId":8,"symbol":"DOGEUSDT","status":"NEW","clientOrderId":"x","price":"1","avgPrice":"0","origQty":"1","executedQty":"0","cumQuote":"0","timeInForce":"GTC","type":"LIMIT","side":"BUY","updateTime":1}"#,
        );
        let pos: Vec<PositionRisk> = serde_json::from_str(
            r#"[{"symbol":"BTCUSDT","positionAmt":"-0.003","entryPrice":"61000.0","markPrice":"0","unRealizedProfit":"0"},
                {"symbol":"DOGEUSDT","positionAmt":"12","entryPrice":"1","markPrice":"0","unRealizedProfit":"0"}]"#,
        )
        .unwrap();
        let bal: Vec<BalanceEntry> = serde_json::from_str(
            r#"[{"accountAlias":"x","asset":"USDT","balance":"100000.00000000","availableBalance":"99990.5"}]"#,
        )
        .unwrap();
        let s = to_snapshot(&t, &bal, &pos, &[o.clone(), other], Some(&[])).unwrap();
        assert_eq!(s.open_orders.len(), 1);
        let v = &s.open_orders[0];
        assert_eq!(
            (v.qty, v.filled, v.price, v.side),
            (5, 1, 6_180_010, Side::Buy)
        );
        assert_eq!(s.positions[0].qty, -3);
        assert_eq!(s.unconfigured_positions, vec!["DOGEUSDT".to_string()]);
        assert_eq!(s.balances[0].wallet, Money::parse("100000").unwrap());
        // Too fine for the lot: a typed error, not rounded.
        let mut bad = o.clone();
        bad.orig_qty = "0.0051".into();
        let e = to_snapshot(&t, &[], &[], &[bad], None).unwrap_err();
        assert!(
            matches!(
                e,
                PreflightError::Value {
                    what: "origQty",
                    ..
                }
            ),
            "{e}"
        );
        let mut bad = o;
        bad.side = "SIDEWAYS".into();
        assert!(to_snapshot(&t, &[], &[], &[bad], None).is_err());
    }
}
