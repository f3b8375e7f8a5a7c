//! The recording seam: what a feed session records through (`[record]`).
//! The recorder itself (its queue, writer thread and files) is
//! `crate::capture`, above; `Shared` holds it as a [`Recording`], so the
//! hot path pays nothing when recording is off (no tap at all) and one call
//! per record when it is on.

use crate::core::Venue;

/// A running recorder, as the feed sessions see it.
pub trait Recording: Send + Sync {
    /// A tap for one connection of `venue` (its `Conn` record is queued now).
    fn connection(&self, venue: Venue, url: &str) -> Box<dyn Tap>;
    /// Unix ns of a monotonic stamp (the recording's time base).
    fn unix_of(&self, mono_ns: u64) -> u64;
}

/// One connection's tap: what the session loop calls at the transport
/// boundary. Never blocks.
pub trait Tap: Send {
    /// A frame received at monotonic `recv_ns`.
    fn frame(&mut self, recv_ns: u64, bytes: &[u8]);
    /// A REST reply handed to the protocol.
    fn rest(&mut self, tag: usize, result: &Result<Vec<u8>, crate::core::venue_error::VenueError>);
    fn open(&mut self, url: &str);
    fn sent(&mut self, msg: &str);
    fn close(&mut self, cause: &str);
}
