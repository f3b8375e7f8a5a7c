//! The risk governor (the risk stage).
