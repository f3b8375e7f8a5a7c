//! Venue-agnostic helpers every venue's folder uses: chunking book updates
//! for the book stage (`chunks`), per-symbol sync state and staleness
//! (`symstate`), wire-symbol lookup (`symbols`), the trade tape (`tape`),
//! connection and message pacing (`pacing`), the REST request-weight budget
//! (`weight`), per-symbol metrics (`metrics`) and REST instrument lists
//! (`instruments`). `venue::` re-exports each (`venue::chunks`, ...).

pub mod chunks;
pub mod instruments;
pub mod metrics;
pub mod pacing;
pub mod symbols;
pub mod symstate;
pub mod tape;
pub mod weight;
