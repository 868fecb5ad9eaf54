# Redis Cluster: three redis-server masters on free loopback ports, joined with
# redis-cli --cluster create. Exports EVENTFN_REDIS_CLUSTER_URL for the cluster
# tests of idempotency/redisstore. Needs scripts/services/redis.sh (installs redis).
_cluster_dir=$EVENTFN_CACHE/redis-cluster
rm -rf "$_cluster_dir"
mkdir -p "$_cluster_dir"
# A cluster node also listens on its port + 10000 (the cluster bus), and the
# port must be at most 55535: pick ports where both are free.
_cluster_port() {
	python3 - <<'PY2'
import random, socket
for _ in range(200):
    p = random.randint(20000, 45000)
    ok = True
    for q in (p, p + 10000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
PY2
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
