# Lambda: the AWS Lambda Runtime Interface Emulator, go-installed (pinned) into
# $EVENTFN_CACHE/bin. Tests start it themselves, one per function binary, on
# free loopback ports (see internal/testenv/aws.go). Exports EVENTFN_RIE_BIN.
# Never run it with --help: it ignores the flag and starts the server.
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
RIE_BIN=$EVENTFN_CACHE/bin/aws-lambda-rie
if [ ! -x "$RIE_BIN" ] || [ "$(cat "$EVENTFN_CACHE/bin/.aws-lambda-rie.version" 2>/dev/null)" != "$RIE_VERSION" ]; then
	log "installing aws-lambda-rie@$RIE_VERSION"
	mkdir -p "$EVENTFN_CACHE/bin"
	GOBIN="$EVENTFN_CACHE/bin" GOFLAGS=-buildvcs=false go install "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$RIE_VERSION"
	echo "$RIE_VERSION" >"$EVENTFN_CACHE/bin/.aws-lambda-rie.version"
fi
export EVENTFN_RIE_BIN=$RIE_BIN
