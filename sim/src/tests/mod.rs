//! Tests of the simulator over real loopback sockets: a Binance-rules client
//! (tokio-tungstenite + reqwest) rebuilds the book from the streams and the
//! REST snapshot and must equal the ground truth; faults, REST errors, the
//! incoming-rate limit and the replay of a real capture. This file holds
//! the test client; `streams` and `faults` the tests.

use crate::decimal::parse_decimal;
use crate::*;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMsg;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod api;
mod faults;
mod private;
mod streams;

pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(super) const BTC_PX: u8 = 2;
pub(super) const BTC_QTY: u8 = 3;

pub(super) fn spec(rate: u32, levels: u32) -> SimSpec {
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

pub(super) async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect")
        .0
}

#[derive(Debug)]
pub(super) enum Next {
    Text(String),
    /// The connection ended; `clean` = a close frame was received.
    Closed {
        clean: bool,
    },
    Timeout,
}

/// The next text frame (pings are skipped).
pub(super) async fn next_text(ws: &mut Ws, within: Duration) -> Next {
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

pub(super) fn levels(v: &serde_json::Value) -> Vec<(i64, i64)> {
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
pub(super) struct ClientBook {
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
    pub(super) fn on_depth(&mut self, d: &serde_json::Value) {
        if self.snapshot_id.is_none() {
            self.buffer.push(d.clone());
        } else {
            self.apply(d);
        }
    }

    pub(super) fn on_snapshot(&mut self, s: &serde_json::Value) {
        let l = s["lastUpdateId"].as_u64().expect("lastUpdateId int");
        self.bids = levels(&s["bids"]).into_iter().collect();
        self.asks = levels(&s["asks"]).into_iter().collect();
        self.snapshot_id = Some(l);
        self.last_u = l;
        for d in std::mem::take(&mut self.buffer) {
            self.apply(&d);
        }
    }

    pub(super) fn apply(&mut self, d: &serde_json::Value) {
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

    pub(super) fn as_sim_book(&self) -> SimBook {
        SimBook {
            last_update_id: self.last_u,
            bids: self.bids.iter().rev().map(|(p, q)| (*p, *q)).collect(),
            asks: self.asks.iter().map(|(p, q)| (*p, *q)).collect(),
        }
    }
}

pub(super) async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.expect("http get");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
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
