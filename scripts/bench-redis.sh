#!/usr/bin/env bash
# Idempotency throughput on Redis, compared with redis-benchmark in the same run.
# Starts its own redis-server on a free loopback port (installing it if needed).
# Usage: scripts/bench-redis.sh [-duration 7s] [-rounds 7]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_all EXIT
source scripts/services/redis.sh
go run ./internal/bench/redisbench -redis-url "$EVENTFN_REDIS_URL" -port "$EVENTFN_REDIS_PORT" "$@"
