//! LightGBM's text model format (`booster.save_model("m.txt")`).
//!
//! The header (`key=value` lines up to the first `Tree=`) gives the number
//! of classes, trees per iteration, the largest feature index, the feature
//! names and the objective; each `Tree=N` block gives `split_feature`,
//! `threshold`, `decision_type`, `left_child`, `right_child` and
//! `leaf_value` (shrinkage and the boost-from-average init score are already
//! in the leaf values). `decision_type` bits: 1 categorical (refused),
//! 2 default-left, bits 2–3 the missing type (0 none, 1 zero, 2 NaN).
//! Supported objectives: `binary` (with its `sigmoid:` scale), the
//! regression family with an identity output, `multiclass` (softmax).

use super::{Arith, Header, Link, RawTree, TreeEnsemble, TreeError, err, missing};
use std::collections::HashMap;

/// Objectives whose prediction is the raw sum.
const IDENTITY_OBJECTIVES: [&str; 7] = [
    "regression",
    "regression_l2",
    "regression_l1",
    "huber",
    "fair",
    "quantile",
    "mape",
];

/// Parses a LightGBM text model.
pub fn parse(text: &str) -> Result<TreeEnsemble, TreeError> {
    let mut lines = text.lines().enumerate().peekable();
    let mut header: HashMap<&str, &str> = HashMap::new();
    match lines.next() {
        Some((_, "tree")) => {}
        _ => return err("not a LightGBM text model (the first line is not `tree`)"),
    }
    while let Some((_, line)) = lines.peek() {
        if line.starts_with("Tree=") || line.starts_with("end of trees") {
            break;
        }
        if let Some((k, v)) = line.split_once('=') {
            header.insert(k, v);
        } else if !line.trim().is_empty() {
            header.insert(line.trim(), "");
        }
        lines.next();
    }
    let get = |k: &str| header.get(k).copied();
    let num = |k: &str| -> Result<usize, TreeError> {
        let v = get(k).ok_or_else(|| TreeError(format!("header has no `{k}`")))?;
        v.trim()
            .parse::<usize>()
            .map_err(|_| TreeError(format!("header `{k}={v}` is not a count")))
    };
    if get("average_output").is_some() {
        return err("random-forest models (average_output) are not supported");
    }
    let n_classes = num("num_class")?;
    let per_iter = num("num_tree_per_iteration")?;
    if per_iter != n_classes {
        return err(format!(
            "num_tree_per_iteration={per_iter} differs from num_class={n_classes}"
        ));
    }
    let n_features = num("max_feature_idx")? + 1;
    let feature_names: Vec<String> = get("feature_names")
        .map(|v| v.split(' ').map(str::to_string).collect())
        .unwrap_or_default();
    if !feature_names.is_empty() && feature_names.len() != n_features {
        return err(format!(
            "{} feature names for max_feature_idx={}",
            feature_names.len(),
            n_features - 1
        ));
    }
    let objective = get("objective")
        .ok_or_else(|| TreeError("header has no `objective`".into()))?
        .trim()
        .to_string();
    let link = objective_link(&objective, n_classes)?;

    let mut trees = Vec::new();
    while let Some((no, line)) = lines.next() {
        if line.starts_with("end of trees") {
            break;
        }
        let Some(id) = line.strip_prefix("Tree=") else {
            if line.trim().is_empty() {
                continue;
            }
            return err(format!(
                "line {}: expected `Tree=N`, found {line:?}",
                no + 1
            ));
        };
        let mut kv: HashMap<&str, &str> = HashMap::new();
        while let Some((_, l)) = lines.peek() {
            if l.trim().is_empty() || l.starts_with("Tree=") || l.starts_with("end of trees") {
                break;
            }
            if let Some((k, v)) = l.split_once('=') {
                kv.insert(k, v);
            }
            lines.next();
        }
        let t = trees.len();
        if id.trim() != t.to_string() {
            return err(format!(
                "line {}: tree {id} out of order (expected {t})",
                no + 1
            ));
        }
        trees.push(parse_tree(t, &kv, (t % n_classes) as u32)?);
    }
    if trees.len() % n_classes != 0 {
        return err(format!(
            "{} trees is not a multiple of {n_classes} classes",
            trees.len()
        ));
    }
    TreeEnsemble::build(
        Header {
            n_classes,
            n_features,
            feature_names,
            base_margin: vec![0.0; n_classes],
            link,
            arith: Arith::F64,
            objective,
        },
        trees,
    )
}

fn objective_link(objective: &str, n_classes: usize) -> Result<Link, TreeError> {
    let mut parts = objective.split(' ');
    let name = parts.next().unwrap_or("");
    let params: HashMap<&str, &str> = parts.filter_map(|p| p.split_once(':')).collect();
    let link = match name {
        "binary" => {
            let scale = match params.get("sigmoid") {
                Some(s) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| TreeError(format!("objective {objective:?}: bad sigmoid")))?,
                None => 1.0,
            };
            Link::Sigmoid { scale }
        }
        "multiclass" | "softmax" => Link::Softmax,
        n if IDENTITY_OBJECTIVES.contains(&n) => {
            if objective.split(' ').any(|p| p == "sqrt") {
                return err(format!(
                    "objective {objective:?}: reg_sqrt models are not supported"
                ));
            }
            Link::Identity
        }
        _ => {
            return err(format!(
                "objective {objective:?} is not supported (supported: binary, multiclass, {})",
                IDENTITY_OBJECTIVES.join(", ")
            ));
        }
    };
    let want_classes = matches!(link, Link::Softmax);
    if want_classes != (n_classes > 1) {
        return err(format!(
            "objective {objective:?} with num_class={n_classes}"
        ));
    }
    Ok(link)
}

fn list<T: std::str::FromStr>(
    t: usize,
    kv: &HashMap<&str, &str>,
    key: &str,
    len: usize,
) -> Result<Vec<T>, TreeError> {
    let Some(v) = kv.get(key) else {
        if len == 0 {
            return Ok(Vec::new());
        }
        return err(format!("tree {t}: no `{key}`"));
    };
    // A single-leaf tree (a constant model, e.g. a label with one class)
    // is written with these keys present and empty.
    if v.trim().is_empty() {
        if len == 0 {
            return Ok(Vec::new());
        }
        return err(format!("tree {t}: `{key}` is empty, expected {len} values"));
    }
    let out = v
        .split(' ')
        .map(|s| s.parse::<T>())
        .collect::<Result<Vec<T>, _>>()
        .map_err(|_| TreeError(format!("tree {t}: `{key}` has a value that does not parse")))?;
    if out.len() != len {
        return err(format!(
            "tree {t}: `{key}` has {} values, expected {len}",
            out.len()
        ));
    }
    Ok(out)
}

fn parse_tree(t: usize, kv: &HashMap<&str, &str>, class: u32) -> Result<RawTree, TreeError> {
    let n_leaves: usize = kv
        .get("num_leaves")
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| TreeError(format!("tree {t}: no valid `num_leaves`")))?;
    if kv.get("is_linear").is_some_and(|v| v.trim() != "0") {
        return err(format!("tree {t}: linear trees are not supported"));
    }
    if kv.get("num_cat").is_some_and(|v| v.trim() != "0") {
        return err(format!("tree {t}: categorical splits are not supported"));
    }
    let n = n_leaves - 1;
    let feature: Vec<u32> = list(t, kv, "split_feature", n)?;
    let threshold: Vec<f64> = list(t, kv, "threshold", n)?;
    let decision: Vec<u8> = list(t, kv, "decision_type", n)?;
    let left: Vec<i32> = list(t, kv, "left_child", n)?;
    let right: Vec<i32> = list(t, kv, "right_child", n)?;
    let leaf_value: Vec<f64> = list(t, kv, "leaf_value", n_leaves)?;
    let mut rule = Vec::with_capacity(n);
    for (i, d) in decision.iter().enumerate() {
        if d & 1 != 0 {
            return err(format!(
                "tree {t} node {i}: categorical split not supported"
            ));
        }
        let kind = (d >> 2) & 3;
        if kind > 2 {
            return err(format!("tree {t} node {i}: unknown missing type {kind}"));
        }
        let default_left = if d & 2 != 0 { missing::DEFAULT_LEFT } else { 0 };
        rule.push(kind | default_left);
    }
    Ok(RawTree {
        feature,
        threshold,
        left,
        right,
        rule,
        leaf_value,
        class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(objective: &str, num_class: usize, trees: &str) -> String {
        format!(
            "tree\nversion=v4\nnum_class={num_class}\nnum_tree_per_iteration={num_class}\nlabel_index=0\nmax_feature_idx=1\nobjective={objective}\nfeature_names=a b\n\n{trees}end of trees\n\nparameters:\nend of parameters\n"
        )
    }

    const T0: &str = "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nthreshold=0.5\ndecision_type=10\nleft_child=-1\nright_child=-2\nleaf_value=-1 2\nis_linear=0\nshrinkage=1\n\n\n";

    #[test]
    fn binary_with_nan_default_left() {
        let e = parse(&model("binary sigmoid:2", 1, T0)).unwrap();
        assert_eq!(e.feature_names(), ["a", "b"]);
        let p = |x: f64| e.predict(&[0.0, x]).v[0];
        let s = |m: f64| 1.0 / (1.0 + (-2.0 * m).exp());
        assert_eq!(p(0.5), s(-1.0));
        assert_eq!(p(0.6), s(2.0));
        // decision_type 10 = default-left (2) | NaN missing type (8).
        assert_eq!(p(f64::NAN), s(-1.0));
    }

    #[test]
    fn single_leaf_tree_and_classes() {
        let t = "Tree=0\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\nis_linear=0\nshrinkage=1\n\n\nTree=1\nnum_leaves=1\nnum_cat=0\nleaf_value=-0.5\nis_linear=0\nshrinkage=1\n\n\n";
        let e = parse(&model("multiclass num_class:2", 2, t)).unwrap();
        let p = e.predict(&[0.0, 0.0]);
        assert_eq!(p.n, 2);
        let (a, b) = (1.0f64.exp(), 1.0);
        assert!((p.v[0] - a / (a + b)).abs() < 1e-15);
    }

    /// LightGBM writes a single-leaf tree with its node keys present and
    /// empty (seen on a model trained on a one-class label).
    #[test]
    fn single_leaf_tree_as_lightgbm_writes_it() {
        let t = "Tree=0\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\nleft_child=\nright_child=\nleaf_value=-34.5\nleaf_weight=\nleaf_count=31314\ninternal_value=\ninternal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\n";
        let e = parse(&model("binary sigmoid:1", 1, t)).unwrap();
        let p = e.predict(&[0.0, 0.0]);
        assert!((p.v[0] - 1.0 / (1.0 + 34.5f64.exp())).abs() < 1e-15);
        let bad = t.replace("num_leaves=1", "num_leaves=2");
        assert!(
            parse(&model("binary", 1, &bad))
                .unwrap_err()
                .0
                .contains("empty")
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let e = |s: String| parse(&s).unwrap_err().0;
        assert!(e(model("lambdarank", 1, T0)).contains("lambdarank"));
        assert!(
            e(model(
                "binary",
                1,
                &T0.replace("decision_type=10", "decision_type=1")
            ))
            .contains("categorical")
        );
        assert!(
            e(model(
                "binary",
                1,
                &T0.replace("leaf_value=-1 2", "leaf_value=-1")
            ))
            .contains("leaf_value")
        );
        assert!(
            e(model(
                "binary",
                1,
                &T0.replace("split_feature=1", "split_feature=2")
            ))
            .contains("feature index 2")
        );
        assert!(
            e(model(
                "binary",
                1,
                &T0.replace("right_child=-2", "right_child=-1")
            ))
            .contains("twice")
        );
        assert!(e("{}".to_string()).contains("not a LightGBM"));
        assert!(e(model("regression sqrt", 1, T0)).contains("sqrt"));
    }
}
