//! `quantum-trader healthcheck [--url URL]`: asks a running engine's `/ready`
//! and turns the answer into an exit status (0 ready, 1 anything else), so a
//! supervisor or container health check needs no curl or wget.

use std::time::Duration;

/// The default URL: the default `[ops] listen`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9898/ready";

/// How long the request may take in all.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches `url`; `Ok(line)` when it answered 200, `Err(line)` otherwise
/// (not ready with its reasons, another status, or unreachable).
pub fn check(url: &str) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("healthcheck: {e}"))?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| format!("healthcheck: {e}"))?;
        let r = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("unreachable: {url}: {e}"))?;
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        let reasons: Vec<&str> = body["reasons"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        match status {
            200 => Ok(format!("ready ({url})")),
            503 => Err(format!("not ready: {}", reasons.join(", "))),
            s => Err(format!("unexpected HTTP {s} from {url}")),
        }
    })
}
