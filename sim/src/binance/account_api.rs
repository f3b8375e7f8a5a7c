//! The simulated account's signed endpoints beyond single orders
//! (protocols.md §1.5, §5.6): `GET /fapi/v1/userTrades` (weight 5),
//! `GET /fapi/v3/balance` and `GET /fapi/v3/account` (weight 5 each),
//! `POST /fapi/v1/countdownCancelAll` (weight 10; `countdownTime` ms, 0
//! disarms; when it elapses without a re-arm every open order of the symbol
//! is canceled, with its events) and `DELETE /fapi/v1/allOpenOrders`
//! (weight 1). Also the timer task that fires the countdowns and expires
//! listenKeys (every [`TIMER_TICK`], as Binance checks about every 10 ms).

use super::account::usdt;
use super::auth::{Params, Refusal, bad, missing, only, param, symbol_of};
use super::events::unrealized;
use super::matching::cancel_all;
use super::order_api::{fmt_scaled, signed};
use super::orders::{DeskState, margin_used, to_usdt};
use crate::decimal::unix_ms;
use crate::server::json_ok;
use crate::state::Inner;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

type Shared = Arc<Inner>;

/// How often countdowns and listenKey expiry are checked.
pub const TIMER_TICK: Duration = Duration::from_millis(10);

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/fapi/v1/userTrades", get(user_trades))
        .route("/fapi/v3/balance", get(balance))
        .route("/fapi/v3/account", get(account))
        .route("/fapi/v1/countdownCancelAll", post(countdown))
        .route("/fapi/v1/allOpenOrders", delete(cancel_all_open))
}

type Reply = fn(&Inner, &Params) -> Result<Response, Refusal>;

/// One signed endpoint of `weight` answered by `reply`.
async fn serve(
    inner: Shared,
    peer: SocketAddr,
    headers: HeaderMap,
    q: Option<String>,
    body: Bytes,
    weight: u64,
    reply: Reply,
) -> Response {
    signed(&inner, peer, weight, &headers, q.as_deref(), &body, reply)
}

macro_rules! endpoint {
    ($name:ident, $weight:expr, $reply:ident) => {
        async fn $name(
            State(inner): State<Shared>,
            ConnectInfo(peer): ConnectInfo<SocketAddr>,
            headers: HeaderMap,
            RawQuery(q): RawQuery,
            body: Bytes,
        ) -> Response {
            serve(inner, peer, headers, q, body, $weight, $reply).await
        }
    };
}

endpoint!(user_trades, 5, user_trades_reply);
endpoint!(balance, 5, balance_reply);
endpoint!(account, 5, account_reply);
endpoint!(countdown, 10, countdown_reply);
endpoint!(cancel_all_open, 1, cancel_all_reply);

fn int_param(p: &Params, name: &str) -> Result<Option<i64>, Refusal> {
    match param(p, name) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| missing(name)),
    }
}

fn user_trades_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(
        p,
        &[
            "symbol",
            "orderId",
            "startTime",
            "endTime",
            "fromId",
            "limit",
        ],
    )?;
    let sym = symbol_of(inner, p)?;
    let limit = int_param(p, "limit")?.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(bad(-1130, "Data sent for parameter 'limit' is not valid."));
    }
    let order_id = int_param(p, "orderId")?;
    let from_id = int_param(p, "fromId")?;
    let (start, end) = (int_param(p, "startTime")?, int_param(p, "endTime")?);
    let info = &inner.syms[sym].info;
    let (ps, qs) = (u32::from(info.price_scale), u32::from(info.qty_scale));
    let st = inner.orders.state.lock();
    let matching = st.trades.iter().filter(|t| {
        t.sym == sym
            && order_id.is_none_or(|o| t.order_id == o)
            && from_id.is_none_or(|f| t.id >= f)
            && start.is_none_or(|s| t.time >= s)
            && end.is_none_or(|e| t.time <= e)
    });
    let limit = limit as usize;
    // From an id: the first `limit` from there; otherwise the latest `limit`.
    let picked: Vec<_> = if from_id.is_some() {
        matching.take(limit).collect()
    } else {
        let all: Vec<_> = matching.collect();
        all[all.len().saturating_sub(limit)..].to_vec()
    };
    let list: Vec<serde_json::Value> = picked
        .iter()
        .map(|t| {
            json!({
                "buyer": t.buy,
                "commission": usdt(t.commission),
                "commissionAsset": t.commission_asset.as_deref().unwrap_or("USDT"),
                "id": t.id,
                "maker": t.maker,
                "orderId": t.order_id,
                "price": info.px(t.px),
                "qty": info.qty(t.qty),
                "quoteQty": fmt_scaled(i128::from(t.px) * i128::from(t.qty), ps + qs, ps + qs),
                "realizedPnl": usdt(t.realized),
                "side": if t.buy { "BUY" } else { "SELL" },
                "positionSide": "BOTH",
                "symbol": info.symbol,
                "time": t.time,
            })
        })
        .collect();
    drop(st);
    Ok(json_ok(serde_json::Value::Array(list).to_string()))
}

/// Wallet, unrealized PnL (all positions at the mid), margins, available.
struct Totals {
    wallet: i128,
    upnl: i128,
    pos_im: i128,
    order_im: i128,
}

impl Totals {
    fn of(inner: &Inner, st: &DeskState) -> Totals {
        let upnl = st
            .positions
            .iter()
            .map(|(&sym, p)| {
                let info = &inner.syms[sym].info;
                let mark = inner.mid(sym).unwrap_or(0);
                unrealized(
                    p,
                    mark,
                    u32::from(info.price_scale),
                    u32::from(info.qty_scale),
                )
            })
            .sum();
        let (pos_im, order_im) = margin_used(inner, st);
        Totals {
            wallet: st.account.wallet,
            upnl,
            pos_im,
            order_im,
        }
    }

    fn available(&self) -> i128 {
        (self.wallet + self.upnl - self.pos_im - self.order_im).max(0)
    }
}

fn balance_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, &[])?;
    let st = inner.orders.state.lock();
    let t = Totals::of(inner, &st);
    let body = json!([{
        "accountAlias": "SgsRmYSgFzAuXq",
        "asset": "USDT",
        "balance": usdt(t.wallet),
        "crossWalletBalance": usdt(t.wallet),
        "crossUnPnl": usdt(t.upnl),
        "availableBalance": usdt(t.available()),
        "maxWithdrawAmount": usdt(t.available()),
        "marginAvailable": true,
        "updateTime": st.account.update_time,
    }]);
    drop(st);
    Ok(json_ok(body.to_string()))
}

fn account_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, &[])?;
    let st = inner.orders.state.lock();
    let t = Totals::of(inner, &st);
    let (w, u, a) = (usdt(t.wallet), usdt(t.upnl), usdt(t.available()));
    let im = usdt(t.pos_im + t.order_im);
    let mut positions = Vec::new();
    let mut syms: Vec<usize> = st.positions.keys().copied().collect();
    syms.sort_unstable();
    for sym in syms {
        let pos = st.positions[&sym];
        if pos.amt == 0 {
            continue;
        }
        let info = &inner.syms[sym].info;
        let (ps, qs) = (u32::from(info.price_scale), u32::from(info.qty_scale));
        let mark = inner.mid(sym).unwrap_or(0);
        let notional = i128::from(pos.amt) * i128::from(mark);
        positions.push(json!({
            "symbol": info.symbol,
            "positionSide": "BOTH",
            "positionAmt": info.qty(pos.amt),
            "unrealizedProfit": usdt(unrealized(&pos, mark, ps, qs)),
            "isolatedMargin": "0",
            "notional": usdt(to_usdt(inner, sym, notional)),
            "isolatedWallet": "0",
            "initialMargin": usdt(st.account.margin(to_usdt(inner, sym, pos.cost))),
            "maintMargin": "0",
            "updateTime": pos.update_time,
        }));
    }
    let body = json!({
        "totalInitialMargin": im,
        "totalMaintMargin": "0.00000000",
        "totalWalletBalance": w,
        "totalUnrealizedProfit": u,
        "totalMarginBalance": usdt(t.wallet + t.upnl),
        "totalPositionInitialMargin": usdt(t.pos_im),
        "totalOpenOrderInitialMargin": usdt(t.order_im),
        "totalCrossWalletBalance": w,
        "totalCrossUnPnl": u,
        "availableBalance": a,
        "maxWithdrawAmount": a,
        "assets": [{
            "asset": "USDT",
            "walletBalance": w,
            "unrealizedProfit": u,
            "marginBalance": usdt(t.wallet + t.upnl),
            "maintMargin": "0.00000000",
            "initialMargin": im,
            "positionInitialMargin": usdt(t.pos_im),
            "openOrderInitialMargin": usdt(t.order_im),
            "crossWalletBalance": w,
            "crossUnPnl": u,
            "availableBalance": a,
            "maxWithdrawAmount": a,
            "updateTime": st.account.update_time,
        }],
        "positions": positions,
    });
    drop(st);
    Ok(json_ok(body.to_string()))
}

fn countdown_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, &["symbol", "countdownTime"])?;
    let sym = symbol_of(inner, p)?;
    let Some(ms) = int_param(p, "countdownTime")?.filter(|ms| *ms >= 0) else {
        return Err(missing("countdownTime"));
    };
    let mut st = inner.orders.state.lock();
    if ms == 0 {
        st.countdowns.remove(&sym);
    } else {
        st.countdowns
            .insert(sym, Instant::now() + Duration::from_millis(ms as u64));
        inner
            .order_faults
            .countdown_arms
            .fetch_add(1, Ordering::Relaxed);
    }
    drop(st);
    let symbol = &inner.syms[sym].info.symbol;
    Ok(json_ok(
        json!({ "symbol": symbol, "countdownTime": ms.to_string() }).to_string(),
    ))
}

fn cancel_all_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, &["symbol"])?;
    let sym = symbol_of(inner, p)?;
    let mut st = inner.orders.state.lock();
    let mut out = Vec::new();
    cancel_all(inner, &mut st, Some(sym), unix_ms(), &mut out);
    inner.user.emit(&out);
    drop(st);
    Ok(json_ok(
        r#"{"code":200,"msg":"The operation of cancel all open order is done."}"#.into(),
    ))
}

/// Fires the countdowns that elapsed (canceling their symbols' open orders).
fn fire_countdowns(inner: &Inner) {
    let mut st = inner.orders.state.lock();
    if st.countdowns.is_empty() {
        return;
    }
    let now = Instant::now();
    let due: Vec<usize> = st
        .countdowns
        .iter()
        .filter(|(_, t)| now >= **t)
        .map(|(s, _)| *s)
        .collect();
    let mut out = Vec::new();
    for sym in due {
        st.countdowns.remove(&sym);
        let n = cancel_all(inner, &mut st, Some(sym), unix_ms(), &mut out);
        inner
            .order_faults
            .countdown_triggers
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(symbol = %inner.syms[sym].info.symbol, canceled = n, "sim: countdownCancelAll fired");
    }
    inner.user.emit(&out);
}

/// The timer task: countdowns and listenKey expiry.
pub(crate) async fn run_timers(inner: Shared) {
    let mut tick = tokio::time::interval(TIMER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        fire_countdowns(&inner);
        inner.user.check_expiry();
    }
}
