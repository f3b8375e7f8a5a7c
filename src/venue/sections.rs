//! `[venues]` typed: config keeps every `[venues.<name>]` section
//! type-erased (`config::VenuesConfig`); here each raw section is parsed
//! strictly into its venue's typed section by the adapter the registry lists
//! under that name (key paths in every error: `venues.binance.depth_speed_ms`),
//! and a name no adapter claims is an unknown field at `venues.<name>`. The
//! config loaders (`Config::from_toml`, `Config::load`, `Config::demo`) live
//! here because loading needs the sections' types: parse, type, validate.

use super::registry::{ADAPTERS, accepted_names};
use crate::config::{AnySection, Config, ConfigError, DEMO_TOML, VenuesConfig};
use crate::core::Venue;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses one raw section at `path` into its typed section `T`, strictly
/// (unknown keys and wrong types are errors at their key path).
pub fn parse<T: AnySection + DeserializeOwned>(
    raw: toml::Value,
    path: &str,
) -> Result<Box<dyn AnySection>, ConfigError> {
    serde_path_to_error::deserialize::<_, T>(raw)
        .map(|t| Box::new(t) as Box<dyn AnySection>)
        .map_err(|e| ConfigError::from_serde(path, e))
}

/// Types every raw section of `v` through the adapter named like it.
pub fn type_sections(v: &mut VenuesConfig) -> Result<(), ConfigError> {
    for (name, raw) in v.take_raw() {
        let path = format!("venues.{name}");
        let Some(a) = ADAPTERS.iter().find(|a| a.venue().as_str() == name) else {
            let expected: Vec<String> = accepted_names()
                .into_iter()
                .map(|n| format!("`{n}`"))
                .collect();
            return Err(ConfigError::new(
                path,
                format!(
                    "unknown field `{name}`, expected one of {}",
                    expected.join(", ")
                ),
            ));
        };
        let typed = a.parse_section(raw, &path)?;
        v.put(&name, typed);
    }
    Ok(())
}

impl VenuesConfig {
    /// Sets `key` of `venue`'s section to `value` without naming the
    /// section's type (tools and benches tune a venue's own keys this way):
    /// the section is rendered, changed and parsed again, strictly.
    pub fn set(&mut self, venue: Venue, key: &str, value: toml::Value) -> Result<(), ConfigError> {
        let name = venue.as_str();
        let path = format!("venues.{name}");
        let Some(s) = self.typed(name) else {
            return Err(ConfigError::new(path, "no such section"));
        };
        let mut raw = s
            .to_value()
            .map_err(|e| ConfigError::new(&path, e.to_string()))?;
        let Some(t) = raw.as_table_mut() else {
            return Err(ConfigError::new(path, "not a table"));
        };
        t.insert(key.to_string(), value);
        let typed = super::registry::adapter(venue).parse_section(raw, &path)?;
        self.put(name, typed);
        Ok(())
    }
}

impl Config {
    /// Parses TOML text, types every `[venues.<name>]` section and validates.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::parse_untyped(text)?;
        type_sections(&mut cfg.venues)?;
        crate::config::validate(&cfg)?;
        Ok(cfg)
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::from_toml(&Config::read_file(path)?)
    }

    /// The embedded demo config.
    pub fn demo() -> Config {
        match Self::from_toml(DEMO_TOML) {
            Ok(c) => c,
            Err(e) => panic!("embedded demo config is invalid: {e}"),
        }
    }
}
