//! The unknown-outcome resolver (pure logic, no I/O, time passed in): the
//! watch list of orders whose placement answer was lost (HTTP 5xx, timeout,
//! reset, `-1006`/`-1007`).
//!
//! Rule: **never resend.** An order on the list is looked up by its client
//! order id, paced (one query per `min_spacing_ms` across the whole list,
//! the most overdue first) and with a per-order backoff; it leaves the list
//! on the first evidence, a query that finds it or any private-stream event
//! for its id, whichever comes first. One the venue still does not know
//! after `fast_queries` not-found answers stays on the list and is looked
//! for every `slow_interval_ms` (it may yet show up: a slow matching
//! engine, an event in a stream gap). The only action this module can
//! produce is [`Action::Query`]; there is no resend to produce.
//!
//! While on the list an order counts as exposure that could fill
//! ([`Resolver::exposure`]): its quantity and notional per instrument and
//! side, for the position, open-order and notional limits.

use crate::core::{InstrumentId, Money, Side};
use std::collections::{BTreeMap, HashMap};

/// Pacing of the lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Wait before the first query (the private stream often answers
    /// first, for free).
    pub first_query_ms: u64,
    /// Delay after the first query of an order; doubles after each one.
    pub backoff_base_ms: u64,
    /// Longest delay between the fast queries.
    pub backoff_max_ms: u64,
    /// Not-found answers before an order moves to the slow pace.
    pub fast_queries: u32,
    /// Delay between queries at the slow pace.
    pub slow_interval_ms: u64,
    /// Least time between any two queries (the REST budget's share).
    pub min_spacing_ms: u64,
    /// A query without an answer after this long counts as failed.
    pub query_timeout_ms: u64,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            first_query_ms: 500,
            backoff_base_ms: 1_000,
            backoff_max_ms: 16_000,
            fast_queries: 5,
            slow_interval_ms: 60_000,
            min_spacing_ms: 200,
            query_timeout_ms: 10_000,
        }
    }
}

/// What an unresolved order could still do to the book of positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    pub inst: InstrumentId,
    pub side: Side,
    /// Quantity that could fill (quantity scale).
    pub qty: i64,
    /// Its notional at the order's limit (or worst) price.
    pub notional: Money,
}

/// Exposure summed over the watch list for one instrument and side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExposureSum {
    pub orders: u32,
    pub qty: i64,
    pub notional: Money,
}

/// What the resolver asks the venue session to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Query the order by client order id (Binance `GET /fapi/v1/order`
    /// with `origClientOrderId`).
    Query { client_id: String },
}

/// The outcome of a query the resolver asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryOutcome {
    /// The venue has the order (its state goes to the order's lifecycle).
    Found,
    /// The venue does not know the id.
    NotFound,
    /// No information (transport error, 5xx, throttled): try again later,
    /// not counted as not found.
    Failed,
}

/// How an order left the watch list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedBy {
    Query,
    Stream,
}

/// An order that left the watch list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub client_id: String,
    pub exposure: Exposure,
    pub by: ResolvedBy,
    pub queries: u32,
    /// Time on the list.
    pub waited_ms: u64,
}

/// Counters since creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolverStats {
    pub watched: u64,
    pub queries: u64,
    pub not_found: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub resolved_by_query: u64,
    pub resolved_by_stream: u64,
    /// Answers or events for ids no longer (or never) on the list.
    pub late: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    exposure: Exposure,
    since_ms: u64,
    queries: u32,
    not_found: u32,
    next_at: u64,
    in_flight_since: Option<u64>,
}

/// The watch list.
#[derive(Debug, Clone)]
pub struct Resolver {
    cfg: ResolverConfig,
    entries: BTreeMap<String, Entry>,
    last_query_at: Option<u64>,
    stats: ResolverStats,
}

impl Resolver {
    pub fn new(cfg: ResolverConfig) -> Resolver {
        Resolver {
            cfg,
            entries: BTreeMap::new(),
            last_query_at: None,
            stats: ResolverStats::default(),
        }
    }

    /// Puts an order whose outcome is unknown on the list; false if it is
    /// already there (nothing changes).
    pub fn watch(&mut self, client_id: &str, exposure: Exposure, now_ms: u64) -> bool {
        if self.entries.contains_key(client_id) {
            return false;
        }
        self.entries.insert(
            client_id.to_string(),
            Entry {
                exposure,
                since_ms: now_ms,
                queries: 0,
                not_found: 0,
                next_at: now_ms.saturating_add(self.cfg.first_query_ms),
                in_flight_since: None,
            },
        );
        self.stats.watched += 1;
        true
    }

    pub fn is_watched(&self, client_id: &str) -> bool {
        self.entries.contains_key(client_id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn stats(&self) -> ResolverStats {
        self.stats
    }

    /// Orders the venue did not know after `fast_queries` answers (the slow
    /// pace), for `/api/orders` and alerts.
    pub fn lingering(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(_, e)| e.not_found >= self.cfg.fast_queries)
            .map(|(k, _)| k.as_str())
    }

    /// When an entry's query is due (an in-flight one: when it times out).
    fn due_at(&self, e: &Entry) -> u64 {
        match e.in_flight_since {
            Some(t) => t.saturating_add(self.cfg.query_timeout_ms),
            None => e.next_at,
        }
    }

    /// The earliest time [`Resolver::poll`] can return an action.
    pub fn next_wake(&self) -> Option<u64> {
        let due = self.entries.values().map(|e| self.due_at(e)).min()?;
        Some(match self.last_query_at {
            Some(t) => due.max(t.saturating_add(self.cfg.min_spacing_ms)),
            None => due,
        })
    }

    /// The next query to send, if one is due and the pacing allows it.
    pub fn poll(&mut self, now_ms: u64) -> Option<Action> {
        if let Some(t) = self.last_query_at
            && now_ms < t.saturating_add(self.cfg.min_spacing_ms)
        {
            return None;
        }
        let id = self
            .entries
            .iter()
            .map(|(k, e)| (self.due_at(e), k))
            .filter(|&(d, _)| d <= now_ms)
            .min()?
            .1
            .clone();
        let e = self.entries.get_mut(&id)?;
        if e.in_flight_since.is_some() {
            // The previous query of this order never answered.
            self.stats.timed_out += 1;
        }
        e.in_flight_since = Some(now_ms);
        e.queries += 1;
        self.last_query_at = Some(now_ms);
        self.stats.queries += 1;
        Some(Action::Query { client_id: id })
    }

    fn backoff(&self, e: &Entry) -> u64 {
        if e.not_found >= self.cfg.fast_queries {
            return self.cfg.slow_interval_ms;
        }
        let shift = e.queries.saturating_sub(1).min(32);
        self.cfg
            .backoff_base_ms
            .saturating_mul(1u64 << shift)
            .min(self.cfg.backoff_max_ms)
    }

    /// The answer to a query; `Some` when it resolved the order.
    pub fn on_answer(
        &mut self,
        client_id: &str,
        outcome: QueryOutcome,
        now_ms: u64,
    ) -> Option<Resolved> {
        let Some(e) = self.entries.get_mut(client_id) else {
            self.stats.late += 1;
            return None;
        };
        e.in_flight_since = None;
        match outcome {
            QueryOutcome::Found => {
                self.stats.resolved_by_query += 1;
                return self.remove(client_id, ResolvedBy::Query, now_ms);
            }
            QueryOutcome::NotFound => {
                e.not_found += 1;
                self.stats.not_found += 1;
            }
            QueryOutcome::Failed => self.stats.failed += 1,
        }
        let e = &self.entries[client_id];
        let next = now_ms.saturating_add(self.backoff(e));
        if let Some(e) = self.entries.get_mut(client_id) {
            e.next_at = next;
        }
        None
    }

    /// Any private-stream event for `client_id` (an ack, a fill, a cancel,
    /// a reject): the venue has spoken, the order leaves the list.
    pub fn on_stream(&mut self, client_id: &str, now_ms: u64) -> Option<Resolved> {
        if !self.entries.contains_key(client_id) {
            self.stats.late += 1;
            return None;
        }
        self.stats.resolved_by_stream += 1;
        self.remove(client_id, ResolvedBy::Stream, now_ms)
    }

    fn remove(&mut self, client_id: &str, by: ResolvedBy, now_ms: u64) -> Option<Resolved> {
        let (client_id, e) = self.entries.remove_entry(client_id)?;
        Some(Resolved {
            client_id,
            exposure: e.exposure,
            by,
            queries: e.queries,
            waited_ms: now_ms.saturating_sub(e.since_ms),
        })
    }

    /// Takes `client_id` off the list without an answer (its owner settled
    /// it otherwise); true when it was there.
    pub fn give_up(&mut self, client_id: &str) -> bool {
        self.entries.remove(client_id).is_some()
    }

    /// Whether the venue did not know `client_id` after `fast_queries`
    /// answers (it moved to the slow pace).
    pub fn is_lingering(&self, client_id: &str) -> bool {
        self.entries
            .get(client_id)
            .is_some_and(|e| e.not_found >= self.cfg.fast_queries)
    }

    /// What the orders on the list could still add, per instrument and side.
    pub fn exposure(&self) -> HashMap<(InstrumentId, Side), ExposureSum> {
        let mut out: HashMap<(InstrumentId, Side), ExposureSum> = HashMap::new();
        for e in self.entries.values() {
            let s = out.entry((e.exposure.inst, e.exposure.side)).or_default();
            s.orders += 1;
            s.qty = s.qty.saturating_add(e.exposure.qty);
            s.notional += e.exposure.notional;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ResolverConfig {
        ResolverConfig {
            first_query_ms: 500,
            backoff_base_ms: 1_000,
            backoff_max_ms: 4_000,
            fast_queries: 3,
            slow_interval_ms: 60_000,
            min_spacing_ms: 100,
            query_timeout_ms: 10_000,
        }
    }

    fn exp(inst: u16, side: Side, qty: i64) -> Exposure {
        Exposure {
            inst: InstrumentId(inst),
            side,
            qty,
            notional: Money(qty * 100),
        }
    }

    fn q(id: &str) -> Option<Action> {
        Some(Action::Query {
            client_id: id.into(),
        })
    }

    /// Runs the clock from `from` to `to` in 1 ms steps and returns the
    /// times queries went out.
    fn drive(r: &mut Resolver, from: u64, to: u64, answer: QueryOutcome) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for t in from..=to {
            while let Some(Action::Query { client_id }) = r.poll(t) {
                r.on_answer(&client_id, answer, t);
                out.push((t, client_id));
            }
        }
        out
    }

    #[test]
    fn paced_backoff_then_slow_pace_and_never_forgotten() {
        let mut r = Resolver::new(cfg());
        assert!(r.watch("a", exp(0, Side::Buy, 5), 0));
        assert!(!r.watch("a", exp(0, Side::Buy, 5), 3));
        assert_eq!(r.next_wake(), Some(500));
        let sent = drive(&mut r, 0, 200_000, QueryOutcome::NotFound);
        let times: Vec<u64> = sent.iter().map(|s| s.0).collect();
        // First after 500 ms; then +1 s, +2 s (3 not-founds: slow pace),
        // then every 60 s, for as long as it runs.
        assert_eq!(times, vec![500, 1_500, 3_500, 63_500, 123_500, 183_500]);
        assert!(r.is_watched("a"));
        assert_eq!(r.lingering().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(r.stats().not_found, 6);
        // Still counted as exposure.
        assert_eq!(r.exposure()[&(InstrumentId(0), Side::Buy)].qty, 5);
    }

    #[test]
    fn backoff_is_capped_and_failures_do_not_count_as_not_found() {
        let mut r = Resolver::new(cfg());
        r.watch("a", exp(0, Side::Buy, 1), 0);
        let times: Vec<u64> = drive(&mut r, 0, 20_000, QueryOutcome::Failed)
            .iter()
            .map(|s| s.0)
            .collect();
        // 500, +1 s, +2 s, +4 s, +4 s (cap), ... never the slow pace.
        assert_eq!(
            times,
            vec![500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500]
        );
        assert_eq!(r.lingering().count(), 0);
        assert_eq!(r.stats().failed, 7);
    }

    #[test]
    fn queries_are_spaced_across_the_list_most_overdue_first() {
        let mut r = Resolver::new(cfg());
        r.watch("b", exp(0, Side::Buy, 1), 10);
        r.watch("a", exp(0, Side::Buy, 1), 10);
        r.watch("c", exp(0, Side::Buy, 1), 0);
        assert_eq!(r.poll(499), None);
        assert_eq!(r.poll(500), q("c"));
        // All three are due, but only one per 100 ms, ties by id.
        assert_eq!(r.poll(510), None);
        assert_eq!(r.poll(600), q("a"));
        assert_eq!(r.poll(650), None);
        assert_eq!(r.next_wake(), Some(700));
        assert_eq!(r.poll(700), q("b"));
        // In flight, unanswered: nothing more until the timeout.
        assert_eq!(r.poll(5_000), None);
        assert_eq!(r.next_wake(), Some(10_500));
        assert_eq!(r.poll(10_500), q("c"));
        assert_eq!(r.stats().timed_out, 1);
    }

    #[test]
    fn resolved_by_query_or_stream_whichever_first() {
        let mut r = Resolver::new(cfg());
        r.watch("a", exp(0, Side::Buy, 3), 0);
        r.watch("b", exp(1, Side::Sell, 4), 0);
        r.watch("c", exp(0, Side::Buy, 2), 0);
        let e = r.exposure();
        assert_eq!(
            e[&(InstrumentId(0), Side::Buy)],
            ExposureSum {
                orders: 2,
                qty: 5,
                notional: Money(500)
            }
        );
        assert_eq!(e[&(InstrumentId(1), Side::Sell)].qty, 4);
        // The stream speaks for "b" before any query.
        let res = r.on_stream("b", 300).unwrap();
        assert_eq!(
            (res.by, res.queries, res.waited_ms),
            (ResolvedBy::Stream, 0, 300)
        );
        assert!(!r.exposure().contains_key(&(InstrumentId(1), Side::Sell)));
        // "a" is queried and found.
        assert_eq!(r.poll(500), q("a"));
        let res = r.on_answer("a", QueryOutcome::Found, 520).unwrap();
        assert_eq!((res.by, res.queries), (ResolvedBy::Query, 1));
        assert_eq!(res.exposure, exp(0, Side::Buy, 3));
        // "c" is queried; the stream answers first; the late query answer
        // changes nothing.
        assert_eq!(r.poll(620), q("c"));
        assert!(r.on_stream("c", 630).is_some());
        assert_eq!(r.on_answer("c", QueryOutcome::NotFound, 640), None);
        assert_eq!(r.on_stream("c", 650), None);
        assert!(r.is_empty());
        assert_eq!(r.poll(1_000_000), None);
        let s = r.stats();
        assert_eq!(
            (s.watched, s.resolved_by_query, s.resolved_by_stream, s.late),
            (3, 1, 2, 2)
        );
    }
}
