//! Gradient-boosted tree ensembles (LightGBM text models, XGBoost JSON
//! models) in one flat node array, evaluated without allocation.
//!
//! All trees share one flat node array of 16-byte nodes (threshold or leaf
//! value, first child, feature index, missing-value rule): one cache line
//! read per step, where separate arrays per field cost four (the bench
//! history is in docs/models.md). The two children of a node are adjacent, so a
//! step is `first_child + went_right`. Leaves are nodes that stay where
//! they are, so a walk can take a fixed number of steps: trees are evaluated in blocks
//! of [`LANES`] side by side, each lane stepping `depth` times without a
//! data-dependent branch (the CPU overlaps the lanes' loads), and the
//! leaves are then added in tree order. Two arithmetic modes reproduce the
//! packages exactly: LightGBM compares `x <= threshold` and sums in `f64`;
//! XGBoost converts the input to `f32`, compares `x < split_condition` and
//! sums, links and normalizes in `f32` (its predictor's own types), so the
//! engine's scores equal the packages' predictions bit for bit.
//!
//! The loaders live in [`lightgbm`] and [`xgboost`].

pub mod lightgbm;
pub mod xgboost;

/// Most classes a multiclass model may have (the per-row output lives on the stack).
pub const MAX_CLASSES: usize = 16;

/// What the missing-value rule of a node does with NaN (and zero).
pub mod missing {
    /// NaN is read as 0.0 (LightGBM `MissingType::None`).
    pub const NAN_AS_ZERO: u8 = 0;
    /// NaN is read as 0.0, then 0.0 (|x| <= 1e-35) takes the default branch
    /// (LightGBM `MissingType::Zero`).
    pub const ZERO: u8 = 1;
    /// NaN takes the default branch (LightGBM `MissingType::NaN`, XGBoost).
    pub const NAN: u8 = 2;
    /// Flag bit: the default branch is the left child.
    pub const DEFAULT_LEFT: u8 = 4;
}

/// LightGBM's `kZeroThreshold` (a float literal, `1e-35f`).
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Arithmetic of the package a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// LightGBM: `f64` inputs, `x <= threshold`, `f64` sums.
    F64,
    /// XGBoost: `f32` inputs, `x < threshold`, `f32` sums and links.
    F32,
}

/// The objective's link from the raw sum (margin) to the prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Link {
    /// Regression: the margin itself.
    Identity,
    /// Binary: `1 / (1 + exp(-scale · margin))`.
    Sigmoid { scale: f64 },
    /// Multiclass: softmax over the per-class margins.
    Softmax,
}

/// A model's output for one row: `n` values (1, or one probability per class).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub n: usize,
    pub v: [f64; MAX_CLASSES],
}

impl Prediction {
    pub fn values(&self) -> &[f64] {
        &self.v[..self.n]
    }
}

/// Why a tree model file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TreeError(pub String);

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, TreeError> {
    Err(TreeError(msg.into()))
}

/// Trees evaluated side by side.
pub const LANES: usize = 8;

/// Per-node rule bits (internal to the flat form).
mod node {
    /// NaN goes left (LightGBM: default-left for the NaN/zero missing
    /// types, else where 0.0 goes; XGBoost: default_left).
    pub const NAN_LEFT: u8 = 1;
    /// |x| <= 1e-35 takes the default branch (LightGBM missing type zero).
    pub const ZERO_IS_MISSING: u8 = 2;
    /// The default branch is the left child.
    pub const DEFAULT_LEFT: u8 = 4;
    /// A leaf: every step stays on it (`t` is its value).
    pub const LEAF: u8 = 8;
}

/// One node, internal or leaf.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Node {
    /// Threshold (internal node) or value (leaf).
    t: f64,
    /// The left child; the right child is next to it. A leaf: itself.
    child: u32,
    feature: u16,
    rule: u8,
    _pad: u8,
}

/// A validated ensemble.
#[derive(Debug, Clone)]
pub struct TreeEnsemble {
    nodes: Vec<Node>,
    /// Some node treats zero as missing (LightGBM missing type zero): the
    /// walk then checks |x| <= 1e-35 (a separate, slower instance).
    any_zero_missing: bool,
    /// Root node of each tree, the class (output) it adds to, its depth.
    roots: Vec<u32>,
    tree_class: Vec<u32>,
    depth: Vec<u8>,
    /// Steps each block of `LANES` trees takes (its deepest tree's depth).
    block_steps: Vec<u8>,
    n_classes: usize,
    /// Inputs the row must have: one past the largest feature index used.
    n_inputs: usize,
    /// Feature names in the file (may be empty), in input order.
    feature_names: Vec<String>,
    /// Starting margin per class (XGBoost's base score as a margin; 0 for LightGBM).
    base_margin: [f64; MAX_CLASSES],
    link: Link,
    arith: Arith,
    objective: String,
}

/// One tree as the loaders hand it over: internal nodes with local child
/// references (`>= 0` node, `< 0` `!leaf`), its leaves, its class.
pub(crate) struct RawTree {
    pub feature: Vec<u32>,
    pub threshold: Vec<f64>,
    pub left: Vec<i32>,
    pub right: Vec<i32>,
    pub rule: Vec<u8>,
    pub leaf_value: Vec<f64>,
    pub class: u32,
}

/// Everything but the trees.
pub(crate) struct Header {
    pub n_classes: usize,
    pub n_features: usize,
    pub feature_names: Vec<String>,
    pub base_margin: Vec<f64>,
    pub link: Link,
    pub arith: Arith,
    pub objective: String,
}

impl TreeEnsemble {
    /// Flattens and validates the trees: every child reference in range,
    /// every node reached exactly once from its root (no cycles, no sharing),
    /// features below `n_features`, finite leaves, class below `n_classes`.
    pub(crate) fn build(h: Header, trees: Vec<RawTree>) -> Result<TreeEnsemble, TreeError> {
        if h.n_classes == 0 || h.n_classes > MAX_CLASSES {
            return err(format!(
                "{} outputs per row (supported: 1 to {MAX_CLASSES})",
                h.n_classes
            ));
        }
        if h.base_margin.len() != h.n_classes {
            return err(format!(
                "{} base scores for {} classes",
                h.base_margin.len(),
                h.n_classes
            ));
        }
        if trees.is_empty() {
            return err("the model has no trees");
        }
        if h.n_features == 0 || h.n_features > u16::MAX as usize + 1 {
            return err(format!("{} features (supported: 1 to 65536)", h.n_features));
        }
        let mut e = TreeEnsemble {
            nodes: Vec::new(),
            any_zero_missing: false,
            roots: Vec::with_capacity(trees.len()),
            tree_class: Vec::with_capacity(trees.len()),
            depth: Vec::with_capacity(trees.len()),
            block_steps: Vec::new(),
            n_classes: h.n_classes,
            n_inputs: h.n_features,
            feature_names: h.feature_names,
            base_margin: [0.0; MAX_CLASSES],
            link: h.link,
            arith: h.arith,
            objective: h.objective,
        };
        for (c, b) in h.base_margin.iter().enumerate() {
            if !b.is_finite() {
                return err(format!("base score of class {c} is not finite ({b})"));
            }
            e.base_margin[c] = *b;
        }
        for (t, tree) in trees.into_iter().enumerate() {
            e.push_tree(t, tree, h.n_features)?;
        }
        e.block_steps = e
            .depth
            .chunks(LANES)
            .map(|d| d.iter().copied().max().unwrap_or(0))
            .collect();
        Ok(e)
    }

    fn push_tree(&mut self, t: usize, tree: RawTree, n_features: usize) -> Result<(), TreeError> {
        let n = tree.feature.len();
        let nl = tree.leaf_value.len();
        if tree.threshold.len() != n
            || tree.left.len() != n
            || tree.right.len() != n
            || tree.rule.len() != n
        {
            return err(format!("tree {t}: node arrays of different lengths"));
        }
        if nl != n + 1 {
            return err(format!(
                "tree {t}: {n} splits need {} leaves, found {nl}",
                n + 1
            ));
        }
        if tree.class as usize >= self.n_classes {
            return err(format!(
                "tree {t}: class {} of {}",
                tree.class, self.n_classes
            ));
        }
        let mut node_seen = vec![false; n];
        let mut leaf_seen = vec![false; nl];
        let mut depth = 0usize;
        // Iterative walk from the root (node 0, or the single leaf).
        let root: i32 = if n == 0 { !0 } else { 0 };
        let mut stack = vec![(root, 0usize)];
        while let Some((r, d)) = stack.pop() {
            let seen = if r >= 0 {
                node_seen.get_mut(r as usize)
            } else {
                leaf_seen.get_mut(!r as usize)
            };
            match seen {
                None => return err(format!("tree {t}: child reference {r} out of range")),
                Some(s) if *s => {
                    return err(format!("tree {t}: node {r} reached twice (not a tree)"));
                }
                Some(s) => *s = true,
            }
            if r >= 0 {
                stack.push((tree.left[r as usize], d + 1));
                stack.push((tree.right[r as usize], d + 1));
            } else {
                depth = depth.max(d);
            }
        }
        if node_seen.iter().any(|s| !s) || leaf_seen.iter().any(|s| !s) {
            return err(format!("tree {t}: unreachable nodes"));
        }
        if depth > u8::MAX as usize {
            return err(format!("tree {t}: depth {depth} (at most 255)"));
        }
        let base = self.nodes.len();
        if base + n + nl > u32::MAX as usize {
            return err("more than 2^32 nodes");
        }
        for i in 0..n {
            let f = tree.feature[i] as usize;
            if f >= n_features {
                return err(format!(
                    "tree {t} node {i}: feature index {f} but the model has {n_features} features"
                ));
            }
            if tree.threshold[i].is_nan() {
                return err(format!("tree {t} node {i}: threshold is NaN"));
            }
            if tree.rule[i] & 3 > missing::NAN {
                return err(format!("tree {t} node {i}: unknown missing-value rule"));
            }
        }
        for (j, v) in tree.leaf_value.iter().enumerate() {
            if !v.is_finite() {
                return err(format!("tree {t} leaf {j}: value is not finite ({v})"));
            }
        }
        // Breadth-first from the root: each internal node's two children get
        // two adjacent slots.
        let blank = Node {
            t: 0.0,
            child: 0,
            feature: 0,
            rule: 0,
            _pad: 0,
        };
        self.nodes.resize(base + n + nl, blank);
        let mut queue = std::collections::VecDeque::from([(root, base)]);
        let mut next_free = base + 1;
        while let Some((r, slot)) = queue.pop_front() {
            let node = if r < 0 {
                Node {
                    t: tree.leaf_value[!r as usize],
                    child: slot as u32,
                    feature: 0,
                    rule: node::LEAF,
                    _pad: 0,
                }
            } else {
                let i = r as usize;
                let th = tree.threshold[i];
                let kind = tree.rule[i] & 3;
                let dl = tree.rule[i] & missing::DEFAULT_LEFT != 0;
                let nan_left = if kind == missing::NAN_AS_ZERO {
                    // NaN is read as 0.0 and compared (a constant per node).
                    0.0 <= th
                } else {
                    // NaN (read as 0.0 for type zero) is missing: default branch.
                    dl
                };
                let mut rule = 0;
                if nan_left {
                    rule |= node::NAN_LEFT;
                }
                if kind == missing::ZERO {
                    rule |= node::ZERO_IS_MISSING;
                    self.any_zero_missing = true;
                }
                if dl {
                    rule |= node::DEFAULT_LEFT;
                }
                let c = next_free;
                next_free += 2;
                queue.push_back((tree.left[i], c));
                queue.push_back((tree.right[i], c + 1));
                Node {
                    t: th,
                    child: c as u32,
                    feature: tree.feature[i] as u16,
                    rule,
                    _pad: 0,
                }
            };
            self.nodes[slot] = node;
        }
        debug_assert_eq!(next_free, base + n + nl);
        self.roots.push(base as u32);
        self.tree_class.push(tree.class);
        self.depth.push(depth as u8);
        Ok(())
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Outputs per row: 1, or the number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Length a row must have.
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Number of features the model was trained on (before any remap).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    pub fn link(&self) -> Link {
        self.link
    }

    pub fn arith(&self) -> Arith {
        self.arith
    }

    /// The objective as the file names it.
    pub fn objective(&self) -> &str {
        &self.objective
    }

    /// Largest depth of any tree (edges from root to the deepest leaf).
    pub fn max_depth(&self) -> usize {
        self.depth.iter().copied().max().unwrap_or(0) as usize
    }

    /// Rewrites feature indices: input `i` of the model becomes slot
    /// `slots[i]` of the rows given to [`TreeEnsemble::predict`], whose
    /// length becomes `n_inputs`. Used to read the engine's feature array
    /// directly, without gathering.
    pub fn remap_features(&mut self, slots: &[usize], n_inputs: usize) -> Result<(), TreeError> {
        if slots.len() != self.n_inputs {
            return err(format!(
                "{} feature names for a model with {} features",
                slots.len(),
                self.n_inputs
            ));
        }
        if let Some(s) = slots.iter().find(|s| **s >= n_inputs) {
            return err(format!("slot {s} out of {n_inputs}"));
        }
        if n_inputs > u16::MAX as usize + 1 {
            return err(format!("{n_inputs} inputs (at most 65536)"));
        }
        for nd in &mut self.nodes {
            nd.feature = slots[nd.feature as usize] as u16;
        }
        self.n_inputs = n_inputs;
        Ok(())
    }

    /// The prediction for one row (what the package's `predict` returns):
    /// probability for binary, value for regression, class probabilities
    /// for multiclass. `row` shorter than [`TreeEnsemble::n_inputs`] gives
    /// NaN outputs. No allocation.
    #[inline]
    pub fn predict(&self, row: &[f64]) -> Prediction {
        let mut p = Prediction {
            n: self.n_classes,
            v: [f64::NAN; MAX_CLASSES],
        };
        if row.len() < self.n_inputs {
            return p;
        }
        match self.arith {
            Arith::F64 => {
                let mut m = self.base_margin;
                let add = |t: usize, leaf: usize| {
                    m[self.tree_class[t] as usize] += self.nodes[leaf].t;
                };
                if self.any_zero_missing {
                    self.walk::<false, true>(row, add);
                } else {
                    self.walk::<false, false>(row, add);
                }
                link_f64(self.link, &mut m[..self.n_classes]);
                p.v = m;
            }
            Arith::F32 => {
                let mut m = [0.0f32; MAX_CLASSES];
                for (o, b) in m.iter_mut().zip(&self.base_margin) {
                    *o = *b as f32;
                }
                self.walk::<true, false>(row, |t, leaf| {
                    m[self.tree_class[t] as usize] += self.nodes[leaf].t as f32;
                });
                link_f32(self.link, &mut m[..self.n_classes]);
                for (o, v) in p.v.iter_mut().zip(&m[..self.n_classes]) {
                    *o = *v as f64;
                }
            }
        }
        p
    }

    /// Walks every tree to its leaf, `LANES` trees at a time, and hands
    /// `(tree, leaf node)` to `add` in tree order. `F32`: XGBoost's rule.
    #[inline(always)]
    fn walk<const F32: bool, const ZERO: bool>(
        &self,
        row: &[f64],
        mut add: impl FnMut(usize, usize),
    ) {
        let n = self.roots.len();
        for (b, &steps) in self.block_steps.iter().enumerate() {
            let start = b * LANES;
            let k = (n - start).min(LANES);
            let mut r = [0u32; LANES];
            for (l, o) in r.iter_mut().enumerate() {
                // Lanes past the last tree repeat it (their leaves are not added).
                *o = self.roots[start + l.min(k - 1)];
            }
            for _ in 0..steps {
                for o in r.iter_mut() {
                    *o = self.step::<F32, ZERO>(*o, row);
                }
            }
            for (l, &leaf) in r.iter().enumerate().take(k) {
                add(start + l, leaf as usize);
            }
        }
    }

    /// One step down from node `r` (a leaf stays where it is). Branch-free:
    /// LightGBM's `NumericalDecision` (`x <= threshold`; NaN per the node's
    /// missing type; |x| <= 1e-35 missing for type zero) or, with `F32`,
    /// XGBoost's `GetNextNode` (`f32(x) < split_condition`, NaN default).
    #[inline(always)]
    fn step<const F32: bool, const ZERO: bool>(&self, r: u32, row: &[f64]) -> u32 {
        let nd = &self.nodes[r as usize];
        let x = row[nd.feature as usize];
        let t = nd.t;
        let rule = nd.rule;
        let nan = x.is_nan();
        let go_left = if F32 {
            // The threshold is an f32 value, so comparing f32(x) in f64 is exact.
            let xf = x as f32 as f64;
            (nan & (rule & node::NAN_LEFT != 0)) | (!nan & (xf < t))
        } else if !ZERO {
            (nan & (rule & node::NAN_LEFT != 0)) | (!nan & (x <= t))
        } else {
            let zero = (rule & node::ZERO_IS_MISSING != 0) & (x.abs() <= ZERO_THRESHOLD);
            (nan & (rule & node::NAN_LEFT != 0))
                | (zero & (rule & node::DEFAULT_LEFT != 0))
                | (!nan & !zero & (x <= t))
        };
        // A leaf "goes left" to itself.
        let stay = rule & node::LEAF != 0;
        nd.child + (!(go_left | stay)) as u32
    }
}

/// LightGBM's `ConvertOutput` (binary: `1/(1+exp(-σ·x))`; multiclass: `Common::Softmax`).
fn link_f64(link: Link, m: &mut [f64]) {
    match link {
        Link::Identity => {}
        Link::Sigmoid { scale } => {
            for v in m.iter_mut() {
                *v = 1.0 / (1.0 + (-scale * *v).exp());
            }
        }
        Link::Softmax => {
            let wmax = m.iter().copied().fold(m[0], f64::max);
            let mut wsum = 0.0;
            for v in m.iter_mut() {
                *v = (*v - wmax).exp();
                wsum += *v;
            }
            for v in m.iter_mut() {
                *v /= wsum;
            }
        }
    }
}

/// XGBoost's `common::Sigmoid` and `common::Softmax` (f32, the sum in f64).
fn link_f32(link: Link, m: &mut [f32]) {
    match link {
        Link::Identity => {}
        Link::Sigmoid { .. } => {
            for v in m.iter_mut() {
                let x = (-*v).min(88.7);
                *v = 1.0 / (x.exp() + 1.0 + 1e-16);
            }
        }
        Link::Softmax => {
            let wmax = m.iter().copied().fold(m[0], f32::max);
            let mut wsum = 0.0f64;
            for v in m.iter_mut() {
                *v = (*v - wmax).exp();
                wsum += *v as f64;
            }
            let s = wsum as f32;
            for v in m.iter_mut() {
                *v /= s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x0 <= 0.5 ? (x1 <= -1 ? 1 : 2) : 3, with NaN rules on the root.
    fn tiny(rule: u8, arith: Arith) -> TreeEnsemble {
        let h = Header {
            n_classes: 1,
            n_features: 2,
            feature_names: vec![],
            base_margin: vec![0.25],
            link: Link::Identity,
            arith,
            objective: "regression".into(),
        };
        let t = RawTree {
            feature: vec![0, 1],
            threshold: vec![0.5, -1.0],
            left: vec![1, !0],
            right: vec![!2, !1],
            rule: vec![rule, missing::NAN],
            leaf_value: vec![1.0, 2.0, 3.0],
            class: 0,
        };
        TreeEnsemble::build(h, vec![t]).unwrap()
    }

    #[test]
    fn lightgbm_rules() {
        let p = |e: &TreeEnsemble, x0: f64, x1: f64| e.predict(&[x0, x1]).v[0];
        let e = tiny(missing::NAN_AS_ZERO, Arith::F64);
        assert_eq!(p(&e, 0.5, -1.0), 1.25); // `<=` on both splits
        assert_eq!(p(&e, 0.6, 0.0), 3.25);
        assert_eq!(p(&e, f64::NAN, 0.0), 2.25); // NaN read as 0 <= 0.5
        let e = tiny(missing::NAN, Arith::F64);
        assert_eq!(p(&e, f64::NAN, 0.0), 3.25); // default right
        let e = tiny(missing::NAN | missing::DEFAULT_LEFT, Arith::F64);
        assert_eq!(p(&e, f64::NAN, -2.0), 1.25);
        let e = tiny(missing::ZERO, Arith::F64);
        assert_eq!(p(&e, 0.0, 0.0), 3.25); // zero is missing: default right
        assert_eq!(p(&e, f64::NAN, 0.0), 3.25);
        assert_eq!(p(&e, 1e-30, 0.0), 2.25);
        assert!(e.predict(&[0.0]).v[0].is_nan()); // short row
    }

    #[test]
    fn xgboost_rules() {
        let p = |e: &TreeEnsemble, x0: f64, x1: f64| e.predict(&[x0, x1]).v[0];
        let e = tiny(missing::NAN, Arith::F32);
        assert_eq!(p(&e, 0.5, 0.0), 3.25); // `<` : 0.5 goes right
        assert_eq!(p(&e, 0.4999, -1.0), 2.25);
        assert_eq!(p(&e, f64::NAN, 0.0), 3.25);
        // 0.5 - 1e-12 rounds to 0.5 in f32: right, as XGBoost does.
        assert_eq!(p(&e, 0.5 - 1e-12, 0.0), 3.25);
        let e = tiny(missing::NAN | missing::DEFAULT_LEFT, Arith::F32);
        assert_eq!(p(&e, f64::NAN, 0.0), 2.25);
    }

    #[test]
    fn malformed_trees_are_refused() {
        let h = || Header {
            n_classes: 1,
            n_features: 2,
            feature_names: vec![],
            base_margin: vec![0.0],
            link: Link::Identity,
            arith: Arith::F64,
            objective: "regression".into(),
        };
        let t = |left: Vec<i32>, right: Vec<i32>, feature: Vec<u32>| RawTree {
            threshold: vec![0.0; feature.len()],
            rule: vec![0; feature.len()],
            leaf_value: vec![0.0; feature.len() + 1],
            feature,
            left,
            right,
            class: 0,
        };
        let e = |r: Result<TreeEnsemble, TreeError>| r.unwrap_err().0;
        assert!(
            e(TreeEnsemble::build(
                h(),
                vec![t(vec![0], vec![!0], vec![0])]
            ))
            .contains("twice")
        );
        assert!(
            e(TreeEnsemble::build(
                h(),
                vec![t(vec![!5], vec![!0], vec![0])]
            ))
            .contains("out of range")
        );
        assert!(
            e(TreeEnsemble::build(
                h(),
                vec![t(vec![!0], vec![!1], vec![2])]
            ))
            .contains("feature index 2")
        );
        assert!(
            e(TreeEnsemble::build(
                h(),
                vec![t(vec![!0, !1], vec![!1, !2], vec![0, 0])]
            ))
            .contains("unreachable")
        );
        assert!(e(TreeEnsemble::build(h(), vec![])).contains("no trees"));
    }
}
