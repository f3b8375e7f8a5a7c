//! Mutation fuzzing of the config loader (stable toolchain, bounded): the
//! shipped `config/*.toml` with values swapped for hostile ones (wrong
//! types, out-of-range and huge numbers, NaN, empty and odd strings), keys
//! misspelt, lines dropped or doubled, and raw bytes flipped, inserted or
//! deleted. Checked for every case: no panic; an error names what is wrong
//! (a key path for everything but broken TOML syntax). Cases:
//! `QT_FUZZ_CASES` (default 3000); the seed of a failing case is printed.

use super::Config;
use crate::core::testkit::{Rng, cases};
use std::time::Instant;

const VALUES: &[&str] = &[
    "-1",
    "0",
    "1",
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551615",
    "1e309",
    "-1e309",
    "nan",
    "inf",
    "-inf",
    "1.5",
    "-0.0",
    "1e-320",
    "\"\"",
    "\"x\"",
    "\"0\"",
    "\"-1\"",
    "\"1e999\"",
    "\"\\u0000\"",
    "\"ÿ\"",
    "true",
    "false",
    "[]",
    "[1, 2]",
    "[\"\"]",
    "{}",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
    "\"wss://\"",
    "\"127.0.0.1:0\"",
    "\"127.0.0.1:99999\"",
    "\"BTCUSDT BTCUSDT\"",
];

/// Lines `key = value` (not comments, not tables) of `text`.
fn value_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.starts_with('#') && !t.starts_with('[') && t.contains(" = ")
        })
        .map(|(i, _)| i)
        .collect()
}

/// A mutated config and, for a value swap, the key it changed.
fn mutate(rng: &mut Rng, text: &str) -> (String, Option<String>) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let vl = value_lines(text);
    let pick = vl[rng.below(vl.len())];
    match rng.below(6) {
        0..=2 => {
            let key = lines[pick]
                .split(" = ")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let v = VALUES[rng.below(VALUES.len())];
            lines[pick] = format!("{key} = {v}");
            (lines.join("\n"), Some(key))
        }
        3 => {
            // A misspelt key.
            let l = &mut lines[pick];
            let at = rng.below(l.find(" = ").unwrap_or(1).max(1));
            l.insert(at, 'x');
            (lines.join("\n"), None)
        }
        4 => {
            if rng.below(2) == 0 {
                lines.remove(pick);
            } else {
                let l = lines[pick].clone();
                lines.insert(pick, l);
            }
            (lines.join("\n"), None)
        }
        _ => {
            let mut b = text.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len());
                match rng.below(3) {
                    0 => b[at] ^= 1 << rng.below(8),
                    1 => b.insert(at, rng.next() as u8),
                    _ => {
                        b.remove(at);
                    }
                }
            }
            (String::from_utf8_lossy(&b).into_owned(), None)
        }
    }
}

#[test]
fn fuzz_config_loader_never_panics_and_names_the_key() {
    let n = cases(3_000);
    let t0 = Instant::now();
    let bases: Vec<String> = ["config/demo.toml", "config/paper.toml"]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let (mut panics, mut errors, mut ok) = (0u64, 0u64, 0u64);
    for k in 0..n as u64 {
        let seed = 0xC0F1_0000 + k;
        let mut rng = Rng(seed);
        let base = &bases[rng.below(bases.len())];
        let (text, key) = mutate(&mut rng, base);
        let res = std::panic::catch_unwind(|| Config::from_toml(&text));
        match res {
            Err(_) => {
                panics += 1;
                eprintln!("seed {seed:#x}: the loader panicked on:\n{text}");
            }
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                errors += 1;
                assert!(!e.reason.is_empty(), "seed {seed:#x}: empty error");
                // A swapped value is refused at its own key.
                if let Some(k) = &key
                    && !e.reason.starts_with("invalid TOML")
                {
                    let own = e.path.ends_with(k.as_str())
                        || e.path.contains(&format!("{k}["))
                        || e.path.contains(&format!("{k}."));
                    // Refusals that belong to the other side of a
                    // cross-reference: a venue symbol whose instrument was
                    // renamed; venue URLs once the simulator is turned off.
                    let cross = e.reason.starts_with("no [[instruments]] entry")
                        || (k == "enabled" && e.reason.contains("unless [sim] is enabled"));
                    assert!(
                        own || cross,
                        "seed {seed:#x}: `{k}` swapped, refused at another key: {e}"
                    );
                    assert!(!e.path.contains("$__"), "seed {seed:#x}: {e}");
                }
                if e.path.is_empty() {
                    assert!(
                        e.reason.starts_with("invalid TOML"),
                        "seed {seed:#x}: an error without a key path: {e} ({key:?})"
                    );
                }
            }
        }
    }
    eprintln!(
        "config loader fuzz: {n} cases in {:.2} s, {panics} panics, {errors} refused, {ok} accepted",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(panics, 0);
}

/// What the fuzzer found, kept as regression tests: NaN passed every range
/// check (`taker_fee_bps = nan` would have made every fee and PnL NaN); a
/// lot size that is no decimal was reported at `contract_value`; a missing
/// `rest_url` was reported at `ws_url`; a datetime where a table belongs
/// was reported at `sim.start_prices.$__toml_private_datetime`.
#[test]
fn fuzz_findings_are_refused_at_their_key() {
    let demo = std::fs::read_to_string("config/demo.toml").unwrap();
    let paper = std::fs::read_to_string("config/paper.toml").unwrap();
    let swap = |text: &str, key: &str, v: &str| -> String {
        let mut done = false;
        text.lines()
            .map(|l| {
                if !done && l.starts_with(&format!("{key} = ")) {
                    done = true;
                    format!("{key} = {v}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (text, key, v, path) in [
        (&demo, "taker_fee_bps", "nan", "exec.taker_fee_bps"),
        (&demo, "max_slippage_bps", "nan", "exec.max_slippage_bps"),
        (&paper, "rest_url", "\"\"", "venues.binance.rest_url"),
        (
            &demo,
            "start_prices",
            "1979-05-27T07:32:00Z",
            "sim.start_prices",
        ),
    ] {
        let e = Config::from_toml(&swap(text, key, v)).unwrap_err();
        assert_eq!(e.path, path, "{key} = {v}: {e}");
    }
    // An instrument with a contract value and a lot size that is no decimal.
    let i = demo
        .lines()
        .filter(|l| l.starts_with("[[instruments]]") || l.starts_with("contract_value = "))
        .collect::<Vec<_>>();
    {
        let k = i
            .iter()
            .position(|l| l.starts_with("contract_value"))
            .expect("demo.toml has an instrument with a contract_value");
        let n = i[..k].iter().filter(|l| l.starts_with("[[")).count() - 1;
        let mut seen = 0;
        let text: String = demo
            .lines()
            .map(|l| {
                if l.starts_with("[[instruments]]") {
                    seen += 1;
                }
                if seen == n + 1 && l.starts_with("lot_size = ") {
                    "lot_size = \"x\"".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let e = Config::from_toml(&text).unwrap_err();
        assert_eq!(e.path, format!("instruments[{n}].lot_size"), "{e}");
    }
}
