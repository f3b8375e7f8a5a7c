//! The checks of a new order's parameters against Binance USD-M's rules and
//! the symbol's filters (the ones `exchangeInfo` publishes: PRICE_FILTER,
//! LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL `notional`), with Binance's
//! codes: `-1102`/`-1106` missing or unexpected parameters, `-1111`
//! precision over the maximum, `-4003` quantity ≤ 0, `-4023` not a step
//! multiple, `-4004`/`-4005` below/above the lot limits, `-4014` price not a
//! tick multiple, `-4016` above the maximum price, `-4164` notional below
//! the minimum (unless reduce-only), `-4061` position side, `-1100` client
//! order id. The result is a [`NewOrderReq`] the order desk places.

use super::auth::{Params, Refusal, bad, missing, not_required, only, param, symbol_of};
use crate::decimal::parse_decimal;
use crate::state::Inner;

/// The filter limits `exchangeInfo` publishes for every symbol.
pub(crate) const MAX_PRICE: &str = "1000000";
pub(crate) const MAX_QTY: &str = "1000";
pub(crate) const MIN_NOTIONAL: &str = "5";

pub(super) const NEW_ORDER_PARAMS: &[&str] = &[
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "reduceOnly",
    "price",
    "newClientOrderId",
    "newOrderRespType",
];

/// A new order that passed the parameter and filter checks.
#[derive(Debug, Clone)]
pub(super) struct NewOrderReq {
    pub sym: usize,
    pub buy: bool,
    pub market: bool,
    pub tif: &'static str,
    /// Scaled price (0 for MARKET).
    pub price: i64,
    pub qty: i64,
    pub reduce_only: bool,
    /// `newOrderRespType` ACK (default) or RESULT.
    pub ack: bool,
    pub client_id: Option<String>,
}

pub(super) fn valid_client_id(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-'))
}

pub(super) fn decimal(s: &str, scale: u8, step: i64, name: &str) -> Result<i64, Refusal> {
    let v = parse_decimal(s.as_bytes(), scale).map_err(|_| {
        if s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            bad(
                -1111,
                "Precision is over the maximum defined for this asset.",
            )
        } else {
            missing(name)
        }
    })?;
    if v <= 0 {
        return Err(if name == "quantity" {
            bad(-4003, "Quantity less than or equal to zero.")
        } else {
            bad(-4001, "Price less than 0.")
        });
    }
    if v % step != 0 {
        return Err(if name == "quantity" {
            bad(-4023, "Quantity not increased by step size.")
        } else {
            bad(-4014, "Price not increased by tick size.")
        });
    }
    Ok(v)
}

/// Reads and checks a new order's parameters.
pub(super) fn parse_new_order(inner: &Inner, params: &Params) -> Result<NewOrderReq, Refusal> {
    only(params, NEW_ORDER_PARAMS)?;
    let sym = symbol_of(inner, params)?;
    let info = &inner.syms[sym].info;
    let buy = match param(params, "side") {
        None => return Err(missing("side")),
        Some("BUY") => true,
        Some("SELL") => false,
        Some(_) => return Err(bad(-1117, "Invalid side.")),
    };
    if let Some(ps) = param(params, "positionSide")
        && ps != "BOTH"
    {
        return Err(bad(
            -4061,
            "Order's position side does not match user's setting.",
        ));
    }
    let market = match param(params, "type") {
        None => return Err(missing("type")),
        Some("MARKET") => true,
        Some("LIMIT") => false,
        Some(_) => return Err(bad(-1116, "Invalid orderType.")),
    };
    let Some(qty) = param(params, "quantity") else {
        return Err(missing("quantity"));
    };
    let qty = decimal(qty, info.qty_scale, info.lot, "quantity")?;
    let max_qty = parse_decimal(MAX_QTY.as_bytes(), info.qty_scale).unwrap_or(i64::MAX);
    if qty > max_qty {
        return Err(bad(-4005, "Quantity greater than max quantity."));
    }
    if qty < info.lot {
        return Err(bad(-4004, "Quantity less than min quantity."));
    }
    let (tif, price) = if market {
        if param(params, "price").is_some() {
            return Err(not_required("price"));
        }
        if param(params, "timeInForce").is_some() {
            return Err(not_required("timeInForce"));
        }
        ("GTC", 0)
    } else {
        let tif = match param(params, "timeInForce") {
            None => return Err(missing("timeInForce")),
            Some("GTC") => "GTC",
            Some("IOC") => "IOC",
            Some(_) => return Err(bad(-1115, "Invalid timeInForce.")),
        };
        let Some(px) = param(params, "price") else {
            return Err(missing("price"));
        };
        let px = decimal(px, info.price_scale, info.tick, "price")?;
        let max_px = parse_decimal(MAX_PRICE.as_bytes(), info.price_scale).unwrap_or(i64::MAX);
        if px > max_px {
            return Err(bad(-4016, "Price more than max price."));
        }
        (tif, px)
    };
    let reduce_only = match param(params, "reduceOnly") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(missing("reduceOnly")),
    };
    let ack = match param(params, "newOrderRespType") {
        None | Some("ACK") => true,
        Some("RESULT") => false,
        Some(_) => return Err(missing("newOrderRespType")),
    };
    let client_id = param(params, "newClientOrderId").map(str::to_string);
    if let Some(c) = &client_id
        && !valid_client_id(c)
    {
        return Err(bad(
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        ));
    }
    Ok(NewOrderReq {
        sym,
        buy,
        market,
        tif,
        price,
        qty,
        reduce_only,
        ack,
        client_id,
    })
}

/// The MIN_NOTIONAL check at `px` (the order's price, or the touch for a
/// MARKET order): `-4164` below it unless reduce-only.
pub(super) fn check_notional(inner: &Inner, req: &NewOrderReq, px: i64) -> Result<(), Refusal> {
    if req.reduce_only || px <= 0 {
        return Ok(());
    }
    let info = &inner.syms[req.sym].info;
    let scale = info.price_scale + info.qty_scale;
    let min = i128::from(parse_decimal(MIN_NOTIONAL.as_bytes(), scale).unwrap_or(0));
    if i128::from(req.qty) * i128::from(px) < min {
        return Err(bad(
            -4164,
            "Order's notional must be no smaller than 5 (unless you choose reduce only).",
        ));
    }
    Ok(())
}
