# Toxiproxy (github.com/Shopify/toxiproxy/v2), go-installed (pinned) into
# $EVENTFN_CACHE, on a free loopback port: network latency for the bench
# scripts, which source this file after scripts/lib.sh (scripts/test.sh does
# not), as this kernel has no netem. Exports EVENTFN_TOXIPROXY_API.
#
# toxiproxy_latency NAME UPSTREAM_PORT MS creates proxy NAME to
# 127.0.0.1:UPSTREAM_PORT with a latency toxic of MS whole milliseconds on
# the downstream (server to client) direction only, so each round trip is
# longer by MS, and prints the port it listens on.
TOXIPROXY_VERSION=v2.5.0
TOXIPROXY_BIN=$EVENTFN_CACHE/toxiproxy-$TOXIPROXY_VERSION/server
if [[ ! -x $TOXIPROXY_BIN ]]; then
	log "installing toxiproxy-server $TOXIPROXY_VERSION"
	GOBIN=$(dirname "$TOXIPROXY_BIN") go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
fi
TOXIPROXY_PORT=$(free_port)
start_bg toxiproxy "$TOXIPROXY_BIN" -host 127.0.0.1 -port "$TOXIPROXY_PORT"
wait_port 127.0.0.1 "$TOXIPROXY_PORT" 20 toxiproxy
export EVENTFN_TOXIPROXY_API=http://127.0.0.1:$TOXIPROXY_PORT

toxiproxy_latency() {
	local name=$1 upstream=$2 ms=$3 port
	port=$(free_port)
	curl -fsS -o /dev/null -X POST "$EVENTFN_TOXIPROXY_API/proxies" \
		-d "{\"name\":\"$name\",\"listen\":\"127.0.0.1:$port\",\"upstream\":\"127.0.0.1:$upstream\"}"
	curl -fsS -o /dev/null -X POST "$EVENTFN_TOXIPROXY_API/proxies/$name/toxics" \
		-d "{\"name\":\"latency\",\"type\":\"latency\",\"stream\":\"downstream\",\"attributes\":{\"latency\":$ms,\"jitter\":0}}"
	wait_port 127.0.0.1 "$port" 20 toxiproxy
	log "toxiproxy: 127.0.0.1:$port -> 127.0.0.1:$upstream ($name), ${ms}ms latency downstream"
	echo "$port"
}
