//! Bybit's order-book sequencing for one `orderbook.{depth}.{symbol}` topic,
//! as a pure state machine: a snapshot replaces the book; `u == 1` is a
//! service restart and replaces the book too; a delta must carry exactly the
//! previous `u + 1`; a re-send with the same `u` (level-1 books repeat their
//! snapshot every 3 s) is not a gap. Anything else is a gap: the topic is out
//! of sync until a fresh snapshot (the feed resubscribes the topic).

use super::parse::BookMsg;

/// What the feed must do with one book message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Apply it; `reset` = clear the book first (snapshot or restart).
    Apply { reset: bool },
    /// Same `u` as the last applied message: nothing to do.
    Duplicate,
    /// A delta before the first snapshot (after a resubscribe): drop it.
    Waiting,
    /// Continuity broke: mark the book out of sync and resubscribe.
    Gap,
}

/// Sequencing state of one topic.
#[derive(Debug, Default, Clone)]
pub struct TopicSync {
    /// `u` of the last applied message; `None` until a snapshot arrives.
    last: Option<u64>,
    pub gaps: u64,
    /// `u == 1` restarts seen while in sync.
    pub restarts: u64,
    pub duplicates: u64,
}

impl TopicSync {
    pub fn new() -> TopicSync {
        TopicSync::default()
    }

    pub fn is_synced(&self) -> bool {
        self.last.is_some()
    }

    pub fn last_u(&self) -> Option<u64> {
        self.last
    }

    /// Forget the book (reconnect, resubscribe, undeliverable update).
    pub fn reset(&mut self) {
        self.last = None;
    }

    pub fn on_book(&mut self, msg: &BookMsg) -> Step {
        if msg.snapshot || msg.u == 1 {
            if msg.u == 1 && self.last.is_some_and(|l| l != 1) {
                self.restarts += 1;
            }
            if !msg.snapshot && self.last == Some(1) && msg.u == 1 {
                self.duplicates += 1;
                return Step::Duplicate;
            }
            self.last = Some(msg.u);
            return Step::Apply { reset: true };
        }
        match self.last {
            None => Step::Waiting,
            Some(l) if msg.u == l.wrapping_add(1) => {
                self.last = Some(msg.u);
                Step::Apply { reset: false }
            }
            Some(l) if msg.u == l => {
                self.duplicates += 1;
                Step::Duplicate
            }
            Some(_) => {
                self.gaps += 1;
                self.last = None;
                Step::Gap
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(snapshot: bool, u: u64) -> BookMsg {
        BookMsg {
            snapshot,
            u,
            ..Default::default()
        }
    }

    #[test]
    fn continuity_restart_and_resends() {
        let mut s = TopicSync::new();
        assert_eq!(s.on_book(&m(false, 10)), Step::Waiting);
        assert_eq!(s.on_book(&m(true, 10)), Step::Apply { reset: true });
        assert_eq!(s.on_book(&m(false, 11)), Step::Apply { reset: false });
        assert_eq!(s.on_book(&m(false, 11)), Step::Duplicate);
        // Level-1 re-sent snapshot with the same u replaces the book (same content).
        assert_eq!(s.on_book(&m(true, 11)), Step::Apply { reset: true });
        assert_eq!(s.on_book(&m(false, 12)), Step::Apply { reset: false });
        // Service restart.
        assert_eq!(s.on_book(&m(true, 1)), Step::Apply { reset: true });
        assert_eq!(s.restarts, 1);
        assert_eq!(s.on_book(&m(false, 2)), Step::Apply { reset: false });
        // Gap.
        assert_eq!(s.on_book(&m(false, 4)), Step::Gap);
        assert_eq!(s.gaps, 1);
        assert!(!s.is_synced());
        assert_eq!(s.on_book(&m(false, 5)), Step::Waiting);
        assert_eq!(s.on_book(&m(true, 9)), Step::Apply { reset: true });
        // Going backwards is a gap too.
        assert_eq!(s.on_book(&m(false, 3)), Step::Gap);
    }
}
