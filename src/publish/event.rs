//! What the publisher carries and writes: small `Copy` events made on the hot
//! path (no allocation, no formatting), and their rendering, on the publisher
//! thread, into a stream key, an explicit stream id and the documented fields.

use crate::core::{Action, InstrumentTable, OrderStatus, Side, format_decimal};
use crate::score::features::FEATURE_NAMES;

pub use crate::core::StreamKind;
pub use crate::pipeline::outbox::{Body, PubEvent};

/// The explicit stream id of an event of the engine life started at `epoch_ms`.
pub fn stream_id(epoch_ms: u64, seq: u64) -> String {
    format!("{epoch_ms}-{seq}")
}

/// Field/value pairs of one entry.
pub type Fields = Vec<(&'static str, String)>;

fn side_str(s: Side) -> &'static str {
    s.as_str()
}

/// Renders an event's fields. `event_id` (= the stream id) and `ts_ms` lead
/// every entry; prices and quantities are exact decimals in the venue's
/// notation; unknown instruments render as `?` rather than failing.
/// `labels`: the governor's verdict labels by slot (empty: the plain reason).
pub fn fields(
    ev: &PubEvent,
    epoch_ms: u64,
    table: &InstrumentTable,
    labels: &[std::sync::Arc<str>],
) -> Fields {
    let mut f: Fields = Vec::with_capacity(24);
    f.push(("event_id", stream_id(epoch_ms, ev.seq)));
    f.push(("ts_ms", ev.ts_ms.to_string()));
    let inst_of = |i: u16| table.try_get(crate::core::InstrumentId(i));
    let sym = |i: u16| {
        inst_of(i)
            .map(|x| x.symbol.clone())
            .unwrap_or_else(|| "?".into())
    };
    let px = |i: u16, v: i64| {
        inst_of(i)
            .map(|x| format_decimal(v, x.price_scale))
            .unwrap_or_else(|| v.to_string())
    };
    let qty = |i: u16, v: i64| {
        inst_of(i)
            .map(|x| format_decimal(v, x.qty_scale))
            .unwrap_or_else(|| v.to_string())
    };
    match ev.body {
        Body::Decision {
            decision_id,
            venue,
            inst,
            action,
            score,
            confidence,
            features,
            feature_mask,
            model_version,
            exch_ms,
        } => {
            f.push(("type", "decision".into()));
            f.push(("decision_id", decision_id.to_string()));
            f.push(("symbol", sym(inst)));
            f.push(("venue", venue.as_str().into()));
            f.push(("action", action.as_str().into()));
            f.push(("score", score.to_string()));
            f.push(("confidence", confidence.to_string()));
            f.push((
                "model_version",
                crate::score::versions::name(model_version).to_string(),
            ));
            let feats: serde_json::Map<String, serde_json::Value> = FEATURE_NAMES
                .iter()
                .zip(features.iter())
                .enumerate()
                .filter(|(i, _)| feature_mask & (1 << i) != 0)
                .map(|(_, x)| x)
                .map(|(n, v)| {
                    let v = serde_json::Number::from_f64(*v as f64)
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::Null);
                    (n.to_string(), v)
                })
                .collect();
            f.push(("features", serde_json::Value::Object(feats).to_string()));
            f.push(("event_time_ms", exch_ms.to_string()));
        }
        Body::Verdict {
            decision_id,
            venue,
            inst,
            action,
            skip,
            slot,
            executed,
        } => {
            f.push(("type", "verdict".into()));
            f.push(("decision_id", decision_id.to_string()));
            f.push(("symbol", sym(inst)));
            f.push(("venue", venue.as_str().into()));
            f.push(("action", action.as_str().into()));
            f.push((
                "decision",
                if skip.is_none() { "EXECUTE" } else { "SKIP" }.into(),
            ));
            f.push(("executed", executed.to_string()));
            f.push(("would_execute", (action != Action::Hold).to_string()));
            let error = match skip {
                None => String::new(),
                Some(r) => labels
                    .get(slot as usize)
                    .filter(|l| l.starts_with(r.as_str()))
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| r.as_str().to_string()),
            };
            f.push(("error", error));
            f.push(("time_ms", ev.ts_ms.to_string()));
        }
        Body::Intent {
            client_order_id,
            decision_id,
            venue,
            inst,
            side,
            qty: q,
            limit_px,
        } => {
            f.push(("type", "intent".into()));
            f.push(("client_order_id", client_order_id.to_string()));
            f.push(("decision_id", decision_id.to_string()));
            f.push(("symbol", sym(inst)));
            f.push(("venue", venue.as_str().into()));
            f.push(("side", side_str(side).into()));
            f.push(("qty", qty(inst, q)));
            f.push(("limit_price", px(inst, limit_px)));
            f.push(("order_type", "IOC".into()));
        }
        Body::Order {
            client_order_id,
            decision_id,
            venue,
            inst,
            side,
            qty: q,
            limit_px,
        } => {
            f.push(("type", "order".into()));
            f.push(("client_order_id", client_order_id.to_string()));
            f.push(("venue_order_id", paper_venue_id(client_order_id)));
            f.push(("decision_id", decision_id.to_string()));
            f.push(("symbol", sym(inst)));
            f.push(("venue", venue.as_str().into()));
            f.push(("side", side_str(side).into()));
            f.push(("status", OrderStatus::New.as_str().into()));
            f.push(("price", px(inst, limit_px)));
            f.push(("qty", qty(inst, q)));
        }
        Body::Fill {
            client_order_id,
            venue,
            inst,
            side,
            px: p,
            qty: q,
            fee,
            fee_asset,
            position_after,
            realized_pnl,
        } => {
            f.push(("type", "fill".into()));
            f.push(("client_order_id", client_order_id.to_string()));
            f.push(("venue_order_id", paper_venue_id(client_order_id)));
            f.push(("symbol", sym(inst)));
            f.push(("venue", venue.as_str().into()));
            f.push(("side", side_str(side).into()));
            f.push(("price", px(inst, p)));
            f.push(("qty", qty(inst, q)));
            f.push(("fee", fee.to_string()));
            if !fee_asset.is_quote() {
                // Charged in another asset (BNB): not in realized_pnl.
                f.push(("fee_asset", fee_asset.as_str().into()));
            }
            f.push(("position_after", qty(inst, position_after)));
            f.push(("realized_pnl", realized_pnl.to_string()));
        }
        Body::OrderDone {
            client_order_id,
            venue,
            inst,
            status,
        } => {
            f.push(("type", "order_update".into()));
            f.push(("client_order_id", client_order_id.to_string()));
            f.push(("venue_order_id", paper_venue_id(client_order_id)));
            f.push(("symbol", sym(inst)));
            f.push(("venue", venue.as_str().into()));
            f.push(("status", status.as_str().into()));
        }
        Body::Top {
            venue,
            inst,
            bid,
            ask,
            update_id,
            exch_ms,
            in_sync,
        } => {
            f.push(("type", "top_of_book".into()));
            f.push(("symbol", sym(inst)));
            f.push(("venue", venue.as_str().into()));
            f.push(("bid", px(inst, bid.px)));
            f.push(("bid_qty", qty(inst, bid.qty)));
            f.push(("ask", px(inst, ask.px)));
            f.push(("ask_qty", qty(inst, ask.qty)));
            f.push(("update_id", update_id.to_string()));
            f.push(("event_time_ms", exch_ms.to_string()));
            f.push(("in_sync", in_sync.to_string()));
        }
    }
    f
}

/// The paper matcher's venue order id (live venues return theirs).
fn paper_venue_id(client_order_id: u64) -> String {
    format!("paper-{client_order_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Instrument, InstrumentId, N_FEATURES, SkipReason, Venue};

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

    fn get<'a>(f: &'a Fields, k: &str) -> &'a str {
        f.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no field {k} in {f:?}"))
    }

    #[test]
    fn verdict_and_fill_fields() {
        let t = table();
        let ev = PubEvent {
            seq: 7,
            ts_ms: 1_700_000_000_123,
            body: Body::Verdict {
                decision_id: 3,
                venue: Venue::Binance,
                inst: 0,
                action: Action::Sell,
                skip: Some(SkipReason::SkipFlatSell),
                slot: 3,
                executed: false,
            },
        };
        let f = fields(&ev, 1_000, &t, &[]);
        assert_eq!(get(&f, "event_id"), "1000-7");
        assert_eq!(get(&f, "decision"), "SKIP");
        assert_eq!(get(&f, "error"), "skip_flat_sell");
        assert_eq!(get(&f, "executed"), "false");
        assert_eq!(get(&f, "would_execute"), "true");
        assert_eq!(get(&f, "symbol"), "BTCUSDT");
        let ev = PubEvent {
            seq: 8,
            ts_ms: 1,
            body: Body::Fill {
                client_order_id: 5,
                venue: Venue::Binance,
                inst: 0,
                side: Side::Buy,
                px: 6_000_010,
                qty: 2,
                fee: crate::core::Money::parse("0.048").unwrap(),
                fee_asset: crate::core::FeeAsset::QUOTE,
                position_after: 2,
                realized_pnl: crate::core::Money::ZERO,
            },
        };
        let f = fields(&ev, 1_000, &t, &[]);
        assert_eq!(get(&f, "price"), "60000.10");
        assert_eq!(get(&f, "qty"), "0.002");
        assert_eq!(get(&f, "position_after"), "0.002");
        assert_eq!(get(&f, "fee"), "0.04800000");
        assert_eq!(get(&f, "realized_pnl"), "0.00000000");
        assert_eq!(get(&f, "venue_order_id"), "paper-5");
        assert_eq!(ev.body.stream(), StreamKind::Execution);
        // An unknown instrument renders, never panics.
        let ev = PubEvent {
            seq: 9,
            ts_ms: 1,
            body: Body::OrderDone {
                client_order_id: 5,
                venue: Venue::Binance,
                inst: 99,
                status: OrderStatus::Filled,
            },
        };
        assert_eq!(get(&fields(&ev, 1, &t, &[]), "symbol"), "?");
        // The governor's label names the full reason.
        let ev = PubEvent {
            seq: 10,
            ts_ms: 1,
            body: Body::Verdict {
                decision_id: 4,
                venue: Venue::Binance,
                inst: 0,
                action: Action::Buy,
                skip: Some(SkipReason::HeartbeatMissing),
                slot: 1,
                executed: false,
            },
        };
        let labels: Vec<std::sync::Arc<str>> =
            vec!["".into(), "heartbeat_missing:rl_trainer".into()];
        assert_eq!(
            get(&fields(&ev, 1, &t, &labels), "error"),
            "heartbeat_missing:rl_trainer"
        );
    }

    #[test]
    fn decision_fields_name_the_model_and_the_computed_features() {
        use crate::score::registry::{BASE, idx};
        let t = table();
        let v = crate::score::versions::intern("publish-test-v7").unwrap();
        let mut features = [0.0f32; N_FEATURES];
        features[idx::MID] = 100.5;
        features[idx::OFI_1S] = 2.0;
        features[idx::OFI_10S] = 9.0; // not in the mask: not written
        let ev = PubEvent {
            seq: 1,
            ts_ms: 1,
            body: Body::Decision {
                decision_id: 4,
                venue: Venue::Binance,
                inst: 0,
                action: Action::Buy,
                score: 0.25,
                confidence: 0.25,
                features,
                feature_mask: BASE | (1 << idx::OFI_1S),
                model_version: v,
                exch_ms: 5,
            },
        };
        let f = fields(&ev, 1, &t, &[]);
        assert_eq!(get(&f, "model_version"), "publish-test-v7");
        let j: serde_json::Value = serde_json::from_str(get(&f, "features")).unwrap();
        let o = j.as_object().unwrap();
        assert_eq!(o.len(), 9);
        assert_eq!(j["mid"], 100.5);
        assert_eq!(j["ofi_1s"], 2.0);
        assert!(j.get("ofi_10s").is_none());
    }
}
