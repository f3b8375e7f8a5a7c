//! The trading account over real sockets: filters and margin refused with
//! Binance's codes (bodies compared with the recorded real ones), realized
//! PnL and commissions in the wallet, the account endpoints, and
//! countdownCancelAll / allOpenOrders.

use super::api::*;
use super::*;
use reqwest::Method;

/// The recorded real error body `file`, or None (loud skip) if absent.
fn real_body(file: &str) -> Option<serde_json::Value> {
    let p = samples_dir().join("binance").join(file);
    match std::fs::read_to_string(&p) {
        Ok(t) => Some(serde_json::from_str(&t).expect("sample JSON")),
        Err(_) => {
            samples_absent("real Binance error bodies", &p);
            None
        }
    }
}

#[tokio::test]
async fn filters_and_margin_are_checked_with_binance_codes() {
    let sim = SimHandle::start(spec(50, 20)).unwrap();
    let api = Api::new(&sim);
    sim.pause();
    let bid = sim.book("BTCUSDT").unwrap().bids[0].0;
    let apir = &api;
    let order = |p: String, q: &'static str| async move {
        let (s, v, _) = apir.limit("f", "BUY", &p, q).await;
        (s, v)
    };
    let code = |r: (u16, serde_json::Value)| (r.0, r.1["code"].as_i64().unwrap_or(0));
    assert_eq!(code(order("100.05".into(), "0.001").await), (400, -4014));
    assert_eq!(code(order(px(bid), "0.0001").await), (400, -1111));
    assert_eq!(code(order(px(bid), "1001").await), (400, -4005));
    assert_eq!(code(order("2000000".into(), "0.001").await), (400, -4016));
    let zero = order(px(bid), "0").await;
    let notional = order("100.00".into(), "0.001").await;
    // 0.2 BTC at ~61 800 is ~12 360 USDT: 618 of margin at 20x.
    sim.set_wallet_balance("600");
    let margin = order(px(bid), "0.2").await;
    for (got, file) in [
        (&zero, "futures_error_-4003_qty_le_zero_real.json"),
        (&notional, "futures_error_-4164_min_notional_real.json"),
        (&margin, "futures_error_-2019_margin_insufficient_real.json"),
    ] {
        assert_eq!(got.0, 400, "{}", got.1);
        if let Some(real) = real_body(file) {
            assert_eq!(got.1, real, "{file}");
        }
    }
    assert_eq!(margin.1["code"], -2019);
    // 50x leverage: 247 of margin fits; with that open order 0.3 more (371) does not.
    sim.set_leverage(50);
    assert_eq!(order(px(bid), "0.2").await.0, 200);
    let (s, v, _) = api.limit("f2", "BUY", &px(bid), "0.3").await;
    assert_eq!(code((s, v)), (400, -2019));
    // exchangeInfo publishes the filters the orders were checked against.
    let (_, info) = get_json(&format!("{}/fapi/v1/exchangeInfo", api.base)).await;
    let f = &info["symbols"][0]["filters"];
    let by = |t: &str| {
        f.as_array()
            .unwrap()
            .iter()
            .find(|x| x["filterType"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            by("PRICE_FILTER")["tickSize"].as_str(),
            by("PRICE_FILTER")["maxPrice"].as_str()
        ),
        (Some("0.10"), Some("1000000"))
    );
    assert_eq!(by("LOT_SIZE")["stepSize"], "0.001");
    assert_eq!(by("MARKET_LOT_SIZE")["maxQty"], "1000");
    assert_eq!(by("MIN_NOTIONAL")["notional"], "5");
    assert_eq!(info["rateLimits"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn realized_pnl_and_commissions_reach_wallet_trades_and_account() {
    let sim = SimHandle::start(spec(50, 20)).unwrap();
    let api = Api::new(&sim);
    sim.pause();
    let book = sim.book("BTCUSDT").unwrap();
    let ((ask, aq), (bid, bq)) = (book.asks[0], book.bids[0]);
    let q = aq.min(bq).min(10);
    let mkt = |side: &'static str, cid: &'static str| {
        let q = qty(q);
        let api = &api;
        async move {
            api.order(&[
                ("symbol", "BTCUSDT"),
                ("side", side),
                ("type", "MARKET"),
                ("quantity", &q),
                ("newClientOrderId", cid),
            ])
            .await
        }
    };
    assert_eq!(mkt("BUY", "open").await.0, 200);
    let (s, pos, _) = api
        .signed(
            Method::GET,
            "/fapi/v3/positionRisk",
            &[("symbol", "BTCUSDT")],
        )
        .await;
    assert_eq!(
        (s, pos[0]["positionAmt"].as_str()),
        (200, Some(qty(q).as_str()))
    );
    let (s, acct, h1) = api.signed(Method::GET, "/fapi/v3/account", &[]).await;
    assert_eq!(s, 200, "{acct}");
    assert_eq!(
        acct["positions"][0]["positionAmt"].as_str(),
        Some(qty(q).as_str())
    );
    assert!(usdt_of(&acct["totalPositionInitialMargin"]) > 0);
    assert_eq!(mkt("SELL", "close").await.0, 200);
    // Realized (bid - ask) * q; taker 0.05 % on both fills; 8 decimals.
    let scale8 = |v: i64| i128::from(v) * i128::from(q) * 1000;
    let fee = |n: i128| (n * 50_000 + 50_000_000) / 100_000_000;
    let realized = scale8(bid) - scale8(ask);
    let wallet = 100_000 * 100_000_000 + realized - fee(scale8(ask)) - fee(scale8(bid));
    let (_, trades, h2) = api
        .signed(Method::GET, "/fapi/v1/userTrades", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(weight(&h2), weight(&h1) + 5);
    let t = trades.as_array().unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (
            t[0]["side"].as_str(),
            t[0]["maker"].as_bool(),
            t[0]["buyer"].as_bool()
        ),
        (Some("BUY"), Some(false), Some(true))
    );
    assert_eq!(
        (usdt_of(&t[0]["realizedPnl"]), usdt_of(&t[1]["realizedPnl"])),
        (0, realized)
    );
    assert_eq!(usdt_of(&t[1]["commission"]), fee(scale8(bid)));
    assert_eq!(
        (
            t[1]["commissionAsset"].as_str(),
            t[1]["positionSide"].as_str()
        ),
        (Some("USDT"), Some("BOTH"))
    );
    assert_eq!(
        t[0]["quoteQty"].as_str().unwrap(),
        crate::decimal::format_decimal(ask * q, BTC_PX + BTC_QTY)
    );
    let id1 = t[1]["id"].as_i64().unwrap();
    assert_eq!(id1, t[0]["id"].as_i64().unwrap() + 1);
    let (_, from, _) = api
        .signed(
            Method::GET,
            "/fapi/v1/userTrades",
            &[("symbol", "BTCUSDT"), ("fromId", &id1.to_string())],
        )
        .await;
    assert_eq!(from.as_array().unwrap().len(), 1);
    let (_, last, _) = api
        .signed(
            Method::GET,
            "/fapi/v1/userTrades",
            &[("symbol", "BTCUSDT"), ("limit", "1")],
        )
        .await;
    assert_eq!(last[0]["id"].as_i64(), Some(id1));
    let (s, bad, _) = api
        .signed(
            Method::GET,
            "/fapi/v1/userTrades",
            &[("symbol", "BTCUSDT"), ("limit", "1001")],
        )
        .await;
    assert_eq!((s, bad["code"].as_i64()), (400, Some(-1130)));
    let (_, bal, _) = api.signed(Method::GET, "/fapi/v3/balance", &[]).await;
    assert_eq!(
        (bal[0]["asset"].as_str(), usdt_of(&bal[0]["balance"])),
        (Some("USDT"), wallet)
    );
    let (_, acct, _) = api.signed(Method::GET, "/fapi/v3/account", &[]).await;
    assert_eq!(usdt_of(&acct["totalWalletBalance"]), wallet);
    assert_eq!(acct["positions"].as_array().unwrap().len(), 0, "flat");
    assert_eq!(
        sim.account().wallet,
        crate::decimal::format_decimal(wallet as i64, 8)
    );
    let (_, time) = get_json(&format!("{}/fapi/v1/time", api.base)).await;
    assert!(time["serverTime"].as_i64().unwrap() > 1_700_000_000_000);
}

#[tokio::test]
async fn commissions_in_bnb_leave_the_usdt_wallet_alone() {
    let sim = SimHandle::start(spec(50, 20)).unwrap();
    let api = Api::new(&sim);
    sim.pause();
    assert!(!sim.set_commission_asset("B N B", "0.0015"));
    assert!(!sim.set_commission_asset("BNB", "0"));
    assert!(sim.set_commission_asset("bnb", "0.0015"));
    let book = sim.book("BTCUSDT").unwrap();
    let ((ask, aq), (bid, bq)) = (book.asks[0], book.bids[0]);
    let q = aq.min(bq).min(10);
    for (side, cid) in [("BUY", "bnb-open"), ("SELL", "bnb-close")] {
        let (s, body, _) = api
            .order(&[
                ("symbol", "BTCUSDT"),
                ("side", side),
                ("type", "MARKET"),
                ("quantity", &qty(q)),
                ("newClientOrderId", cid),
            ])
            .await;
        assert_eq!(s, 200, "{body}");
    }
    let scale8 = |v: i64| i128::from(v) * i128::from(q) * 1000;
    let fee = |n: i128| (n * 50_000 + 50_000_000) / 100_000_000;
    // 0.0015 BNB per USDT of commission, rounded half away from zero.
    let bnb = |usdt: i128| (usdt * 150_000 + 50_000_000) / 100_000_000;
    let realized = scale8(bid) - scale8(ask);
    let (_, trades, _) = api
        .signed(Method::GET, "/fapi/v1/userTrades", &[("symbol", "BTCUSDT")])
        .await;
    let t = trades.as_array().unwrap();
    assert_eq!(t.len(), 2);
    for (tr, n) in t.iter().zip([scale8(ask), scale8(bid)]) {
        assert_eq!(tr["commissionAsset"].as_str(), Some("BNB"), "{tr}");
        assert_eq!(usdt_of(&tr["commission"]), bnb(fee(n)), "{tr}");
    }
    let paid = bnb(fee(scale8(ask))) + bnb(fee(scale8(bid)));
    let acct = sim.account();
    assert_eq!(
        acct.wallet,
        crate::decimal::format_decimal((100_000 * 100_000_000 + realized) as i64, 8),
        "no USDT commission"
    );
    assert_eq!(
        acct.commissions,
        vec![(
            "BNB".to_string(),
            crate::decimal::format_decimal(paid as i64, 8)
        )]
    );
    // Back to USDT.
    assert!(sim.set_commission_asset("USDT", "1"));
    assert_eq!(
        api.order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", &qty(q)),
            ("newClientOrderId", "usdt-again"),
        ])
        .await
        .0,
        200
    );
    let acct = sim.account();
    assert_eq!(acct.commissions.len(), 2, "{:?}", acct.commissions);
    assert_eq!(acct.commissions[1].0, "USDT");
}

#[tokio::test]
async fn countdown_cancel_all_fires_unless_rearmed_or_disarmed() {
    let sim = SimHandle::start(spec(50, 20)).unwrap();
    let api = Api::new(&sim);
    let (_key, mut ws) = api.stream().await;
    sim.pause();
    let far = sim.book("BTCUSDT").unwrap().bids.last().unwrap().0 - 1000;
    for cid in ["cd-1", "cd-2"] {
        assert_eq!(api.limit(cid, "BUY", &px(far), "0.001").await.0, 200);
    }
    let eth_far = sim.book("ETHUSDT").unwrap().bids.last().unwrap().0 - 1000;
    let eth = crate::decimal::format_decimal(eth_far, 2);
    let (s, v, _) = api
        .order(&[
            ("symbol", "ETHUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("price", &eth),
            ("quantity", "0.010"),
            ("newClientOrderId", "eth-1"),
        ])
        .await;
    assert_eq!(s, 200, "{v}");
    let apir = &api;
    let arm = |ms: &'static str| async move {
        apir.signed(
            Method::POST,
            "/fapi/v1/countdownCancelAll",
            &[("symbol", "BTCUSDT"), ("countdownTime", ms)],
        )
        .await
    };
    let (s, v, _) = arm("300").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        serde_json::json!({"symbol": "BTCUSDT", "countdownTime": "300"})
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    arm("300").await; // the heartbeat re-arms it
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.stats().countdown_triggers, 0, "re-armed in time");
    assert_eq!(sim.account().open_orders.len(), 3);
    let evs = events_until(&mut ws, Duration::from_secs(2), |e| {
        is_update(e, "cd-2", "CANCELED")
    })
    .await;
    assert!(evs.iter().any(|e| is_update(e, "cd-1", "CANCELED")));
    assert_eq!(sim.account().open_orders, vec!["eth-1".to_string()]);
    let st = sim.stats();
    assert_eq!((st.countdown_arms, st.countdown_triggers), (2, 1));
    // Armed then disarmed (0): nothing fires.
    assert_eq!(api.limit("cd-3", "BUY", &px(far), "0.001").await.0, 200);
    arm("100").await;
    arm("0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.stats().countdown_triggers, 1);
    // Cancel all of one symbol: its orders only, each with its event.
    let (s, v, _) = api
        .signed(
            Method::DELETE,
            "/fapi/v1/allOpenOrders",
            &[("symbol", "ETHUSDT")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        serde_json::json!({"code": 200, "msg": "The operation of cancel all open order is done."})
    );
    events_until(&mut ws, Duration::from_secs(2), |e| {
        is_update(e, "eth-1", "CANCELED")
    })
    .await;
    assert_eq!(sim.account().open_orders, vec!["cd-3".to_string()]);
}
