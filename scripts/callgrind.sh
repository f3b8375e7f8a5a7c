#!/usr/bin/env bash
# Deterministic work counts: replays a fixed slice of frames through every
# stage's per-message work on one thread (`quantum-trader bench --mode
# single`) under valgrind's callgrind, collecting only the measured replay,
# and prints instructions per frame in total and per stage function.
# Instruction counts do not depend on machine load: compare them across
# commits to see a regression that timings on a noisy machine would hide.
#
#   scripts/callgrind.sh [FRAMES] [capture|generated]     (default 20000 capture)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20000}"
SRC="${2:-}"
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet
BIN="$TARGET/release/quantum-trader"
OUT="target/bench"
mkdir -p "$OUT"
ARGS=(bench --mode single --messages "$N")
if [ -n "$SRC" ]; then ARGS+=(--frames "$SRC"); fi
valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_replay*' \
  --callgrind-out-file="$OUT/callgrind.out" "$BIN" "${ARGS[@]}" 2>"$OUT/callgrind.log" | tee "$OUT/callgrind.stdout"
callgrind_annotate --inclusive=yes --threshold=100 "$OUT/callgrind.out" >"$OUT/callgrind.annotate" 2>/dev/null
python3 - "$OUT/callgrind.annotate" "$OUT/callgrind.stdout" "$OUT/callgrind.json" <<'PY'
import json, re, sys
ann, out, js = sys.argv[1:4]
frames = int(re.search(r"single: (\d+) frames", open(out).read()).group(1))
# name shown, substring of the demangled symbol
stages = [
    ("total (measured_replay)", "hotpath::measured_replay"),
    ("feed: parse+sync+chunk (BinanceFeed::on_frame)", "BinanceFeed as quantum_trader::feed::session::Protocol>::on_frame"),
    ("  parse (Parser::parse)", "binance::parse::Parser::parse"),
    ("    single-pass scanner (fast::parse)", "binance::fast::parse"),
    ("      levels to fixed-point (fast::Cur::levels)", "binance::fast::Cur::levels"),
    ("    simd-json fallback (Parser::parse_full)", "binance::parse::Parser::parse_full"),
    ("      simd-json tape (fill_tape)", "simd_json::Deserializer::fill_tape"),
    ("      levels to fixed-point (parse::levels)", "binance::parse::levels"),
    ("  sync+chunk (on_parsed_depth)", "BinanceFeed::on_parsed_depth"),
    ("book (BookStage::apply)", "BookStage::apply"),
    ("score (Scorer::on_input)", "Scorer::on_input"),
    ("risk (Governor::check)", "Governor::check"),
    ("exec (PaperExec::execute)", "PaperExec::execute"),
    ("latency (LatencyRecorder::record)", "LatencyRecorder::record"),
]
rows = []
for line in open(ann, errors="replace"):
    m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)", line)
    if m:
        rows.append((int(m.group(1).replace(",", "")), m.group(2)))
result = {"frames": frames, "instructions_per_frame": {}}
print(f"callgrind: {frames} frames replayed on one thread; instructions per frame (inclusive):")
for name, key in stages:
    hits = [ir for ir, fn in rows if key in fn]
    if hits:
        v = max(hits) / frames
        result["instructions_per_frame"][name.strip()] = round(v, 1)
        print(f"  {name:<52} {v:>10.1f}")
    else:
        print(f"  {name:<52} {'(inlined or not run)':>10}")
json.dump(result, open(js, "w"), indent=2)
PY
echo "callgrind: details in $OUT/callgrind.annotate, figures in $OUT/callgrind.json"
