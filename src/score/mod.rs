//! Features and decision models (the score stage).
