//! `[venues]`, type-erased: config holds each `[venues.<name>]` section
//! without knowing its type. A freshly parsed section is raw TOML; the venue
//! layer (`venue::sections`, driven by the registry's adapters) parses it
//! strictly into its venue's typed section and puts it back as a
//! [`AnySection`] trait object. Config then checks what it needs through
//! that trait (enabled, symbols, the section's own checks with key paths),
//! so `config` never names a venue type. Also: the contract-value checks of
//! `[[instruments]]`.

use super::{Config, ConfigError};
use crate::core::fixed::{decimals_of, parse_decimal};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{Error as _, SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;

/// What config needs of one typed `[venues.<name>]` section. Implemented by
/// the venue layer's `venue_section!` macro for every venue's section.
pub trait AnySection: Any + fmt::Debug + Send + Sync {
    /// `enabled = true`.
    fn enabled(&self) -> bool;
    /// The venue symbols the section streams.
    fn symbols(&self) -> &[String];
    /// The section's own checks; every error names its key under `path`
    /// (`venues.binance`); `sim`: the built-in simulator stands in for
    /// empty URLs.
    fn check(&self, path: &str, sim: bool) -> Result<(), ConfigError>;
    /// The section as TOML (for `to_toml` and `check-config`).
    fn to_value(&self) -> Result<toml::Value, toml::ser::Error>;
    fn clone_box(&self) -> Box<dyn AnySection>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// One section: raw TOML as parsed, or typed by the venue layer.
enum Slot {
    Raw(toml::Value),
    Typed(Box<dyn AnySection>),
}

impl Clone for Slot {
    fn clone(&self) -> Self {
        match self {
            Slot::Raw(v) => Slot::Raw(v.clone()),
            Slot::Typed(s) => Slot::Typed(s.clone_box()),
        }
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Raw(v) => write!(f, "Raw({v:?})"),
            Slot::Typed(s) => s.fmt(f),
        }
    }
}

/// `[venues]`: one optional section per venue name, in name order.
#[derive(Clone, Debug, Default)]
pub struct VenuesConfig {
    slots: BTreeMap<String, Slot>,
}

impl VenuesConfig {
    /// The names of the sections present (typed or not), in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    /// Takes out the raw (not yet typed) sections, in name order, for the
    /// venue layer to type and put back with [`VenuesConfig::put`].
    pub fn take_raw(&mut self) -> Vec<(String, toml::Value)> {
        let names: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Raw(_)))
            .map(|(n, _)| n.clone())
            .collect();
        names
            .into_iter()
            .filter_map(|n| match self.slots.remove(&n) {
                Some(Slot::Raw(v)) => Some((n, v)),
                _ => None,
            })
            .collect()
    }

    /// Sets the typed section `name`.
    pub fn put(&mut self, name: &str, section: Box<dyn AnySection>) {
        self.slots.insert(name.to_string(), Slot::Typed(section));
    }

    /// Removes section `name` (the venue is then not configured).
    pub fn remove(&mut self, name: &str) {
        self.slots.remove(name);
    }

    /// Keeps only the sections whose name `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.slots.retain(|n, _| keep(n));
    }

    /// The typed section `name`, if present and typed.
    pub fn typed(&self, name: &str) -> Option<&dyn AnySection> {
        match self.slots.get(name) {
            Some(Slot::Typed(s)) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// The typed section of type `T`, if present.
    pub fn get<T: AnySection>(&self) -> Option<&T> {
        self.slots.values().find_map(|s| match s {
            Slot::Typed(s) => s.as_any().downcast_ref::<T>(),
            Slot::Raw(_) => None,
        })
    }

    /// Write access to the typed section of type `T`, if present.
    pub fn get_mut<T: AnySection>(&mut self) -> Option<&mut T> {
        self.slots.values_mut().find_map(|s| match s {
            Slot::Typed(s) => s.as_any_mut().downcast_mut::<T>(),
            Slot::Raw(_) => None,
        })
    }

    /// The enabled typed sections, by name in name order.
    pub fn enabled_sections(&self) -> impl Iterator<Item = (&str, &dyn AnySection)> {
        self.slots.iter().filter_map(|(n, s)| match s {
            Slot::Typed(s) if s.enabled() => Some((n.as_str(), s.as_ref())),
            _ => None,
        })
    }
}

impl Serialize for VenuesConfig {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(self.slots.len()))?;
        for (n, s) in &self.slots {
            match s {
                Slot::Raw(v) => m.serialize_entry(n, v)?,
                Slot::Typed(s) => m.serialize_entry(n, &s.to_value().map_err(S::Error::custom)?)?,
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for VenuesConfig {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = VenuesConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of venue sections")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<VenuesConfig, A::Error> {
                let mut slots = BTreeMap::new();
                while let Some((k, v)) = a.next_entry::<String, toml::Value>()? {
                    slots.insert(k, Slot::Raw(v));
                }
                Ok(VenuesConfig { slots })
            }
        }
        de.deserialize_map(V)
    }
}

/// The `[venues]` checks: at least one venue enabled, each enabled section's
/// own checks (a section still raw was never typed: an error at its path),
/// then the contract values of `[[instruments]]`.
pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    for (name, s) in &c.venues.slots {
        if let Slot::Raw(_) = s {
            return Err(ConfigError::new(
                format!("venues.{name}"),
                "section not parsed by the venue registry (load configs with Config::from_toml)",
            ));
        }
    }
    if c.venues.enabled_sections().next().is_none() {
        return Err(ConfigError::new("venues", "enable at least one venue"));
    }
    for (name, s) in c.venues.enabled_sections() {
        s.check(&format!("venues.{name}"), c.sim.enabled)?;
    }
    for (i, ic) in c.instruments.iter().enumerate() {
        if ic.contract_value.is_empty() {
            continue;
        }
        let p = format!("instruments[{i}].contract_value");
        let d = decimals_of(&ic.contract_value);
        match parse_decimal(ic.contract_value.as_bytes(), d) {
            Ok(v) if v > 0 => {}
            _ => {
                return Err(ConfigError::new(
                    p,
                    format!("`{}` is not a positive decimal", ic.contract_value),
                ));
            }
        }
        // A lot size that is no decimal is reported as itself (its own
        // check comes later), not as a contract value with "more decimals".
        let ld = decimals_of(&ic.lot_size);
        if !matches!(parse_decimal(ic.lot_size.as_bytes(), ld), Ok(v) if v > 0) {
            return Err(ConfigError::new(
                format!("instruments[{i}].lot_size"),
                format!("`{}` is not a positive decimal", ic.lot_size),
            ));
        }
        if d > ld {
            return Err(ConfigError::new(
                p,
                format!(
                    "`{}` has more decimals than lot_size `{}` (lot_size is the base-asset lot: lotSz x ctVal)",
                    ic.contract_value, ic.lot_size
                ),
            ));
        }
    }
    Ok(())
}
