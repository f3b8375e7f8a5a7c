//! Typed venue and transport failures, each with the [`Disposition`] its
//! caller acts on: wait and retry, resync the symbol, reconcile an order
//! whose outcome is unknown, stop trading, or reject the request. Shared by
//! every venue (a venue maps its own error codes onto these variants) and
//! by the venue-agnostic REST client and feed session (`feed`).

use std::time::Duration;

/// Why a frame was refused (the `reason` label of the parse-error metric).
/// Every venue's parser returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid JSON")]
    Json,
    #[error("unexpected message shape: {0}")]
    Shape(&'static str),
    #[error("bad decimal in `{0}`")]
    Decimal(&'static str),
    #[error("unknown symbol")]
    UnknownSymbol,
}

impl ParseError {
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Json => "invalid_json",
            ParseError::Shape(_) => "unexpected_shape",
            ParseError::Decimal(_) => "bad_number",
            ParseError::UnknownSymbol => "unknown_symbol",
        }
    }
}

/// What a request was: a read may simply be retried; an order whose reply
/// is lost may or may not have been placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Read,
    Order,
}

/// What the caller does about a [`VenueError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Send the same request again, not before `after`.
    Retry { after: Duration },
    /// The symbol's book can no longer be trusted: resync it.
    Resync(String),
    /// An order's outcome is unknown: ask the venue what happened before
    /// acting on it again.
    Reconcile,
    /// Credentials or permissions are refused: stop trading on the venue.
    StopTrading,
    /// The venue refused this request for what it is (a filter, a bad
    /// parameter): do not resend it unchanged.
    Reject,
}

/// A venue or transport failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// The request never got an HTTP answer (connect, TLS, timeout, reset).
    #[error("{detail}")]
    Transport { kind: RequestKind, detail: String },
    /// HTTP 429: too many requests; `retry_after` from the `Retry-After`
    /// header when the venue sent one.
    #[error("HTTP 429 Too Many Requests: {body}")]
    RateLimited {
        retry_after: Option<Duration>,
        body: String,
    },
    /// HTTP 418: the IP is banned for `ban` (one venue's answer to requests
    /// sent on after a 429).
    #[error("HTTP 418 I'm a teapot: {body}")]
    Banned { ban: Duration, body: String },
    /// Another non-2xx answer.
    #[error("HTTP {}: {body}", status_line(*status))]
    Http {
        status: u16,
        kind: RequestKind,
        body: String,
    },
    /// The venue refused the request by its own error code (e.g.
    /// `-1013` filter failure, `-2010` order rejected, ...).
    #[error("venue code {code}: {msg}")]
    Refused { code: i64, msg: String },
    /// The API key, signature or permissions were refused (HTTP 401/403,
    /// `-2014`/`-2015`).
    #[error("credentials refused ({code}): {msg}")]
    Auth { code: i64, msg: String },
    /// A book update does not follow the last one applied.
    #[error("{symbol}: sequence gap (expected {expected}, got {got})")]
    SequenceGap {
        symbol: String,
        expected: u64,
        got: u64,
    },
    /// A message of a symbol's stream could not be read.
    #[error("{symbol}: {error}")]
    Parse { symbol: String, error: ParseError },
}

/// `503 Service Unavailable` (the code and its canonical reason).
fn status_line(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(r) => format!("{status} {r}"),
        None => status.to_string(),
    }
}

/// The shortest wait before resending a read the venue gave no time for
/// (callers back off further on repeated failures).
pub const DEFAULT_RETRY: Duration = Duration::from_millis(250);
/// Wait after a 429 without `Retry-After`.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

impl VenueError {
    /// What the caller does about it.
    pub fn disposition(&self) -> Disposition {
        match self {
            VenueError::Transport {
                kind: RequestKind::Order,
                ..
            } => Disposition::Reconcile,
            VenueError::Transport { .. } => Disposition::Retry {
                after: DEFAULT_RETRY,
            },
            VenueError::RateLimited { retry_after, .. } => Disposition::Retry {
                after: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            },
            VenueError::Banned { ban, .. } => Disposition::Retry { after: *ban },
            VenueError::Http { status, kind, .. } => match (*status, *kind) {
                (401 | 403, _) => Disposition::StopTrading,
                (500..=599, RequestKind::Order) => Disposition::Reconcile,
                (500..=599, RequestKind::Read) | (408, _) => Disposition::Retry {
                    after: DEFAULT_RETRY,
                },
                _ => Disposition::Reject,
            },
            VenueError::Refused { .. } => Disposition::Reject,
            VenueError::Auth { .. } => Disposition::StopTrading,
            VenueError::SequenceGap { symbol, .. } | VenueError::Parse { symbol, .. } => {
                Disposition::Resync(symbol.clone())
            }
        }
    }

    /// True for 429/418: a venue weight budget that saw the answer already
    /// holds every request until the venue's time is up.
    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            VenueError::RateLimited { .. } | VenueError::Banned { .. }
        )
    }

    /// The error of a non-2xx answer to a request of `kind`, with the
    /// `Retry-After` header's seconds if any and the first 200 bytes of the
    /// body.
    pub fn from_status(
        status: u16,
        retry_after_secs: Option<u64>,
        body: &[u8],
        kind: RequestKind,
    ) -> VenueError {
        let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        let retry_after = retry_after_secs.map(Duration::from_secs);
        match status {
            429 => VenueError::RateLimited { retry_after, body },
            418 => VenueError::Banned {
                ban: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
                body,
            },
            _ => VenueError::Http { status, kind, body },
        }
    }

    /// The error a recording kept as text ([`VenueError`]'s `Display`) read
    /// back: an HTTP status keeps its class; anything else is a transport
    /// failure of a read.
    pub fn from_recorded(text: &str) -> VenueError {
        let status = text
            .strip_prefix("HTTP ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse::<u16>().ok());
        let body = text
            .split_once(": ")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        match status {
            Some(s) => VenueError::from_status(s, None, body.as_bytes(), RequestKind::Read),
            None => VenueError::Transport {
                kind: RequestKind::Read,
                detail: text.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(e: &VenueError) -> Duration {
        match e.disposition() {
            Disposition::Retry { after } => after,
            d => panic!("{e}: {d:?}, not Retry"),
        }
    }

    #[test]
    fn rate_limits_retry_after_the_venues_time() {
        let e = VenueError::from_status(429, Some(7), b"too many", RequestKind::Read);
        assert_eq!(retry(&e), Duration::from_secs(7));
        assert!(e.is_rate_limit());
        let e = VenueError::from_status(429, None, b"", RequestKind::Order);
        assert_eq!(retry(&e), DEFAULT_RATE_LIMIT_WAIT);
        // 418: the ban time the venue sent.
        let e = VenueError::from_status(418, Some(120), b"banned", RequestKind::Read);
        assert_eq!(retry(&e), Duration::from_secs(120));
        assert!(e.is_rate_limit());
    }

    #[test]
    fn a_5xx_retries_a_read_and_reconciles_an_order() {
        let read = VenueError::from_status(503, None, b"busy", RequestKind::Read);
        assert_eq!(retry(&read), DEFAULT_RETRY);
        assert!(!read.is_rate_limit());
        let order = VenueError::from_status(502, None, b"", RequestKind::Order);
        assert_eq!(order.disposition(), Disposition::Reconcile);
        // A lost reply to an order: outcome unknown too.
        let lost = VenueError::Transport {
            kind: RequestKind::Order,
            detail: "timed out".into(),
        };
        assert_eq!(lost.disposition(), Disposition::Reconcile);
        let lost_read = VenueError::Transport {
            kind: RequestKind::Read,
            detail: "connection reset".into(),
        };
        assert_eq!(retry(&lost_read), DEFAULT_RETRY);
    }

    #[test]
    fn refused_credentials_stop_trading() {
        for s in [401, 403] {
            let e = VenueError::from_status(s, None, b"", RequestKind::Order);
            assert_eq!(e.disposition(), Disposition::StopTrading, "{s}");
        }
        let e = VenueError::Auth {
            code: -2015,
            msg: "Invalid API-key, IP, or permissions for action.".into(),
        };
        assert_eq!(e.disposition(), Disposition::StopTrading);
    }

    #[test]
    fn filter_failures_and_bad_requests_are_rejected() {
        let e = VenueError::Refused {
            code: -1013,
            msg: "Filter failure: PRICE_FILTER".into(),
        };
        assert_eq!(e.disposition(), Disposition::Reject);
        let e = VenueError::from_status(400, None, b"{\"code\":-1100}", RequestKind::Order);
        assert_eq!(e.disposition(), Disposition::Reject);
    }

    #[test]
    fn gaps_and_unreadable_updates_resync_the_symbol() {
        let e = VenueError::SequenceGap {
            symbol: "BTCUSDT".into(),
            expected: 11,
            got: 13,
        };
        assert_eq!(e.disposition(), Disposition::Resync("BTCUSDT".into()));
        let e = VenueError::Parse {
            symbol: "ETHUSDT".into(),
            error: ParseError::Decimal("b"),
        };
        assert_eq!(e.disposition(), Disposition::Resync("ETHUSDT".into()));
        assert_eq!(e.to_string(), "ETHUSDT: bad decimal in `b`");
    }

    #[test]
    fn recorded_errors_keep_their_class() {
        for e in [
            VenueError::from_status(429, Some(3), b"slow down", RequestKind::Read),
            VenueError::from_status(418, Some(3), b"banned", RequestKind::Read),
            VenueError::from_status(503, None, b"busy", RequestKind::Read),
        ] {
            let back = VenueError::from_recorded(&e.to_string());
            assert_eq!(back.is_rate_limit(), e.is_rate_limit(), "{e}");
            assert_eq!(back.to_string(), e.to_string());
        }
        let t = VenueError::from_recorded("error sending request");
        assert!(matches!(t, VenueError::Transport { .. }), "{t:?}");
        assert_eq!(t.to_string(), "error sending request");
    }
}
