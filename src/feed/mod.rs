//! Generic WebSocket feed machinery shared by every venue: the session loop
//! (connect, subscribe, keepalive, reconnect with backoff, silence and age
//! limits), REST requests whose replies come back to the session, and the
//! per-venue feed thread with its own current-thread tokio runtime.

pub mod backoff;
pub mod session;
pub mod thread;
pub mod weight;

pub use session::{Protocol, RestClient, RestReply, SessionConfig, run_session};
