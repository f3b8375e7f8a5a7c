use super::*;
use crate::config::RecordConfig;
use crate::core::now_ns;
use crate::telemetry::metrics::Metrics;
use std::path::{Path, PathBuf};

fn tmp_dir(name: &str) -> PathBuf {
    crate::core::testkit::tmp_dir(name)
}

fn cfg(dir: &Path) -> RecordConfig {
    RecordConfig {
        enabled: true,
        dir: dir.display().to_string(),
        ..RecordConfig::default()
    }
}

/// (venue, kind, conn, ts_ns, payload) of one record read back.
type Rec = (Venue, Kind, u16, u64, Vec<u8>);

fn read_all(dir: &Path) -> (Vec<Rec>, ReadStats) {
    let mut m = Merged::open(dir, None).unwrap();
    let mut out = Vec::new();
    while let Some(r) = m.next() {
        out.push((
            r.venue,
            r.header.kind,
            r.header.conn,
            r.header.ts_ns,
            r.payload.to_vec(),
        ));
    }
    (out, m.stats.clone())
}

/// Writes a small recording: two Binance connections and one OKX one.
fn record_some(dir: &Path, frames: usize) -> u64 {
    let m = Metrics::new();
    let (rec, h) = writer::start(
        &cfg(dir),
        &m,
        [b"{}".to_vec(), b"{}".to_vec(), b"{}".to_vec()],
    )
    .unwrap();
    let mut a = rec.connection(Venue::Binance, "ws://a");
    let mut b = rec.connection(Venue::Binance, "ws://b");
    let mut o = rec.connection(Venue::Okx, "ws://o");
    a.open("ws://a");
    a.sent("{\"op\":\"subscribe\"}");
    let t0 = now_ns();
    // Stamped at "receipt", as the session does.
    for i in 0..frames as u64 {
        // Two pauses: the writer flushes, so the file has several zstd
        // blocks (as after a crash mid-recording).
        if i > 0 && i % (frames as u64 / 3).max(1) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        a.frame(now_ns(), format!("a{i}").as_bytes());
        b.frame(now_ns(), format!("b{i}").as_bytes());
        o.frame(now_ns(), format!("o{i}").as_bytes());
    }
    a.rest(3, &Ok(b"{\"lastUpdateId\":1}".to_vec()));
    a.close("eof");
    drop((a, b, o, rec));
    h.stop();
    t0
}

#[test]
fn records_come_back_in_time_order_with_their_bytes() {
    let dir = tmp_dir("cap-roundtrip");
    record_some(&dir, 100);
    let (recs, stats) = read_all(&dir);
    assert_eq!(stats.torn_tails + stats.corrupt + stats.unreadable, 0);
    // Meta per file first, then what was recorded.
    let frames: Vec<_> = recs.iter().filter(|r| r.1 == Kind::Frame).collect();
    assert_eq!(frames.len(), 300);
    assert!(recs.windows(2).all(|w| w[0].3 <= w[1].3), "time order");
    assert_eq!(frames[0].4, b"a0");
    assert_eq!(
        (frames[1].0, frames[1].2, &frames[1].4[..]),
        (Venue::Binance, 1, &b"b0"[..])
    );
    assert_eq!((frames[2].0, &frames[2].4[..]), (Venue::Okx, &b"o0"[..]));
    let conns: Vec<_> = recs
        .iter()
        .filter(|r| r.1 == Kind::Conn)
        .map(|r| (r.0, r.2, r.4.clone()))
        .collect();
    assert_eq!(
        conns,
        vec![
            (Venue::Binance, 0, b"ws://a".to_vec()),
            (Venue::Binance, 1, b"ws://b".to_vec()),
            (Venue::Okx, 0, b"ws://o".to_vec())
        ]
    );
    let rest = recs.iter().find(|r| r.1 == Kind::Rest).unwrap();
    assert_eq!(
        format::parse_rest(&rest.4),
        Some((3, Ok(b"{\"lastUpdateId\":1}".to_vec())))
    );
    assert!(recs.iter().any(|r| r.1 == Kind::Close && r.4 == b"eof"));
    assert!(recs.iter().any(|r| r.1 == Kind::Sent));
    assert_eq!(
        list_files(&dir).unwrap().len(),
        2,
        "one file per venue and hour"
    );
}

#[test]
fn a_torn_or_damaged_file_yields_a_prefix_of_its_records_and_is_counted() {
    let dir = tmp_dir("cap-torn");
    record_some(&dir, 200);
    let (all, _) = read_all(&dir);
    let path = list_files(&dir)
        .unwrap()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(".binance."))
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let binance: Vec<_> = all
        .iter()
        .filter(|r| r.0 == Venue::Binance)
        .cloned()
        .collect();
    let okx = all.len() - binance.len();
    let mut torn_seen = 0;
    let mut partial = 0;
    // Every cut point: never a panic, always a prefix, the tail counted.
    for cut in (0..bytes.len()).step_by(7) {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let (got, stats) = read_all(&dir);
        let got_b: Vec<_> = got
            .iter()
            .filter(|r| r.0 == Venue::Binance)
            .cloned()
            .collect();
        assert_eq!(got.len() - got_b.len(), okx, "the other venue is untouched");
        assert!(got_b.len() <= binance.len(), "cut {cut}: nothing invented");
        assert_eq!(got_b[..], binance[..got_b.len()], "cut {cut}: a prefix");
        assert!(stats.torn_tails + stats.unreadable + stats.corrupt <= 1);
        torn_seen += stats.torn_tails;
        if !got_b.is_empty() && got_b.len() < binance.len() {
            partial += 1;
            assert_eq!(stats.torn_tails, 1, "cut {cut}: a torn tail is counted");
        }
    }
    assert!(
        torn_seen > 0 && partial > 0,
        "{torn_seen} torn, {partial} partial"
    );
    // A flipped byte: a prefix (the checksum refuses what follows), counted.
    for at in (20..bytes.len()).step_by(bytes.len() / 13 + 1) {
        let mut b = bytes.clone();
        b[at] ^= 0x5a;
        std::fs::write(&path, &b).unwrap();
        let (got, stats) = read_all(&dir);
        let got_b: Vec<_> = got
            .iter()
            .filter(|r| r.0 == Venue::Binance)
            .cloned()
            .collect();
        assert_eq!(got_b[..], binance[..got_b.len()], "flip at {at}: a prefix");
        if got_b.len() < binance.len() {
            assert_eq!(
                stats.torn_tails + stats.corrupt + stats.unreadable,
                1,
                "flip at {at}"
            );
        }
    }
}

#[test]
fn files_rotate_at_the_hour_and_the_oldest_go_first_under_the_cap() {
    let dir = tmp_dir("cap-rotate");
    let m = Metrics::new();
    let (rec, h) = writer::start(&cfg(&dir), &m, Default::default()).unwrap();
    let mut a = rec.connection(Venue::Bybit, "ws://a");
    let t0 = now_ns();
    let hour = 3_600_000_000_000u64;
    for k in 0..3 {
        a.frame(t0 + k * hour, format!("frame{k}").as_bytes());
    }
    drop((a, rec));
    h.stop();
    let files = list_files(&dir).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    let (recs, _) = read_all(&dir);
    let frames: Vec<_> = recs
        .iter()
        .filter(|r| r.1 == Kind::Frame)
        .map(|r| r.4.clone())
        .collect();
    assert_eq!(
        frames,
        vec![b"frame0".to_vec(), b"frame1".to_vec(), b"frame2".to_vec()]
    );
    // Cap at the size of the first and last: the oldest not kept goes.
    let sizes: Vec<u64> = files
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    let (total, deleted) = enforce_cap(&dir, sizes[0] + sizes[2], &[files[0].clone()]).unwrap();
    assert_eq!(deleted, 1);
    assert!(files[0].exists() && !files[1].exists() && files[2].exists());
    assert_eq!(total, sizes[0] + sizes[2]);
    let (_, deleted) = enforce_cap(&dir, 1, &[]).unwrap();
    assert_eq!(deleted, 2);
    assert!(list_files(&dir).unwrap().is_empty());
}

#[test]
fn a_full_queue_drops_counts_and_marks_the_gap() {
    let dir = tmp_dir("cap-drop");
    let m = Metrics::new();
    let c = RecordConfig {
        queue_capacity: 4,
        ..cfg(&dir)
    };
    let (rec, h) = writer::start(&c, &m, Default::default()).unwrap();
    let mut a = rec.connection(Venue::Binance, "ws://a");
    let t0 = now_ns();
    for i in 0..5000u64 {
        a.frame(t0 + i, &[b'x'; 512]);
    }
    // Once the writer caught up, the next record is preceded by the count.
    std::thread::sleep(std::time::Duration::from_millis(300));
    a.frame(t0 + 5000, b"after");
    drop((a, rec));
    h.stop();
    let (recs, _) = read_all(&dir);
    let dropped = m
        .registry
        .gather()
        .iter()
        .find(|f| f.name() == "qt_capture_dropped_total")
        .map(|f| f.get_metric()[0].get_counter().value() as u64)
        .unwrap_or(0);
    let frames = recs.iter().filter(|r| r.1 == Kind::Frame).count() as u64;
    let marked: u64 = recs
        .iter()
        .filter(|r| r.1 == Kind::Dropped)
        .map(|r| u64::from_le_bytes(r.4[..8].try_into().unwrap()))
        .sum();
    assert!(dropped > 0, "a 4-deep queue must overflow");
    // Every record is either written or counted.
    assert_eq!(frames + dropped, 5001);
    // The marker before the last frame accounts for every drop.
    assert_eq!(marked, dropped);
    let last: Vec<_> = recs.iter().rev().take(2).map(|r| r.1).collect();
    assert_eq!(last, vec![Kind::Frame, Kind::Dropped]);
}
