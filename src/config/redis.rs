//! The `[redis]` section: where the publisher connects, which streams it
//! writes (names and MAXLEN), how it buffers through outages, how it
//! reconnects, and the heartbeat keys it writes and reads. Validation names
//! the key path (`redis.streams.decision.maxlen`) and says why.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// One stream: its key and its approximate maximum length (`MAXLEN ~ N`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    pub key: String,
    pub maxlen: u64,
}

fn stream(key: &str, maxlen: u64) -> StreamConfig {
    StreamConfig {
        key: key.into(),
        maxlen,
    }
}

/// The five streams the auxiliary services read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamsConfig {
    /// Every decision (`ai.decision`).
    pub decision: StreamConfig,
    /// Every order intent that risk passed (`trade.intent`).
    pub intent: StreamConfig,
    /// Every risk verdict (`apply.result`).
    pub verdict: StreamConfig,
    /// Orders, order updates and fills (`execution.result`).
    pub execution: StreamConfig,
    /// Sampled top of book per venue and instrument (`exchange.normalized`).
    pub market: StreamConfig,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            decision: stream("quantum:stream:ai.decision", 100_000),
            intent: stream("quantum:stream:trade.intent", 100_000),
            verdict: stream("quantum:stream:apply.result", 100_000),
            execution: stream("quantum:stream:execution.result", 100_000),
            market: stream("quantum:stream:exchange.normalized", 100_000),
        }
    }
}

/// An auxiliary service whose heartbeat key the engine reads. Whether its
/// absence blocks trading is `[[risk.heartbeats]]`'s `policy`; a service
/// named there but not here is read from `quantum:svc:<service>:heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Short name: the `service` of `[[risk.heartbeats]]`, the metric label.
    pub name: String,
    /// The key the service sets to its unix time (seconds, or milliseconds).
    pub key: String,
}

/// The default heartbeat key of a service.
pub fn default_key(name: &str) -> String {
    format!("quantum:svc:{name}:heartbeat")
}

fn service(name: &str) -> ServiceConfig {
    ServiceConfig {
        name: name.into(),
        key: default_key(name),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` or `rediss://` (TLS). Empty, with
    /// `url_env` unset or empty, leaves Redis off.
    pub url: String,
    /// Environment variable that, when set and non-empty, replaces `url`
    /// (keeps a password out of the config file).
    pub url_env: String,
    /// When true, `/ready` fails while Redis is unreachable; otherwise it
    /// reports Redis as degraded and stays ready.
    pub required: bool,
    /// Capacity of the channel the stages feed with `try_send`.
    pub channel_capacity: usize,
    /// Events kept in memory while Redis is unreachable; beyond, they are
    /// re-read from the replay source (the journal) after reconnect.
    pub buffer_capacity: usize,
    /// Most XADDs pipelined in one round trip.
    pub batch_size: usize,
    /// Top-of-book samples per instrument and second on `exchange.normalized` (0 = none).
    pub market_sample_per_sec: u32,
    pub connect_timeout_ms: u64,
    /// Read/write timeout of one round trip.
    pub io_timeout_ms: u64,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// PING health probe interval.
    pub ping_interval_ms: u64,
    /// Consecutive failures that open the breaker.
    pub breaker_failures: u32,
    /// How long the open breaker stops all attempts.
    pub breaker_cooldown_ms: u64,
    /// How long the publisher keeps trying to flush at shutdown.
    pub shutdown_flush_ms: u64,
    /// UTC days of journal files (today included) in which a new engine
    /// life looks for entries earlier lives left unwritten, to write them
    /// before its own; 0 = never (and a stopping life then counts what it
    /// leaves as dropped). Needs the journal.
    pub backlog_days: u32,
    /// The engine's own heartbeat key (set to unix seconds, with a TTL).
    pub heartbeat_key: String,
    pub heartbeat_interval_ms: u64,
    pub heartbeat_ttl_ms: u64,
    pub streams: StreamsConfig,
    /// Auxiliary services whose heartbeats are read every `heartbeat_interval_ms`.
    pub services: Vec<ServiceConfig>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: String::new(),
            url_env: "QT_REDIS_URL".into(),
            required: false,
            channel_capacity: 65_536,
            buffer_capacity: 200_000,
            batch_size: 512,
            market_sample_per_sec: 1,
            connect_timeout_ms: 1_000,
            io_timeout_ms: 2_000,
            backoff_min_ms: 100,
            backoff_max_ms: 10_000,
            ping_interval_ms: 1_000,
            breaker_failures: 5,
            breaker_cooldown_ms: 15_000,
            shutdown_flush_ms: 3_000,
            backlog_days: 2,
            heartbeat_key: "quantum:svc:engine:heartbeat".into(),
            heartbeat_interval_ms: 1_000,
            heartbeat_ttl_ms: 5_000,
            streams: StreamsConfig::default(),
            services: vec![service("rl_trainer"), service("rl_feedback_v2")],
        }
    }
}

impl RedisConfig {
    /// The URL in force: `url_env`'s value when set and non-empty, else `url`.
    pub fn effective_url(&self) -> String {
        if !self.url_env.is_empty()
            && let Ok(v) = std::env::var(&self.url_env)
            && !v.trim().is_empty()
        {
            return v.trim().to_string();
        }
        self.url.clone()
    }

    /// Redis is on when a URL is in force.
    pub fn enabled(&self) -> bool {
        !self.effective_url().is_empty()
    }
}

fn range(path: &str, v: u64, lo: u64, hi: u64) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(ConfigError::new(
            path,
            format!("must be between {lo} and {hi} (got {v})"),
        ));
    }
    Ok(())
}

/// Checks a Redis URL's scheme and shape (without connecting).
pub fn check_url(path: &str, url: &str) -> Result<(), ConfigError> {
    if url.is_empty() {
        return Ok(());
    }
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(ConfigError::new(
            path,
            "must start with redis:// or rediss:// (TLS)",
        ));
    }
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    if host.split(['/', ':']).next().unwrap_or("").is_empty() {
        return Err(ConfigError::new(path, "names no host"));
    }
    Ok(())
}

/// Validates `[redis]` (called from the main validation).
pub fn validate(c: &RedisConfig) -> Result<(), ConfigError> {
    check_url("redis.url", &c.url)?;
    if !c.url_env.is_empty()
        && let Ok(v) = std::env::var(&c.url_env)
    {
        // The variable's value is never echoed: it may hold a password.
        check_url(&format!("redis.url_env ({})", c.url_env), v.trim())?;
    }
    range(
        "redis.channel_capacity",
        c.channel_capacity as u64,
        64,
        1 << 22,
    )?;
    range(
        "redis.buffer_capacity",
        c.buffer_capacity as u64,
        16,
        1 << 24,
    )?;
    range("redis.batch_size", c.batch_size as u64, 1, 65_536)?;
    range(
        "redis.market_sample_per_sec",
        c.market_sample_per_sec as u64,
        0,
        1_000,
    )?;
    range("redis.connect_timeout_ms", c.connect_timeout_ms, 10, 60_000)?;
    range("redis.io_timeout_ms", c.io_timeout_ms, 10, 60_000)?;
    range("redis.backoff_min_ms", c.backoff_min_ms, 1, 60_000)?;
    range(
        "redis.backoff_max_ms",
        c.backoff_max_ms,
        c.backoff_min_ms,
        600_000,
    )?;
    range("redis.ping_interval_ms", c.ping_interval_ms, 10, 600_000)?;
    range(
        "redis.breaker_failures",
        c.breaker_failures as u64,
        1,
        1_000,
    )?;
    range(
        "redis.breaker_cooldown_ms",
        c.breaker_cooldown_ms,
        10,
        3_600_000,
    )?;
    range("redis.shutdown_flush_ms", c.shutdown_flush_ms, 0, 600_000)?;
    range("redis.backlog_days", u64::from(c.backlog_days), 0, 366)?;
    range(
        "redis.heartbeat_interval_ms",
        c.heartbeat_interval_ms,
        10,
        600_000,
    )?;
    if c.heartbeat_ttl_ms <= c.heartbeat_interval_ms {
        return Err(ConfigError::new(
            "redis.heartbeat_ttl_ms",
            format!(
                "must be longer than redis.heartbeat_interval_ms ({} ms), or the key expires between beats (got {})",
                c.heartbeat_interval_ms, c.heartbeat_ttl_ms
            ),
        ));
    }
    range("redis.heartbeat_ttl_ms", c.heartbeat_ttl_ms, 1, 86_400_000)?;
    if c.heartbeat_key.is_empty() {
        return Err(ConfigError::new("redis.heartbeat_key", "must not be empty"));
    }
    let s = &c.streams;
    let mut seen: Vec<&str> = Vec::new();
    for (name, st) in [
        ("decision", &s.decision),
        ("intent", &s.intent),
        ("verdict", &s.verdict),
        ("execution", &s.execution),
        ("market", &s.market),
    ] {
        let p = format!("redis.streams.{name}");
        if st.key.is_empty() {
            return Err(ConfigError::new(format!("{p}.key"), "must not be empty"));
        }
        if seen.contains(&st.key.as_str()) {
            return Err(ConfigError::new(
                format!("{p}.key"),
                format!("`{}` is used by another stream", st.key),
            ));
        }
        seen.push(&st.key);
        range(&format!("{p}.maxlen"), st.maxlen, 1, 1 << 40)?;
    }
    for (i, sv) in c.services.iter().enumerate() {
        let p = format!("redis.services[{i}]");
        if sv.name.is_empty()
            || !sv
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            return Err(ConfigError::new(
                format!("{p}.name"),
                format!(
                    "must be non-empty letters, digits, `_` or `-` (got `{}`)",
                    sv.name
                ),
            ));
        }
        if sv.key.is_empty() {
            return Err(ConfigError::new(format!("{p}.key"), "must not be empty"));
        }
        if c.services[..i].iter().any(|o| o.name == sv.name) {
            return Err(ConfigError::new(
                format!("{p}.name"),
                format!("duplicate service `{}`", sv.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEMO_TOML};

    fn with(extra: &str) -> Result<Config, ConfigError> {
        // The demo's own [redis] section is dropped so tests can write theirs.
        let block = "[redis]\nurl = \"\"\nurl_env = \"QT_REDIS_URL\"\n";
        assert!(
            DEMO_TOML.contains(block),
            "demo config lacks its [redis] block"
        );
        let mut t = DEMO_TOML.replacen(block, "", 1);
        t.push_str(extra);
        Config::from_toml(&t)
    }

    #[test]
    fn defaults_are_off_and_valid() {
        let c = with("").unwrap();
        assert!(c.redis.url.is_empty());
        assert_eq!(c.redis.services.len(), 2);
        assert_eq!(c.redis.streams.decision.key, "quantum:stream:ai.decision");
        validate(&RedisConfig::default()).unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = with("[redis]\nurl = \"http://x\"\n").unwrap_err();
        assert_eq!(e.path, "redis.url");
        let e = with("[redis]\nurl = \"redis://\"\n").unwrap_err();
        assert_eq!(e.path, "redis.url");
        let e = with("[redis]\nbatch_size = 0\n").unwrap_err();
        assert_eq!(e.path, "redis.batch_size");
        let e =
            with("[redis]\nheartbeat_interval_ms = 1000\nheartbeat_ttl_ms = 500\n").unwrap_err();
        assert_eq!(e.path, "redis.heartbeat_ttl_ms");
        let e = with("[redis.streams.verdict]\nkey = \"quantum:stream:ai.decision\"\nmaxlen = 5\n")
            .unwrap_err();
        assert_eq!(e.path, "redis.streams.verdict.key");
        let e = with("[redis]\nbreaker_failurs = 3\n").unwrap_err();
        assert_eq!(e.path, "redis.breaker_failurs");
        let e = with("[[redis.services]]\nname = \"a b\"\nkey = \"k\"\n").unwrap_err();
        assert_eq!(e.path, "redis.services[0].name");
        let e =
            with("[[redis.services]]\nname = \"a\"\nkey = \"k\"\nmode = \"maybe\"\n").unwrap_err();
        assert_eq!(e.path, "redis.services[0].mode");
    }

    #[test]
    fn urls_with_password_and_tls_are_accepted() {
        for u in [
            "redis://127.0.0.1:6380",
            "redis://:s3cret@127.0.0.1:6380/2",
            "rediss://user:pw@redis.example:6380",
        ] {
            check_url("redis.url", u).unwrap();
        }
        let c = with("[redis]\nurl = \"rediss://:pw@h:6380\"\nrequired = true\n").unwrap();
        assert!(c.redis.required);
        assert!(c.redis.enabled());
    }
}
