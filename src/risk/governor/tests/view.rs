//! The API view and the HOLD audit records.

use super::*;

#[test]
fn view_shape() {
    let mut g = gov(cfg(), 10_000);
    fill(&mut g, Side::Buy, 2 * ONE);
    let v = g.view();
    assert_eq!(v["positions"]["binance:BTCUSDT"], 2.0);
    assert_eq!(v["limits"]["max_position"]["binance:BTCUSDT"], 10.0);
    assert_eq!(v["kill_switch"], false);
    assert_eq!(v["daily_trade_cap"], 1_000);
    assert_eq!(v["utc_day"], "2024-10-04");
    assert_eq!(v["circuit_breaker"]["state"], "CLOSED");
    assert!(v["verdicts"]["skip"]["circuit_open:daily_loss"].is_number());
}

/// Without `record_holds`, every HOLD is still in the journal: summed per
/// instrument and verdict, at least once a second, and the day report
/// counts each one with its verdict.
#[test]
fn holds_are_journaled_summed_and_the_report_counts_every_one() {
    use crate::journal::report::DayReport;
    use crate::journal::{read_day, start};
    let dir = crate::journal::tests::tmp_dir("holds-sum");
    let jcfg = crate::config::JournalConfig {
        dir: dir.to_string_lossy().into_owned(),
        ..crate::config::JournalConfig::default()
    };
    let m = crate::telemetry::metrics::Metrics::new();
    let (tx, w) = start(&jcfg, table2(), &m).unwrap();
    let clock = Clock::manual(T0);
    let mut g = Governor::new(
        &cfg(),
        table2(),
        vec![100_000, 100_000],
        clock.clone(),
        TradingMode::Paper,
    );
    g.set_journal(tx, false);
    let mut id = 0u64;
    let mut hold = |g: &mut Governor, inst: u16| {
        id += 1;
        let mut d = decision(Action::Hold, 0, NOW);
        d.id = id;
        d.inst = InstrumentId(inst);
        d.book.inst = InstrumentId(inst);
        let v = g.check(&d, NOW);
        g.journal_verdict(&d, v);
    };
    // 3 seconds of HOLDs on two instruments, the kill switch on in the last.
    for i in 0..3_000i64 {
        clock.set_ms(T0 + i);
        if i == 2_000 {
            g.set_kill_switch(true);
        }
        hold(&mut g, (i % 3 == 0) as u16);
    }
    g.flush_holds();
    drop(g);
    w.join();
    let read = read_day(&dir, T0.div_euclid(DAY_MS)).unwrap();
    let sums: Vec<_> = read
        .records
        .iter()
        .filter(|r| r.body.kind() == "holds")
        .collect();
    // One per second, instrument and verdict: 3 s x 2 instruments.
    assert_eq!(sums.len(), 6, "{sums:#?}");
    assert!(
        read.records.iter().all(|r| r.body.kind() == "holds"),
        "no per-HOLD record without record_holds"
    );
    let r = DayReport::build(&read, TradingMode::Paper);
    assert_eq!(r.decisions.get("HOLD"), Some(&3_000));
    assert_eq!(r.verdicts.get("SKIP hold"), Some(&2_000));
    assert_eq!(r.verdicts.get("SKIP kill_switch"), Some(&1_000));
    let _ = std::fs::remove_dir_all(&dir);
}
