//! The control side of the simulated Binance account: applying the order
//! venue's [`Fault`]s (new-order answers, 429 storm, listenKey expiry,
//! private stream drop, duplicated and reordered events), its counters in
//! [`SimStats`], the account settings (wallet, leverage, fee rates,
//! listenKey validity), steering the market, and the `/sim/...` routes for
//! all of them:
//!
//! | route | effect |
//! |---|---|
//! | `POST /sim/fault/new_order_503_placed/{n}` | [`Fault::NewOrder503Placed`] |
//! | `POST /sim/fault/new_order_500_not_placed/{n}` | [`Fault::NewOrder500NotPlaced`] |
//! | `POST /sim/fault/new_order_delay/{n}/{ms}` | [`Fault::NewOrderDelay`] |
//! | `POST /sim/fault/storm_429/{n}/{ms}` | [`Fault::RateLimitStorm`] |
//! | `POST /sim/fault/listen_key_expire` | [`Fault::ExpireListenKey`] |
//! | `POST /sim/fault/private_drop` | [`Fault::DropPrivateStreams`] |
//! | `POST /sim/fault/stream_duplicate/{n}` | [`Fault::StreamDuplicate`] |
//! | `POST /sim/fault/stream_reorder/{n}` | [`Fault::StreamReorder`] |
//! | `POST /sim/listen_key/validity/{ms}` | listenKey validity (active and later keys) |
//! | `POST /sim/account/wallet/{usdt}` | wallet balance |
//! | `POST /sim/account/leverage/{n}` | leverage |
//! | `POST /sim/account/order_limits/{per_10s}/{per_min}` | the account's order-rate limits (also in `exchangeInfo.rateLimits`) |
//! | `POST /sim/account/fees/{maker}/{taker}` | fee rates (`0.0002`) |
//! | `POST /sim/account/commission_asset/{asset}/{per_usdt}` | commissions charged in `asset` (`BNB`: `per_usdt` of it per USDT of commission, e.g. `0.0015`), not from the USDT wallet; `USDT` (any rate) charges USDT again |
//! | `POST /sim/market/{symbol}/steer/{price}` | move the symbol's best bid to about `price` |
//! | `GET /sim/account` | [`SimAccount`] |
//! | `GET /sim/orders/requests[/{clientOrderId}]` | new-order requests per client order id |

use crate::binance::account::{USDT_SCALE, usdt};
use crate::binance::binance_error;
use crate::binance::events::entry_price;
use crate::control::ok;
use crate::decimal::parse_decimal;
use crate::server::json_ok;
use crate::state::Inner;
use crate::{Fault, SimStats};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

type Shared = Arc<Inner>;

/// The simulated account's state, for tests (`SimHandle::account`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimAccount {
    /// Wallet balance in USDT (8 decimals), as Binance writes it.
    pub wallet: String,
    /// Non-zero positions: (symbol, signed amount, entry price) as written.
    pub positions: Vec<(String, String, String)>,
    /// Open orders' client order ids, oldest first.
    pub open_orders: Vec<String>,
    /// Trades kept.
    pub trades: usize,
    /// Commissions charged since start, per asset (`USDT`, `BNB`): (asset,
    /// amount with 8 decimals), by asset.
    pub commissions: Vec<(String, String)>,
}

/// Applies the order venue's faults (the others are in `control`).
pub(crate) fn inject(inner: &Inner, fault: Fault) {
    let f = &inner.order_faults;
    match fault {
        Fault::NewOrder503Placed(n) => f.arm_placed_503(n),
        Fault::NewOrder500NotPlaced(n) => f.arm_not_placed_500(n),
        Fault::NewOrderDelay { orders, delay } => f.arm_delay(orders, delay),
        Fault::RateLimitStorm { requests, duration } => f.start_storm(requests, duration),
        Fault::ExpireListenKey => inner.user.expire_now(),
        Fault::DropPrivateStreams => inner.user.drop_connections(),
        Fault::StreamDuplicate(n) => inner.user.duplicate_left.store(n, Ordering::SeqCst),
        Fault::StreamReorder(n) => f.reorder_left.store(n, Ordering::SeqCst),
        other => tracing::warn!(?other, "sim: not an order venue fault"),
    }
}

/// `base` with the order venue's counters filled in.
pub(crate) fn order_stats(inner: &Inner, base: SimStats) -> SimStats {
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (f, u) = (&inner.order_faults, &inner.user);
    SimStats {
        new_order_requests: l(&f.new_order_requests),
        untracked_client_ids: l(&f.untracked_client_ids),
        orders_placed: l(&f.orders_placed),
        faulted_new_order_answers: l(&f.faulted_answers),
        fills: l(&f.fills),
        listen_keys_created: l(&u.keys_created),
        listen_keys_kept_alive: l(&u.keys_kept_alive),
        listen_keys_expired: l(&u.keys_expired),
        private_connections_total: l(&u.connections_total),
        private_connections_open: l(&u.connections_open),
        private_connections_refused: l(&u.connections_refused),
        private_events_sent: l(&u.events_sent),
        private_slow_disconnects: l(&u.slow_disconnects),
        countdown_arms: l(&f.countdown_arms),
        countdown_triggers: l(&f.countdown_triggers),
        new_orders_rate_limited: l(&f.orders_rate_limited),
        ..base
    }
}

impl Inner {
    /// Sets the wallet balance (USDT decimal string); false if unparsable.
    pub fn set_wallet(&self, usdt_amount: &str) -> bool {
        let Ok(v) = parse_decimal(usdt_amount.as_bytes(), USDT_SCALE as u8) else {
            return false;
        };
        self.orders.state.lock().account.wallet = i128::from(v);
        true
    }

    /// Sets the account's order limits per 10 s and per minute (at least
    /// 1 each); `exchangeInfo.rateLimits` publishes them.
    pub fn set_order_limits(&self, per_10s: usize, per_min: usize) {
        self.orders.state.lock().limits = crate::binance::orders::OrderLimits {
            per_10s: per_10s.max(1),
            per_min: per_min.max(1),
        };
    }

    /// Sets the leverage (at least 1).
    pub fn set_leverage(&self, leverage: u32) {
        self.orders.state.lock().account.leverage = i64::from(leverage.max(1));
    }

    /// Sets the fee rates (decimal strings, `0.0002`); false if unparsable.
    pub fn set_fees(&self, maker: &str, taker: &str) -> bool {
        let p = |s: &str| parse_decimal(s.as_bytes(), USDT_SCALE as u8).ok();
        let (Some(m), Some(t)) = (p(maker), p(taker)) else {
            return false;
        };
        let mut st = self.orders.state.lock();
        st.account.maker_rate = i128::from(m);
        st.account.taker_rate = i128::from(t);
        true
    }

    /// Charges commissions in `asset` from now on, `per_usdt` of it (a
    /// decimal string, > 0) per USDT of commission (Binance's fee discount
    /// in BNB); `USDT` charges them in USDT again. False for a bad asset
    /// code (1 to 15 ASCII letters or digits) or rate.
    pub fn set_commission_asset(&self, asset: &str, per_usdt: &str) -> bool {
        let ok = !asset.is_empty()
            && asset.len() <= 15
            && asset.bytes().all(|b| b.is_ascii_alphanumeric());
        let rate = parse_decimal(per_usdt.as_bytes(), USDT_SCALE as u8).ok();
        let (true, Some(rate)) = (ok, rate.filter(|r| *r > 0)) else {
            return false;
        };
        let asset = asset.to_ascii_uppercase();
        self.orders.state.lock().account.commission_asset =
            (asset != "USDT").then(|| crate::binance::account::CommissionAsset {
                asset: asset.into(),
                per_usdt: i128::from(rate),
            });
        true
    }

    /// Moves a symbol's generated market so its best bid goes to `price`
    /// (asks a spread above) from the next depth update on; the random walk
    /// continues from there. False for an unknown symbol or price.
    pub fn steer(&self, symbol: &str, price: &str) -> bool {
        let Some(i) = self.sym_index(symbol) else {
            return false;
        };
        let info = &self.syms[i].info;
        let Ok(px) = parse_decimal(price.as_bytes(), info.price_scale) else {
            return false;
        };
        let px = px - px.rem_euclid(info.tick);
        match self.syms[i].state.lock().generator.as_mut() {
            Some(g) => {
                g.anchor(px);
                true
            }
            None => false,
        }
    }

    /// The account's state.
    pub fn account(&self) -> SimAccount {
        let st = self.orders.state.lock();
        let mut positions: Vec<(usize, String, String, String)> = st
            .positions
            .iter()
            .filter(|(_, p)| p.amt != 0)
            .map(|(&s, p)| {
                let info = &self.syms[s].info;
                (
                    s,
                    info.symbol.clone(),
                    info.qty(p.amt),
                    entry_price(p, u32::from(info.price_scale)),
                )
            })
            .collect();
        positions.sort();
        SimAccount {
            wallet: usdt(st.account.wallet),
            positions: positions
                .into_iter()
                .map(|(_, s, a, e)| (s, a, e))
                .collect(),
            open_orders: st
                .open
                .iter()
                .filter_map(|id| st.orders.get(id))
                .map(|o| o.client_order_id.clone())
                .collect(),
            trades: st.trades.len(),
            commissions: st
                .account
                .commissions_paid
                .iter()
                .map(|(a, v)| (a.clone(), usdt(*v)))
                .collect(),
        }
    }
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/sim/fault/new_order_503_placed/{n}", post(f_503))
        .route("/sim/fault/new_order_500_not_placed/{n}", post(f_500))
        .route("/sim/fault/new_order_delay/{n}/{ms}", post(f_delay))
        .route("/sim/fault/storm_429/{n}/{ms}", post(f_storm))
        .route("/sim/fault/listen_key_expire", post(f_expire))
        .route("/sim/fault/private_drop", post(f_private_drop))
        .route("/sim/fault/stream_duplicate/{n}", post(f_duplicate))
        .route("/sim/fault/stream_reorder/{n}", post(f_reorder))
        .route("/sim/listen_key/validity/{ms}", post(key_validity))
        .route("/sim/account", get(account))
        .route("/sim/account/wallet/{usdt}", post(wallet))
        .route("/sim/account/leverage/{n}", post(leverage))
        .route(
            "/sim/account/order_limits/{per_10s}/{per_min}",
            post(order_limits),
        )
        .route("/sim/account/fees/{maker}/{taker}", post(fees))
        .route(
            "/sim/account/commission_asset/{asset}/{per_usdt}",
            post(commission_asset),
        )
        .route("/sim/market/{symbol}/steer/{price}", post(steer))
        .route("/sim/orders/requests", get(requests_all))
        .route("/sim/orders/requests/{client_id}", get(requests_one))
}

fn bad_request(what: &str) -> Response {
    crate::server::json_response(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "error": what }).to_string(),
    )
}

async fn f_503(State(i): State<Shared>, Path(n): Path<u32>) -> Response {
    i.inject(Fault::NewOrder503Placed(n));
    ok()
}

async fn f_500(State(i): State<Shared>, Path(n): Path<u32>) -> Response {
    i.inject(Fault::NewOrder500NotPlaced(n));
    ok()
}

async fn f_delay(State(i): State<Shared>, Path((n, ms)): Path<(u32, u64)>) -> Response {
    i.inject(Fault::NewOrderDelay {
        orders: n,
        delay: Duration::from_millis(ms),
    });
    ok()
}

async fn f_storm(State(i): State<Shared>, Path((n, ms)): Path<(u32, u64)>) -> Response {
    i.inject(Fault::RateLimitStorm {
        requests: n,
        duration: Duration::from_millis(ms),
    });
    ok()
}

async fn f_expire(State(i): State<Shared>) -> Response {
    i.inject(Fault::ExpireListenKey);
    ok()
}

async fn f_private_drop(State(i): State<Shared>) -> Response {
    i.inject(Fault::DropPrivateStreams);
    ok()
}

async fn f_duplicate(State(i): State<Shared>, Path(n): Path<u32>) -> Response {
    i.inject(Fault::StreamDuplicate(n));
    ok()
}

async fn f_reorder(State(i): State<Shared>, Path(n): Path<u32>) -> Response {
    i.inject(Fault::StreamReorder(n));
    ok()
}

async fn key_validity(State(i): State<Shared>, Path(ms): Path<u64>) -> Response {
    i.user.set_validity(Duration::from_millis(ms));
    ok()
}

async fn account(State(i): State<Shared>) -> Response {
    json_ok(serde_json::to_string(&i.account()).unwrap_or_default())
}

async fn wallet(State(i): State<Shared>, Path(v): Path<String>) -> Response {
    if i.set_wallet(&v) {
        ok()
    } else {
        bad_request("wallet: a decimal USDT amount")
    }
}

async fn order_limits(
    State(i): State<Shared>,
    Path((per_10s, per_min)): Path<(usize, usize)>,
) -> Response {
    i.set_order_limits(per_10s, per_min);
    ok()
}

async fn leverage(State(i): State<Shared>, Path(n): Path<u32>) -> Response {
    i.set_leverage(n);
    ok()
}

async fn fees(State(i): State<Shared>, Path((m, t)): Path<(String, String)>) -> Response {
    if i.set_fees(&m, &t) {
        ok()
    } else {
        bad_request("fees: decimal rates such as 0.0002")
    }
}

async fn commission_asset(
    State(i): State<Shared>,
    Path((a, r)): Path<(String, String)>,
) -> Response {
    if i.set_commission_asset(&a, &r) {
        ok()
    } else {
        bad_request("commission_asset: an asset code (BNB) and a decimal rate per USDT (0.0015)")
    }
}

async fn steer(State(i): State<Shared>, Path((symbol, price)): Path<(String, String)>) -> Response {
    if i.steer(&symbol, &price) {
        ok()
    } else {
        binance_error(StatusCode::NOT_FOUND, -1121, "Invalid symbol.")
    }
}

async fn requests_all(State(i): State<Shared>) -> Response {
    json_ok(serde_json::to_string(&i.order_faults.requests_by_client_id()).unwrap_or_default())
}

async fn requests_one(State(i): State<Shared>, Path(c): Path<String>) -> Response {
    json_ok(
        serde_json::json!({ "clientOrderId": c, "requests": i.order_faults.requests_for(&c) })
            .to_string(),
    )
}
