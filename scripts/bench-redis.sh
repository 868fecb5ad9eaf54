#!/usr/bin/env bash
# Idempotency throughput on Redis, compared with redis-benchmark in the same run.
# Starts its own redis-server on a free loopback port (installing it if needed).
# Usage: scripts/bench-redis.sh [-latency 1ms] [-duration 7s] [-rounds 7] [-loopback=false]
#
# -latency 1ms puts Toxiproxy (github.com/Shopify/toxiproxy/v2, installed
# with go install into .cache) between the bench and the server, with a
# latency toxic of that many whole milliseconds on the downstream (server
# to client) direction only, so each round trip is longer by the latency:
# the kernel has no netem. The latency table comes first (one stream and
# ten streams of 10-record batches against the protocol's limit and
# against one record at a time, with the round trip measured in the same
# run); the loopback table follows unless -loopback=false.
#
# EVENTFN_REDISBENCH=path runs that redisbench binary instead of building
# one (to compare two builds in alternating runs).
#
# Experiment: EVENTFN_HALT_POLL_NS=400000 scripts/bench-redis.sh sets the
# guest kernel's cpuidle halt polling (/sys/module/haltpoll/parameters/
# guest_halt_poll_ns; needs root and the haltpoll cpuidle driver) for the
# run and restores the old value at exit. An idle vCPU then polls for that
# long before it halts, so waking a blocked reader no longer costs a VM
# exit: the run shows how much of each figure, and of the -c 1 -P 1
# reference above all, is this VM's wake-up time (README, Performance).
#
# Experiment: EVENTFN_BENCH_PIN=1 scripts/bench-redis.sh gives redis-server
# the last CPU to itself and runs both clients (ours and redis-benchmark)
# on the others, as when Redis runs on its own host: on a small machine the
# clients otherwise take CPU time from the server they measure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
haltpoll=/sys/module/haltpoll/parameters/guest_halt_poll_ns
restore=
cleanup() {
	stop_all
	if [[ -n $restore ]]; then
		echo "$restore" >"$haltpoll" && log "guest_halt_poll_ns restored to $restore"
	fi
}
trap cleanup EXIT
if [[ -n ${EVENTFN_HALT_POLL_NS:-} ]]; then
	if [[ ! -w $haltpoll ]]; then
		log "EVENTFN_HALT_POLL_NS needs root and the haltpoll cpuidle driver ($haltpoll is not writable)"
		exit 2
	fi
	restore=$(cat "$haltpoll")
	echo "$EVENTFN_HALT_POLL_NS" >"$haltpoll"
	log "guest_halt_poll_ns set to $EVENTFN_HALT_POLL_NS for this run (was $restore)"
fi
pin=()
if [[ -n ${EVENTFN_BENCH_PIN:-} ]]; then
	last=$(($(nproc) - 1))
	if ((last < 1)); then
		log "EVENTFN_BENCH_PIN needs at least 2 CPUs"
		exit 2
	fi
	export EVENTFN_REDIS_CPUS=$last
	pin=(taskset -c "0-$((last - 1))")
	log "redis-server pinned to CPU $last, the clients to CPUs 0-$((last - 1))"
fi
take_latency "$@" || exit 2
args=(${REST[@]+"${REST[@]}"})
latency_ms=$LATENCY_MS
source scripts/services/redis.sh
if [[ -n $latency_ms ]]; then
	source scripts/toxiproxy.sh
	proxy_port=$(toxiproxy_latency redis "$EVENTFN_REDIS_PORT" "$latency_ms")
	args=(-proxy-url "redis://127.0.0.1:$proxy_port/0" -latency "${latency_ms}ms" "${args[@]}")
fi
# -flush: the server is ours, so each measurement may start from an empty
# keyspace.
bench=${EVENTFN_REDISBENCH:-}
if [[ -z $bench ]]; then
	bench=$EVENTFN_LOGS/redisbench
	go build -o "$bench" ./internal/bench/redisbench
fi
"${pin[@]}" "$bench" -redis-url "$EVENTFN_REDIS_URL" -port "$EVENTFN_REDIS_PORT" -flush "${args[@]}"
