#!/usr/bin/env bash
# Every check CI runs, in order: formatting, clippy with -D warnings, and all
# tests (unit, integration over real loopback sockets, real-capture samples).
# Tests read ../shared/samples: absent, they say SKIP locally and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Redis tests start their own redis-server on a free port (never 6379).
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server (needed by tests/redis_*.rs)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null
fi
# tests/model_reference.rs runs scripts/model_reference.py, which pip-installs
# lightgbm, xgboost-cpu, numpy, onnx and onnxruntime into target/model-venv;
# it needs python3 with the venv module (it SKIPs loudly without them).
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "== installing python3-venv (needed by tests/model_reference.rs)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3 python3-venv python3-pip >/dev/null || true
fi
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (workspace: engine and simulator, all targets, -D warnings)"
cargo clippy --release --workspace --all-targets -- -D warnings
echo "== Prometheus tooling: alert rules, their unit tests, the example scrape config"
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's prometheus package (promtool + prometheus; its service is not started)"
    # Keep the packaged service from starting (it would hold :9090).
    added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && added_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1; } \
      || true
    [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
fi
if command -v promtool >/dev/null; then
  promtool check rules config/prometheus/alerts.yml
  promtool test rules config/prometheus/alerts_test.yml
  promtool check config config/prometheus/prometheus.yml
else
  echo "!!!!!!!! SKIP: promtool/prometheus could not be installed: alert rules and the real-Prometheus scrape are NOT tested !!!!!!!!"
fi
echo "== cargo test (workspace: engine and simulator; release profile: the same build the demo and benches use)"
cargo test --release --workspace -- --test-threads="${QT_TEST_THREADS:-2}"
