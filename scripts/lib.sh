# Shared helpers for scripts/test.sh and scripts/services/*.sh. Sourced, not run.

EVENTFN_ROOT=${EVENTFN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# Tools installed by the scripts (npm packages, go-installed binaries, logs).
EVENTFN_CACHE=${EVENTFN_CACHE:-$EVENTFN_ROOT/.cache}
EVENTFN_LOGS=$EVENTFN_CACHE/logs
mkdir -p "$EVENTFN_CACHE" "$EVENTFN_LOGS"

_EVENTFN_PIDS=()

log() { printf '[test.sh] %s\n' "$*" >&2; }

# port_unused PORT succeeds when nothing listens on 127.0.0.1:PORT.
port_unused() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a loopback TCP port that is free right now: the kernel
# picks one when python3 is there, else a random unused one.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 25000))
		port_unused "$p" && { echo "$p"; return; }
	done
}

# wait_port HOST PORT SECONDS NAME waits until HOST:PORT accepts TCP connections.
wait_port() {
	local host=$1 port=$2 secs=$3 name=$4 i
	for ((i = 0; i < secs * 10; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not listen on $host:$port within ${secs}s; its log:"
	tail -n 50 "$EVENTFN_LOGS/$name.log" >&2 || true
	return 1
}

# take_latency ARGS... sets LATENCY_MS from a -latency flag in ARGS (whole
# milliseconds such as 1ms: Toxiproxy's latency toxic has no finer unit),
# empty without one, and REST to the other arguments in order; it fails on
# a bad value.
take_latency() {
	LATENCY_MS=
	REST=()
	local v
	while (($#)); do
		case $1 in
		-latency | --latency) v=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
		-latency=* | --latency=*) v=${1#*=}; shift ;;
		*) REST+=("$1"); shift; continue ;;
		esac
		LATENCY_MS=${v%ms}
		if [[ ! $LATENCY_MS =~ ^[1-9][0-9]*$ ]]; then
			log "-latency takes whole milliseconds (Toxiproxy's latency toxic), such as 1ms; got '$v'"
			return 2
		fi
	done
}

# start_bg NAME CMD... starts CMD in the background, logging to $EVENTFN_LOGS/NAME.log,
# and remembers it so stop_all ends it.
start_bg() {
	local name=$1
	shift
	"$@" >"$EVENTFN_LOGS/$name.log" 2>&1 &
	_EVENTFN_PIDS+=($!)
	log "started $name (pid $!)"
}

stop_all() {
	local pid
	for pid in "${_EVENTFN_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${_EVENTFN_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	_EVENTFN_PIDS=()
}

# apt_install PKG... installs Debian packages, running apt-get update once.
_EVENTFN_APT_UPDATED=
apt_install() {
	if [ -z "$_EVENTFN_APT_UPDATED" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		_EVENTFN_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
