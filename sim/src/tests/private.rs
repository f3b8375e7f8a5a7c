//! The user data stream over real sockets: listenKey lifecycle and
//! refusals, and the events of order lifecycles (new → partial → filled,
//! GTC rest → market crosses → fill, cancel, IOC expiry).

use super::api::*;
use super::*;
use crate::binance::SIM_API_KEY;
use reqwest::Method;

const NO_KEY: &str = r#"{"code":-1125,"msg":"This listenKey does not exist."}"#;

/// Connecting with `url` is refused with HTTP 400 and Binance's -1125 body.
async fn refused(url: &str) {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("{url}: connection accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 400);
            let body = r
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).to_string());
            assert_eq!(body.as_deref(), Some(NO_KEY));
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

#[tokio::test]
async fn listen_key_lifecycle_expiry_and_refusals() {
    let sim = SimHandle::start(spec(50, 10)).unwrap();
    let api = Api::new(&sim);
    let (s, v, _) = api.key(Method::POST, None).await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(-2014)));
    let (s, v, _) = api.key(Method::POST, Some("wrong")).await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(-2015)));
    // No key yet: keepalive and close are refused.
    let (s, v, _) = api.key(Method::PUT, Some(SIM_API_KEY)).await;
    assert_eq!((s, v.to_string()), (400, NO_KEY.to_string()));
    let (key, mut ws) = api.stream().await;
    assert_eq!(key.len(), 64);
    assert_eq!(sim.listen_key().as_deref(), Some(key.as_str()));
    // POST again: the same key, extended; PUT: the same key.
    let (s, v, h1) = api.key(Method::POST, Some(SIM_API_KEY)).await;
    assert_eq!((s, v["listenKey"].as_str()), (200, Some(key.as_str())));
    let (s, v, h2) = api.key(Method::PUT, Some(SIM_API_KEY)).await;
    assert_eq!((s, v["listenKey"].as_str()), (200, Some(key.as_str())));
    assert_eq!(weight(&h2), weight(&h1) + 1, "weight 1");
    // The legacy path works too; a wrong key is refused.
    let mut legacy = connect(&format!("{}/ws/{key}", api.ws)).await;
    refused(&format!(
        "{}/private/ws?listenKey={}",
        api.ws,
        "x".repeat(64)
    ))
    .await;
    refused(&format!("{}/ws/{}", api.ws, "Y".repeat(64))).await;
    let st = sim.stats();
    assert_eq!(
        (
            st.listen_keys_created,
            st.listen_keys_kept_alive,
            st.private_connections_open,
            st.private_connections_refused
        ),
        (1, 2, 2, 2)
    );
    // A short validity: both connections get listenKeyExpired, then a close frame.
    sim.set_listen_key_validity(Duration::from_millis(200));
    for w in [&mut ws, &mut legacy] {
        let ev = event(w, Duration::from_secs(2)).await;
        assert_eq!(
            (&ev["e"], &ev["listenKey"]),
            (&"listenKeyExpired".into(), &key.clone().into())
        );
        assert!(ev["E"].is_i64());
        assert!(matches!(
            next_text(w, Duration::from_secs(2)).await,
            Next::Closed { clean: true }
        ));
    }
    assert_eq!(sim.listen_key(), None);
    let (s, v, _) = api.key(Method::PUT, Some(SIM_API_KEY)).await;
    assert_eq!((s, v.to_string()), (400, NO_KEY.to_string()));
    refused(&format!("{}/private/ws?listenKey={key}", api.ws)).await;
    // A new key after expiry; DELETE closes it and its connection.
    sim.set_listen_key_validity(crate::binance::KEY_VALIDITY);
    let (key2, mut ws2) = api.stream().await;
    assert_ne!(key2, key);
    let (s, v, _) = api.key(Method::DELETE, Some(SIM_API_KEY)).await;
    assert_eq!((s, v.to_string()), (200, "{}".to_string()));
    assert!(matches!(
        next_text(&mut ws2, Duration::from_secs(2)).await,
        Next::Closed { .. }
    ));
    let (s, _, _) = api.key(Method::DELETE, Some(SIM_API_KEY)).await;
    assert_eq!(s, 400);
    let st = sim.stats();
    assert_eq!((st.listen_keys_created, st.listen_keys_expired), (2, 1));
}

/// Checks the fill events: each TRADE_LITE right before the
/// ORDER_TRADE_UPDATE of the same trade id; returns the trade events.
fn trades_of<'a>(evs: &'a [serde_json::Value], cid: &str) -> Vec<&'a serde_json::Value> {
    let mut out = Vec::new();
    for (i, ev) in evs.iter().enumerate() {
        if ev["e"] == "ORDER_TRADE_UPDATE" && ev["o"]["x"] == "TRADE" && ev["o"]["c"] == cid {
            let lite = &evs[i - 1];
            assert_eq!(lite["e"], "TRADE_LITE", "TRADE_LITE first: {lite}");
            assert_eq!(lite["t"], ev["o"]["t"]);
            assert_eq!(
                (&lite["l"], &lite["L"], &lite["m"]),
                (&ev["o"]["l"], &ev["o"]["L"], &ev["o"]["m"])
            );
            out.push(ev);
        }
    }
    out
}

#[tokio::test]
async fn new_partial_filled_lifecycle_on_the_stream_and_in_the_account() {
    let sim = SimHandle::start(spec(200, 20)).unwrap();
    let api = Api::new(&sim);
    let (_key, mut ws) = api.stream().await;
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let (ask, ask_q) = book.asks[0];
    let q = ask_q + 5;
    let (s, v, _) = api.limit("life-1", "BUY", &px(ask), &qty(q)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["status"], v["executedQty"].as_str()),
        (&"PARTIALLY_FILLED".into(), Some(qty(ask_q).as_str()))
    );
    let first = events_until(&mut ws, Duration::from_secs(2), |e| {
        e["e"] == "ACCOUNT_UPDATE"
    })
    .await;
    assert!(
        is_update(&first[0], "life-1", "NEW") && first[0]["o"]["x"] == "NEW",
        "{}",
        first[0]
    );
    let t = trades_of(&first, "life-1");
    assert_eq!(t.len(), 1);
    let o = &t[0]["o"];
    assert_eq!(
        (o["X"].as_str(), o["l"].as_str(), o["z"].as_str()),
        (
            Some("PARTIALLY_FILLED"),
            Some(qty(ask_q).as_str()),
            Some(qty(ask_q).as_str())
        )
    );
    assert_eq!(
        (o["L"].as_str(), o["m"].as_bool(), o["N"].as_str()),
        (Some(px(ask).as_str()), Some(false), Some("USDT"))
    );
    let acct = &first.last().unwrap()["a"];
    assert_eq!(
        (acct["m"].as_str(), acct["P"][0]["pa"].as_str()),
        (Some("ORDER"), Some(qty(ask_q).as_str()))
    );
    // The market keeps trading through the rest of the order.
    sim.resume();
    sim.steer_market("BTCUSDT", &px(ask - 100));
    let rest = events_until(&mut ws, Duration::from_secs(5), |e| {
        is_update(e, "life-1", "FILLED")
    })
    .await;
    let mut all = first.clone();
    all.extend(rest);
    let trades = trades_of(&all, "life-1");
    let ids: std::collections::BTreeSet<i64> = trades
        .iter()
        .map(|e| e["o"]["t"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), trades.len(), "trade ids unique");
    let filled: i64 = trades
        .iter()
        .map(|e| parse_decimal(e["o"]["l"].as_str().unwrap().as_bytes(), BTC_QTY).unwrap())
        .sum();
    assert_eq!(filled, q);
    for e in &trades[1..] {
        assert_eq!(
            (e["o"]["L"].as_str(), e["o"]["m"].as_bool()),
            (Some(px(ask).as_str()), Some(true)),
            "resting fills at the order price, maker"
        );
    }
    let last = trades.last().unwrap();
    assert_eq!(
        (last["o"]["X"].as_str(), last["o"]["z"].as_str()),
        (Some("FILLED"), Some(qty(q).as_str()))
    );
    // userTrades lists the same trades; the wallet paid their commissions.
    let (s, v, _) = api
        .signed(Method::GET, "/fapi/v1/userTrades", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(s, 200, "{v}");
    let listed: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().copied().collect::<Vec<_>>());
    let fees: i128 = trades.iter().map(|e| usdt_of(&e["o"]["n"])).sum();
    let (s, b, _) = api.signed(Method::GET, "/fapi/v3/balance", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(usdt_of(&b[0]["balance"]), 100_000 * 100_000_000 - fees);
    let a = sim.account();
    assert_eq!(a.positions[0].1, qty(q));
    assert!(a.open_orders.is_empty());
    assert_eq!(sim.stats().fills as usize, trades.len());
}

#[tokio::test]
async fn gtc_rests_until_the_market_crosses_then_fills_as_maker() {
    let sim = SimHandle::start(spec(200, 20)).unwrap();
    let api = Api::new(&sim);
    let (_key, mut ws) = api.stream().await;
    sim.pause();
    let p = sim.book("BTCUSDT").unwrap().bids[0].0 - 50;
    let (s, v, _) = api.limit("rest-1", "BUY", &px(p), "0.002").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("NEW")), "{v}");
    let ev = event(&mut ws, Duration::from_secs(2)).await;
    assert!(is_update(&ev, "rest-1", "NEW"), "{ev}");
    // Nothing else while the market stands still.
    assert!(matches!(
        next_text(&mut ws, Duration::from_millis(300)).await,
        Next::Timeout
    ));
    sim.resume();
    assert!(sim.steer_market("BTCUSDT", &px(p - 200)));
    let evs = events_until(&mut ws, Duration::from_secs(5), |e| {
        e["e"] == "ACCOUNT_UPDATE"
    })
    .await;
    let trades = trades_of(&evs, "rest-1");
    let o = &trades.last().unwrap()["o"];
    assert_eq!(
        (
            o["X"].as_str(),
            o["L"].as_str(),
            o["m"].as_bool(),
            o["ap"].as_str()
        ),
        (
            Some("FILLED"),
            Some(px(p).as_str()),
            Some(true),
            Some(format!("{}0", px(p)).as_str())
        )
    );
    // Maker fee 0.02 % of the notional, in USDT at 8 decimals.
    let notional8 = i128::from(p) * 2 * 1000;
    assert_eq!(
        usdt_of(&o["n"]),
        (notional8 * 20_000 + 50_000_000) / 100_000_000
    );
    let acct = &evs.last().unwrap()["a"];
    assert_eq!(
        (acct["P"][0]["pa"].as_str(), acct["P"][0]["ps"].as_str()),
        (Some("0.002"), Some("BOTH"))
    );
    assert_eq!(
        acct["P"][0]["ep"].as_str(),
        Some(format!("{}0", px(p)).as_str())
    );
    let (_, v, _) = api
        .signed(
            Method::GET,
            "/fapi/v1/userTrades",
            &[("symbol", "BTCUSDT"), ("limit", "1")],
        )
        .await;
    assert_eq!(
        (
            v[0]["maker"].as_bool(),
            v[0]["buyer"].as_bool(),
            v[0]["price"].as_str()
        ),
        (Some(true), Some(true), Some(px(p).as_str()))
    );
}

#[tokio::test]
async fn cancel_and_ioc_expiry_are_streamed() {
    let sim = SimHandle::start(spec(200, 20)).unwrap();
    let api = Api::new(&sim);
    let (_key, mut ws) = api.stream().await;
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let far = book.bids.last().unwrap().0 - 1000;
    let (s, v, _) = api.limit("gtc-c", "BUY", &px(far), "0.001").await;
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = api
        .signed(
            Method::DELETE,
            "/fapi/v1/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "gtc-c")],
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CANCELED")));
    let evs = events_until(&mut ws, Duration::from_secs(2), |e| {
        is_update(e, "gtc-c", "CANCELED")
    })
    .await;
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[1]["o"]["x"], "CANCELED");
    let (ask, ask_q) = book.asks[0];
    let (s, v, _) = api
        .order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "IOC"),
            ("price", &px(ask)),
            ("quantity", &qty(ask_q + 3)),
            ("newClientOrderId", "ioc-1"),
        ])
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (200, Some("NEW")),
        "ACK reply: {v}"
    );
    let evs = events_until(&mut ws, Duration::from_secs(2), |e| {
        e["e"] == "ACCOUNT_UPDATE"
    })
    .await;
    let kinds: Vec<String> = evs
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["e"].as_str().unwrap(),
                e["o"]["x"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ORDER_TRADE_UPDATE/NEW",
            "TRADE_LITE/",
            "ORDER_TRADE_UPDATE/TRADE",
            "ORDER_TRADE_UPDATE/EXPIRED",
            "ACCOUNT_UPDATE/"
        ]
    );
    assert_eq!(
        (evs[3]["o"]["X"].as_str(), evs[3]["o"]["z"].as_str()),
        (Some("EXPIRED"), Some(qty(ask_q).as_str()))
    );
}
