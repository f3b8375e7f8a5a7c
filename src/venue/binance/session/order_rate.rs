//! The account's order-rate limits (Binance: `exchangeInfo.rateLimits`,
//! `rateLimitType` ORDERS, 300 per 10 s and 1200 per minute as of
//! protocols.md; read from the venue at start, those until it answers),
//! acted on before the venue's `-1015 Too many new orders` can come.
//!
//! Per window the gate counts the orders this session sent (send times,
//! bounded by the limit) and takes the venue's own count from the
//! `X-MBX-ORDER-COUNT-10S` / `-1M` reply headers (which also see other
//! clients of the account): the larger of the two, plus what was sent
//! since the header came, is the window's count. An order is admitted
//! while every window's count stays below `limit − MARGIN`; when the last
//! admitted order fills a window, order traffic stops until that window
//! rolls (the venue gate's `order_rate_paused_until_ms`: risk SKIPs
//! `venue_order_rate`). A venue count is trusted for one whole window (its
//! orders' own times are unknown), so it can only stop traffic longer,
//! never shorter, than the venue would.

use super::Ctx;
use std::collections::VecDeque;

/// Reads the limits from the venue's `exchangeInfo` (bounded by the order
/// timeout; Binance's defaults stay when it does not answer: logged), and
/// the traded symbols' `quoteAsset` for the desk (the symbol's suffix
/// until then: `venue::quote_asset`).
pub(super) async fn load_limits(c: &Ctx) {
    let body = tokio::time::timeout(c.t.order_timeout, super::api::exchange_info(&c.client))
        .await
        .map_err(|_| "no answer in time".to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    if let Ok(b) = &body {
        let quotes = parse_quote_assets(b);
        let mut desk = c.desk.lock();
        for (sym, quote) in quotes {
            if let Some(i) = c.syms.get(&sym) {
                if desk.quote_asset(i.id) != Some(quote.as_str()) {
                    tracing::info!(symbol = %sym, quote = %quote, "binance quote asset from exchangeInfo");
                }
                desk.set_quote_asset(i.id, &quote);
            }
        }
    }
    let fetched = body.and_then(|body| parse_limits(&body));
    match fetched {
        Ok(limits) => {
            tracing::info!(
                ?limits,
                "binance order-rate limits (window ms, orders) from exchangeInfo"
            );
            c.rate.lock().set_limits(&limits);
        }
        Err(e) => {
            c.m.stream("exchange_info_failed");
            tracing::warn!(
                "binance order-rate limits not read ({e}): keeping {:?} (window ms, orders)",
                DEFAULT_LIMITS
            );
        }
    }
}

/// Orders kept below each limit (stop at `limit − MARGIN`).
pub const MARGIN: u64 = 1;

/// Binance's limits when `exchangeInfo` has not answered (protocols.md):
/// (window ms, orders).
pub const DEFAULT_LIMITS: [(u64, u64); 2] = [(10_000, 300), (60_000, 1200)];

/// One ORDERS window.
#[derive(Debug, Clone)]
struct Window {
    ms: u64,
    limit: u64,
    /// Send times (Unix ms) of our orders within the window, oldest first.
    sent: VecDeque<u64>,
    /// The venue's count and when it said so.
    venue: Option<(u64, u64)>,
}

impl Window {
    fn cap(&self) -> u64 {
        self.limit.saturating_sub(MARGIN).max(1)
    }

    fn prune(&mut self, now: u64) {
        while self.sent.front().is_some_and(|t| t + self.ms <= now) {
            self.sent.pop_front();
        }
        if self.venue.is_some_and(|(_, at)| at + self.ms <= now) {
            self.venue = None;
        }
    }

    /// The window's count now (after `prune`).
    fn count(&self) -> u64 {
        let local = self.sent.len() as u64;
        match self.venue {
            Some((n, at)) => {
                let since = self.sent.iter().filter(|t| **t > at).count() as u64;
                local.max(n + since)
            }
            None => local,
        }
    }

    /// When the count drops below the cap again (Unix ms).
    fn rolls_at(&self) -> u64 {
        let cap = self.cap() as usize;
        let local = if self.sent.len() >= cap {
            self.sent[self.sent.len() - cap] + self.ms
        } else {
            0
        };
        let venue = self.venue.map_or(0, |(_, at)| at + self.ms);
        local.max(venue)
    }
}

/// The gate (see the module doc).
#[derive(Debug, Clone)]
pub struct OrderRate {
    windows: Vec<Window>,
}

impl Default for OrderRate {
    fn default() -> Self {
        OrderRate::new(&DEFAULT_LIMITS)
    }
}

impl OrderRate {
    /// Windows of `(ms, limit)`; zero entries are left out.
    pub fn new(limits: &[(u64, u64)]) -> OrderRate {
        OrderRate {
            windows: limits
                .iter()
                .filter(|(ms, l)| *ms > 0 && *l > 0)
                .map(|&(ms, limit)| Window {
                    ms,
                    limit,
                    sent: VecDeque::with_capacity(limit.min(4096) as usize),
                    venue: None,
                })
                .collect(),
        }
    }

    /// The limits in force: (window ms, orders).
    pub fn limits(&self) -> Vec<(u64, u64)> {
        self.windows.iter().map(|w| (w.ms, w.limit)).collect()
    }

    /// Replaces the limits (the venue's `exchangeInfo`), keeping what was
    /// counted for windows of the same length.
    pub fn set_limits(&mut self, limits: &[(u64, u64)]) {
        let mut next = OrderRate::new(limits);
        for w in &mut next.windows {
            if let Some(old) = self.windows.iter().find(|o| o.ms == w.ms) {
                w.sent = old.sent.clone();
                w.venue = old.venue;
            }
        }
        *self = next;
    }

    /// Admits one order at `now` (and counts it), or says until when no
    /// order may go (`Err(until_ms)`).
    pub fn admit(&mut self, now: u64) -> Result<(), u64> {
        let mut until = None;
        for w in &mut self.windows {
            w.prune(now);
            if w.count() + 1 > w.cap() {
                until = Some(until.unwrap_or(0).max(w.rolls_at()));
            }
        }
        if let Some(u) = until {
            return Err(u.max(now + 1));
        }
        for w in &mut self.windows {
            if w.sent.len() as u64 >= w.limit {
                w.sent.pop_front();
            }
            w.sent.push_back(now);
        }
        Ok(())
    }

    /// The venue's counts from an order reply: `(window ms, count)`.
    pub fn on_counts(&mut self, counts: &[(u64, u64)], now: u64) {
        for &(ms, n) in counts {
            if let Some(w) = self.windows.iter_mut().find(|w| w.ms == ms) {
                w.prune(now);
                // The count stands for the whole window from now (its
                // orders' own times are unknown).
                w.venue = Some((n, now));
            }
        }
    }

    /// Until when no order may go, if a window is full now.
    pub fn full_until(&mut self, now: u64) -> Option<u64> {
        let mut until = None;
        for w in &mut self.windows {
            w.prune(now);
            if w.count() + 1 > w.cap() {
                until = Some(until.unwrap_or(0).max(w.rolls_at()));
            }
        }
        until
    }
}

/// `(symbol, quoteAsset)` of every `exchangeInfo` symbol that states a
/// well-formed quote asset (none for an unreadable body).
pub fn parse_quote_assets(body: &[u8]) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sym {
        symbol: String,
        #[serde(default)]
        quote_asset: String,
    }
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(default)]
        symbols: Vec<Sym>,
    }
    let Ok(info) = serde_json::from_slice::<Info>(body) else {
        return Vec::new();
    };
    info.symbols
        .into_iter()
        .filter(|s| crate::core::FeeAsset::other(&s.quote_asset).is_ok())
        .map(|s| (s.symbol, s.quote_asset))
        .collect()
}

/// The ORDERS limits of an `exchangeInfo` body: `(window ms, orders)`.
pub fn parse_limits(body: &[u8]) -> Result<Vec<(u64, u64)>, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Limit {
        rate_limit_type: String,
        interval: String,
        interval_num: u64,
        limit: u64,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Info {
        rate_limits: Vec<Limit>,
    }
    let info: Info = serde_json::from_slice(body).map_err(|e| format!("exchangeInfo: {e}"))?;
    let mut out = Vec::new();
    for l in info.rate_limits {
        if l.rate_limit_type != "ORDERS" {
            continue;
        }
        let unit: u64 = match l.interval.as_str() {
            "SECOND" => 1_000,
            "MINUTE" => 60_000,
            "HOUR" => 3_600_000,
            "DAY" => 86_400_000,
            other => {
                return Err(format!(
                    "exchangeInfo: ORDERS interval `{}`",
                    other.chars().take(16).collect::<String>()
                ));
            }
        };
        let ms = l
            .interval_num
            .checked_mul(unit)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| format!("exchangeInfo: intervalNum {}", l.interval_num))?;
        if l.limit == 0 {
            return Err("exchangeInfo: ORDERS limit 0".into());
        }
        out.push((ms, l.limit));
    }
    if out.is_empty() {
        return Err("exchangeInfo: no ORDERS rate limit".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_below_limit_minus_margin_then_stops_until_the_window_rolls() {
        let mut g = OrderRate::new(&[(10_000, 5), (60_000, 100)]);
        for t in 0..4 {
            assert_eq!(g.admit(1_000 + t), Ok(()), "order {t}");
        }
        // 4 = limit − 1 sent: full until the first leaves its window.
        assert_eq!(g.full_until(1_010), Some(11_000));
        assert_eq!(g.admit(1_010), Err(11_000));
        assert_eq!(g.admit(10_999), Err(11_000));
        assert_eq!(g.admit(11_000), Ok(()));
        // The minute window: 100 − 1 orders at most per minute.
        let mut g = OrderRate::new(&[(10_000, 1_000), (60_000, 10)]);
        for t in 0..9 {
            assert_eq!(g.admit(t * 1_000), Ok(()));
        }
        assert_eq!(g.admit(9_000), Err(60_000));
        assert_eq!(g.admit(60_000), Ok(()));
    }

    #[test]
    fn the_venues_count_stops_orders_others_sent() {
        let mut g = OrderRate::new(&[(10_000, 5)]);
        assert_eq!(g.admit(0), Ok(()));
        // The venue counts 4 (another client of the account sent 3).
        g.on_counts(&[(10_000, 4)], 100);
        assert_eq!(g.full_until(100), Some(10_100));
        assert_eq!(g.admit(200), Err(10_100));
        assert_eq!(g.admit(10_100), Ok(()));
        // A count for a window the gate does not have changes nothing.
        g.on_counts(&[(60_000, 1_000)], 10_200);
        assert_eq!(g.full_until(10_200), None);
    }

    #[test]
    fn quote_assets_come_from_exchange_info() {
        const SAMPLE: &str = "binance/futures_exchangeInfo_excerpt_BTCUSDT_ETHUSDT_2021-07-22.json";
        match crate::venue::samples::samples_dir() {
            Some(d) => {
                let path = d.join(SAMPLE);
                let body =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let q = parse_quote_assets(&body);
                assert!(q.contains(&("BTCUSDT".into(), "USDT".into())), "{q:?}");
                assert!(q.contains(&("ETHUSDT".into(), "USDT".into())), "{q:?}");
            }
            None => crate::venue::samples::absent(
                "exchangeInfo quote assets",
                std::path::Path::new(SAMPLE),
            ),
        }
        let body = br#"{"symbols":[{"symbol":"BTCUSDC","quoteAsset":"USDC"},{"symbol":"X","quoteAsset":"bad asset"},{"symbol":"Y"}]}"#;
        assert_eq!(
            parse_quote_assets(body),
            vec![("BTCUSDC".to_string(), "USDC".to_string())]
        );
        assert!(parse_quote_assets(b"not json").is_empty());
    }

    #[test]
    fn limits_come_from_exchange_info() {
        let body = br#"{"rateLimits":[
            {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400},
            {"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200},
            {"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300}]}"#;
        assert_eq!(
            parse_limits(body).unwrap(),
            vec![(60_000, 1200), (10_000, 300)]
        );
        for bad in [
            r#"{"rateLimits":[]}"#,
            r#"{"rateLimits":[{"rateLimitType":"ORDERS","interval":"FORTNIGHT","intervalNum":1,"limit":1}]}"#,
            r#"{"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":0,"limit":1}]}"#,
            r#"{"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":1,"limit":0}]}"#,
            r#"{"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":-1,"limit":1}]}"#,
            "not json",
        ] {
            assert!(parse_limits(bad.as_bytes()).is_err(), "{bad}");
        }
        let mut g = OrderRate::default();
        assert_eq!(g.limits(), DEFAULT_LIMITS.to_vec());
        assert_eq!(g.admit(0), Ok(()));
        g.set_limits(&[(10_000, 2)]);
        assert_eq!(g.limits(), vec![(10_000, 2)]);
        // What was counted for the 10 s window stays counted.
        assert_eq!(g.admit(1), Err(10_000));
    }
}
