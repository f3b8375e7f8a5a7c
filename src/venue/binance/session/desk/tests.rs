//! The desk hands exec each fill's commission with its asset: the
//! instrument's quote (from the symbol, then `exchangeInfo`), another asset
//! (`BNB`), or `UNKNOWN` for an unreadable code (counted, never the quote).

use super::*;
use crate::exec::lifecycle::{Fee, Fill};

fn fill(id: &str, fee: &str, asset: &str) -> LifeEvent {
    LifeEvent::Fill(Fill {
        trade_id: id.into(),
        qty: 1,
        px: 1_000,
        fee: Some(Fee {
            amount: Money::parse(fee).unwrap(),
            asset: asset.into(),
        }),
    })
}

#[test]
fn fills_carry_their_fee_asset_to_exec() {
    let table = crate::core::testkit::btc_table();
    let metrics = Arc::new(crate::telemetry::metrics::Metrics::new());
    let shared = Arc::new(crate::pipeline::shared::Shared::new(
        table,
        metrics.clone(),
        "t".into(),
        crate::config::TradingMode::Testnet,
    ));
    let (mut exec, session) =
        crate::exec::gateway::ports(64, crate::config::WaitKind::Park, &metrics);
    let m = SessionMetrics::new(&metrics, crate::core::Venue::Binance);
    let mut desk = Desk::new(
        session.reports,
        m,
        shared,
        crate::core::Venue::Binance,
        crate::exec::unknown::ResolverConfig::default(),
        Duration::ZERO,
    );
    let btc = InstrumentId(0);
    assert_eq!(desk.quote_asset(btc), Some("USDT"), "from the symbol");
    desk.register("c1", 1, btc, Side::Buy, 10);
    desk.apply(
        "c1",
        &[
            LifeEvent::Ack {
                venue_order_id: Some("v1".into()),
            },
            fill("1", "0.01", "USDT"),
            fill("2", "0.00001234", "BNB"),
            fill("3", "0.5", "B N B"),
        ],
    );
    // exchangeInfo says otherwise: USDT is then another asset.
    desk.set_quote_asset(btc, "usdc");
    desk.apply(
        "c1",
        &[fill("4", "0.02", "USDT"), fill("5", "0.03", "USDC")],
    );
    let mut got = Vec::new();
    while let Some(r) = exec.reports.try_next() {
        if let VenueReport::Fill { fee, fee_asset, .. } = r {
            got.push((fee.to_string(), fee_asset));
        }
    }
    let other = |a: &str| FeeAsset::other(a).unwrap();
    assert_eq!(
        got,
        vec![
            ("0.01000000".to_string(), FeeAsset::QUOTE),
            ("0.00001234".to_string(), other("BNB")),
            ("0.50000000".to_string(), FeeAsset::UNKNOWN),
            ("0.02000000".to_string(), other("USDT")),
            ("0.03000000".to_string(), FeeAsset::QUOTE),
        ]
    );
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&metrics.registry.gather())
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("qt_order_anomalies_total")
                && l.contains("kind=\"bad_fee_asset\"")
                && l.ends_with(" 1")),
        "{text}"
    );
}
