//! Instruments from the venues' REST instruments endpoints, loaded at
//! startup for venues with `instruments_from_rest = true`: Bybit
//! `GET /v5/market/instruments-info?category=linear` (paginated with
//! `cursor`) and OKX `GET /api/v5/public/instruments?instType=SWAP`. Each
//! configured instrument of such a venue gets the venue's tick size, lot
//! size (OKX: `lotSz x ctVal x ctMult`, the base-asset lot), min notional
//! and contract value; an instrument the venue does not list is an error.
//! Which venues load and from which endpoint is each adapter's
//! (`VenueAdapter::fetch_instruments`); the parsers are here.

use crate::config::Config;
use crate::core::Venue;
use crate::core::fixed::{decimals_of, format_decimal, parse_decimal};
use crate::venue::registry;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::time::Duration;

/// One instrument as a venue's REST endpoint describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestInstrument {
    pub symbol: String,
    pub tick_size: String,
    /// Base-asset lot.
    pub lot_size: String,
    pub min_notional: f64,
    /// Base asset per contract (OKX); empty for base-quantity venues.
    pub contract_value: String,
    /// The venue's trading state as it spells it (Bybit `status`, e.g.
    /// `Trading`; OKX `state`, e.g. `live`); empty when absent.
    pub status: String,
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str())
}

/// Exact product of two decimal strings.
pub fn mul_decimal(a: &str, b: &str) -> Option<String> {
    let (da, db) = (decimals_of(a), decimals_of(b));
    let x = parse_decimal(a.as_bytes(), da).ok()?;
    let y = parse_decimal(b.as_bytes(), db).ok()?;
    let p = x.checked_mul(y)?;
    let scale = da + db;
    if scale > 18 {
        return None;
    }
    // Drop trailing zeros of the fraction (keep the string minimal).
    let mut out = format_decimal(p, scale);
    if out.contains('.') {
        while out.ends_with('0') {
            out.pop();
        }
        if out.ends_with('.') {
            out.pop();
        }
    }
    Some(out)
}

/// A Bybit instruments-info body: its instruments and the next page cursor.
pub fn parse_bybit(body: &[u8]) -> Result<(Vec<RestInstrument>, String)> {
    let v: Value = serde_json::from_slice(body).context("instruments-info is not JSON")?;
    match v.get("retCode").and_then(|c| c.as_i64()) {
        Some(0) => {}
        Some(c) => bail!("bybit retCode {c}: {}", s(&v, "retMsg").unwrap_or("")),
        None => bail!("bybit instruments-info without retCode"),
    }
    let r = v.get("result").context("missing result")?;
    let mut out = Vec::new();
    for i in r
        .get("list")
        .and_then(|l| l.as_array())
        .context("missing result.list")?
    {
        let sym = s(i, "symbol").context("instrument without symbol")?;
        let pf = i.get("priceFilter").context("missing priceFilter")?;
        let lf = i.get("lotSizeFilter").context("missing lotSizeFilter")?;
        out.push(RestInstrument {
            symbol: sym.to_string(),
            tick_size: s(pf, "tickSize").context("missing tickSize")?.to_string(),
            lot_size: s(lf, "qtyStep").context("missing qtyStep")?.to_string(),
            min_notional: s(lf, "minNotionalValue")
                .and_then(|x| x.parse().ok())
                .unwrap_or(0.0),
            contract_value: String::new(),
            status: s(i, "status").unwrap_or("").to_string(),
        });
    }
    Ok((out, s(r, "nextPageCursor").unwrap_or("").to_string()))
}

/// An OKX public/instruments body.
pub fn parse_okx(body: &[u8]) -> Result<Vec<RestInstrument>> {
    let v: Value = serde_json::from_slice(body).context("instruments body is not JSON")?;
    match s(&v, "code") {
        Some("0") => {}
        Some(c) => bail!("okx code {c}: {}", s(&v, "msg").unwrap_or("")),
        None => bail!("okx instruments without code"),
    }
    let mut out = Vec::new();
    for i in v
        .get("data")
        .and_then(|d| d.as_array())
        .context("missing data")?
    {
        let sym = s(i, "instId").context("instrument without instId")?;
        let ct = s(i, "ctVal").filter(|x| !x.is_empty()).unwrap_or("1");
        let mult = s(i, "ctMult").filter(|x| !x.is_empty()).unwrap_or("1");
        let ctv = mul_decimal(ct, mult).context("bad ctVal/ctMult")?;
        let lot = s(i, "lotSz").context("missing lotSz")?;
        out.push(RestInstrument {
            symbol: sym.to_string(),
            tick_size: s(i, "tickSz").context("missing tickSz")?.to_string(),
            lot_size: mul_decimal(lot, &ctv).context("bad lotSz")?,
            min_notional: 0.0,
            contract_value: ctv,
            status: s(i, "state").unwrap_or("").to_string(),
        });
    }
    Ok(out)
}

/// True when some enabled venue loads its instruments over REST.
pub fn wanted(cfg: &Config) -> bool {
    registry::ADAPTERS
        .iter()
        .any(|a| a.instruments_from_rest(&cfg.venues))
}

/// GET `url`; the body of a 2xx answer, else an error with the status.
pub(crate) async fn get(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let r = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = r.status();
    let body = r.bytes().await.with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!(
            "GET {url}: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
    }
    Ok(body.to_vec())
}

async fn fetch_venue(venue: Venue, rest: &str) -> Result<Vec<RestInstrument>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("http client")?;
    registry::adapter(venue)
        .fetch_instruments(&client, rest)
        .await
}

/// Fetches the instruments of every venue with `instruments_from_rest` and
/// writes them into the config's `[[instruments]]`; then re-validates.
pub fn load_into(cfg: &mut Config) -> Result<()> {
    let jobs: Vec<(Venue, String)> = registry::ADAPTERS
        .iter()
        .filter(|a| a.instruments_from_rest(&cfg.venues))
        .filter_map(|a| {
            let c = a.section(&cfg.venues)?;
            Some((a.venue(), c.rest_url.to_string()))
        })
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    // A private runtime on its own thread: callers may be inside one.
    let fetched = std::thread::spawn(move || -> Result<Vec<(Venue, Vec<RestInstrument>)>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("runtime")?;
        rt.block_on(async {
            let mut out = Vec::new();
            for (v, url) in jobs {
                let list = fetch_venue(v, &url)
                    .await
                    .with_context(|| format!("loading {v} instruments from {url}"))?;
                out.push((v, list));
            }
            Ok(out)
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("instrument loader panicked"))??;
    for (venue, list) in fetched {
        for ic in cfg.instruments.iter_mut().filter(|i| i.venue == venue) {
            let Some(r) = list.iter().find(|r| r.symbol == ic.symbol) else {
                bail!("{venue} does not list instrument `{}`", ic.symbol);
            };
            ic.tick_size = r.tick_size.clone();
            ic.lot_size = r.lot_size.clone();
            ic.min_notional = r.min_notional;
            ic.contract_value = r.contract_value.clone();
            tracing::info!(
                venue = venue.as_str(),
                symbol = ic.symbol,
                tick = ic.tick_size,
                lot = ic.lot_size,
                ct_val = ic.contract_value,
                "instrument loaded from REST"
            );
        }
    }
    crate::config::validate(cfg)
        .map_err(|e| anyhow::anyhow!("after loading instruments from REST: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_products() {
        assert_eq!(mul_decimal("0.01", "1").as_deref(), Some("0.01"));
        assert_eq!(mul_decimal("0.1", "0.01").as_deref(), Some("0.001"));
        assert_eq!(mul_decimal("1", "100").as_deref(), Some("100"));
        assert_eq!(mul_decimal("x", "1"), None);
    }
}
