#!/usr/bin/env bash
# Receiver benchmark on one Redis and on a Redis Cluster, in the same run: wrk posts distinct,
# correctly signed events to the release build of `cio-relay serve` against
#   single      one primary (and one replica), CIO_RELAY_PARTITIONS=1
#   cluster     three primaries (and three replicas), CIO_RELAY_PARTITIONS=16
#   tls-clus    the same cluster shape speaking only TLS (clients with a certificate, replication
#               and the cluster bus too): the cost of TLS, measured in the same run
#   sentinel    the single topology's primary found through three Sentinels (redis+sentinel://):
#               the cost of discovery, which should be none
# each without and with CIO_RELAY_REDIS_MIN_REPLICAS=1. Prints req/s, p50, p99, non-2xx, and the
# Redis CPU per accepted event (user + system time of the primaries, and of every Redis process
# with the replicas, from /proc) and the receiver's. Every Redis runs without persistence (the cluster helper's
# nodes do), so the runs differ only in topology and WAIT.
# Usage: Benchmarks/cluster.sh [SECONDS] [CONNECTIONS] [THREADS]
#   BENCH_TOPOLOGIES  which of them to run, in order (default: "single sentinel cluster tls-clus")
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
seconds=${1:-10} connections=${2:-64} threads=${3:-2}

ensure_packages redis-server redis-tools libhiredis-dev libssl-dev libsqlite3-dev wrk curl openssl
binary=${CIO_RELAY_BINARY:-$(build_release 2>/dev/null)}  # CIO_RELAY_BINARY: a binary built already (a baseline)

work=$(mktemp -d -t cio-relay-bench-cluster.XXXXXX)
cleanup() {
  [ -n "${relay:-}" ] && kill -TERM "$relay" 2>/dev/null && wait "$relay" 2>/dev/null || true
  stop_redis "$work/single"
  stop_redis "$work/replica"
  stop_redis_nodes "$work/sentinels"
  stop_redis_nodes "$work/cluster"
  stop_redis_nodes "$work/tls-cluster"
  rm -rf "$work"
}
trap cleanup EXIT
secret="bench-signing-key"

single_port=$(free_port)
start_redis "$work/single" "$single_port" --save "" --appendonly no
replica_port=$(free_port)
start_redis "$work/replica" "$replica_port" --save "" --appendonly no --replicaof 127.0.0.1 "$single_port"
nodes=$(start_redis_cluster "$work/cluster")
make_test_certs "$work/tls"
tls_nodes=$(start_redis_cluster "$work/tls-cluster" "$work/tls")
for _ in $(seq 1 100); do
  redis-cli -p "$single_port" INFO replication | grep -q "state=online" && break
  sleep 0.1
done
sentinels=$(start_sentinels "$work/sentinels" "$single_port")

count=$(( seconds * 40000 ))
make_request_corpus "$binary" "$secret" "$count" "$work/corpus" "$threads"

# roles_ports ROLE NODES: the ports of the cluster's nodes in that role (master or slave).
roles_ports() {
  local node
  for node in ${2//,/ }; do
    rcli -p "${node##*:}" ROLE | head -1 | grep -qx "$1" && echo "${node##*:}"
  done
}

echo "==> $(nproc) cores, Redis $(redis-server --version | awk '{print $3}'), wrk -t$threads -c$connections -d${seconds}s, no persistence"
printf '%-8s %-12s %9s %9s %9s %7s %26s %26s %22s\n' topology min_replicas req/s p50_ms p99_ms non2xx "redis_cpu_us/event(prim)" "redis_cpu_us/event(all)" \
  "receiver_cpu_us/event"
run=0
for topology in ${BENCH_TOPOLOGIES:-single sentinel cluster tls-clus}; do
  tls_env=()
  unset REDIS_CLI_TLS_DIR
  if [ "$topology" = single ] || [ "$topology" = sentinel ]; then
    url="redis://127.0.0.1:$single_port" partitions=1 primaries=("$single_port") all=("$single_port" "$replica_port")
    [ "$topology" = sentinel ] && url="redis+sentinel://$sentinels/mymaster"
  else
    members=$nodes
    url="redis+cluster://$nodes" partitions=16
    if [ "$topology" = tls-clus ]; then
      members=$tls_nodes
      url="rediss+cluster://$tls_nodes"
      export REDIS_CLI_TLS_DIR="$work/tls"
      tls_env=(CIO_RELAY_REDIS_TLS_CA_FILE="$work/tls/ca.crt" CIO_RELAY_REDIS_TLS_CERT_FILE="$work/tls/client.crt"
        CIO_RELAY_REDIS_TLS_KEY_FILE="$work/tls/client.key" CIO_RELAY_REDIS_TLS_SERVER_NAME=localhost)
    fi
    mapfile -t primaries < <(roles_ports master "$members")
    mapfile -t replicas < <(roles_ports slave "$members")
    all=("${primaries[@]}" "${replicas[@]}")
  fi
  for min in 0 1; do
    run=$(( run + 1 ))
    port=$(free_port) admin=$(free_port)
    env "${tls_env[@]}" CUSTOMERIO_WEBHOOK_SECRET=$secret REDIS_URL="$url" CIO_RELAY_PARTITIONS=$partitions CIO_RELAY_REDIS_MIN_REPLICAS=$min \
      CIO_RELAY_KEY_PREFIX="bench$run" PORT=$port ADMIN_PORT=$admin CIO_RELAY_BIND=127.0.0.1 LOG_LEVEL=warning \
      "$binary" serve 2>"$work/serve-$run.log" &
    relay=$!
    wait_http "http://127.0.0.1:$admin/readyz" 120
    before_primaries=$(redis_cpu_ticks "${primaries[@]}") before_all=$(redis_cpu_ticks "${all[@]}") before_relay=$(process_cpu_ticks "$relay")
    CORPUS="$work/corpus" wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s Benchmarks/webhooks.lua "http://127.0.0.1:$port" >"$work/wrk-$run.txt"
    after_primaries=$(redis_cpu_ticks "${primaries[@]}") after_all=$(redis_cpu_ticks "${all[@]}") after_relay=$(process_cpu_ticks "$relay")
    kill -TERM "$relay"; wait "$relay" 2>/dev/null || true; relay=
    python3 - "$work/wrk-$run.txt" "$topology" "$min" $(( after_primaries - before_primaries )) $(( after_all - before_all )) \
      $(( after_relay - before_relay )) "$(getconf CLK_TCK)" <<'PY'
import sys
sys.path.insert(0, "Benchmarks")
from wrk_summary import parse
path, topology, minimum, primaries, everything, receiver, hz = sys.argv[1:]
run = parse(open(path).read())
accepted = max(1, run["requests"] - run["non2xx"])
per = lambda ticks: int(ticks) / int(hz) * 1e6 / accepted
print(f"{topology:<8s} {minimum:<12s} {run['rps']:9.0f} {run['p50']:9.2f} {run['p99']:9.2f} {run['non2xx']:7d} {per(primaries):26.1f} {per(everything):26.1f}"
      f" {per(receiver):22.1f}")
PY
  done
done
