//! Doctor checks of Redis: whether the `[redis]` URL in force (`url`, or
//! `$url_env`; password and `rediss://` included) answers, with the server's
//! version and PING round trip, judged by `[redis] required`; and the
//! auxiliary services' heartbeat keys read from it, handed to
//! [`super::state::heartbeat_checks`], which merges them with a running
//! engine's view into one line per service. The password is never printed.

use super::report::{Check, Report};
use crate::config::Config;
use crate::publish::heartbeat::parse_heartbeat;
use std::time::{Duration, Instant};

/// What the doctor could read of the heartbeat keys.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyReads {
    /// No Redis URL is in force: heartbeats come only through the ops API.
    Off,
    /// Redis is configured but could not be read (why, in a few words; the
    /// `redis` line has the details).
    Unreadable(String),
    /// Every key of [`crate::publish::services_to_read`].
    Read(Vec<KeyRead>),
}

/// One service's heartbeat key as read.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRead {
    pub service: String,
    pub key: String,
    /// Unix ms of the value; `None` when the key is absent or not a time.
    pub seen_ms: Option<i64>,
    /// The value when it is there but not a time.
    pub bad_value: Option<String>,
}

/// `scheme://host:port/db`, plus whether a password is set; never the password.
pub fn redacted(client: &redis::Client) -> String {
    let info = client.get_connection_info();
    let scheme = match info.addr() {
        redis::ConnectionAddr::TcpTls { .. } => "rediss",
        redis::ConnectionAddr::Unix(_) => "redis+unix",
        _ => "redis",
    };
    let r = info.redis_settings();
    let pw = if r.password().is_some() {
        " (with password)"
    } else {
        ""
    };
    format!("{scheme}://{}/{}{pw}", info.addr(), r.db())
}

/// The `redis` line, and the heartbeat keys read for the heartbeat lines.
pub fn redis_checks(rep: &mut Report, c: &Config) -> KeyReads {
    let r = &c.redis;
    let url = r.effective_url();
    let fix = format!(
        "start redis-server or fix [redis] url{} (host, port, password; rediss:// for TLS)",
        if r.url_env.is_empty() {
            String::new()
        } else {
            format!(" / ${}", r.url_env)
        }
    );
    if url.is_empty() {
        if r.required {
            rep.push(Check::fail(
                "redis",
                "[redis] required = true, but no URL is in force",
                fix,
            ));
            return KeyReads::Unreadable("no Redis URL is in force".into());
        }
        rep.push(Check::ok(
            "redis",
            "off (no [redis] url and no $QT_REDIS_URL): nothing is published; heartbeats only through the ops API",
        ));
        return KeyReads::Off;
    }
    let down = |rep: &mut Report, what: String, short: String| {
        if r.required {
            rep.push(Check::fail(
                "redis",
                format!("{what}; [redis] required = true: /ready fails and trading is blocked until it answers"),
                fix.clone(),
            ));
        } else {
            rep.push(Check::warn(
                "redis",
                format!("{what}; engine will run degraded (events buffered, auxiliary heartbeats not read)"),
                fix.clone(),
            ));
        }
        KeyReads::Unreadable(short)
    };
    let client = match redis::Client::open(url.as_str()) {
        Ok(cl) => cl,
        Err(e) => {
            return down(
                rep,
                format!("the Redis URL is not usable: {}", e.category()),
                "the Redis URL is not usable".into(),
            );
        }
    };
    let at = redacted(&client);
    let addr = at.split(' ').next().unwrap_or("").to_string();
    let is_down = || format!("Redis at {addr} is down");
    let timeout = Duration::from_millis(r.connect_timeout_ms.max(500));
    let io = Duration::from_millis(r.io_timeout_ms.max(500));
    let mut conn = match client.get_connection_with_timeout(timeout) {
        Ok(cn) => cn,
        Err(e) => return down(rep, format!("{at} unreachable: {e}"), is_down()),
    };
    let _ = conn.set_read_timeout(Some(io));
    let _ = conn.set_write_timeout(Some(io));
    let t = Instant::now();
    if let Err(e) = redis::cmd("PING").query::<String>(&mut conn) {
        return down(rep, format!("{at} does not answer PING: {e}"), is_down());
    }
    let rtt = t.elapsed();
    let version = redis::cmd("INFO")
        .arg("server")
        .query::<String>(&mut conn)
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "version unknown".into());
    let services = crate::publish::services_to_read(c);
    let keys: Vec<&str> = services.iter().map(|s| s.key.as_str()).collect();
    let vals: Vec<Option<String>> = if keys.is_empty() {
        Vec::new()
    } else {
        match redis::cmd("MGET").arg(&keys).query(&mut conn) {
            Ok(v) => v,
            Err(e) => {
                return down(
                    rep,
                    format!("{at}: reading the heartbeat keys failed: {e}"),
                    format!("reading them from {addr} failed"),
                );
            }
        }
    };
    rep.push(Check::ok(
        "redis",
        format!(
            "{at} reachable: Redis {version}, PING {:.2} ms{}",
            rtt.as_secs_f64() * 1e3,
            if r.required { " (required)" } else { "" }
        ),
    ));
    KeyReads::Read(
        services
            .iter()
            .zip(vals)
            .map(|(s, v)| {
                let seen = v.as_deref().and_then(parse_heartbeat);
                KeyRead {
                    service: s.name.clone(),
                    key: s.key.clone(),
                    seen_ms: seen,
                    bad_value: v.filter(|_| seen.is_none()),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        let c = redis::Client::open("redis://:s3cret@127.0.0.1:6380/2").unwrap();
        assert_eq!(redacted(&c), "redis://127.0.0.1:6380/2 (with password)");
        let c = redis::Client::open("rediss://user:pw@redis.example:6390").unwrap();
        let s = redacted(&c);
        assert!(s.starts_with("rediss://redis.example:6390/0"), "{s}");
        assert!(!s.contains("pw"), "{s}");
    }

    #[test]
    fn off_and_unreachable_follow_required() {
        let mut c = Config::demo();
        c.redis.url_env = String::new();
        let mut r = Report::default();
        assert_eq!(redis_checks(&mut r, &c), KeyReads::Off);
        assert!(r.can_trade(), "{}", r.render());
        // A port nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        c.redis.url = format!("redis://:pw@127.0.0.1:{port}");
        let mut r = Report::default();
        assert!(matches!(redis_checks(&mut r, &c), KeyReads::Unreadable(_)));
        assert_eq!(
            r.checks[0].verdict,
            super::super::Verdict::Warn,
            "{}",
            r.render()
        );
        assert!(r.checks[0].detail.contains("degraded"), "{}", r.render());
        assert!(!r.render().contains(":pw@"), "{}", r.render());
        c.redis.required = true;
        let mut r = Report::default();
        redis_checks(&mut r, &c);
        assert_eq!(
            r.checks[0].verdict,
            super::super::Verdict::Fail,
            "{}",
            r.render()
        );
        assert!(
            r.checks[0].fix.contains("start redis-server"),
            "{}",
            r.render()
        );
    }
}
