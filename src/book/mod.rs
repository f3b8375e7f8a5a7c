//! L2 order books (`l2`), one per instrument, exact to the venue, and the
//! book stage (`stage`) that owns them and publishes tops of book with the
//! consolidated cross-venue best bid/ask.

pub mod consolidated;
pub mod l2;
pub mod stage;

pub use l2::L2Book;
pub use stage::{BookStage, MAX_LEVELS, run_book_stage};
