//! The publisher's one Redis connection: connects lazily, reconnects with
//! exponential backoff and jitter, probes with PING when idle, and after
//! `breaker_failures` consecutive failures opens a breaker that stops all
//! attempts for `breaker_cooldown_ms` (then one trial connect; another
//! failure reopens it, a success closes it).

use super::RedisStatus;
use crate::config::redis::RedisConfig;
use crate::feed::backoff::Backoff;
use crate::telemetry::redis::RedisMetrics;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub struct Link {
    client: redis::Client,
    conn: Option<redis::Connection>,
    backoff: Backoff,
    next_attempt: Instant,
    failures: u32,
    breaker_failures: u32,
    breaker_cooldown: Duration,
    breaker_until: Option<Instant>,
    connect_timeout: Duration,
    io_timeout: Duration,
    ping_interval: Duration,
    last_ok: Instant,
    ever_connected: bool,
    /// The last error's text, logged once until it changes.
    last_logged: String,
    metrics: RedisMetrics,
    status: Arc<RedisStatus>,
}

/// Whether an error means the connection itself is unusable (as opposed to
/// Redis refusing one command).
pub fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

impl Link {
    /// Parses the URL (password and `rediss://` included); connects later.
    pub fn new(
        url: &str,
        cfg: &RedisConfig,
        metrics: RedisMetrics,
        status: Arc<RedisStatus>,
    ) -> anyhow::Result<Link> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("redis url is not usable: {}", e.category()))?;
        let now = Instant::now();
        Ok(Link {
            client,
            conn: None,
            backoff: Backoff::new(
                Duration::from_millis(cfg.backoff_min_ms),
                Duration::from_millis(cfg.backoff_max_ms),
            ),
            next_attempt: now,
            failures: 0,
            breaker_failures: cfg.breaker_failures.max(1),
            breaker_cooldown: Duration::from_millis(cfg.breaker_cooldown_ms),
            breaker_until: None,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
            io_timeout: Duration::from_millis(cfg.io_timeout_ms),
            ping_interval: Duration::from_millis(cfg.ping_interval_ms),
            last_ok: now,
            ever_connected: false,
            last_logged: String::new(),
            metrics,
            status,
        })
    }

    pub fn is_up(&self) -> bool {
        self.conn.is_some()
    }

    /// When the next connection attempt is allowed (now if connected).
    pub fn next_attempt(&self) -> Instant {
        self.next_attempt
    }

    /// The connection, connecting first if allowed now; `None` while down,
    /// backing off or with the breaker open.
    pub fn get(&mut self, now: Instant) -> Option<&mut redis::Connection> {
        if self.conn.is_none() {
            if now < self.next_attempt {
                return None;
            }
            if self.breaker_until.is_some_and(|t| now >= t) {
                // Cool-down over: one trial connect (half-open).
                self.breaker_until = None;
                self.metrics.breaker_open.set(0);
                self.status.breaker_open.store(false, Ordering::Relaxed);
            }
            match self.connect() {
                Ok(c) => {
                    if self.ever_connected {
                        self.metrics.reconnects.inc();
                    }
                    self.ever_connected = true;
                    self.failures = 0;
                    self.backoff.reset();
                    self.last_ok = Instant::now();
                    self.conn = Some(c);
                    self.metrics.connected.set(1);
                    self.status.connected.store(true, Ordering::Relaxed);
                    self.last_logged.clear();
                    tracing::info!("redis connected");
                }
                Err(e) => {
                    self.fail("connect", &e);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let mut c = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        c.set_read_timeout(Some(self.io_timeout))?;
        c.set_write_timeout(Some(self.io_timeout))?;
        redis::cmd("PING").query::<String>(&mut c)?;
        Ok(c)
    }

    /// Records a successful round trip.
    pub fn ok(&mut self) {
        self.last_ok = Instant::now();
    }

    /// Records a failed operation: drops the connection, backs off, and
    /// opens the breaker after `breaker_failures` in a row.
    pub fn fail(&mut self, op: &'static str, e: &redis::RedisError) {
        let now = Instant::now();
        let was_up = self.conn.take().is_some();
        self.metrics.failures.with_label_values(&[op]).inc();
        self.metrics.connected.set(0);
        self.status.connected.store(false, Ordering::Relaxed);
        self.failures = self.failures.saturating_add(1);
        let text = format!("{op}: {e}");
        if text != self.last_logged || was_up {
            tracing::warn!(op, error = %e, failures = self.failures, "redis unavailable; events are buffered and the engine trades on");
            self.last_logged = text.clone();
        }
        *self.status.last_error.lock() = text;
        if self.failures >= self.breaker_failures {
            let until = now + self.breaker_cooldown;
            if self.breaker_until.is_none() {
                tracing::warn!(
                    failures = self.failures,
                    cooldown_ms = self.breaker_cooldown.as_millis() as u64,
                    "redis breaker open: no attempts until the cool-down ends"
                );
            }
            self.breaker_until = Some(until);
            self.next_attempt = until;
            self.metrics.breaker_open.set(1);
            self.status.breaker_open.store(true, Ordering::Relaxed);
        } else {
            self.next_attempt = now + self.backoff.next_delay();
        }
    }

    /// PINGs when nothing succeeded for `ping_interval` (health probe).
    pub fn probe(&mut self, now: Instant) {
        if self.conn.is_none() || now.duration_since(self.last_ok) < self.ping_interval {
            return;
        }
        let r = match self.conn.as_mut() {
            Some(c) => redis::cmd("PING").query::<String>(c),
            None => return,
        };
        match r {
            Ok(_) => self.ok(),
            Err(e) => self.fail("ping", &e),
        }
    }
}
