//! The admin bearer token that guards every state-changing API call (risk
//! commands, model reload, test hooks): read once from the environment
//! variable `admin.token_env` names, compared in constant time.

use std::sync::OnceLock;

#[derive(Default)]
pub struct AdminToken {
    /// (name of the environment variable, its value when set and non-empty).
    token: OnceLock<(String, Option<String>)>,
}

impl AdminToken {
    /// Sets the admin token from environment variable `env` (once).
    pub fn load_token(&self, env: &str) {
        let v = std::env::var(env).ok().filter(|v| !v.trim().is_empty());
        let _ = self.token.set((env.to_string(), v));
    }

    /// Checks an `Authorization` header value against the token.
    pub fn authorize(&self, header: Option<&str>) -> Result<(), String> {
        let token = match self.token.get() {
            Some((_, Some(t))) => t,
            Some((env, None)) if !env.is_empty() => {
                return Err(format!(
                    "admin token not configured: set {env} to enable state-changing calls"
                ));
            }
            _ => {
                return Err(
                    "admin token not configured: set admin.token_env and that variable".into(),
                );
            }
        };
        let given = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !given.is_empty() && constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err("missing or wrong bearer token (Authorization: Bearer <token>)".into())
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_required_and_compared() {
        let c = AdminToken::default();
        assert!(c.authorize(Some("Bearer x")).is_err(), "no token loaded");
        c.load_token("QT_TEST_CONTROL_TOKEN_SURELY_UNSET");
        let e = c.authorize(Some("Bearer x")).unwrap_err();
        assert!(e.contains("QT_TEST_CONTROL_TOKEN_SURELY_UNSET"), "{e}");
        let c = AdminToken::default();
        let _ = c.token.set(("T".into(), Some("abc".into())));
        assert!(c.authorize(Some("Bearer abc")).is_ok());
        assert!(c.authorize(Some("Bearer abd")).is_err());
        assert!(c.authorize(Some("abc")).is_err());
        assert!(c.authorize(None).is_err());
    }
}
