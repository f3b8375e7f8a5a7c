//! Binance USD-M order-entry wire types: the order object that
//! `POST/GET/DELETE /fapi/v1/order` and `GET /fapi/v1/openOrders` return,
//! the `GET /fapi/v3/positionRisk` entry, the `{"code":..,"msg":..}` error
//! body as a typed error that keeps the venue's code and the HTTP status,
//! and the mapping of a venue order reply onto the events of the engine's
//! order state machine ([`crate::exec::order`]). Decimals stay the strings
//! Binance sends; they are scaled only where the state machine needs them.

use crate::core::{OrderStatus, parse_decimal};
use crate::exec::order::{InvalidTransition, Order, OrderEvent};
use serde::Deserialize;
use std::fmt;

/// An order's status as Binance writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VenueOrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Rejected,
    Expired,
    /// Canceled by self-trade prevention.
    ExpiredInMatch,
}

impl VenueOrderStatus {
    /// The order will not trade any more.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::New | Self::PartiallyFilled)
    }
}

/// The order object of new/query/cancel/openOrders (unknown fields ignored,
/// newer fields optional: the 2021 object lacks some).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    pub order_id: i64,
    pub symbol: String,
    pub status: VenueOrderStatus,
    pub client_order_id: String,
    pub price: String,
    pub avg_price: String,
    pub orig_qty: String,
    pub executed_qty: String,
    pub cum_quote: String,
    pub time_in_force: String,
    #[serde(rename = "type")]
    pub order_type: String,
    pub side: String,
    #[serde(default)]
    pub position_side: String,
    #[serde(default)]
    pub reduce_only: bool,
    pub update_time: i64,
}

/// One entry of `GET /fapi/v3/positionRisk`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionRisk {
    pub symbol: String,
    /// Signed: negative is short.
    pub position_amt: String,
    pub entry_price: String,
    pub mark_price: String,
    pub un_realized_profit: String,
    #[serde(default)]
    pub position_side: String,
    #[serde(default)]
    pub update_time: i64,
}

/// What a Binance error code means (the codes order entry meets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// -1003: too many requests / IP banned.
    TooManyRequests,
    /// -1015: too many new orders.
    TooManyOrders,
    /// -1021: timestamp outside recvWindow (or ahead of the server).
    TimestampOutsideRecvWindow,
    /// -1022: signature not valid.
    InvalidSignature,
    /// -2014 / -2015: API key format or key/IP/permissions invalid.
    InvalidApiKey,
    /// -2010: new order rejected.
    NewOrderRejected,
    /// -2019: margin insufficient.
    MarginInsufficient,
    /// -2011: cancel rejected / unknown order; -2013: order does not exist.
    UnknownOrder,
    /// -1102: mandatory parameter missing or malformed.
    MandatoryParamMissing,
    /// -1106: a parameter was sent that is not required.
    ParamNotRequired,
    /// -1121: invalid symbol.
    InvalidSymbol,
    /// Any other code (kept in [`ApiError::code`]).
    Other,
}

impl ApiErrorKind {
    pub fn from_code(code: i64) -> Self {
        match code {
            -1003 => Self::TooManyRequests,
            -1015 => Self::TooManyOrders,
            -1021 => Self::TimestampOutsideRecvWindow,
            -1022 => Self::InvalidSignature,
            -2014 | -2015 => Self::InvalidApiKey,
            -2010 => Self::NewOrderRejected,
            -2019 => Self::MarginInsufficient,
            -2011 | -2013 => Self::UnknownOrder,
            -1102 => Self::MandatoryParamMissing,
            -1106 => Self::ParamNotRequired,
            -1121 => Self::InvalidSymbol,
            _ => Self::Other,
        }
    }
}

/// A Binance error reply: HTTP status, code and message as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub http: u16,
    pub code: i64,
    pub kind: ApiErrorKind,
    pub msg: String,
}

/// Why a signed request did not give the expected body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedError {
    /// The venue refused it with an error body.
    Api(ApiError),
    /// HTTP 429 (rate limit) or 418 (IP ban), with `Retry-After` in
    /// seconds; the shared REST budget stops every request until then.
    Throttled {
        http: u16,
        code: Option<i64>,
        retry_after_s: Option<u64>,
    },
    /// HTTP 5xx: the venue's side failed and the order's fate is UNKNOWN
    /// (reconcile by `clientOrderId`, never assume it failed).
    Unknown { http: u16, body: String },
    /// No reply (connect, timeout, ...).
    Transport(String),
    /// A reply that is not the expected body.
    Decode(String),
    /// A request we refuse to send (bad parameter).
    Invalid(String),
}

impl SignedError {
    /// The venue's error code, when it sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SignedError::Api(e) => Some(e.code),
            SignedError::Throttled { code, .. } => *code,
            _ => None,
        }
    }

    /// The HTTP status, when there was a reply.
    pub fn http(&self) -> Option<u16> {
        match self {
            SignedError::Api(e) => Some(e.http),
            SignedError::Throttled { http, .. } | SignedError::Unknown { http, .. } => Some(*http),
            _ => None,
        }
    }
}

impl fmt::Display for SignedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedError::Api(e) => {
                write!(f, "binance error {} (HTTP {}): {}", e.code, e.http, e.msg)
            }
            SignedError::Throttled {
                http,
                code,
                retry_after_s,
            } => write!(
                f,
                "binance throttled (HTTP {http}, code {code:?}), retry after {retry_after_s:?} s"
            ),
            SignedError::Unknown { http, body } => {
                write!(f, "binance HTTP {http}: order status unknown: {body}")
            }
            SignedError::Transport(e) => write!(f, "binance request failed: {e}"),
            SignedError::Decode(e) => write!(f, "binance reply not understood: {e}"),
            SignedError::Invalid(e) => write!(f, "binance request refused locally: {e}"),
        }
    }
}

impl std::error::Error for SignedError {}

/// Classifies a non-2xx reply.
pub fn classify_error(http: u16, body: &[u8], retry_after_s: Option<u64>) -> SignedError {
    let parsed = super::probe::parse_error(body);
    if http == 429 || http == 418 {
        return SignedError::Throttled {
            http,
            code: parsed.map(|(c, _)| c),
            retry_after_s,
        };
    }
    if http >= 500 {
        return SignedError::Unknown {
            http,
            body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        };
    }
    match parsed {
        Some((code, msg)) => SignedError::Api(ApiError {
            http,
            code,
            kind: ApiErrorKind::from_code(code),
            msg,
        }),
        None => SignedError::Decode(format!(
            "HTTP {http} without a Binance error body: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

/// Why a venue reply cannot drive an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The reply is for another client order id.
    OtherOrder { ours: String, theirs: String },
    /// `executedQty` is not a decimal at the instrument's scale.
    BadQty(String),
    /// The venue says less is filled than we already counted.
    FillWentBack { known: i64, venue: i64 },
    /// The venue says FILLED but not everything is executed.
    FilledShort { executed: i64, qty: i64 },
    /// The state machine refused an event.
    Transition(InvalidTransition),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::OtherOrder { ours, theirs } => {
                write!(f, "reply for client order {theirs}, not {ours}")
            }
            ReplyError::BadQty(s) => write!(f, "executedQty `{s}` is not a valid quantity"),
            ReplyError::FillWentBack { known, venue } => {
                write!(f, "venue executed {venue} < already filled {known}")
            }
            ReplyError::FilledShort { executed, qty } => {
                write!(f, "venue says FILLED with {executed} of {qty} executed")
            }
            ReplyError::Transition(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReplyError {}

/// The events that bring `order` to what the venue reply says: `Accept`
/// if the venue took a still-new order, `Fill` of the newly executed
/// quantity (`executedQty` minus what we counted, at `qty_scale`), then
/// `Cancel` for CANCELED/EXPIRED (an IOC's remainder) or `Reject`.
pub fn events_for(
    order: &Order,
    reply: &OrderResponse,
    qty_scale: u8,
) -> Result<Vec<OrderEvent>, ReplyError> {
    let executed = parse_decimal(reply.executed_qty.as_bytes(), qty_scale)
        .map_err(|_| ReplyError::BadQty(reply.executed_qty.clone()))?;
    let mut out = Vec::with_capacity(3);
    if reply.status == VenueOrderStatus::Rejected {
        if order.status == OrderStatus::New {
            out.push(OrderEvent::Reject);
        }
        return Ok(out);
    }
    if order.status == OrderStatus::New {
        out.push(OrderEvent::Accept);
    }
    if executed < order.filled {
        return Err(ReplyError::FillWentBack {
            known: order.filled,
            venue: executed,
        });
    }
    if executed > order.filled {
        out.push(OrderEvent::Fill {
            qty: executed - order.filled,
        });
    }
    match reply.status {
        VenueOrderStatus::Filled if executed < order.qty => {
            return Err(ReplyError::FilledShort {
                executed,
                qty: order.qty,
            });
        }
        VenueOrderStatus::Canceled
        | VenueOrderStatus::Expired
        | VenueOrderStatus::ExpiredInMatch
            if executed < order.qty
                && !matches!(order.status, OrderStatus::Canceled | OrderStatus::Filled) =>
        {
            out.push(OrderEvent::Cancel);
        }
        _ => {}
    }
    Ok(out)
}

/// Applies a venue reply to `order` (all of its events or none: the order
/// is unchanged on error) and returns the events applied.
pub fn apply_reply(
    order: &mut Order,
    reply: &OrderResponse,
    qty_scale: u8,
) -> Result<Vec<OrderEvent>, ReplyError> {
    let ours = order.client_order_id.to_string();
    if reply.client_order_id != ours {
        return Err(ReplyError::OtherOrder {
            ours,
            theirs: reply.client_order_id.clone(),
        });
    }
    let events = events_for(order, reply, qty_scale)?;
    let mut next = *order;
    for ev in &events {
        next.apply(*ev).map_err(ReplyError::Transition)?;
    }
    *order = next;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{InstrumentId, Side};

    fn reply(status: &str, executed: &str) -> OrderResponse {
        let body = format!(
            r#"{{"orderId":12345678,"symbol":"BTCUSDT","status":"{status}","clientOrderId":"7",
            "price":"50000.00","avgPrice":"50000.00","origQty":"0.010","executedQty":"{executed}",
            "cumQty":"{executed}","cumQuote":"0.00","timeInForce":"IOC","type":"LIMIT",
            "reduceOnly":false,"closePosition":false,"side":"BUY","positionSide":"BOTH",
            "stopPrice":"0.00","workingType":"CONTRACT_PRICE","priceProtect":false,
            "origType":"LIMIT","updateTime":1625474304765}}"#
        );
        serde_json::from_str(&body).unwrap()
    }

    fn order() -> Order {
        // 0.010 at qty scale 3.
        Order::new(7, InstrumentId(0), Side::Buy, 10, 5_000_000)
    }

    #[test]
    fn parses_the_documented_and_the_real_order_objects() {
        let dir = std::path::Path::new("../shared/samples/binance");
        if !dir.exists() {
            crate::venue::samples::absent("binance order objects", dir);
            return;
        }
        let docs = std::fs::read(dir.join("futures_rest_new_order_response_DOCS.json")).unwrap();
        let r: OrderResponse = serde_json::from_slice(&docs).unwrap();
        assert_eq!(r.status, VenueOrderStatus::New);
        assert_eq!((r.order_id, r.executed_qty.as_str()), (12345678, "0.000"));
        let real = std::fs::read(
            dir.join("futures_rest_order_object_MATICUSDT_real_ccxt_issue_10245.json"),
        )
        .unwrap();
        let r: OrderResponse = serde_json::from_slice(&real).unwrap();
        assert_eq!(r.symbol, "MATICUSDT");
        let pos = std::fs::read(dir.join("futures_rest_positionRisk_DOCS.json")).unwrap();
        let p: Vec<PositionRisk> = serde_json::from_slice(&pos).unwrap();
        assert_eq!(p[0].position_amt, "0.001");
    }

    #[test]
    fn an_ioc_partial_fill_then_expiry_drives_the_order() {
        let mut o = order();
        let ev = apply_reply(&mut o, &reply("EXPIRED", "0.004"), 3).unwrap();
        assert_eq!(
            ev,
            vec![
                OrderEvent::Accept,
                OrderEvent::Fill { qty: 4 },
                OrderEvent::Cancel
            ]
        );
        assert_eq!((o.status, o.filled), (OrderStatus::Canceled, 4));
    }

    #[test]
    fn gtc_lifecycle_new_partial_filled() {
        let mut o = order();
        assert_eq!(
            apply_reply(&mut o, &reply("NEW", "0.000"), 3).unwrap(),
            vec![OrderEvent::Accept]
        );
        assert_eq!(o.status, OrderStatus::Accepted);
        // The same reply again changes nothing.
        assert!(
            apply_reply(&mut o, &reply("NEW", "0.000"), 3)
                .unwrap()
                .is_empty()
        );
        apply_reply(&mut o, &reply("PARTIALLY_FILLED", "0.003"), 3).unwrap();
        assert_eq!((o.status, o.filled), (OrderStatus::PartiallyFilled, 3));
        let ev = apply_reply(&mut o, &reply("FILLED", "0.010"), 3).unwrap();
        assert_eq!(ev, vec![OrderEvent::Fill { qty: 7 }]);
        assert_eq!(o.status, OrderStatus::Filled);
        // A late duplicate FILLED is a no-op, not an error.
        assert!(
            apply_reply(&mut o, &reply("FILLED", "0.010"), 3)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn cancel_reject_and_inconsistent_replies() {
        let mut o = order();
        apply_reply(&mut o, &reply("NEW", "0.000"), 3).unwrap();
        apply_reply(&mut o, &reply("CANCELED", "0.000"), 3).unwrap();
        assert_eq!(o.status, OrderStatus::Canceled);

        let mut o = order();
        assert_eq!(
            apply_reply(&mut o, &reply("REJECTED", "0.000"), 3).unwrap(),
            vec![OrderEvent::Reject]
        );
        assert_eq!(o.status, OrderStatus::Rejected);

        let mut o = order();
        let before = o;
        assert_eq!(
            apply_reply(&mut o, &reply("FILLED", "0.009"), 3),
            Err(ReplyError::FilledShort {
                executed: 9,
                qty: 10
            })
        );
        assert_eq!(o, before);
        assert!(matches!(
            apply_reply(&mut o, &reply("FILLED", "0.011"), 3),
            Err(ReplyError::Transition(_))
        ));
        assert_eq!(o, before);
        assert!(matches!(
            apply_reply(&mut o, &reply("NEW", "abc"), 3),
            Err(ReplyError::BadQty(_))
        ));
        let mut other = Order::new(8, InstrumentId(0), Side::Buy, 10, 1);
        assert!(matches!(
            apply_reply(&mut other, &reply("NEW", "0.000"), 3),
            Err(ReplyError::OtherOrder { .. })
        ));
        let mut o = order();
        apply_reply(&mut o, &reply("PARTIALLY_FILLED", "0.005"), 3).unwrap();
        assert_eq!(
            apply_reply(&mut o, &reply("PARTIALLY_FILLED", "0.004"), 3),
            Err(ReplyError::FillWentBack { known: 5, venue: 4 })
        );
    }

    #[test]
    fn errors_keep_code_and_status() {
        let e = classify_error(
            400,
            br#"{"code":-1022,"msg":"Signature for this request is not valid."}"#,
            None,
        );
        assert_eq!((e.code(), e.http()), (Some(-1022), Some(400)));
        assert!(matches!(&e, SignedError::Api(a) if a.kind == ApiErrorKind::InvalidSignature));
        for (c, k) in [
            (-1021, ApiErrorKind::TimestampOutsideRecvWindow),
            (-2014, ApiErrorKind::InvalidApiKey),
            (-2015, ApiErrorKind::InvalidApiKey),
            (-1003, ApiErrorKind::TooManyRequests),
            (-2010, ApiErrorKind::NewOrderRejected),
            (-2019, ApiErrorKind::MarginInsufficient),
            (-2011, ApiErrorKind::UnknownOrder),
            (-1102, ApiErrorKind::MandatoryParamMissing),
            (-1106, ApiErrorKind::ParamNotRequired),
            (-1121, ApiErrorKind::InvalidSymbol),
            (-9999, ApiErrorKind::Other),
        ] {
            assert_eq!(ApiErrorKind::from_code(c), k);
        }
        let t = classify_error(429, br#"{"code":-1003,"msg":"x"}"#, Some(7));
        assert_eq!(
            t,
            SignedError::Throttled {
                http: 429,
                code: Some(-1003),
                retry_after_s: Some(7)
            }
        );
        assert!(matches!(
            classify_error(503, b"oops", None),
            SignedError::Unknown { http: 503, .. }
        ));
        assert!(matches!(
            classify_error(400, b"<html>", None),
            SignedError::Decode(_)
        ));
    }
}
