//! Recovery from a journal written by the real writer: a journal from
//! yesterday and one from paper mode do not count toward today's live cap;
//! the day report reads the same records.

mod common;

use common::temp_journal_dir;
use quantum_trader::app::engine::instruments_from_config;
use quantum_trader::config::{Config, JournalConfig, TradingMode};
use quantum_trader::core::{Action, Clock, InstrumentId, SkipReason, Verdict};
use quantum_trader::journal::{self, Entry, Event};
use quantum_trader::risk::Governor;
use quantum_trader::risk::recovery::recover;
use quantum_trader::telemetry::metrics::Metrics;
use std::sync::Arc;

const DAY: i64 = 86_400_000;
// 2026-11-23 12:00 UTC.
const NOW: i64 = 20_780 * DAY + 12 * 3_600_000;

fn verdict(ts_ms: i64, mode: TradingMode, id: u64) -> Entry {
    Entry {
        ts_ms,
        mode,
        event: Event::Verdict {
            decision_id: id,
            inst: InstrumentId(0),
            skip: None,
        },
    }
}

#[test]
fn yesterday_and_paper_do_not_count_toward_todays_live_cap() {
    let dir = temp_journal_dir("cap");
    let cfg = Config::demo();
    let table = Arc::new(instruments_from_config(&cfg).unwrap());
    let jc = JournalConfig {
        dir: dir.to_string_lossy().into_owned(),
        ..JournalConfig::default()
    };
    let m = Metrics::new();
    let (tx, w) = journal::start(&jc, table.clone(), &m).unwrap();
    let mut id = 0;
    let mut send = |ts, mode, n| {
        for _ in 0..n {
            id += 1;
            assert!(tx.send(verdict(ts, mode, id)));
        }
    };
    send(NOW - DAY, TradingMode::Live, 7); // yesterday, live
    send(NOW - 1_000, TradingMode::Paper, 9); // today, paper
    send(NOW - 500, TradingMode::Live, 2); // today, live
    send(NOW - DAY / 2 - 1, TradingMode::Live, 1); // 23:59:59.999 yesterday
    drop(tx);
    w.join();
    assert_eq!(journal::list_days(&dir).unwrap(), vec![20_779, 20_780]);

    let live = recover(&dir, TradingMode::Live, NOW, &table).unwrap();
    assert_eq!(live.seed.today.unwrap().trades, 2);
    let paper = recover(&dir, TradingMode::Paper, NOW, &table).unwrap();
    assert_eq!(paper.seed.today.unwrap().trades, 9);
    assert!(
        live.line.contains("today 2026-11-23 trades 2"),
        "{}",
        live.line
    );

    // A live governor restored from it: the cap of 3 leaves one order.
    let mut rc = cfg.risk.clone();
    rc.daily_trade_cap = 3;
    rc.price_band_bps = 0.0;
    let mut g = Governor::new(
        &rc,
        table.clone(),
        vec![1_000_000; table.len()],
        Clock::manual(NOW),
        TradingMode::Live,
    );
    g.restore(&live.seed);
    assert_eq!(g.daily_trades(), 2);
    let d = decision(&table);
    let now = quantum_trader::core::now_ns();
    assert_eq!(g.check(&d, now), Verdict::Execute);
    assert_eq!(
        g.check(&d, now + 1_000_000_000),
        Verdict::Skip(SkipReason::DailyTradeCap)
    );

    // The report counts the same way.
    let read = journal::read_day(&dir, 20_780).unwrap();
    let rep = journal::report::DayReport::build(&read, TradingMode::Live);
    assert_eq!(rep.verdicts.get("EXECUTE"), Some(&2));
    let rep = journal::report::DayReport::build(&read, TradingMode::Paper);
    assert_eq!(rep.verdicts.get("EXECUTE"), Some(&9));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
        .args([
            "journal",
            "report",
            "--day",
            "2026-11-22",
            "--mode",
            "live",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verdicts         EXECUTE 8"), "{text}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
        .args(["journal", "report", "--day", "22-11-2026", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A BUY of 0.002 BTCUSDT on a 60000.00/60000.10 book, in sync, fresh.
fn decision(table: &quantum_trader::core::InstrumentTable) -> quantum_trader::core::Decision {
    use quantum_trader::core::{BookTop, Decision, Level, N_FEATURES, TOP_LEVELS, Venue};
    let inst = table.get(InstrumentId(0));
    let px = |s: &str| quantum_trader::core::parse_decimal(s.as_bytes(), inst.price_scale).unwrap();
    let mut bids = [Level::default(); TOP_LEVELS];
    let mut asks = [Level::default(); TOP_LEVELS];
    bids[0] = Level {
        px: px("60000.0"),
        qty: 1_000,
    };
    asks[0] = Level {
        px: px("60000.1"),
        qty: 1_000,
    };
    let now = quantum_trader::core::now_ns();
    Decision {
        id: 1,
        venue: Venue::Binance,
        inst: InstrumentId(0),
        recv_ns: now,
        hop_ns: now,
        exch_ms: 0,
        action: Action::Buy,
        score: 0.9,
        confidence: 0.9,
        model_version: 0,
        feature_mask: 0,
        qty: 2,
        features: [0.0; N_FEATURES],
        book: BookTop {
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns: now,
            hop_ns: now,
            exch_ms: 0,
            update_id: 1,
            in_sync: true,
            n_bids: 1,
            n_asks: 1,
            bids,
            asks,
            xv_best_bid: 0,
            xv_best_ask: 0,
            xv_lead_lag_bps: 0.0,
            extra: Default::default(),
        },
    }
}

/// Venue client ids come back with the journal's open orders: each `order`
/// record takes the scheme of the latest `client_ids` record of its venue
/// before it (a life's epoch); orders before any such record (an older
/// journal), done or fully filled orders and other modes' records give
/// none; the journaled epochs are listed for the next epoch floor.
#[test]
fn open_orders_come_back_with_their_venue_client_ids() {
    use quantum_trader::core::{Money, OrderStatus, Side, Venue};
    use quantum_trader::exec::client_id::ClientIdGen;
    use quantum_trader::journal::ClientIdsNote;
    let dir = temp_journal_dir("client-ids");
    let cfg = Config::demo();
    let table = Arc::new(instruments_from_config(&cfg).unwrap());
    let btc = table.find(Venue::Binance, "BTCUSDT").unwrap();
    let jc = JournalConfig {
        dir: dir.to_string_lossy().into_owned(),
        ..JournalConfig::default()
    };
    let m = Metrics::new();
    let (tx, w) = journal::start(&jc, table.clone(), &m).unwrap();
    let at = |mode, event| Entry {
        ts_ms: NOW,
        mode,
        event,
    };
    let order = |coid: u64, qty: i64| Event::Order {
        client_order_id: coid,
        decision_id: coid,
        inst: btc,
        side: Side::Buy,
        qty,
        limit_px: 1,
    };
    let scheme = |epoch_ms| {
        Event::ClientIds(Box::new(ClientIdsNote {
            venue: Venue::Binance,
            prefix: "qt".into(),
            epoch_ms,
        }))
    };
    let live = TradingMode::Live;
    // An order from before client_ids records existed: no id.
    assert!(tx.send(at(live, order(1, 5))));
    assert!(tx.send(at(live, scheme(1_000))));
    assert!(tx.send(at(live, order(2, 5))));
    // Done: not open.
    assert!(tx.send(at(live, order(3, 5))));
    assert!(tx.send(at(
        live,
        Event::OrderDone {
            client_order_id: 3,
            inst: btc,
            status: OrderStatus::Canceled,
            note: "",
        }
    )));
    // A second life: a new epoch for the orders after it.
    assert!(tx.send(at(live, scheme(2_000))));
    assert!(tx.send(at(live, order(4, 5))));
    assert!(tx.send(at(
        live,
        Event::Fill {
            client_order_id: 4,
            inst: btc,
            side: Side::Buy,
            px: 1,
            qty: 2,
            fee: Money::ZERO,
            fee_asset: quantum_trader::core::FeeAsset::QUOTE,
            position_after: 2,
            realized_pnl: Money::ZERO,
        }
    )));
    // Another mode's scheme and order do not count.
    assert!(tx.send(at(TradingMode::Testnet, scheme(9_000))));
    assert!(tx.send(at(TradingMode::Testnet, order(5, 5))));
    assert!(tx.send(at(live, order(6, 5))));
    drop(tx);
    w.join();

    let r = recover(&dir, live, NOW, &table).unwrap();
    let id = |epoch, seq| {
        ClientIdGen::start("qt", epoch, None)
            .unwrap()
            .id(seq)
            .unwrap()
            .to_string()
    };
    let got: Vec<(String, i64, i64)> = r
        .venue_orders
        .iter()
        .map(|k| (k.client_id.clone(), k.qty, k.filled))
        .collect();
    assert_eq!(
        got,
        vec![
            (id(1_000, 2), 5, 0),
            (id(2_000, 4), 5, 2),
            (id(2_000, 6), 5, 0)
        ]
    );
    assert_eq!(
        r.client_id_epochs,
        vec![("qt".to_string(), 1_000), ("qt".to_string(), 2_000)]
    );
    // Every journal-open order is still in the governor's seed.
    let mut open: Vec<u64> = r
        .seed
        .open_orders
        .iter()
        .map(|o| o.client_order_id)
        .collect();
    open.sort();
    assert_eq!(open, vec![1, 2, 4, 6]);
}
