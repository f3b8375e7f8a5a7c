//! OKX's book sequencing and checksum for one instrument, as a pure state
//! machine over a [`StrBook`]: a snapshot (`prevSeqId = -1`) replaces the
//! book; each update's `prevSeqId` must equal the last `seqId` (ids are not
//! +1 steps); an empty update with `seqId == prevSeqId` is a keep-alive; a
//! `seqId < prevSeqId` after maintenance is valid when `prevSeqId` matches.
//! After applying, a non-zero `checksum` must equal the CRC32 of the top 25
//! levels (0 means "no checksum", as OKX sends since 2026-06). Any mismatch
//! leaves the instrument out of sync until a new snapshot (the feed
//! resubscribes it).
//!
//! Continuity must be proven, never assumed: a snapshot without `seqId`, or
//! an update without `seqId` or `prevSeqId`, is a break
//! ([`Step::MissingSeqIds`]: the instrument resyncs), so the message after
//! it is never applied on an unchecked chain. Only [`InstSync::for_captures_without_seq_ids`]
//! (replaying captures recorded before OKX sent ids, 2022) accepts an id-less
//! message, and then only when a non-zero checksum verifies it.

use super::book::StrBook;
use super::parse::BookMsg;

/// What the feed must do after one book message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Applied and verified: forward it; `reset` = snapshot.
    Apply { reset: bool },
    /// A keep-alive (nothing changed).
    KeepAlive,
    /// An update before the snapshot (after a resubscribe): dropped.
    Waiting,
    /// `prevSeqId` did not match the last `seqId`.
    Gap,
    /// The checksum did not match the book after applying.
    ChecksumMismatch,
    /// `seqId` or `prevSeqId` missing: continuity cannot be checked.
    MissingSeqIds,
}

/// Book state of one instrument.
#[derive(Debug, Default)]
pub struct InstSync {
    book: StrBook,
    synced: bool,
    /// Last `seqId` (None for captures without ids).
    last_seq: Option<i64>,
    pub gaps: u64,
    pub checksum_checks: u64,
    pub checksum_failures: u64,
    pub keepalives: u64,
    /// Messages refused for a missing `seqId`/`prevSeqId`.
    pub missing_ids: u64,
    /// Accept id-less messages whose non-zero checksum verifies (old captures).
    checksum_stands_for_ids: bool,
}

impl InstSync {
    pub fn new() -> InstSync {
        InstSync {
            book: StrBook::with_capacity(512),
            ..Default::default()
        }
    }

    /// For replaying captures from before OKX sent `seqId`/`prevSeqId`
    /// (2022): an id-less message is accepted only when its non-zero
    /// checksum verifies the book after applying; ids, when present, are
    /// still checked. Never for a live feed (the checksum is 0 since 2026-06).
    pub fn for_captures_without_seq_ids() -> InstSync {
        InstSync {
            checksum_stands_for_ids: true,
            ..InstSync::new()
        }
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    pub fn book(&self) -> &StrBook {
        &self.book
    }

    pub fn last_seq(&self) -> Option<i64> {
        self.last_seq
    }

    /// Forget the book (reconnect, resubscribe, undeliverable update).
    pub fn reset(&mut self) {
        self.synced = false;
        self.last_seq = None;
        self.book.clear();
    }

    pub fn on_book(&mut self, msg: &BookMsg) -> Step {
        if !msg.snapshot && !self.synced {
            return Step::Waiting;
        }
        let ids_missing = msg.seq.is_none()
            || (!msg.snapshot && (msg.prev_seq.is_none() || self.last_seq.is_none()));
        // Without ids only a verifying checksum (old captures) proves continuity.
        let checksum_proves = self.checksum_stands_for_ids && msg.checksum != 0;
        if ids_missing && !checksum_proves {
            self.missing_ids += 1;
            self.gaps += 1;
            self.reset();
            return Step::MissingSeqIds;
        }
        if msg.snapshot {
            self.book.clear();
        } else {
            if let (Some(prev), Some(last)) = (msg.prev_seq, self.last_seq)
                && prev != last
            {
                self.gaps += 1;
                self.reset();
                return Step::Gap;
            }
            if msg.bids.is_empty()
                && msg.asks.is_empty()
                && msg.seq.is_some()
                && msg.seq == msg.prev_seq
            {
                self.keepalives += 1;
                return Step::KeepAlive;
            }
        }
        if msg.snapshot {
            self.book.load(&msg.bids, &msg.asks);
        } else {
            for l in &msg.bids {
                self.book.apply(true, l);
            }
            for l in &msg.asks {
                self.book.apply(false, l);
            }
        }
        if msg.checksum != 0 {
            self.checksum_checks += 1;
            if self.book.checksum() as i64 != msg.checksum {
                self.checksum_failures += 1;
                self.reset();
                return Step::ChecksumMismatch;
            }
        }
        self.synced = true;
        self.last_seq = msg.seq;
        Step::Apply {
            reset: msg.snapshot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::book::{InlineStr, StrLevel};
    use super::*;

    fn lvl(p: i64, q: i64) -> StrLevel {
        let ps = p.to_string();
        let qs = q.to_string();
        StrLevel {
            px: p,
            qty: q,
            px_str: InlineStr::new(ps.as_bytes()).unwrap(),
            sz_str: InlineStr::new(qs.as_bytes()).unwrap(),
        }
    }

    fn msg(snapshot: bool, prev: i64, seq: i64, bids: Vec<StrLevel>) -> BookMsg {
        BookMsg {
            snapshot,
            prev_seq: Some(prev),
            seq: Some(seq),
            bids,
            ..Default::default()
        }
    }

    #[test]
    fn sequencing_rules() {
        let mut s = InstSync::new();
        assert_eq!(s.on_book(&msg(false, 1, 2, vec![])), Step::Waiting);
        assert_eq!(
            s.on_book(&msg(true, -1, 100, vec![lvl(10, 1)])),
            Step::Apply { reset: true }
        );
        assert_eq!(
            s.on_book(&msg(false, 100, 107, vec![lvl(11, 1)])),
            Step::Apply { reset: false }
        );
        // Keep-alive.
        assert_eq!(s.on_book(&msg(false, 107, 107, vec![])), Step::KeepAlive);
        // Maintenance: seqId < prevSeqId, prevSeqId matches.
        assert_eq!(
            s.on_book(&msg(false, 107, 3, vec![lvl(12, 1)])),
            Step::Apply { reset: false }
        );
        assert_eq!(s.last_seq(), Some(3));
        // Gap.
        assert_eq!(s.on_book(&msg(false, 4, 9, vec![])), Step::Gap);
        assert!(!s.is_synced());
        // Checksum mismatch.
        let mut m = msg(true, -1, 5, vec![lvl(10, 1)]);
        m.checksum = 12345;
        assert_eq!(s.on_book(&m), Step::ChecksumMismatch);
        assert_eq!(s.checksum_failures, 1);
        let mut m = msg(true, -1, 5, vec![lvl(10, 1)]);
        let mut b = StrBook::default();
        b.apply(true, &lvl(10, 1));
        m.checksum = b.checksum() as i64;
        assert_eq!(s.on_book(&m), Step::Apply { reset: true });
        assert_eq!(s.checksum_checks, 2);
    }

    #[test]
    fn a_missing_seq_id_breaks_continuity_and_the_next_message_is_checked() {
        let mut s = InstSync::new();
        assert_eq!(
            s.on_book(&msg(true, -1, 100, vec![lvl(10, 1)])),
            Step::Apply { reset: true }
        );
        // An update without prevSeqId: a break, not an unchecked apply.
        let mut m = msg(false, 100, 107, vec![lvl(11, 1)]);
        m.prev_seq = None;
        assert_eq!(s.on_book(&m), Step::MissingSeqIds);
        assert!(!s.is_synced());
        // The message after it (which would chain onto 107) is not applied
        // until a new snapshot.
        assert_eq!(
            s.on_book(&msg(false, 107, 110, vec![lvl(12, 1)])),
            Step::Waiting
        );
        assert_eq!(
            s.on_book(&msg(true, -1, 200, vec![lvl(10, 1)])),
            Step::Apply { reset: true }
        );
        // An update without seqId: a break too.
        let mut m = msg(false, 200, 0, vec![lvl(13, 1)]);
        m.seq = None;
        assert_eq!(s.on_book(&m), Step::MissingSeqIds);
        // A snapshot without seqId cannot anchor the chain.
        let mut m = msg(true, -1, 0, vec![lvl(10, 1)]);
        m.seq = None;
        assert_eq!(s.on_book(&m), Step::MissingSeqIds);
        assert!(!s.is_synced());
        // A keep-alive without ids is no keep-alive.
        assert_eq!(
            s.on_book(&msg(true, -1, 300, vec![lvl(10, 1)])),
            Step::Apply { reset: true }
        );
        let mut m = msg(false, 0, 0, vec![]);
        m.seq = None;
        m.prev_seq = None;
        assert_eq!(s.on_book(&m), Step::MissingSeqIds);
        assert_eq!(s.missing_ids, 4);
    }

    #[test]
    fn old_captures_need_a_verifying_checksum_instead_of_ids() {
        let mut s = InstSync::for_captures_without_seq_ids();
        let mut snap = msg(true, -1, 0, vec![lvl(10, 1)]);
        snap.seq = None;
        snap.prev_seq = None;
        // No ids and no checksum: refused even here.
        assert_eq!(s.on_book(&snap), Step::MissingSeqIds);
        let mut b = StrBook::default();
        b.apply(true, &lvl(10, 1));
        snap.checksum = b.checksum() as i64;
        assert_eq!(s.on_book(&snap), Step::Apply { reset: true });
        let mut upd = msg(false, 0, 0, vec![lvl(11, 1)]);
        upd.seq = None;
        upd.prev_seq = None;
        upd.checksum = 777;
        assert_eq!(s.on_book(&upd), Step::ChecksumMismatch);
    }
}
