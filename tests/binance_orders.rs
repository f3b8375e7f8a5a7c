//! Binance USD-M signed order entry over real HTTP on 127.0.0.1: the
//! signed REST client (`venue::binance::signed`) against the simulator's
//! order endpoints (`qt_sim::binance`). Signatures, timestamps, API keys and
//! parameters are checked as Binance checks them; MARKET and IOC orders
//! fill against the simulator's ground-truth book (compared level by level
//! here), GTC orders rest until canceled, positionRisk is the sum of the
//! fills, and a 429's `Retry-After` is honoured through the shared budget.
//! Venue replies drive the engine's order state machine.

use qt_sim::binance::{SIM_API_KEY, SIM_API_SECRET};
use qt_sim::{SimHandle, SimSpec, SimSymbol};
use quantum_trader::core::{InstrumentId, OrderStatus, Side, format_decimal};
use quantum_trader::exec::order::{Order, OrderEvent};
use quantum_trader::telemetry::Metrics;
use quantum_trader::venue::binance::orders::{
    ApiErrorKind, SignedError, VenueOrderStatus, apply_reply,
};
use quantum_trader::venue::binance::signed::{
    ApiCredentials, NewOrder, NewOrderKind, OrderRef, SignedClient, TimeInForce, WireSide,
    signed_query,
};
use quantum_trader::venue::weight::RestBudget;
use std::time::{Duration, Instant};

const PX: u8 = 2; // BTCUSDT tick 0.10
const QTY: u8 = 3; // lot 0.001
const LOT: i64 = 1;

fn start_sim() -> SimHandle {
    SimHandle::start(SimSpec {
        listen: "127.0.0.1:0".parse().unwrap(),
        seed: 11,
        rate_per_symbol: 200,
        levels: 20,
        ping_interval: Duration::from_millis(500),
        symbols: vec![SimSymbol {
            symbol: "BTCUSDT".into(),
            tick_size: "0.10".into(),
            lot_size: "0.001".into(),
            start_price: 61_800.0,
        }],
        replay_file: None,
    })
    .expect("sim starts")
}

fn client(sim: &SimHandle) -> SignedClient {
    SignedClient::new(
        &sim.rest_url(),
        ApiCredentials::new(SIM_API_KEY, SIM_API_SECRET),
        None,
    )
}

fn order(id: &str, side: WireSide, kind: NewOrderKind, qty: i64) -> NewOrder {
    NewOrder {
        symbol: "BTCUSDT".into(),
        side,
        kind,
        quantity: format_decimal(qty, QTY),
        client_order_id: id.into(),
        reduce_only: false,
    }
}

fn limit(px: i64, tif: TimeInForce) -> NewOrderKind {
    NewOrderKind::Limit {
        price: format_decimal(px, PX),
        tif,
    }
}

fn api_code(e: &SignedError) -> (i64, u16) {
    (e.code().unwrap_or(0), e.http().unwrap_or(0))
}

/// Sends a hand-made signed request: (HTTP status, body).
async fn raw(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    query: &str,
    key: Option<&str>,
) -> (u16, String) {
    let mut r = reqwest::Client::new().request(method, format!("{}{path}?{query}", sim.rest_url()));
    if let Some(k) = key {
        r = r.header("X-MBX-APIKEY", k);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn now_ms() -> i64 {
    quantum_trader::core::clock::unix_ms()
}

/// Expected (executed, quote at PX+QTY scale) of taking `qty` from `levels`
/// up to `limit` (None: market), computed here from the sim's book.
fn expected_take(levels: &[(i64, i64)], qty: i64, limit: Option<(i64, bool)>) -> (i64, i128) {
    let (mut done, mut quote) = (0i64, 0i128);
    for &(px, q) in levels {
        if let Some((l, buy)) = limit
            && (if buy { px > l } else { px < l })
        {
            break;
        }
        let t = (qty - done).min(q);
        done += t;
        quote += i128::from(t) * i128::from(px);
        if done == qty {
            break;
        }
    }
    (done, quote)
}

fn quote_str(q: i128) -> String {
    format_decimal(i64::try_from(q).unwrap(), PX + QTY)
}

#[tokio::test(flavor = "current_thread")]
async fn signatures_keys_timestamps_and_params_are_checked_like_binance() {
    let sim = start_sim();
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let far_bid = book.bids.last().unwrap().0 - 1000;
    let c = client(&sim);
    let ok = c
        .new_order(&order(
            "sig-ok",
            WireSide::Buy,
            limit(far_bid, TimeInForce::Gtc),
            2,
        ))
        .await
        .expect("a correctly signed order is accepted");
    assert_eq!(ok.status, VenueOrderStatus::New);
    assert_eq!(ok.client_order_id, "sig-ok");
    assert_eq!(ok.price, format_decimal(far_bid, PX));

    // Wrong secret: the signature does not verify.
    let bad = SignedClient::new(
        &sim.rest_url(),
        ApiCredentials::new(SIM_API_KEY, "not-the-secret"),
        None,
    );
    let e = bad.open_orders(Some("BTCUSDT")).await.unwrap_err();
    assert_eq!(api_code(&e), (-1022, 400), "{e}");
    assert!(
        matches!(&e, SignedError::Api(a) if a.kind == ApiErrorKind::InvalidSignature && a.msg == "Signature for this request is not valid.")
    );

    // Tampered: a parameter changed after signing.
    let q = signed_query(
        SIM_API_SECRET,
        &[("symbol", "BTCUSDT".into())],
        5000,
        now_ms(),
    );
    let (s, body) = raw(
        &sim,
        reqwest::Method::GET,
        "/fapi/v1/openOrders",
        &q,
        Some(SIM_API_KEY),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let tampered = q.replace("recvWindow=5000", "recvWindow=6000");
    let (s, body) = raw(
        &sim,
        reqwest::Method::GET,
        "/fapi/v1/openOrders",
        &tampered,
        Some(SIM_API_KEY),
    )
    .await;
    assert_eq!(
        (s, body.as_str()),
        (
            400,
            r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#
        )
    );
    // Parameters in the form body (POST) are signed and read the same way.
    let body = signed_query(
        SIM_API_SECRET,
        &[
            ("symbol", "BTCUSDT".into()),
            ("side", "BUY".into()),
            ("type", "LIMIT".into()),
            ("timeInForce", "GTC".into()),
            ("quantity", "0.001".into()),
            ("price", format_decimal(far_bid, PX)),
            ("newClientOrderId", "in-body".into()),
        ],
        5000,
        now_ms(),
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/fapi/v1/order", sim.rest_url()))
        .header("X-MBX-APIKEY", SIM_API_KEY)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains(r#""clientOrderId":"in-body""#)
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/fapi/v1/order", sim.rest_url()))
        .header("X-MBX-APIKEY", SIM_API_KEY)
        .body(body.replace("quantity=0.001", "quantity=0.002"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // Stale and future timestamps.
    let stale = client(&sim).with_clock_offset(-10_000);
    let e = stale.position_risk(None).await.unwrap_err();
    assert_eq!(api_code(&e), (-1021, 400), "{e}");
    assert!(
        matches!(&e, SignedError::Api(a) if a.kind == ApiErrorKind::TimestampOutsideRecvWindow)
    );
    let ahead = client(&sim).with_clock_offset(5_000);
    assert_eq!(
        api_code(&ahead.position_risk(None).await.unwrap_err()),
        (-1021, 400)
    );
    // A wide recvWindow admits the stale one.
    let wide = client(&sim)
        .with_clock_offset(-10_000)
        .with_recv_window(20_000);
    assert!(wide.position_risk(None).await.is_ok());

    // API keys.
    let wrong_key = SignedClient::new(
        &sim.rest_url(),
        ApiCredentials::new("someone-else", SIM_API_SECRET),
        None,
    );
    let e = wrong_key.open_orders(None).await.unwrap_err();
    assert_eq!(api_code(&e), (-2015, 401), "{e}");
    assert!(matches!(&e, SignedError::Api(a) if a.kind == ApiErrorKind::InvalidApiKey));
    let (s, body) = raw(&sim, reqwest::Method::GET, "/fapi/v1/openOrders", &q, None).await;
    assert_eq!(s, 401);
    assert!(body.contains("-2014"), "{body}");

    // Parameters.
    let e = c
        .new_order(&NewOrder {
            symbol: "NOPEUSDT".into(),
            ..order("sym", WireSide::Buy, NewOrderKind::Market, 1)
        })
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (-1121, 400));
    assert!(matches!(&e, SignedError::Api(a) if a.kind == ApiErrorKind::InvalidSymbol));
    let signed = |p: &[(&str, String)]| signed_query(SIM_API_SECRET, p, 5000, now_ms());
    let market_with_price = signed(&[
        ("symbol", "BTCUSDT".into()),
        ("side", "BUY".into()),
        ("type", "MARKET".into()),
        ("quantity", "0.001".into()),
        ("price", "100.00".into()),
    ]);
    let (s, body) = raw(
        &sim,
        reqwest::Method::POST,
        "/fapi/v1/order",
        &market_with_price,
        Some(SIM_API_KEY),
    )
    .await;
    assert_eq!(
        (s, body.as_str()),
        (
            400,
            r#"{"code":-1106,"msg":"Parameter 'price' sent when not required."}"#
        )
    );
    let limit_no_price = signed(&[
        ("symbol", "BTCUSDT".into()),
        ("side", "BUY".into()),
        ("type", "LIMIT".into()),
        ("timeInForce", "GTC".into()),
        ("quantity", "0.001".into()),
    ]);
    let (s, body) = raw(
        &sim,
        reqwest::Method::POST,
        "/fapi/v1/order",
        &limit_no_price,
        Some(SIM_API_KEY),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("-1102") && body.contains("'price'"), "{body}");
    let no_ts = "symbol=BTCUSDT&signature=00";
    let (s, body) = raw(
        &sim,
        reqwest::Method::GET,
        "/fapi/v1/openOrders",
        no_ts,
        Some(SIM_API_KEY),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body.contains("-1102") && body.contains("'timestamp'"),
        "{body}"
    );
    let off_tick = signed(&[
        ("symbol", "BTCUSDT".into()),
        ("side", "BUY".into()),
        ("type", "LIMIT".into()),
        ("timeInForce", "GTC".into()),
        ("quantity", "0.001".into()),
        ("price", "100.05".into()),
    ]);
    let (s, body) = raw(
        &sim,
        reqwest::Method::POST,
        "/fapi/v1/order",
        &off_tick,
        Some(SIM_API_KEY),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("-4014"), "{body}");
    // The local check refuses a malformed client order id before sending.
    let e = c
        .new_order(&order("has space", WireSide::Buy, NewOrderKind::Market, 1))
        .await
        .unwrap_err();
    assert!(matches!(e, SignedError::Invalid(_)));
}

#[tokio::test(flavor = "current_thread")]
async fn market_orders_fill_against_the_sim_book_and_drive_the_order() {
    let sim = start_sim();
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let c = client(&sim);
    // Spans the best ask and half of the second level.
    let qty = book.asks[0].1 + (book.asks[1].1 / 2).max(LOT);
    let (exp_q, exp_quote) = expected_take(&book.asks, qty, None);
    assert_eq!(exp_q, qty);
    let r = c
        .new_order(&order("mkt-buy", WireSide::Buy, NewOrderKind::Market, qty))
        .await
        .unwrap();
    assert_eq!(r.status, VenueOrderStatus::Filled);
    assert_eq!(r.executed_qty, format_decimal(qty, QTY));
    assert_eq!(r.orig_qty, format_decimal(qty, QTY));
    assert_eq!(r.cum_quote, quote_str(exp_quote));
    let avg: f64 = r.avg_price.parse().unwrap();
    let exp_avg = exp_quote as f64 / qty as f64 / 100.0;
    assert!((avg - exp_avg).abs() < 0.01, "{avg} vs {exp_avg}");
    assert!(avg > book.asks[0].0 as f64 / 100.0, "took two levels");
    assert_eq!((r.order_type.as_str(), r.side.as_str()), ("MARKET", "BUY"));
    // The order counters came back with it.
    let counts = c.order_counts();
    assert_eq!((counts.ten_seconds, counts.one_minute), (Some(1), Some(1)));

    let mut o = Order::new(1, InstrumentId(0), Side::Buy, qty, 0);
    let mut r2 = r.clone();
    r2.client_order_id = "1".into();
    let ev = apply_reply(&mut o, &r2, QTY).unwrap();
    assert_eq!(ev, vec![OrderEvent::Accept, OrderEvent::Fill { qty }]);
    assert_eq!(o.status, OrderStatus::Filled);

    // A sell takes the bids.
    let sq = book.bids[0].1 + book.bids[1].1 + LOT;
    let (_, sell_quote) = expected_take(&book.bids, sq, None);
    let r = c
        .new_order(&order("mkt-sell", WireSide::Sell, NewOrderKind::Market, sq))
        .await
        .unwrap();
    assert_eq!(r.status, VenueOrderStatus::Filled);
    assert_eq!(r.cum_quote, quote_str(sell_quote));
    assert_eq!(c.order_counts().ten_seconds, Some(2));
    // Querying returns the same order.
    let q = c
        .query_order("BTCUSDT", &OrderRef::ClientOrderId("mkt-sell".into()))
        .await
        .unwrap();
    assert_eq!(
        (q.order_id, q.status, q.executed_qty.as_str()),
        (
            r.order_id,
            VenueOrderStatus::Filled,
            r.executed_qty.as_str()
        )
    );
}

#[tokio::test(flavor = "current_thread")]
async fn ioc_fills_what_crosses_and_expires_the_rest() {
    let sim = start_sim();
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let c = client(&sim);
    let (best, best_qty) = book.asks[0];
    let qty = best_qty + 5 * LOT;
    let r = c
        .new_order(&order(
            "ioc-1",
            WireSide::Buy,
            limit(best, TimeInForce::Ioc),
            qty,
        ))
        .await
        .unwrap();
    assert_eq!(r.status, VenueOrderStatus::Expired);
    assert_eq!(r.executed_qty, format_decimal(best_qty, QTY));
    assert_eq!(r.time_in_force, "IOC");
    assert_eq!(
        r.cum_quote,
        quote_str(i128::from(best_qty) * i128::from(best))
    );
    let mut o = Order::new(2, InstrumentId(0), Side::Buy, qty, best);
    let mut r2 = r.clone();
    r2.client_order_id = "2".into();
    let ev = apply_reply(&mut o, &r2, QTY).unwrap();
    assert_eq!(
        ev,
        vec![
            OrderEvent::Accept,
            OrderEvent::Fill { qty: best_qty },
            OrderEvent::Cancel
        ]
    );
    assert_eq!((o.status, o.filled), (OrderStatus::Canceled, best_qty));

    // An IOC below the ask fills nothing and expires.
    let r = c
        .new_order(&order(
            "ioc-2",
            WireSide::Buy,
            limit(book.bids[0].0, TimeInForce::Ioc),
            LOT,
        ))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.executed_qty.as_str()),
        (VenueOrderStatus::Expired, "0.000")
    );
    // Neither stays open.
    assert!(c.open_orders(Some("BTCUSDT")).await.unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn gtc_rests_until_canceled_and_a_second_cancel_is_unknown() {
    let sim = start_sim();
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let c = client(&sim);
    let px = book.bids.last().unwrap().0 - 50;
    let r = c
        .new_order(&order("3", WireSide::Buy, limit(px, TimeInForce::Gtc), 4))
        .await
        .unwrap();
    assert_eq!(r.status, VenueOrderStatus::New);
    let mut o = Order::new(3, InstrumentId(0), Side::Buy, 4, px);
    assert_eq!(
        apply_reply(&mut o, &r, QTY).unwrap(),
        vec![OrderEvent::Accept]
    );
    sim.resume();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let open = c.open_orders(Some("BTCUSDT")).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].order_id, r.order_id);
    let all = c.open_orders(None).await.unwrap();
    assert_eq!(all.len(), 1);
    let q = c
        .query_order("BTCUSDT", &OrderRef::OrderId(r.order_id))
        .await
        .unwrap();
    assert_eq!(
        (q.status, q.client_order_id.as_str()),
        (VenueOrderStatus::New, "3")
    );
    assert!(apply_reply(&mut o, &q, QTY).unwrap().is_empty());
    let x = c
        .cancel_order("BTCUSDT", &OrderRef::ClientOrderId("3".into()))
        .await
        .unwrap();
    assert_eq!(x.status, VenueOrderStatus::Canceled);
    assert_eq!(
        apply_reply(&mut o, &x, QTY).unwrap(),
        vec![OrderEvent::Cancel]
    );
    assert_eq!(o.status, OrderStatus::Canceled);
    let e = c
        .cancel_order("BTCUSDT", &OrderRef::OrderId(r.order_id))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (-2011, 400), "{e}");
    assert!(
        matches!(&e, SignedError::Api(a) if a.kind == ApiErrorKind::UnknownOrder && a.msg == "Unknown order sent.")
    );
    let e = c
        .cancel_order("BTCUSDT", &OrderRef::OrderId(42))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (-2011, 400));
    assert!(c.open_orders(Some("BTCUSDT")).await.unwrap().is_empty());
    // The canceled order can still be queried.
    let q = c
        .query_order("BTCUSDT", &OrderRef::OrderId(r.order_id))
        .await
        .unwrap();
    assert_eq!(q.status, VenueOrderStatus::Canceled);
}

#[tokio::test(flavor = "current_thread")]
async fn position_risk_is_the_sum_of_the_fills() {
    let sim = start_sim();
    let c = client(&sim);
    assert_eq!(
        c.position_risk(Some("BTCUSDT")).await.unwrap()[0].position_amt,
        "0.000"
    );
    let mut net = 0i64;
    for (i, (side, qty)) in [
        (WireSide::Buy, 7),
        (WireSide::Buy, 3),
        (WireSide::Sell, 4),
        (WireSide::Sell, 9),
        (WireSide::Buy, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let r = c
            .new_order(&order(&format!("p{i}"), side, NewOrderKind::Market, qty))
            .await
            .unwrap();
        let done = quantum_trader::core::parse_decimal(r.executed_qty.as_bytes(), QTY).unwrap();
        assert_eq!(done, qty);
        net += if side == WireSide::Buy { done } else { -done };
        let p = c.position_risk(None).await.unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].symbol, "BTCUSDT");
        assert_eq!(
            p[0].position_amt,
            format_decimal(net, QTY),
            "after fill {i}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(net, -2);
    let p = &c.position_risk(Some("BTCUSDT")).await.unwrap()[0];
    let entry: f64 = p.entry_price.parse().unwrap();
    let mark: f64 = p.mark_price.parse().unwrap();
    assert!(
        entry > 0.0 && (entry - mark).abs() / mark < 0.01,
        "{entry} vs {mark}"
    );
    // reduceOnly may only shrink the position: 3 > 2 short is refused, 2 closes it.
    let reduce = |id: &str, qty| NewOrder {
        reduce_only: true,
        ..order(id, WireSide::Buy, NewOrderKind::Market, qty)
    };
    let e = c.new_order(&reduce("ro1", 3)).await.unwrap_err();
    assert_eq!(api_code(&e), (-2022, 400), "{e}");
    let r = c.new_order(&reduce("ro2", 2)).await.unwrap();
    assert!(r.reduce_only);
    let p = &c.position_risk(Some("BTCUSDT")).await.unwrap()[0];
    assert_eq!(p.position_amt, "0.000");
    // Unknown symbol.
    let e = c.position_risk(Some("NOPEUSDT")).await.unwrap_err();
    assert_eq!(api_code(&e), (-1121, 400));
}

#[tokio::test(flavor = "current_thread")]
async fn a_429_retry_after_is_honoured_through_the_shared_budget() {
    let sim = start_sim();
    sim.set_rest_weight_limit(6, Duration::from_millis(2000));
    let m = Metrics::new();
    let budget = RestBudget::new(
        "binance",
        quantum_trader::venue::binance::weight_config(2400, 80, 60_000),
        &m,
    );
    let c = SignedClient::new(
        &sim.rest_url(),
        ApiCredentials::new(SIM_API_KEY, SIM_API_SECRET),
        Some(budget.clone()),
    );
    // positionRisk weighs 5: a second one in the same window is a 429.
    let mut throttled = None;
    for _ in 0..6 {
        match c.position_risk(None).await {
            Ok(_) => {}
            Err(e) => {
                throttled = Some((e, Instant::now()));
                break;
            }
        }
    }
    let (e, at) = throttled.expect("the sim's limit of 6 gives a 429");
    let SignedError::Throttled {
        http: 429,
        code: Some(-1003),
        retry_after_s: Some(secs),
    } = e
    else {
        panic!("expected a 429 with -1003 and Retry-After, got {e:?}");
    };
    assert!(budget.blocked());
    // The next call waits out Retry-After instead of hitting the venue.
    c.position_risk(None)
        .await
        .expect("served after Retry-After");
    assert!(
        at.elapsed() >= Duration::from_millis(secs * 1000 - 20),
        "waited {:?} of {secs} s",
        at.elapsed()
    );
    let s = sim.stats();
    assert_eq!(s.rest_requests_during_retry_after, 0);
    assert_eq!(s.rest_in_flight_after_429, 0);
    assert_eq!(s.rest_throttled_429, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_301st_order_in_ten_seconds_is_refused_with_1015_and_counted() {
    let sim = start_sim();
    sim.pause();
    let far_bid = sim.book("BTCUSDT").unwrap().bids.last().unwrap().0 - 1000;
    let c = client(&sim);
    let t0 = Instant::now();
    for i in 0..300 {
        c.new_order(&order(
            &format!("r{i}"),
            WireSide::Buy,
            limit(far_bid, TimeInForce::Gtc),
            1,
        ))
        .await
        .unwrap();
    }
    assert!(t0.elapsed() < Duration::from_secs(9), "too slow to test");
    let counts = c.order_counts();
    assert_eq!(
        (counts.ten_seconds, counts.one_minute),
        (Some(300), Some(300))
    );
    let e = c
        .new_order(&order("r300", WireSide::Buy, NewOrderKind::Market, 1))
        .await
        .unwrap_err();
    let SignedError::Throttled {
        http: 429,
        code: Some(-1015),
        retry_after_s: Some(s),
    } = e
    else {
        panic!("expected 429 -1015 with Retry-After, got {e:?}");
    };
    assert!((1..=10).contains(&s), "{s}");
    assert_eq!(c.open_orders(Some("BTCUSDT")).await.unwrap().len(), 300);
}
