//! Venue-agnostic helpers every venue's folder uses: chunking book updates
//! for the book stage (`chunks`), per-symbol sync state and staleness
//! (`symstate`), wire-symbol lookup (`symbols`), the trade tape (`tape`),
//! connection and message pacing (`pacing`) and REST instrument lists (`instruments`). The REST
//! request-weight budget is `crate::feed::weight` and the per-symbol series
//! are `crate::telemetry::venue`. `venue::` re-exports each (`venue::chunks`, ...).

pub mod chunks;
pub mod instruments;
pub mod pacing;
pub mod symbols;
pub mod symstate;
pub mod tape;
