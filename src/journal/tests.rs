use super::*;
use crate::config::{FsyncPolicy, JournalConfig, TradingMode};
use crate::core::Money;
use crate::core::{Action, InstrumentId, OrderStatus, Side};
use crate::telemetry::metrics::Metrics;
use std::io::Write;

pub(crate) use crate::core::testkit::tmp_dir;

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
            fee: Money::parse("0.04").unwrap(),
            fee_asset: crate::core::FeeAsset::QUOTE,
            position_after: qty,
            realized_pnl: Money::from_f64(realized),
        },
    }
}

#[test]
fn ids_rise_across_restarts_and_days_split_files() {
    let dir = tmp_dir("journal-ids");
    let t = crate::core::testkit::btc_table();
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
    let t = crate::core::testkit::btc_table();
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
    // The cut bytes were kept aside.
    let q: Vec<_> = std::fs::read_dir(dir.join("quarantine"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(q, vec![frame[..frame.len() / 2].to_vec()]);
    let rep = report::DayReport::build(&d, TradingMode::Paper);
    assert_eq!(rep.fills, 4);
    assert_eq!(rep.realized_pnl.to_string(), "-2.50000000");
    assert_eq!(rep.fees.to_string(), "0.16000000");
    // Equity net of fees: -1.04, -2.08, -3.12, -2.66: peak 0, worst -3.12.
    assert_eq!(rep.max_drawdown.to_string(), "3.12000000");
    assert_eq!(report::DayReport::build(&d, TradingMode::Live).fills, 0);
    assert!(rep.render().contains("fills            4"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `n` fills (one record each) to day 20_780 and returns the file's
/// bytes and each record's (offset, len) in it.
fn journal_of(dir: &std::path::Path, n: u64) -> (Vec<u8>, Vec<(usize, usize)>) {
    let t = crate::core::testkit::btc_table();
    let (tx, w) = start(&cfg(dir, FsyncPolicy::Batch), t, &Metrics::new()).unwrap();
    for k in 0..n {
        assert!(tx.send(fill(T0 + k as i64, k, 1_000, 0.0)));
    }
    drop(tx);
    w.join();
    let bytes = std::fs::read(day_path(dir, 20_780)).unwrap();
    let mut at = Vec::new();
    let mut o = 0;
    while o < bytes.len() {
        let len = u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
        at.push((o, frame::HEADER + len));
        o += frame::HEADER + len;
    }
    (bytes, at)
}

#[test]
fn a_flipped_bit_loses_only_its_record_and_nothing_is_cut() {
    let dir = tmp_dir("journal-flip");
    let (bytes, at) = journal_of(&dir, 10);
    let path = day_path(&dir, 20_780);
    // One bit in the length of record 4, one in the payload of record 7.
    let mut d = bytes.clone();
    d[at[3].0 + 1] ^= 0x04;
    d[at[6].0 + frame::HEADER + 5] ^= 0x10;
    std::fs::write(&path, &d).unwrap();
    let r = read_day(&dir, 20_780).unwrap();
    let ids: Vec<u64> = r.records.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![1, 2, 3, 5, 6, 8, 9, 10]);
    assert_eq!(r.tail, Tail::Clean);
    assert_eq!(r.corrupt, 2);
    assert_eq!(
        r.damaged
            .iter()
            .map(|d| (d.offset, d.len))
            .collect::<Vec<_>>(),
        vec![
            (at[3].0 as u64, at[3].1 as u64),
            (at[6].0 as u64, at[6].1 as u64)
        ]
    );
    let rep = report::DayReport::build(&r, TradingMode::Paper);
    assert_eq!(rep.damaged_regions.len(), 2);
    assert!(
        rep.render().contains("damaged region at byte"),
        "{}",
        rep.render()
    );
    assert_eq!(check_dir(&dir).unwrap().len(), 1);
    // The writer appends after the damage without cutting anything.
    let m = Metrics::new();
    let t = crate::core::testkit::btc_table();
    let (tx, w) = start(&cfg(&dir, FsyncPolicy::Batch), t, &m).unwrap();
    assert!(tx.send(fill(T0 + 99, 99, 1_000, 0.0)));
    let stats = tx.stats().clone();
    drop(tx);
    w.join();
    assert!(std::fs::read(&path).unwrap().starts_with(&d));
    let ids: Vec<u64> = read_day(&dir, 20_780)
        .unwrap()
        .records
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 5, 6, 8, 9, 10, 11]);
    assert_eq!(
        stats
            .damaged_regions
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&m.registry.gather())
        .unwrap();
    assert!(
        text.contains("qt_journal_damaged_regions_total 2"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_tail_longer_than_a_record_is_kept_and_skipped() {
    let dir = tmp_dir("journal-garbage-tail");
    let (bytes, _) = journal_of(&dir, 3);
    let path = day_path(&dir, 20_780);
    let mut d = bytes.clone();
    d.extend(std::iter::repeat_n(
        0xAB,
        frame::HEADER + frame::MAX_PAYLOAD + 1,
    ));
    std::fs::write(&path, &d).unwrap();
    let t = crate::core::testkit::btc_table();
    let (tx, w) = start(&cfg(&dir, FsyncPolicy::Batch), t, &Metrics::new()).unwrap();
    assert!(tx.send(fill(T0 + 99, 99, 1_000, 0.0)));
    drop(tx);
    w.join();
    assert!(std::fs::read(&path).unwrap().starts_with(&d), "nothing cut");
    let r = read_day(&dir, 20_780).unwrap();
    assert_eq!(
        r.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!((r.corrupt, r.tail.clone()), (1, Tail::Clean));
    assert!(!dir.join("quarantine").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn read_errors_are_retried_and_a_lasting_one_cuts_nothing() {
    use frame::tests::FlakyReader;
    let dir = tmp_dir("journal-eio");
    let (bytes, at) = journal_of(&dir, 6);
    let path = day_path(&dir, 20_780);
    // A torn record at the end, so that there is something a reader that
    // gave up on the error could wrongly cut.
    let mut d = bytes.clone();
    let mut extra = Vec::new();
    frame::encode(br#"{"id":7}"#, &mut extra);
    d.extend_from_slice(&extra[..5]);
    std::fs::write(&path, &d).unwrap();
    let len = d.len() as u64;
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap()
    };
    // EIO for ever from the middle of record 3: nothing is cut.
    let f = open();
    let c = writer::settle_tail(
        &path,
        &f,
        len,
        FlakyReader {
            data: &d,
            at: 0,
            fail_at: at[2].0 + 3,
            failures: u32::MAX,
        },
    )
    .unwrap();
    assert!(c.unreadable.is_some());
    assert_eq!((c.cut_bytes, c.retries), (0, frame::READ_RETRIES as u64));
    assert_eq!(std::fs::read(&path).unwrap(), d);
    // A transient EIO is retried; only the torn record is cut.
    let c = writer::settle_tail(
        &path,
        &f,
        len,
        FlakyReader {
            data: &d,
            at: 0,
            fail_at: at[2].0 + 3,
            failures: 2,
        },
    )
    .unwrap();
    assert_eq!((c.unreadable.clone(), c.cut_bytes, c.retries), (None, 5, 2));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(read_day(&dir, 20_780).unwrap().records.len(), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A day file that fails every read (a directory in its place: EISDIR, a
/// real I/O error from the kernel): retried, reported unreadable, and the
/// last record id is refused rather than guessed.
#[test]
fn an_unreadable_day_file_is_reported_and_its_ids_never_reused() {
    let dir = tmp_dir("journal-unreadable");
    std::fs::create_dir(day_path(&dir, 20_780)).unwrap();
    let r = read_day(&dir, 20_780).unwrap();
    assert!(matches!(r.tail, Tail::Unreadable { .. }), "{:?}", r.tail);
    assert_eq!(r.retries, frame::READ_RETRIES as u64);
    let rep = report::DayReport::build(&r, TradingMode::Paper);
    assert!(
        rep.render().contains("the rest of the file is unreadable"),
        "{}",
        rep.render()
    );
    let e = last_id(&dir).unwrap_err();
    assert!(e.to_string().contains("cannot read to the end"), "{e}");
    assert!(
        start(
            &cfg(&dir, FsyncPolicy::Batch),
            crate::core::testkit::btc_table(),
            &Metrics::new()
        )
        .is_err()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The barrier answers only after every record queued before it is written
/// and synced, with the fsync policy of the records around it left alone
/// (a batch policy whose window never ends by itself here).
#[test]
fn a_sync_barrier_waits_for_everything_queued_before_it() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tmp_dir("journal-barrier");
    let t = crate::core::testkit::btc_table();
    let m = Metrics::new();
    let mut c = cfg(&dir, FsyncPolicy::Batch);
    c.batch_ms = 3_600_000;
    let (tx, w) = start(&c, t, &m).unwrap();
    let n = 20_000u64;
    for k in 0..n {
        assert!(tx.send(fill(T0, k + 1, 1_000, 0.0)));
    }
    let fsyncs = tx.stats().fsyncs.load(Relaxed);
    tx.sync(std::time::Duration::from_secs(30)).unwrap();
    // All written and synced when it returns, and readable from the file.
    assert_eq!(tx.stats().written.load(Relaxed), n);
    assert!(tx.stats().fsyncs.load(Relaxed) > fsyncs);
    assert_eq!(read_day(&dir, 20_780).unwrap().records.len() as u64, n);
    // A barrier is not a record.
    tx.sync(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(tx.stats().written.load(Relaxed), n);
    let stats = tx.stats().clone();
    drop(tx);
    w.join();
    assert_eq!(stats.written.load(Relaxed), n);
    assert_eq!(read_day(&dir, 20_780).unwrap().records.len() as u64, n);
}

/// No writer to answer, or a full queue that stays full: a clear error
/// within the timeout, never a hang.
#[test]
fn a_sync_barrier_without_a_writer_fails_in_time() {
    let m = Metrics::new();
    let (qtx, rx) = crate::pipeline::channel::queue::<Entry>(
        "journal-barrier-test",
        1,
        crate::config::WaitKind::Park,
        &m,
    );
    let tx = JournalTx::for_test(qtx);
    let t0 = std::time::Instant::now();
    let e = tx.sync(std::time::Duration::from_millis(200)).unwrap_err();
    assert!(e.contains("did not reach disk"), "{e}");
    // The queue now holds the first barrier: the next one cannot get in.
    let e = tx.sync(std::time::Duration::from_millis(200)).unwrap_err();
    assert!(e.contains("stayed full"), "{e}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    drop(rx);
    let e = tx.sync(std::time::Duration::from_millis(200)).unwrap_err();
    assert!(e.contains("gone") || e.contains("stopped"), "{e}");
}

/// The day report keeps fees charged in another asset apart: per asset,
/// out of the quote fees, the net PnL and the drawdown; the writer names
/// the asset in the record and leaves it out for a quote fee.
#[test]
fn the_report_lists_fees_per_asset_and_keeps_bnb_out_of_pnl() {
    let dir = tmp_dir("journal-fee-assets");
    let t = crate::core::testkit::btc_table();
    let (tx, w) = start(&cfg(&dir, FsyncPolicy::Batch), t, &Metrics::new()).unwrap();
    let bnb = crate::core::FeeAsset::other("BNB").unwrap();
    for (k, asset, fee, realized) in [
        (1, crate::core::FeeAsset::QUOTE, "0.04", 0.0),
        (2, bnb, "0.00012345", -1.0),
        (3, bnb, "0.00000005", 0.5),
        (4, crate::core::FeeAsset::QUOTE, "0.01", -0.25),
    ] {
        let mut e = fill(T0 + k as i64, k, 1_000, realized);
        if let Event::Fill {
            fee: f, fee_asset, ..
        } = &mut e.event
        {
            *f = Money::parse(fee).unwrap();
            *fee_asset = asset;
        }
        assert!(tx.send(e));
    }
    drop(tx);
    w.join();
    let d = read_day(&dir, 20_780).unwrap();
    let assets: Vec<String> = d
        .records
        .iter()
        .map(|r| match &r.body {
            Body::Fill { fee_asset, .. } => fee_asset.clone(),
            b => panic!("{b:?}"),
        })
        .collect();
    assert_eq!(assets, vec!["", "BNB", "BNB", ""]);
    let rep = report::DayReport::build(&d, TradingMode::Paper);
    assert_eq!(rep.fees.to_string(), "0.05000000");
    assert_eq!(rep.fees_other.len(), 1);
    assert_eq!(rep.fees_other["BNB"].to_string(), "0.00012350");
    assert_eq!(rep.realized_pnl.to_string(), "-0.75000000");
    assert_eq!(rep.realized_pnl_net.to_string(), "-0.80000000");
    // Equity net of quote fees: -0.04, -1.04, -0.54, -0.80: worst from 0.
    assert_eq!(rep.max_drawdown.to_string(), "1.04000000");
    assert!(
        rep.render().contains("fees, not quote  BNB 0.00012350"),
        "{}",
        rep.render()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
