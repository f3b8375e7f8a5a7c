//! The fused layout (`[pipeline] layout = "fused"`): book, score, risk and
//! exec run one after the other on one thread, each event carried through
//! every stage before the next is taken (run to completion), with no queue
//! and no thread wake-up between stages. The feed threads still own the
//! sockets and parse; this thread consumes the same feed-to-book input the
//! threads layout's book stage does.
//!
//! Each stage runs the same code as in the threads layout (its runner:
//! `BookRunner`, `ScoreRunner`, `RiskRunner`, `ExecRunner`); this module only
//! decides the order of the calls:
//!
//! - each turn: exec sends what its outbox holds and takes the venue
//!   session's reports, risk takes exec's reports and admin commands, then
//!   one feed event goes book → score → risk → exec, and the reports exec
//!   made for it go back to risk at once (exec's reports ring, both ends on
//!   this thread), so the next decision is checked with them applied;
//! - a stage's idle work runs when it has had no item for its own idle
//!   budget (as its thread would after waiting that long), checked every 64
//!   events and whenever the input is idle;
//! - at shutdown, in the threads layout's order: book and score finish,
//!   exec does its stop work and delivers its reports (risk takes them as
//!   they come), then risk takes the last ones and publishes.
//!
//! One fused thread serves every instrument (no sharding by instrument).

use crate::book::stage::{BookRunner, IDLE_BUDGET as BOOK_IDLE};
use crate::core::{ExecReport, MarketEvent, now_ns};
use crate::exec::stage::ExecRunner;
use crate::pipeline::channel::{Handoff, Next, RingTx, Rx};
use crate::pipeline::shared::Shared;
use crate::risk::stage::{IDLE_BUDGET as RISK_IDLE, RiskRunner};
use crate::score::stage::{IDLE_BUDGET as SCORE_IDLE, ScoreRunner};
use std::sync::Arc;
use std::time::Duration;

/// How long exec waits for an intent before its idle work (as on its own
/// thread in paper mode; in venue mode it rate-limits its own idle work).
const EXEC_IDLE: Duration = Duration::from_millis(50);

/// The four stages, built on the fused thread.
pub struct FusedStages {
    pub book: BookRunner,
    pub score: ScoreRunner,
    pub risk: RiskRunner,
    pub exec: ExecRunner,
}

/// When each stage last had an item, and its idle budget.
struct Idle {
    budget_ns: [u64; 4],
    last_ns: [u64; 4],
    busy: [bool; 4],
}

const BOOK: usize = 0;
const SCORE: usize = 1;
const RISK: usize = 2;
const EXEC: usize = 3;

impl Idle {
    fn new(now: u64) -> Idle {
        let ns = |d: Duration| d.as_nanos() as u64;
        Idle {
            budget_ns: [ns(BOOK_IDLE), ns(SCORE_IDLE), ns(RISK_IDLE), ns(EXEC_IDLE)],
            last_ns: [now; 4],
            busy: [false; 4],
        }
    }

    /// The stages whose idle work is due now.
    fn due(&mut self, now: u64) -> [bool; 4] {
        let mut out = [false; 4];
        for (i, o) in out.iter_mut().enumerate() {
            if std::mem::take(&mut self.busy[i]) {
                self.last_ns[i] = now;
            } else if now.saturating_sub(self.last_ns[i]) >= self.budget_ns[i] {
                self.last_ns[i] = now;
                *o = true;
            }
        }
        out
    }
}

/// Runs the four stages on this thread until the feed input closes or the
/// engine stops, then shuts them down in order. `rep_tx`/`rep_rx` are the
/// two ends of exec's reports ring (both used here).
pub fn run_fused(
    mut rx: Rx<MarketEvent>,
    mut rep_tx: RingTx<ExecReport>,
    mut rep_rx: Rx<ExecReport>,
    shared: Arc<Shared>,
    stages: impl FnOnce() -> FusedStages,
) {
    let FusedStages {
        mut book,
        mut score,
        mut risk,
        mut exec,
    } = stages();
    let mut idle = Idle::new(now_ns());
    let mut n: u32 = 0;
    loop {
        let exec_budget = exec.before_item(&mut rep_tx, || risk.take_reports(&mut rep_rx));
        risk.take_reports(&mut rep_rx);
        risk.serve_commands();
        match rx.next(exec_budget.min(BOOK_IDLE)) {
            Next::Item(ev) => {
                let mut to_score = None;
                book.on_item(&ev, |s| to_score = Some(s), || rx.len());
                idle.busy[BOOK] = true;
                if let Some(s) = to_score {
                    let mut to_risk = None;
                    score.on_item(
                        &s,
                        |d| {
                            to_risk = Some(d);
                            Handoff::Sent
                        },
                        || 0,
                    );
                    idle.busy[SCORE] = true;
                    if let Some(d) = to_risk {
                        let mut to_exec = None;
                        risk.on_item(
                            &d,
                            |o| {
                                to_exec = Some(o);
                                Handoff::Sent
                            },
                            || 0,
                        );
                        idle.busy[RISK] = true;
                        if let Some(o) = to_exec {
                            exec.on_item(o, &mut rep_tx, || 0);
                            idle.busy[EXEC] = true;
                            // The order's reports reach risk in this turn.
                            risk.take_reports(&mut rep_rx);
                        }
                    }
                }
                n = n.wrapping_add(1);
                if n & 63 == 0 {
                    idle_work(
                        &mut idle,
                        &mut book,
                        &mut score,
                        &mut risk,
                        &mut exec,
                        &mut rep_rx,
                    );
                }
            }
            Next::Idle => {
                idle_work(
                    &mut idle,
                    &mut book,
                    &mut score,
                    &mut risk,
                    &mut exec,
                    &mut rep_rx,
                );
                if !shared.is_running() && rx.is_empty() {
                    break;
                }
            }
            Next::Closed => break,
        }
    }
    book.finish();
    score.finish();
    // No more decisions: exec does its stop work and delivers its reports,
    // risk taking them as they come; then risk takes the last ones.
    exec.finish(&mut rep_tx, || risk.take_reports(&mut rep_rx));
    drop(rep_tx);
    risk.drain_reports_until_closed(&mut rep_rx);
}

/// Runs the idle work of every stage whose idle budget passed without an item.
fn idle_work(
    idle: &mut Idle,
    book: &mut BookRunner,
    score: &mut ScoreRunner,
    risk: &mut RiskRunner,
    exec: &mut ExecRunner,
    rep_rx: &mut Rx<ExecReport>,
) {
    let due = idle.due(now_ns());
    if due[BOOK] {
        book.on_idle();
    }
    if due[SCORE] {
        score.on_idle(0);
    }
    if due[RISK] {
        risk.on_idle(rep_rx, 0);
    }
    if due[EXEC] {
        exec.on_idle(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage's idle work is due only after its own budget without an item.
    #[test]
    fn idle_work_is_due_per_stage_after_its_budget() {
        let mut idle = Idle::new(0);
        let ms = 1_000_000;
        assert_eq!(idle.due(4 * ms), [false; 4]);
        assert_eq!(idle.due(5 * ms), [true, false, false, false]);
        idle.busy[SCORE] = true;
        assert_eq!(idle.due(49 * ms), [true, false, false, false]);
        // Score had an item at 49 ms: its budget restarts there.
        assert_eq!(idle.due(50 * ms), [false, false, true, true]);
        assert_eq!(idle.due(99 * ms), [true, true, false, false]);
    }
}
