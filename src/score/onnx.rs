//! ONNX models (small MLPs: tens of inputs, a few layers) through tract,
//! pure Rust, behind the `onnx` cargo feature (on by default).
//!
//! The graph is loaded with its first input fixed to `f32[1, n]`, where `n`
//! is the number of features the manifest names, optimized once, and run
//! per row. Its first output must be `f32` with 1 to 16 values per row.
//! Unlike the tree models, a run allocates (tract builds its tensors and
//! run state per call); the bench measures what a row costs.

use super::trees::{MAX_CLASSES, Prediction};
use std::path::Path;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// Most inputs an ONNX model may take (the row is gathered on the stack).
pub const MAX_INPUTS: usize = 256;

type Plan = TypedSimplePlan<TypedModel>;

/// A loaded, optimized ONNX graph.
#[derive(Clone)]
pub struct OnnxModel {
    plan: Arc<Plan>,
    n_inputs: usize,
    n_outputs: usize,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("n_inputs", &self.n_inputs)
            .field("n_outputs", &self.n_outputs)
            .finish()
    }
}

impl OnnxModel {
    /// Loads `path` with its first input fixed to `f32[1, n_inputs]`.
    pub fn load(path: &Path, n_inputs: usize) -> Result<OnnxModel, String> {
        if n_inputs == 0 || n_inputs > MAX_INPUTS {
            return Err(format!("{n_inputs} inputs (supported: 1 to {MAX_INPUTS})"));
        }
        let typed = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, n_inputs]).into()))
            .and_then(|m| m.into_optimized())
            .map_err(|e| format!("{e:#}"))?;
        let out = typed.output_fact(0).map_err(|e| format!("{e:#}"))?;
        if out.datum_type != f32::datum_type() {
            return Err(format!(
                "the first output is {:?}, expected f32",
                out.datum_type
            ));
        }
        let n_outputs = out
            .shape
            .as_concrete()
            .map(|d| d.iter().product::<usize>())
            .ok_or_else(|| format!("the first output's shape {:?} is not fixed", out.shape))?;
        if n_outputs == 0 || n_outputs > MAX_CLASSES {
            return Err(format!(
                "{n_outputs} output values per row (supported: 1 to {MAX_CLASSES})"
            ));
        }
        let plan = typed.into_runnable().map_err(|e| format!("{e:#}"))?;
        Ok(OnnxModel {
            plan: Arc::new(plan),
            n_inputs,
            n_outputs,
        })
    }

    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// The graph's first output for one row of `n_inputs` values.
    pub fn predict(&self, row: &[f32]) -> Result<Prediction, String> {
        if row.len() != self.n_inputs {
            return Err(format!(
                "row of {} values for {} inputs",
                row.len(),
                self.n_inputs
            ));
        }
        let t = Tensor::from_shape(&[1, self.n_inputs], row).map_err(|e| format!("{e:#}"))?;
        let out = self
            .plan
            .run(tvec!(t.into()))
            .map_err(|e| format!("{e:#}"))?;
        let v = out[0].as_slice::<f32>().map_err(|e| format!("{e:#}"))?;
        let mut p = Prediction {
            n: self.n_outputs,
            v: [f64::NAN; MAX_CLASSES],
        };
        for (o, x) in p.v.iter_mut().zip(v) {
            *o = *x as f64;
        }
        Ok(p)
    }
}
