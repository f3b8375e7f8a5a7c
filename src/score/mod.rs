//! Features and decision models (the score stage).
//!
//! Owns the per-instrument feature state ([`features`]), the decision model
//! loaded from the model file ([`manifest`]: linear/logistic in [`model`],
//! gradient-boosted trees in [`trees`], ONNX in `onnx`) and the score stage thread
//! ([`stage`]) that turns every in-sync, two-sided book top (and every trade,
//! on the instrument's last book) into a [`crate::core::Decision`].

pub mod api;
pub mod features;
pub mod manifest;
pub mod model;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod registry;
pub mod reload;
pub mod shadow;
pub mod stage;
pub mod trees;
pub mod versions;
pub mod window;

pub use features::{FEATURE_NAMES, FeatureState};
pub use manifest::Model;
pub use model::{LinearModel, ModelError, ModelKind, ModelSpec};
pub use stage::{Scorer, run_score_stage};
