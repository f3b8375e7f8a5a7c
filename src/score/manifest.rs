//! The engine's decision model, whichever kind it is, and the model file
//! that chooses it.
//!
//! `[model] path` names one JSON file. Its `kind` decides the rest:
//!
//! - `logistic` / `linear`: the whole model is in the file (see
//!   [`super::model::LinearModel`]); today's `config/model.json`.
//! - `lightgbm`, `xgboost`, `onnx`: the file is a *manifest* naming the
//!   model file the package wrote, relative to the manifest's directory:
//!
//! ```json
//! { "version": "lgb-btc-2026.12.07", "kind": "lightgbm", "path": "lgb.txt",
//!   "features": ["book_imbalance", "spread_bps", "return_bps"],
//!   "buy_threshold": 0.6, "sell_threshold": 0.4 }
//! ```
//!
//! `features` lists the engine's feature names in the model's input order
//! (tree models may leave it out when the file's own feature names are
//! engine feature names); an unknown name is refused at load, with the
//! name. How the prediction becomes BUY/SELL/HOLD follows the model's
//! output: a probability (binary objectives; `"output": "probability"`)
//! or a value (regression; `"output": "value"`) is compared with
//! `buy_threshold`/`sell_threshold` like the logistic model; class
//! probabilities (multiclass; `"output": "classes"`) are mapped by
//! `classes` (e.g. `["sell", "hold", "buy"]`, one per class in class
//! order): the most probable class is the action when its probability is
//! at least `min_class_probability`, else HOLD. ONNX models must state
//! `output`; tree models take it from their objective.
//!
//! [`Model`] is an enum: scoring dispatches with one `match`, no trait objects.

use super::features::{FEATURE_NAMES, feature_index};
use super::model::{LinearModel, ModelError};
#[cfg(feature = "onnx")]
use super::onnx::OnnxModel;
use super::trees::{Link, MAX_CLASSES, Prediction, TreeEnsemble, lightgbm, xgboost};
use crate::core::{Action, N_FEATURES};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The model kinds a manifest can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestKind {
    Lightgbm,
    Xgboost,
    Onnx,
}

/// What a model's prediction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// One probability that the price goes up.
    Probability,
    /// One value (e.g. a forward return).
    Value,
    /// One probability per class.
    Classes,
}

/// The action a class stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassAction {
    Buy,
    Sell,
    Hold,
}

/// A manifest as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: String,
    pub kind: ManifestKind,
    pub path: String,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub output: Option<OutputKind>,
    #[serde(default)]
    pub buy_threshold: Option<f64>,
    #[serde(default)]
    pub sell_threshold: Option<f64>,
    #[serde(default)]
    pub classes: Option<Vec<ClassAction>>,
    #[serde(default)]
    pub min_class_probability: Option<f64>,
}

/// How a prediction becomes an action, score and confidence.
#[derive(Debug, Clone, Copy)]
pub struct Decider {
    output: OutputKind,
    buy: f64,
    sell: f64,
    classes: [ClassAction; MAX_CLASSES],
    n_classes: usize,
    min_p: f64,
}

impl Decider {
    /// Probability/value: BUY at or above `buy_threshold`, SELL at or below
    /// `sell_threshold`; score 2p − 1 (probability) or the value, confidence
    /// |2p − 1| or min(|v|, 1). Classes: the most probable class if its
    /// probability is at least `min_class_probability`; score p(buy) −
    /// p(sell), confidence the top probability. NaN gives HOLD, 0, 0.
    #[inline]
    pub fn decide(&self, p: &Prediction) -> (Action, f32, f32) {
        let v = p.values();
        if v.iter().any(|x| x.is_nan()) || v.is_empty() {
            return (Action::Hold, 0.0, 0.0);
        }
        match self.output {
            OutputKind::Probability | OutputKind::Value => {
                let x = v[0];
                let (score, conf) = if self.output == OutputKind::Probability {
                    (2.0 * x - 1.0, (2.0 * x - 1.0).abs())
                } else {
                    if !x.is_finite() {
                        return (Action::Hold, 0.0, 0.0);
                    }
                    (x, x.abs().min(1.0))
                };
                let action = if x >= self.buy {
                    Action::Buy
                } else if x <= self.sell {
                    Action::Sell
                } else {
                    Action::Hold
                };
                (action, score as f32, conf as f32)
            }
            OutputKind::Classes => {
                let (mut best, mut best_p, mut buy, mut sell) = (0, f64::NEG_INFINITY, 0.0, 0.0);
                for (i, (&x, c)) in v.iter().zip(&self.classes[..self.n_classes]).enumerate() {
                    if x > best_p {
                        best = i;
                        best_p = x;
                    }
                    match c {
                        ClassAction::Buy => buy += x,
                        ClassAction::Sell => sell += x,
                        ClassAction::Hold => {}
                    }
                }
                let action = if best_p >= self.min_p {
                    match self.classes[best] {
                        ClassAction::Buy => Action::Buy,
                        ClassAction::Sell => Action::Sell,
                        ClassAction::Hold => Action::Hold,
                    }
                } else {
                    Action::Hold
                };
                (action, (buy - sell) as f32, best_p as f32)
            }
        }
    }
}

/// A tree ensemble reading the engine's feature array directly.
#[derive(Debug, Clone)]
pub struct TreeModel {
    pub version: String,
    pub features: Vec<String>,
    pub ensemble: TreeEnsemble,
    pub decider: Decider,
}

/// An ONNX graph and the engine slots of its inputs.
#[cfg(feature = "onnx")]
#[derive(Debug, Clone)]
pub struct OnnxEngineModel {
    pub version: String,
    pub features: Vec<String>,
    pub slots: Vec<usize>,
    pub graph: OnnxModel,
    pub decider: Decider,
}

/// The engine's decision model.
///
/// The linear model stays inline (its weights are one array per feature
/// slot, 608 bytes with 22 slots): a `Model` is built once per load and
/// never moved on the hot path, where a box would cost a pointer chase.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Model {
    Linear(LinearModel),
    /// Boxed: the ensemble's inline arrays would make every variant large.
    Trees(Box<TreeModel>),
    #[cfg(feature = "onnx")]
    Onnx(OnnxEngineModel),
}

fn invalid(path: &str, reason: impl Into<String>) -> ModelError {
    ModelError::Invalid {
        path: path.to_string(),
        reason: reason.into(),
    }
}

impl Model {
    /// Reads a model file (a linear model or a manifest; see the module doc).
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_json_in(&text, dir)
    }

    /// Parses a model file's JSON; a manifest's `path` is relative to the
    /// current directory.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        Self::from_json_in(text, Path::new("."))
    }

    /// Parses a model file's JSON; a manifest's `path` is relative to `dir`.
    pub fn from_json_in(text: &str, dir: &Path) -> Result<Model, ModelError> {
        let kind = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_string)));
        match kind.as_deref() {
            Some("lightgbm" | "xgboost" | "onnx") => {}
            Some("logistic" | "linear") | None => {
                return LinearModel::from_json(text).map(Model::Linear);
            }
            Some(other) => {
                return Err(invalid(
                    "model.kind",
                    format!(
                        "unknown kind \"{other}\" (expected one of logistic, linear, lightgbm, xgboost, onnx)"
                    ),
                ));
            }
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let m: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let p = e.path().to_string();
            let path = if p == "." || p.is_empty() {
                "model".to_string()
            } else {
                format!("model.{p}")
            };
            invalid(&path, e.into_inner().to_string())
        })?;
        Self::from_manifest(m, dir)
    }

    /// Loads the model a manifest names.
    pub fn from_manifest(m: Manifest, dir: &Path) -> Result<Model, ModelError> {
        if m.version.trim().is_empty() {
            return Err(invalid("model.version", "must be a non-empty string"));
        }
        let file: PathBuf = dir.join(&m.path);
        let file_err = |reason: String| {
            invalid(
                "model.path",
                format!("{} model {}: {reason}", kind_name(m.kind), file.display()),
            )
        };
        match m.kind {
            ManifestKind::Lightgbm | ManifestKind::Xgboost => {
                let text = std::fs::read_to_string(&file).map_err(|source| ModelError::Io {
                    path: file.display().to_string(),
                    source,
                })?;
                let mut ensemble = if m.kind == ManifestKind::Lightgbm {
                    lightgbm::parse(&text)
                } else {
                    xgboost::parse(&text)
                }
                .map_err(|e| file_err(e.0))?;
                let features = match &m.features {
                    Some(f) => f.clone(),
                    None if !ensemble.feature_names().is_empty() => {
                        ensemble.feature_names().to_vec()
                    }
                    None => {
                        return Err(invalid(
                            "model.features",
                            "the model file names no features: list them in the manifest",
                        ));
                    }
                };
                if features.len() != ensemble.n_inputs() {
                    return Err(invalid(
                        "model.features",
                        format!(
                            "{} names for a model with {} features",
                            features.len(),
                            ensemble.n_inputs()
                        ),
                    ));
                }
                let slots = slots(&features)?;
                ensemble
                    .remap_features(&slots, N_FEATURES)
                    .map_err(|e| file_err(e.0))?;
                let natural = match ensemble.link() {
                    Link::Sigmoid { .. } => OutputKind::Probability,
                    Link::Identity => OutputKind::Value,
                    Link::Softmax => OutputKind::Classes,
                };
                if let Some(o) = m.output.filter(|o| *o != natural) {
                    return Err(invalid(
                        "model.output",
                        format!(
                            "the model's objective {} gives {natural:?}, not {o:?}",
                            ensemble.objective()
                        ),
                    ));
                }
                let decider = decider(&m, natural, ensemble.n_classes())?;
                Ok(Model::Trees(Box::new(TreeModel {
                    version: m.version,
                    features,
                    ensemble,
                    decider,
                })))
            }
            ManifestKind::Onnx => onnx_model(m, &file),
        }
    }

    /// The model's version string (kept in `Shared::model_version`).
    pub fn version(&self) -> &str {
        match self {
            Model::Linear(m) => m.version(),
            Model::Trees(m) => &m.version,
            #[cfg(feature = "onnx")]
            Model::Onnx(m) => &m.version,
        }
    }

    /// `logistic`, `linear`, `lightgbm`, `xgboost` or `onnx`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Model::Linear(m) => match m.kind() {
                super::model::ModelKind::Logistic => "logistic",
                super::model::ModelKind::Linear => "linear",
            },
            Model::Trees(m) => match m.ensemble.arith() {
                super::trees::Arith::F64 => "lightgbm",
                super::trees::Arith::F32 => "xgboost",
            },
            #[cfg(feature = "onnx")]
            Model::Onnx(_) => "onnx",
        }
    }

    /// The engine features the model reads.
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            Model::Linear(m) => m.spec().features.iter().map(|f| f.name.clone()).collect(),
            Model::Trees(m) => m.features.clone(),
            #[cfg(feature = "onnx")]
            Model::Onnx(m) => m.features.clone(),
        }
    }

    /// Action, score and confidence for one feature vector (see each
    /// model's rule: [`LinearModel::score`], [`Decider::decide`]).
    #[inline]
    pub fn score(&self, x: &[f64; N_FEATURES]) -> (Action, f32, f32) {
        match self {
            Model::Linear(m) => m.score(x),
            Model::Trees(m) => m.decider.decide(&m.ensemble.predict(x)),
            #[cfg(feature = "onnx")]
            Model::Onnx(m) => {
                let mut row = [0f32; super::onnx::MAX_INPUTS];
                let n = m.slots.len();
                for (o, s) in row.iter_mut().zip(&m.slots) {
                    *o = x[*s] as f32;
                }
                match m.graph.predict(&row[..n]) {
                    Ok(p) => m.decider.decide(&p),
                    Err(_) => (Action::Hold, 0.0, 0.0),
                }
            }
        }
    }
}

fn kind_name(k: ManifestKind) -> &'static str {
    match k {
        ManifestKind::Lightgbm => "lightgbm",
        ManifestKind::Xgboost => "xgboost",
        ManifestKind::Onnx => "onnx",
    }
}

/// Engine slots of the named features; unknown or repeated names refused.
fn slots(features: &[String]) -> Result<Vec<usize>, ModelError> {
    if features.is_empty() {
        return Err(invalid("model.features", "must list at least one feature"));
    }
    let mut out = Vec::with_capacity(features.len());
    for (i, name) in features.iter().enumerate() {
        let Some(k) = feature_index(name) else {
            return Err(invalid(
                &format!("model.features[{i}]"),
                format!(
                    "unknown feature \"{name}\" (known: {})",
                    FEATURE_NAMES.join(", ")
                ),
            ));
        };
        if out.contains(&k) {
            return Err(invalid(
                &format!("model.features[{i}]"),
                format!("duplicate feature \"{name}\""),
            ));
        }
        out.push(k);
    }
    Ok(out)
}

fn decider(m: &Manifest, output: OutputKind, n_out: usize) -> Result<Decider, ModelError> {
    let mut d = Decider {
        output,
        buy: 0.0,
        sell: 0.0,
        classes: [ClassAction::Hold; MAX_CLASSES],
        n_classes: n_out,
        min_p: 0.0,
    };
    let need = |v: Option<f64>, p: &str| -> Result<f64, ModelError> {
        match v {
            Some(x) if x.is_finite() => Ok(x),
            Some(x) => Err(invalid(p, format!("must be a finite number (got {x})"))),
            None => Err(invalid(
                p,
                format!("required for a model whose output is {output:?}"),
            )),
        }
    };
    match output {
        OutputKind::Probability | OutputKind::Value => {
            if n_out != 1 {
                return Err(invalid(
                    "model.output",
                    format!("{output:?} needs one output value per row, the model has {n_out}"),
                ));
            }
            d.buy = need(m.buy_threshold, "model.buy_threshold")?;
            d.sell = need(m.sell_threshold, "model.sell_threshold")?;
            if output == OutputKind::Probability {
                for (p, v) in [
                    ("model.buy_threshold", d.buy),
                    ("model.sell_threshold", d.sell),
                ] {
                    if !(0.0..=1.0).contains(&v) {
                        return Err(invalid(
                            p,
                            format!("must be a probability between 0 and 1 (got {v})"),
                        ));
                    }
                }
            }
            if d.sell >= d.buy {
                return Err(invalid(
                    "model.sell_threshold",
                    format!(
                        "must be below buy_threshold (got sell_threshold {} >= buy_threshold {})",
                        d.sell, d.buy
                    ),
                ));
            }
        }
        OutputKind::Classes => {
            let Some(classes) = &m.classes else {
                return Err(invalid(
                    "model.classes",
                    format!(
                        "required for a model with {n_out} classes: one of buy/sell/hold per class"
                    ),
                ));
            };
            if classes.len() != n_out {
                return Err(invalid(
                    "model.classes",
                    format!("{} entries for a model with {n_out} classes", classes.len()),
                ));
            }
            d.classes[..n_out].copy_from_slice(classes);
            d.min_p = need(m.min_class_probability, "model.min_class_probability")?;
            if !(0.0..=1.0).contains(&d.min_p) {
                return Err(invalid(
                    "model.min_class_probability",
                    format!("must be between 0 and 1 (got {})", d.min_p),
                ));
            }
        }
    }
    Ok(d)
}

#[cfg(feature = "onnx")]
fn onnx_model(m: Manifest, file: &Path) -> Result<Model, ModelError> {
    let Some(features) = m.features.clone() else {
        return Err(invalid("model.features", "required for an onnx model"));
    };
    let Some(output) = m.output else {
        return Err(invalid(
            "model.output",
            "required for an onnx model (probability, value or classes)",
        ));
    };
    let slots = slots(&features)?;
    if !file.exists() {
        return Err(ModelError::Io {
            path: file.display().to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let graph = OnnxModel::load(file, features.len())
        .map_err(|e| invalid("model.path", format!("onnx model {}: {e}", file.display())))?;
    let decider = decider(&m, output, graph.n_outputs())?;
    Ok(Model::Onnx(OnnxEngineModel {
        version: m.version,
        features,
        slots,
        graph,
        decider,
    }))
}

#[cfg(not(feature = "onnx"))]
fn onnx_model(_m: Manifest, _file: &Path) -> Result<Model, ModelError> {
    Err(invalid(
        "model.kind",
        "onnx models need the `onnx` cargo feature (this build was made without it)",
    ))
}
