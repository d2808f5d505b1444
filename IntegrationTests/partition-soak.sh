#!/usr/bin/env bash
# A Redis Cluster split brain, measured: six nodes (three primaries, three replicas), each on a test
# host of its own (a network namespace on one bridge, 10.77.0.0/24, made and removed here; needs
# root). While two receivers and a worker run in the root namespace under load, the primary that
# serves most partitions is cut off from every other node by nftables drops (no reset) while the
# receivers still reach it; once its replica is promoted on the majority side, the cut heals and it
# rejoins as a replica. Run without and with CIO_RELAY_REDIS_MIN_REPLICAS: without, the events
# it acknowledged during the cut are counted as lost (reported, not failed on); with it, any loss
# fails the run. Not part of the test command (the numbers go to docs/redis-cluster.md).
# Usage: IntegrationTests/partition-soak.sh [BINARY]   (default: the debug build)
#   PARTITION_SOAK_SECONDS  seconds of sending per scenario (default 20)
#   PARTITION_SOAK_RATE     events per second in all (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages redis-server redis-tools nftables iproute2 curl

binary=${1:-}
if [ -z "$binary" ]; then
  swift build --product cio-relay >&2
  binary="$(swift build --show-bin-path)/cio-relay"
fi

work=$(mktemp -d -t cio-relay-partition-soak.XXXXXX)
bridge=ciopbr0
cleanup() {
  stop_redis_nodes "$work/cluster"
  for i in 1 2 3 4 5 6; do ip netns del "ciop$i" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
  if [ "${status:-1}" -eq 0 ]; then rm -rf "$work"; else echo "partition-soak: logs kept in $work" >&2; fi
}
trap cleanup EXIT

# The test hosts: one namespace per node, a veth into the bridge, 10.77.0.1 for the root namespace.
ip link add "$bridge" type bridge
ip addr add 10.77.0.1/24 dev "$bridge"
ip link set "$bridge" up
nodes=() namespaces=()
for i in 1 2 3 4 5 6; do
  ip netns add "ciop$i"
  ip link add "ciopv$i" type veth peer name eth0 netns "ciop$i"
  ip link set "ciopv$i" master "$bridge" up
  ip netns exec "ciop$i" ip addr add "10.77.0.1$i/24" dev eth0
  ip netns exec "ciop$i" ip link set eth0 up
  ip netns exec "ciop$i" ip link set lo up
  port=$((7000 + i))
  mkdir -p "$work/cluster/$port"
  ip netns exec "ciop$i" redis-server --bind "10.77.0.1$i" --port "$port" --dir "$work/cluster/$port" --daemonize yes \
    --pidfile "$work/cluster/$port/redis.pid" --logfile "$work/cluster/$port/redis.log" --save "" --appendonly no \
    --protected-mode no --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 3000 >/dev/null
  nodes+=("10.77.0.1$i:$port")
  namespaces+=("10.77.0.1$i=ciop$i")
done
for node in "${nodes[@]}"; do
  for _ in $(seq 1 100); do
    redis-cli -h "${node%:*}" -p "${node##*:}" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$work/create.log" 2>&1 || { cat "$work/create.log" >&2; exit 1; }
for _ in $(seq 1 300); do
  ready=1
  for node in "${nodes[@]}"; do
    info=$(redis-cli -h "${node%:*}" -p "${node##*:}" INFO replication)
    redis-cli -h "${node%:*}" -p "${node##*:}" CLUSTER INFO | grep -q "cluster_state:ok" || ready=0
    if grep -q "role:slave" <<<"$info"; then grep -q "master_link_status:up" <<<"$info" || ready=0; fi
  done
  [ "$ready" = 1 ] && break
  sleep 0.1
done
all=$(IFS=,; echo "${nodes[*]}")
map=$(IFS=,; echo "${namespaces[*]}")
echo "partition-soak: a Redis Cluster on six test hosts: $all"

soak() {
  python3 IntegrationTests/cluster-soak.py --binary "$binary" --nodes "$all" --cluster-dir "$work/cluster" --namespaces "$map" \
    --scenario partition --seconds "${PARTITION_SOAK_SECONDS:-20}" --rate "${PARTITION_SOAK_RATE:-300}" --max-503-share 0.5 "$@"
}
status=0
echo "==> a primary cut off from the cluster, CIO_RELAY_REDIS_MIN_REPLICAS=0 (losses reported)"
soak --min-replicas 0 --report-loss --prefix part0 --work "$work/part0" || status=$?
echo "==> the same with the default (1 on a cluster): nothing acknowledged may be lost"
soak --prefix part1 --work "$work/part1" || status=$?
exit "$status"
