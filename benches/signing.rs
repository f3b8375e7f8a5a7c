//! The cost of signing one Binance order (what the trading session's
//! hand-off thread pays per order before the request leaves): building
//! the parameters of a LIMIT IOC order, HMAC-SHA256 over the query string
//! with `recvWindow` and `timestamp`, the hex signature, and the full URL
//! (`SignedClient::prepare_new_order`); and the HMAC alone over Binance's
//! documented payload.

use criterion::{Criterion, criterion_group, criterion_main};
use quantum_trader::venue::binance::signed::{
    ApiCredentials, NewOrder, NewOrderKind, SignedClient, TimeInForce, WireSide, sign,
};
use std::hint::black_box;

const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn bench(c: &mut Criterion) {
    let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    c.bench_function("hmac_sha256_doc_payload", |b| {
        b.iter(|| sign(black_box(SECRET), black_box(payload)))
    });
    let client = SignedClient::new(
        "http://127.0.0.1:1",
        ApiCredentials::new("key", SECRET),
        None,
    );
    let order = NewOrder {
        symbol: "BTCUSDT".into(),
        side: WireSide::Buy,
        kind: NewOrderKind::Limit {
            price: "60012.30".into(),
            tif: TimeInForce::Ioc,
        },
        quantity: "0.002".into(),
        client_order_id: "qt0mhx4k2f900000042".into(),
        reduce_only: false,
    };
    c.bench_function("sign_new_order", |b| {
        b.iter(|| client.prepare_new_order(black_box(&order)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
