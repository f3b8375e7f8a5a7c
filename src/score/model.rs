//! The decision model: a linear or logistic function of the standardized
//! features, loaded from a JSON file (`config/model.json`):
//!
//! ```json
//! { "version": "logit-imbalance-2026.11.1", "kind": "logistic",
//!   "features": [ { "name": "book_imbalance", "weight": 2.2, "mean": 0.0, "scale": 1.0 } ],
//!   "bias": 0.0, "buy_threshold": 0.80, "sell_threshold": 0.20 }
//! ```
//!
//! Loading is strict: unknown keys, unknown or duplicate feature names,
//! non-finite numbers, a zero scale or thresholds out of order are errors
//! naming the field (`model.features[2].name: unknown feature "foo" ...`).
//! Scoring is allocation-free and branch-light: features the file does not
//! list get weight 0.

use super::features::{FEATURE_NAMES, feature_index};
use crate::core::{Action, N_FEATURES};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `logistic`: p = σ(z); `linear`: s = z; with z = bias + Σ w·(x − mean)/scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Logistic,
    Linear,
}

/// One feature term of the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    pub weight: f64,
    #[serde(default)]
    pub mean: f64,
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

/// The model file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub version: String,
    pub kind: ModelKind,
    pub features: Vec<FeatureSpec>,
    #[serde(default)]
    pub bias: f64,
    pub buy_threshold: f64,
    pub sell_threshold: f64,
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// `path` is the dotted field path, e.g. `model.features[2].name`.
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl ModelError {
    fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The field path for [`ModelError::Invalid`], the file path for I/O errors.
    pub fn path(&self) -> &str {
        match self {
            ModelError::Io { path, .. } | ModelError::Invalid { path, .. } => path,
        }
    }
}

/// A validated model, ready to score.
#[derive(Debug, Clone)]
pub struct LinearModel {
    spec: ModelSpec,
    weights: [f64; N_FEATURES],
    means: [f64; N_FEATURES],
    inv_scales: [f64; N_FEATURES],
}

fn finite(path: &str, v: f64) -> Result<(), ModelError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(ModelError::invalid(
            path,
            format!("must be a finite number (got {v})"),
        ))
    }
}

impl LinearModel {
    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<LinearModel, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Parses and validates model JSON.
    pub fn from_json(text: &str) -> Result<LinearModel, ModelError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let spec: ModelSpec = serde_path_to_error::deserialize(de).map_err(|e| {
            let p = e.path().to_string();
            let path = if p == "." || p.is_empty() {
                "model".to_string()
            } else {
                format!("model.{p}")
            };
            ModelError::invalid(path, e.into_inner().to_string())
        })?;
        Self::from_spec(spec)
    }

    /// Validates a spec built in code.
    pub fn from_spec(spec: ModelSpec) -> Result<LinearModel, ModelError> {
        if spec.version.trim().is_empty() {
            return Err(ModelError::invalid(
                "model.version",
                "must be a non-empty string",
            ));
        }
        if spec.features.is_empty() {
            return Err(ModelError::invalid(
                "model.features",
                "must list at least one feature",
            ));
        }
        let mut weights = [0.0; N_FEATURES];
        let mut means = [0.0; N_FEATURES];
        let mut inv_scales = [1.0; N_FEATURES];
        let mut seen = [false; N_FEATURES];
        for (i, f) in spec.features.iter().enumerate() {
            let p = format!("model.features[{i}]");
            let Some(k) = feature_index(&f.name) else {
                return Err(ModelError::invalid(
                    format!("{p}.name"),
                    format!(
                        "unknown feature \"{}\" (known: {})",
                        f.name,
                        FEATURE_NAMES.join(", ")
                    ),
                ));
            };
            if seen[k] {
                return Err(ModelError::invalid(
                    format!("{p}.name"),
                    format!("duplicate feature \"{}\"", f.name),
                ));
            }
            seen[k] = true;
            finite(&format!("{p}.weight"), f.weight)?;
            finite(&format!("{p}.mean"), f.mean)?;
            finite(&format!("{p}.scale"), f.scale)?;
            if f.scale == 0.0 {
                return Err(ModelError::invalid(format!("{p}.scale"), "must not be 0"));
            }
            weights[k] = f.weight;
            means[k] = f.mean;
            inv_scales[k] = 1.0 / f.scale;
        }
        finite("model.bias", spec.bias)?;
        finite("model.buy_threshold", spec.buy_threshold)?;
        finite("model.sell_threshold", spec.sell_threshold)?;
        if spec.kind == ModelKind::Logistic {
            for (p, v) in [
                ("model.buy_threshold", spec.buy_threshold),
                ("model.sell_threshold", spec.sell_threshold),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(ModelError::invalid(
                        p,
                        format!(
                            "must be a probability between 0 and 1 for a logistic model (got {v})"
                        ),
                    ));
                }
            }
        }
        if spec.sell_threshold >= spec.buy_threshold {
            return Err(ModelError::invalid(
                "model.sell_threshold",
                format!(
                    "must be below buy_threshold (got sell_threshold {} >= buy_threshold {})",
                    spec.sell_threshold, spec.buy_threshold
                ),
            ));
        }
        Ok(LinearModel {
            spec,
            weights,
            means,
            inv_scales,
        })
    }

    /// The model's version string (kept in `Shared::model_version`).
    pub fn version(&self) -> &str {
        &self.spec.version
    }

    pub fn kind(&self) -> ModelKind {
        self.spec.kind
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The linear term z = bias + Σ w·(x − mean)/scale.
    #[inline]
    pub fn linear_term(&self, x: &[f64; N_FEATURES]) -> f64 {
        let mut z = self.spec.bias;
        for (((w, xv), m), s) in self
            .weights
            .iter()
            .zip(x)
            .zip(&self.means)
            .zip(&self.inv_scales)
        {
            z += w * (xv - m) * s;
        }
        z
    }

    /// Action, score and confidence for one feature vector.
    ///
    /// Logistic: p = σ(z); BUY if p ≥ buy_threshold, SELL if p ≤
    /// sell_threshold, else HOLD; score = 2p − 1, confidence = |2p − 1|.
    /// Linear: s = z with the same threshold rule on s; score = s,
    /// confidence = min(|s|, 1). A non-finite input gives HOLD, 0, 0.
    #[inline]
    pub fn score(&self, x: &[f64; N_FEATURES]) -> (Action, f32, f32) {
        let z = self.linear_term(x);
        if z.is_nan() {
            return (Action::Hold, 0.0, 0.0);
        }
        let (v, score, conf) = match self.spec.kind {
            ModelKind::Logistic => {
                let p = sigmoid(z);
                (p, 2.0 * p - 1.0, (2.0 * p - 1.0).abs())
            }
            ModelKind::Linear => {
                if !z.is_finite() {
                    return (Action::Hold, 0.0, 0.0);
                }
                (z, z, z.abs().min(1.0))
            }
        };
        let action = if v >= self.spec.buy_threshold {
            Action::Buy
        } else if v <= self.spec.sell_threshold {
            Action::Sell
        } else {
            Action::Hold
        };
        (action, score as f32, conf as f32)
    }
}

/// Numerically stable logistic function.
#[inline]
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::features::idx;

    fn json(kind: &str, feats: &str, buy: f64, sell: f64) -> String {
        format!(
            r#"{{"version":"t1","kind":"{kind}","features":[{feats}],"bias":0.0,"buy_threshold":{buy},"sell_threshold":{sell}}}"#
        )
    }

    const IMB: &str = r#"{"name":"book_imbalance","weight":2.0,"mean":0.0,"scale":1.0}"#;

    fn err(text: &str) -> (String, String) {
        match LinearModel::from_json(text) {
            Ok(_) => panic!("expected an error"),
            Err(ModelError::Invalid { path, reason }) => (path, reason),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn real_model_file_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/model.json");
        let m = LinearModel::load(&p).unwrap();
        assert_eq!(m.version(), "logit-imbalance-2026.11.1");
        assert_eq!(m.kind(), ModelKind::Logistic);
        assert_eq!(m.spec().features.len(), 5);
        let (a, s, c) = m.score(&[0.0; N_FEATURES]);
        assert_eq!((a, s, c), (Action::Hold, 0.0, 0.0));
    }

    #[test]
    fn unknown_feature_is_named() {
        let bad = r#"{"name":"foo","weight":1.0,"mean":0.0,"scale":1.0}"#;
        let (p, r) = err(&json(
            "logistic",
            &format!(
                "{IMB},{IMB2},{bad}",
                IMB2 = IMB.replace("book_imbalance", "mid")
            ),
            0.8,
            0.2,
        ));
        assert_eq!(p, "model.features[2].name");
        assert!(
            r.starts_with("unknown feature \"foo\" (known: mid, "),
            "{r}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values() {
        let (p, r) = err(&json("logistic", IMB, 0.8, 0.2).replace("\"bias\"", "\"biass\""));
        assert_eq!(p, "model.biass");
        assert!(r.contains("unknown field"), "{r}");
        let (p, r) = err(&json(
            "logistic",
            &IMB.replace("\"scale\"", "\"scal\""),
            0.8,
            0.2,
        ));
        assert_eq!(p, "model.features[0].scal", "{r}");
        let (p, _) = err(&json("probit", IMB, 0.8, 0.2));
        assert_eq!(p, "model.kind");
        let (p, r) = err(&json("logistic", &IMB.replace("1.0}", "0.0}"), 0.8, 0.2));
        assert_eq!(
            (p.as_str(), r.as_str()),
            ("model.features[0].scale", "must not be 0")
        );
        let (p, _) = err(&json("logistic", &format!("{IMB},{IMB}"), 0.8, 0.2));
        assert_eq!(p, "model.features[1].name");
        let (p, _) = err(&json("logistic", IMB, 0.8, 0.2).replace("\"t1\"", "\"\""));
        assert_eq!(p, "model.version");
        let (p, _) = err(&json("logistic", IMB, 0.8, 0.2).replace("\"version\":\"t1\",", ""));
        assert_eq!(p, "model");
        let (p, _) = err(&json("logistic", "", 0.8, 0.2));
        assert_eq!(p, "model.features");
        // JSON has no NaN; a spec built in code can.
        let mut spec = LinearModel::from_json(&json("logistic", IMB, 0.8, 0.2))
            .unwrap()
            .spec()
            .clone();
        spec.features[0].weight = f64::NAN;
        match LinearModel::from_spec(spec) {
            Err(e) => assert_eq!(e.path(), "model.features[0].weight"),
            Ok(_) => panic!("NaN accepted"),
        }
    }

    #[test]
    fn thresholds_must_be_ordered() {
        let (p, r) = err(&json("logistic", IMB, 0.4, 0.6));
        assert_eq!(p, "model.sell_threshold");
        assert!(r.contains("below buy_threshold"), "{r}");
        let (p, _) = err(&json("logistic", IMB, 0.5, 0.5));
        assert_eq!(p, "model.sell_threshold");
        let (p, _) = err(&json("logistic", IMB, 1.5, 0.2));
        assert_eq!(p, "model.buy_threshold");
        // Linear thresholds are unbounded.
        assert!(LinearModel::from_json(&json("linear", IMB, 1.5, -1.5)).is_ok());
    }

    #[test]
    fn logistic_thresholds() {
        let m = LinearModel::from_json(&json("logistic", IMB, 0.8, 0.2)).unwrap();
        let mut x = [0.0; N_FEATURES];
        // p = σ(2·x); σ(z) = 0.8 at z = ln 4.
        let z_buy = 4f64.ln();
        x[idx::BOOK_IMBALANCE] = z_buy / 2.0 + 1e-9;
        let (a, s, c) = m.score(&x);
        assert_eq!(a, Action::Buy);
        assert!((s - 0.6).abs() < 1e-6 && (c - 0.6).abs() < 1e-6);
        x[idx::BOOK_IMBALANCE] = z_buy / 2.0 - 1e-6;
        assert_eq!(m.score(&x).0, Action::Hold);
        x[idx::BOOK_IMBALANCE] = -z_buy / 2.0 - 1e-9;
        let (a, s, c) = m.score(&x);
        assert_eq!(a, Action::Sell);
        assert!((s + 0.6).abs() < 1e-6 && (c - 0.6).abs() < 1e-6);
        x[idx::BOOK_IMBALANCE] = f64::NAN;
        assert_eq!(m.score(&x), (Action::Hold, 0.0, 0.0));
        x[idx::BOOK_IMBALANCE] = f64::INFINITY;
        assert_eq!(m.score(&x).0, Action::Buy);
    }

    #[test]
    fn linear_standardizes() {
        let f = r#"{"name":"spread_bps","weight":-0.5,"mean":2.0,"scale":4.0}"#;
        let m = LinearModel::from_json(&json("linear", f, 1.0, -1.0)).unwrap();
        let mut x = [0.0; N_FEATURES];
        x[idx::SPREAD_BPS] = 10.0; // z = -0.5 * (10-2)/4 = -1
        assert_eq!(m.score(&x), (Action::Sell, -1.0, 1.0));
        x[idx::SPREAD_BPS] = -6.0; // z = +1
        assert_eq!(m.score(&x), (Action::Buy, 1.0, 1.0));
        x[idx::SPREAD_BPS] = 2.0; // z = 0
        assert_eq!(m.score(&x), (Action::Hold, 0.0, 0.0));
    }
}
