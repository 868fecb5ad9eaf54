# RabbitMQ: Debian's rabbitmq-server (installed with apt when missing) as its
# own node, bound to loopback only: AMQP, Erlang distribution and epmd each on
# a free 127.0.0.1 port, node name unique to this run, no plugins (the
# management plugin is not needed). Data and logs live in
# $EVENTFN_CACHE/rabbitmq/run-PID, removed by the next run.
# epmd runs in the foreground under start_bg, so stop_all ends it with the
# node. Exports EVENTFN_RABBIT_URL (amqp://guest:guest@127.0.0.1:PORT/) and
# RABBIT_SERVER_URL, which gocloud.dev's rabbit:// opener reads.
if ! [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || ! command -v epmd >/dev/null; then
	log "installing rabbitmq-server"
	# The package's scripts would start a system broker and epmd on all
	# interfaces; a policy-rc.d that denies every start keeps them stopped.
	_rabbit_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && _rabbit_policy=1
	fi
	apt_install rabbitmq-server
	if [ -n "$_rabbit_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# Each run gets a fresh data directory; those of finished runs are removed.
for _d in "$EVENTFN_CACHE"/rabbitmq/run-*; do
	if [ -d "$_d" ] && ! kill -0 "${_d##*/run-}" 2>/dev/null; then rm -rf "$_d"; fi
done
RABBIT_DIR=$EVENTFN_CACHE/rabbitmq/run-$$
rm -rf "$RABBIT_DIR" && mkdir -p "$RABBIT_DIR"
RABBIT_PORT=$(free_port)
RABBIT_DIST_PORT=$(free_port)
RABBIT_EPMD_PORT=$(free_port)
echo '[].' >"$RABBIT_DIR/enabled_plugins"
# A config file in the run's directory keeps /etc/rabbitmq out of the run.
cat >"$RABBIT_DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$RABBIT_PORT
loopback_users.guest = true
log.console = true
log.console.level = warning
log.file = false
EOF
_rabbit_env=(
	HOME="$RABBIT_DIR"
	RABBITMQ_CONF_ENV_FILE=/dev/null
	RABBITMQ_CONFIG_FILE="$RABBIT_DIR/rabbitmq.conf"
	RABBITMQ_ADVANCED_CONFIG_FILE="$RABBIT_DIR/advanced.config"
	RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_DIR/enabled_plugins"
	RABBITMQ_NODENAME="eventfn-$$-$RANDOM@localhost"
	RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
	RABBITMQ_NODE_PORT="$RABBIT_PORT"
	RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"
	RABBITMQ_MNESIA_BASE="$RABBIT_DIR/mnesia"
	RABBITMQ_LOG_BASE="$RABBIT_DIR/log"
	RABBITMQ_PID_FILE="$RABBIT_DIR/rabbit.pid"
	ERL_EPMD_ADDRESS=127.0.0.1
	ERL_EPMD_PORT="$RABBIT_EPMD_PORT"
	RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
)
echo '[].' >"$RABBIT_DIR/advanced.config"
_rabbit_start=$(date +%s.%N)
start_bg epmd env ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$RABBIT_EPMD_PORT"
wait_port 127.0.0.1 "$RABBIT_EPMD_PORT" 10 epmd
start_bg rabbitmq env "${_rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
# The AMQP listener opens once the broker has booted.
wait_port 127.0.0.1 "$RABBIT_PORT" 60 rabbitmq
log "rabbitmq up on 127.0.0.1:$RABBIT_PORT in $(awk -v s="$_rabbit_start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')s"
export EVENTFN_RABBIT_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/"
export RABBIT_SERVER_URL="$EVENTFN_RABBIT_URL"
