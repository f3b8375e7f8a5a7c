//! Binance's documented local-order-book procedure, per symbol, as a pure
//! state machine: buffer diffs, take a REST snapshot, drop diffs with
//! `u < lastUpdateId`, bridge with `U <= lastUpdateId <= u`, then require
//! `pu == previous u` (USD-M futures; spot diffs without `pu` use
//! `U == previous u + 1`). Any break asks for a fresh snapshot.

use super::parse::DepthMsg;
use std::collections::VecDeque;

/// What the feed must do after feeding the state machine.
#[derive(Debug, PartialEq, Eq)]
pub enum SyncOut<'a> {
    /// Apply this update; `reset` means it is a snapshot (clear the book first).
    Apply { msg: &'a DepthMsg, reset: bool },
    /// The book can no longer be trusted until the next reset.
    OutOfSync,
    /// Fetch a REST snapshot for this symbol.
    NeedSnapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Nothing received since start or reconnect.
    Idle,
    /// Buffering diffs until a snapshot arrives.
    AwaitingSnapshot,
    /// Snapshot applied; waiting for the diff that spans `last`.
    Bridging { last: u64 },
    /// In sync; `last` is the last applied `u`.
    Synced { last: u64 },
}

/// Per-symbol sync state.
#[derive(Debug)]
pub struct BookSync {
    state: SyncState,
    pending: VecDeque<DepthMsg>,
    max_pending: usize,
    /// Sequence breaks seen.
    pub gaps: u64,
    /// Buffered diffs dropped because the buffer was full.
    pub pending_dropped: u64,
}

impl BookSync {
    pub fn new(max_pending: usize) -> BookSync {
        BookSync {
            state: SyncState::Idle,
            pending: VecDeque::with_capacity(max_pending.min(256)),
            max_pending: max_pending.max(1),
            gaps: 0,
            pending_dropped: 0,
        }
    }

    pub fn state(&self) -> SyncState {
        self.state
    }

    pub fn is_synced(&self) -> bool {
        matches!(
            self.state,
            SyncState::Synced { .. } | SyncState::Bridging { .. }
        )
    }

    pub fn awaiting_snapshot(&self) -> bool {
        self.state == SyncState::AwaitingSnapshot
    }

    /// Forget everything (reconnect, or the update could not be delivered).
    pub fn reset(&mut self) {
        self.state = SyncState::Idle;
        self.pending.clear();
    }

    fn buffer(&mut self, msg: &DepthMsg) {
        if self.pending.len() >= self.max_pending {
            self.pending.pop_front();
            self.pending_dropped += 1;
        }
        self.pending.push_back(msg.clone());
    }

    fn continues(last: u64, msg: &DepthMsg) -> bool {
        if msg.prev_id == u64::MAX {
            msg.first_id == last.wrapping_add(1)
        } else {
            msg.prev_id == last
        }
    }

    fn bridges(last: u64, msg: &DepthMsg) -> bool {
        if msg.prev_id == u64::MAX {
            msg.first_id <= last + 1 && msg.last_id > last
        } else {
            msg.first_id <= last && msg.last_id >= last
        }
    }

    fn is_stale(last: u64, msg: &DepthMsg) -> bool {
        if msg.prev_id == u64::MAX {
            msg.last_id <= last
        } else {
            msg.last_id < last
        }
    }

    /// Feeds one diff.
    pub fn on_depth(&mut self, msg: &DepthMsg, out: &mut impl FnMut(SyncOut<'_>)) {
        match self.state {
            SyncState::Synced { last } => {
                if Self::continues(last, msg) {
                    self.state = SyncState::Synced { last: msg.last_id };
                    out(SyncOut::Apply { msg, reset: false });
                } else if msg.last_id <= last && msg.prev_id != u64::MAX && msg.prev_id < last {
                    // An old event replayed after a newer one: ignore it.
                } else {
                    self.gaps += 1;
                    self.state = SyncState::AwaitingSnapshot;
                    self.pending.clear();
                    self.buffer(msg);
                    out(SyncOut::OutOfSync);
                    out(SyncOut::NeedSnapshot);
                }
            }
            SyncState::Bridging { last } => {
                if Self::is_stale(last, msg) {
                    return;
                }
                if Self::bridges(last, msg) {
                    self.state = SyncState::Synced { last: msg.last_id };
                    out(SyncOut::Apply { msg, reset: false });
                } else {
                    self.gaps += 1;
                    self.state = SyncState::AwaitingSnapshot;
                    self.pending.clear();
                    self.buffer(msg);
                    out(SyncOut::OutOfSync);
                    out(SyncOut::NeedSnapshot);
                }
            }
            SyncState::Idle => {
                self.state = SyncState::AwaitingSnapshot;
                self.buffer(msg);
                out(SyncOut::NeedSnapshot);
            }
            SyncState::AwaitingSnapshot => self.buffer(msg),
        }
    }

    /// Feeds a REST snapshot. Ignored unless one was asked for.
    pub fn on_snapshot(&mut self, snap: &DepthMsg, out: &mut impl FnMut(SyncOut<'_>)) {
        if self.state != SyncState::AwaitingSnapshot {
            return;
        }
        let l = snap.last_id;
        while self.pending.front().is_some_and(|m| Self::is_stale(l, m)) {
            self.pending.pop_front();
        }
        if let Some(first) = self.pending.front()
            && !Self::bridges(l, first)
        {
            // The snapshot is older than the buffered stream: fetch again.
            out(SyncOut::NeedSnapshot);
            return;
        }
        // Check continuity of what is buffered before publishing anything.
        let mut last = l;
        let mut ok_upto = 0;
        for (i, m) in self.pending.iter().enumerate() {
            let ok = if i == 0 {
                Self::bridges(l, m)
            } else {
                Self::continues(last, m)
            };
            if !ok {
                break;
            }
            last = m.last_id;
            ok_upto = i + 1;
        }
        let broken = ok_upto < self.pending.len();
        out(SyncOut::Apply {
            msg: snap,
            reset: true,
        });
        for m in self.pending.iter().take(ok_upto) {
            out(SyncOut::Apply {
                msg: m,
                reset: false,
            });
        }
        if broken {
            self.gaps += 1;
            let rest: Vec<DepthMsg> = self.pending.drain(ok_upto..).collect();
            self.pending.clear();
            self.pending.extend(rest);
            self.state = SyncState::AwaitingSnapshot;
            out(SyncOut::OutOfSync);
            out(SyncOut::NeedSnapshot);
            return;
        }
        self.state = if ok_upto == 0 {
            SyncState::Bridging { last: l }
        } else {
            SyncState::Synced { last }
        };
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Level;

    fn diff(first: u64, last: u64, prev: u64) -> DepthMsg {
        DepthMsg {
            first_id: first,
            last_id: last,
            prev_id: prev,
            bids: vec![Level {
                px: last as i64,
                qty: 1,
            }],
            ..Default::default()
        }
    }

    fn snap(l: u64) -> DepthMsg {
        DepthMsg {
            first_id: l,
            last_id: l,
            prev_id: l,
            ..Default::default()
        }
    }

    fn run_diff(s: &mut BookSync, m: &DepthMsg) -> Vec<String> {
        let mut v = Vec::new();
        s.on_depth(m, &mut |o| v.push(describe(&o)));
        v
    }

    fn run_snap(s: &mut BookSync, m: &DepthMsg) -> Vec<String> {
        let mut v = Vec::new();
        s.on_snapshot(m, &mut |o| v.push(describe(&o)));
        v
    }

    fn describe(o: &SyncOut<'_>) -> String {
        match o {
            SyncOut::Apply { msg, reset: true } => format!("snap{}", msg.last_id),
            SyncOut::Apply { msg, reset: false } => format!("apply{}", msg.last_id),
            SyncOut::OutOfSync => "oos".into(),
            SyncOut::NeedSnapshot => "need".into(),
        }
    }

    #[test]
    fn documented_procedure() {
        let mut s = BookSync::new(100);
        assert_eq!(run_diff(&mut s, &diff(90, 95, 80)), ["need"]);
        assert!(run_diff(&mut s, &diff(96, 99, 95)).is_empty());
        assert!(run_diff(&mut s, &diff(100, 110, 99)).is_empty());
        assert!(run_diff(&mut s, &diff(111, 120, 110)).is_empty());
        // Snapshot at 105: drop u < 105 (95, 99), bridge with 100..110.
        assert_eq!(
            run_snap(&mut s, &snap(105)),
            ["snap105", "apply110", "apply120"]
        );
        assert_eq!(s.state(), SyncState::Synced { last: 120 });
        assert_eq!(run_diff(&mut s, &diff(125, 130, 120)), ["apply130"]);
        // A gap: pu != previous u.
        assert_eq!(run_diff(&mut s, &diff(140, 150, 135)), ["oos", "need"]);
        assert_eq!(s.gaps, 1);
        assert!(!s.is_synced());
    }

    #[test]
    fn snapshot_newer_than_buffer_waits_for_bridge() {
        let mut s = BookSync::new(100);
        run_diff(&mut s, &diff(1, 5, 0));
        assert_eq!(run_snap(&mut s, &snap(50)), ["snap50"]);
        assert_eq!(s.state(), SyncState::Bridging { last: 50 });
        assert!(run_diff(&mut s, &diff(30, 40, 20)).is_empty());
        assert_eq!(run_diff(&mut s, &diff(45, 55, 40)), ["apply55"]);
        assert_eq!(s.state(), SyncState::Synced { last: 55 });
    }

    #[test]
    fn snapshot_older_than_stream_is_refetched() {
        let mut s = BookSync::new(100);
        run_diff(&mut s, &diff(100, 110, 90));
        assert_eq!(run_snap(&mut s, &snap(50)), ["need"]);
        assert!(s.awaiting_snapshot());
        assert_eq!(run_snap(&mut s, &snap(105)), ["snap105", "apply110"]);
    }

    #[test]
    fn broken_buffer_resyncs_after_publishing_the_good_prefix() {
        let mut s = BookSync::new(100);
        run_diff(&mut s, &diff(100, 110, 90));
        run_diff(&mut s, &diff(115, 120, 112));
        assert_eq!(
            run_snap(&mut s, &snap(105)),
            ["snap105", "apply110", "oos", "need"]
        );
        assert!(s.awaiting_snapshot());
    }

    #[test]
    fn spot_rule_without_pu() {
        let mut s = BookSync::new(10);
        let d = |f, l| DepthMsg {
            first_id: f,
            last_id: l,
            prev_id: u64::MAX,
            ..Default::default()
        };
        run_diff(&mut s, &d(10, 20));
        run_diff(&mut s, &d(21, 30));
        assert_eq!(run_snap(&mut s, &snap(25)), ["snap25", "apply30"]);
        assert_eq!(run_diff(&mut s, &d(31, 33)), ["apply33"]);
        assert_eq!(run_diff(&mut s, &d(35, 40)), ["oos", "need"]);
    }

    #[test]
    fn bounded_buffer() {
        let mut s = BookSync::new(2);
        for i in 0..5 {
            run_diff(&mut s, &diff(i * 10, i * 10 + 5, 0));
        }
        assert_eq!(s.pending_dropped, 3);
    }
}
