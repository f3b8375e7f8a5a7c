//! Doctor checks of the engine's state: the journal (writable, today's
//! counters, the circuit breaker and kill switch it will restore at start),
//! when an engine already runs on `ops.listen` its live readiness and
//! breaker, and the configured auxiliary heartbeats, one line each, merged
//! from that engine's view and the keys read from Redis.

use super::redis::KeyReads;
use super::report::{Check, Report};
use crate::app::engine::instruments_from_config;
use crate::config::{Config, HeartbeatPolicy};
use crate::core::clock::{format_day, unix_ms, utc_day};
use std::path::Path;
use std::time::Duration;

/// Journal checks: directory writable, today's counters, and (with
/// `restored`) the breaker and kill switch a start would restore.
pub fn journal_checks(rep: &mut Report, c: &Config, restored: bool) {
    if !c.journal.enabled {
        rep.push(Check::warn(
            "journal",
            "[journal] enabled = false: nothing is audited and nothing restored at start",
            "set [journal] enabled = true (dir under /var/lib/quantum-trader)",
        ));
        return;
    }
    let dir = Path::new(&c.journal.dir);
    let fix_dir = format!(
        "create {} writable by the service user (`install -d -o quantum-trader {}`) or set journal.dir",
        dir.display(),
        dir.display()
    );
    let probe = dir.join(format!(".doctor-probe-{}", std::process::id()));
    let writable = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&probe, b"probe"))
        .and_then(|_| std::fs::remove_file(&probe));
    if let Err(e) = writable {
        rep.push(Check::fail(
            "journal.dir",
            format!("{} is not writable: {e}", dir.display()),
            fix_dir,
        ));
        return;
    }
    rep.push(Check::ok(
        "journal.dir",
        format!("{} is writable", dir.display()),
    ));
    match crate::journal::check_dir(dir) {
        Ok(files) if files.is_empty() => {
            rep.push(Check::ok("journal.integrity", "every day file reads clean"))
        }
        Ok(files) => {
            let detail = files
                .iter()
                .map(|f| {
                    let first = f
                        .damaged
                        .first()
                        .map(|d| format!(", first at byte {} ({})", d.offset, d.reason))
                        .unwrap_or_default();
                    format!(
                        "{}: {} damaged regions{first}, tail {:?}",
                        format_day(f.day),
                        f.corrupt,
                        f.tail
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            rep.push(Check::warn(
                "journal.integrity",
                detail,
                "damaged regions are skipped, never cut; see `quantum-trader journal report --day D` and restore the file from a backup to get them back",
            ));
        }
        Err(e) => rep.push(Check::fail(
            "journal.integrity",
            format!("cannot list {}: {e}", dir.display()),
            fix_dir.clone(),
        )),
    }
    let table = match instruments_from_config(c) {
        Ok(t) => t,
        Err(e) => {
            rep.push(Check::fail(
                "journal.today",
                format!("{e:#}"),
                "fix [[instruments]]",
            ));
            return;
        }
    };
    let now = unix_ms();
    let rec = match crate::risk::recovery::recover(dir, c.mode, now, &table) {
        Ok(r) => r,
        Err(e) => {
            rep.push(Check::fail(
                "journal.today",
                format!("cannot read the journal in {}: {e}", dir.display()),
                fix_dir,
            ));
            return;
        }
    };
    let s = &rec.summary;
    let trades = s["daily_trades"].as_u64().unwrap_or(0);
    let cap = c.risk.daily_trade_cap;
    let detail = format!(
        "{} ({}): {trades}/{cap} trades, realized {:.4} (net), {} records in {} day files",
        format_day(utc_day(now)),
        c.mode.as_str(),
        s["daily_realized_pnl"].as_f64().unwrap_or(0.0),
        s["records_in_mode"].as_u64().unwrap_or(0),
        s["day_files"].as_u64().unwrap_or(0),
    );
    if trades >= cap as u64 {
        rep.push(Check::fail(
            "journal.today",
            format!("{detail}: the daily trade cap is reached"),
            "trading resumes at 00:00 UTC (or raise risk.daily_trade_cap)",
        ));
    } else {
        rep.push(Check::ok("journal.today", detail));
    }
    if !restored {
        return;
    }
    match &rec.seed.breaker_open {
        Some(t) => rep.push(Check::fail(
            "circuit_breaker",
            format!(
                "OPEN since {} ({}: {}); the engine restores it at start",
                crate::journal::report::fmt_ms(t.since_ms),
                t.reason.as_str(),
                t.detail
            ),
            "after checking why: POST /api/circuit-breaker/reset with the admin token",
        )),
        None => rep.push(Check::ok("circuit_breaker", "closed (per the journal)")),
    }
    if let Some((true, reason)) = &rec.seed.kill_switch {
        rep.push(Check::fail(
            "kill_switch.journal",
            format!("ON in the journal ({reason}); the engine restores it at start"),
            "POST /api/kill-switch?on=false&reason=... with the admin token",
        ));
    }
}

fn get_json(addr: &str, path: &str) -> Option<(u16, serde_json::Value)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .no_proxy()
            .build()
            .ok()?;
        let r = c.get(format!("http://{addr}{path}")).send().await.ok()?;
        let s = r.status().as_u16();
        Some((s, r.json().await.unwrap_or_default()))
    })
}

/// Whether an engine answers `/health` on `listen`.
pub fn engine_running(listen: &str) -> bool {
    get_json(listen, "/health").is_some_and(|(s, v)| s == 200 && v["status"] == "ok")
}

/// The running engine's readiness and breaker; returns its view of the
/// auxiliary heartbeats (service, age in ms) for [`heartbeat_checks`].
pub fn live_checks(rep: &mut Report, c: &Config) -> Vec<(String, Option<i64>)> {
    let l = &c.ops.listen;
    match get_json(l, "/ready") {
        Some((200, _)) => rep.push(Check::ok(
            "engine.ready",
            format!("the engine on {l} is ready"),
        )),
        Some((_, v)) => {
            let reasons: Vec<&str> = v["reasons"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            rep.push(Check::fail(
                "engine.ready",
                format!("the engine on {l} is not ready: {}", reasons.join(", ")),
                "see `curl -s http://{listen}/ready` and the checks below",
            ))
        }
        None => rep.push(Check::fail(
            "engine.ready",
            format!("{l}/ready did not answer"),
            "check the engine's log",
        )),
    }
    if let Some((200, v)) = get_json(l, "/api/circuit-breaker/status") {
        let state = v["state"].as_str().unwrap_or("").to_ascii_uppercase();
        if state == "OPEN" {
            rep.push(Check::fail(
                "circuit_breaker",
                format!("OPEN: {}", v["reason"].as_str().unwrap_or("")),
                "after checking why: POST /api/circuit-breaker/reset with the admin token",
            ));
        } else {
            rep.push(Check::ok(
                "circuit_breaker",
                format!("{} (live)", state.to_lowercase()),
            ));
        }
    }
    get_json(l, "/api/heartbeats")
        .and_then(|(_, v)| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|h| {
            (
                h["service"].as_str().unwrap_or("").to_string(),
                h["age_ms"].as_i64(),
            )
        })
        .collect()
}

/// One line per auxiliary heartbeat, `heartbeat.<service>`, from every
/// source there is: a running engine's `/api/heartbeats` (`engine`: service
/// and age) and the keys read from Redis (`keys`). The freshest source
/// decides; a `required` heartbeat stale or missing fails, an `advisory` one
/// warns. With neither source (no engine, Redis off), a required heartbeat
/// warns that trading waits for its first beat after start. Services read
/// from Redis but not named in `[[risk.heartbeats]]` get an informational
/// line (nothing gates on them).
pub fn heartbeat_checks(
    rep: &mut Report,
    c: &Config,
    engine: Option<&[(String, Option<i64>)]>,
    keys: &KeyReads,
) {
    let now = unix_ms();
    for h in &c.risk.heartbeats {
        let name = format!("heartbeat.{}", h.service);
        let key = match keys {
            KeyReads::Read(k) => k.iter().find(|k| k.service == h.service),
            _ => None,
        };
        let key_name = key
            .map(|k| k.key.clone())
            .unwrap_or_else(|| crate::config::redis::default_key(&h.service));
        let fix = if *keys == KeyReads::Off {
            format!(
                "check the {} service; it must POST /api/heartbeats/{}",
                h.service, h.service
            )
        } else {
            format!(
                "check the {} service: it must set {key_name} in Redis to its unix time, or POST /api/heartbeats/{}",
                h.service, h.service
            )
        };
        let required = h.policy == HeartbeatPolicy::Required;
        if engine.is_none() && key.is_none() {
            match (keys, required) {
                (KeyReads::Unreadable(why), true) => rep.push(Check::fail(
                    name,
                    format!(
                        "required (max age {} ms): {key_name} cannot be read ({why}); trading is blocked until it beats",
                        h.max_age_ms
                    ),
                    format!("fix Redis first (the `redis` line); {fix}"),
                )),
                (KeyReads::Unreadable(why), false) => rep.push(Check::warn(
                    name,
                    format!(
                        "advisory (max age {} ms): {key_name} cannot be read ({why})",
                        h.max_age_ms
                    ),
                    "fix Redis first (the `redis` line)",
                )),
                (_, true) => rep.push(Check::warn(
                    name,
                    format!(
                        "required (max age {} ms): no engine running, so trading waits for its first heartbeat after start",
                        h.max_age_ms
                    ),
                    format!("make sure {} posts POST /api/heartbeats/{} once the engine runs", h.service, h.service),
                )),
                (_, false) => rep.push(Check::ok(
                    name,
                    format!("advisory (max age {} ms)", h.max_age_ms),
                )),
            }
            continue;
        }
        // Every source's age (ms), the freshest deciding.
        let mut seen: Vec<String> = Vec::new();
        let mut best: Option<i64> = None;
        let mut note = |age: Option<i64>, src: String| {
            seen.push(match age {
                Some(a) => format!("{src} {a} ms ago"),
                None => format!("{src} never"),
            });
            if let Some(a) = age {
                best = Some(best.map_or(a, |b: i64| b.min(a)));
            }
        };
        if let Some(e) = engine {
            let age = e
                .iter()
                .find(|(s, _)| *s == h.service)
                .and_then(|(_, a)| *a);
            note(age, "engine".into());
        }
        match (keys, key) {
            (_, Some(k)) => {
                let src = match &k.bad_value {
                    Some(v) => format!("Redis {} (not a time: {:?})", k.key, clip(v)),
                    None => format!("Redis {}", k.key),
                };
                note(k.seen_ms.map(|t| now.saturating_sub(t)), src);
            }
            (KeyReads::Unreadable(why), None) => seen.push(format!("Redis not read: {why}")),
            _ => {}
        }
        let last = best.map_or("never seen".to_string(), |a| {
            format!("last seen {a} ms ago")
        });
        let detail = format!(
            "{} {last} (max {} ms; {})",
            h.policy.as_str(),
            h.max_age_ms,
            seen.join(", ")
        );
        if best.is_some_and(|a| a <= h.max_age_ms as i64) {
            rep.push(Check::ok(name, detail));
        } else if required {
            rep.push(Check::fail(
                name,
                format!("STALE: {detail}; every decision is skipped"),
                fix,
            ));
        } else {
            rep.push(Check::warn(name, format!("stale: {detail}"), fix));
        }
    }
    if let KeyReads::Read(k) = keys {
        for k in k
            .iter()
            .filter(|k| !c.risk.heartbeats.iter().any(|h| h.service == k.service))
        {
            let state = match (k.seen_ms, &k.bad_value) {
                (Some(t), _) => format!("last beat {} ms ago", now.saturating_sub(t)),
                (None, Some(v)) => format!("value {:?} is not a time", clip(v)),
                (None, None) => "key absent".to_string(),
            };
            rep.push(Check::ok(
                format!("heartbeat.{}", k.service),
                format!(
                    "{} {state} (not gated: no [[risk.heartbeats]] entry; shown in qt_redis_heartbeat_age_seconds)",
                    k.key
                ),
            ));
        }
    }
}

fn clip(v: &str) -> &str {
    match v.char_indices().nth(40) {
        Some((i, _)) => &v[..i],
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Verdict;

    fn integrity(c: &Config) -> (Verdict, String) {
        let mut rep = Report::default();
        journal_checks(&mut rep, c, false);
        let k = rep
            .checks
            .iter()
            .find(|k| k.name == "journal.integrity")
            .expect("a journal.integrity check");
        (k.verdict, k.detail.clone())
    }

    #[test]
    fn a_damaged_day_file_is_reported_by_offset() {
        let dir = crate::journal::tests::tmp_dir("doctor-integrity");
        let mut c = Config::demo();
        c.journal.dir = dir.to_string_lossy().into_owned();
        assert_eq!(integrity(&c).0, Verdict::Ok);
        let mut bytes = Vec::new();
        for id in 1..=3 {
            let p = format!(
                r#"{{"id":{id},"ts_ms":1795000000000,"mode":"paper","kind":"kill_switch","on":false,"reason":"","by":"api","client":""}}"#
            );
            crate::journal::frame::encode(p.as_bytes(), &mut bytes);
        }
        let second = bytes.len() / 3;
        bytes[second + 12] ^= 0x01;
        std::fs::write(dir.join("2026-11-18.journal"), &bytes).unwrap();
        let (v, detail) = integrity(&c);
        assert_eq!(v, Verdict::Warn, "{detail}");
        assert!(
            detail.contains(&format!(
                "2026-11-18: 1 damaged regions, first at byte {second}"
            )),
            "{detail}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
