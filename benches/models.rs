//! Model inference benches, one row at a time as the score stage runs them:
//! gradient-boosted trees (20 features, depth 6) loaded from the files
//! LightGBM and XGBoost wrote (`benches/data/`, made by
//! `scripts/model_reference.py --bench`), the same XGBoost 100-tree model in
//! the `gbdt` crate (from its JSON dump; gbdt-rs cannot read the packages'
//! model files), today's logistic model, and the ONNX MLP through tract.

use criterion::{Criterion, criterion_group, criterion_main};
use flate2::read::GzDecoder;
use quantum_trader::app::engine::EMBEDDED_MODEL;
use quantum_trader::core::N_FEATURES;
use quantum_trader::score::Model;
use quantum_trader::score::trees::{TreeEnsemble, lightgbm, xgboost};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;

const ROWS: usize = 1024;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/data")
        .join(name)
}

fn gunzip(name: &str) -> String {
    let f = std::fs::File::open(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut s = String::new();
    GzDecoder::new(f).read_to_string(&mut s).expect("gzip");
    s
}

/// Rows like the training data: standard normal, 5% NaN in feature 0.
fn rows(n_features: usize) -> Vec<Vec<f64>> {
    let mut rng = SmallRng::seed_from_u64(7);
    (0..ROWS)
        .map(|_| {
            (0..n_features)
                .map(|j| {
                    if j == 0 && rng.random::<f64>() < 0.05 {
                        f64::NAN
                    } else {
                        // Box-Muller
                        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
                    }
                })
                .collect()
        })
        .collect()
}

fn bench_trees(c: &mut Criterion, name: &str, e: &TreeEnsemble, rows: &[Vec<f64>]) {
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % ROWS;
            black_box(e.predict(black_box(&rows[i])))
        })
    });
}

fn benches(c: &mut Criterion) {
    let rows = rows(20);
    let lgb100 = lightgbm::parse(&gunzip("lgb_binary_100x6.txt.gz")).expect("lgb 100");
    let xgb100 = xgboost::parse(&gunzip("xgb_binary_100x6.json.gz")).expect("xgb 100");
    let xgb500 = xgboost::parse(&gunzip("xgb_binary_500x6.json.gz")).expect("xgb 500");
    for (n, e, t) in [
        ("lgb", &lgb100, 100),
        ("xgb", &xgb100, 100),
        ("xgb", &xgb500, 500),
    ] {
        assert_eq!(
            (e.n_trees(), e.n_inputs(), e.max_depth()),
            (t, 20, 6),
            "{n} {t}"
        );
    }
    bench_trees(c, "models/lightgbm_100x6_20f", &lgb100, &rows);
    bench_trees(c, "models/xgboost_100x6_20f", &xgb100, &rows);
    bench_trees(c, "models/xgboost_500x6_20f", &xgb500, &rows);

    // The gbdt crate on the same XGBoost model (its dump), same rows; its
    // API takes a Vec of rows and returns a Vec, so one row costs those too.
    let dump = gunzip("xgb_binary_100x6.gbdt.gz");
    let g = gbdt::gradient_boost::GBDT::from_xgboost_reader(
        std::io::Cursor::new(dump),
        "binary:logistic",
    )
    .expect("gbdt-rs loads the dump");
    let g_rows: Vec<gbdt::decision_tree::DataVec> = rows
        .iter()
        .map(|r| {
            let f = r
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        gbdt::decision_tree::VALUE_TYPE_UNKNOWN
                    } else {
                        *v as f32
                    }
                })
                .collect();
            vec![gbdt::decision_tree::Data::new_test_data(f, None)]
        })
        .collect();
    // Same model, same answers (gbdt-rs sums in f32 in its own order).
    let max = rows
        .iter()
        .zip(&g_rows)
        .map(|(r, g_row)| (xgb100.predict(r).v[0] - g.predict(g_row)[0] as f64).abs())
        .fold(0.0, f64::max);
    eprintln!("gbdt-rs vs engine on the XGBoost 100-tree model: max abs diff {max:e}");
    assert!(max < 1e-4, "gbdt-rs disagrees: {max}");
    let mut i = 0;
    c.bench_function("models/gbdt_rs_100x6_20f", |b| {
        b.iter(|| {
            i = (i + 1) % ROWS;
            black_box(g.predict(black_box(&g_rows[i])))
        })
    });

    // Today's logistic model over the engine's feature array.
    let logistic = Model::from_json(EMBEDDED_MODEL).expect("embedded model");
    let frows: Vec<[f64; N_FEATURES]> = rows
        .iter()
        .map(|r| {
            let mut x = [0.0; N_FEATURES];
            for (o, v) in x.iter_mut().zip(r.iter().skip(1)) {
                *o = *v;
            }
            x
        })
        .collect();
    let mut i = 0;
    c.bench_function("models/logistic_engine", |b| {
        b.iter(|| {
            i = (i + 1) % ROWS;
            black_box(logistic.score(black_box(&frows[i])))
        })
    });

    #[cfg(feature = "onnx")]
    {
        let m = quantum_trader::score::onnx::OnnxModel::load(&data("mlp.onnx"), 20).expect("mlp");
        let xs: Vec<Vec<f32>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| if v.is_nan() { 0.0 } else { *v as f32 })
                    .collect()
            })
            .collect();
        let mut i = 0;
        c.bench_function("models/onnx_mlp_20_32_16_1", |b| {
            b.iter(|| {
                i = (i + 1) % ROWS;
                black_box(m.predict(black_box(&xs[i])).expect("run"))
            })
        });
    }
}

criterion_group!(models, benches);
criterion_main!(models);
