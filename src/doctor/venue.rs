//! Venue probes for the doctor: for each enabled venue, REST reachable and
//! the clock offset (server time against the local clock, corrected by half
//! the round trip), the configured instruments listed and trading, and the
//! WebSocket delivering stream data. Wire formats come from `venue::*::probe`.

use super::PROBE_TIMEOUT;
use super::report::{Check, Report};
use super::system::enabled_venues;
use crate::config::{Config, VenueConfig};
use crate::venue::binance::probe;
use futures_util::StreamExt as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// |offset| up to this is OK.
pub const CLOCK_OK_MS: i64 = 250;
/// |offset| from this on fails (signed requests are refused past the venue's
/// receive window, and book/latency stamps stop making sense).
pub const CLOCK_FAIL_MS: i64 = 1000;

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
    let venues = enabled_venues(cfg);
    if venues.is_empty() {
        rep.push(Check::fail(
            "venues",
            "no venue is enabled",
            "enable one under [venues.<name>]",
        ));
    }
    for (name, vc) in venues {
        match name {
            "binance" => rt.block_on(binance(rep, vc)),
            other => rep.push(Check::warn(
                other.to_string(),
                format!(
                    "{other} is enabled but not probed: doctor checks REST, clock, instruments and WebSocket for binance only in this build"
                ),
                format!("after start, `curl -s http://OPS/ready` shows whether the {other} feed is connected and its books in sync"),
            )),
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .build()
        .unwrap_or_default()
}

/// GET returning the status and body, or a readable error.
async fn get(c: &reqwest::Client, url: &str) -> Result<(u16, Vec<u8>), String> {
    let r = c.get(url).send().await.map_err(|e| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(x) = src {
            s = format!("{s}: {x}");
            src = x.source();
        }
        s
    })?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(|e| e.to_string())?.to_vec();
    Ok((status, body))
}

async fn binance(rep: &mut Report, vc: &VenueConfig) {
    let c = client();
    // REST reachable + clock offset.
    let url = probe::server_time_url(&vc.rest_url);
    let before = unix_ms();
    let t = Instant::now();
    let res = get(&c, &url).await;
    let rtt = t.elapsed();
    let after = unix_ms();
    let rest_ok = match res {
        Err(e) => {
            rep.push(Check::fail(
                "binance.rest",
                format!("{url}: {e}"),
                "check venues.binance.rest_url, DNS, the firewall and outbound HTTPS",
            ));
            false
        }
        Ok((status, body)) if status != 200 => {
            let why = probe::parse_error(&body)
                .map(|(code, msg)| format!("code {code}: {msg}"))
                .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(120)]).into());
            rep.push(Check::fail(
                "binance.rest",
                format!("{url}: HTTP {status} {why}"),
                "HTTP 418/429 mean this IP is rate-limited or banned: wait; 451 means a restricted location",
            ));
            false
        }
        Ok((_, body)) => match probe::parse_server_time(&body) {
            Err(e) => {
                rep.push(Check::fail(
                    "binance.rest",
                    format!("{url}: {e}"),
                    "venues.binance.rest_url must be the USD-M futures REST base",
                ));
                false
            }
            Ok(server) => {
                rep.push(Check::ok(
                    "binance.rest",
                    format!("{url} answered in {:.1} ms", rtt.as_secs_f64() * 1e3),
                ));
                rep.push(clock_check("binance.clock", server, before, after));
                true
            }
        },
    };
    // Instruments listed and trading.
    if rest_ok {
        let url = probe::exchange_info_url(&vc.rest_url);
        match get(&c, &url).await {
            Ok((200, body)) => match probe::parse_exchange_info(&body) {
                Ok(listed) => rep.push(instruments_check(&vc.symbols, &listed)),
                Err(e) => rep.push(Check::fail(
                    "binance.instruments",
                    e,
                    "venues.binance.rest_url must be the USD-M futures REST base",
                )),
            },
            Ok((status, _)) => rep.push(Check::fail(
                "binance.instruments",
                format!("{url}: HTTP {status}"),
                "retry later; the venue refused the instrument list",
            )),
            Err(e) => rep.push(Check::fail(
                "binance.instruments",
                format!("{url}: {e}"),
                "check the network",
            )),
        }
    } else {
        rep.push(Check::fail(
            "binance.instruments",
            "not checked: REST unreachable",
            "fix binance.rest first",
        ));
    }
    // WebSocket delivers data.
    let Some(sym) = vc.symbols.first() else {
        return;
    };
    let mut urls = vec![("binance.ws", vc.ws_url.clone(), false)];
    if !vc.ws_market_url.is_empty() {
        urls.push(("binance.ws_market", vc.ws_market_url.clone(), true));
    }
    for (name, base, trades) in urls {
        let url = probe::probe_stream_url(&base, sym, trades);
        rep.push(ws_check(name, &url).await);
    }
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

/// Every configured symbol listed and `TRADING`.
pub fn instruments_check(wanted: &[String], listed: &[probe::ListedSymbol]) -> Check {
    let mut bad = Vec::new();
    for w in wanted {
        match listed.iter().find(|l| l.symbol.eq_ignore_ascii_case(w)) {
            None => bad.push(format!("{w} not listed")),
            Some(l) if l.status != "TRADING" => bad.push(format!("{w} status {}", l.status)),
            Some(_) => {}
        }
    }
    if bad.is_empty() {
        Check::ok(
            "binance.instruments",
            format!(
                "{} listed and TRADING ({} on the venue)",
                wanted.join(","),
                listed.len()
            ),
        )
    } else {
        Check::fail(
            "binance.instruments",
            bad.join("; "),
            "fix venues.binance.symbols and [[instruments]] (symbols as the venue spells them)",
        )
    }
}

/// Connects and waits for the first stream data frame.
pub async fn ws_check(name: &str, url: &str) -> Check {
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
                if let Ok(text) = m.to_text()
                    && probe::is_stream_data(text)
                {
                    let _ = ws.close(None).await;
                    return Check::ok(
                        name,
                        format!(
                            "{url}: first data in {:.0} ms",
                            t.elapsed().as_secs_f64() * 1e3
                        ),
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
        let l = |s: &str, st: &str| probe::ListedSymbol {
            symbol: s.into(),
            status: st.into(),
            tick_size: None,
            step_size: None,
        };
        let listed = [l("BTCUSDT", "TRADING"), l("ETHUSDT", "SETTLING")];
        let ok = instruments_check(&["BTCUSDT".into()], &listed);
        assert_eq!(ok.verdict, Verdict::Ok);
        let bad = instruments_check(
            &["BTCUSDT".into(), "ETHUSDT".into(), "XYZUSDT".into()],
            &listed,
        );
        assert_eq!(bad.verdict, Verdict::Fail);
        assert_eq!(bad.detail, "ETHUSDT status SETTLING; XYZUSDT not listed");
    }
}
