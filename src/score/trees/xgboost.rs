//! XGBoost's JSON model format (`Booster.save_model("m.json")`, schema of
//! XGBoost 1.x–3.x).
//!
//! `learner.learner_model_param` gives `base_score` (a number, or in 3.x a
//! bracketed list with one value per class), `num_class` and `num_feature`;
//! `learner.objective.name` the objective; `learner.gradient_booster.model`
//! the trees (`left_children`, `right_children`, `split_indices`,
//! `split_conditions`, `default_left`; a leaf has `left_children == -1` and
//! its value in `split_conditions`) and `tree_info` (each tree's class).
//! The base score is a probability for the logistic objectives (turned into
//! a margin with XGBoost's `ProbToMargin`, in `f32`) and a margin otherwise.
//! Supported: `gbtree` boosters with numerical splits; objectives
//! `binary:logistic`, `reg:logistic`, `binary:logitraw`, `reg:squarederror`,
//! `reg:linear`, `reg:pseudohubererror`, `reg:absoluteerror`,
//! `multi:softprob`, `multi:softmax` (scored as class probabilities).

use super::{Arith, Header, Link, RawTree, TreeEnsemble, TreeError, err, missing};
use serde_json::Value;

/// Parses an XGBoost JSON model.
pub fn parse(text: &str) -> Result<TreeEnsemble, TreeError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| TreeError(format!("not JSON: {e}")))?;
    let learner = field(&root, "learner", "")?;
    let param = field(learner, "learner_model_param", "learner")?;
    let n_features = count(param, "num_feature", "learner.learner_model_param")?;
    let num_class = count(param, "num_class", "learner.learner_model_param")?;
    if param
        .get("num_target")
        .is_some_and(|t| as_count(t) != Some(1))
    {
        return err("multi-target models (num_target > 1) are not supported");
    }
    let objective = field(
        field(learner, "objective", "learner")?,
        "name",
        "learner.objective",
    )?
    .as_str()
    .ok_or_else(|| TreeError("learner.objective.name is not a string".into()))?
    .to_string();
    let (link, logit_base) = match objective.as_str() {
        "binary:logistic" | "reg:logistic" => (Link::Sigmoid { scale: 1.0 }, true),
        "binary:logitraw" => (Link::Identity, true),
        "reg:squarederror" | "reg:linear" | "reg:pseudohubererror" | "reg:absoluteerror" => {
            (Link::Identity, false)
        }
        "multi:softprob" | "multi:softmax" => (Link::Softmax, false),
        o => {
            return err(format!(
                "objective {o:?} is not supported (supported: binary:logistic, reg:logistic, binary:logitraw, reg:squarederror, reg:pseudohubererror, reg:absoluteerror, multi:softprob, multi:softmax)"
            ));
        }
    };
    let n_classes = if link == Link::Softmax {
        if num_class < 2 {
            return err(format!("objective {objective} with num_class={num_class}"));
        }
        num_class
    } else {
        if num_class > 1 {
            return err(format!("objective {objective} with num_class={num_class}"));
        }
        1
    };
    let base_text = field(param, "base_score", "learner.learner_model_param")?
        .as_str()
        .ok_or_else(|| TreeError("base_score is not a string".into()))?;
    let mut base: Vec<f32> = base_text
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| TreeError(format!("base_score {base_text:?} does not parse")))?;
    if base.len() == 1 && n_classes > 1 {
        base = vec![base[0]; n_classes];
    }
    if base.len() != n_classes {
        return err(format!(
            "base_score has {} values for {n_classes} classes",
            base.len()
        ));
    }
    let base_margin: Vec<f64> = base
        .iter()
        .map(|&b| {
            if logit_base {
                // XGBoost's LogisticRegression::ProbToMargin, in f32.
                -((1.0f32 / b - 1.0f32).ln()) as f64
            } else {
                b as f64
            }
        })
        .collect();

    let booster = field(learner, "gradient_booster", "learner")?;
    let name = booster.get("name").and_then(Value::as_str).unwrap_or("");
    if name != "gbtree" {
        return err(format!("booster {name:?} is not supported (only gbtree)"));
    }
    let model = field(booster, "model", "learner.gradient_booster")?;
    let trees_v = field(model, "trees", "learner.gradient_booster.model")?
        .as_array()
        .ok_or_else(|| TreeError("trees is not an array".into()))?;
    let info = field(model, "tree_info", "learner.gradient_booster.model")?
        .as_array()
        .ok_or_else(|| TreeError("tree_info is not an array".into()))?;
    if info.len() != trees_v.len() {
        return err(format!(
            "{} trees but {} tree_info entries",
            trees_v.len(),
            info.len()
        ));
    }
    let mut trees = Vec::with_capacity(trees_v.len());
    for (t, (tv, class)) in trees_v.iter().zip(info).enumerate() {
        let class =
            as_count(class).ok_or_else(|| TreeError(format!("tree_info[{t}] is not a class")))?;
        trees.push(parse_tree(t, tv, class as u32)?);
    }
    let feature_names = learner
        .get("feature_names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if !feature_names.is_empty() && feature_names.len() != n_features {
        return err(format!(
            "{} feature names for num_feature={n_features}",
            feature_names.len()
        ));
    }
    TreeEnsemble::build(
        Header {
            n_classes,
            n_features,
            feature_names,
            base_margin,
            link,
            arith: Arith::F32,
            objective,
        },
        trees,
    )
}

fn field<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a Value, TreeError> {
    v.get(key).ok_or_else(|| {
        TreeError(if at.is_empty() {
            format!("no `{key}` (not an XGBoost JSON model)")
        } else {
            format!("{at} has no `{key}`")
        })
    })
}

/// A count as XGBoost writes it: a string ("20") or a number.
fn as_count(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    }
}

fn count(v: &Value, key: &str, at: &str) -> Result<usize, TreeError> {
    as_count(field(v, key, at)?).ok_or_else(|| TreeError(format!("{at}.{key} is not a count")))
}

fn array<'a>(t: usize, tree: &'a Value, key: &str) -> Result<&'a Vec<Value>, TreeError> {
    tree.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| TreeError(format!("tree {t}: no `{key}` array")))
}

fn ints(t: usize, tree: &Value, key: &str) -> Result<Vec<i64>, TreeError> {
    array(t, tree, key)?
        .iter()
        .map(|v| match v {
            Value::Bool(b) => Some(*b as i64),
            v => v.as_i64(),
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| TreeError(format!("tree {t}: `{key}` has a non-integer")))
}

fn parse_tree(t: usize, tree: &Value, class: u32) -> Result<RawTree, TreeError> {
    let leaf_vector = tree
        .get("tree_param")
        .and_then(|p| p.get("size_leaf_vector"))
        .and_then(as_count)
        .unwrap_or(1);
    if leaf_vector > 1 {
        return err(format!("tree {t}: vector leaves are not supported"));
    }
    let left = ints(t, tree, "left_children")?;
    let right = ints(t, tree, "right_children")?;
    let split = ints(t, tree, "split_indices")?;
    let default_left = ints(t, tree, "default_left")?;
    let cond: Vec<f64> = array(t, tree, "split_conditions")?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| TreeError(format!("tree {t}: `split_conditions` has a non-number")))?;
    let split_type = match tree.get("split_type") {
        Some(_) => ints(t, tree, "split_type")?,
        None => vec![0; left.len()],
    };
    let n = left.len();
    if [
        right.len(),
        split.len(),
        default_left.len(),
        cond.len(),
        split_type.len(),
    ]
    .iter()
    .any(|l| *l != n)
        || n == 0
    {
        return err(format!(
            "tree {t}: node arrays of different lengths (or empty)"
        ));
    }
    // Renumber in depth-first order from the root: internal nodes 0.., leaves
    // !0, !1, ...; nodes not reachable from the root (deleted) are skipped.
    let mut out = RawTree {
        feature: Vec::new(),
        threshold: Vec::new(),
        left: Vec::new(),
        right: Vec::new(),
        rule: Vec::new(),
        leaf_value: Vec::new(),
        class,
    };
    let mut visited = vec![false; n];
    // (xgboost node id, slot in out to patch: None for the root, Some((parent, is_left)))
    let mut stack: Vec<(i64, Option<(usize, bool)>)> = vec![(0, None)];
    while let Some((id, parent)) = stack.pop() {
        let i = usize::try_from(id)
            .ok()
            .filter(|i| *i < n)
            .ok_or_else(|| TreeError(format!("tree {t}: child {id} out of range")))?;
        if visited[i] {
            return err(format!("tree {t}: node {i} reached twice (not a tree)"));
        }
        visited[i] = true;
        let r: i32 = if left[i] == -1 {
            out.leaf_value.push(cond[i] as f32 as f64);
            !((out.leaf_value.len() - 1) as i32)
        } else {
            if split_type[i] != 0 {
                return err(format!(
                    "tree {t} node {i}: categorical split not supported"
                ));
            }
            let f = u32::try_from(split[i])
                .map_err(|_| TreeError(format!("tree {t} node {i}: bad split index")))?;
            let k = out.feature.len();
            out.feature.push(f);
            out.threshold.push(cond[i] as f32 as f64);
            out.left.push(0);
            out.right.push(0);
            out.rule.push(
                missing::NAN
                    | if default_left[i] != 0 {
                        missing::DEFAULT_LEFT
                    } else {
                        0
                    },
            );
            stack.push((right[i], Some((k, false))));
            stack.push((left[i], Some((k, true))));
            k as i32
        };
        if let Some((p, is_left)) = parent {
            if is_left {
                out.left[p] = r;
            } else {
                out.right[p] = r;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(objective: &str, base: &str, num_class: usize, trees: &str, info: &str) -> String {
        format!(
            r#"{{"learner":{{"feature_names":["a","b"],"learner_model_param":{{"base_score":"{base}","num_class":"{num_class}","num_feature":"2","num_target":"1"}},"objective":{{"name":"{objective}"}},"gradient_booster":{{"name":"gbtree","model":{{"trees":[{trees}],"tree_info":[{info}]}}}}}},"version":[3,2,0]}}"#
        )
    }

    // node 0: b < 0.5 (missing -> right); leaves 1: -1, 2: 2.
    const T0: &str = r#"{"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[1,0,0],"split_conditions":[0.5,-1.0,2.0],"default_left":[0,0,0],"split_type":[0,0,0]}"#;

    #[test]
    fn regression_with_base_and_missing() {
        let e = parse(&model("reg:squarederror", "[2.5E-1]", 0, T0, "0")).unwrap();
        assert_eq!(e.feature_names(), ["a", "b"]);
        assert_eq!(e.predict(&[0.0, 0.4]).v[0], -0.75);
        assert_eq!(e.predict(&[0.0, 0.5]).v[0], 2.25);
        assert_eq!(e.predict(&[0.0, f64::NAN]).v[0], 2.25);
        let e = parse(&model(
            "reg:squarederror",
            "0.25",
            0,
            &T0.replace("\"default_left\":[0,0,0]", "\"default_left\":[1,0,0]"),
            "0",
        ))
        .unwrap();
        assert_eq!(e.predict(&[0.0, f64::NAN]).v[0], -0.75);
    }

    #[test]
    fn logistic_base_is_a_probability() {
        // base 0.5 is margin 0: p = sigmoid(leaf).
        let e = parse(&model("binary:logistic", "5E-1", 0, T0, "0")).unwrap();
        let p = e.predict(&[0.0, 0.9]).v[0];
        assert!((p - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-7, "{p}");
    }

    #[test]
    fn refusals_name_the_problem() {
        let e = |s: String| parse(&s).unwrap_err().0;
        assert!(e(model("rank:pairwise", "0", 0, T0, "0")).contains("rank:pairwise"));
        assert!(
            e(model(
                "reg:squarederror",
                "0",
                0,
                &T0.replace("\"split_type\":[0,0,0]", "\"split_type\":[1,0,0]"),
                "0"
            ))
            .contains("categorical")
        );
        assert!(
            e(model(
                "reg:squarederror",
                "0",
                0,
                &T0.replace(
                    "[1,-1,-1],\"right_children\":[2",
                    "[1,-1,-1],\"right_children\":[1"
                ),
                "0"
            ))
            .contains("twice")
        );
        assert!(e(model("reg:squarederror", "0", 0, T0, "0,0")).contains("tree_info"));
        assert!(e(model("multi:softprob", "[0,0,0]", 2, T0, "0")).contains("base_score"));
        assert!(e("{}".into()).contains("not an XGBoost"));
    }
}
