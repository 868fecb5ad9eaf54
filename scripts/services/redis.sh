# Redis: Debian's redis-server on a free loopback port. Exports EVENTFN_REDIS_URL.
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	log "installing redis-server"
	apt_install redis-server redis-tools
fi
REDIS_PORT=$(free_port)
# EVENTFN_REDIS_CPUS, if set, pins the server to those CPUs (taskset -c).
start_bg redis ${EVENTFN_REDIS_CPUS:+taskset -c "$EVENTFN_REDIS_CPUS"} redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --protected-mode yes
wait_port 127.0.0.1 "$REDIS_PORT" 20 redis
export EVENTFN_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export EVENTFN_REDIS_PORT=$REDIS_PORT
