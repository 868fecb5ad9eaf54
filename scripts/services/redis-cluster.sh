# Redis Cluster: three redis-server masters on free loopback ports, joined with
# redis-cli --cluster create. Exports EVENTFN_REDIS_CLUSTER_URL for the cluster
# tests of idempotency/redisstore. Needs scripts/services/redis.sh (installs redis).
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	log "installing redis-server"
	apt_install redis-server redis-tools
fi
_cluster_dir=$EVENTFN_CACHE/redis-cluster
rm -rf "$_cluster_dir"
mkdir -p "$_cluster_dir"
# A cluster node also listens on its port + 10000 (the cluster bus), and the
# port must be at most 55535: pick ports where both are unused.
_cluster_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 25000))
		if port_unused "$p" && port_unused $((p + 10000)); then
			echo "$p"
			return
		fi
	done
}
_cluster_nodes=()
for _i in 1 2 3; do
	_p=$(_cluster_port)
	mkdir -p "$_cluster_dir/$_p"
	start_bg "redis-cluster-$_p" redis-server --port "$_p" --bind 127.0.0.1 --cluster-enabled yes \
		--cluster-config-file "$_cluster_dir/$_p/nodes.conf" --dir "$_cluster_dir/$_p" --save '' --appendonly no
	wait_port 127.0.0.1 "$_p" 20 "redis-cluster-$_p"
	_cluster_nodes+=("127.0.0.1:$_p")
done
redis-cli --cluster create "${_cluster_nodes[@]}" --cluster-replicas 0 --cluster-yes >"$EVENTFN_LOGS/redis-cluster-create.log" 2>&1
for _i in $(seq 1 100); do
	if redis-cli -p "${_cluster_nodes[0]##*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
		break
	fi
	sleep 0.1
done
export EVENTFN_REDIS_CLUSTER_URL="redis://${_cluster_nodes[0]}?addr=${_cluster_nodes[1]}&addr=${_cluster_nodes[2]}"
log "redis cluster: $EVENTFN_REDIS_CLUSTER_URL"
