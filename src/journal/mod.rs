//! The append-only journal: every decision, risk verdict, order, fill,
//! breaker change and kill-switch change, one file per UTC day, each record
//! checksummed. It is what restores positions, open orders, the breaker and
//! today's counters at restart (see `risk::recovery`), and what
//! `quantum-trader journal report` reads. It also holds, as `published`
//! records, the Redis entries the publisher could not keep in memory during
//! an outage (written by the publisher thread, read back by
//! [`crate::publish::JournalReplay`]; recovery and the report skip them).
//!
//! # Format
//!
//! `<dir>/YYYY-MM-DD.journal` (the UTC day of each record's `ts_ms`), a
//! sequence of frames `len: u32 LE | crc32(payload): u32 LE | payload`, the
//! payload one JSON [`Record`]: `{"id", "ts_ms", "mode", "kind", ...}`.
//! Record ids are strictly increasing across files and restarts (the writer
//! continues after the highest id on disk). A torn last frame (crash
//! mid-write) is ignored by readers with one warning, and cut off by the
//! writer before it appends to that file again (its bytes copied aside to
//! `<dir>/quarantine/` first). Damage anywhere else (a flipped bit, a bad
//! length, garbage) is a region that readers skip, resuming at the next
//! valid frame: it is never cut, and no record outside it is lost. A read
//! error is retried, and if it lasts, nothing is cut. See [`frame`].
//!
//! # Public API (stable)
//!
//! Writing (the engine does this):
//! - [`start`]`(&JournalConfig, Arc<InstrumentTable>, &Metrics) ->
//!   io::Result<(JournalTx, JournalWriter)>` starts the writer thread.
//! - [`JournalTx::send`]`(Entry) -> bool`: never blocks; `false` = dropped
//!   (queue full, counted in `qt_journal_dropped_total`).
//! - [`JournalWriter::join`] waits until everything is written and synced
//!   (after the last `JournalTx` is dropped).
//! - [`JournalStats`]: enqueued / written / pending / dropped / fsyncs /
//!   bytes / errors / last_id.
//!
//! Reading:
//! - [`list_days`]`(dir) -> Vec<i64>`: UTC day numbers with a file, ascending.
//! - [`read_day`]`(dir, day) -> DayRead { records, tail, corrupt, damaged, retries }`.
//! - [`check_dir`]`(dir) -> Vec<FileDamage>`: the day files with damage.
//! - [`open_day`]`(dir, day) -> Option<RecordIter>`: the same, streamed.
//! - [`read_from`]`(dir, from_id) -> impl Iterator<Item = Record>`: every
//!   record with `id >= from_id`, oldest first, across days (for replaying
//!   what a consumer has not seen yet).
//! - [`last_id`]`(dir) -> u64`.
//! - [`day_path`], [`parse_day`] (`YYYY-MM-DD` -> day number),
//!   [`crate::core::clock::format_day`] (the reverse).
//!
//! Reporting: [`report::DayReport`] (`quantum-trader journal report`).

pub mod cli;
pub mod frame;
pub mod reader;
pub mod record;
pub mod report;
pub mod writer;

pub use frame::{Damage, Tail};
pub use reader::{
    DayRead, FileDamage, FromIter, RecordIter, check_dir, day_path, last_id, list_days, open_day,
    parse_day, read_day, read_from,
};
pub use record::{
    Body, Change, ClientIdsNote, Entry, Event, Published, ReconcileNote, Record, SyncBarrier,
};
pub use writer::{JournalMetrics, JournalStats, JournalTx, JournalWriter, start};

#[cfg(test)]
pub(crate) mod fuzz;
#[cfg(test)]
pub(crate) mod tests;
