//! The simulator's streams against a Binance-rules client: the rebuilt
//! book equals the ground truth; raw streams, runtime subscriptions and the
//! incoming-rate limit; slow clients; the replay of a real capture.

use super::*;
use futures_util::SinkExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMsg;

#[tokio::test]
async fn client_book_matches_ground_truth() {
    let sim = SimHandle::start(spec(12_000, 40)).unwrap();
    let mut ws = connect(&format!(
        "{}/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@aggTrade",
        sim.ws_url()
    ))
    .await;
    let mut book = ClientBook {
        check_gaps: true,
        ..Default::default()
    };
    let mut tickers_checked = 0usize;
    let mut trades = 0usize;
    let mut paused = false;
    loop {
        let text = match next_text(
            &mut ws,
            Duration::from_millis(if paused { 500 } else { 5_000 }),
        )
        .await
        {
            Next::Text(t) => t,
            Next::Timeout if paused => break,
            other => panic!("unexpected {other:?}"),
        };
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON frame");
        let stream = v["stream"].as_str().expect("stream name");
        let d = &v["data"];
        match stream {
            "btcusdt@depth@100ms" => {
                assert_eq!(d["e"], "depthUpdate");
                assert_eq!(d["s"], "BTCUSDT");
                assert!(d["E"].is_i64() && d["T"].is_i64());
                book.on_depth(d);
                if book.snapshot_id.is_none() && book.buffer.len() == 3 {
                    let (status, snap) = get_json(&format!(
                        "{}/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
                        sim.rest_url()
                    ))
                    .await;
                    assert_eq!(status, 200);
                    assert!(snap["E"].is_i64() && snap["T"].is_i64());
                    book.on_snapshot(&snap);
                }
            }
            "btcusdt@bookTicker" => {
                assert_eq!(d["e"], "bookTicker");
                let u = d["u"].as_u64().unwrap();
                if book.bridged && u == book.last_u {
                    let (bp, bq) = book.bids.iter().next_back().map(|(p, q)| (*p, *q)).unwrap();
                    let (ap, aq) = book.asks.iter().next().map(|(p, q)| (*p, *q)).unwrap();
                    let px =
                        |k: &str| parse_decimal(d[k].as_str().unwrap().as_bytes(), BTC_PX).unwrap();
                    let qty = |k: &str| {
                        parse_decimal(d[k].as_str().unwrap().as_bytes(), BTC_QTY).unwrap()
                    };
                    assert_eq!((px("b"), qty("B"), px("a"), qty("A")), (bp, bq, ap, aq));
                    tickers_checked += 1;
                }
            }
            "btcusdt@aggTrade" => {
                assert_eq!(d["e"], "aggTrade");
                assert!(d["m"].is_boolean() && d["a"].is_u64() && d["f"].is_u64());
                assert!(d["p"].is_string() && d["q"].is_string());
                trades += 1;
            }
            other => panic!("unexpected stream {other}"),
        }
        if !paused && book.applied >= 4_000 {
            sim.pause();
            paused = true;
        }
    }
    let truth = sim.book("BTCUSDT").unwrap();
    let mine = book.as_sim_book();
    assert_eq!(mine.last_update_id, truth.last_update_id);
    assert_eq!(mine.bids.len(), truth.bids.len());
    assert_eq!(mine, truth, "client book differs from the ground truth");
    assert!(truth.bids.len() <= 40 && truth.asks.len() <= 40);
    assert!(truth.bids[0].0 < truth.asks[0].0, "crossed book");
    assert!(
        tickers_checked > 500,
        "bookTickers checked: {tickers_checked}"
    );
    assert!(trades > 100, "trades: {trades}");
    let st = sim.stats();
    assert!(st.depth_updates >= 4_000 && st.snapshots_served == 1 && st.connections_open == 1);
    println!(
        "applied {} depth updates, {tickers_checked} bookTickers, {trades} trades; {st:?}",
        book.applied
    );
    sim.shutdown();
}

#[tokio::test]
async fn subscribe_raw_unknown_and_rate_limit() {
    let sim = SimHandle::start(spec(500, 50)).unwrap();
    // Runtime SUBSCRIBE on a raw connection; unknown symbol is silently ignored.
    let mut ws = connect(&format!("{}/ws", sim.ws_url())).await;
    ws.send(WsMsg::Text(
        r#"{"method":"SUBSCRIBE","params":["nopeusdt@bookTicker","ethusdt@bookTicker"],"id":1}"#
            .into(),
    ))
    .await
    .unwrap();
    let Next::Text(reply) = next_text(&mut ws, Duration::from_secs(2)).await else {
        panic!("no reply");
    };
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v, serde_json::json!({"result": null, "id": 1}));
    for _ in 0..50 {
        let Next::Text(t) = next_text(&mut ws, Duration::from_secs(2)).await else {
            panic!("no data");
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        assert_eq!(
            (&v["e"], &v["s"]),
            (
                &serde_json::json!("bookTicker"),
                &serde_json::json!("ETHUSDT")
            )
        );
    }
    ws.send(WsMsg::Text(
        r#"{"method":"LIST_SUBSCRIPTIONS","id":"x"}"#.into(),
    ))
    .await
    .unwrap();
    loop {
        let Next::Text(t) = next_text(&mut ws, Duration::from_secs(2)).await else {
            panic!("no list reply");
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if v.get("id").is_some() {
            assert_eq!(
                v["result"],
                serde_json::json!(["nopeusdt@bookTicker", "ethusdt@bookTicker"])
            );
            break;
        }
    }

    // More than 10 incoming messages in a second disconnects.
    let mut ws = connect(&format!("{}/stream?streams=btcusdt@aggTrade", sim.ws_url())).await;
    for i in 0..12 {
        let m = format!(r#"{{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":{i}}}"#);
        if ws.send(WsMsg::Text(m.into())).await.is_err() {
            break;
        }
    }
    let mut replies = 0;
    loop {
        match next_text(&mut ws, Duration::from_secs(3)).await {
            Next::Text(t) => {
                if t.contains("\"result\"") {
                    replies += 1;
                }
            }
            Next::Closed { .. } => break,
            Next::Timeout => panic!("not disconnected"),
        }
    }
    assert_eq!(replies, 10);
    assert!(sim.stats().subscribe_messages >= 13);
}

#[tokio::test]
async fn slow_client_is_dropped_others_continue() {
    let sim = SimHandle::start(spec(60_000, 50)).unwrap();
    // Never reads: its queue fills and it is disconnected.
    let _slow = connect(&format!(
        "{}/stream?streams=btcusdt@depth/btcusdt@bookTicker/btcusdt@aggTrade/btcusdt@trade",
        sim.ws_url()
    ))
    .await;
    let mut fast = connect(&format!(
        "{}/stream?streams=ethusdt@bookTicker",
        sim.ws_url()
    ))
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0u64;
    while sim.stats().slow_disconnects == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "slow client never dropped"
        );
        let Next::Text(_) = next_text(&mut fast, Duration::from_secs(2)).await else {
            panic!("fast client starved");
        };
        n += 1;
    }
    for _ in 0..100 {
        assert!(matches!(
            next_text(&mut fast, Duration::from_secs(2)).await,
            Next::Text(_)
        ));
    }
    println!("fast client read {n} frames before the slow one was dropped");
}

#[tokio::test]
async fn replay_real_capture() {
    let dir = &crate::samples_dir();
    if !dir.exists() {
        crate::samples_absent("simulator replay of the real capture", dir);
        return;
    }
    let file =
        dir.join("binance/futures_BTCUSDT_depth0ms_with_rest_snapshot_2024-08-08_400events.ndjson");
    let text = std::fs::read_to_string(&file).unwrap();
    let frames: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("\"lastUpdateId\""))
        .collect();
    let mut s = spec(400, 1000);
    s.symbols.truncate(1);
    s.replay_file = Some(file.clone());
    let sim = SimHandle::start(s).unwrap();
    let mut ws = connect(&format!(
        "{}/stream?streams=btcusdt@depth@0ms",
        sim.ws_url()
    ))
    .await;
    let mut book = ClientBook::default();
    for (i, expected) in frames.iter().enumerate() {
        let Next::Text(t) = next_text(&mut ws, Duration::from_secs(5)).await else {
            panic!("frame {i} missing");
        };
        assert_eq!(t, *expected, "frame {i} differs from the recording");
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        book.on_depth(&v["data"]);
        if book.snapshot_id.is_none() {
            let (status, snap) = get_json(&format!(
                "{}/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
                sim.rest_url()
            ))
            .await;
            if status == 200 {
                book.on_snapshot(&snap);
            } else {
                assert_eq!((status, snap["code"].as_i64()), (503, Some(-1001)));
            }
        }
    }
    assert!(matches!(
        next_text(&mut ws, Duration::from_millis(300)).await,
        Next::Timeout
    ));
    assert!(
        book.bridged && book.applied > 300,
        "applied {}",
        book.applied
    );
    let truth = sim.book("BTCUSDT").unwrap();
    assert_eq!(book.as_sim_book(), truth);
    println!(
        "replayed {} frames, client applied {}, book at u={}",
        frames.len(),
        book.applied,
        truth.last_update_id
    );
}

/// Throughput check (run with `--ignored --nocapture`): 4 symbols at 50k
/// msgs/s each, one client subscribed to every stream.
#[tokio::test]
#[ignore]
async fn high_rate_throughput() {
    let mut s = spec(50_000, 100);
    for (sym, px) in [("SOLUSDT", 150.0), ("XRPUSDT", 0.6)] {
        s.symbols.push(SimSymbol {
            symbol: sym.into(),
            tick_size: "0.0001".into(),
            lot_size: "0.1".into(),
            start_price: px,
        });
    }
    let sim = SimHandle::start(s).unwrap();
    let streams: Vec<String> = ["btcusdt", "ethusdt", "solusdt", "xrpusdt"]
        .iter()
        .flat_map(|s| {
            [
                format!("{s}@depth@0ms"),
                format!("{s}@bookTicker"),
                format!("{s}@aggTrade"),
            ]
        })
        .collect();
    let mut ws = connect(&format!(
        "{}/stream?streams={}",
        sim.ws_url(),
        streams.join("/")
    ))
    .await;
    let t0 = std::time::Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_secs(3) {
        match next_text(&mut ws, Duration::from_secs(1)).await {
            Next::Text(_) => n += 1,
            other => panic!("{other:?}"),
        }
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    println!("client received {rate:.0} msgs/s; {:?}", sim.stats());
    assert!(rate > 100_000.0, "rate {rate:.0}");
}
