//! The Binance trading session against a hostile private stream (real
//! sockets on 127.0.0.1): a minimal venue written here (listenKey, time,
//! open orders and trades over HTTP; the user data WebSocket) sends
//! malformed JSON, unknown events and enum values, huge numbers, missing
//! fields, deep nesting, a large frame, and well-formed events for a
//! symbol and a client id the engine does not know. The session must count
//! every bad frame by reason, park the unknown ones, keep its stream up and
//! never panic.

mod common;

use quantum_trader::app::engine::instruments_from_config;
use quantum_trader::config::{TradingMode, WaitKind};
use quantum_trader::core::Venue;
use quantum_trader::exec::gateway::ports;
use quantum_trader::pipeline::shared::Shared;
use quantum_trader::telemetry::metrics::Metrics;
use quantum_trader::venue::adapter::{SimTrading, TradingContext, TradingSettings};
use quantum_trader::venue::binance::session::{BinanceTrading, Timings};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

fn order_update(symbol: &str, client_id: &str, x: &str, z: &str) -> String {
    format!(
        r#"{{"e":"ORDER_TRADE_UPDATE","T":1,"E":1,"o":{{"s":"{symbol}","c":"{client_id}","S":"BUY","o":"LIMIT","f":"GTC","q":"0.001","p":"7100.50","ap":"7100.50","sp":"0","x":"{x}","X":"PARTIALLY_FILLED","i":8886774,"l":"0.001","z":"{z}","L":"7100.50","N":"USDT","n":"0.01000000","T":1,"t":12345678,"b":"0","a":"0","m":true,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0"}}}}"#
    )
}

fn hostile_frames() -> Vec<String> {
    let mut v = vec![
        "not json at all".to_string(),
        "{\"e\":\"ORDER_TRADE_UPDATE\"}".to_string(),
        "{\"e\":\"SOMETHING_NEW\",\"E\":1}".to_string(),
        order_update("BTCUSDT", "x1", "BOGUS", "0.001"),
        order_update("BTCUSDT", "x2", "TRADE", "99999999999999999999999999999999"),
        order_update("BTCUSDT", "x3", "TRADE", "1e400"),
        "{\"e\":\"TRADE_LITE\",\"E\":\"not a number\"}".to_string(),
        format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)),
        format!("{{\"e\":\"{}\"}}", "A".repeat(200_000)),
        "{\"e\":\"ACCOUNT_UPDATE\",\"E\":1,\"T\":1,\"a\":{\"m\":\"ORDER\",\"B\":[{\"a\":\"USDT\",\"wb\":\"1.000000001\",\"cw\":\"1\"}],\"P\":[]}}".to_string(),
        String::new(),
    ];
    // Well-formed, but for a symbol not traded here: parked.
    v.push(order_update("DOGEUSDT", "x4", "TRADE", "0.001"));
    // Well-formed, for an order the engine never placed: parked.
    v.push(order_update("BTCUSDT", "someoneelse1", "TRADE", "0.001"));
    v
}

/// The venue's REST side: just enough for a session to start.
fn serve_rest(l: TcpListener) {
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        std::thread::spawn(move || {
            let mut r = BufReader::new(s.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 {
                        return;
                    }
                    if h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let reply = if path.starts_with("/fapi/v1/listenKey") {
                    "{\"listenKey\":\"hostileKey1\"}".to_string()
                } else if path.starts_with("/fapi/v1/time") {
                    format!(
                        "{{\"serverTime\":{}}}",
                        quantum_trader::core::clock::unix_ms()
                    )
                } else if path.starts_with("/fapi/v1/openOrders")
                    || path.starts_with("/fapi/v1/userTrades")
                {
                    "[]".to_string()
                } else {
                    "{}".to_string()
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                    reply.len(),
                    reply
                );
            }
        });
    }
}

fn serve_ws(l: TcpListener, frames: Vec<String>) {
    for s in l.incoming() {
        let Ok(s) = s else { continue };
        let frames = frames.clone();
        std::thread::spawn(move || {
            let Ok(mut ws) = tungstenite::accept(s) else {
                return;
            };
            for f in frames {
                if ws.send(tungstenite::Message::text(f)).is_err() {
                    return;
                }
            }
            // Keep the connection open.
            loop {
                if ws.read().is_err() {
                    return;
                }
            }
        });
    }
}

#[test]
fn hostile_private_frames_are_counted_parked_and_never_panic() {
    let rest = TcpListener::bind("127.0.0.1:0").unwrap();
    let ws = TcpListener::bind("127.0.0.1:0").unwrap();
    let rest_url = format!("http://{}", rest.local_addr().unwrap());
    let ws_url = format!("ws://{}", ws.local_addr().unwrap());
    let frames = hostile_frames();
    let n = frames.len();
    std::thread::spawn(move || serve_rest(rest));
    std::thread::spawn(move || serve_ws(ws, frames));

    let cfg = common::test_config(|c| {
        c.mode = TradingMode::Testnet;
        c.instruments.retain(|i| i.symbol == "BTCUSDT");
        if let Some(b) = c
            .venues
            .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
        {
            b.symbols = vec!["BTCUSDT".into()];
        }
    });
    let table = instruments_from_config(&cfg).unwrap();
    let metrics = Arc::new(Metrics::new());
    let shared = Arc::new(Shared::new(
        Arc::new(table),
        metrics.clone(),
        "t".into(),
        TradingMode::Testnet,
    ));
    let (exec_ports, session_ports) = ports(64, WaitKind::Park, &metrics);
    let t = Timings {
        order_timeout: Duration::from_millis(500),
        ..Timings::default()
    };
    let session = BinanceTrading
        .start_with(
            TradingContext {
                cfg: &cfg,
                shared: &shared,
                ports: session_ports,
                settings: TradingSettings::default(),
                sim: Some(SimTrading {
                    rest_url,
                    ws_url,
                    api_key: "k".into(),
                    api_secret: "s".into(),
                }),
                epoch_floor_ms: None,
                adopted: Vec::new(),
                missing: Vec::new(),
                journal: None,
            },
            t,
        )
        .unwrap();
    let errors = || -> u64 {
        metrics
            .registry
            .gather()
            .iter()
            .filter(|f| f.name() == "qt_private_event_errors_total")
            .flat_map(|f| f.get_metric().iter())
            .map(|m| m.get_counter().value() as u64)
            .sum()
    };
    let parked = || -> u64 {
        metrics
            .registry
            .gather()
            .iter()
            .filter(|f| f.name() == "qt_private_parked_total")
            .flat_map(|f| f.get_metric().iter())
            .filter(|m| m.get_label().iter().any(|l| l.value() == "parked"))
            .map(|m| m.get_counter().value() as u64)
            .sum()
    };
    let t0 = Instant::now();
    // Every frame but the two parked well-formed ones is an error; the
    // unknown symbol counts as an error too (and is parked).
    while (errors() < (n - 1) as u64 || parked() < 2) && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let up = shared.venue_gates.private_stream_up(Venue::Binance);
    let text = metrics.render();
    assert_eq!(errors(), (n - 1) as u64, "{text}");
    assert_eq!(parked(), 2, "{text}");
    assert!(up, "the stream stays up through hostile frames");
    for reason in [
        "json",
        "unknown_event",
        "unknown_enum",
        "decimal",
        "unknown_symbol",
    ] {
        assert!(
            text.contains(&format!(
                "qt_private_event_errors_total{{reason=\"{reason}\",venue=\"binance\"}}"
            )),
            "{reason} counted: {text}"
        );
    }
    drop(exec_ports);
    session.join(Duration::from_secs(10));
}
