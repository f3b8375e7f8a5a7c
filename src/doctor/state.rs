//! Doctor checks of the engine's state: the journal (writable, today's
//! counters, the circuit breaker and kill switch it will restore at start),
//! the configured auxiliary heartbeats, and, when an engine already runs on
//! `ops.listen`, its live readiness, breaker and heartbeat ages.

use super::report::{Check, Report};
use crate::config::{Config, HeartbeatPolicy};
use crate::core::clock::{format_day, unix_ms, utc_day};
use crate::pipeline::engine::instruments_from_config;
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

/// Configured heartbeats when no engine runs: a `required` one blocks
/// trading until the service posts its first heartbeat after start.
pub fn heartbeat_config_checks(rep: &mut Report, c: &Config) {
    for h in &c.risk.heartbeats {
        let name = format!("heartbeat.{}", h.service);
        match h.policy {
            HeartbeatPolicy::Required => rep.push(Check::warn(
                name,
                format!(
                    "required (max age {} ms): no engine running, so trading waits for its first heartbeat after start",
                    h.max_age_ms
                ),
                format!("make sure {} posts POST /api/heartbeats/{} once the engine runs", h.service, h.service),
            )),
            HeartbeatPolicy::Advisory => rep.push(Check::ok(
                name,
                format!("advisory (max age {} ms)", h.max_age_ms),
            )),
        }
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

/// The running engine's readiness, breaker and heartbeats.
pub fn live_checks(rep: &mut Report, c: &Config) {
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
    let ages: Vec<(String, Option<i64>)> = get_json(l, "/api/heartbeats")
        .and_then(|(_, v)| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|h| {
            (
                h["service"].as_str().unwrap_or("").to_string(),
                h["age_ms"].as_i64(),
            )
        })
        .collect();
    for h in &c.risk.heartbeats {
        let name = format!("heartbeat.{}", h.service);
        let age = ages
            .iter()
            .find(|(s, _)| *s == h.service)
            .and_then(|(_, a)| *a);
        let fresh = age.is_some_and(|a| a <= h.max_age_ms as i64);
        let seen = age.map_or("never seen".to_string(), |a| {
            format!("last seen {a} ms ago")
        });
        let detail = format!("{} {seen} (max {} ms)", h.policy.as_str(), h.max_age_ms);
        let fix = format!(
            "check the {} service; it must POST /api/heartbeats/{}",
            h.service, h.service
        );
        if fresh {
            rep.push(Check::ok(name, detail));
        } else if h.policy == HeartbeatPolicy::Required {
            rep.push(Check::fail(
                name,
                format!("STALE: {detail}; every decision is skipped"),
                fix,
            ));
        } else {
            rep.push(Check::warn(name, format!("stale: {detail}"), fix));
        }
    }
}
