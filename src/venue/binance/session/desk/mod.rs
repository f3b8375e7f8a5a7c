//! The session's order desk: every order the engine handed to the venue,
//! keyed by client order id, with its lifecycle (`exec::lifecycle`), the
//! unknown-outcome watch list (`exec::unknown`), the private events and
//! trades parked until their order or instrument is known, the highest
//! venue trade id seen per instrument, and the reports owed to the exec
//! stage. Every venue fact (REST answer, stream event, gap-fill trade)
//! goes through [`Desk::apply`], so a fill is reported once by trade id
//! whatever brought it, and an order's end once. Finished orders (every
//! fill and the end reported) are kept for late and duplicate events, the
//! newest [`DEFAULT_DONE_KEPT`] (or `done_orders_kept`) of them; older ones
//! are pruned with their venue-id index entries and reported-fill ids. The
//! venue ids of the last pruned ones (four times as many) are remembered
//! with their highest reported trade id, so a REST trade that was already
//! reported is known as such and not parked.
//!
//! A fill's commission goes to exec with the asset it was charged in: the
//! instrument's quote asset (the symbol's, `venue::quote_asset`, replaced by
//! `exchangeInfo`'s `quoteAsset` once read: [`Desk::set_quote_asset`]) or
//! another one (`BNB` with the fee discount), which exec keeps apart from
//! quote PnL.

use super::metrics::SessionMetrics;
use crate::core::{FeeAsset, InstrumentId, Money, OrderStatus, Side};
use crate::exec::gateway::VenueReport;
use crate::exec::lifecycle::{LifeError, LifeEvent, LifeState, VenueOrder};
use crate::exec::refusal::RefusalReason;
use crate::exec::unknown::{Exposure, Resolver, ResolverConfig};
use crate::pipeline::channel::RingTx;
use crate::pipeline::shared::TradingHealth;
use std::collections::{HashMap, HashSet, VecDeque};

mod out;
mod parking;
mod recovered;
#[cfg(test)]
mod tests;
mod view;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
pub use view::DeskOrder;

/// Most events parked at once (the oldest is evicted, counted).
pub const MAX_PARKED: usize = 1024;
/// Most reports held while exec's ring is full.
const MAX_BACKLOG: usize = 65_536;
/// Finished orders kept by default.
pub const DEFAULT_DONE_KEPT: usize = 4_096;

/// Something parked until the desk can apply it.
#[derive(Debug, Clone)]
pub enum Parked {
    /// A private frame for a symbol not in the instrument table.
    Frame(Vec<u8>),
    /// Events for a client id the desk does not know (yet).
    Events {
        client_id: String,
        events: Vec<LifeEvent>,
    },
    /// A REST trade for a venue order id the desk does not know (yet).
    Trade {
        venue_order_id: String,
        inst: InstrumentId,
        event: LifeEvent,
    },
}

/// One order of the engine at the venue.
pub struct Tracked {
    pub coid: u64,
    pub inst: InstrumentId,
    pub side: Side,
    pub order: VenueOrder,
    reported: HashSet<String>,
    fee_wait_since: Option<Instant>,
    accepted_counted: bool,
    done: bool,
    /// When the desk took it (unix ms): its trades are not older.
    since_ms: i64,
}

impl Tracked {
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// See the module doc.
pub struct Desk {
    orders: HashMap<String, Tracked>,
    by_venue_id: HashMap<String, String>,
    pub resolver: Resolver,
    parked: VecDeque<Parked>,
    last_trade: HashMap<InstrumentId, i64>,
    out: RingTx<VenueReport>,
    backlog: VecDeque<VenueReport>,
    m: SessionMetrics,
    /// Finished orders, oldest first (pruned beyond `done_kept`).
    done: VecDeque<String>,
    done_kept: usize,
    /// Venue ids of pruned orders → their highest reported trade id
    /// (oldest first in `pruned_order`, at most 4 × `done_kept`).
    pruned: HashMap<String, i64>,
    pruned_order: VecDeque<String>,
    health: Arc<crate::pipeline::shared::Shared>,
    venue: crate::core::Venue,
    /// How long a fill without commission waits for the report that has it.
    fee_wait: Duration,
    /// Journal-open orders from before this start still to settle
    /// (`recovered`).
    recovered: HashSet<String>,
    /// Per instrument (table index): its quote asset, when known.
    quote_assets: Vec<Option<String>>,
}

impl Desk {
    pub fn new(
        out: RingTx<VenueReport>,
        m: SessionMetrics,
        shared: Arc<crate::pipeline::shared::Shared>,
        venue: crate::core::Venue,
        resolver: ResolverConfig,
        fee_wait: Duration,
    ) -> Desk {
        let quote_assets = shared
            .instruments
            .iter()
            .map(|i| crate::venue::quote_asset(i.venue, &i.symbol))
            .collect();
        Desk {
            quote_assets,
            orders: HashMap::new(),
            by_venue_id: HashMap::new(),
            resolver: Resolver::new(resolver),
            parked: VecDeque::new(),
            last_trade: HashMap::new(),
            out,
            backlog: VecDeque::new(),
            m,
            done: VecDeque::new(),
            done_kept: DEFAULT_DONE_KEPT,
            pruned: HashMap::new(),
            pruned_order: VecDeque::new(),
            health: shared,
            venue,
            fee_wait,
            recovered: HashSet::new(),
        }
    }

    /// Sets `inst`'s quote asset (the venue's `exchangeInfo` says it).
    pub fn set_quote_asset(&mut self, inst: InstrumentId, asset: &str) {
        if let Some(q) = self.quote_assets.get_mut(inst.idx()) {
            *q = Some(asset.to_ascii_uppercase());
        }
    }

    /// `inst`'s quote asset, when known.
    pub fn quote_asset(&self, inst: InstrumentId) -> Option<&str> {
        self.quote_assets.get(inst.idx())?.as_deref()
    }

    /// Keeps the newest `n` finished orders (at least 1).
    pub fn with_done_kept(mut self, n: usize) -> Desk {
        self.done_kept = n.max(1);
        self
    }

    /// Entries of each table: (orders, venue-id index, finished orders,
    /// parked, report backlog, watch list).
    pub fn sizes(&self) -> DeskSizes {
        DeskSizes {
            orders: self.orders.len(),
            venue_ids: self.by_venue_id.len(),
            done: self.done.len(),
            parked: self.parked.len(),
            backlog: self.backlog.len(),
            watched: self.resolver.len(),
        }
    }

    /// Forgets the oldest finished orders beyond `done_kept`.
    fn prune_done(&mut self) {
        while self.done.len() > self.done_kept {
            let Some(cid) = self.done.pop_front() else {
                break;
            };
            self.recovered.remove(&cid);
            if let Some(t) = self.orders.remove(&cid)
                && let Some(v) = t.order.venue_order_id()
            {
                if self.by_venue_id.get(v).is_some_and(|c| *c == cid) {
                    self.by_venue_id.remove(v);
                }
                let last = t
                    .reported
                    .iter()
                    .filter_map(|id| id.parse::<i64>().ok())
                    .max()
                    .unwrap_or(i64::MIN);
                if self.pruned.insert(v.to_string(), last).is_none() {
                    self.pruned_order.push_back(v.to_string());
                }
                while self.pruned_order.len() > self.done_kept.saturating_mul(4) {
                    if let Some(old) = self.pruned_order.pop_front() {
                        self.pruned.remove(&old);
                    }
                }
            }
            self.m.order_pruned();
        }
    }

    fn health(&self) -> &TradingHealth {
        self.health.trading(self.venue)
    }

    /// Registers an order before its request leaves.
    pub fn register(
        &mut self,
        client_id: &str,
        coid: u64,
        inst: InstrumentId,
        side: Side,
        qty: i64,
    ) {
        self.orders.insert(
            client_id.to_string(),
            Tracked {
                coid,
                inst,
                side,
                order: VenueOrder::new(client_id, qty),
                reported: HashSet::new(),
                fee_wait_since: None,
                accepted_counted: false,
                done: false,
                since_ms: crate::core::clock::unix_ms(),
            },
        );
        self.m.order("new");
        self.apply(client_id, &[LifeEvent::Sent]);
        self.retry_parked();
    }

    /// Seeds an order the startup reconciliation found working at the
    /// venue (matched or adopted), so its later fills and end are applied
    /// (and parked events for it released). Its engine sequence is taken
    /// from the id when it is of our scheme, else 0 (placed by hand).
    pub fn adopt(&mut self, o: &crate::exec::reconcile::VenueOrder) {
        if self.orders.contains_key(&o.client_id) {
            return;
        }
        let coid = crate::exec::client_id::parse(&o.client_id).map_or(0, |p| p.seq);
        self.by_venue_id
            .insert(o.venue_order_id.clone(), o.client_id.clone());
        self.orders.insert(
            o.client_id.clone(),
            Tracked {
                coid,
                inst: o.inst,
                side: o.side,
                order: VenueOrder::adopted(&o.client_id, o.qty, o.filled, &o.venue_order_id),
                reported: HashSet::new(),
                fee_wait_since: None,
                accepted_counted: true,
                done: false,
                // Adopted at the session's start: its trades before then
                // were taken by the startup reconciliation.
                since_ms: crate::core::clock::unix_ms(),
            },
        );
        self.retry_parked();
    }

    pub fn get(&self, client_id: &str) -> Option<&Tracked> {
        self.orders.get(client_id)
    }

    pub fn knows(&self, client_id: &str) -> bool {
        self.orders.contains_key(client_id)
    }

    /// The client id of a venue order id, when known.
    pub fn client_of(&self, venue_order_id: &str) -> Option<&str> {
        self.by_venue_id.get(venue_order_id).map(String::as_str)
    }

    /// Orders that may still trade or owe reports (for gap fills).
    pub fn working(&self) -> Vec<(String, InstrumentId)> {
        self.orders
            .iter()
            .filter(|(_, t)| !t.done)
            .map(|(k, t)| (k.clone(), t.inst))
            .collect()
    }

    /// Instruments whose orders miss fills the venue says happened (a
    /// query found them filled) or still wait for a commission, each with
    /// the time (unix ms) the earliest such order was taken: their trades
    /// since then are to be fetched over REST.
    pub fn missing_trades(&self) -> Vec<(InstrumentId, i64)> {
        let mut v: Vec<(InstrumentId, i64)> = Vec::new();
        for t in self
            .orders
            .values()
            .filter(|t| !t.done && (t.order.missing_fill_qty() > 0 || t.fee_wait_since.is_some()))
        {
            match v.iter_mut().find(|(i, _)| *i == t.inst) {
                Some((_, since)) => *since = (*since).min(t.since_ms),
                None => v.push((t.inst, t.since_ms)),
            }
        }
        v.sort_by_key(|(i, _)| i.idx());
        v
    }

    /// A venue trade id seen for `inst` (REST or stream).
    pub fn note_trade(&mut self, inst: InstrumentId, id: i64) {
        let e = self.last_trade.entry(inst).or_insert(id);
        *e = (*e).max(id);
    }

    /// Highest venue trade id seen for `inst`.
    pub fn last_trade(&self, inst: InstrumentId) -> Option<i64> {
        self.last_trade.get(&inst).copied()
    }

    /// The order's placement outcome was lost: it goes on the watch list
    /// and counts as exposure until the venue speaks. Never resent.
    pub fn outcome_unknown(&mut self, client_id: &str, notional: Money, now_ms: u64) {
        let Some(t) = self.orders.get(client_id) else {
            return;
        };
        self.m.unknown_outcome();
        if t.order.state() != LifeState::Pending {
            // The venue already spoke (the stream beat the lost answer):
            // nothing to resolve.
            self.apply(client_id, &[LifeEvent::OutcomeUnknown]);
            return;
        }
        let exposure = Exposure {
            inst: t.inst,
            side: t.side,
            qty: t.order.qty(),
            notional,
        };
        self.resolver.watch(client_id, exposure, now_ms);
        self.apply(client_id, &[LifeEvent::OutcomeUnknown]);
        self.publish_unresolved();
    }

    pub fn publish_unresolved(&self) {
        let n = self.resolver.len();
        self.m.set_unresolved(n);
        let h = self.health();
        h.unresolved_orders.store(n as u64, Ordering::Relaxed);
        let notional: Money = self
            .resolver
            .exposure()
            .values()
            .fold(Money::ZERO, |a, s| a + s.notional);
        h.unresolved_notional.store(notional.0, Ordering::Relaxed);
    }

    /// Events from the private stream for `client_id`: the venue spoke,
    /// so the order leaves the watch list; unknown ids are parked.
    pub fn on_stream(&mut self, client_id: &str, events: Vec<LifeEvent>, now_ms: u64) {
        if !self.orders.contains_key(client_id) {
            self.park(Parked::Events {
                client_id: client_id.to_string(),
                events,
            });
            return;
        }
        if self.resolver.on_stream(client_id, now_ms).is_some() {
            self.publish_unresolved();
        }
        self.apply(client_id, &events);
    }

    /// A trade from REST (`userTrades`) for venue order `venue_order_id`.
    pub fn on_trade(&mut self, venue_order_id: &str, inst: InstrumentId, event: LifeEvent) {
        if let (Some(last), LifeEvent::Fill(f)) = (self.pruned.get(venue_order_id), &event)
            && f.trade_id.parse::<i64>().is_ok_and(|id| id <= *last)
        {
            // A trade of a finished, pruned order, reported before.
            self.m.event("trade_of_pruned_order");
            return;
        }
        match self.by_venue_id.get(venue_order_id).cloned() {
            Some(cid) => self.apply(&cid, &[event]),
            None => self.park(Parked::Trade {
                venue_order_id: venue_order_id.to_string(),
                inst,
                event,
            }),
        }
    }

    /// Applies events to a known order, then reports what changed.
    pub fn apply(&mut self, client_id: &str, events: &[LifeEvent]) {
        self.before_query_answer(client_id, events);
        let mut new_venue_id = false;
        {
            let Some(t) = self.orders.get_mut(client_id) else {
                return;
            };
            for ev in events {
                if let LifeEvent::Ack {
                    venue_order_id: Some(v),
                } = ev
                    && !self.by_venue_id.contains_key(v)
                {
                    self.by_venue_id.insert(v.clone(), client_id.to_string());
                    new_venue_id = true;
                }
                if let LifeEvent::Query(crate::exec::lifecycle::QueryAnswer::Found {
                    venue_order_id: Some(v),
                    ..
                }) = ev
                    && !self.by_venue_id.contains_key(v)
                {
                    self.by_venue_id.insert(v.clone(), client_id.to_string());
                    new_venue_id = true;
                }
                if let LifeEvent::Fill(f) = ev
                    && let Ok(id) = f.trade_id.parse::<i64>()
                {
                    let e = self.last_trade.entry(t.inst).or_insert(id);
                    *e = (*e).max(id);
                }
                let before = t.order.anomalies().contradictions;
                if let Err(e) = t.order.apply(ev) {
                    self.m.anomaly(anomaly_label(&e));
                    tracing::warn!(client_id, "venue event refused: {e}");
                }
                if t.order.anomalies().contradictions > before {
                    self.m.anomaly("contradiction");
                }
            }
        }
        self.settle(client_id);
        if new_venue_id {
            self.retry_parked();
        }
    }

    /// Reports new fills and the order's end to exec.
    fn settle(&mut self, client_id: &str) {
        let now = Instant::now();
        let mut out = Vec::new();
        let Some(t) = self.orders.get_mut(client_id) else {
            return;
        };
        let state = t.order.state();
        if !t.accepted_counted
            && matches!(
                state,
                LifeState::Accepted
                    | LifeState::PartiallyFilled
                    | LifeState::PendingCancel
                    | LifeState::Filled
                    | LifeState::Canceled
                    | LifeState::Expired
            )
        {
            t.accepted_counted = true;
            self.m.order("accepted");
        }
        let mut waiting_fee = false;
        let quote = self
            .quote_assets
            .get(t.inst.idx())
            .and_then(|q| q.as_deref());
        for f in t.order.fills() {
            if t.reported.contains(&f.trade_id) {
                continue;
            }
            let (fee, fee_asset) = match &f.fee {
                Some(fee) => match FeeAsset::of(&fee.asset, quote) {
                    Ok(a) => (fee.amount, a),
                    Err(e) => {
                        // Never taken for the quote: kept apart, named.
                        self.m.anomaly("bad_fee_asset");
                        tracing::warn!(client_id, "fill commission: {e}");
                        (fee.amount, FeeAsset::UNKNOWN)
                    }
                },
                None => {
                    let since = *t.fee_wait_since.get_or_insert(now);
                    if now.duration_since(since) < self.fee_wait {
                        waiting_fee = true;
                        continue;
                    }
                    self.m.anomaly("fee_missing");
                    (Money::ZERO, FeeAsset::QUOTE)
                }
            };
            t.reported.insert(f.trade_id.clone());
            out.push(VenueReport::Fill {
                client_order_id: t.coid,
                inst: t.inst,
                side: t.side,
                px: f.px,
                qty: f.qty,
                fee,
                fee_asset,
            });
        }
        if !waiting_fee {
            t.fee_wait_since = None;
        }
        if !t.done && state.is_terminal() && t.order.missing_fill_qty() == 0 && !waiting_fee {
            t.done = true;
            let (status, reason) = match state {
                LifeState::Filled => (OrderStatus::Filled, None),
                LifeState::Rejected => (OrderStatus::Rejected, t.order.reject_reason()),
                _ => (OrderStatus::Canceled, None),
            };
            match status {
                OrderStatus::Rejected => self
                    .m
                    .rejected(reason.unwrap_or(RefusalReason::VenueRejected)),
                s => self.m.order(s.as_str()),
            }
            out.push(VenueReport::Done {
                client_order_id: t.coid,
                inst: t.inst,
                status,
                reason,
            });
            self.done.push_back(client_id.to_string());
        }
        for r in out {
            self.send(r);
        }
        self.prune_done();
    }

    /// Re-settles orders waiting for a commission (called on a timer).
    pub fn tick(&mut self) {
        let waiting: Vec<String> = self
            .orders
            .iter()
            .filter(|(_, t)| t.fee_wait_since.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for k in waiting {
            self.settle(&k);
        }
        self.flush();
        self.m.desk_sizes(&self.sizes().tables());
    }
}

/// Entries of the desk's tables (see [`Desk::sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeskSizes {
    pub orders: usize,
    pub venue_ids: usize,
    pub done: usize,
    pub parked: usize,
    pub backlog: usize,
    pub watched: usize,
}

impl DeskSizes {
    /// (table, entries), as `qt_session_desk_entries` labels them.
    pub fn tables(&self) -> [(&'static str, usize); 6] {
        [
            ("orders", self.orders),
            ("venue_ids", self.venue_ids),
            ("done", self.done),
            ("parked", self.parked),
            ("backlog", self.backlog),
            ("watched", self.watched),
        ]
    }
}

fn anomaly_label(e: &LifeError) -> &'static str {
    match e {
        LifeError::BadFill { .. } => "bad_fill",
        LifeError::ExcessFill { .. } => "excess_fill",
        LifeError::ConflictingFill { .. } => "conflicting_fill",
        LifeError::BadCumQty { .. } => "bad_cum_qty",
        LifeError::FilledShort { .. } => "filled_short",
        LifeError::RejectAfterLive { .. } => "reject_after_live",
    }
}
