#!/usr/bin/env bash
# Prints the stripped size of a push-only Cloud Run binary: a main that
# serves pubsub.NewPushHandler and nothing else, built with
# go build -trimpath -ldflags='-s -w'. With a git ref as argument it builds
# that commit's tree instead of the working tree, to compare.
#
# Usage: scripts/size-push.sh [REF]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$PWD
if [ $# -gt 0 ]; then
	mkdir "$tmp/tree"
	git archive "$1" | tar -x -C "$tmp/tree"
	src=$tmp/tree
fi
mkdir "$tmp/main"
cat >"$tmp/main/main.go" <<'GO'
package main

import (
	"context"
	"net/http"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

func main() {
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	_ = http.ListenAndServe("127.0.0.1:8080", pubsub.NewPushHandler(h, nil))
}
GO
(cd "$src" && go build -trimpath -ldflags='-s -w' -o "$tmp/push" "$tmp/main/main.go")
bytes=$(stat -c %s "$tmp/push")
awk -v b="$bytes" -v ref="${1:-working tree}" 'BEGIN { printf "push-only binary (%s): %d bytes (%.1f MB)\n", ref, b, b / 1e6 }'
