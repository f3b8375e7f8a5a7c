//! The engine's tree and ONNX models against the reference packages.
//!
//! `scripts/model_reference.py` (which pip-installs `lightgbm`,
//! `xgboost-cpu`, `numpy`, `onnx`, `onnxruntime` into `target/model-venv`
//! when they are missing) trains LightGBM and XGBoost models (binary,
//! regression, 3-class) on generated data with NaN features, builds an MLP
//! with `onnx.helper`, and writes held-out rows with the packages' own
//! predictions. The engine loads the files the packages wrote and must give
//! the same predictions: within 1e-9 for the trees (they match bit for bit),
//! within 1e-5 for the float32 MLP (see `onnx_mlp_matches_onnxruntime`).
//! If the packages cannot be installed the tests print SKIP and pass.

use quantum_trader::core::{Action, N_FEATURES};
use quantum_trader::score::FEATURE_NAMES;
use quantum_trader::score::Model;
use quantum_trader::score::trees::{TreeEnsemble, lightgbm, xgboost};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Runs the reference script once per test binary; `None` = SKIP.
fn reference() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = tmp.join("model_reference");
        let venv = tmp.parent().unwrap_or(&tmp).join("model-venv");
        let _ = std::fs::remove_dir_all(&out);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/model_reference.py");
        let r = Command::new("python3")
            .arg(&script)
            .arg("--venv")
            .arg(&venv)
            .arg("--engine-features")
            .arg(FEATURE_NAMES.join(","))
            .arg(&out)
            .output();
        match r {
            Err(e) => {
                eprintln!("SKIP model reference tests: cannot run python3: {e}");
                None
            }
            Ok(o) if o.status.code() == Some(3) => {
                eprintln!(
                    "SKIP model reference tests: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Ok(o) => {
                assert!(
                    o.status.success(),
                    "model_reference.py failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                Some(out)
            }
        }
    })
    .as_deref()
}

fn read_csv(path: &Path, header: bool) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(header as usize)
        .map(|l| {
            l.split(',')
                .map(|v| {
                    v.parse::<f64>()
                        .unwrap_or_else(|_| panic!("{v:?} in {}", path.display()))
                })
                .collect()
        })
        .collect()
}

/// Max |engine − package| over every row and output; asserts the shapes.
fn compare(dir: &Path, name: &str, e: &TreeEnsemble) -> (f64, usize) {
    let rows = read_csv(&dir.join("rows.csv"), true);
    let want = read_csv(&dir.join(format!("{name}.pred.csv")), false);
    assert_eq!(rows.len(), want.len(), "{name}");
    let mut max = 0.0f64;
    for (row, w) in rows.iter().zip(&want) {
        let p = e.predict(row);
        assert_eq!(p.values().len(), w.len(), "{name}: outputs per row");
        for (a, b) in p.values().iter().zip(w) {
            let d = (a - b).abs();
            assert!(!d.is_nan(), "{name}: NaN (engine {a}, package {b})");
            max = max.max(d);
        }
    }
    eprintln!(
        "{name}: {} rows x {} outputs, {} trees, max abs error {max:e}",
        rows.len(),
        want[0].len(),
        e.n_trees()
    );
    (max, rows.len())
}

fn check(
    name: &str,
    parse: fn(&str) -> Result<TreeEnsemble, quantum_trader::score::trees::TreeError>,
    ext: &str,
) {
    let Some(dir) = reference() else { return };
    let text = std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
    let e = parse(&text).unwrap_or_else(|err| panic!("{name}: {err}"));
    let (max, n) = compare(dir, name, &e);
    assert!(n >= 1000, "{name}: only {n} rows");
    assert!(max <= 1e-9, "{name}: max abs error {max:e} > 1e-9");
}

#[test]
fn lightgbm_binary_matches_package() {
    check("lgb_binary", lightgbm::parse, "txt");
}

#[test]
fn lightgbm_regression_matches_package() {
    check("lgb_regression", lightgbm::parse, "txt");
}

#[test]
fn lightgbm_multiclass_matches_package() {
    check("lgb_multiclass", lightgbm::parse, "txt");
}

#[test]
fn xgboost_binary_matches_package() {
    check("xgb_binary", xgboost::parse, "json");
}

#[test]
fn xgboost_regression_matches_package() {
    check("xgb_regression", xgboost::parse, "json");
}

#[test]
fn xgboost_multiclass_matches_package() {
    check("xgb_multiclass", xgboost::parse, "json");
}

/// The reference rows exercise missing values: some rows have NaN.
#[test]
fn reference_rows_have_missing_values() {
    let Some(dir) = reference() else { return };
    let rows = read_csv(&dir.join("rows.csv"), true);
    let nan_rows = rows.iter().filter(|r| r.iter().any(|v| v.is_nan())).count();
    assert!(
        nan_rows > rows.len() / 10,
        "{nan_rows} of {} rows with NaN",
        rows.len()
    );
}

/// Engine-side loading through a manifest: features named as the engine's,
/// read from the engine's feature array, decisions from the package's
/// probabilities with the manifest's thresholds.
#[test]
fn manifests_score_engine_features_like_the_packages() {
    let Some(dir) = reference() else { return };
    let rows = read_csv(&dir.join("engine_rows.csv"), true);
    let k = N_FEATURES;
    let engine_row = |r: &[f64]| -> [f64; N_FEATURES] {
        let mut x = [0.0; N_FEATURES];
        x.copy_from_slice(&r[..k]);
        x
    };
    // Binary LightGBM: features from the file's own names.
    std::fs::write(
        dir.join("lgb_engine.model.json"),
        r#"{"version":"lgb-test-1","kind":"lightgbm","path":"lgb_engine.txt","buy_threshold":0.7,"sell_threshold":0.3}"#,
    )
    .unwrap();
    let m = Model::load(&dir.join("lgb_engine.model.json")).unwrap();
    assert_eq!((m.version(), m.kind_name()), ("lgb-test-1", "lightgbm"));
    assert_eq!(m.feature_names(), FEATURE_NAMES.map(String::from).to_vec());
    let want = read_csv(&dir.join("lgb_engine.pred.csv"), false);
    let mut counts = [0usize; 3];
    for (r, w) in rows.iter().zip(&want) {
        let p = w[0];
        let (a, s, c) = m.score(&engine_row(r));
        let expect = if p >= 0.7 {
            Action::Buy
        } else if p <= 0.3 {
            Action::Sell
        } else {
            Action::Hold
        };
        assert_eq!(a, expect, "p={p}");
        assert_eq!(
            (s, c),
            ((2.0 * p - 1.0) as f32, (2.0 * p - 1.0).abs() as f32)
        );
        counts[a as usize % 3] += 1;
    }
    assert!(
        counts.iter().all(|n| *n > 50),
        "every action occurs: {counts:?}"
    );

    // 3-class XGBoost with the features listed in the manifest.
    let feats = serde_json::to_string(&FEATURE_NAMES).unwrap();
    std::fs::write(
        dir.join("xgb_engine.model.json"),
        format!(r#"{{"version":"xgb-test-1","kind":"xgboost","path":"xgb_engine.json","features":{feats},"classes":["sell","hold","buy"],"min_class_probability":0.5}}"#),
    )
    .unwrap();
    let m = Model::load(&dir.join("xgb_engine.model.json")).unwrap();
    let want = read_csv(&dir.join("xgb_engine.pred.csv"), false);
    let mut seen = [0usize; 3];
    for (r, w) in rows.iter().zip(&want) {
        let (a, s, c) = m.score(&engine_row(r));
        let (best, pmax) =
            w.iter().enumerate().fold(
                (0, f64::MIN),
                |b, (i, p)| if *p > b.1 { (i, *p) } else { b },
            );
        let expect = if pmax < 0.5 {
            Action::Hold
        } else {
            [Action::Sell, Action::Hold, Action::Buy][best]
        };
        assert_eq!(a, expect, "{w:?}");
        assert_eq!((s, c), ((w[2] - w[0]) as f32, pmax as f32));
        seen[best] += 1;
    }
    assert!(
        seen.iter().all(|n| *n > 50),
        "every class wins somewhere: {seen:?}"
    );
}

#[test]
fn manifest_refuses_unknown_feature_with_its_name() {
    let Some(dir) = reference() else { return };
    let mut names: Vec<&str> = FEATURE_NAMES.to_vec();
    names[3] = "book_imbalance_top42";
    let feats = serde_json::to_string(&names).unwrap();
    let text = format!(
        r#"{{"version":"v","kind":"lightgbm","path":"lgb_engine.txt","features":{feats},"buy_threshold":0.7,"sell_threshold":0.3}}"#
    );
    let e = Model::from_json_in(&text, dir).unwrap_err().to_string();
    assert!(
        e.starts_with("model.features[3]: unknown feature \"book_imbalance_top42\""),
        "{e}"
    );
    // The 20-feature reference model names f0..f19: refused by name too.
    let text = r#"{"version":"v","kind":"lightgbm","path":"lgb_binary.txt","buy_threshold":0.7,"sell_threshold":0.3}"#;
    let e = Model::from_json_in(text, dir).unwrap_err().to_string();
    assert!(
        e.starts_with("model.features[0]: unknown feature \"f0\""),
        "{e}"
    );
}

/// float32 MLP, tract against onnxruntime. Both compute in float32 but with
/// different kernels (summation order, FMA): each of the 20+32+16-term dot
/// products can differ by a few ulps of its partial sums (|terms| up to ~10,
/// f32 ulp ~1e-6 there), and the sigmoid's slope (≤ 0.25) shrinks that, so
/// 1e-5 bounds the difference with margin while still catching any wrong
/// weight, bias, layer or activation (those move outputs by > 1e-3).
#[cfg(feature = "onnx")]
#[test]
fn onnx_mlp_matches_onnxruntime() {
    use quantum_trader::score::onnx::OnnxModel;
    let Some(dir) = reference() else { return };
    let rows = read_csv(&dir.join("rows.csv"), true);
    let want = read_csv(&dir.join("mlp.pred.csv"), false);
    let m = OnnxModel::load(&dir.join("mlp.onnx"), rows[0].len()).unwrap();
    let mut max = 0.0f64;
    for (r, w) in rows.iter().zip(&want) {
        let x: Vec<f32> = r
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { *v as f32 })
            .collect();
        let p = m.predict(&x).unwrap();
        assert_eq!(p.values().len(), 1);
        max = max.max((p.values()[0] - w[0]).abs());
    }
    eprintln!("mlp.onnx: {} rows, max abs error {max:e}", rows.len());
    assert!(max <= 1e-5, "max abs error {max:e}");
    assert!(
        OnnxModel::load(&dir.join("mlp.onnx"), 7).is_err(),
        "wrong input width accepted"
    );
}

/// `scripts/train_example.py` on a features CSV (header read generically:
/// bookkeeping columns and a second label column are left out) writes a
/// model + manifest the engine loads; `--synthetic` too.
#[test]
fn train_example_writes_a_model_the_engine_loads() {
    let Some(_) = reference() else { return };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("train_example");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let mut csv = format!(
        "ts,venue,symbol,{},fwd_ret_bps_1000ms,fwd_ret_bps_5000ms\n",
        FEATURE_NAMES.join(",")
    );
    let mut s: u64 = 12345;
    let mut rnd = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    for i in 0..3000 {
        let x: Vec<f64> = (0..N_FEATURES).map(|_| rnd()).collect();
        let y = 4.0 * x[3] + 2.0 * x[4] + rnd();
        let cells: Vec<String> = x.iter().map(|v| v.to_string()).collect();
        csv += &format!(
            "{},binance,BTCUSDT,{},{y},{}\n",
            1_700_000_000_000i64 + i,
            cells.join(","),
            y * 2.0
        );
    }
    // A last row without its forward return yet (the horizon ran past the end).
    csv += &format!("1,binance,BTCUSDT,{},,\n", ["0.5"; N_FEATURES].join(","));
    std::fs::write(tmp.join("features.csv"), csv).unwrap();
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("model-venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/train_example.py");
    for (args, out) in [
        (
            vec![
                "--csv",
                tmp.join("features.csv").to_str().unwrap(),
                "--version",
                "csv-1",
            ],
            "csv",
        ),
        (
            vec![
                "--synthetic",
                "--objective",
                "multiclass",
                "--version",
                "syn-1",
            ],
            "syn",
        ),
    ] {
        let o = Command::new("python3")
            .arg(&script)
            .args(&args)
            .arg("--out")
            .arg(tmp.join(out))
            .arg("--venv")
            .arg(&venv)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let m = Model::load(&tmp.join(out).join("model.json")).unwrap();
        assert_eq!(m.kind_name(), "lightgbm");
        assert_eq!(m.version(), if out == "csv" { "csv-1" } else { "syn-1" });
        if out == "csv" {
            assert_eq!(m.feature_names(), FEATURE_NAMES.map(String::from).to_vec());
        } else {
            // --synthetic names eight of the engine's features.
            let names = m.feature_names();
            assert_eq!(names.len(), 8);
            assert!(names.iter().all(|n| FEATURE_NAMES.contains(&n.as_str())));
        }
        // The CSV model learned the label's sign from book_imbalance.
        if out == "csv" {
            let mut x = [0.0; N_FEATURES];
            x[3] = 0.9;
            x[4] = 0.9;
            assert_eq!(m.score(&x).0, Action::Buy);
            x[3] = -0.9;
            x[4] = -0.9;
            assert_eq!(m.score(&x).0, Action::Sell);
        }
    }
}
