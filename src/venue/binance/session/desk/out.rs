//! The desk's reports to the exec stage: sent into exec's bounded ring,
//! held in order (bounded, counted when lost) while the ring is full, and
//! flushed as it makes room.

use super::{Desk, MAX_BACKLOG};
use crate::exec::gateway::VenueReport;
use crate::pipeline::channel::SendError;

impl Desk {
    pub(super) fn send(&mut self, r: VenueReport) {
        self.flush();
        if !self.backlog.is_empty() {
            self.hold(r);
            return;
        }
        match self.out.try_send(r) {
            Ok(()) => {}
            Err(SendError::Full(r)) => self.hold(r),
            Err(SendError::Closed(_)) => self.m.report_lost(),
        }
    }

    fn hold(&mut self, r: VenueReport) {
        if self.backlog.len() >= MAX_BACKLOG {
            self.m.report_lost();
            return;
        }
        self.backlog.push_back(r);
    }

    /// Sends held reports while exec's ring has room.
    pub fn flush(&mut self) {
        while let Some(r) = self.backlog.pop_front() {
            match self.out.try_send(r) {
                Ok(()) => {}
                Err(SendError::Full(r)) => {
                    self.backlog.push_front(r);
                    return;
                }
                Err(SendError::Closed(_)) => {
                    self.m.report_lost();
                }
            }
        }
    }

    /// Reports still held for exec.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }
}
