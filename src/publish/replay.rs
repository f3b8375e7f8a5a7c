//! Where the publisher re-reads events that did not fit in its memory buffer
//! during an outage. The engine's journal is the real source; without one,
//! [`NoReplay`] says so and the events are counted as dropped
//! (`qt_redis_dropped_total{reason="not_replayable"}`).

use super::event::PubEvent;

/// A source of already-made events, by id.
pub trait ReplaySource: Send {
    /// Events with `first <= seq <= last`, oldest first, at most `max`. An
    /// empty answer means the source has none of them (they are then lost and
    /// counted); an error means "try again later".
    fn read(&mut self, first: u64, last: u64, max: usize) -> anyhow::Result<Vec<PubEvent>>;

    /// For logs and `/api/redis`.
    fn name(&self) -> &'static str;
}

/// No replay source: spilled events cannot be recovered.
pub struct NoReplay;

impl ReplaySource for NoReplay {
    fn read(&mut self, _first: u64, _last: u64, _max: usize) -> anyhow::Result<Vec<PubEvent>> {
        Ok(Vec::new())
    }

    fn name(&self) -> &'static str {
        "none"
    }
}
