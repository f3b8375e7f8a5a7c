//! L2 order books and the book stage.
