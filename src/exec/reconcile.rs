//! Reconciliation, venue-agnostic and pure: what the venue says (open
//! orders, positions, balances, its clock) against what the journal says
//! (open orders by client id, positions), and what follows. Used at start,
//! before the first order, and periodically while running (same function;
//! [`Schedule`] says when). The venue's fetch lives in its folder under
//! `venue/` and fills a [`VenueSnapshot`].
//!
//! Rules:
//! - an open order the venue has and the journal has too is **matched**
//!   (tracked once; a fill the journal missed is a `fill` discrepancy);
//! - an open order the venue has and the journal lacks is **adopted** or
//!   put **to cancel**, by policy (`trading.adopt_unknown_orders`); an
//!   order carrying another engine's client id prefix is **foreign** and
//!   left alone (engines sharing one account);
//! - an order the journal has open and the venue does not list is
//!   **missing**: never assumed gone, it is to be queried by client id;
//! - positions take the venue's value; every difference is a `position`
//!   discrepancy.
//!
//! Nothing is duplicated (each venue order lands in exactly one list) and
//! nothing working at the venue is dropped (every open venue order is
//! matched, adopted, to cancel or foreign).

use crate::config::AdoptPolicy;
use crate::core::{InstrumentId, Money, Side, Venue};
use std::collections::{BTreeMap, HashMap};

/// An open order as the venue lists it (scaled at its instrument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueOrder {
    pub client_id: String,
    /// The venue's own order id (as text: venues differ).
    pub venue_order_id: String,
    pub inst: InstrumentId,
    pub symbol: String,
    pub side: Side,
    pub qty: i64,
    pub filled: i64,
    /// Limit price (0 for a market order).
    pub price: i64,
    pub reduce_only: bool,
}

/// A position as the venue states it (signed scaled qty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenuePosition {
    pub inst: InstrumentId,
    pub symbol: String,
    pub qty: i64,
    /// Entry price as the venue writes it.
    pub entry_price: String,
}

/// One asset's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub asset: String,
    pub wallet: Money,
    pub available: Money,
}

/// A trade of ours the venue reports (`userTrades`), for gap fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueTrade {
    pub trade_id: i64,
    pub venue_order_id: String,
    pub inst: InstrumentId,
    pub side: Side,
    pub qty: i64,
    pub price: i64,
    pub fee: Money,
    pub fee_asset: String,
    pub time_ms: i64,
}

/// What the venue said, at one moment.
#[derive(Debug, Clone, Default)]
pub struct VenueSnapshot {
    pub venue: Option<Venue>,
    /// Server clock minus local clock (ms), from the round-trip midpoint.
    pub clock_offset_ms: i64,
    /// The round trip of that measurement (ms).
    pub clock_rtt_ms: i64,
    pub balances: Vec<Balance>,
    /// Every non-zero position of a configured instrument (absent = flat).
    pub positions: Vec<VenuePosition>,
    pub open_orders: Vec<VenueOrder>,
    /// Recent trades; `None` when the venue (or the build) has no such
    /// call: reconciliation then works on positions alone.
    pub recent_trades: Option<Vec<VenueTrade>>,
    /// Positions the venue listed for symbols that are not configured.
    pub unconfigured_positions: Vec<String>,
}

/// An open order as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownOrder {
    pub client_id: String,
    pub inst: InstrumentId,
    pub side: Side,
    pub qty: i64,
    pub filled: i64,
}

/// What the journal said.
#[derive(Debug, Clone, Default)]
pub struct JournalBook {
    pub open_orders: Vec<KnownOrder>,
    /// Signed position per instrument index (missing = 0).
    pub positions: Vec<i64>,
}

/// A discrepancy kind (`qt_reconcile_discrepancies_total{kind}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An order at the venue the journal lacks, adopted.
    OrderAdopted,
    /// An order at the venue the journal lacks, to be canceled.
    OrderCanceled,
    /// An order the journal has open and the venue does not list.
    OrderMissing,
    /// The venue's filled quantity differs from the journal's.
    Fill,
    /// A position differs.
    Position,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::OrderAdopted,
        Kind::OrderCanceled,
        Kind::OrderMissing,
        Kind::Fill,
        Kind::Position,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderAdopted => "order_adopted",
            Kind::OrderCanceled => "order_canceled",
            Kind::OrderMissing => "order_missing",
            Kind::Fill => "fill",
            Kind::Position => "position",
        }
    }
}

/// One discrepancy, with a line for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub kind: Kind,
    pub inst: Option<InstrumentId>,
    pub client_id: String,
    /// The journal's value and the venue's (qty, scaled).
    pub journal: i64,
    pub venue: i64,
    pub detail: String,
}

/// A position set to the venue's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionFix {
    pub inst: InstrumentId,
    pub journal: i64,
    pub venue: i64,
}

/// The outcome of one comparison.
#[derive(Debug, Clone, Default)]
pub struct Reconciliation {
    /// Open at the venue and in the journal.
    pub matched: Vec<VenueOrder>,
    /// Open at the venue, not in the journal, tracked from now on.
    pub adopted: Vec<VenueOrder>,
    /// Open at the venue, not in the journal, to cancel (policy).
    pub to_cancel: Vec<VenueOrder>,
    /// Open at the venue under another engine's prefix: left alone.
    pub foreign: Vec<VenueOrder>,
    /// Open in the journal, not listed by the venue: query by client id.
    pub missing: Vec<KnownOrder>,
    /// Position per instrument index after reconciliation: the venue's.
    pub positions: Vec<i64>,
    /// Every position that differed.
    pub position_fixes: Vec<PositionFix>,
    pub discrepancies: Vec<Discrepancy>,
}

impl Reconciliation {
    /// Every order to track from now on (matched then adopted).
    pub fn working(&self) -> impl Iterator<Item = &VenueOrder> {
        self.matched.iter().chain(&self.adopted)
    }

    /// Discrepancies per kind.
    pub fn counts(&self) -> BTreeMap<Kind, u64> {
        let mut m = BTreeMap::new();
        for d in &self.discrepancies {
            *m.entry(d.kind).or_insert(0) += 1;
        }
        m
    }
}

/// Whether `client_id` carries another engine's prefix of our id scheme.
fn is_foreign(client_id: &str, prefix: &str) -> bool {
    super::client_id::parse(client_id).is_some_and(|p| p.prefix != prefix)
}

/// Compares `venue` with `journal` for `instruments` instruments. `prefix`
/// is this engine's client id prefix.
pub fn reconcile(
    journal: &JournalBook,
    venue: &VenueSnapshot,
    policy: AdoptPolicy,
    prefix: &str,
    instruments: usize,
) -> Reconciliation {
    let mut r = Reconciliation {
        positions: vec![0; instruments],
        ..Default::default()
    };
    let known: HashMap<&str, &KnownOrder> = journal
        .open_orders
        .iter()
        .map(|k| (k.client_id.as_str(), k))
        .collect();
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for o in &venue.open_orders {
        // The venue lists each order once; a repeat is not a second order.
        if seen.insert(o.client_id.as_str(), ()).is_some() {
            continue;
        }
        if let Some(k) = known.get(o.client_id.as_str()) {
            if k.filled != o.filled {
                r.discrepancies.push(Discrepancy {
                    kind: Kind::Fill,
                    inst: Some(o.inst),
                    client_id: o.client_id.clone(),
                    journal: k.filled,
                    venue: o.filled,
                    detail: format!(
                        "order {} {}: journal filled {}, venue filled {} (the venue's fills are to be fetched)",
                        o.client_id, o.symbol, k.filled, o.filled
                    ),
                });
            }
            r.matched.push(o.clone());
            continue;
        }
        if is_foreign(&o.client_id, prefix) {
            r.foreign.push(o.clone());
            continue;
        }
        let (kind, verb) = match policy {
            AdoptPolicy::Adopt => (Kind::OrderAdopted, "adopted"),
            AdoptPolicy::Cancel => (Kind::OrderCanceled, "to cancel"),
        };
        r.discrepancies.push(Discrepancy {
            kind,
            inst: Some(o.inst),
            client_id: o.client_id.clone(),
            journal: 0,
            venue: o.qty - o.filled,
            detail: format!(
                "order {} ({}) {} {:?} qty {} filled {} at the venue, not in the journal: {verb}",
                o.client_id, o.venue_order_id, o.symbol, o.side, o.qty, o.filled
            ),
        });
        match policy {
            AdoptPolicy::Adopt => r.adopted.push(o.clone()),
            AdoptPolicy::Cancel => r.to_cancel.push(o.clone()),
        }
    }
    for k in &journal.open_orders {
        if !seen.contains_key(k.client_id.as_str()) {
            r.discrepancies.push(Discrepancy {
                kind: Kind::OrderMissing,
                inst: Some(k.inst),
                client_id: k.client_id.clone(),
                journal: k.qty - k.filled,
                venue: 0,
                detail: format!(
                    "order {} open in the journal, not listed by the venue: to query by client id",
                    k.client_id
                ),
            });
            r.missing.push(k.clone());
        }
    }
    for p in &venue.positions {
        if let Some(slot) = r.positions.get_mut(p.inst.idx()) {
            *slot = slot.saturating_add(p.qty);
        }
    }
    for i in 0..instruments {
        let j = journal.positions.get(i).copied().unwrap_or(0);
        let v = r.positions[i];
        if j != v {
            let inst = InstrumentId(i as u16);
            r.position_fixes.push(PositionFix {
                inst,
                journal: j,
                venue: v,
            });
            r.discrepancies.push(Discrepancy {
                kind: Kind::Position,
                inst: Some(inst),
                client_id: String::new(),
                journal: j,
                venue: v,
                detail: format!(
                    "position of instrument {i}: journal {j}, venue {v}: the venue's is taken"
                ),
            });
        }
    }
    r
}

/// The journal's book after `r` was applied: what the next comparison
/// against the same venue state must find identical.
pub fn applied(r: &Reconciliation) -> JournalBook {
    let open_orders = r
        .working()
        .map(|o| KnownOrder {
            client_id: o.client_id.clone(),
            inst: o.inst,
            side: o.side,
            qty: o.qty,
            filled: o.filled,
        })
        // Missing ones stay known until a query settles them.
        .chain(r.missing.iter().cloned())
        .collect();
    JournalBook {
        open_orders,
        positions: r.positions.clone(),
    }
}

/// When the periodic reconciliation is due (`trading.reconcile_interval_secs`;
/// 0 = never). Times in ms of any monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    interval_ms: u64,
    next_ms: u64,
}

impl Schedule {
    /// First due one interval after `now_ms`.
    pub fn new(interval_secs: u64, now_ms: u64) -> Schedule {
        let interval_ms = interval_secs.saturating_mul(1000);
        Schedule {
            interval_ms,
            next_ms: now_ms.saturating_add(interval_ms),
        }
    }

    /// True (and the next one scheduled) when a reconciliation is due. A
    /// late call schedules the next one an interval after `now_ms`: missed
    /// rounds are not run back to back.
    pub fn due(&mut self, now_ms: u64) -> bool {
        if self.interval_ms == 0 || now_ms < self.next_ms {
            return false;
        }
        self.next_ms = now_ms.saturating_add(self.interval_ms);
        true
    }

    /// Ms until the next one (`None`: off).
    pub fn wait_ms(&self, now_ms: u64) -> Option<u64> {
        (self.interval_ms > 0).then(|| self.next_ms.saturating_sub(now_ms))
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
