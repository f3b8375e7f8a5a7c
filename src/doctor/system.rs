//! Local doctor checks: what the config asks for (mode, model, secrets in
//! the environment, kill switch, test hooks) and what the host offers (the
//! ops port, CPU pinning, the open-file limit).

use super::report::{Check, Report};
use crate::app::engine::load_model;
use crate::config::{Config, TradingMode};
use std::time::Duration;

/// Open-file limit below which the engine may run out of sockets.
pub const MIN_NOFILE: u64 = 1024;
/// What the shipped unit sets (`LimitNOFILE=65536`); below this is a warning.
pub const GOOD_NOFILE: u64 = 4096;

/// The names of the enabled venues, in venue order.
pub fn venue_names(c: &Config) -> Vec<&'static str> {
    c.venues
        .enabled()
        .into_iter()
        .map(|(v, _)| v.as_str())
        .collect()
}

/// Checks on the config's content.
pub fn config_checks(rep: &mut Report, c: &Config) {
    if c.mode == TradingMode::Paper {
        rep.push(Check::ok("mode", "paper: simulated fills, no keys needed"));
    } else if c.mode == TradingMode::Testnet {
        rep.push(Check::ok(
            "mode",
            "testnet: orders go to the venue's trading session (demo hosts or the built-in simulator)",
        ));
    } else {
        // The live interlock's static conditions (`run` checks them again;
        // live also needs `run --live` or QT_LIVE=1, which doctor cannot see).
        let armed = c.mode == TradingMode::Live;
        match crate::app::interlock::check_static(
            c,
            armed,
            &crate::venue::account::has_order_entry,
            &|k| std::env::var(k).ok(),
        ) {
            Ok(()) => rep.push(Check::ok(
                "mode",
                format!(
                    "{}: the live interlock's static conditions hold{} (the account, clock and reconciliation are checked at start)",
                    c.mode.as_str(),
                    if armed { "; `run` needs --live or QT_LIVE=1" } else { "" }
                ),
            )),
            Err(r) => rep.push(Check::fail(
                "mode",
                r.lines.join("; "),
                "fix each condition (docs/order-path.md#the-live-interlock), or set mode = \"paper\"",
            )),
        }
    }
    match load_model(&c.model.path) {
        Ok(m) => rep.push(Check::ok(
            "model",
            format!("{} loads (version {})", c.model.path, m.version()),
        )),
        Err(e) => rep.push(Check::fail(
            "model",
            format!("{e:#}"),
            "point model.path at a readable model JSON (config/model.json is the shipped one)",
        )),
    }
    for (venue, v) in c.venues.enabled() {
        let name = venue.as_str();
        for (key, var) in [
            ("api_key_env", v.api_key_env),
            ("api_secret_env", v.api_secret_env),
        ] {
            if var.is_empty() {
                continue;
            }
            // Only presence is reported: a secret's value is never printed.
            let present = std::env::var_os(var).is_some_and(|x| !x.is_empty());
            let check = format!("{name}.{key}");
            if present {
                rep.push(Check::ok(check, format!("${var} is set")));
            } else if c.mode == TradingMode::Paper {
                rep.push(Check::warn(
                    check,
                    format!("${var} is not set (not needed in paper mode)"),
                    format!("put {var}=... in /etc/quantum-trader/env before trading live"),
                ));
            } else {
                rep.push(Check::fail(
                    check,
                    format!("${var} is not set"),
                    format!(
                        "put {var}=... in /etc/quantum-trader/env (the unit's EnvironmentFile)"
                    ),
                ));
            }
        }
    }
    if c.risk.kill_switch {
        rep.push(Check::fail(
            "kill_switch",
            "risk.kill_switch = true: every decision is skipped",
            "set risk.kill_switch = false when you mean to trade",
        ));
    } else {
        rep.push(Check::ok("kill_switch", "off"));
    }
    if c.ops.test_hooks {
        rep.push(Check::warn(
            "test_hooks",
            "[ops] test_hooks = true: anyone reaching the ops port can freeze a stage",
            "set [ops] test_hooks = false outside tests",
        ));
    }
}

/// Host checks: the ops port (with a config), CPU pinning, open files.
pub fn host_checks(rep: &mut Report, c: Option<&Config>) {
    if let Some(c) = c {
        rep.push(ops_port(&c.ops.listen));
        rep.push(pinning(c));
    }
    rep.push(open_files());
}

/// Whether the ops server could bind its address; if not, whether an engine
/// already answers there.
pub fn ops_port(listen: &str) -> Check {
    match std::net::TcpListener::bind(listen) {
        Ok(_) => Check::ok("ops.listen", format!("{listen} is free")),
        Err(e) => {
            let engine = std::net::TcpStream::connect_timeout(
                &match listen.parse() {
                    Ok(a) => a,
                    Err(_) => {
                        return Check::fail(
                            "ops.listen",
                            format!("{listen}: {e}"),
                            "set ops.listen to ip:port",
                        );
                    }
                },
                Duration::from_millis(500),
            )
            .is_ok();
            let detail = if engine {
                format!(
                    "{listen} is in use ({e}); something answers there, probably a running engine"
                )
            } else {
                format!("{listen}: {e}")
            };
            Check::fail(
                "ops.listen",
                detail,
                "stop the running engine (`systemctl stop quantum-trader`; `quantum-trader healthcheck` tells if it is healthy) or set ops.listen to a free port",
            )
        }
    }
}

/// Configured stage cores against the cores this process may use, and
/// whether pinning a thread works at all.
pub fn pinning(c: &Config) -> Check {
    let ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let p = &c.pipeline;
    let wanted: Vec<(&str, usize)> = [
        ("feed", p.feed.core),
        ("book", p.book.core),
        ("score", p.score.core),
        ("risk", p.risk.core),
        ("exec", p.exec.core),
    ]
    .into_iter()
    .filter_map(|(s, core)| core.map(|x| (s, x)))
    .collect();
    let probe = ids.first().copied();
    let works = probe.is_some_and(|id| {
        std::thread::spawn(move || core_affinity::set_for_current(core_affinity::CoreId { id }))
            .join()
            .unwrap_or(false)
    });
    let avail = format!("usable cores {ids:?}");
    if !works {
        return Check::warn(
            "cpu_pinning",
            format!("pinning a thread was refused ({avail})"),
            "allow sched_setaffinity (container/cgroup cpuset), or leave [pipeline.*] core unset",
        );
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(_, core)| !ids.contains(core))
        .map(|(s, core)| format!("pipeline.{s}.core = {core}"))
        .collect();
    if !missing.is_empty() {
        return Check::warn(
            "cpu_pinning",
            format!(
                "{} not usable here ({avail}); those stages run unpinned",
                missing.join(", ")
            ),
            "pick cores from the usable list (isolate them with isolcpus= for spin mode)",
        );
    }
    if wanted.is_empty() {
        Check::ok(
            "cpu_pinning",
            format!("possible; no stage pinned ({avail})"),
        )
    } else {
        let w: Vec<String> = wanted.iter().map(|(s, c)| format!("{s}->{c}")).collect();
        Check::ok("cpu_pinning", format!("{} ({avail})", w.join(" ")))
    }
}

/// The soft and hard `RLIMIT_NOFILE`.
pub fn nofile_limit() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    (rc == 0).then_some((r.rlim_cur, r.rlim_max))
}

pub fn open_files() -> Check {
    let fix =
        "LimitNOFILE=65536 in the systemd unit (the shipped one sets it) or `ulimit -n 65536`";
    match nofile_limit() {
        None => Check::warn("open_files", "getrlimit(RLIMIT_NOFILE) failed", fix),
        Some((soft, hard)) if soft < MIN_NOFILE => Check::fail(
            "open_files",
            format!("limit {soft} (hard {hard}) is below {MIN_NOFILE}"),
            fix,
        ),
        Some((soft, hard)) if soft < GOOD_NOFILE => Check::warn(
            "open_files",
            format!("limit {soft} (hard {hard}); {GOOD_NOFILE}+ recommended"),
            fix,
        ),
        Some((soft, hard)) => Check::ok("open_files", format!("limit {soft} (hard {hard})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

    #[test]
    fn config_content_checks() {
        let mut c = Config::demo();
        let mut r = Report::default();
        config_checks(&mut r, &c);
        assert!(r.can_trade(), "{}", r.render());
        c.mode = TradingMode::Live;
        c.risk.kill_switch = true;
        c.ops.test_hooks = true;
        c.model.path = "/nonexistent/model.json".into();
        let first = crate::core::Venue::ALL[0];
        c.venues
            .set(
                first,
                "api_key_env",
                toml::Value::String("QT_DOCTOR_TEST_SURELY_UNSET".into()),
            )
            .unwrap();
        let mut r = Report::default();
        config_checks(&mut r, &c);
        let names: Vec<&str> = r.failures().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["mode", "model", "binance.api_key_env", "kill_switch"],
            "{}",
            r.render()
        );
        assert!(
            r.checks
                .iter()
                .any(|c| c.name == "test_hooks" && c.verdict == Verdict::Warn)
        );
    }

    #[test]
    fn ops_port_in_use_is_a_failure() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap().to_string();
        let c = ops_port(&a);
        assert_eq!(c.verdict, Verdict::Fail, "{c:?}");
        assert!(c.detail.contains("in use"), "{c:?}");
        drop(l);
        assert_eq!(ops_port(&a).verdict, Verdict::Ok);
    }

    #[test]
    fn pinning_flags_missing_cores() {
        let mut c = Config::demo();
        assert_ne!(pinning(&c).verdict, Verdict::Fail);
        c.pipeline.risk.core = Some(100_000);
        let ch = pinning(&c);
        assert_eq!(ch.verdict, Verdict::Warn, "{ch:?}");
        assert!(
            ch.detail.contains("pipeline.risk.core = 100000") || ch.detail.contains("refused"),
            "{ch:?}"
        );
    }

    #[test]
    fn open_files_reads_the_real_limit() {
        let (soft, _) = nofile_limit().unwrap();
        let c = open_files();
        assert!(c.detail.contains(&soft.to_string()), "{c:?}");
    }
}
