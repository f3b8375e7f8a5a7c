//! The Bybit/OKX venues' own checks: window counting and the ticker
//! frames' shapes against the venues' recorded samples.
use super::*;
use crate::bybit::bybit_ticker_json;
use crate::okx::{okx_bbo_json, okx_ticker_json};

#[test]
fn window_counts() {
    let t = Instant::now();
    let v: Vec<Instant> = [0, 100, 200, 1500, 1600]
        .iter()
        .map(|ms| t + Duration::from_millis(*ms))
        .collect();
    assert_eq!(max_in_window(&v, Duration::from_secs(1)), 3);
    assert_eq!(max_in_window(&v, Duration::from_secs(10)), 5);
    assert_eq!(max_in_window(&[], Duration::from_secs(1)), 0);
}

fn keys(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn sample(path: &str) -> Option<serde_json::Value> {
    let p = crate::samples_dir().join(path);
    match std::fs::read_to_string(&p) {
        Ok(t) => Some(serde_json::from_str(&t).unwrap()),
        Err(_) => {
            crate::samples_absent("simulator field names vs the venues' samples", &p);
            None
        }
    }
}

fn sims() -> VenueSims {
    let v = |venue, symbol: &str, ct: Option<&str>| VenueSimSymbol {
        venue,
        symbol: symbol.into(),
        tick_size: "0.1".into(),
        lot_size: "0.001".into(),
        contract_value: ct.map(str::to_string),
        start_price: 100.0,
        follows: None,
        min_notional: 0.0,
    };
    VenueSims::new(
        &[
            v(SimVenue::Bybit, "BTCUSDT", None),
            v(SimVenue::Okx, "BTC-USDT-SWAP", Some("0.001")),
        ],
        &HashMap::new(),
        1,
        10,
    )
    .unwrap()
}

#[test]
fn ticker_frames_have_the_real_shapes() {
    let v = sims();
    let (by, ok) = (&v.syms[0], &v.syms[1]);
    let top: SimTop = ((10_000, 2_000), (10_001, 3_000));
    let snap: serde_json::Value =
        serde_json::from_str(&bybit_ticker_json(by, None, top, 7, 1)).unwrap();
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["data"]["bid1Price"], "1000.0");
    assert_eq!(snap["data"]["ask1Size"], "3.000");
    // A delta carries only what changed (the bid size here).
    let next: SimTop = ((10_000, 2_500), (10_001, 3_000));
    let delta: serde_json::Value =
        serde_json::from_str(&bybit_ticker_json(by, Some(top), next, 8, 2)).unwrap();
    assert_eq!(delta["type"], "delta");
    assert_eq!(
        keys(&delta["data"]),
        ["bid1Size", "symbol"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(delta["data"]["bid1Size"], "2.500");
    // OKX sizes are contracts (ctVal 0.001: 2.000 base = 2000 contracts).
    let bbo: serde_json::Value = serde_json::from_str(&okx_bbo_json(ok, top, 9, 3)).unwrap();
    assert_eq!(bbo["data"][0]["bids"][0][1], "2000");
    let tk: serde_json::Value = serde_json::from_str(&okx_ticker_json(ok, top, 4)).unwrap();
    assert_eq!(tk["data"][0]["askSz"], "3000");
    assert_eq!(tk["data"][0]["bidPx"], "1000.0");
    // The same fields as the real captures.
    if let Some(real) = sample("bybit/tickers_BTCUSDT_linear_snapshot_2023-04-05.json") {
        assert_eq!(keys(&snap), keys(&real));
        assert_eq!(keys(&snap["data"]), keys(&real["data"]));
    }
    if let Some(real) = sample("okx/tickers_UNI-USD-SWAP_2022-05-13.json") {
        assert_eq!(keys(&tk), keys(&real));
        assert_eq!(keys(&tk["data"][0]), keys(&real["data"][0]));
    }
    if let Some(real) = sample("okx/bbo-tbt_BTC-USDT-SWAP_2022-05-05_tardis.json") {
        assert_eq!(keys(&bbo), keys(&real));
        // Today's bbo-tbt adds `seqId` to the 2022 capture's fields.
        assert!(keys(&real["data"][0]).is_subset(&keys(&bbo["data"][0])));
        assert_eq!(
            bbo["data"][0]["asks"][0].as_array().unwrap().len(),
            real["data"][0]["asks"][0].as_array().unwrap().len()
        );
    }
}
