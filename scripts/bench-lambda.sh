#!/usr/bin/env bash
# Measures the AWS Lambda function (examples/aws-sqs):
#   1. the stripped bootstrap's size with both stores and the middleware stack
#      linked (arm64 and amd64);
#   2. process start to ready for work (first GET .../invocation/next against a
#      stub Runtime API), with the Redis store and with the DynamoDB store,
#      taking turns with the bare aws-lambda-go function (testdata/bare);
#   3. a warm invocation with a 10-record batch on Redis under the Runtime
#      Interface Emulator. The functions take turns, one invocation each per
#      round, and the script reports medians: a bare aws-lambda-go function
#      (testdata/bare), the same function plus the store's two round trips
#      (testdata/barestore), eventfn's adapter + idempotency on Redis around a
#      no-op handler (testdata/noop), and the example. The overhead is the
#      no-op function less the bare store function, round by round.
# Starts its own redis-server and installs aws-lambda-rie (scripts/services).
# With -latency 1ms the functions and benchmarks reach Redis through
# Toxiproxy (scripts/toxiproxy.sh), each round trip longer by that
# much, as over a real network.
#
# EVENTFN_BENCH_NOOP_REF=path adds that build of testdata/noop (of another
# commit, say) to the warm rounds and reports this build less it.
#
# Usage: scripts/bench-lambda.sh [-latency 1ms] [iterations, default 500]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_all EXIT
take_latency "$@" || exit 2
set -- ${REST[@]+"${REST[@]}"}
N=${1:-500}

source scripts/services/redis.sh
source scripts/services/rie.sh
network="loopback"
if [[ -n $LATENCY_MS ]]; then
	source scripts/toxiproxy.sh
	proxy_port=$(toxiproxy_latency redis "$EVENTFN_REDIS_PORT" "$LATENCY_MS")
	export EVENTFN_REDIS_URL="redis://127.0.0.1:$proxy_port/0"
	network="Redis ${LATENCY_MS} ms away (Toxiproxy)"
fi
export EVENTFN_REQUIRE_SERVICES=1

out=$(mktemp -d)
trap 'stop_all; rm -rf "$out"' EXIT
log "building bootstrap (GOOS=linux CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags='-s -w')"
for arch in arm64 amd64; do
	(cd examples/aws-sqs && GOOS=linux GOARCH=$arch CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o "$out/bootstrap-$arch" .)
done

log "running benchmarks ($N iterations each)"
(cd examples/aws-sqs && go test -run '^$' -bench 'ColdStart|WarmInvoke|StoreRoundTrips|InProcess10' -benchtime "${N}x" -count 1 .) | tee "$out/bench.txt" >&2

ns() { awk -v name="$1" '$1 ~ name { print $3; exit }' "$out/bench.txt"; }
# metric NAME UNIT: the value reported before UNIT on the line of benchmark NAME.
metric() { awk -v name="$1" -v unit="$2" '$1 ~ name { for (i = 2; i <= NF; i++) if ($i == unit) { print $(i-1); exit } }' "$out/bench.txt"; }
pm() { awk -v v="$1" 'BEGIN { printf "%.3f ms", v }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.3f ms", v / 1e6 }'; }
size() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB (%d bytes)", b / 1048576, b }'; }

bare=$(ns 'WarmInvoke/bare-function-10-records')
full=$(ns 'WarmInvoke/10-records-redis')
store=$(ns 'StoreRoundTrips')
user=$(ns 'InProcess10/orders-handler-alone')

cat <<REPORT
== examples/aws-sqs Lambda numbers ($(go env GOVERSION), $(nproc) CPUs, $N iterations, $network) ==
bootstrap size, stripped, both stores and the middleware stack (target 20 MB):
  arm64: $(size "$out/bootstrap-arm64")
  amd64: $(size "$out/bootstrap-amd64")
process start to ready for work, taking turns with a bare aws-lambda-go function (medians; target 8 ms):
  bare aws-lambda-go function: $(pm "$(metric ColdStart bare-ms)")
  redis store:                 $(pm "$(metric ColdStart redis-ms)"), $(pm "$(metric ColdStart redis-minus-bare-ms)") more than bare
  dynamodb store:              $(pm "$(metric ColdStart dynamodb-ms)"), $(pm "$(metric ColdStart dynamodb-minus-bare-ms)") more than bare (loads the AWS config at start)
warm invocation, 10-record batch, Redis, under aws-lambda-rie, functions taking turns (medians):
  bare aws-lambda-go function:                 $(pm "$(metric WarmInvoke/paired bare-ms)")
  bare function + the store's 2 round trips:   $(pm "$(metric WarmInvoke/paired bare+store-ms)")
  eventfn adapter + idempotency, no-op handler: $(pm "$(metric WarmInvoke/paired noop-ms)")
  example (orders handler):                    $(pm "$(metric WarmInvoke/paired example-ms)")
  => adapter + idempotency overhead (no-op less bare+store, per round): $(pm "$(metric WarmInvoke/paired overhead-ms)") (target 0.1 ms)
     the same started with lambda.StartHandlerFunc(Lambda.Invoke), not sqs.Start: $(pm "$(metric WarmInvoke/paired overhead-handlerfunc-ms)")${EVENTFN_BENCH_NOOP_REF:+
     the no-op function less EVENTFN_BENCH_NOOP_REF, per round: $(pm "$(metric WarmInvoke/paired noop-minus-ref-ms)")}
     example less bare+store, per round (overhead + the orders handler's work): $(pm "$(metric WarmInvoke/paired example-minus-bare+store-ms)")
the same, measured one function after another (drift between runs included;
the round trips and the handler in a hot loop, cheaper than inside a function):
  example function:                 $(ms "$full")
  bare aws-lambda-go function:      $(ms "$bare")   (emulator + runtime + event decoding)
  store: batch claim + complete:    $(ms "$store")
  orders handler alone (10 orders): $(ms "$user")
in process (no emulator), 10 records:
  adapter only, no-op handler:             $(ms "$(ns 'InProcess10/adapter-only')")
  adapter + idempotency (memstore), no-op: $(ms "$(ns 'InProcess10/adapter\+idempotency-memstore')")
  example with Redis:                      $(ms "$(ns 'InProcess10/example-redis')")
REPORT
