//! Redis publishing and heartbeats, off the hot path. Stages hand small
//! `Copy` events to a [`Sink`] (a bounded channel fed with `try_send`: never
//! blocking, overflow counted); the publisher thread (`qt-redis`, a blocking
//! connection of its own) drains it into Redis streams with pipelined
//! `XADD <key> MAXLEN ~ N <epoch_ms>-<seq> field value …`, keeps what it
//! could not write through outages (memory up to a bound, then the replay
//! source), reconnects with backoff, jitter and a breaker, writes the
//! engine's heartbeat only while the pipeline moves, and reads the auxiliary
//! services' heartbeats. See docs/redis.md.

pub mod api;
pub mod backlog;
pub mod event;
pub mod heartbeat;
pub mod link;
pub mod publisher;
pub mod replay;

pub use crate::pipeline::outbox::{RedisStatus, ServiceState, Sink};
pub use backlog::Backlog;
pub use event::{Body, PubEvent, StreamKind};
pub use publisher::{PublisherHandle, Replay, start};
pub use replay::{JournalReplay, NoReplay, ReplaySource};

use crate::config::redis::ServiceConfig;

/// The heartbeats to read: `[[redis.services]]`, plus every
/// `[[risk.heartbeats]]` service not listed there (at its default key).
pub fn services_to_read(cfg: &crate::config::Config) -> Vec<ServiceConfig> {
    let mut v = cfg.redis.services.clone();
    for h in &cfg.risk.heartbeats {
        if !v.iter().any(|s| s.name == h.service) {
            v.push(ServiceConfig {
                name: h.service.clone(),
                key: crate::config::redis::default_key(&h.service),
            });
        }
    }
    v
}
