#!/usr/bin/env bash
# Network faults, measured (needs root: every host is a network namespace this script makes and
# removes). Two parts:
# 1. IntegrationTests/partition-soak.py: every component on a test host of its own, a seeded
#    schedule of black holes, one-way drops, resets, slow and flapping links between each pair
#    that talks, then every acknowledged event checked end to end (its summary table).
# 2. A Redis Cluster split brain: six nodes (three primaries, three replicas), each on a test host
#    of its own (10.77.0.0/24), and the two receivers on two more. While both receive load, the
#    primary that serves most partitions is cut off from every other node by nftables drops (no
#    reset), with receiver-1 on its side and receiver-2 on the majority side; once its replica is
#    promoted, the cut heals and it rejoins as a replica (IntegrationTests/cluster-soak.py,
#    scenario partition). With CIO_RELAY_REDIS_MIN_REPLICAS=1 (the default on a cluster) any loss
#    fails the run; with 0, the events the cut-off primary acknowledged and lost are reported.
# Short form (the test command, under 2 minutes): part 1 for 40 s on PostgreSQL, part 2 with
# MIN_REPLICAS=1. With PARTITION_SECONDS: part 1 that long on PostgreSQL, then on the BigQuery
# emulator, and part 2 with MIN_REPLICAS 0 and 1.
# Usage: IntegrationTests/partition-soak.sh [BINARY]   (default: the debug build)
#   PARTITION_SECONDS        seconds of load and faults of part 1 (the long form)
#   PARTITION_SEED           replays part 1's schedule (printed at the start of each run)
#   PARTITION_SPLIT_SECONDS  seconds of load of each split brain run (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "partition-soak: needs root, to make network namespaces, veth pairs and nftables rules (CI runs the test command as root)" >&2
  exit 1
fi
. scripts/lib.sh
ensure_packages redis-server redis-tools nftables iproute2 curl postgresql-15
[ -z "${PARTITION_SECONDS:-}" ] || ensure_bigquery_tools

binary=${1:-}
if [ -z "$binary" ]; then
  swift build --product cio-relay >&2
  binary="$(swift build --show-bin-path)/cio-relay"
fi

work=$(mktemp -d -t cio-relay-partition-soak.XXXXXX)
chmod 755 "$work"  # PostgreSQL runs as its own user below it
bridge=ciopbr0
cleanup() {
  stop_redis_nodes "$work/cluster"
  for i in 1 2 3 4 5 6 7 8; do ip netns del "ciop$i" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
  if [ "${status:-1}" -eq 0 ]; then rm -rf "$work"; else echo "partition-soak: logs kept in $work" >&2; fi
}
trap cleanup EXIT

# The test hosts: one namespace per node, a veth into the bridge, 10.77.0.1 for the root namespace.
ip link add "$bridge" type bridge
ip addr add 10.77.0.1/24 dev "$bridge"
ip link set "$bridge" up
add_host() {  # add_host I: namespace ciopI at 10.77.0.1I
  ip netns add "ciop$1"
  ip link add "ciopv$1" type veth peer name eth0 netns "ciop$1"
  ip link set "ciopv$1" master "$bridge" up
  ip netns exec "ciop$1" ip addr add "10.77.0.1$1/24" dev eth0
  ip netns exec "ciop$1" ip link set eth0 up
  ip netns exec "ciop$1" ip link set lo up
}
nodes=() namespaces=()
for i in 1 2 3 4 5 6; do
  add_host "$i"
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
# The receivers' test hosts, 10.77.0.17 and .18: the cut puts them on either side.
add_host 7
add_host 8
all=$(IFS=,; echo "${nodes[*]}")
map=$(IFS=,; echo "${namespaces[*]}")
echo "partition-soak: a Redis Cluster on six test hosts: $all"

status=0
echo "==> network faults between every pair of components, ${PARTITION_SECONDS:-40} s on PostgreSQL"
pairs() {
  python3 IntegrationTests/partition-soak.py --binary "$binary" --seconds "${PARTITION_SECONDS:-40}" \
    ${PARTITION_SEED:+--seed "$PARTITION_SEED"} "$@"
}
pairs --warehouse postgres --work "$work/pairs-postgres" || status=$?
if [ -n "${PARTITION_SECONDS:-}" ]; then
  echo "==> the same on the BigQuery emulator"
  pairs --warehouse bigquery --work "$work/pairs-bigquery" || status=$?
fi

split() {
  python3 IntegrationTests/cluster-soak.py --binary "$binary" --nodes "$all" --cluster-dir "$work/cluster" --namespaces "$map" \
    --receiver-hosts 10.77.0.17=ciop7,10.77.0.18=ciop8 --scenario partition --seconds "${PARTITION_SPLIT_SECONDS:-20}" \
    --rate 300 --max-503-share 0.5 "$@"
}
if [ -n "${PARTITION_SECONDS:-}" ]; then
  echo "==> split brain: a primary cut off with receiver-1, CIO_RELAY_REDIS_MIN_REPLICAS=0 (losses reported)"
  split --min-replicas 0 --report-loss --prefix part0 --work "$work/part0" || status=$?
  echo "==> the same with 64 requests in flight per sender: the minority side gets more through"
  split --min-replicas 0 --report-loss --concurrency 64 --prefix part0c --work "$work/part0c" || status=$?
fi
echo "==> split brain with the default (MIN_REPLICAS 1 on a cluster): nothing acknowledged may be lost"
split --prefix part1 --work "$work/part1" || status=$?
exit "$status"
