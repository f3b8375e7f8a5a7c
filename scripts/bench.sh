#!/usr/bin/env bash
# Every benchmark in one run: the criterion micro-benches (parse beside
# serde_json, book beside BTreeMap, score/risk/paper, channel hop, tree/ONNX
# models beside gbdt-rs and the logistic model), then the
# end-to-end bench in-process (inject) and over loopback WebSocket, park
# waits, and in testnet mode against the simulator's order venue (signed
# orders over loopback HTTP: tick-to-wire, order round trip); the in-process
# run is made for both hot-path layouts (threads, then fused). Writes
# target/bench/summary.json and target/bench/summary.md.
#
#   scripts/bench.sh            full run (about 10 minutes on 2 cores)
#   QT_BENCH_QUICK=1 scripts/bench.sh   shorter criterion and e2e phases
#   QT_BENCH_WAIT=spin QT_BENCH_PIN=2,3,4,5,6 scripts/bench.sh   dedicated cores
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="target/bench"
mkdir -p "$OUT"
WAIT="${QT_BENCH_WAIT:-park}"
PIN=()
if [ -n "${QT_BENCH_PIN:-}" ]; then PIN=(--pin "$QT_BENCH_PIN"); fi
if [ -n "${QT_BENCH_QUICK:-}" ]; then
  CRIT=(--warm-up-time 1 --measurement-time 2 --noplot)
  DUR=3
  TDUR=20
else
  CRIT=(--warm-up-time 2 --measurement-time 5 --noplot)
  DUR=10
  TDUR=60
fi
RATE="${QT_BENCH_RATE:-20000}"
# The testnet phase: at most 18 orders/s (the simulated venue's 1,200 a
# minute), so it runs longer for enough samples.
TDUR="${QT_BENCH_TESTNET_SECS:-$TDUR}"
TRATE="${QT_BENCH_TESTNET_RATE:-2000}"

echo "== criterion micro-benches"
cargo bench --bench parse --bench book --bench logic --bench channel --bench models -- "${CRIT[@]}" 2>&1 | tee "$OUT/criterion.log"

echo "== end-to-end bench (in-process, $WAIT)"
cargo build --release --quiet
BIN="$TARGET/release/quantum-trader"
"$BIN" bench --mode inject --layout threads --wait "$WAIT" "${PIN[@]}" --duration "$DUR" --rate "$RATE" --out "$OUT/e2e_inject.json" >/dev/null
echo "== end-to-end bench (in-process, fused layout, $WAIT)"
"$BIN" bench --mode inject --layout fused --wait "$WAIT" "${PIN[@]}" --duration "$DUR" --rate "$RATE" --out "$OUT/e2e_inject_fused.json" >/dev/null
echo "== end-to-end bench (loopback WebSocket from the simulator, $WAIT)"
"$BIN" bench --mode loopback --wait "$WAIT" "${PIN[@]}" --duration "$DUR" --rate "$RATE" --out "$OUT/e2e_loopback.json" >/dev/null
echo "== end-to-end bench (testnet: signed orders to the simulator over loopback HTTP, $WAIT)"
"$BIN" bench --mode testnet --wait "$WAIT" "${PIN[@]}" --duration "$TDUR" --rate "$TRATE" --out "$OUT/e2e_testnet.json" >/dev/null

python3 scripts/bench_summary.py "$TARGET/criterion" "$OUT"
