#!/usr/bin/env bash
# Reproduces the Redis figures in docs/redis.md: tick-to-order and stage
# latencies with Redis off / up / down (one engine after the other, same
# run, QT_LATENCY_SECS each, default 20), and the publisher's sustained
# throughput against a local redis-server (started on a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)"; exit 1; }
cargo test --release --test redis_latency -- --ignored --nocapture --test-threads=1 2>&1 \
  | grep -oE '(redis (off|up|down).*|publisher: .*|test result.*)'
