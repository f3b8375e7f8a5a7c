//! The doctor's report: one [`Check`] per line with a verdict, what was seen
//! and, when it is not OK, the fix; and the closing "can trade" line that
//! names every failing check.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but worth a look; does not stop trading.
    Warn,
    /// Trading cannot start (or must not) until this is fixed.
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Short dotted name (`binance.rest`, `open_files`).
    pub name: String,
    pub verdict: Verdict,
    /// What was seen.
    pub detail: String,
    /// What to do about it (empty when OK).
    pub fix: String,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }

    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            verdict: Verdict::Warn,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn push(&mut self, c: Check) {
        self.checks.push(c);
    }

    /// The failing checks: each one is a reason trading cannot start.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .collect()
    }

    pub fn can_trade(&self) -> bool {
        self.failures().is_empty()
    }

    /// One line per check (`FIX:` on the next line when not OK), then the verdict.
    pub fn render(&self) -> String {
        let w = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut s = String::new();
        for c in &self.checks {
            let _ = writeln!(s, "{:<4}  {:<w$}  {}", c.verdict.as_str(), c.name, c.detail);
            if c.verdict != Verdict::Ok && !c.fix.is_empty() {
                let _ = writeln!(s, "      {:<w$}  fix: {}", "", c.fix);
            }
        }
        let fails = self.failures();
        if fails.is_empty() {
            let _ = writeln!(s, "can trade: YES");
        } else {
            let _ = writeln!(s, "can trade: NO ({} reason(s))", fails.len());
            for c in fails {
                let _ = writeln!(s, "  - {}: {}", c.name, c.detail);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_verdict() {
        let mut r = Report::default();
        r.push(Check::ok("config", "valid"));
        r.push(Check::warn("open_files", "1024", "raise it"));
        assert!(r.can_trade());
        let t = r.render();
        assert!(t.contains("OK    config      valid"), "{t}");
        assert!(t.contains("WARN  open_files  1024\n"), "{t}");
        assert!(t.contains("fix: raise it"), "{t}");
        assert!(t.ends_with("can trade: YES\n"), "{t}");
        r.push(Check::fail("binance.rest", "refused", "check the network"));
        assert!(!r.can_trade());
        let t = r.render();
        assert!(
            t.contains("can trade: NO (1 reason(s))\n  - binance.rest: refused\n"),
            "{t}"
        );
    }
}
