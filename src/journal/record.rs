//! What the journal holds. [`Entry`] is what the hot path hands to the
//! writer (small, no allocation for decisions, verdicts, orders and fills);
//! [`Record`] is what is written and read back: a record id, the wall-clock
//! time, the trading mode and a [`Body`], serialized as one JSON object with
//! a `kind` tag. Prices and quantities are exact decimal strings; money
//! amounts (`fee`, `realized_pnl`) are exact [`Money`] decimal strings with
//! 8 decimals (records from older engines, whose amounts were float text
//! such as `"0.30000000000000004"`, still load: rounded to 1e-8). A fill's
//! fee is in the quote unless its `fee_asset` names another asset (`BNB`).
//! [`Event::Sync`] is not a record: the writer's barrier.

use crate::config::TradingMode;
use crate::core::{Action, InstrumentId, Money, OrderStatus, Side};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One journaled record as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Monotonic record id: strictly increasing, across restarts too.
    pub id: u64,
    /// Wall-clock unix ms of the event (the engine's injectable clock).
    pub ts_ms: i64,
    pub mode: TradingMode,
    #[serde(flatten)]
    pub body: Body,
}

/// Record kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A model decision (each HOLD only with `journal.record_holds`;
    /// otherwise HOLDs are summed in [`Body::Holds`]).
    Decision {
        decision_id: u64,
        venue: String,
        symbol: String,
        action: String,
        score: f32,
        confidence: f32,
        qty: String,
        bid: String,
        ask: String,
        /// The version of the model that made it (empty in journals
        /// written before versions were recorded).
        #[serde(default)]
        model_version: String,
    },
    /// The governor's verdict on a decision: `EXECUTE` or `SKIP` + reason.
    Verdict {
        decision_id: u64,
        venue: String,
        symbol: String,
        verdict: String,
        reason: String,
    },
    /// An order sent to execution.
    Order {
        client_order_id: u64,
        decision_id: u64,
        venue: String,
        symbol: String,
        side: String,
        qty: String,
        limit_px: String,
    },
    /// A fill of an order.
    Fill {
        client_order_id: u64,
        venue: String,
        symbol: String,
        side: String,
        px: String,
        qty: String,
        /// Exact decimal string (old float records still load, rounded
        /// to 1e-8), in `fee_asset`.
        fee: Money,
        /// The asset the fee was charged in when it is not the
        /// instrument's quote (`BNB`): such a fee is not in `realized_pnl`
        /// nor in any quote total. Empty (and left out) for a quote fee, as
        /// in every journal written before fee assets were recorded.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        fee_asset: String,
        position_after: String,
        realized_pnl: Money,
    },
    /// An order reached a final state (`filled`, `canceled`, `rejected`).
    OrderDone {
        client_order_id: u64,
        venue: String,
        symbol: String,
        status: String,
        note: String,
    },
    /// The circuit breaker tripped (`state = "open"`) or closed.
    Breaker {
        state: String,
        reason: String,
        detail: String,
        /// `auto`, `api` or `cooldown`.
        by: String,
        /// Client address of an API call (empty otherwise).
        client: String,
        #[serde(rename = "override")]
        override_: bool,
    },
    /// The kill switch was turned on or off.
    KillSwitch {
        on: bool,
        reason: String,
        by: String,
        client: String,
    },
    /// HOLD decisions of one instrument with the same verdict, summed (the
    /// default, `journal.record_holds = false`): `count` decisions with ids
    /// `first_decision_id..=last_decision_id` (ids of other instruments'
    /// decisions interleave), all SKIPped with `reason` (`hold`, or
    /// `kill_switch` / `circuit_open:...` when those came first). Written at
    /// least once a second while HOLDs flow, stamped with the last one's time.
    Holds {
        venue: String,
        symbol: String,
        count: u64,
        first_decision_id: u64,
        last_decision_id: u64,
        reason: String,
        /// The version of the model that made them (a swap starts a new
        /// record; empty in journals written before versions were recorded).
        #[serde(default)]
        model_version: String,
    },
    /// A Redis stream entry the publisher could not keep in memory during an
    /// outage (see `publish::replay`): the engine life (`epoch_ms`), its
    /// `seq` (the stream id is `<epoch_ms>-<seq>`), the stream and the
    /// entry's fields exactly as they are to be written. Not a trading
    /// record: recovery and the day report ignore it. `at_shutdown`: kept
    /// when the engine stopped with it still in the publisher's memory
    /// buffer (its seq is below the life's pending spill, so a later life
    /// merges it back into seq order; see `publish::backlog`).
    Published {
        epoch_ms: u64,
        seq: u64,
        stream: String,
        fields: Vec<(String, String)>,
        #[serde(default, skip_serializing_if = "is_false")]
        at_shutdown: bool,
    },
    /// A reconciliation discrepancy (`exec::reconcile`): `kind` is its
    /// label (`position`, `order_adopted`, ...); `journal` and `venue_value`
    /// the quantities each side had; `price` the venue's entry price (a
    /// position) or limit price (an order). A `position` record sets the
    /// position to `venue_value` at recovery.
    Reconcile {
        venue: String,
        symbol: String,
        #[serde(rename = "what")]
        kind: String,
        client_order_id: String,
        journal: String,
        venue_value: String,
        price: String,
        detail: String,
    },
    /// A venue trading session started: every order this life sends to
    /// `venue` carries the client order id `prefix ‖ epoch ‖ seq`
    /// (`exec::client_id`), `seq` being the `client_order_id` of its
    /// [`Body::Order`] record. Written before the session sends anything, so
    /// every later `order` record of the venue (until the next such record)
    /// maps to its exact venue id; a restart matches them against the
    /// venue's open orders.
    ClientIds {
        venue: String,
        prefix: String,
        epoch_ms: u64,
    },
}

impl Body {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Decision { .. } => "decision",
            Body::Verdict { .. } => "verdict",
            Body::Order { .. } => "order",
            Body::Fill { .. } => "fill",
            Body::OrderDone { .. } => "order_done",
            Body::Breaker { .. } => "breaker",
            Body::KillSwitch { .. } => "kill_switch",
            Body::Published { .. } => "published",
            Body::Holds { .. } => "holds",
            Body::Reconcile { .. } => "reconcile",
            Body::ClientIds { .. } => "client_ids",
        }
    }
}

/// Record kinds, in [`Body::kind`] spelling (metric labels).
pub const KINDS: [&str; 11] = [
    "decision",
    "verdict",
    "order",
    "fill",
    "order_done",
    "breaker",
    "kill_switch",
    "published",
    "holds",
    "reconcile",
    "client_ids",
];

/// What the hot path sends to the writer: the event and its time and mode.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ts_ms: i64,
    pub mode: TradingMode,
    pub event: Event,
}

/// A breaker or kill-switch change (rare; may allocate).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub reason: String,
    pub detail: String,
    pub by: &'static str,
    pub client: String,
    pub override_: bool,
}

/// Events in engine units (instrument ids, scaled integers); the writer
/// turns them into a [`Body`] with the instrument table.
#[derive(Debug, Clone)]
pub enum Event {
    Decision {
        decision_id: u64,
        inst: InstrumentId,
        action: Action,
        score: f32,
        confidence: f32,
        qty: i64,
        bid: i64,
        ask: i64,
        /// Number of the model version (`score::versions`).
        model_version: u16,
    },
    Verdict {
        decision_id: u64,
        inst: InstrumentId,
        /// `None` = EXECUTE; otherwise the full SKIP reason label.
        skip: Option<Arc<str>>,
    },
    Order {
        client_order_id: u64,
        decision_id: u64,
        inst: InstrumentId,
        side: Side,
        qty: i64,
        limit_px: i64,
    },
    Fill {
        client_order_id: u64,
        inst: InstrumentId,
        side: Side,
        px: i64,
        qty: i64,
        fee: Money,
        fee_asset: crate::core::FeeAsset,
        position_after: i64,
        realized_pnl: Money,
    },
    OrderDone {
        client_order_id: u64,
        inst: InstrumentId,
        status: OrderStatus,
        note: &'static str,
    },
    Breaker {
        open: bool,
        change: Box<Change>,
    },
    KillSwitch {
        on: bool,
        change: Box<Change>,
    },
    /// Summed HOLD decisions (see [`Body::Holds`]).
    Holds {
        inst: InstrumentId,
        count: u64,
        first_decision_id: u64,
        last_decision_id: u64,
        reason: Arc<str>,
        /// Number of the model version (`score::versions`).
        model_version: u16,
    },
    /// A spilled Redis entry (sent by the publisher thread, never the hot path).
    Published(Box<Published>),
    /// A reconciliation discrepancy (startup, never the hot path).
    Reconcile(Box<ReconcileNote>),
    /// A venue session's client id scheme (see [`Body::ClientIds`]; sent
    /// once per session start, never the hot path).
    ClientIds(Box<ClientIdsNote>),
    /// Not a record: a barrier ([`crate::journal::JournalTx::sync`]). The
    /// writer answers it once everything queued before it is written and
    /// synced to disk.
    Sync(Box<SyncBarrier>),
}

/// See [`Event::Sync`].
#[derive(Debug, Clone)]
pub struct SyncBarrier {
    /// Where the writer answers (`Err`: a record before it was lost, or
    /// the sync failed).
    pub done: std::sync::mpsc::SyncSender<Result<(), String>>,
    /// The writer's error count when the barrier was queued: any error
    /// after it is a record queued before the barrier that was lost.
    pub errors_before: u64,
}

/// See [`Body::ClientIds`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdsNote {
    pub venue: crate::core::Venue,
    pub prefix: String,
    pub epoch_ms: u64,
}

/// See [`Body::Reconcile`] (quantities and prices already as decimal text).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileNote {
    pub inst: InstrumentId,
    pub kind: &'static str,
    pub client_order_id: String,
    pub journal: String,
    pub venue_value: String,
    pub price: String,
    pub detail: String,
}

/// See [`Body::Published`].
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub epoch_ms: u64,
    pub seq: u64,
    pub stream: &'static str,
    pub fields: Vec<(&'static str, String)>,
    pub at_shutdown: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `f64` as a decimal string that parses back to the same bits (Rust's
/// shortest round-trip formatting and its correctly rounded parser).
pub mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:?}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<f64>().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_exactly() {
        let r = Record {
            id: 7,
            ts_ms: 1_700_000_000_123,
            mode: TradingMode::Paper,
            body: Body::Fill {
                client_order_id: 3,
                venue: "binance".into(),
                symbol: "BTCUSDT".into(),
                side: "BUY".into(),
                px: "60000.10".into(),
                qty: "0.002".into(),
                fee: Money::parse("0.3").unwrap(),
                fee_asset: String::new(),
                position_after: "0.004".into(),
                realized_pnl: Money::parse("-0.33333333").unwrap(),
            },
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"kind\":\"fill\""), "{text}");
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        assert!(
            text.contains("\"fee\":\"0.30000000\"")
                && text.contains("\"realized_pnl\":\"-0.33333333\""),
            "{text}"
        );
        // A record written by an older engine (float text) still loads.
        let old = text
            .replace("\"0.30000000\"", "\"0.30000000000000004\"")
            .replace("\"-0.33333333\"", "\"-0.3333333333333333\"");
        assert_ne!(old, text);
        assert_eq!(serde_json::from_str::<Record>(&old).unwrap(), r);
        let b = Record {
            id: 8,
            ts_ms: 1,
            mode: TradingMode::Live,
            body: Body::Breaker {
                state: "open".into(),
                reason: "daily_loss".into(),
                detail: "x".into(),
                by: "auto".into(),
                client: String::new(),
                override_: false,
            },
        };
        let text = serde_json::to_string(&b).unwrap();
        assert!(text.contains("\"override\":false") && text.contains("\"mode\":\"live\""));
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), b);
    }

    #[test]
    fn decisions_name_their_model_and_old_records_still_read() {
        // Written before model versions were recorded: no `model_version`.
        let old = r#"{"id":5,"ts_ms":1,"mode":"paper","kind":"decision","decision_id":9,"venue":"binance","symbol":"BTCUSDT","action":"BUY","score":0.5,"confidence":0.5,"qty":"0.001","bid":"1.0","ask":"1.1"}"#;
        let r: Record = serde_json::from_str(old).unwrap();
        let Body::Decision { model_version, .. } = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(model_version, "");
        let old = r#"{"id":6,"ts_ms":1,"mode":"paper","kind":"holds","venue":"binance","symbol":"BTCUSDT","count":3,"first_decision_id":1,"last_decision_id":3,"reason":"hold"}"#;
        let r: Record = serde_json::from_str(old).unwrap();
        assert!(matches!(&r.body, Body::Holds { model_version, .. } if model_version.is_empty()));
        // New records carry it and read back equal.
        let r = Record {
            id: 7,
            ts_ms: 1,
            mode: TradingMode::Paper,
            body: Body::Decision {
                decision_id: 10,
                venue: "binance".into(),
                symbol: "BTCUSDT".into(),
                action: "SELL".into(),
                score: -0.5,
                confidence: 0.5,
                qty: "0.001".into(),
                bid: "1.0".into(),
                ask: "1.1".into(),
                model_version: "lgbm-2026.12.1".into(),
            },
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains(r#""model_version":"lgbm-2026.12.1""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    }

    #[test]
    fn fee_assets_are_written_only_when_not_the_quote() {
        let mut r = Record {
            id: 9,
            ts_ms: 1,
            mode: TradingMode::Live,
            body: Body::Fill {
                client_order_id: 3,
                venue: "binance".into(),
                symbol: "BTCUSDT".into(),
                side: "BUY".into(),
                px: "60000.10".into(),
                qty: "0.002".into(),
                fee: Money::parse("0.00012345").unwrap(),
                fee_asset: "BNB".into(),
                position_after: "0.002".into(),
                realized_pnl: Money::ZERO,
            },
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""fee_asset":"BNB""#), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
        // A quote fee: no field, as older journals (which still read).
        if let Body::Fill { fee_asset, .. } = &mut r.body {
            fee_asset.clear();
        }
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("fee_asset"), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    }
}
