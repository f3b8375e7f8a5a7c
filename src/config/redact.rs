//! Secrets kept out of every printed or logged config: a password in a URL's
//! user-info (`redis://user:pw@host` -> `redis://user:***@host`), a secret
//! query parameter (`?password=`, `token=`, `key=`, `secret=`, ...), and any
//! key whose name says it holds a secret (`*password`, `*secret`, `*token`,
//! `*api_key`, `*passphrase`; not the `*_env` keys, which only name a
//! variable). `check-config` prints [`super::Config::to_toml_redacted`].

/// The mask written in place of a secret.
pub const MASK: &str = "***";

const SECRET_PARAMS: [&str; 9] = [
    "password",
    "pass",
    "pwd",
    "token",
    "secret",
    "key",
    "apikey",
    "api_key",
    "signature",
];

const SECRET_KEY_SUFFIXES: [&str; 6] = [
    "password",
    "secret",
    "token",
    "api_key",
    "apikey",
    "passphrase",
];

/// `url` with the password of its user-info and secret query values masked;
/// anything that is not a `scheme://` URL is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return url.to_string();
    }
    // Authority ends at the first '/', '?' or '#'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, pw)) if !pw.is_empty() => format!("{user}:{MASK}@{host}"),
            _ => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, frag) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, v))
                        if !v.is_empty()
                            && SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) =>
                    {
                        format!("{k}={MASK}")
                    }
                    _ => kv.to_string(),
                })
                .collect();
            let mut t = format!("{path}?{}", q.join("&"));
            if let Some(f) = frag {
                t.push('#');
                t.push_str(f);
            }
            t
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Whether a config key's name says its value is a secret.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !k.ends_with("_env") && SECRET_KEY_SUFFIXES.iter().any(|s| k.ends_with(s))
}

/// Masks every secret in a TOML tree (see the module doc).
pub fn redact_toml(v: &mut toml::Value) {
    match v {
        toml::Value::String(s) if s.contains("://") => {
            *s = redact_url(s);
        }
        toml::Value::Array(a) => a.iter_mut().for_each(redact_toml),
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if is_secret_key(k)
                    && let toml::Value::String(s) = v
                    && !s.is_empty()
                {
                    *s = MASK.to_string();
                    continue;
                }
                redact_toml(v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_and_secret_params_are_masked() {
        for (url, want) in [
            (
                "redis://:s3cret@10.0.0.5:6379/0",
                "redis://:***@10.0.0.5:6379/0",
            ),
            (
                "rediss://app:s3cret@redis.example:6380",
                "rediss://app:***@redis.example:6380",
            ),
            ("redis://127.0.0.1:6379/2", "redis://127.0.0.1:6379/2"),
            ("redis://user@host/1", "redis://user@host/1"),
            ("redis://a:b:c@h/0", "redis://a:***@h/0"),
            (
                "wss://x.example/ws?token=abc&stream=1#f",
                "wss://x.example/ws?token=***&stream=1#f",
            ),
            ("https://h/p?API_KEY=k&x=", "https://h/p?API_KEY=***&x="),
            ("not a url", "not a url"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn secret_keys_are_masked_and_env_names_kept() {
        let mut v: toml::Value = toml::from_str(
            "[a]\nurl = \"redis://:pw1@h:1/0\"\nurl_env = \"QT_REDIS_URL\"\n\
             api_key_env = \"K\"\nadmin_password = \"pw2\"\n[[b]]\ntoken = \"pw3\"\nlist = [\"redis://:pw4@h\"]\n",
        )
        .unwrap();
        redact_toml(&mut v);
        let out = toml::to_string(&v).unwrap();
        for pw in ["pw1", "pw2", "pw3", "pw4"] {
            assert!(!out.contains(pw), "{pw} leaked: {out}");
        }
        assert!(
            out.contains("QT_REDIS_URL") && out.contains("api_key_env = \"K\""),
            "{out}"
        );
    }
}
