//! Venue probes for the doctor: for each enabled venue (Binance USD-M, Bybit
//! v5 linear, OKX v5 SWAP), REST reachable and the clock offset (server
//! time against the local clock, corrected by half the round trip), the
//! configured instruments listed and trading, and the WebSocket delivering
//! stream data. Endpoints, bodies and parsers come from each venue's
//! adapter (`venue::registry`, a `venue::probe::ProbeSpec` per venue); this
//! module only drives them and judges.

use super::PROBE_TIMEOUT;
use super::report::{Check, Report};
use crate::config::Config;
use crate::venue::adapter::Common;
use crate::venue::error::{RequestKind, VenueError};
pub use crate::venue::probe::{Listed, WsProbe};
use crate::venue::probe::{ProbeError, ProbeSpec};
use crate::venue::registry;
use futures_util::{SinkExt as _, StreamExt as _};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// |offset| up to this is OK.
pub const CLOCK_OK_MS: i64 = 250;
/// |offset| from this on fails (signed requests are refused past the venue's
/// receive window, and book/latency stamps stop making sense).
pub const CLOCK_FAIL_MS: i64 = 1000;

/// Most instrument pages followed (Bybit pages by 1000).
const MAX_PAGES: usize = 20;

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Every enabled venue's checks.
pub fn venue_checks(rep: &mut Report, cfg: &Config) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            rep.push(Check::fail(
                "venues",
                format!("no async runtime: {e}"),
                "report a bug",
            ));
            return;
        }
    };
    let venues = cfg.venues.enabled();
    if venues.is_empty() {
        rep.push(Check::fail(
            "venues",
            "no venue is enabled",
            "enable one under [venues.<name>]",
        ));
    }
    for (v, vc) in venues {
        let spec = registry::adapter(v).probes();
        rt.block_on(probe_venue(rep, v.as_str(), spec, &vc, cfg));
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .build()
        .unwrap_or_default()
}

/// A transport failure of a probe's read, with the whole cause chain.
fn transport(e: reqwest::Error) -> VenueError {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(x) = src {
        s = format!("{s}: {x}");
        src = x.source();
    }
    VenueError::Transport {
        kind: RequestKind::Read,
        detail: s,
    }
}

/// GET returning the status and body, or the transport failure.
async fn get(c: &reqwest::Client, url: &str) -> Result<(u16, Vec<u8>), VenueError> {
    let r = c.get(url).send().await.map_err(transport)?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(transport)?.to_vec();
    Ok((status, body))
}

async fn probe_venue(rep: &mut Report, v: &str, spec: &ProbeSpec, vc: &Common<'_>, cfg: &Config) {
    let c = client();
    // REST reachable + clock offset.
    let url = (spec.time_url)(vc.rest_url);
    let before = unix_ms();
    let t = Instant::now();
    let res = get(&c, &url).await;
    let rtt = t.elapsed();
    let after = unix_ms();
    let rest_ok = match res {
        Err(e) => {
            rep.push(Check::fail(
                format!("{v}.rest"),
                format!("{url}: {e}"),
                format!("check venues.{v}.rest_url, DNS, the firewall and outbound HTTPS"),
            ));
            false
        }
        Ok((status, body)) if status != 200 => {
            let why =
                (spec.error_text)(&body).map_or_else(|| ProbeError::clip(&body), |e| e.to_string());
            rep.push(Check::fail(
                format!("{v}.rest"),
                format!("{url}: HTTP {status} {why}"),
                "HTTP 403/418/429 mean this IP is rate-limited or banned: wait; 451 means a restricted location",
            ));
            false
        }
        Ok((_, body)) => match (spec.parse_time)(&body) {
            Err(e) => {
                rep.push(Check::fail(
                    format!("{v}.rest"),
                    format!("{url}: {e}"),
                    format!("venues.{v}.rest_url must be {}", spec.rest_hint),
                ));
                false
            }
            Ok(server) => {
                rep.push(Check::ok(
                    format!("{v}.rest"),
                    format!("{url} answered in {:.1} ms", rtt.as_secs_f64() * 1e3),
                ));
                rep.push(clock_check(&format!("{v}.clock"), server, before, after));
                true
            }
        },
    };
    // Instruments listed and trading.
    let name = format!("{v}.instruments");
    if rest_ok {
        match fetch_listed(&c, v, spec, vc.rest_url).await {
            Ok(l) => rep.push(instruments_check(&name, spec.trading, vc.symbols, &l)),
            Err((e, fix)) => rep.push(Check::fail(name, e, fix)),
        }
    } else {
        rep.push(Check::fail(
            name,
            "not checked: REST unreachable",
            format!("fix {v}.rest first"),
        ));
    }
    // WebSocket delivers data.
    let Some(sym) = vc.symbols.first() else {
        return;
    };
    for p in (spec.ws)(cfg, sym) {
        rep.push(ws_check(&p).await);
    }
}

/// Every page of the venue's instrument list.
async fn fetch_listed(
    c: &reqwest::Client,
    venue: &str,
    spec: &ProbeSpec,
    base: &str,
) -> Result<Vec<Listed>, (String, String)> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    for _ in 0..MAX_PAGES {
        let url = (spec.instruments_url)(base, &cursor);
        let body = match get(c, &url).await {
            Ok((200, body)) => body,
            Ok((status, body)) => {
                let why = (spec.error_text)(&body)
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err((
                    format!("{url}: HTTP {status} {why}"),
                    "retry later; the venue refused the instrument list".into(),
                ));
            }
            Err(e) => return Err((format!("{url}: {e}"), "check the network".into())),
        };
        let (page, next) = (spec.parse_instruments)(&body).map_err(|e| {
            (
                format!("{url}: {e}"),
                format!("venues.{venue}.rest_url must be {}", spec.rest_hint),
            )
        })?;
        all.extend(page);
        if next.is_empty() {
            break;
        }
        cursor = next;
    }
    Ok(all)
}

/// Offset of the venue's clock from ours, corrected by half the round trip.
pub fn clock_check(name: &str, server_ms: i64, before_ms: i64, after_ms: i64) -> Check {
    let mid = before_ms + (after_ms - before_ms) / 2;
    let offset = server_ms - mid;
    let detail = format!(
        "venue clock {offset:+} ms from ours (round trip {} ms)",
        after_ms - before_ms
    );
    let fix = "sync the clock: `timedatectl set-ntp true` (systemd-timesyncd) or chrony";
    if offset.abs() >= CLOCK_FAIL_MS {
        Check::fail(name, detail, fix)
    } else if offset.abs() > CLOCK_OK_MS {
        Check::warn(name, detail, fix)
    } else {
        Check::ok(name, detail)
    }
}

/// Every configured symbol listed and in the `trading` state.
pub fn instruments_check(name: &str, trading: &str, wanted: &[String], listed: &[Listed]) -> Check {
    let mut bad = Vec::new();
    for w in wanted {
        match listed.iter().find(|l| l.symbol.eq_ignore_ascii_case(w)) {
            None => bad.push(format!("{w} not listed")),
            Some(l) if l.status != trading => bad.push(format!("{w} status {}", l.status)),
            Some(_) => {}
        }
    }
    let venue = name.split('.').next().unwrap_or(name);
    if bad.is_empty() {
        Check::ok(
            name,
            format!(
                "{} listed and {trading} ({} on the venue)",
                wanted.join(","),
                listed.len()
            ),
        )
    } else {
        Check::fail(
            name,
            bad.join("; "),
            format!(
                "fix venues.{venue}.symbols and [[instruments]] (symbols as the venue spells them)"
            ),
        )
    }
}

/// Connects, sends the subscribe request if any, and waits for the first
/// stream data frame.
pub async fn ws_check(p: &WsProbe) -> Check {
    let (name, url) = (p.name.as_str(), p.url.as_str());
    let fix = "check the ws_url, DNS, the firewall and outbound WebSocket (443)";
    let t = Instant::now();
    let conn = tokio::time::timeout(PROBE_TIMEOUT, tokio_tungstenite::connect_async(url)).await;
    let mut ws = match conn {
        Err(_) => {
            return Check::fail(
                name,
                format!("{url}: no connection within {PROBE_TIMEOUT:?}"),
                fix,
            );
        }
        Ok(Err(e)) => return Check::fail(name, format!("{url}: {e}"), fix),
        Ok(Ok((ws, _))) => ws,
    };
    if let Some(sub) = &p.subscribe
        && let Err(e) = ws.send(sub.as_str().into()).await
    {
        return Check::fail(name, format!("{url}: sending the subscription: {e}"), fix);
    }
    let deadline = t + PROBE_TIMEOUT + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => {
                return Check::fail(
                    name,
                    format!(
                        "{url}: connected, but no stream data within {:?}",
                        t.elapsed()
                    ),
                    "the venue accepted the connection but sends nothing: check the symbols",
                );
            }
            Ok(None) => return Check::fail(name, format!("{url}: closed by the venue"), fix),
            Ok(Some(Err(e))) => return Check::fail(name, format!("{url}: {e}"), fix),
            Ok(Some(Ok(m))) => {
                let Ok(text) = m.to_text() else { continue };
                if (p.is_data)(text) {
                    let _ = ws.close(None).await;
                    return Check::ok(
                        name,
                        format!(
                            "{url}: first data in {:.0} ms",
                            t.elapsed().as_secs_f64() * 1e3
                        ),
                    );
                }
                if let Some(why) = (p.refusal)(text) {
                    let _ = ws.close(None).await;
                    return Check::fail(
                        name,
                        format!("{url}: the subscription was refused: {why}"),
                        "check the symbols (as the venue spells them) and the ws_url",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

    #[test]
    fn clock_thresholds() {
        assert_eq!(
            clock_check("c", 1_000_100, 1_000_000, 1_000_200).verdict,
            Verdict::Ok
        );
        let c = clock_check("c", 1_000_000 + 100 + 600, 1_000_000, 1_000_200);
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.detail.contains("+600 ms"), "{c:?}");
        let c = clock_check("c", 1_000_000 - 1_500, 1_000_000, 1_000_000);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.detail.contains("-1500 ms"), "{c:?}");
    }

    #[test]
    fn instruments_missing_or_halted() {
        let l = |s: &str, st: &str| Listed {
            symbol: s.into(),
            status: st.into(),
        };
        let listed = [l("BTCUSDT", "TRADING"), l("ETHUSDT", "SETTLING")];
        let ok = instruments_check(
            "binance.instruments",
            "TRADING",
            &["BTCUSDT".into()],
            &listed,
        );
        assert_eq!(ok.verdict, Verdict::Ok);
        let bad = instruments_check(
            "binance.instruments",
            "TRADING",
            &["BTCUSDT".into(), "ETHUSDT".into(), "XYZUSDT".into()],
            &listed,
        );
        assert_eq!(bad.verdict, Verdict::Fail);
        assert_eq!(bad.detail, "ETHUSDT status SETTLING; XYZUSDT not listed");
        assert!(bad.fix.contains("venues.binance.symbols"), "{bad:?}");
        // OKX spells its trading state `live`.
        let okx = [l("BTC-USDT-SWAP", "live"), l("ETH-USDT-SWAP", "suspend")];
        let c = instruments_check(
            "okx.instruments",
            "live",
            &["BTC-USDT-SWAP".into(), "ETH-USDT-SWAP".into()],
            &okx,
        );
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.detail, "ETH-USDT-SWAP status suspend");
    }
}
