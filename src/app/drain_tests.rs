//! Shutdown drains the stages in order: what is queued when the engine
//! stops is still checked by risk, executed by exec, and every report
//! (fills made during the drain included) reaches risk and the journal.

use crate::config::{ExecConfig, JournalConfig, TradingMode, WaitKind};
use crate::core::{Action, Clock, Decision, ExecReport, OrderIntent, now_ns};
use crate::exec::stage::run_exec_stage;
use crate::journal::{Body, list_days, read_day};
use crate::pipeline::channel::{queue, spsc};
use crate::pipeline::shared::Shared;
use crate::risk::governor::tests::{cfg, decision, table};
use crate::risk::{Governor, run_risk_stage};
use crate::telemetry::metrics::Metrics;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[test]
fn fills_made_during_shutdown_reach_the_journal() {
    let dir = crate::journal::tests::tmp_dir("drain");
    let m = Arc::new(Metrics::new());
    let t = table();
    let sh = Arc::new(Shared::new(
        t.clone(),
        m.clone(),
        "t".into(),
        TradingMode::Paper,
    ));
    let jcfg = JournalConfig {
        dir: dir.to_string_lossy().into_owned(),
        ..JournalConfig::default()
    };
    let (jtx, jw) = crate::journal::start(&jcfg, t.clone(), &m).unwrap();
    let mut gov = Governor::new(
        &cfg(),
        t,
        vec![1_000_000],
        Clock::system(),
        TradingMode::Paper,
    );
    gov.set_journal(jtx, false);
    let n = 60;
    let (dtx, drx) = queue::<Decision>("score_to_risk", 256, WaitKind::Park, &m);
    let (otx, orx) = spsc::<OrderIntent>("risk_to_exec", 256, WaitKind::Park, &m);
    // A small reports queue: exec's reports wait in its outbox meanwhile.
    let (rtx, rrx) = spsc::<ExecReport>("exec_to_risk", 2, WaitKind::Park, &m);
    for _ in 0..n {
        dtx.try_send(decision(Action::Buy, 1_000, now_ns()))
            .unwrap();
    }
    // The engine is stopping with all of it queued; score is gone.
    sh.running.store(false, Ordering::Relaxed);
    drop(dtx);
    let sh2 = sh.clone();
    let exec = std::thread::spawn(move || run_exec_stage(orx, rtx, sh2, ExecConfig::default()));
    run_risk_stage(
        drx,
        rrx,
        otx,
        sh.clone(),
        Arc::new(crate::risk::control::RiskControl::new()),
        gov,
        ExecConfig::default(),
    );
    exec.join().unwrap();
    jw.join();
    let (mut orders, mut fills, mut done) = (0u64, 0u64, 0u64);
    for day in list_days(&dir).unwrap() {
        for r in read_day(&dir, day).unwrap().records {
            match r.body {
                Body::Order { .. } => orders += 1,
                Body::Fill { .. } => fills += 1,
                Body::OrderDone { .. } => done += 1,
                _ => {}
            }
        }
    }
    let exec_view = sh.positions.lock().clone();
    assert_eq!(orders, n, "every queued decision became an order");
    assert_eq!(exec_view.orders, n);
    assert_eq!((fills, done), (exec_view.fills, n));
    assert!(fills >= n, "each BUY fills at least once: {fills}");
    assert_eq!(
        sh.risk.lock()["open_orders"],
        0,
        "no open-order slot left taken"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
