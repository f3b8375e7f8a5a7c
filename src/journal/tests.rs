use super::*;
use crate::config::{FsyncPolicy, JournalConfig, TradingMode};
use crate::core::{Action, InstrumentId, OrderStatus, Side};
use crate::ops::metrics::Metrics;
use std::io::Write;
use std::path::PathBuf;

/// A fresh, empty directory under the OS temp dir.
pub(crate) fn tmp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!("qt-{name}-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cfg(dir: &std::path::Path, fsync: FsyncPolicy) -> JournalConfig {
    JournalConfig {
        dir: dir.to_string_lossy().into_owned(),
        fsync,
        ..JournalConfig::default()
    }
}

const DAY: i64 = 86_400_000;
const T0: i64 = 20_780 * DAY + 3_600_000; // 2026-11-23 01:00 UTC

fn fill(ts_ms: i64, coid: u64, qty: i64, realized: f64) -> Entry {
    Entry {
        ts_ms,
        mode: TradingMode::Paper,
        event: Event::Fill {
            client_order_id: coid,
            inst: InstrumentId(0),
            side: Side::Buy,
            px: 1_001,
            qty,
            fee: 0.04,
            position_after: qty,
            realized_pnl: realized,
        },
    }
}

#[test]
fn ids_rise_across_restarts_and_days_split_files() {
    let dir = tmp_dir("journal-ids");
    let t = crate::risk::governor::tests::table();
    for policy in [FsyncPolicy::Always, FsyncPolicy::Batch] {
        let m = Metrics::new();
        let (tx, w) = start(&cfg(&dir, policy), t.clone(), &m).unwrap();
        assert!(tx.send(fill(T0, 1, 1_000, 0.0)));
        assert!(tx.send(Entry {
            ts_ms: T0 + 10,
            mode: TradingMode::Live,
            event: Event::Decision {
                decision_id: 9,
                inst: InstrumentId(0),
                action: Action::Buy,
                score: 0.9,
                confidence: 0.8,
                qty: 1_000,
                bid: 1_000,
                ask: 1_001,
                model_version: crate::score::versions::intern("journal-test-m1").unwrap(),
            },
        }));
        // The next UTC day goes to the next file.
        assert!(tx.send(Entry {
            ts_ms: T0 + DAY,
            mode: TradingMode::Paper,
            event: Event::OrderDone {
                client_order_id: 1,
                inst: InstrumentId(0),
                status: OrderStatus::Filled,
                note: "",
            },
        }));
        let stats = tx.stats().clone();
        drop(tx);
        w.join();
        assert_eq!(stats.written.load(std::sync::atomic::Ordering::Relaxed), 3);
        assert!(stats.fsyncs.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    }
    assert_eq!(list_days(&dir).unwrap(), vec![20_780, 20_781]);
    let d0 = read_day(&dir, 20_780).unwrap();
    let ids: Vec<u64> = d0.records.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![1, 2, 4, 5], "second run continues after id 3");
    assert_eq!(d0.tail, Tail::Clean);
    match &d0.records[1].body {
        Body::Decision {
            symbol,
            bid,
            ask,
            model_version,
            ..
        } => {
            assert_eq!(
                (symbol.as_str(), bid.as_str(), ask.as_str()),
                ("BTCUSDT", "100.0", "100.1")
            );
            assert_eq!(model_version, "journal-test-m1");
        }
        b => panic!("{b:?}"),
    }
    assert_eq!(d0.records[1].mode, TradingMode::Live);
    let d1 = read_day(&dir, 20_781).unwrap();
    assert_eq!(
        d1.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![3, 6]
    );
    assert_eq!(last_id(&dir).unwrap(), 6);
    let from: Vec<u64> = read_from(&dir, 3).unwrap().map(|r| r.id).collect();
    assert_eq!(from, vec![4, 5, 3, 6], "day order, then file order");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_tail_is_ignored_on_read_and_cut_before_appending() {
    let dir = tmp_dir("journal-torn");
    let t = crate::risk::governor::tests::table();
    let m = Metrics::new();
    let (tx, w) = start(&cfg(&dir, FsyncPolicy::Batch), t.clone(), &m).unwrap();
    for k in 0..3 {
        tx.send(fill(T0 + k, k as u64, 1_000, -1.0));
    }
    drop(tx);
    w.join();
    let path = day_path(&dir, 20_780);
    let full = std::fs::read(&path).unwrap();
    // Simulate a crash mid-write: half of a fourth frame.
    let mut frame = Vec::new();
    frame::encode(
        br#"{"id":4,"ts_ms":1,"mode":"paper","kind":"fill"}"#,
        &mut frame,
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&frame[..frame.len() / 2])
        .unwrap();
    let d = read_day(&dir, 20_780).unwrap();
    assert_eq!(d.records.len(), 3);
    assert!(matches!(d.tail, Tail::Torn { .. }));
    assert_eq!(last_id(&dir).unwrap(), 3);
    // The writer cuts the torn bytes, then appends readable records.
    let (tx, w) = start(&cfg(&dir, FsyncPolicy::Always), t, &m).unwrap();
    tx.send(fill(T0 + 9, 9, 2_000, 0.5));
    drop(tx);
    w.join();
    let d = read_day(&dir, 20_780).unwrap();
    assert_eq!(d.tail, Tail::Clean);
    assert_eq!(
        d.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(std::fs::read(&path).unwrap().starts_with(&full));
    let rep = report::DayReport::build(&d, TradingMode::Paper);
    assert_eq!(rep.fills, 4);
    assert!((rep.realized_pnl - (-2.5)).abs() < 1e-12);
    assert!((rep.fees - 0.16).abs() < 1e-12);
    // Equity net of fees: -1.04, -2.08, -3.12, -2.66: peak 0, worst -3.12.
    assert!(
        (rep.max_drawdown - 3.12).abs() < 1e-9,
        "{}",
        rep.max_drawdown
    );
    assert_eq!(report::DayReport::build(&d, TradingMode::Live).fills, 0);
    assert!(rep.render().contains("fills            4"));
    let _ = std::fs::remove_dir_all(&dir);
}
