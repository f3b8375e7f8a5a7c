//! The one list of venues: each venue's config section (in
//! [`VenuesConfig`]) and its adapter (in [`ADAPTERS`]), one line each. The
//! engine, the doctor, the recorder and the config checks reach a venue only
//! through here. Adding a venue: `docs/adding-a-venue.md`.

use super::adapter::{Common, CommonMut, VenueAdapter};
use super::{binance, bybit, okx};
use crate::core::Venue;

pub use super::sections::VenuesConfig;

/// Every venue's adapter, in [`Venue`] order (`ADAPTERS[v as usize]` is v's).
pub static ADAPTERS: [&dyn VenueAdapter; Venue::COUNT] = [
    &binance::adapter::BinanceAdapter,
    &bybit::adapter::BybitAdapter,
    &okx::adapter::OkxAdapter,
];

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

    #[test]
    fn adapters_are_in_venue_order() {
        for v in Venue::ALL {
            assert_eq!(adapter(v).venue(), v);
        }
    }
}
