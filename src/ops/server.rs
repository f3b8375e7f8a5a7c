//! The ops HTTP server: Prometheus metrics, liveness, readiness and a small
//! read-only admin API. It runs on its own OS thread with a current-thread
//! tokio runtime, so it never competes with the pipeline's threads, and hosts
//! the watchdog that evaluates readiness and samples health gauges.
//!
//! | path | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text (`text/plain; version=0.0.4`) |
//! | `GET /health` | `200 {"status":"ok","uptime_secs":N}` |
//! | `GET /ready` | `200`/`503 {"ready","reasons":[..],"checks":{..},"trading":{"enabled","reasons"}}` |
//! | `GET /ready?require=trading` | as `/ready`, but 503 also while trading is off |
//! | `GET /api/books/{venue}/{symbol}?depth=N` | book levels as decimal strings |
//! | `GET /api/tickers/{venue}/{symbol}` | the last top of book from the instrument's ticker streams |
//! | `GET /api/consolidated/{underlying}` | cross-venue best bid/ask, spread, leader |
//! | `GET /api/positions` | the exec stage's positions view |
//! | `GET /api/risk` | the risk stage's view, plus `trading` |
//! | `GET /api/latency` | latency summaries (ns) |
//! | `GET /api/redis` | Redis publisher and heartbeat state (`publish::api`) |
//!
//! Every error is JSON `{"error": "..."}`.

use super::ready::{Readiness, ReadyReport};
use crate::config::OpsConfig;
use crate::core::{Venue, format_decimal, now_ns};
use crate::pipeline::shared::{BookSnapshot, Shared};
use crate::telemetry::resident_memory_bytes;
use anyhow::Context as _;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Book depth when `?depth=` is not given.
pub const DEFAULT_DEPTH: usize = 20;
/// Largest accepted `?depth=` (what the book stage copies at most).
pub const MAX_DEPTH: usize = crate::book::stage::MAX_QUERY_DEPTH;
/// How long `/api/books` waits for the book stage.
pub const BOOK_QUERY_TIMEOUT: Duration = Duration::from_millis(500);
/// Watchdog period.
pub const WATCHDOG_INTERVAL: Duration = Duration::from_millis(250);
/// `/ready` re-evaluates when the watchdog's report is older than this.
pub const READY_MAX_AGE: Duration = Duration::from_secs(1);
/// After shutdown is requested, open connections get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The running server. Dropping it stops the server without waiting;
/// [`OpsHandle::shutdown`] stops it and waits for its thread.
pub struct OpsHandle {
    /// The bound address (the real port when `listen` asked for port 0).
    pub addr: SocketAddr,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl OpsHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open requests finish (briefly) and joins the
    /// server thread.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OpsHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

/// The watchdog's latest readiness evaluation.
struct Watch {
    readiness: Readiness,
    report: ReadyReport,
    at: Option<Instant>,
}

struct AppState {
    shared: Arc<Shared>,
    /// The line to the risk stage (risk admin API).
    risk_ctl: Arc<crate::risk::control::RiskControl>,
    /// Model reload and shadow state (model API).
    model_ctl: Arc<crate::score::reload::ModelControl>,
    cfg: OpsConfig,
    started: Instant,
    watch: Mutex<Watch>,
    notifier: Mutex<super::systemd::SdNotifier>,
}

impl AppState {
    /// Evaluates readiness now and stores the report.
    fn evaluate(&self) -> ReadyReport {
        let mut w = self.watch.lock();
        let rep = w.readiness.evaluate(&self.shared, &self.cfg, now_ns());
        w.report = rep.clone();
        w.at = Some(Instant::now());
        rep
    }

    /// The latest report, re-evaluated if older than [`READY_MAX_AGE`].
    fn latest(&self) -> ReadyReport {
        {
            let w = self.watch.lock();
            if let Some(at) = w.at
                && at.elapsed() <= READY_MAX_AGE
            {
                return w.report.clone();
            }
        }
        self.evaluate()
    }
}

/// Binds `cfg.listen` and starts the server and watchdog on a new thread.
/// Bind errors (address in use, bad address) are returned with the address.
pub fn start(
    shared: Arc<Shared>,
    cfg: OpsConfig,
    risk_ctl: Arc<crate::risk::control::RiskControl>,
    model_ctl: Arc<crate::score::reload::ModelControl>,
) -> anyhow::Result<OpsHandle> {
    let listener = std::net::TcpListener::bind(cfg.listen.as_str())
        .with_context(|| format!("ops server: cannot listen on {}", cfg.listen))?;
    listener
        .set_nonblocking(true)
        .context("ops server: set_nonblocking")?;
    let addr = listener.local_addr().context("ops server: local_addr")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("qt-ops-blocking")
        .build()
        .context("ops server: building the tokio runtime")?;
    let state = Arc::new(AppState {
        shared,
        risk_ctl,
        model_ctl,
        cfg,
        started: Instant::now(),
        watch: Mutex::new(Watch {
            readiness: Readiness::new(),
            report: ReadyReport::default(),
            at: None,
        }),
        notifier: Mutex::new(super::systemd::SdNotifier::from_env()),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("qt-ops".into())
        .spawn(move || rt.block_on(serve(listener, state, stop_rx)))
        .context("ops server: spawning its thread")?;
    tracing::info!(%addr, "ops server listening");
    Ok(OpsHandle {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// Resolves when a stop was requested or the handle is gone.
async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Accepts connections while at most `ops.max_connections` are open (one
/// more is closed at once, counted and logged once per burst), and serves
/// each with HTTP/1.1 whose request header must arrive within
/// `ops.header_read_timeout_ms` (also between keep-alive requests), so
/// half-sent requests cannot pile up.
async fn serve(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "ops server: cannot register the listener");
            return;
        }
    };
    let watchdog = tokio::spawn(watchdog(state.clone(), stop.clone()));
    let max = state.cfg.max_connections.max(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    let header_timeout = Duration::from_millis(state.cfg.header_read_timeout_ms.max(1));
    let open = state.shared.metrics.ops_connections_open.clone();
    let refused = state.shared.metrics.ops_connections_refused.clone();
    let app = router(state);
    let mut refusing = false;
    let stop_accepting = stopped(stop.clone());
    tokio::pin!(stop_accepting);
    loop {
        let (sock, peer) = tokio::select! {
            _ = &mut stop_accepting => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "ops server: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused.inc();
            if !refusing {
                refusing = true;
                tracing::warn!(
                    max_connections = max,
                    %peer,
                    "ops server: connection limit reached; closing new connections \
                     (qt_ops_connections_refused_total)"
                );
            }
            drop(sock);
            continue;
        };
        refusing = false;
        let _ = sock.set_nodelay(true);
        let svc = hyper_util::service::TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let stop = stop.clone();
        let open = open.clone();
        tokio::spawn(async move {
            open.inc();
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = b.serve_connection(hyper_util::rt::TokioIo::new(sock), svc);
            tokio::pin!(conn);
            let stopping = stopped(stop);
            tokio::pin!(stopping);
            let mut shutting = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = &mut stopping, if !shutting => {
                        shutting = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    // Open connections get SHUTDOWN_GRACE to finish.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("ops server: open connections did not finish in time");
    }
    watchdog.abort();
}

async fn watchdog(state: Arc<AppState>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(WATCHDOG_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                let rep = state.evaluate();
                state.notifier.lock().on_report(&state.shared, &rep);
                sample_gauges(&state.shared, now_ns());
            }
        }
    }
}

/// Copies health atomics into their gauges.
pub fn sample_gauges(shared: &Shared, now_ns: u64) {
    let m = &shared.metrics;
    m.resident_memory
        .set(i64::try_from(resident_memory_bytes()).unwrap_or(i64::MAX));
    for v in Venue::ALL {
        if shared.instruments.of_venue(v).next().is_none() {
            continue;
        }
        let last = shared.feed(v).last_msg_ns.load(Ordering::Relaxed);
        if last > 0 {
            m.feed_last_message_age
                .with_label_values(&[v.as_str()])
                .set(now_ns.saturating_sub(last) as f64 / 1e9);
        }
    }
    for inst in shared.instruments.iter() {
        let Some(b) = shared.books.get(inst.id.idx()) else {
            continue;
        };
        let labels = [inst.venue.as_str(), inst.symbol.as_str()];
        m.book_in_sync
            .with_label_values(&labels)
            .set(b.in_sync.load(Ordering::Relaxed) as i64);
        let last = b.last_update_ns.load(Ordering::Relaxed);
        if last > 0 {
            m.book_age
                .with_label_values(&labels)
                .set(now_ns.saturating_sub(last) as f64 / 1e9);
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    let hooks = super::test_hooks::router(state.shared.clone(), state.cfg.test_hooks);
    let risk_api = crate::risk::api::router(state.shared.clone(), state.risk_ctl.clone());
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/api/books/{venue}/{symbol}", get(book))
        .route("/api/tickers/{venue}/{symbol}", get(ticker))
        .route("/api/consolidated/{underlying}", get(consolidated))
        .route("/api/positions", get(positions))
        .route("/api/orders", get(orders))
        .route("/api/risk", get(risk))
        .route("/api/latency", get(latency))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .merge(hooks)
        .merge(risk_api)
        .merge(crate::publish::api::router(state.shared.clone()))
        .merge(super::account_api::router(state.shared.clone()))
        .merge(crate::score::api::router(
            state.shared.clone(),
            state.model_ctl.clone(),
        ))
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

/// At most 64 characters of user input, for error messages.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint {}", clip(uri.path())),
    )
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.shared.metrics.render(),
    )
        .into_response()
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "uptime_secs": st.started.elapsed().as_secs(),
    }))
    .into_response()
}

/// `GET /ready`: 200 while working (feeds, books, pipeline); the body's
/// `trading` says whether it could trade right now. `?require=trading`
/// answers 503 unless it also could trade (see `ops::trading`).
async fn ready(
    State(st): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let rep = st.latest();
    let need_trading = match query.as_ref().ok().and_then(|q| q.get("require")) {
        None => false,
        Some(r) if r == "trading" => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "require must be `trading`"),
    };
    let status = if rep.ready && (!need_trading || rep.trading.enabled) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_value(&rep).unwrap_or(Value::Null);
    (status, axum::Json(body)).into_response()
}

/// A scaled integer as a decimal string (scales beyond i64 range are shown raw).
fn dec(v: i64, scale: u8) -> String {
    if scale <= 18 {
        format_decimal(v, scale)
    } else {
        v.to_string()
    }
}

/// `?depth=` as a number of levels, or the 400 message.
fn parse_depth(q: Result<Query<HashMap<String, String>>, QueryRejection>) -> Result<usize, String> {
    let bad = || format!("depth must be an integer from 1 to {MAX_DEPTH}");
    let Ok(Query(q)) = q else {
        return Err(bad());
    };
    match q.get("depth") {
        None => Ok(DEFAULT_DEPTH),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(d) if (1..=MAX_DEPTH).contains(&d) => Ok(d),
            _ => Err(bad()),
        },
    }
}

/// The last top of book from an instrument's ticker streams, as decimal
/// strings (`null` sides before the first ticker).
async fn ticker(
    State(st): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((venue_s, symbol))) = path else {
        return error(StatusCode::BAD_REQUEST, "bad path");
    };
    let Some(venue) = Venue::parse(&venue_s.to_ascii_lowercase()) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown venue {}", clip(&venue_s)),
        );
    };
    let table = &st.shared.instruments;
    let Some((id, inst)) = table
        .find(venue, &symbol)
        .or_else(|| table.find(venue, &symbol.to_ascii_uppercase()))
        .and_then(|id| table.try_get(id).map(|i| (id, i)))
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown symbol {} on {venue}", clip(&symbol)),
        );
    };
    let Some(cell) = st.shared.tickers.get(id.idx()) else {
        return error(StatusCode::NOT_FOUND, "unknown instrument");
    };
    let t = cell.load();
    let (ps, qs) = (inst.price_scale, inst.qty_scale);
    let side = |l: crate::core::Level| {
        if t.updates == 0 {
            Value::Null
        } else {
            json!([format_decimal(l.px, ps), format_decimal(l.qty, qs)])
        }
    };
    axum::Json(json!({
        "venue": venue.as_str(),
        "symbol": inst.symbol,
        "bid": side(t.bid),
        "ask": side(t.ask),
        "exch_ms": t.exch_ms,
        "updates": t.updates,
    }))
    .into_response()
}

async fn book(
    State(st): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Path((venue_s, symbol))) = path else {
        return error(StatusCode::BAD_REQUEST, "bad path");
    };
    let depth = match parse_depth(query) {
        Ok(d) => d,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let Some(venue) = Venue::parse(&venue_s.to_ascii_lowercase()) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown venue {}", clip(&venue_s)),
        );
    };
    let table = &st.shared.instruments;
    let Some(id) = table
        .find(venue, &symbol)
        .or_else(|| table.find(venue, &symbol.to_ascii_uppercase()))
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown symbol {} on {venue}", clip(&symbol)),
        );
    };
    let Some(inst) = table.try_get(id) else {
        return error(StatusCode::NOT_FOUND, "unknown instrument");
    };
    let (ps, qs, symbol) = (inst.price_scale, inst.qty_scale, inst.symbol.clone());
    let shared = st.shared.clone();
    let snap =
        tokio::task::spawn_blocking(move || shared.query_book(id, depth, BOOK_QUERY_TIMEOUT)).await;
    let Ok(Some(snap)) = snap else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "book stage did not answer");
    };
    axum::Json(book_json(venue, &symbol, ps, qs, depth, snap, now_ns())).into_response()
}

/// `GET /api/consolidated/{underlying}`: the book stage's cross-venue view.
async fn consolidated(State(st): State<Arc<AppState>>, Path(u): Path<String>) -> Response {
    let map = st.shared.consolidated.lock();
    match map.get(&u).or_else(|| map.get(&u.to_ascii_uppercase())) {
        Some(v) => axum::Json(v.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("unknown underlying {}", clip(&u)),
        ),
    }
}

/// The `/api/books` body: bids descending, asks ascending, at most `depth` each.
pub fn book_json(
    venue: Venue,
    symbol: &str,
    price_scale: u8,
    qty_scale: u8,
    depth: usize,
    mut snap: BookSnapshot,
    now_ns: u64,
) -> Value {
    snap.bids.sort_by_key(|l| std::cmp::Reverse(l.0));
    snap.asks.sort_by_key(|l| l.0);
    let levels = |side: &[(i64, i64)]| -> Vec<[String; 2]> {
        side.iter()
            .take(depth)
            .map(|&(px, qty)| [dec(px, price_scale), dec(qty, qty_scale)])
            .collect()
    };
    let age_ms =
        (snap.last_update_ns > 0).then(|| now_ns.saturating_sub(snap.last_update_ns) / 1_000_000);
    json!({
        "venue": venue.as_str(),
        "symbol": symbol,
        "last_update_id": snap.update_id,
        "in_sync": snap.in_sync,
        "age_ms": age_ms,
        "bids": levels(&snap.bids),
        "asks": levels(&snap.asks),
    })
}

async fn positions(State(st): State<Arc<AppState>>) -> Response {
    let v = serde_json::to_value(&*st.shared.positions.lock()).unwrap_or(Value::Null);
    axum::Json(v).into_response()
}

/// The venue sessions' working orders and last periodic reconciliation
/// (testnet/live; in paper the venues list is empty).
async fn orders(State(st): State<Arc<AppState>>) -> Response {
    let venues: serde_json::Map<String, Value> = st
        .shared
        .orders
        .lock()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    axum::Json(serde_json::json!({
        "mode": st.shared.mode.as_str(),
        "venues": venues,
    }))
    .into_response()
}

async fn risk(State(st): State<Arc<AppState>>) -> Response {
    let mut v = st.shared.risk.lock().clone();
    if let Value::Object(m) = &mut v {
        let t = st.latest().trading;
        m.insert(
            "trading".into(),
            serde_json::to_value(t).unwrap_or(Value::Null),
        );
    }
    axum::Json(v).into_response()
}

async fn latency(State(st): State<Arc<AppState>>) -> Response {
    let v = serde_json::to_value(st.shared.latency.summary()).unwrap_or(Value::Null);
    axum::Json(v).into_response()
}

#[cfg(test)]
mod tests {
    fn ctl() -> Arc<crate::risk::control::RiskControl> {
        Arc::new(crate::risk::control::RiskControl::new())
    }

    fn mctl() -> Arc<crate::score::reload::ModelControl> {
        Arc::new(crate::score::reload::ModelControl::new())
    }

    use super::*;
    use crate::core::InstrumentId;
    use crate::ops::ready::tests::{make_healthy, test_shared};
    use std::sync::atomic::AtomicBool;

    fn cfg() -> OpsConfig {
        OpsConfig {
            listen: "127.0.0.1:0".into(),
            ..OpsConfig::default()
        }
    }

    /// Answers book queries for BTCUSDT (id 0); drops those for others.
    fn spawn_book_stage(shared: Arc<Shared>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok(q) = shared.book_query_rx.recv_timeout(Duration::from_millis(20)) else {
                    continue;
                };
                if q.inst != InstrumentId(0) {
                    continue; // drop the reply sender: "did not answer"
                }
                let _ = q.reply.send(BookSnapshot {
                    in_sync: true,
                    update_id: 42,
                    last_update_ns: now_ns(),
                    // Deliberately unsorted.
                    bids: vec![(6_179_990, 1_000), (6_180_020, 2_507), (6_179_000, 5)],
                    asks: vec![(6_180_100, 123_456), (6_180_030, 10)],
                });
            }
        })
    }

    /// Lets the watchdog (250 ms) and `/ready`'s cache (1 s) see a change.
    async fn state_settles() {
        tokio::time::sleep(READY_MAX_AGE + WATCHDOG_INTERVAL + Duration::from_millis(100)).await;
    }

    /// Whether the server closed `s` (EOF or reset) rather than holding it.
    fn closed(s: &mut std::net::TcpStream) -> bool {
        use std::io::Read;
        let mut b = [0u8; 256];
        match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => true, // an answer (408/400) followed by close
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    /// 3,000 half-sent requests over real sockets: at most `max_connections`
    /// are ever held, the rest are closed at once and counted, and every
    /// held one is closed when its header does not complete in time; the
    /// server answers normally afterwards.
    #[test]
    fn half_sent_requests_are_cut_and_connections_capped() {
        use std::io::Write;
        let shared = Arc::new(test_shared());
        let c = OpsConfig {
            max_connections: 40,
            header_read_timeout_ms: 600,
            ..cfg()
        };
        let h = start(shared.clone(), c, ctl(), mctl()).unwrap();
        let mut socks = Vec::new();
        for _ in 0..3000 {
            let Ok(mut s) = std::net::TcpStream::connect(h.addr) else {
                continue;
            };
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            socks.push(s);
        }
        assert!(socks.len() > 2900, "only {} connected", socks.len());
        let m = &shared.metrics;
        assert!(
            m.ops_connections_open.get() <= 40,
            "{} held open",
            m.ops_connections_open.get()
        );
        // Held ones time out and free their slots for queued ones, so not
        // every surplus connection is refused; most are.
        assert!(
            wait_for(|| m.ops_connections_refused.get() >= 1000),
            "only {} refused",
            m.ops_connections_refused.get()
        );
        // Within the header timeout (plus slack) every connection is closed.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut open: Vec<_> = socks;
        while !open.is_empty() && Instant::now() < deadline {
            assert!(m.ops_connections_open.get() <= 40);
            open.retain_mut(|s| !closed(s));
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            open.is_empty(),
            "{} half-sent requests still open",
            open.len()
        );
        assert!(
            wait_for(|| m.ops_connections_open.get() == 0),
            "gauge {}",
            m.ops_connections_open.get()
        );
        // A complete request is served as usual.
        let mut s = std::net::TcpStream::connect(h.addr).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut text = String::new();
        use std::io::Read;
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        h.shutdown();
    }

    fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn book_json_shape() {
        let snap = BookSnapshot {
            in_sync: false,
            update_id: 7,
            last_update_ns: 0,
            bids: vec![(-5, 1)],
            asks: vec![],
        };
        let v = book_json(Venue::Okx, "X", 2, 0, 5, snap, 10);
        assert_eq!(
            v,
            json!({"venue":"okx","symbol":"X","last_update_id":7,"in_sync":false,
                   "age_ms":null,"bids":[["-0.05","1"]],"asks":[]})
        );
        assert_eq!(dec(5, 30), "5");
    }

    #[test]
    fn bind_error_names_the_address() {
        let shared = Arc::new(test_shared());
        let h = start(shared.clone(), cfg(), ctl(), mctl()).unwrap();
        let c = OpsConfig {
            listen: h.addr.to_string(),
            ..cfg()
        };
        let err = start(shared.clone(), c, ctl(), mctl())
            .err()
            .expect("address in use");
        assert!(format!("{err:#}").contains(&h.addr.to_string()), "{err:#}");
        let bad = OpsConfig {
            listen: "not an address".into(),
            ..cfg()
        };
        let err = start(shared, bad, ctl(), mctl())
            .err()
            .expect("bad address");
        assert!(format!("{err:#}").contains("not an address"), "{err:#}");
        h.shutdown();
    }

    #[tokio::test]
    async fn endpoints() {
        let shared = Arc::new(test_shared());
        let stop = Arc::new(AtomicBool::new(false));
        let stage = spawn_book_stage(shared.clone(), stop.clone());
        shared
            .metrics
            .feed_messages
            .with_label_values(&["binance", "depth"])
            .inc();
        let h = start(shared.clone(), cfg(), ctl(), mctl()).unwrap();
        let base = format!("http://{}", h.addr);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let get = |p: &str| client.get(format!("{base}{p}")).send();

        // /metrics
        let r = get("/metrics").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/plain; version=0.0.4"
        );
        let text = r.text().await.unwrap();
        assert!(text.contains("qt_feed_messages_total"), "{text}");

        // /health
        let r = get("/health").await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "ok");
        assert!(v["uptime_secs"].is_u64());

        // /ready: not ready while feeds are down.
        let r = get("/ready").await.unwrap();
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["ready"], false);
        let reasons: Vec<String> = serde_json::from_value(v["reasons"].clone()).unwrap();
        assert!(
            reasons.contains(&"feed_disconnected:binance".to_string()),
            "{v}"
        );
        assert!(reasons.contains(&"pipeline_idle".to_string()), "{v}");
        assert!(v["checks"]["books"].is_array(), "{v}");

        // ... and ready once feeds, books and stages are healthy and moving.
        let deadline = Instant::now() + Duration::from_secs(5);
        let v = loop {
            make_healthy(&shared, now_ns());
            let r = get("/ready").await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            if status == 200 {
                break v;
            }
            assert!(Instant::now() < deadline, "never ready: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(v["ready"], true);
        assert_eq!(v["reasons"], json!([]));
        assert_eq!(v["checks"]["feeds"]["binance"]["connected"], true);
        assert_eq!(shared.metrics.ready.get(), 1);

        // The watchdog samples gauges.
        let text = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(
            text.contains("qt_book_in_sync{symbol=\"BTCUSDT\",venue=\"binance\"} 1"),
            "{text}"
        );
        assert!(text.contains("qt_resident_memory_bytes"), "{text}");

        // /api/books
        let r = get("/api/books/binance/BTCUSDT?depth=2").await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["venue"], "binance");
        assert_eq!(v["symbol"], "BTCUSDT");
        assert_eq!(v["last_update_id"], 42);
        assert_eq!(v["in_sync"], true);
        assert!(v["age_ms"].is_u64(), "{v}");
        assert_eq!(
            v["bids"],
            json!([["61800.20", "2.507"], ["61799.90", "1.000"]])
        );
        assert_eq!(
            v["asks"],
            json!([["61800.30", "0.010"], ["61801.00", "123.456"]])
        );
        // Default depth returns everything the stage sent (3 < 20).
        let v: Value = get("/api/books/binance/BTCUSDT")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["bids"].as_array().unwrap().len(), 3);

        for (path, status) in [
            ("/api/books/binance/BTCUSDT?depth=0", 400),
            ("/api/books/binance/BTCUSDT?depth=5001", 400),
            ("/api/books/binance/BTCUSDT?depth=abc", 400),
            ("/api/books/binance/BTCUSDT?depth=-1", 400),
            ("/api/books/binance/BTCUSDT?depth=5000", 200),
            ("/api/books/binance/BTCUSD", 404),
            ("/api/books/kraken/BTCUSDT", 404),
            ("/api/books/binance/ETHUSDT", 503),
            ("/api/books/binance/%FF%FE", 400),
            ("/api/books/binance", 404),
            ("/nope", 404),
            ("/api/nope/deeper", 404),
        ] {
            let r = get(path).await.unwrap();
            assert_eq!(r.status(), status, "{path}");
            let v: Value = r.json().await.unwrap();
            if status != 200 {
                assert!(v["error"].is_string(), "{path}: {v}");
            }
        }
        let v: Value = get("/api/books/binance/BTCUSD")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v, json!({"error": "unknown symbol BTCUSD on binance"}));
        let v: Value = get("/api/books/binance/ETHUSDT")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v, json!({"error": "book stage did not answer"}));
        let r = client.post(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status(), 405);

        // /api/positions, /api/risk, /api/latency
        shared.positions.lock().orders = 3;
        *shared.risk.lock() = json!({"kill_switch": false, "daily_trades": 3});
        shared
            .latency
            .slot("tick_to_order")
            .lock()
            .record(40_000)
            .unwrap();
        let v: Value = get("/api/positions").await.unwrap().json().await.unwrap();
        assert_eq!(v["orders"], 3);
        assert_eq!(v["positions"], json!([]));
        let v: Value = get("/api/risk").await.unwrap().json().await.unwrap();
        assert_eq!(v["kill_switch"], json!(false));
        assert_eq!(v["daily_trades"], json!(3));
        assert!(v["trading"]["enabled"].is_boolean(), "{v}");
        // The kill switch: still ready (working), but not trading.
        *shared.risk.lock() = json!({"kill_switch": true, "daily_trades": 3,
            "circuit_breaker": {"state": "CLOSED"}});
        make_healthy(&shared, now_ns());
        state_settles().await;
        let r = get("/ready").await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["trading"]["enabled"], json!(false), "{v}");
        assert_eq!(v["trading"]["reasons"], json!(["kill_switch"]), "{v}");
        let r = get("/ready?require=trading").await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(get("/ready?require=x").await.unwrap().status(), 400);
        let v: Value = get("/api/risk").await.unwrap().json().await.unwrap();
        assert_eq!(v["trading"]["reasons"], json!(["kill_switch"]), "{v}");
        let text = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(text.contains("qt_trading_enabled 0"), "{text}");
        assert!(
            text.contains("qt_trading_blocked{reason=\"kill_switch\"} 1"),
            "{text}"
        );
        *shared.risk.lock() = json!({"kill_switch": false, "daily_trades": 3,
            "circuit_breaker": {"state": "CLOSED"}});
        make_healthy(&shared, now_ns());
        state_settles().await;
        assert_eq!(get("/ready?require=trading").await.unwrap().status(), 200);
        let v: Value = get("/api/latency").await.unwrap().json().await.unwrap();
        assert_eq!(v[0]["name"], "tick_to_order");
        assert_eq!(v[0]["count"], 1);

        // Shutdown stops the server.
        tokio::task::spawn_blocking(move || h.shutdown())
            .await
            .unwrap();
        assert!(get("/health").await.is_err());
        stop.store(true, Ordering::Relaxed);
        stage.join().unwrap();
    }
}
