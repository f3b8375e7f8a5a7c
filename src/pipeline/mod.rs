//! Thread topology of the hot path: bounded queues with wait strategies,
//! stage threads with optional pinning, latency stamps, the shared health
//! state, and the engine that wires feed -> book -> score -> risk -> exec.

pub mod account;
pub mod admin;
pub mod channel;
pub mod heartbeat;
pub mod outbox;
pub mod ring;
pub mod shared;
pub mod tap;
pub mod thread;
pub mod venue_gates;
