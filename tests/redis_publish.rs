//! Redis publishing against a real `redis-server` started by the test on a
//! free loopback port, with the simulator driving the engine over real
//! WebSockets: every stream's documented fields; Redis killed (SIGKILL) for
//! seconds mid-run and restarted; Redis absent at startup; `required` Redis
//! failing readiness; the engine's heartbeat stopping while the pipeline is
//! stalled; a small memory buffer overflowing into the journal and every
//! entry read back from it.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use common::{EngineSim, engine_options, get_json, test_config, wait_until};
use quantum_trader::app::engine::Engine;
use quantum_trader::config::Config;
use quantum_trader::pipeline::shared::Shared;
use quantum_trader::venue::binance::config::BinanceConfig;
use redis_server::{RedisServer, field, xrange};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DECISION: &str = "quantum:stream:ai.decision";
const INTENT: &str = "quantum:stream:trade.intent";
const VERDICT: &str = "quantum:stream:apply.result";
const EXECUTION: &str = "quantum:stream:execution.result";
const MARKET: &str = "quantum:stream:exchange.normalized";

fn config(url: &str, f: impl FnOnce(&mut Config)) -> Config {
    test_config(|c| {
        c.redis.url = url.into();
        // The machine's environment must not redirect the test.
        c.redis.url_env = String::new();
        c.redis.backoff_min_ms = 50;
        c.redis.backoff_max_ms = 400;
        c.redis.breaker_failures = 5;
        c.redis.breaker_cooldown_ms = 1_000;
        c.redis.connect_timeout_ms = 300;
        c.redis.io_timeout_ms = 1_000;
        c.redis.heartbeat_interval_ms = 200;
        c.redis.heartbeat_ttl_ms = 1_000;
        c.redis.market_sample_per_sec = 20;
        f(c)
    })
}

fn start(cfg: Config) -> Engine {
    Engine::start(cfg, engine_options()).expect("engine starts")
}

/// Sum of every sample of a metric family (all label values).
fn total(shared: &Shared, name: &str) -> u64 {
    shared
        .metrics
        .registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        // The kind not in use reads 0.
        .map(|m| m.get_counter().value() + m.get_gauge().value())
        .sum::<f64>() as u64
}

/// One labelled sample of a metric family.
fn sample(shared: &Shared, name: &str, label: (&str, &str)) -> u64 {
    shared
        .metrics
        .registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == label.0 && l.value() == label.1)
        })
        // The kind not in use reads 0.
        .map(|m| m.get_counter().value() + m.get_gauge().value())
        .sum::<f64>() as u64
}

fn fills(shared: &Shared) -> u64 {
    total(shared, "qt_fills_total")
}

/// The engine's own counts of what it decided and did.
#[derive(Debug)]
struct Counts {
    decisions: u64,
    verdicts: u64,
    orders: u64,
    fills: u64,
}

fn counts(shared: &Shared) -> Counts {
    Counts {
        decisions: total(shared, "qt_decisions_total"),
        verdicts: total(shared, "qt_verdicts_total"),
        orders: sample(shared, "qt_orders_total", ("status", "new")),
        fills: fills(shared),
    }
}

type Entry = (String, Vec<(String, String)>);

/// `(epoch, seq)` of a stream id, and the id equals the entry's `event_id`.
fn id_of(e: &Entry) -> (u64, u64) {
    assert_eq!(field(e, "event_id"), e.0, "event_id is the stream id");
    let (a, b) = e.0.split_once('-').expect("stream id");
    (a.parse().unwrap(), b.parse().unwrap())
}

fn strictly_increasing(entries: &[Entry], what: &str) {
    let ids: Vec<(u64, u64)> = entries.iter().map(id_of).collect();
    for w in ids.windows(2) {
        assert!(w[0] < w[1], "{what}: ids not increasing: {w:?}");
    }
}

/// Every decision, verdict, intent, order and fill the engine counted is in
/// Redis exactly once and in order.
fn assert_exactly_once(c: &mut redis::Connection, n: &Counts) {
    for key in [DECISION, VERDICT, INTENT, EXECUTION] {
        strictly_increasing(&xrange(c, key), key);
    }
    assert_life(c, n, None);
}

/// [`assert_exactly_once`] for the entries of one engine life (`Some(epoch)`,
/// numbered from that life's first id) or of the only one (`None`, numbered
/// from 1).
fn assert_life(c: &mut redis::Connection, n: &Counts, epoch: Option<u64>) {
    let of_life = |v: Vec<Entry>| -> Vec<Entry> {
        v.into_iter()
            .filter(|e| epoch.is_none_or(|ep| id_of(e).0 == ep))
            .collect()
    };
    // Ids counted from the life's first (1 for the only life).
    let numbered = |v: &[Entry], name: &str, what: &str| {
        let base: u64 = match (epoch, v.first()) {
            (Some(_), Some(e)) => field(e, name).parse().unwrap(),
            _ => 1,
        };
        for (i, e) in v.iter().enumerate() {
            assert_eq!(
                field(e, name),
                (base + i as u64).to_string(),
                "{what} order"
            );
        }
    };
    let dec = of_life(xrange(c, DECISION));
    assert_eq!(
        dec.len() as u64,
        n.decisions,
        "decisions in redis vs engine"
    );
    numbered(&dec, "decision_id", "decision");

    let ver = of_life(xrange(c, VERDICT));
    assert_eq!(ver.len() as u64, n.verdicts, "verdicts in redis vs engine");
    numbered(&ver, "decision_id", "verdict");

    let int = of_life(xrange(c, INTENT));
    assert_eq!(int.len() as u64, n.orders, "intents in redis vs orders");
    numbered(&int, "client_order_id", "intent");
    let first_coid: u64 = int
        .first()
        .map(|e| field(e, "client_order_id").parse().unwrap())
        .unwrap_or(1);

    let ex = of_life(xrange(c, EXECUTION));
    // Per order: `order`, then its fills, then one `order_update`; orders in
    // client-order-id order.
    let mut state: HashMap<String, &str> = HashMap::new();
    let (mut orders, mut fills, mut done) = (0u64, 0u64, 0u64);
    for e in &ex {
        let coid = field(e, "client_order_id").to_string();
        match field(e, "type") {
            "order" => {
                assert_eq!(coid, (first_coid + orders).to_string(), "orders in order");
                orders += 1;
                assert!(state.insert(coid, "open").is_none(), "order twice");
            }
            "fill" => {
                fills += 1;
                assert_eq!(
                    state.get(&coid),
                    Some(&"open"),
                    "fill of {coid} outside its order"
                );
            }
            "order_update" => {
                done += 1;
                assert_eq!(
                    state.insert(coid.clone(), "done"),
                    Some("open"),
                    "update of {coid}"
                );
            }
            t => panic!("unknown execution type {t}"),
        }
    }
    assert_eq!(orders, n.orders, "orders in redis vs engine");
    assert_eq!(done, n.orders, "order updates in redis vs orders");
    assert_eq!(fills, n.fills, "fills in redis vs engine");
}

#[test]
fn every_stream_gets_its_documented_fields() {
    let redis = RedisServer::start(false);
    let engine = start(config(&redis.url(), |c| {
        c.redis.streams.market.maxlen = 10;
    }));
    let shared = engine.shared().clone();
    assert!(
        wait_until(Duration::from_secs(30), || fills(&shared) >= 2
            && sample(&shared, "qt_redis_entries_total", ("stream", "market"))
                > 300),
        "no fills or market samples: {:?}",
        counts(&shared)
    );
    let ops = engine.ops_addr().unwrap();
    let (code, api) = get_json(ops, "/api/redis");
    assert_eq!(code, 200);
    assert_eq!(api["connected"], true, "{api}");
    engine.stop();
    let n = counts(&shared);
    let mut c = redis.conn();

    let dec = xrange(&mut c, DECISION);
    assert!(!dec.is_empty());
    for e in &dec {
        for k in [
            "ts_ms",
            "symbol",
            "venue",
            "action",
            "score",
            "confidence",
            "model_version",
            "event_time_ms",
        ] {
            assert!(!field(e, k).is_empty(), "decision field {k}");
        }
        assert!(["BUY", "SELL", "HOLD"].contains(&field(e, "action")));
        assert_eq!(field(e, "venue"), "binance");
        let f: serde_json::Value = serde_json::from_str(field(e, "features")).unwrap();
        assert!(f["mid"].as_f64().unwrap() > 0.0, "features: {f}");
        assert_eq!(f.as_object().unwrap().len(), 8);
        assert!(field(e, "score").parse::<f64>().is_ok());
    }
    let ver = xrange(&mut c, VERDICT);
    let (mut exec, mut skip) = (0, 0);
    for e in &ver {
        match field(e, "decision") {
            "EXECUTE" => {
                exec += 1;
                assert_eq!(field(e, "error"), "");
                assert_eq!(field(e, "would_execute"), "true");
            }
            "SKIP" => {
                skip += 1;
                assert!(!field(e, "error").is_empty(), "a SKIP names its reason");
                assert_eq!(field(e, "executed"), "false");
            }
            d => panic!("decision {d}"),
        }
        assert!(["true", "false"].contains(&field(e, "executed")));
        assert!(["BTCUSDT", "ETHUSDT"].contains(&field(e, "symbol")));
        assert!(field(e, "time_ms").parse::<i64>().unwrap() > 1_600_000_000_000);
    }
    assert!(exec >= 1 && skip >= 1, "exec {exec} skip {skip}");
    for e in &xrange(&mut c, INTENT) {
        for k in [
            "client_order_id",
            "decision_id",
            "symbol",
            "venue",
            "side",
            "qty",
            "limit_price",
        ] {
            assert!(!field(e, k).is_empty(), "intent field {k}");
        }
    }
    let ex = xrange(&mut c, EXECUTION);
    let fill = ex
        .iter()
        .find(|e| field(e, "type") == "fill")
        .expect("a fill");
    for k in [
        "client_order_id",
        "venue_order_id",
        "price",
        "qty",
        "fee",
        "position_after",
        "side",
        "symbol",
    ] {
        assert!(!field(fill, k).is_empty(), "fill field {k}");
    }
    assert!(field(fill, "price").parse::<f64>().unwrap() > 0.0);
    assert!(field(fill, "fee").parse::<f64>().unwrap() > 0.0);
    let order = ex
        .iter()
        .find(|e| field(e, "type") == "order")
        .expect("an order");
    for k in [
        "client_order_id",
        "venue_order_id",
        "price",
        "qty",
        "status",
    ] {
        assert!(!field(order, k).is_empty(), "order field {k}");
    }
    let mk = xrange(&mut c, MARKET);
    assert!(!mk.is_empty());
    for e in &mk {
        let bid: f64 = field(e, "bid").parse().unwrap();
        let ask: f64 = field(e, "ask").parse().unwrap();
        assert!(bid > 0.0 && bid < ask, "{bid} {ask}");
        assert!(field(e, "bid_qty").parse::<f64>().unwrap() > 0.0);
        assert_eq!(field(e, "venue"), "binance");
    }
    // MAXLEN ~ 10 trims (in whole nodes): far fewer entries than written.
    let written = sample(&shared, "qt_redis_entries_total", ("stream", "market"));
    assert!(
        (mk.len() as u64) < written / 2,
        "market stream not trimmed: {} of {written}",
        mk.len()
    );
    assert_exactly_once(&mut c, &n);
}

#[test]
fn redis_killed_mid_run_loses_and_doubles_nothing() {
    let mut redis = RedisServer::start(true);
    let engine = start(config(&redis.url(), |_| {}));
    let shared = engine.shared().clone();
    let ops = engine.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || fills(&shared) >= 2),
        "no fills: {:?}",
        counts(&shared)
    );
    redis.kill();
    let killed_at = Instant::now();
    let fills_at_kill = fills(&shared);
    let decisions_at_kill = total(&shared, "qt_decisions_total");
    // Degraded, still ready, still trading.
    assert!(
        wait_until(Duration::from_secs(5), || {
            let (code, r) = get_json(ops, "/ready");
            code == 200 && r["checks"]["redis"]["status"] == "degraded"
        }),
        "ready must stay 200 with redis degraded: {:?}",
        get_json(ops, "/ready")
    );
    std::thread::sleep(Duration::from_secs(5).saturating_sub(killed_at.elapsed()));
    let buffered = total(&shared, "qt_redis_buffered");
    assert!(buffered > 0, "events are buffered during the outage");
    assert!(
        wait_until(Duration::from_secs(20), || fills(&shared) > fills_at_kill),
        "the hot path kept trading while redis was down"
    );
    assert!(total(&shared, "qt_decisions_total") > decisions_at_kill);
    redis.spawn();
    assert!(
        wait_until(Duration::from_secs(20), || {
            total(&shared, "qt_redis_buffered") == 0 && total(&shared, "qt_redis_connected") == 1
        }),
        "buffer drained after restart"
    );
    std::thread::sleep(Duration::from_millis(500));
    engine.stop();
    let n = counts(&shared);
    assert!(total(&shared, "qt_redis_replayed_total") > 0);
    assert!(total(&shared, "qt_redis_reconnects_total") >= 1);
    assert_eq!(total(&shared, "qt_redis_dropped_total"), 0);
    let mut c = redis.conn();
    assert_exactly_once(&mut c, &n);
}

/// The `published` records of one engine life, in file order:
/// `(seq, stream)`, and their bytes on disk (frames).
fn journal_published(dir: &str, epoch: u64) -> (Vec<(u64, String)>, usize) {
    let kept = common::published_of(std::path::Path::new(dir), epoch);
    let bytes = kept.iter().map(|k| k.bytes).sum();
    (kept.into_iter().map(|k| (k.seq, k.stream)).collect(), bytes)
}

#[test]
fn events_beyond_a_small_buffer_are_replayed_from_the_journal() {
    let mut redis = RedisServer::start(true);
    let cfg = config(&redis.url(), |c| {
        c.redis.buffer_capacity = 50;
        c.redis.batch_size = 64;
        c.journal.enabled = true;
        // HOLDs are not journaled as trading records, yet must come back.
        c.journal.record_holds = false;
    });
    let journal_dir = cfg.journal.dir.clone();
    let engine = start(cfg);
    let shared = engine.shared().clone();
    let ops = engine.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || fills(&shared) >= 2),
        "no fills: {:?}",
        counts(&shared)
    );
    let (_, api) = get_json(ops, "/api/redis");
    assert_eq!(api["replay"], "journal", "{api}");
    let epoch = api["epoch_ms"].as_u64().unwrap();
    redis.kill();
    let fills_at_kill = fills(&shared);
    let decisions_at_kill = total(&shared, "qt_decisions_total");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        wait_until(Duration::from_secs(20), || fills(&shared) > fills_at_kill),
        "the hot path kept trading while redis was down"
    );
    let during = total(&shared, "qt_decisions_total") - decisions_at_kill;
    assert!(during > 500, "far more events than the buffer: {during}");
    assert_eq!(
        total(&shared, "qt_redis_buffered"),
        50,
        "the buffer is full"
    );
    let kept_in_outage = total(&shared, "qt_redis_journal_kept_total");
    assert!(
        kept_in_outage > 400,
        "events beyond the buffer go to the journal: {kept_in_outage}"
    );
    assert!(total(&shared, "qt_redis_spilled") > 0);
    redis.spawn();
    assert!(
        wait_until(Duration::from_secs(30), || total(
            &shared,
            "qt_redis_connected"
        ) == 1),
        "reconnected"
    );
    let restarted = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || {
            total(&shared, "qt_redis_buffered") == 0 && total(&shared, "qt_redis_spilled") == 0
        }),
        "buffer and spill drained after restart: buffered {} spilled {}",
        total(&shared, "qt_redis_buffered"),
        total(&shared, "qt_redis_spilled")
    );
    let drained = restarted.elapsed();
    // The spill ends once the replay catches up with the events still
    // arriving: then new events use the memory buffer, not the journal.
    let kept_now = || total(&shared, "qt_redis_journal_kept_total");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let k = kept_now();
            std::thread::sleep(Duration::from_millis(500));
            k == kept_now()
        }),
        "events still go to the journal after the spill drained"
    );
    engine.stop();
    // Read after the stop: under load a burst between the quiet check above
    // and the stop may still spill (and be read back while stopping).
    let kept = kept_now();
    let n = counts(&shared);
    let replayed = total(&shared, "qt_redis_journal_replayed_total");
    // What the stop itself kept (its buffer, when the flush deadline passed)
    // is for the next life, never read back by this one.
    let at_shutdown = common::published_of(std::path::Path::new(&journal_dir), epoch)
        .iter()
        .filter(|k| k.at_shutdown)
        .count() as u64;
    assert_eq!(
        replayed + at_shutdown,
        kept,
        "everything kept was read back and written ({at_shutdown} kept at shutdown)"
    );
    // The 50 buffered events come back from memory; a few of them may have
    // reached Redis before the kill (counted as duplicates, not doubled).
    assert!(
        total(&shared, "qt_redis_replayed_total") + total(&shared, "qt_redis_duplicates_total")
            >= replayed + 50,
        "replayed {} (journal {replayed}), duplicates {}, rejected {}",
        total(&shared, "qt_redis_replayed_total"),
        total(&shared, "qt_redis_duplicates_total"),
        total(&shared, "qt_redis_rejected_total")
    );
    for reason in ["not_replayable", "channel_full"] {
        assert_eq!(
            sample(&shared, "qt_redis_dropped_total", ("reason", reason)),
            0,
            "{reason}"
        );
    }
    assert_eq!(total(&shared, "qt_journal_dropped_total"), 0);
    // The journal holds exactly what was kept, once each, in seq order per stream.
    let (j, bytes) = journal_published(&journal_dir, epoch);
    assert_eq!(j.len() as u64, kept, "published records in the journal");
    eprintln!(
        "FIGURES: {kept} events kept in the journal ({} bytes each on average), \
         all replayed within {drained:?} of the reconnect",
        bytes / j.len().max(1)
    );
    for stream in ["decision", "verdict", "intent", "execution"] {
        let seqs: Vec<u64> = j.iter().filter(|x| x.1 == stream).map(|x| x.0).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{stream} in order");
    }
    assert!(j.iter().all(|x| x.1 != "market"), "samples are not kept");
    let mut c = redis.conn();
    assert_exactly_once(&mut c, &n);
    // A replayed entry is the full entry, under its own seq.
    let (first_kept, _) = j
        .iter()
        .find(|x| x.1 == "decision")
        .expect("a kept decision");
    let dec = xrange(&mut c, DECISION);
    let e = dec
        .iter()
        .find(|e| id_of(e) == (epoch, *first_kept))
        .expect("the kept decision is in redis under its id");
    let f: serde_json::Value = serde_json::from_str(field(e, "features")).unwrap();
    assert_eq!(f.as_object().unwrap().len(), 8, "features kept");
    assert!(!field(e, "model_version").is_empty());
}

/// `published` records of one life: how many, and how many kept at shutdown.
fn journal_kept_by_life(dir: &str, epoch: u64) -> (u64, u64) {
    let kept = common::published_of(std::path::Path::new(dir), epoch);
    let at_stop = kept.iter().filter(|k| k.at_shutdown).count();
    (kept.len() as u64, at_stop as u64)
}

#[test]
fn what_a_life_left_unwritten_is_written_by_the_next_before_its_own() {
    let mut redis = RedisServer::start(true);
    let small = |c: &mut Config| {
        c.redis.buffer_capacity = 50;
        c.redis.batch_size = 64;
        c.redis.shutdown_flush_ms = 300;
        c.journal.enabled = true;
    };
    let cfg = config(&redis.url(), small);
    let journal_dir = cfg.journal.dir.clone();
    // Life 1: Redis dies mid-run and is still down when the engine stops,
    // with events both beyond the buffer (journal) and in it (memory).
    let engine = start(cfg);
    let shared = engine.shared().clone();
    let ops = engine.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || fills(&shared) >= 2),
        "no fills: {:?}",
        counts(&shared)
    );
    let (_, api) = get_json(ops, "/api/redis");
    let epoch1 = api["epoch_ms"].as_u64().unwrap();
    assert!(
        wait_until(
            Duration::from_secs(5),
            || get_json(ops, "/api/redis").1["backlog"] == "done"
        ),
        "nothing owed on a fresh journal: {}",
        get_json(ops, "/api/redis").1
    );
    redis.kill();
    let fills_at_kill = fills(&shared);
    assert!(
        wait_until(Duration::from_secs(30), || {
            total(&shared, "qt_redis_journal_kept_total") > 200 && fills(&shared) > fills_at_kill
        }),
        "a spill and trading during the outage: kept {}",
        total(&shared, "qt_redis_journal_kept_total")
    );
    engine.stop();
    let n1 = counts(&shared);
    let kept1 = total(&shared, "qt_redis_journal_kept_total");
    let (in_journal, at_stop) = journal_kept_by_life(&journal_dir, epoch1);
    assert_eq!(in_journal, kept1, "every kept entry is in the journal");
    assert!(
        at_stop > 0 && at_stop <= 50,
        "the memory buffer was kept at shutdown: {at_stop}"
    );
    assert_eq!(
        sample(
            &shared,
            "qt_redis_dropped_total",
            ("reason", "not_replayable")
        ),
        0
    );
    assert_eq!(total(&shared, "qt_journal_dropped_total"), 0);
    // Only market samples are dropped at shutdown (never kept).
    assert!(
        sample(&shared, "qt_redis_dropped_total", ("reason", "shutdown")) + at_stop <= 50,
        "dropped at shutdown: {}",
        sample(&shared, "qt_redis_dropped_total", ("reason", "shutdown"))
    );

    // Life 2, same journal, Redis back (with what life 1 wrote before the kill).
    redis.spawn();
    let mut cfg = config(&redis.url(), small);
    cfg.journal.dir = journal_dir.clone();
    let engine = start(cfg);
    let shared2 = engine.shared().clone();
    let ops = engine.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || {
            get_json(ops, "/api/redis").1["backlog"] == "done" && fills(&shared2) >= 2
        }),
        "backlog written and trading: {}",
        get_json(ops, "/api/redis").1
    );
    let epoch2 = get_json(ops, "/api/redis").1["epoch_ms"].as_u64().unwrap();
    assert!(epoch2 > epoch1);
    engine.stop();
    let n2 = counts(&shared2);
    let backlog = total(&shared2, "qt_redis_backlog_replayed_total");
    // All that life 1 kept, less what Redis applied from a batch whose
    // reply the kill cut off (below the stream top, so not sent again).
    assert!(
        backlog > 0 && backlog <= kept1 && backlog + 64 >= kept1,
        "life 1's kept entries were written by life 2: {backlog} of {kept1}"
    );
    assert_eq!(
        total(&shared2, "qt_redis_duplicates_total"),
        0,
        "nothing sent twice"
    );
    assert_eq!(total(&shared2, "qt_redis_rejected_total"), 0);
    let mut c = redis.conn();
    // Each stream: life 1's entries, all of them, once each and in order,
    // then life 2's.
    assert_exactly_once_across(&mut c, &[(epoch1, &n1), (epoch2, &n2)]);
    eprintln!(
        "FIGURES: life 1 left {kept1} entries in the journal ({at_stop} of them from its memory \
         buffer at shutdown); life 2 wrote {backlog} earlier-life entries before its own"
    );
}

/// Several lives: each stream holds the lives in order, each complete.
fn assert_exactly_once_across(c: &mut redis::Connection, lives: &[(u64, &Counts)]) {
    for key in [DECISION, VERDICT, INTENT, EXECUTION] {
        let all = xrange(c, key);
        strictly_increasing(&all, key);
        let epochs: Vec<u64> = all.iter().map(|e| id_of(e).0).collect();
        assert!(
            epochs.iter().all(|e| lives.iter().any(|l| l.0 == *e)),
            "{key}: an entry of an unknown life"
        );
    }
    for (epoch, n) in lives {
        assert_life(c, n, Some(*epoch));
    }
}

#[test]
fn without_the_journal_events_beyond_the_buffer_are_counted_lost() {
    let mut redis = RedisServer::start(false);
    let engine = start(config(&redis.url(), |c| {
        c.redis.buffer_capacity = 50;
        c.journal.enabled = false;
    }));
    let shared = engine.shared().clone();
    let ops = engine.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || fills(&shared) >= 1),
        "no fills: {:?}",
        counts(&shared)
    );
    assert_eq!(get_json(ops, "/api/redis").1["replay"], "none");
    redis.kill();
    let lost = || {
        sample(
            &shared,
            "qt_redis_dropped_total",
            ("reason", "not_replayable"),
        )
    };
    assert!(
        wait_until(Duration::from_secs(20), || lost() > 200),
        "spilled events are counted: {}",
        lost()
    );
    redis.spawn();
    assert!(
        wait_until(Duration::from_secs(30), || {
            total(&shared, "qt_redis_connected") == 1 && total(&shared, "qt_redis_buffered") == 0
        }),
        "buffer drained"
    );
    engine.stop();
    assert_eq!(total(&shared, "qt_redis_journal_kept_total"), 0);
    let n = counts(&shared);
    let mut c = redis.conn();
    let dec = xrange(&mut c, DECISION).len() as u64;
    assert!(
        dec < n.decisions,
        "decisions lost: {dec} of {}",
        n.decisions
    );
    strictly_increasing(&xrange(&mut c, DECISION), "decisions");
}

#[test]
fn redis_absent_at_startup_then_everything_is_published() {
    let mut redis = RedisServer::not_started(false);
    let engine = start(config(&redis.url(), |_| {}));
    let shared = engine.shared().clone();
    let ops = engine.ops_addr().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || fills(&shared) >= 2),
        "trades without redis: {:?}",
        counts(&shared)
    );
    let (code, r) = get_json(ops, "/ready");
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["checks"]["redis"]["status"], "degraded", "{r}");
    assert_eq!(r["checks"]["degraded"][0], "redis_disconnected", "{r}");
    assert!(total(&shared, "qt_redis_failures_total") >= 1);
    redis.spawn();
    assert!(
        wait_until(Duration::from_secs(20), || {
            total(&shared, "qt_redis_connected") == 1 && total(&shared, "qt_redis_buffered") == 0
        }),
        "published once redis appeared"
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            get_json(ops, "/ready").1["checks"]["redis"]["status"] == "up"
        }),
        "{:?}",
        get_json(ops, "/ready")
    );
    engine.stop();
    let n = counts(&shared);
    assert!(total(&shared, "qt_redis_replayed_total") > 0);
    let mut c = redis.conn();
    assert_exactly_once(&mut c, &n);
}

#[test]
fn required_redis_fails_readiness_until_it_is_up() {
    let mut redis = RedisServer::not_started(false);
    let engine = start(config(&redis.url(), |c| c.redis.required = true));
    let shared = engine.shared().clone();
    let ops = engine.ops_addr().unwrap();
    assert!(wait_until(Duration::from_secs(30), || fills(&shared) >= 1));
    let (code, r) = get_json(ops, "/ready");
    assert_eq!(code, 503, "{r}");
    assert!(
        r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "redis_disconnected"),
        "{r}"
    );
    redis.spawn();
    assert!(
        wait_until(Duration::from_secs(10), || get_json(ops, "/ready").0 == 200),
        "{:?}",
        get_json(ops, "/ready")
    );
    engine.stop();
}

#[test]
fn engine_heartbeat_stops_while_the_pipeline_is_stalled() {
    let redis = RedisServer::start(false);
    let engine = start(config(&redis.url(), |c| {
        c.ops.stall_timeout_ms = 500;
        // No silence reconnect (and its resync) while the market is paused.
        if let Some(b) = c.venues.get_mut::<BinanceConfig>() {
            b.silence_timeout_ms = 120_000;
        }
    }));
    let shared: Arc<Shared> = engine.shared().clone();
    let mut c = redis.conn();
    let key = "quantum:svc:engine:heartbeat";
    let beat = |c: &mut redis::Connection| -> Option<(f64, i64)> {
        let v: Option<String> = redis::cmd("GET").arg(key).query(c).unwrap();
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(c).unwrap();
        v.map(|v| (v.parse().unwrap(), ttl))
    };
    assert!(
        wait_until(Duration::from_secs(20), || beat(&mut c).is_some()),
        "engine heartbeat never written"
    );
    let (v, ttl) = beat(&mut c).unwrap();
    let now = quantum_trader::core::clock::unix_ms() as f64 / 1e3;
    assert!((now - v).abs() < 2.0, "heartbeat {v} vs now {now}");
    assert!(ttl > 0 && ttl <= 1_000, "ttl {ttl}");
    // Stall the pipeline at its source: the market stops.
    engine.sim().unwrap().pause();
    assert!(
        wait_until(Duration::from_secs(5), || beat(&mut c).is_none()),
        "heartbeat must expire while the pipeline is stalled"
    );
    let (_, api) = get_json(engine.ops_addr().unwrap(), "/api/redis");
    assert_eq!(api["pipeline_moving"], false, "{api}");
    let written = total(&shared, "qt_redis_heartbeats_total");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        total(&shared, "qt_redis_heartbeats_total"),
        written,
        "no beats while stalled"
    );
    engine.sim().unwrap().resume();
    assert!(
        wait_until(Duration::from_secs(10), || beat(&mut c).is_some()),
        "heartbeat returns when the pipeline moves again"
    );
    // A stage stuck with input waiting (the test-only stall hook freezes the
    // risk thread for real) while market data keeps flowing: no heartbeat.
    let risk = shared.stage("risk").unwrap();
    risk.hold.store(true, std::sync::atomic::Ordering::Release);
    assert!(
        wait_until(Duration::from_secs(5), || beat(&mut c).is_none()),
        "heartbeat must expire while the risk stage is stuck"
    );
    assert!(total(&shared, "qt_book_updates_total") > 0);
    risk.hold.store(false, std::sync::atomic::Ordering::Release);
    assert!(
        wait_until(Duration::from_secs(10), || beat(&mut c).is_some()),
        "heartbeat returns when the stage moves again"
    );
    engine.stop();
}

#[test]
fn required_aux_heartbeat_expiring_blocks_trading_and_recovers() {
    use quantum_trader::config::risk::{HeartbeatConfig, HeartbeatPolicy};
    use std::sync::atomic::{AtomicBool, Ordering};
    let redis = RedisServer::start(false);
    let key = "quantum:svc:rl_trainer:heartbeat";
    // The auxiliary service: beats every 100 ms while `alive`.
    let alive = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (alive, stop) = (alive.clone(), stop.clone());
        let mut c = redis.conn();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if alive.load(Ordering::Relaxed) {
                    let now = quantum_trader::core::clock::unix_ms() as f64 / 1e3;
                    let _: () = redis::cmd("SET")
                        .arg(key)
                        .arg(format!("{now:.3}"))
                        .arg("PX")
                        .arg(3_000)
                        .query(&mut c)
                        .unwrap();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let engine = start(config(&redis.url(), |c| {
        c.risk.heartbeats = vec![HeartbeatConfig {
            service: "rl_trainer".into(),
            policy: HeartbeatPolicy::Required,
            max_age_ms: 1_000,
        }];
    }));
    let shared = engine.shared().clone();
    let executes = || sample(&shared, "qt_verdicts_total", ("verdict", "EXECUTE"));
    let missing = || {
        sample(
            &shared,
            "qt_verdicts_total",
            ("reason", "heartbeat_missing:rl_trainer"),
        )
    };
    assert!(
        wait_until(Duration::from_secs(30), || executes() >= 2),
        "trades while the service beats: {:?}",
        counts(&shared)
    );
    // The service dies: its key stops being refreshed and expires.
    alive.store(false, Ordering::Relaxed);
    assert!(
        wait_until(Duration::from_secs(10), || missing() > 20),
        "decisions must SKIP with heartbeat_missing:rl_trainer"
    );
    let blocked_at = executes();
    let missing_at = missing();
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        executes(),
        blocked_at,
        "nothing executes while the heartbeat is missing"
    );
    assert!(missing() > missing_at);
    let (_, api) = get_json(engine.ops_addr().unwrap(), "/api/redis");
    assert!(
        api["services"][0]["age_ms"].as_i64().unwrap() > 1_000,
        "{api}"
    );
    // It comes back: trading resumes.
    alive.store(true, Ordering::Relaxed);
    assert!(
        wait_until(Duration::from_secs(15), || executes() > blocked_at),
        "trading resumes when the heartbeat returns"
    );
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    engine.stop();
    let mut c = redis.conn();
    let ver = xrange(&mut c, VERDICT);
    assert!(
        ver.iter()
            .any(|e| field(e, "error") == "heartbeat_missing:rl_trainer"),
        "apply.result names the missing heartbeat"
    );
}

/// A clock behind the previous life's ids (here: a stream whose last id is
/// an hour ahead of this machine's clock): this life's ids start above it,
/// whether Redis answers at start or only later, and every entry is
/// written; none is refused or counted as a duplicate.
#[test]
fn a_clock_behind_the_stream_top_still_publishes_every_entry() {
    for present_at_start in [true, false] {
        let mut redis = RedisServer::start(true);
        let ahead = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 3_600_000;
        let top = format!("{ahead}-5");
        let _: String = redis::cmd("XADD")
            .arg(DECISION)
            .arg(&top)
            .arg("event_id")
            .arg(&top)
            .query(&mut redis.conn())
            .unwrap();
        if !present_at_start {
            redis.kill();
        }
        let engine = start(config(&redis.url(), |_| {}));
        let shared = engine.shared().clone();
        if !present_at_start {
            assert!(
                wait_until(Duration::from_secs(30), || fills(&shared) >= 1),
                "trades without redis"
            );
            redis.spawn();
        }
        assert!(
            wait_until(Duration::from_secs(30), || {
                fills(&shared) >= 2
                    && total(&shared, "qt_redis_connected") == 1
                    && total(&shared, "qt_redis_buffered") == 0
            }),
            "published: {:?}",
            counts(&shared)
        );
        engine.stop();
        let n = counts(&shared);
        let what = format!("redis present at start: {present_at_start}");
        assert_eq!(total(&shared, "qt_redis_duplicates_total"), 0, "{what}");
        assert_eq!(total(&shared, "qt_redis_rejected_total"), 0, "{what}");
        assert_eq!(total(&shared, "qt_redis_epoch_raised_total"), 1, "{what}");
        assert_eq!(total(&shared, "qt_redis_ids_behind"), 0, "{what}");
        let mut c = redis.conn();
        let dec = xrange(&mut c, DECISION);
        assert_eq!(dec[0].0, top, "{what}");
        let epoch = id_of(&dec[1]).0;
        assert!(epoch > ahead, "{what}: life epoch {epoch} <= top {ahead}");
        strictly_increasing(&dec, DECISION);
        assert_life(&mut c, &n, Some(epoch));
    }
}
