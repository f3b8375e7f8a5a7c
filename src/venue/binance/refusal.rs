//! Binance USD-M: what a failed signed order request means for the order.
//! Maps a [`SignedError`] (HTTP status, Binance code, transport failure)
//! to a [`Verdict`]: the venue **refused** it (the order does not exist; a
//! typed [`RefusalReason`] whose label goes to
//! `qt_orders_total{status="rejected",reason}`, and maybe something to do
//! first: re-measure the clock, stop order traffic until `Retry-After`), or
//! the outcome is **unknown** (the order may exist: query it by client
//! order id, never resend).
//!
//! Unknown: HTTP 5xx, no reply (timeout, reset, DNS, connect), a reply
//! that cannot be read, and the codes `-1006` (unexpected response),
//! `-1007` (timeout waiting for the backend; "the order may still be
//! executed") and `-1008` (server overloaded). A transport error is never
//! evidence about an order's state.

use super::orders::SignedError;
use crate::exec::refusal::RefusalReason;

/// Something to do because of the refusal, before the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// `-1021`: measure the server clock offset again.
    RemeasureClock,
    /// HTTP 429 (or `-1003`/`-1015`): no order traffic until `Retry-After`
    /// (seconds; `None` when the venue did not say).
    PauseOrders { retry_after_s: Option<u64> },
    /// HTTP 418: the IP is banned until `Retry-After`.
    Banned { retry_after_s: Option<u64> },
}

/// What a failed request says about the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The venue refused the request: the order was not placed (for a new
    /// order) or not canceled (for a cancel).
    Refused {
        reason: RefusalReason,
        /// The venue's code, when it sent one.
        code: Option<i64>,
        http: Option<u16>,
        follow_up: Option<FollowUp>,
    },
    /// The order may or may not exist: put it on the unknown-outcome watch
    /// list; never resend.
    Unknown {
        code: Option<i64>,
        http: Option<u16>,
    },
}

impl Verdict {
    pub fn is_unknown(&self) -> bool {
        matches!(self, Verdict::Unknown { .. })
    }

    /// The reason label for a refusal (`None` when the outcome is unknown).
    pub fn reason_label(&self) -> Option<&'static str> {
        match self {
            Verdict::Refused { reason, .. } => Some(reason.label()),
            Verdict::Unknown { .. } => None,
        }
    }
}

/// The codes whose outcome is unknown.
pub const UNKNOWN_OUTCOME_CODES: [i64; 3] = [-1006, -1007, -1008];

/// The typed reason of a Binance error code (refusals only; see
/// [`UNKNOWN_OUTCOME_CODES`] for the codes that refuse nothing).
pub fn reason_of(code: i64) -> RefusalReason {
    use RefusalReason as R;
    match code {
        -2019 | -2018 => R::MarginInsufficient,
        -4164 => R::MinNotional,
        -1111 => R::Precision,
        // -1013 filter failure; -4003 quantity <= 0; -4014 price not a
        // multiple of the tick.
        -1013 | -4003 | -4014 => R::Filter,
        -4116 => R::DuplicateClientId,
        -2011 | -2013 => R::UnknownOrder,
        -1021 => R::Timestamp,
        -1003 | -1015 => R::RateLimited,
        -5022 => R::PostOnlyWouldTake,
        -2022 => R::ReduceOnly,
        -2021 => R::WouldTrigger,
        -1121 => R::InvalidSymbol,
        -1022 | -2014 | -2015 => R::Auth,
        -2010 => R::VenueRejected,
        // The remaining -11xx codes are request-format errors.
        -1199..=-1100 => R::BadRequest,
        _ => R::Other,
    }
}

/// The verdict on a failed signed order request.
pub fn verdict(err: &SignedError) -> Verdict {
    match err {
        SignedError::Api(e) => {
            if UNKNOWN_OUTCOME_CODES.contains(&e.code) {
                return Verdict::Unknown {
                    code: Some(e.code),
                    http: Some(e.http),
                };
            }
            let reason = reason_of(e.code);
            let follow_up = match reason {
                RefusalReason::Timestamp => Some(FollowUp::RemeasureClock),
                RefusalReason::RateLimited => Some(FollowUp::PauseOrders {
                    retry_after_s: None,
                }),
                _ => None,
            };
            Verdict::Refused {
                reason,
                code: Some(e.code),
                http: Some(e.http),
                follow_up,
            }
        }
        SignedError::Throttled {
            http,
            code,
            retry_after_s,
        } => {
            let (reason, follow_up) = if *http == 418 {
                (
                    RefusalReason::Banned,
                    FollowUp::Banned {
                        retry_after_s: *retry_after_s,
                    },
                )
            } else {
                (
                    RefusalReason::RateLimited,
                    FollowUp::PauseOrders {
                        retry_after_s: *retry_after_s,
                    },
                )
            };
            Verdict::Refused {
                reason,
                code: *code,
                http: Some(*http),
                follow_up: Some(follow_up),
            }
        }
        SignedError::Unknown { http, .. } => Verdict::Unknown {
            code: None,
            http: Some(*http),
        },
        SignedError::Transport(_) | SignedError::Decode(_) => Verdict::Unknown {
            code: None,
            http: None,
        },
        SignedError::Invalid(_) => Verdict::Refused {
            reason: RefusalReason::LocalInvalid,
            code: None,
            http: None,
            follow_up: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::orders::classify_error;
    use super::*;

    fn v(http: u16, body: &str, retry: Option<u64>) -> Verdict {
        verdict(&classify_error(http, body.as_bytes(), retry))
    }

    fn body(code: i64) -> String {
        format!(r#"{{"code":{code},"msg":"x"}}"#)
    }

    #[test]
    fn each_code_maps_to_its_reason() {
        use RefusalReason as R;
        for (code, reason, label) in [
            (-2019, R::MarginInsufficient, "margin_insufficient"),
            (-4164, R::MinNotional, "min_notional"),
            (-1111, R::Precision, "precision"),
            (-1013, R::Filter, "filter"),
            (-4003, R::Filter, "filter"),
            (-4014, R::Filter, "filter"),
            (-4116, R::DuplicateClientId, "duplicate_client_id"),
            (-2011, R::UnknownOrder, "unknown_order"),
            (-2013, R::UnknownOrder, "unknown_order"),
            (-1121, R::InvalidSymbol, "invalid_symbol"),
            (-1022, R::Auth, "auth"),
            (-2015, R::Auth, "auth"),
            (-1102, R::BadRequest, "bad_request"),
            (-5022, R::PostOnlyWouldTake, "post_only_would_take"),
            (-2022, R::ReduceOnly, "reduce_only"),
            (-2021, R::WouldTrigger, "would_trigger"),
            (-2010, R::VenueRejected, "venue_rejected"),
            (-9999, R::Other, "other"),
        ] {
            let got = v(400, &body(code), None);
            assert_eq!(
                got,
                Verdict::Refused {
                    reason,
                    code: Some(code),
                    http: Some(400),
                    follow_up: None
                },
                "{code}"
            );
            assert_eq!(got.reason_label(), Some(label));
        }
    }

    #[test]
    fn clock_and_rate_limits_say_what_to_do() {
        assert!(matches!(
            v(400, &body(-1021), None),
            Verdict::Refused {
                reason: RefusalReason::Timestamp,
                follow_up: Some(FollowUp::RemeasureClock),
                ..
            }
        ));
        assert_eq!(
            v(429, &body(-1003), Some(7)),
            Verdict::Refused {
                reason: RefusalReason::RateLimited,
                code: Some(-1003),
                http: Some(429),
                follow_up: Some(FollowUp::PauseOrders {
                    retry_after_s: Some(7)
                })
            }
        );
        assert_eq!(
            v(418, "", Some(120)),
            Verdict::Refused {
                reason: RefusalReason::Banned,
                code: None,
                http: Some(418),
                follow_up: Some(FollowUp::Banned {
                    retry_after_s: Some(120)
                })
            }
        );
        // -1015 on a 400 (too many orders) also pauses order traffic.
        assert!(matches!(
            v(400, &body(-1015), None),
            Verdict::Refused {
                reason: RefusalReason::RateLimited,
                follow_up: Some(FollowUp::PauseOrders {
                    retry_after_s: None
                }),
                ..
            }
        ));
    }

    #[test]
    fn lost_answers_are_unknown_never_refused() {
        assert_eq!(UNKNOWN_OUTCOME_CODES, [-1006, -1007, -1008]);
        for code in [-1006, -1007, -1008] {
            for http in [400, 408] {
                assert_eq!(
                    v(http, &body(code), None),
                    Verdict::Unknown {
                        code: Some(code),
                        http: Some(http)
                    }
                );
            }
        }
        for http in [500, 502, 503, 504] {
            let got = v(http, &body(-1007), None);
            assert!(got.is_unknown(), "{http}");
            assert_eq!(got.reason_label(), None);
        }
        // A 4xx without a Binance body (a proxy page): unknown, not refused.
        assert!(v(403, "<html>forbidden</html>", None).is_unknown());
        assert!(verdict(&SignedError::Transport("connection reset".into())).is_unknown());
        assert!(verdict(&SignedError::Decode("truncated".into())).is_unknown());
        assert_eq!(
            verdict(&SignedError::Invalid("qty 0".into())).reason_label(),
            Some("local_invalid")
        );
    }

    #[test]
    fn real_error_bodies_map() {
        let d = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/samples/binance"
        ));
        if !d.exists() {
            crate::venue::samples::absent("binance error bodies", d);
            return;
        }
        for (file, label) in [
            (
                "futures_error_-2019_margin_insufficient_real.json",
                "margin_insufficient",
            ),
            ("futures_error_-4164_min_notional_real.json", "min_notional"),
            ("futures_error_-4003_qty_le_zero_real.json", "filter"),
        ] {
            let b = std::fs::read(d.join(file)).unwrap();
            let got = verdict(&classify_error(400, &b, None));
            assert_eq!(got.reason_label(), Some(label), "{file}");
        }
        let docs: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(d.join("errors_DOCS_examples.json")).unwrap())
                .unwrap();
        for e in docs {
            let b = serde_json::to_vec(&e).unwrap();
            let got = verdict(&classify_error(400, &b, None));
            let code = e["code"].as_i64().unwrap();
            assert!(
                matches!(got, Verdict::Refused { reason, .. } if reason != RefusalReason::Other),
                "documented code {code} has a typed reason"
            );
        }
    }
}
