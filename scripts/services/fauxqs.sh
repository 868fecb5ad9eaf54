# SQS and SNS: npm fauxqs (in-memory SQS/SNS emulator speaking the current
# SDK's JSON protocol for SQS), installed into $EVENTFN_CACHE/fauxqs and bound
# to a free loopback port. Exports AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_SNS
# (the same server). Queue URLs it returns look like
# http://sqs.<region>.localhost:<port>/000000000000/<name>: use them as
# returned; requests go to the endpoint.
FAUXQS_VERSION=1.9.2
FAUXQS_DIR=$EVENTFN_CACHE/fauxqs
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	log "installing nodejs and npm"
	apt_install nodejs npm
fi
if [ "$(cat "$FAUXQS_DIR/.installed" 2>/dev/null)" != "$FAUXQS_VERSION" ]; then
	log "installing fauxqs@$FAUXQS_VERSION"
	mkdir -p "$FAUXQS_DIR"
	npm install --prefix "$FAUXQS_DIR" --no-audit --no-fund --loglevel=error "fauxqs@$FAUXQS_VERSION" >&2
	echo "$FAUXQS_VERSION" >"$FAUXQS_DIR/.installed"
fi
# fauxqs's own CLI listens on 0.0.0.0; build its app and bind loopback only.
cat >"$FAUXQS_DIR/serve.mjs" <<'JS'
import { buildApp } from "fauxqs";
const app = buildApp({ logger: process.env.FAUXQS_LOGGER === "true" });
await app.listen({ port: Number(process.env.FAUXQS_PORT), host: "127.0.0.1" });
console.log(`fauxqs listening on 127.0.0.1:${process.env.FAUXQS_PORT}`);
JS
FAUXQS_PORT=$(free_port)
start_bg fauxqs env FAUXQS_PORT="$FAUXQS_PORT" node "$FAUXQS_DIR/serve.mjs"
wait_port 127.0.0.1 "$FAUXQS_PORT" 30 fauxqs
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$FAUXQS_PORT"
export AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$FAUXQS_PORT"
