#!/usr/bin/env bash
# The full test suite: installs and starts every real server the tests need
# (scripts/services/*.sh, each on a free loopback port), runs go vet, gofmt and
# go test -race over the module and every nested module, then stops the servers,
# also when the tests fail.
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
done
exit $status
