# Pub/Sub: the pstest fake (cloud.google.com/go/pubsub/v2/pstest) as its own
# process on a free loopback port. Builds internal/tools/pstest into
# $EVENTFN_CACHE/bin (the Go build cache makes rebuilds fast) and exports
# PUBSUB_EMULATOR_HOST, which every Pub/Sub client library honours.
mkdir -p "$EVENTFN_CACHE/bin"
log "building pstest server"
(cd "$EVENTFN_ROOT" && go build -o "$EVENTFN_CACHE/bin/pstest-server" ./internal/tools/pstest)
PUBSUB_PORT=$(free_port)
start_bg pstest "$EVENTFN_CACHE/bin/pstest-server" -addr "127.0.0.1:$PUBSUB_PORT"
wait_port 127.0.0.1 "$PUBSUB_PORT" 20 pstest
export PUBSUB_EMULATOR_HOST="127.0.0.1:$PUBSUB_PORT"
export PUBSUB_PROJECT_ID=${PUBSUB_PROJECT_ID:-eventfn-test}
