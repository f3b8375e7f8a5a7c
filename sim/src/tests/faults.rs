//! The simulator's fault switches (gap, malformed frame, dropped
//! connections, silence and pause) and its REST endpoints and errors.

use super::*;
use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMsg;

#[tokio::test]
async fn gap_fault_breaks_pu_chain() {
    let sim = SimHandle::start(spec(2_000, 50)).unwrap();
    let mut ws = connect(&format!("{}/stream?streams=btcusdt@depth", sim.ws_url())).await;
    let mut prev_u = None;
    let mut breaks = 0;
    for i in 0..600 {
        if i == 100 {
            sim.inject(Fault::Gap("BTCUSDT".into()));
        }
        let Next::Text(t) = next_text(&mut ws, Duration::from_secs(3)).await else {
            panic!("no frame");
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        let d = &v["data"];
        let (u, pu) = (d["u"].as_u64().unwrap(), d["pu"].as_u64().unwrap());
        if let Some(p) = prev_u
            && p != pu
        {
            breaks += 1;
        }
        prev_u = Some(u);
    }
    assert_eq!(breaks, 1, "exactly one gap expected");
}

#[tokio::test]
async fn malformed_fault_sends_one_invalid_frame() {
    let sim = SimHandle::start(spec(2_000, 50)).unwrap();
    let mut ws = connect(&format!(
        "{}/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/ethusdt@bookTicker",
        sim.ws_url()
    ))
    .await;
    let mut invalid = 0;
    for i in 0..800 {
        if i == 50 {
            sim.inject(Fault::Malformed("BTCUSDT".into()));
        }
        let Next::Text(t) = next_text(&mut ws, Duration::from_secs(3)).await else {
            panic!("no frame");
        };
        if serde_json::from_str::<serde_json::Value>(&t).is_err() {
            assert!(t.starts_with("{\"stream\":\"btcusdt@"), "{t}");
            invalid += 1;
        }
    }
    assert_eq!(invalid, 1);
}

#[tokio::test]
async fn drop_connections_closes_abruptly() {
    let sim = SimHandle::start(spec(500, 50)).unwrap();
    let mut ws = connect(&format!(
        "{}/stream?streams=btcusdt@bookTicker",
        sim.ws_url()
    ))
    .await;
    assert!(matches!(
        next_text(&mut ws, Duration::from_secs(2)).await,
        Next::Text(_)
    ));
    assert_eq!(sim.stats().connections_open, 1);
    sim.inject(Fault::DropConnections);
    loop {
        match next_text(&mut ws, Duration::from_secs(3)).await {
            Next::Text(_) => continue,
            Next::Closed { clean } => {
                assert!(!clean, "no close frame expected");
                break;
            }
            Next::Timeout => panic!("connection not dropped"),
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let st = sim.stats();
    assert_eq!((st.connections_open, st.connections_total), (0, 1));
    // DropAfter: a new connection ends after N more frames.
    let mut ws = connect(&format!("{}/ws/btcusdt@bookTicker", sim.ws_url())).await;
    assert!(matches!(
        next_text(&mut ws, Duration::from_secs(2)).await,
        Next::Text(_)
    ));
    sim.inject(Fault::DropAfter(5));
    let mut n = 0;
    loop {
        match next_text(&mut ws, Duration::from_secs(3)).await {
            Next::Text(_) => n += 1,
            Next::Closed { .. } => break,
            Next::Timeout => panic!("DropAfter did not close"),
        }
    }
    assert!((5..50).contains(&n), "frames after DropAfter(5): {n}");
}

#[tokio::test]
async fn silence_and_pause_stop_frames() {
    let sim = SimHandle::start(spec(1_000, 50)).unwrap();
    let mut ws = connect(&format!(
        "{}/stream?streams=btcusdt@bookTicker",
        sim.ws_url()
    ))
    .await;
    assert!(matches!(
        next_text(&mut ws, Duration::from_secs(2)).await,
        Next::Text(_)
    ));
    sim.inject(Fault::Silence(Duration::from_millis(700)));
    // Drain what was in flight, then nothing (not even pings) until it ends.
    while let Next::Text(_) = next_text(&mut ws, Duration::from_millis(100)).await {}
    let t0 = std::time::Instant::now();
    let mut got_ping = false;
    loop {
        match tokio::time::timeout(Duration::from_millis(250), ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(WsMsg::Ping(_)))) => got_ping = true,
            Ok(other) => panic!("frame during silence: {other:?}"),
        }
    }
    assert!(!got_ping && t0.elapsed() >= Duration::from_millis(240));
    assert!(matches!(
        next_text(&mut ws, Duration::from_secs(2)).await,
        Next::Text(_)
    ));

    sim.pause();
    while let Next::Text(_) = next_text(&mut ws, Duration::from_millis(100)).await {}
    let before = sim.book("BTCUSDT").unwrap();
    // Pings continue while paused.
    let mut pinged = false;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1_200);
    while let Ok(m) = tokio::time::timeout_at(deadline, ws.next()).await {
        match m {
            Some(Ok(WsMsg::Ping(_))) => pinged = true,
            other => panic!("unexpected while paused: {other:?}"),
        }
    }
    assert!(pinged, "pings continue while paused");
    assert_eq!(sim.book("BTCUSDT").unwrap(), before);
    sim.resume();
    assert!(matches!(
        next_text(&mut ws, Duration::from_secs(2)).await,
        Next::Text(_)
    ));
}

#[tokio::test]
async fn rest_endpoints_and_errors() {
    let sim = SimHandle::start(spec(200, 30)).unwrap();
    let base = sim.rest_url();
    sim.inject(Fault::FailSnapshots(2));
    for _ in 0..2 {
        let r = reqwest::get(format!("{base}/fapi/v1/depth?symbol=BTCUSDT"))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#
        );
    }
    let (s, v) = get_json(&format!("{base}/fapi/v1/depth?symbol=BTCUSDT&limit=5")).await;
    assert_eq!(s, 200);
    assert_eq!(v["bids"].as_array().unwrap().len(), 5);
    assert_eq!(v["asks"].as_array().unwrap().len(), 5);
    assert!(v["lastUpdateId"].is_u64());
    let b = levels(&v["bids"]);
    assert!(b.windows(2).all(|w| w[0].0 > w[1].0), "bids descending");
    let (s, v) = get_json(&format!("{base}/fapi/v1/depth?symbol=BTCUSDT")).await;
    assert_eq!((s, v["bids"].as_array().unwrap().len()), (200, 30));

    let (s, v) = get_json(&format!("{base}/fapi/v1/depth?symbol=NOPEUSDT")).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1121)));
    assert_eq!(v["msg"], "Invalid symbol.");
    for bad in ["7", "abc", "-5", "100000000000000000000000"] {
        let (s, v) = get_json(&format!("{base}/fapi/v1/depth?symbol=BTCUSDT&limit={bad}")).await;
        assert_eq!((s, v["code"].as_i64()), (400, Some(-1100)), "limit={bad}");
        assert_eq!(
            v["msg"],
            "Illegal characters found in parameter 'limit'; legal range is '5, 10, 20, 50, 100, 500, 1000'."
        );
    }
    let (s, v) = get_json(&format!("{base}/fapi/v1/depth")).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1102)));

    let (s, v) = get_json(&format!("{base}/fapi/v1/time")).await;
    assert!(s == 200 && v["serverTime"].is_i64());
    let (s, v) = get_json(&format!("{base}/fapi/v1/exchangeInfo")).await;
    assert_eq!(s, 200);
    assert_eq!(v["rateLimits"][0]["limit"], 2400);
    let btc = &v["symbols"][0];
    assert_eq!(
        (&btc["symbol"], &btc["status"], &btc["contractType"]),
        (
            &serde_json::json!("BTCUSDT"),
            &serde_json::json!("TRADING"),
            &serde_json::json!("PERPETUAL")
        )
    );
    assert_eq!(btc["filters"][0]["tickSize"], "0.10");
    assert_eq!(btc["filters"][1]["stepSize"], "0.001");
    assert_eq!(btc["pricePrecision"], 2);

    // Control API.
    let (s, v) = get_json(&format!("{base}/sim/stats")).await;
    assert_eq!(s, 200);
    assert!(v["snapshots_served"].as_u64().unwrap() >= 2);
    let (s, v) = get_json(&format!("{base}/sim/book/BTCUSDT")).await;
    assert_eq!(s, 200);
    assert!(v["lastUpdateId"].is_u64() && v["bids"][0][0].is_string());
    let c = reqwest::Client::new();
    let r = c.post(format!("{base}/sim/pause")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(format!("{base}/sim/fault/silence/10"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(format!("{base}/sim/fault/gap/NOPE"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = c.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}
