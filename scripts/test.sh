#!/usr/bin/env bash
# Every check CI runs, in order: formatting, clippy with -D warnings, and all
# tests (unit, integration over real loopback sockets, real-capture samples).
# Tests read ../shared/samples when present and say SKIP when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Redis tests start their own redis-server on a free port (never 6379).
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server (needed by tests/redis_*.rs)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null
fi
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (all targets, -D warnings)"
cargo clippy --release --all-targets -- -D warnings
echo "== cargo test (release profile: the same build the demo and benches use)"
cargo test --release -- --test-threads="${QT_TEST_THREADS:-2}"
