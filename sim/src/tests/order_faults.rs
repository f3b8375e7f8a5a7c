//! The order venue's fault switches over real sockets (some armed through
//! the `/sim/fault/...` HTTP routes, some through `SimHandle::inject`), and
//! the counters a test reads.

use super::api::*;
use super::*;
use reqwest::Method;

async fn post_ctl(api: &Api, path: &str) {
    let r = api
        .http
        .post(format!("{}{path}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
}

async fn query(api: &Api, cid: &str) -> (u16, serde_json::Value) {
    let (s, v, _) = api
        .signed(
            Method::GET,
            "/fapi/v1/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", cid)],
        )
        .await;
    (s, v)
}

#[tokio::test]
async fn unknown_outcomes_503_placed_500_not_placed_and_late_answer() {
    let sim = SimHandle::start(spec(50, 20)).unwrap();
    let api = Api::new(&sim);
    let (_key, mut ws) = api.stream().await;
    sim.pause();
    let far = px(sim.book("BTCUSDT").unwrap().bids.last().unwrap().0 - 1000);
    post_ctl(&api, "/sim/fault/new_order_503_placed/1").await;
    let (s, v, _) = api.limit("u-503", "BUY", &far, "0.001").await;
    assert_eq!((s, v["code"].as_i64()), (503, Some(-1007)), "{v}");
    assert!(
        v["msg"]
            .as_str()
            .unwrap()
            .contains("execution status unknown")
    );
    // Placed anyway: on the stream and found by query.
    let ev = event(&mut ws, Duration::from_secs(2)).await;
    assert!(is_update(&ev, "u-503", "NEW"), "{ev}");
    assert_eq!(query(&api, "u-503").await.1["status"], "NEW");
    post_ctl(&api, "/sim/fault/new_order_500_not_placed/1").await;
    let (s, v, _) = api.limit("u-500", "BUY", &far, "0.001").await;
    assert_eq!((s, v["code"].as_i64()), (500, Some(-1001)), "{v}");
    assert_eq!(
        query(&api, "u-500").await,
        (
            400,
            serde_json::json!({"code": -2013, "msg": "Order does not exist."})
        )
    );
    assert!(
        matches!(
            next_text(&mut ws, Duration::from_millis(300)).await,
            Next::Timeout
        ),
        "nothing streamed"
    );
    // A late answer: the client gives up, the order exists.
    sim.inject(Fault::NewOrderDelay {
        orders: 1,
        delay: Duration::from_millis(1500),
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let slow = Api {
        http: impatient,
        base: api.base.clone(),
        ws: api.ws.clone(),
    };
    let started = std::time::Instant::now();
    let r = tokio::spawn(async move { slow.limit("u-late", "BUY", &far, "0.001").await });
    let ev = event(&mut ws, Duration::from_secs(1)).await;
    assert!(is_update(&ev, "u-late", "NEW"), "{ev}");
    assert!(r.await.is_err(), "the client timed out");
    assert!(started.elapsed() < Duration::from_millis(1400));
    assert_eq!(query(&api, "u-late").await.1["status"], "NEW");
    // Each id was sent once; the counters say so.
    for cid in ["u-503", "u-500", "u-late"] {
        assert_eq!(sim.new_order_requests(cid), 1, "{cid}");
    }
    assert_eq!(sim.new_order_requests("never"), 0);
    let (_, stats) = get_json(&format!("{}/sim/stats", api.base)).await;
    assert_eq!(
        (
            stats["new_order_requests"].as_u64(),
            stats["orders_placed"].as_u64(),
            stats["faulted_new_order_answers"].as_u64()
        ),
        (Some(3), Some(2), Some(3))
    );
    let (_, one) = get_json(&format!("{}/sim/orders/requests/u-503", api.base)).await;
    assert_eq!(one["requests"], 1);
}

#[tokio::test]
async fn storm_answers_429_then_418_while_it_lasts() {
    let sim = SimHandle::start(spec(50, 20)).unwrap();
    let api = Api::new(&sim);
    post_ctl(&api, "/sim/fault/storm_429/2/1500").await;
    let ping = || api.http.get(format!("{}/fapi/v1/ping", api.base)).send();
    for want in [429, 429, 418] {
        let r = ping().await.unwrap();
        assert_eq!(r.status().as_u16(), want);
        assert_eq!(r.headers()["retry-after"], "2");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], -1003);
    }
    // Signed endpoints are refused as well.
    let (s, _, _) = api.signed(Method::GET, "/fapi/v1/openOrders", &[]).await;
    assert_eq!(s, 418);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(ping().await.unwrap().status().as_u16(), 200);
    let st = sim.stats();
    assert_eq!((st.rest_throttled_429, st.rest_banned_418), (2, 2));
}

#[tokio::test]
async fn dropped_stream_keeps_the_key_and_misses_what_filled_meanwhile() {
    let sim = SimHandle::start(spec(200, 20)).unwrap();
    let api = Api::new(&sim);
    let (key, mut ws) = api.stream().await;
    sim.pause();
    let p = sim.book("BTCUSDT").unwrap().bids[0].0 - 50;
    assert_eq!(api.limit("away-1", "BUY", &px(p), "0.001").await.0, 200);
    event(&mut ws, Duration::from_secs(2)).await;
    post_ctl(&api, "/sim/fault/private_drop").await;
    assert!(matches!(
        next_text(&mut ws, Duration::from_secs(2)).await,
        Next::Closed { clean: false }
    ));
    // The order fills while no stream is connected ("engine down").
    sim.resume();
    sim.steer_market("BTCUSDT", &px(p - 200));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !sim.account().open_orders.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no fill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.pause();
    // Same key reconnects; nothing of the fill is replayed.
    assert_eq!(sim.listen_key().as_deref(), Some(key.as_str()));
    let mut ws = connect(&format!("{}/private/ws?listenKey={key}", api.ws)).await;
    assert!(matches!(
        next_text(&mut ws, Duration::from_millis(400)).await,
        Next::Timeout
    ));
    let (_, trades, _) = api
        .signed(Method::GET, "/fapi/v1/userTrades", &[("symbol", "BTCUSDT")])
        .await;
    assert!(
        !trades.as_array().unwrap().is_empty(),
        "the fill is in userTrades"
    );
    // Expire now: listenKeyExpired, close, key refused.
    sim.inject(Fault::ExpireListenKey);
    let ev = event(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(ev["e"], "listenKeyExpired");
    assert!(matches!(
        next_text(&mut ws, Duration::from_secs(2)).await,
        Next::Closed { clean: true }
    ));
    assert_eq!(sim.listen_key(), None);
    // The server side ends right after the close frame.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while sim.stats().private_connections_open > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "private connection still open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let st = sim.stats();
    assert_eq!(
        (
            st.private_connections_total,
            st.private_connections_open,
            st.listen_keys_expired
        ),
        (2, 0, 1)
    );
}

#[tokio::test]
async fn duplicated_and_reordered_events() {
    let sim = SimHandle::start(spec(50, 20)).unwrap();
    let api = Api::new(&sim);
    let (_key, mut ws) = api.stream().await;
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let far = px(book.bids.last().unwrap().0 - 1000);
    post_ctl(&api, "/sim/fault/stream_duplicate/1").await;
    assert_eq!(api.limit("dup-1", "BUY", &far, "0.001").await.0, 200);
    let a = event(&mut ws, Duration::from_secs(2)).await;
    let b = event(&mut ws, Duration::from_secs(2)).await;
    assert!(is_update(&a, "dup-1", "NEW"));
    assert_eq!(a, b, "sent twice");
    assert!(
        matches!(
            next_text(&mut ws, Duration::from_millis(200)).await,
            Next::Timeout
        ),
        "once only"
    );
    // Reorder: the fill's TRADE_LITE and TRADE before the NEW ack.
    sim.inject(Fault::StreamReorder(1));
    let (ask, ask_q) = book.asks[0];
    assert_eq!(api.limit("ro-1", "BUY", &px(ask), &qty(ask_q)).await.0, 200);
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
            "TRADE_LITE/",
            "ORDER_TRADE_UPDATE/TRADE",
            "ORDER_TRADE_UPDATE/NEW",
            "ACCOUNT_UPDATE/"
        ]
    );
    // Used up: the next one is in order.
    assert_eq!(api.limit("ro-2", "BUY", &px(ask), &qty(ask_q)).await.0, 200);
    let ev = event(&mut ws, Duration::from_secs(2)).await;
    assert!(is_update(&ev, "ro-2", "NEW"));
}
