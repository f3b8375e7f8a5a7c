//! The one list of venues: [`ADAPTERS`], one line per venue. A venue's
//! adapter also parses its `[venues.<name>]` section (`venue::sections`
//! types config's type-erased [`VenuesConfig`] through it), so the accepted
//! section names are the adapters' venues. The engine, the doctor, the
//! recorder and the config checks reach a venue only through here. Adding a
//! venue: `docs/adding-a-venue.md`.

use super::adapter::{Common, CommonMut, VenueAdapter};
use super::{binance, bybit, okx};
use crate::core::Venue;

pub use crate::config::VenuesConfig;

/// Every venue's adapter, in [`Venue`] order (`ADAPTERS[v as usize]` is v's).
pub static ADAPTERS: [&dyn VenueAdapter; Venue::COUNT] = [
    &binance::adapter::BinanceAdapter,
    &bybit::adapter::BybitAdapter,
    &okx::adapter::OkxAdapter,
];

/// The `[venues.<name>]` sections config accepts: one per adapter, named
/// like its venue, in venue order.
pub fn accepted_names() -> Vec<&'static str> {
    ADAPTERS.iter().map(|a| a.venue().as_str()).collect()
}

/// The adapter of `v`.
pub fn adapter(v: Venue) -> &'static dyn VenueAdapter {
    ADAPTERS[v.idx()]
}

impl VenuesConfig {
    /// Enabled venues with the shared keys of their section, in venue order.
    pub fn enabled(&self) -> Vec<(Venue, Common<'_>)> {
        ADAPTERS
            .iter()
            .filter_map(|a| {
                a.section(self)
                    .filter(|c| c.enabled)
                    .map(|c| (a.venue(), c))
            })
            .collect()
    }

    /// The shared keys of `v`'s section, if present (enabled or not).
    pub fn section(&self, v: Venue) -> Option<Common<'_>> {
        adapter(v).section(self)
    }

    /// Write access to the shared keys of `v`'s section, if present.
    pub fn section_mut(&mut self, v: Venue) -> Option<CommonMut<'_>> {
        adapter(v).section_mut(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEMO_TOML};

    #[test]
    fn adapters_are_in_venue_order() {
        for v in Venue::ALL {
            assert_eq!(adapter(v).venue(), v);
        }
    }

    #[test]
    fn every_venue_has_exactly_one_adapter() {
        for v in Venue::ALL {
            let n = ADAPTERS.iter().filter(|a| a.venue() == v).count();
            assert_eq!(n, 1, "{} has {n} adapters", v.as_str());
        }
        assert_eq!(ADAPTERS.len(), Venue::ALL.len());
    }

    #[test]
    fn the_accepted_sections_are_the_registrys_venues() {
        let names: Vec<&str> = Venue::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(accepted_names(), names);
        // Each venue's section is parsed by its own adapter: a key no venue
        // has is refused at that venue's key path (in the demo's section,
        // or in a disabled one appended for a venue the demo leaves out).
        for name in &names {
            let head = format!("[venues.{name}]\n");
            let text = if DEMO_TOML.contains(&head) {
                DEMO_TOML.replacen(&head, &format!("{head}qt_no_such_key = 1\n"), 1)
            } else {
                format!("{DEMO_TOML}\n{head}enabled = false\nqt_no_such_key = 1\n")
            };
            let e = Config::from_toml(&text).unwrap_err();
            assert_eq!(e.path, format!("venues.{name}.qt_no_such_key"), "{e}");
            assert!(e.reason.contains("unknown field"), "{e}");
        }
        // A section no adapter claims is an unknown field at its own path,
        // and the error lists what the registry accepts.
        let e = Config::from_toml(&format!("{DEMO_TOML}\n[venues.kraken]\nenabled = true\n"))
            .unwrap_err();
        assert_eq!(e.path, "venues.kraken", "{e}");
        assert!(e.reason.starts_with("unknown field `kraken`"), "{e}");
        for name in &names {
            assert!(e.reason.contains(&format!("`{name}`")), "{e}");
        }
    }

    #[test]
    fn sections_are_typed_and_round_trip() {
        let c = Config::demo();
        assert!(c.venues.names().next().is_some());
        for name in c.venues.names() {
            let v = Venue::parse(name).expect("a venue");
            assert!(c.venues.typed(name).is_some(), "{name}");
            assert!(c.venues.section(v).is_some(), "{name}");
        }
        // Written out and read back: the same sections.
        let again = Config::from_toml(&c.to_toml()).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
        // A venue key set without naming the section's type is checked.
        let mut c = c;
        let e = c
            .venues
            .set(Venue::ALL[0], "qt_no_such_key", toml::Value::Integer(1))
            .unwrap_err();
        assert!(e.path.ends_with(".qt_no_such_key"), "{e}");
        c.venues
            .set(Venue::ALL[0], "stale_after_ms", toml::Value::Integer(1234))
            .unwrap();
        assert_eq!(
            c.venues.section(Venue::ALL[0]).unwrap().stale_after_ms,
            1234
        );
    }
}
