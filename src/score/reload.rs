//! Hot model reload: load, validate, hand over to the score thread for a
//! shadow run, swap at an event boundary.
//!
//! [`ModelControl`] (one per engine, in `Shared`) is the meeting point of
//! the ops side (`POST /api/model/reload`, SIGHUP) and the score thread:
//!
//! 1. [`ModelControl::reload`] (ops side, may block and allocate) reads the
//!    configured model file and validates it: format (the model loader),
//!    feature names (the registry), version string (non-empty, printable,
//!    at most 128 bytes, never run before by this engine), and a self-test:
//!    the candidate scores the last [`ROWS`] feature vectors the live model
//!    saw (plus a zero row) and every score must be finite with a
//!    confidence in [0, 1]. A refusal names its reason (API reply, log,
//!    `qt_model_reloads_total{result="refused_<why>"}`) and changes nothing.
//! 2. An accepted candidate goes to the score thread over a bounded channel
//!    (capacity 1; a second reload while one is pending or in shadow is
//!    refused as busy). The score thread polls it with `try_recv` between
//!    events: no lock on the hot path.
//! 3. The score thread scores every decision with both models
//!    ([`super::shadow`]) for `model.shadow_decisions` decisions, publishing
//!    progress, agreement and correlation through atomics here; then it
//!    swaps (or, below `model.shadow_min_agreement`, drops the candidate)
//!    between two events. Decisions carry the number of the version that
//!    made them ([`super::versions`]).
//!
//! The model behind all this is anything [`ScoringModel`]: a version, the
//! feature names it reads, a scoring function and a file loader.

use super::registry::{FeaturePlan, idx};
use super::versions;
use crate::core::{Action, N_FEATURES};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};

/// What reload and shadow scoring need of a model.
pub trait ScoringModel: Send + Sized + 'static {
    /// Reads and validates a model file (format and feature names).
    fn load_file(path: &Path) -> Result<Self, String>;
    /// The version string the file declares.
    fn version_str(&self) -> &str;
    /// Names of the features the model reads.
    fn feature_names(&self) -> Vec<String>;
    /// Action, score, confidence for one feature vector (registry slots).
    fn score_features(&self, x: &[f64; N_FEATURES]) -> (Action, f32, f32);
}

impl ScoringModel for super::manifest::Model {
    fn load_file(path: &Path) -> Result<Self, String> {
        super::manifest::Model::load(path).map_err(|e| e.to_string())
    }
    fn version_str(&self) -> &str {
        self.version()
    }
    fn feature_names(&self) -> Vec<String> {
        super::manifest::Model::feature_names(self)
    }
    #[inline]
    fn score_features(&self, x: &[f64; N_FEATURES]) -> (Action, f32, f32) {
        self.score(x)
    }
}

/// The model type the engine runs.
pub type LiveModel = super::manifest::Model;

/// Feature vectors kept for the self-test.
pub const ROWS: usize = 64;
/// The score thread keeps one decision's features in every this many.
pub const ROW_EVERY: u64 = 8;
/// Reload outcomes kept for `GET /api/model`.
pub const HISTORY: usize = 16;
/// Longest accepted version string (bytes).
pub const MAX_VERSION_LEN: usize = 128;

/// Why a reload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The file is unreadable or not a valid model.
    Format,
    /// The model names a feature the registry does not know.
    Features,
    /// Empty, too long, unprintable or already-run version string.
    Version,
    /// The candidate gave a non-finite score on a stored row.
    SelfTest,
    /// A reload is already pending or in shadow.
    Busy,
    /// No model path configured, or the score stage is not running.
    Unavailable,
}

impl RefusalKind {
    /// The `result` label of `qt_model_reloads_total`.
    pub fn label(self) -> &'static str {
        match self {
            RefusalKind::Format => "refused_format",
            RefusalKind::Features => "refused_features",
            RefusalKind::Version => "refused_version",
            RefusalKind::SelfTest => "refused_self_test",
            RefusalKind::Busy => "refused_busy",
            RefusalKind::Unavailable => "refused_unavailable",
        }
    }

    /// The HTTP status of the refusal.
    pub fn http_status(self) -> u16 {
        match self {
            RefusalKind::Busy => 409,
            RefusalKind::Unavailable => 503,
            _ => 422,
        }
    }
}

/// A refused reload: the kind and a sentence naming the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub reason: String,
}

impl Refusal {
    fn new(kind: RefusalKind, reason: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            reason: reason.into(),
        }
    }
}

/// An accepted candidate, on its way to the score thread.
pub struct Candidate<M = LiveModel> {
    pub model: M,
    pub version: u16,
    pub plan: FeaturePlan,
    pub shadow_decisions: u64,
    pub min_agreement: f64,
}

/// Reload settings (from the `[model]` config section).
#[derive(Debug, Clone, Default)]
pub struct ReloadSettings {
    pub path: String,
    pub shadow_decisions: u64,
    pub min_agreement: f64,
}

/// Where the reload machinery stands (`state` in `GET /api/model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReloadState {
    Idle = 0,
    /// Accepted, not yet picked up by the score thread.
    Pending = 1,
    Shadowing = 2,
}

impl ReloadState {
    fn from_u8(v: u8) -> ReloadState {
        match v {
            1 => ReloadState::Pending,
            2 => ReloadState::Shadowing,
            _ => ReloadState::Idle,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadState::Idle => "idle",
            ReloadState::Pending => "pending",
            ReloadState::Shadowing => "shadowing",
        }
    }
}

/// How a shadow run ended (sent by the score thread).
#[derive(Debug, Clone, Copy)]
pub struct ShadowOutcome {
    pub version: u16,
    pub swapped: bool,
    pub decisions: u64,
    pub agreement: Option<f64>,
    pub correlation: Option<f64>,
    pub min_agreement: f64,
    pub at_ms: i64,
}

/// The last feature vectors, written by the score thread with relaxed
/// atomic stores (no lock); a reader may see a row half old, half new,
/// which is still a row of real feature values.
pub struct RecentRows {
    cells: Box<[AtomicU64]>,
    written: AtomicU64,
}

impl RecentRows {
    fn new() -> RecentRows {
        RecentRows {
            cells: (0..ROWS * N_FEATURES).map(|_| AtomicU64::new(0)).collect(),
            written: AtomicU64::new(0),
        }
    }

    /// Stores one row (score thread).
    #[inline]
    pub fn record(&self, x: &[f64; N_FEATURES]) {
        let n = self.written.load(Ordering::Relaxed);
        let base = (n % ROWS as u64) as usize * N_FEATURES;
        for (c, v) in self.cells[base..base + N_FEATURES].iter().zip(x) {
            c.store(v.to_bits(), Ordering::Relaxed);
        }
        self.written.store(n + 1, Ordering::Release);
    }

    /// The stored rows (ops side; allocates).
    pub fn snapshot(&self) -> Vec<[f64; N_FEATURES]> {
        let n = (self.written.load(Ordering::Acquire) as usize).min(ROWS);
        (0..n)
            .map(|r| {
                let mut x = [0.0; N_FEATURES];
                for (k, v) in x.iter_mut().enumerate() {
                    *v = f64::from_bits(self.cells[r * N_FEATURES + k].load(Ordering::Relaxed));
                }
                x
            })
            .collect()
    }
}

/// What the ops side remembers (behind a mutex, never touched by the score thread).
#[derive(Default)]
struct Log {
    settings: ReloadSettings,
    /// Versions this engine has run or accepted, oldest first.
    used: Vec<String>,
    /// Newest last.
    history: VecDeque<Value>,
}

impl Log {
    fn push(&mut self, v: Value) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(v);
    }
}

/// The reload meeting point (see the module doc).
pub struct ModelControl {
    log: Mutex<Log>,
    tx: Sender<Candidate>,
    rx: Receiver<Candidate>,
    outcome_tx: Sender<ShadowOutcome>,
    outcome_rx: Receiver<ShadowOutcome>,
    state: AtomicU8,
    live: AtomicU32,
    live_since_ms: AtomicI64,
    live_plan: AtomicU32,
    candidate: AtomicU32,
    shadow_n: AtomicU64,
    shadow_target: AtomicU64,
    shadow_agreement: AtomicU64,
    shadow_correlation: AtomicU64,
    /// Shared with the book stage (`Shared::wants_depth10`, see
    /// [`ModelControl::sharing`]).
    wants_depth10: Arc<AtomicBool>,
    /// The score thread's recent feature vectors (self-test input).
    pub rows: RecentRows,
}

impl Default for ModelControl {
    fn default() -> Self {
        Self::new()
    }
}

fn opt_f64(v: Option<f64>) -> u64 {
    v.unwrap_or(f64::NAN).to_bits()
}

fn json_f64(bits: u64) -> Value {
    let v = f64::from_bits(bits);
    if v.is_finite() { json!(v) } else { Value::Null }
}

impl ModelControl {
    pub fn new() -> ModelControl {
        Self::sharing(Arc::new(AtomicBool::new(false)))
    }

    /// A control whose "the models want the 10-level depth" flag is `flag`
    /// (the engine passes `Shared::wants_depth10`, which the book stage reads).
    pub fn sharing(flag: Arc<AtomicBool>) -> ModelControl {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (outcome_tx, outcome_rx) = crossbeam_channel::bounded(HISTORY);
        ModelControl {
            log: Mutex::new(Log::default()),
            tx,
            rx,
            outcome_tx,
            outcome_rx,
            state: AtomicU8::new(ReloadState::Idle as u8),
            live: AtomicU32::new(u32::MAX),
            live_since_ms: AtomicI64::new(0),
            live_plan: AtomicU32::new(FeaturePlan::default().mask()),
            candidate: AtomicU32::new(u32::MAX),
            shadow_n: AtomicU64::new(0),
            shadow_target: AtomicU64::new(0),
            shadow_agreement: AtomicU64::new(f64::NAN.to_bits()),
            shadow_correlation: AtomicU64::new(f64::NAN.to_bits()),
            wants_depth10: flag,
            rows: RecentRows::new(),
        }
    }

    /// Sets the reload settings (engine start).
    pub fn configure(&self, settings: ReloadSettings) {
        self.log.lock().settings = settings;
    }

    /// Records the model the engine starts with (engine start, or the
    /// score stage when it makes its scorer).
    pub fn start_with(&self, version: &str, version_no: u16, plan: FeaturePlan, now_ms: i64) {
        {
            let mut log = self.log.lock();
            if !log.used.iter().any(|v| v == version) {
                log.used.push(version.to_string());
            }
        }
        self.set_live(version_no, plan, now_ms);
    }

    /// Whether a candidate waits for the score thread (one relaxed load:
    /// the score thread checks this before touching the channel).
    #[inline]
    pub fn candidate_pending(&self) -> bool {
        self.state.load(Ordering::Relaxed) == ReloadState::Pending as u8
    }

    /// The receiving end for the score thread.
    pub fn candidates(&self) -> Receiver<Candidate> {
        self.rx.clone()
    }

    /// Whether the book stage should sum 10 levels per side.
    #[inline]
    pub fn wants_depth10(&self) -> bool {
        self.wants_depth10.load(Ordering::Relaxed)
    }

    /// The number of the live model's version.
    pub fn live_version(&self) -> Option<u16> {
        u16::try_from(self.live.load(Ordering::Acquire)).ok()
    }

    pub fn state(&self) -> ReloadState {
        ReloadState::from_u8(self.state.load(Ordering::Acquire))
    }

    // --- score thread side (atomics and a bounded channel only) ---

    /// The live model changed (start or swap).
    pub fn set_live(&self, version: u16, plan: FeaturePlan, now_ms: i64) {
        self.live_plan.store(plan.mask(), Ordering::Relaxed);
        self.live_since_ms.store(now_ms, Ordering::Relaxed);
        self.live.store(version as u32, Ordering::Release);
    }

    /// The features the score thread computes now (live and shadow).
    pub fn set_active_plan(&self, plan: FeaturePlan) {
        self.wants_depth10
            .store(plan.has(idx::BOOK_IMBALANCE_10), Ordering::Relaxed);
    }

    /// A shadow run started.
    pub fn shadow_started(&self, version: u16, target: u64) {
        self.candidate.store(version as u32, Ordering::Relaxed);
        self.shadow_target.store(target, Ordering::Relaxed);
        self.shadow_progress(0, None, None);
        self.state
            .store(ReloadState::Shadowing as u8, Ordering::Release);
    }

    /// Progress of the shadow run.
    #[inline]
    pub fn shadow_progress(&self, n: u64, agreement: Option<f64>, correlation: Option<f64>) {
        self.shadow_n.store(n, Ordering::Relaxed);
        self.shadow_agreement
            .store(opt_f64(agreement), Ordering::Relaxed);
        self.shadow_correlation
            .store(opt_f64(correlation), Ordering::Relaxed);
    }

    /// The shadow run ended (swap or rejection).
    pub fn shadow_finished(&self, outcome: ShadowOutcome) {
        let _ = self.outcome_tx.try_send(outcome);
        self.state.store(ReloadState::Idle as u8, Ordering::Release);
    }

    // --- ops side ---

    fn drain_outcomes(&self, log: &mut Log) {
        while let Ok(o) = self.outcome_rx.try_recv() {
            let version = versions::name(o.version);
            log.push(json!({
                "at_ms": o.at_ms,
                "version": &*version,
                "result": if o.swapped { "swapped" } else { "rejected_in_shadow" },
                "shadow_decisions": o.decisions,
                "agreement": o.agreement,
                "score_correlation": o.correlation,
                "reason": if o.swapped {
                    Value::Null
                } else {
                    json!(format!(
                        "agreement {:.4} below model.shadow_min_agreement {}",
                        o.agreement.unwrap_or(0.0),
                        o.min_agreement
                    ))
                },
            }));
        }
    }

    /// Loads, validates and hands over the configured model file as a
    /// candidate (see the module doc). `source` is `api` or `sighup`.
    /// Returns the accepted candidate's description.
    pub fn reload(
        &self,
        source: &str,
        now_ms: i64,
        metrics: &crate::telemetry::model::ModelMetrics,
    ) -> Result<Value, Refusal> {
        let mut log = self.log.lock();
        self.drain_outcomes(&mut log);
        let r = self.try_reload(&mut log);
        match &r {
            Ok(v) => {
                metrics.reloads.with_label_values(&["accepted"]).inc();
                tracing::info!(source, version = %v["version"], path = %log.settings.path,
                    shadow_decisions = log.settings.shadow_decisions,
                    "model reload accepted; shadow scoring begins");
                let mut e = v.clone();
                e["at_ms"] = json!(now_ms);
                e["source"] = json!(source);
                e["result"] = json!("accepted");
                log.push(e);
            }
            Err(f) => {
                metrics.reloads.with_label_values(&[f.kind.label()]).inc();
                tracing::warn!(source, path = %log.settings.path, result = f.kind.label(),
                    reason = %f.reason, "model reload refused; the live model keeps trading");
                log.push(json!({
                    "at_ms": now_ms,
                    "source": source,
                    "result": f.kind.label(),
                    "reason": f.reason,
                }));
            }
        }
        r
    }

    fn try_reload(&self, log: &mut Log) -> Result<Value, Refusal> {
        if self.state() != ReloadState::Idle {
            return Err(Refusal::new(
                RefusalKind::Busy,
                format!(
                    "a reload is already {} (version {}); wait for its swap",
                    self.state().as_str(),
                    self.candidate_name().unwrap_or_else(|| "?".into())
                ),
            ));
        }
        let s = log.settings.clone();
        if s.path.is_empty() {
            return Err(Refusal::new(
                RefusalKind::Unavailable,
                "no model.path configured",
            ));
        }
        let rows = self.rows.snapshot();
        let (model, plan) = validate::<LiveModel>(Path::new(&s.path), &log.used, &rows)?;
        let version = model.version_str().to_string();
        let no = versions::intern(&version)
            .map_err(|e| Refusal::new(RefusalKind::Version, e.to_string()))?;
        self.candidate.store(no as u32, Ordering::Relaxed);
        self.state
            .store(ReloadState::Pending as u8, Ordering::Release);
        let cand = Candidate {
            model,
            version: no,
            plan,
            shadow_decisions: s.shadow_decisions,
            min_agreement: s.min_agreement,
        };
        match self.tx.try_send(cand) {
            Ok(()) => {}
            Err(e) => {
                self.state.store(ReloadState::Idle as u8, Ordering::Release);
                let why = match e {
                    TrySendError::Full(_) => (RefusalKind::Busy, "a candidate is already queued"),
                    TrySendError::Disconnected(_) => {
                        (RefusalKind::Unavailable, "the score stage is not running")
                    }
                };
                return Err(Refusal::new(why.0, why.1));
            }
        }
        log.used.push(version.clone());
        Ok(json!({
            "accepted": true,
            "version": version,
            "path": s.path,
            "features": plan.names().collect::<Vec<_>>(),
            "self_test_rows": rows.len() + 1,
            "shadow_decisions": s.shadow_decisions,
        }))
    }

    fn candidate_name(&self) -> Option<String> {
        let c = u16::try_from(self.candidate.load(Ordering::Relaxed)).ok()?;
        Some(versions::name(c).to_string())
    }

    /// `GET /api/model`.
    pub fn view(&self) -> Value {
        let mut log = self.log.lock();
        self.drain_outcomes(&mut log);
        let live = self.live_version().map(|v| versions::name(v).to_string());
        let state = self.state();
        let shadow = json!({
            "version": self.candidate_name(),
            "decisions": self.shadow_n.load(Ordering::Relaxed),
            "target": self.shadow_target.load(Ordering::Relaxed),
            "agreement": json_f64(self.shadow_agreement.load(Ordering::Relaxed)),
            "score_correlation": json_f64(self.shadow_correlation.load(Ordering::Relaxed)),
        });
        json!({
            "live": {
                "version": live,
                "since_ms": self.live_since_ms.load(Ordering::Relaxed),
                "features": FeaturePlan::from_mask(self.live_plan.load(Ordering::Relaxed))
                    .names().collect::<Vec<_>>(),
            },
            "state": state.as_str(),
            "shadow": shadow,
            "path": log.settings.path,
            "shadow_decisions": log.settings.shadow_decisions,
            "shadow_min_agreement": log.settings.min_agreement,
            "history": log.history.iter().rev().cloned().collect::<Vec<_>>(),
        })
    }
}

/// Validates a model file: format and feature names (the loader and the
/// registry), version string (not in `used`), and the self-test over
/// `rows` plus a zero row. Returns the model and its feature plan.
pub fn validate<M: ScoringModel>(
    path: &Path,
    used: &[String],
    rows: &[[f64; N_FEATURES]],
) -> Result<(M, FeaturePlan), Refusal> {
    let model = M::load_file(path).map_err(|e| {
        let kind = if e.contains("unknown feature") {
            RefusalKind::Features
        } else {
            RefusalKind::Format
        };
        Refusal::new(kind, format!("{}: {e}", path.display()))
    })?;
    let names = model.feature_names();
    let plan = FeaturePlan::from_names(names.iter().map(String::as_str)).map_err(|e| {
        Refusal::new(
            RefusalKind::Features,
            format!("{}: feature {}: {e}", path.display(), e.position),
        )
    })?;
    let v = model.version_str();
    if v.trim().is_empty() {
        return Err(Refusal::new(
            RefusalKind::Version,
            "the version string is empty",
        ));
    }
    if v.len() > MAX_VERSION_LEN || v.chars().any(char::is_control) {
        return Err(Refusal::new(
            RefusalKind::Version,
            format!("the version string must be printable and at most {MAX_VERSION_LEN} bytes"),
        ));
    }
    if used.iter().any(|u| u == v) {
        return Err(Refusal::new(
            RefusalKind::Version,
            format!(
                "version \"{v}\" has already run in this engine; give the new model a new version so decisions stay attributable"
            ),
        ));
    }
    let zero = [0.0; N_FEATURES];
    for (i, row) in rows.iter().chain(std::iter::once(&zero)).enumerate() {
        let (_, score, conf) = model.score_features(row);
        if !score.is_finite() || !conf.is_finite() || !(0.0..=1.0).contains(&conf) {
            let what = if i < rows.len() {
                format!("stored feature row {} of {}", i + 1, rows.len())
            } else {
                "the all-zero feature row".to_string()
            };
            return Err(Refusal::new(
                RefusalKind::SelfTest,
                format!(
                    "self-test: {what} gave score {score}, confidence {conf} (must be finite, confidence in [0, 1])"
                ),
            ));
        }
    }
    Ok((model, plan))
}
