//! The audit trail: decisions and verdicts journaled; HOLDs journaled one
//! by one only with `record_holds`, otherwise summed per instrument,
//! verdict and model version and written at least once a second.

use super::{Governor, MAX_HOLD_TALLIES};
use crate::core::{Action, Decision, InstrumentId, Verdict};
use crate::journal::{Entry, Event};

/// HOLD decisions of one instrument with one verdict, not yet journaled.
#[derive(Debug, Clone, Copy)]
pub(super) struct HoldTally {
    inst: InstrumentId,
    slot: usize,
    count: u64,
    first_id: u64,
    last_id: u64,
    last_ms: i64,
    model_version: u16,
}

impl Governor {
    /// Journals a decision and its verdict. HOLDs are journaled one by one
    /// only with `record_holds`; otherwise they are summed per instrument
    /// and verdict and written as one `holds` record at least once a second,
    /// so the journal still accounts for every decision.
    pub fn journal_verdict(&mut self, d: &Decision, v: Verdict) {
        if self.journal.is_none() {
            return;
        }
        if d.action == Action::Hold && !self.record_holds {
            self.tally_hold(d);
            return;
        }
        self.journal_event(Event::Decision {
            decision_id: d.id,
            inst: d.inst,
            action: d.action,
            score: d.score,
            confidence: d.confidence,
            qty: d.qty,
            bid: d.book.bids[0].px,
            ask: d.book.asks[0].px,
            model_version: d.model_version,
        });
        self.journal_event(Event::Verdict {
            decision_id: d.id,
            inst: d.inst,
            skip: match v {
                Verdict::Execute => None,
                Verdict::Skip(_) => Some(self.last_label().clone()),
            },
        });
    }

    pub(super) fn tally_hold(&mut self, d: &Decision) {
        let second = self.stamp_ms.max(self.now_ms).div_euclid(1000);
        if second != self.holds_second || self.holds.len() == MAX_HOLD_TALLIES {
            self.flush_holds();
            self.holds_second = second;
        }
        let slot = self.last_slot;
        let now_ms = self.stamp_ms.max(self.now_ms);
        match self
            .holds
            .iter_mut()
            .find(|t| t.inst == d.inst && t.slot == slot && t.model_version == d.model_version)
        {
            Some(t) => {
                t.count += 1;
                t.first_id = t.first_id.min(d.id);
                t.last_id = t.last_id.max(d.id);
                t.last_ms = now_ms;
            }
            None => self.holds.push(HoldTally {
                inst: d.inst,
                slot,
                count: 1,
                first_id: d.id,
                last_id: d.id,
                last_ms: now_ms,
                model_version: d.model_version,
            }),
        }
    }

    /// Writes the summed HOLDs not yet journaled (the risk stage calls this
    /// when it idles and when it stops).
    pub fn flush_holds(&mut self) {
        // Stamped like every record: never before one already written.
        for t in &self.holds {
            self.stamp_ms = self.stamp_ms.max(t.last_ms);
        }
        let Some(j) = &self.journal else {
            self.holds.clear();
            return;
        };
        for t in self.holds.drain(..) {
            j.send(Entry {
                ts_ms: self.stamp_ms,
                mode: self.mode,
                event: Event::Holds {
                    inst: t.inst,
                    count: t.count,
                    first_decision_id: t.first_id,
                    last_decision_id: t.last_id,
                    reason: self.labels[t.slot].clone(),
                    model_version: t.model_version,
                },
            });
        }
    }
}
