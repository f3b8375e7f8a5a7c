//! Tree inference allocates nothing: LightGBM (f64) and XGBoost (f32)
//! ensembles from the committed bench fixtures, scored row by row under a
//! counting global allocator.

use flate2::read::GzDecoder;
use quantum_trader::score::trees::{TreeEnsemble, lightgbm, xgboost};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::path::Path;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let mut sum = 0.0;
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    for r in &rows {
        sum += e.predict(r).v[0];
    }
    COUNTING.with(|c| c.set(false));
    (ALLOCS.with(|n| n.get()), sum)
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
