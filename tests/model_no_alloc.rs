//! Tree inference allocates nothing: LightGBM (f64) and XGBoost (f32)
//! ensembles from the committed bench fixtures, scored row by row under a
//! counting global allocator.

use flate2::read::GzDecoder;
use quantum_trader::score::trees::{TreeEnsemble, lightgbm, xgboost};
use std::io::Read;
use std::path::Path;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::count_allocs;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/data")
        .join(name);
    let mut s = String::new();
    GzDecoder::new(std::fs::File::open(&p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn allocs_while_scoring(e: &TreeEnsemble) -> (u64, f64) {
    let rows: Vec<Vec<f64>> = (0..500)
        .map(|i| {
            (0..e.n_inputs())
                .map(|j| {
                    if (i + j) % 17 == 0 {
                        f64::NAN
                    } else {
                        ((i * 31 + j * 7) % 101) as f64 / 25.0 - 2.0
                    }
                })
                .collect()
        })
        .collect();
    let (sum, allocs) = count_allocs(|| {
        let mut sum = 0.0;
        for r in &rows {
            sum += e.predict(r).v[0];
        }
        sum
    });
    (allocs, sum)
}

#[test]
fn tree_inference_allocates_nothing() {
    for (name, e) in [
        (
            "lightgbm",
            lightgbm::parse(&fixture("lgb_binary_100x6.txt.gz")).unwrap(),
        ),
        (
            "xgboost",
            xgboost::parse(&fixture("xgb_binary_100x6.json.gz")).unwrap(),
        ),
    ] {
        let (allocs, sum) = allocs_while_scoring(&e);
        assert!(sum.is_finite() && sum > 0.0, "{name}: {sum}");
        assert_eq!(allocs, 0, "{name}: {allocs} allocations for 500 rows");
    }
}
