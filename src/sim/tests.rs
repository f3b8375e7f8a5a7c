//! Tests of the simulator over real loopback sockets: a Binance-rules client
//! (tokio-tungstenite + reqwest) rebuilds the book from the streams and the
//! REST snapshot and must equal the ground truth; faults, REST errors, the
//! incoming-rate limit and the replay of a real capture.

use super::*;
use crate::core::parse_decimal;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMsg;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BTC_PX: u8 = 2;
const BTC_QTY: u8 = 3;

fn spec(rate: u32, levels: u32) -> SimSpec {
    SimSpec {
        listen: "127.0.0.1:0".parse().unwrap(),
        seed: 7,
        rate_per_symbol: rate,
        levels,
        ping_interval: Duration::from_millis(500),
        symbols: vec![
            SimSymbol {
                symbol: "BTCUSDT".into(),
                tick_size: "0.10".into(),
                lot_size: "0.001".into(),
                start_price: 61_800.0,
            },
            SimSymbol {
                symbol: "ETHUSDT".into(),
                tick_size: "0.01".into(),
                lot_size: "0.001".into(),
                start_price: 3_000.0,
            },
        ],
        replay_file: None,
    }
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect")
        .0
}

#[derive(Debug)]
enum Next {
    Text(String),
    /// The connection ended; `clean` = a close frame was received.
    Closed {
        clean: bool,
    },
    Timeout,
}

/// The next text frame (pings are skipped).
async fn next_text(ws: &mut Ws, within: Duration) -> Next {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Next::Timeout,
            Ok(None) | Ok(Some(Err(_))) => return Next::Closed { clean: false },
            Ok(Some(Ok(WsMsg::Text(t)))) => return Next::Text(t.as_str().to_string()),
            Ok(Some(Ok(WsMsg::Close(_)))) => return Next::Closed { clean: true },
            Ok(Some(Ok(_))) => continue,
        }
    }
}

fn levels(v: &serde_json::Value) -> Vec<(i64, i64)> {
    v.as_array()
        .expect("levels array")
        .iter()
        .map(|l| {
            let p = l[0].as_str().expect("px string");
            let q = l[1].as_str().expect("qty string");
            (
                parse_decimal(p.as_bytes(), BTC_PX).unwrap(),
                parse_decimal(q.as_bytes(), BTC_QTY).unwrap(),
            )
        })
        .collect()
}

/// A client book kept with Binance's USD-M rules.
#[derive(Default)]
struct ClientBook {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    snapshot_id: Option<u64>,
    last_u: u64,
    bridged: bool,
    buffer: Vec<serde_json::Value>,
    applied: usize,
    /// Assert `U != prev u + 1` (generated data; real captures may be contiguous).
    check_gaps: bool,
}

impl ClientBook {
    fn on_depth(&mut self, d: &serde_json::Value) {
        if self.snapshot_id.is_none() {
            self.buffer.push(d.clone());
        } else {
            self.apply(d);
        }
    }

    fn on_snapshot(&mut self, s: &serde_json::Value) {
        let l = s["lastUpdateId"].as_u64().expect("lastUpdateId int");
        self.bids = levels(&s["bids"]).into_iter().collect();
        self.asks = levels(&s["asks"]).into_iter().collect();
        self.snapshot_id = Some(l);
        self.last_u = l;
        for d in std::mem::take(&mut self.buffer) {
            self.apply(&d);
        }
    }

    fn apply(&mut self, d: &serde_json::Value) {
        let first = d["U"].as_u64().expect("U int");
        let last = d["u"].as_u64().expect("u int");
        let prev = d["pu"].as_u64().expect("pu int");
        let l = self.snapshot_id.unwrap();
        if !self.bridged {
            if last < l {
                return;
            }
            assert!(
                first <= l && l <= last,
                "first event must bridge the snapshot"
            );
            self.bridged = true;
        } else {
            assert_eq!(prev, self.last_u, "pu chain broken");
        }
        if self.check_gaps {
            assert_ne!(first, self.last_u + 1, "ids must not be contiguous");
        }
        for (p, q) in levels(&d["b"]) {
            if q == 0 {
                self.bids.remove(&p);
            } else {
                self.bids.insert(p, q);
            }
        }
        for (p, q) in levels(&d["a"]) {
            if q == 0 {
                self.asks.remove(&p);
            } else {
                self.asks.insert(p, q);
            }
        }
        self.last_u = last;
        self.applied += 1;
    }

    fn as_sim_book(&self) -> SimBook {
        SimBook {
            last_update_id: self.last_u,
            bids: self.bids.iter().rev().map(|(p, q)| (*p, *q)).collect(),
            asks: self.asks.iter().map(|(p, q)| (*p, *q)).collect(),
        }
    }
}

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.expect("http get");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

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
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples"));
    if !dir.exists() {
        crate::bench::samples::absent("simulator replay of the real capture", dir);
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

#[test]
fn from_config_uses_binance_instruments() {
    use crate::core::{Instrument, InstrumentId, InstrumentTable, Venue};
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
    t.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Bybit,
            "BTCUSDT",
            "BTCUSDT",
            "0.10",
            "0.001",
            5.0,
        )
        .unwrap(),
    );
    let mut cfg = crate::config::SimConfig::default();
    cfg.start_prices.insert("BTCUSDT".into(), 60_000.0);
    let s = SimSpec::from_config(&cfg, &t).unwrap();
    assert_eq!(
        s.symbols,
        vec![SimSymbol {
            symbol: "BTCUSDT".into(),
            tick_size: "0.10".into(),
            lot_size: "0.001".into(),
            start_price: 60_000.0
        }]
    );
    assert_eq!(s.listen.ip().to_string(), "127.0.0.1");
    assert_eq!(s.ping_interval, Duration::from_secs(180));
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

#[test]
fn start_rejects_bad_specs_and_handle_is_send() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SimHandle>();
    let mut s = spec(10, 10);
    s.symbols[0].tick_size = "abc".into();
    assert!(SimHandle::start(s).is_err());
    let mut s = spec(10, 10);
    s.symbols[1].start_price = f64::NAN;
    assert!(SimHandle::start(s).is_err());
    let mut s = spec(10, 10);
    s.replay_file = Some("/nonexistent/file.ndjson".into());
    assert!(SimHandle::start(s).is_err());
    let mut s = spec(10, 10);
    s.replay_file = Some("capture.gz".into());
    assert!(SimHandle::start(s).is_err());
    // A valid spec starts and shuts down via Drop.
    let h = SimHandle::start(spec(10, 10)).unwrap();
    assert!(h.ws_url().starts_with("ws://127.0.0.1:"));
    assert!(h.book("btcusdt").is_some() && h.book("NOPE").is_none());
    drop(h);
}
