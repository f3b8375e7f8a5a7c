//! Binance USD-M user data stream: parsing `ORDER_TRADE_UPDATE`,
//! `TRADE_LITE`, `ACCOUNT_UPDATE` and `listenKeyExpired` into the
//! venue-agnostic order lifecycle events ([`crate::exec::lifecycle`]),
//! fills, balances and positions, with exact decimals.
//!
//! Two steps, so that an event can be parked when the engine does not know
//! its instrument yet (never dropped): [`parse`] reads the frame into a
//! [`WireEvent`] that keeps the decimals as the strings Binance sent, and
//! [`WireEvent::convert`] scales them with the instrument's decimals
//! ([`UserDataError::UnknownSymbol`] when the symbol is not in the table).
//! Bad input is a typed [`UserDataError`], never a panic.

use super::parse::SymbolMap;
use crate::core::{InstrumentId, MONEY_SCALE, Money, Side, parse_decimal};
use crate::exec::lifecycle::{Fee, Fill, LifeEvent};
use serde::Deserialize;
use std::fmt;

/// Why a user-data frame cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDataError {
    /// Not JSON, or not the shape of its event (missing field, wrong type,
    /// number out of range).
    Json(String),
    /// An event type this parser does not know.
    UnknownEvent(String),
    /// An enum field with a value this parser does not know.
    UnknownEnum { field: &'static str, value: String },
    /// A decimal field that is not a decimal at the instrument's scale.
    Decimal { field: &'static str, value: String },
    /// The symbol is not in the instrument table (park the event).
    UnknownSymbol(String),
    /// A trade report that cannot be a fill (no trade id, quantity or
    /// price not positive).
    BadTrade(String),
    /// A well-formed event the order lifecycle cannot represent yet.
    Unsupported(&'static str),
}

impl fmt::Display for UserDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserDataError::Json(e) => write!(f, "user data frame not understood: {e}"),
            UserDataError::UnknownEvent(e) => write!(f, "unknown user data event `{e}`"),
            UserDataError::UnknownEnum { field, value } => {
                write!(f, "unknown value `{value}` in field `{field}`")
            }
            UserDataError::Decimal { field, value } => {
                write!(f, "bad decimal `{value}` in field `{field}`")
            }
            UserDataError::UnknownSymbol(s) => write!(f, "unknown symbol `{s}`"),
            UserDataError::BadTrade(w) => write!(f, "trade report unusable: {w}"),
            UserDataError::Unsupported(w) => write!(f, "not supported yet: {w}"),
        }
    }
}

impl std::error::Error for UserDataError {}

impl UserDataError {
    /// A short label for a `reason` metric label.
    pub fn label(&self) -> &'static str {
        match self {
            UserDataError::Json(_) => "json",
            UserDataError::UnknownEvent(_) => "unknown_event",
            UserDataError::UnknownEnum { .. } => "unknown_enum",
            UserDataError::Decimal { .. } => "decimal",
            UserDataError::UnknownSymbol(_) => "unknown_symbol",
            UserDataError::BadTrade(_) => "bad_trade",
            UserDataError::Unsupported(_) => "unsupported",
        }
    }
}

/// At most 64 characters of hostile text in an error.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn json_err(e: serde_json::Error) -> UserDataError {
    UserDataError::Json(clip(&e.to_string()))
}

// ---- wire shapes ---------------------------------------------------------

/// An event time that Binance sends as a number (most events) or as a
/// string (`listenKeyExpired` in the current docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub i64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IntOrStr {
            I(i64),
            S(String),
        }
        match IntOrStr::deserialize(d)? {
            IntOrStr::I(v) => Ok(Millis(v)),
            IntOrStr::S(s) => s
                .parse::<i64>()
                .map(Millis)
                .map_err(|_| serde::de::Error::custom(format!("bad time `{}`", clip(&s)))),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Head {
    e: String,
}

/// `ORDER_TRADE_UPDATE`'s order object (fields the order path uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireOrder {
    pub s: String,
    pub c: String,
    #[serde(rename = "S")]
    pub side: String,
    pub o: String,
    pub f: String,
    pub q: String,
    pub p: String,
    pub ap: String,
    pub x: String,
    #[serde(rename = "X")]
    pub status: String,
    pub i: i64,
    pub l: String,
    pub z: String,
    #[serde(rename = "L")]
    pub last_px: String,
    #[serde(rename = "N", default)]
    pub fee_asset: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(rename = "T")]
    pub trade_time: i64,
    pub t: i64,
    pub m: bool,
    #[serde(rename = "R")]
    pub reduce_only: bool,
    #[serde(default)]
    pub ps: String,
    #[serde(default)]
    pub rp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireOrderTradeUpdate {
    #[serde(rename = "E")]
    pub event_time: Millis,
    #[serde(rename = "T")]
    pub tx_time: i64,
    pub o: WireOrder,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireTradeLite {
    #[serde(rename = "E")]
    pub event_time: Millis,
    #[serde(rename = "T")]
    pub tx_time: i64,
    pub s: String,
    pub c: String,
    #[serde(rename = "S")]
    pub side: String,
    pub q: String,
    pub p: String,
    pub i: i64,
    pub l: String,
    #[serde(rename = "L")]
    pub last_px: String,
    pub t: i64,
    pub m: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireBalance {
    pub a: String,
    pub wb: String,
    pub cw: String,
    #[serde(default)]
    pub bc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WirePosition {
    pub s: String,
    pub pa: String,
    pub ep: String,
    #[serde(default)]
    pub cr: Option<String>,
    pub up: String,
    #[serde(default)]
    pub ps: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireAccount {
    pub m: String,
    #[serde(rename = "B", default)]
    pub balances: Vec<WireBalance>,
    #[serde(rename = "P", default)]
    pub positions: Vec<WirePosition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireAccountUpdate {
    #[serde(rename = "E")]
    pub event_time: Millis,
    #[serde(rename = "T")]
    pub tx_time: i64,
    pub a: WireAccount,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireListenKeyExpired {
    #[serde(rename = "E")]
    pub event_time: Millis,
    #[serde(rename = "listenKey", default)]
    pub listen_key: Option<String>,
}

/// A user-data frame, read but not scaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireEvent {
    OrderTradeUpdate(Box<WireOrderTradeUpdate>),
    TradeLite(WireTradeLite),
    AccountUpdate(WireAccountUpdate),
    ListenKeyExpired(WireListenKeyExpired),
    /// A known event the order path does not use (margin call, account
    /// config, strategy / grid / algo updates, ...): counted by the caller.
    Ignored(String),
}

/// Event types of the USD-M user data stream the order path does not use.
const IGNORED: &[&str] = &[
    "MARGIN_CALL",
    "ACCOUNT_CONFIG_UPDATE",
    "STRATEGY_UPDATE",
    "GRID_UPDATE",
    "CONDITIONAL_ORDER_TRIGGER_REJECT",
    "ALGO_UPDATE",
];

/// Reads one user-data frame.
pub fn parse(frame: &[u8]) -> Result<WireEvent, UserDataError> {
    let head: Head = serde_json::from_slice(frame).map_err(json_err)?;
    Ok(match head.e.as_str() {
        "ORDER_TRADE_UPDATE" => {
            WireEvent::OrderTradeUpdate(serde_json::from_slice(frame).map_err(json_err)?)
        }
        "TRADE_LITE" => WireEvent::TradeLite(serde_json::from_slice(frame).map_err(json_err)?),
        "ACCOUNT_UPDATE" => {
            WireEvent::AccountUpdate(serde_json::from_slice(frame).map_err(json_err)?)
        }
        "listenKeyExpired" => {
            WireEvent::ListenKeyExpired(serde_json::from_slice(frame).map_err(json_err)?)
        }
        e if IGNORED.contains(&e) => WireEvent::Ignored(e.to_string()),
        e => return Err(UserDataError::UnknownEvent(clip(e))),
    })
}

// ---- venue-agnostic results -------------------------------------------------

/// What happened to one order, as lifecycle events for its client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    pub inst: InstrumentId,
    pub client_id: String,
    pub venue_order_id: String,
    pub side: Side,
    pub event_time_ms: i64,
    /// The events, in the order to apply them.
    pub events: Vec<LifeEvent>,
    /// The venue's cumulative filled quantity (`z`; not in `TRADE_LITE`).
    pub cum_qty: Option<i64>,
    /// The trade's realized profit (`rp`), when reported.
    pub realized_pnl: Option<Money>,
}

/// One asset's wallet after an account change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceUpdate {
    pub asset: String,
    pub wallet: Money,
    pub cross_wallet: Money,
    /// Balance change other than PnL and commission (`bc`), when sent.
    pub change: Option<Money>,
}

/// Hedge-mode leg of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSide {
    Both,
    Long,
    Short,
}

/// A position as the venue now has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionUpdate {
    pub inst: InstrumentId,
    pub side: PositionSide,
    /// Signed quantity at the instrument's quantity scale (< 0 is short).
    pub qty: i64,
    /// Average entry price, exact to 8 decimals (an average is finer than
    /// the tick).
    pub entry_px: Money,
    pub unrealized: Money,
}

/// Balances and positions after an account change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    pub event_time_ms: i64,
    /// Why it changed (`ORDER`, `FUNDING_FEE`, `DEPOSIT`, ...).
    pub reason: String,
    pub balances: Vec<BalanceUpdate>,
    pub positions: Vec<PositionUpdate>,
    /// Positions on symbols the table does not know (reported, not dropped:
    /// the caller fetches them once it knows the instrument).
    pub unknown_symbols: Vec<String>,
}

/// A user-data event in the engine's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    Order(OrderUpdate),
    Account(AccountUpdate),
    /// The listenKey expired: open a new one, reconnect, and fill the gap
    /// over REST (open orders and trades since the last one seen).
    ListenKeyExpired {
        event_time_ms: i64,
        listen_key: Option<String>,
    },
    Ignored(String),
}

fn dec(field: &'static str, v: &str, scale: u8) -> Result<i64, UserDataError> {
    parse_decimal(v.as_bytes(), scale).map_err(|_| UserDataError::Decimal {
        field,
        value: clip(v),
    })
}

fn non_neg(field: &'static str, v: &str, scale: u8) -> Result<i64, UserDataError> {
    let x = dec(field, v, scale)?;
    if x < 0 {
        return Err(UserDataError::Decimal {
            field,
            value: clip(v),
        });
    }
    Ok(x)
}

fn money(field: &'static str, v: &str) -> Result<Money, UserDataError> {
    dec(field, v, MONEY_SCALE).map(Money)
}

fn side(v: &str) -> Result<Side, UserDataError> {
    match v {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(UserDataError::UnknownEnum {
            field: "S",
            value: clip(v),
        }),
    }
}

fn fill(
    t: i64,
    l: &str,
    px: &str,
    fee: Option<Fee>,
    qty_scale: u8,
    price_scale: u8,
) -> Result<Fill, UserDataError> {
    let qty = dec("l", l, qty_scale)?;
    let px = dec("L", px, price_scale)?;
    if t <= 0 || qty <= 0 || px <= 0 {
        return Err(UserDataError::BadTrade(format!(
            "trade id {t}, quantity {}, price {}",
            clip(l),
            clip(&px.to_string())
        )));
    }
    Ok(Fill {
        trade_id: t.to_string(),
        qty,
        px,
        fee,
    })
}

impl WireOrderTradeUpdate {
    fn convert(&self, syms: &SymbolMap) -> Result<OrderUpdate, UserDataError> {
        let o = &self.o;
        let info = syms
            .get(&o.s)
            .ok_or_else(|| UserDataError::UnknownSymbol(clip(&o.s)))?;
        let side = side(&o.side)?;
        // Checked even when unused below, so a bad status is never silent.
        let status = match o.status.as_str() {
            "NEW" | "PARTIALLY_FILLED" | "FILLED" | "CANCELED" | "EXPIRED" | "EXPIRED_IN_MATCH"
            | "REJECTED" => o.status.as_str(),
            _ => {
                return Err(UserDataError::UnknownEnum {
                    field: "X",
                    value: clip(&o.status),
                });
            }
        };
        let cum = non_neg("z", &o.z, info.qty_scale)?;
        non_neg("q", &o.q, info.qty_scale)?;
        let venue_order_id = o.i.to_string();
        let ack = LifeEvent::Ack {
            venue_order_id: Some(venue_order_id.clone()),
        };
        let events = match o.x.as_str() {
            "NEW" if status == "REJECTED" => vec![LifeEvent::Reject {
                reason: crate::exec::refusal::RefusalReason::VenueRejected,
            }],
            "NEW" => vec![ack],
            "TRADE" | "CALCULATED" => {
                let fee = match (&o.n, &o.fee_asset) {
                    (Some(n), Some(a)) if !a.is_empty() => Some(Fee {
                        amount: money("n", n)?,
                        asset: clip(a),
                    }),
                    _ => None,
                };
                let f = fill(o.t, &o.l, &o.last_px, fee, info.qty_scale, info.price_scale)?;
                vec![ack, LifeEvent::Fill(f)]
            }
            "CANCELED" => vec![LifeEvent::CancelAck { cum_qty: Some(cum) }],
            "EXPIRED" => vec![LifeEvent::Expire { cum_qty: Some(cum) }],
            "AMENDMENT" => return Err(UserDataError::Unsupported("order amendment")),
            other => {
                return Err(UserDataError::UnknownEnum {
                    field: "x",
                    value: clip(other),
                });
            }
        };
        let realized_pnl = match &o.rp {
            Some(rp) => Some(money("rp", rp)?),
            None => None,
        };
        Ok(OrderUpdate {
            inst: info.id,
            client_id: o.c.clone(),
            venue_order_id,
            side,
            event_time_ms: self.event_time.0,
            events,
            cum_qty: Some(cum),
            realized_pnl,
        })
    }
}

impl WireTradeLite {
    fn convert(&self, syms: &SymbolMap) -> Result<OrderUpdate, UserDataError> {
        let info = syms
            .get(&self.s)
            .ok_or_else(|| UserDataError::UnknownSymbol(clip(&self.s)))?;
        let side = side(&self.side)?;
        non_neg("q", &self.q, info.qty_scale)?;
        // No commission in TRADE_LITE: the ORDER_TRADE_UPDATE of the same
        // trade id adds it.
        let f = fill(
            self.t,
            &self.l,
            &self.last_px,
            None,
            info.qty_scale,
            info.price_scale,
        )?;
        let venue_order_id = self.i.to_string();
        Ok(OrderUpdate {
            inst: info.id,
            client_id: self.c.clone(),
            venue_order_id: venue_order_id.clone(),
            side,
            event_time_ms: self.event_time.0,
            events: vec![
                LifeEvent::Ack {
                    venue_order_id: Some(venue_order_id),
                },
                LifeEvent::Fill(f),
            ],
            cum_qty: None,
            realized_pnl: None,
        })
    }
}

impl WireAccountUpdate {
    fn convert(&self, syms: &SymbolMap) -> Result<AccountUpdate, UserDataError> {
        let mut balances = Vec::with_capacity(self.a.balances.len());
        for b in &self.a.balances {
            balances.push(BalanceUpdate {
                asset: clip(&b.a),
                wallet: money("wb", &b.wb)?,
                cross_wallet: money("cw", &b.cw)?,
                change: match &b.bc {
                    Some(bc) => Some(money("bc", bc)?),
                    None => None,
                },
            });
        }
        let mut positions = Vec::with_capacity(self.a.positions.len());
        let mut unknown_symbols = Vec::new();
        for p in &self.a.positions {
            let side = match p.ps.as_str() {
                "BOTH" | "" => PositionSide::Both,
                "LONG" => PositionSide::Long,
                "SHORT" => PositionSide::Short,
                other => {
                    return Err(UserDataError::UnknownEnum {
                        field: "ps",
                        value: clip(other),
                    });
                }
            };
            let Some(info) = syms.get(&p.s) else {
                if !unknown_symbols.contains(&p.s) {
                    unknown_symbols.push(clip(&p.s));
                }
                continue;
            };
            positions.push(PositionUpdate {
                inst: info.id,
                side,
                qty: dec("pa", &p.pa, info.qty_scale)?,
                entry_px: money("ep", &p.ep)?,
                unrealized: money("up", &p.up)?,
            });
        }
        Ok(AccountUpdate {
            event_time_ms: self.event_time.0,
            reason: clip(&self.a.m),
            balances,
            positions,
            unknown_symbols,
        })
    }
}

impl WireEvent {
    /// Scales the event with the instrument table.
    pub fn convert(&self, syms: &SymbolMap) -> Result<UserEvent, UserDataError> {
        Ok(match self {
            WireEvent::OrderTradeUpdate(u) => UserEvent::Order(u.convert(syms)?),
            WireEvent::TradeLite(t) => UserEvent::Order(t.convert(syms)?),
            WireEvent::AccountUpdate(a) => UserEvent::Account(a.convert(syms)?),
            WireEvent::ListenKeyExpired(k) => UserEvent::ListenKeyExpired {
                event_time_ms: k.event_time.0,
                listen_key: k.listen_key.clone(),
            },
            WireEvent::Ignored(e) => UserEvent::Ignored(e.clone()),
        })
    }
}

/// Reads and scales one frame.
pub fn decode(frame: &[u8], syms: &SymbolMap) -> Result<UserEvent, UserDataError> {
    parse(frame)?.convert(syms)
}

#[cfg(test)]
mod tests;
