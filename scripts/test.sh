#!/usr/bin/env bash
# The full test suite: installs and starts every real server the tests need
# (scripts/services/*.sh, each on a free loopback port), runs go vet, gofmt and
# go test -race over the module and every nested module, runs every benchmark
# once and the Redis bench command briefly (so they keep working; the figures
# come from scripts/bench-*.sh), then stops the servers, also when the tests
# fail.
#
# Usage: scripts/test.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_all EXIT

export EVENTFN_REQUIRE_SERVICES=1
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_EC2_METADATA_DISABLED=true

for svc in scripts/services/*.sh; do
	log "service: $svc"
	source "$svc"
done

# Every go.mod in the repository is a module to vet and test.
mapfile -t modules < <(find . -name go.mod -not -path './.cache/*' -printf '%h\n' | sort)

log "gofmt"
unformatted=$(gofmt -l $(printf '%s ' "${modules[@]}") | grep -v '^\.cache/' || true)
if [ -n "$unformatted" ]; then
	log "gofmt needed:"; echo "$unformatted" >&2; exit 1
fi

status=0
for mod in "${modules[@]}"; do
	log "module $mod: go vet"
	(cd "$mod" && go vet ./...) || status=1
	log "module $mod: go test -race"
	(cd "$mod" && go test -race -count=1 -timeout 20m "$@" ./...) || status=1
	log "module $mod: benchmarks, one iteration each"
	out=$(cd "$mod" && go test -run '^$' -bench . -benchtime 1x -count=1 -timeout 10m ./... 2>&1) || { echo "$out" >&2; status=1; }
done
log "redisbench, one short round"
out=$(go run ./internal/bench/redisbench -redis-url "$EVENTFN_REDIS_URL" -port "$EVENTFN_REDIS_PORT" -duration 300ms -rounds 1 2>&1) || { echo "$out" >&2; status=1; }
exit $status
