#!/usr/bin/env bash
# cio-relay on a Redis Cluster under topology changes (IntegrationTests/cluster-soak.py): on a cluster of
# its own (three primaries, three replicas), while events are sent, (1) two partitions' slots move
# to another primary; (2) with CIO_RELAY_REDIS_MIN_REPLICAS=1, a primary is killed and its replica
# promoted; (3) the same without MIN_REPLICAS, reporting how many acknowledged events were lost.
# (1) and (2) fail on any acknowledged event missing from the warehouse. Then (1) and (2) again on
# a second cluster that speaks only TLS (clients, replication and the cluster bus; mutual TLS);
# then one primary with two replicas and three Sentinels, whose primary is killed under load.
# The test command runs it.
# Usage: IntegrationTests/cluster-soak.sh [BINARY]   (default: the debug build)
#   CLUSTER_SOAK_SECONDS  seconds of sending per scenario (default 20)
#   CLUSTER_SOAK_RATE     events per second in all (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages redis-server redis-tools curl

binary=${1:-}
if [ -z "$binary" ]; then
  swift build --product cio-relay >&2
  binary="$(swift build --show-bin-path)/cio-relay"
fi

work=$(mktemp -d -t cio-relay-cluster-soak.XXXXXX)
cleanup() {
  stop_redis_nodes "$work/cluster"
  stop_redis_nodes "$work/tls-cluster"
  stop_redis_nodes "$work/sentinel"
  if [ "${status:-1}" -eq 0 ]; then rm -rf "$work"; else echo "cluster-soak: logs kept in $work" >&2; fi
}
trap cleanup EXIT
nodes=$(start_redis_cluster "$work/cluster")
echo "cluster-soak: Redis Cluster on $nodes"

soak() {
  python3 IntegrationTests/cluster-soak.py --binary "$binary" --nodes "$nodes" --cluster-dir "$work/cluster" \
    --seconds "${CLUSTER_SOAK_SECONDS:-20}" --rate "${CLUSTER_SOAK_RATE:-300}" "$@"
}
status=0
echo "==> live resharding under load"
soak --scenario reshard --prefix reshard --work "$work/reshard" || status=$?
echo "==> failover with CIO_RELAY_REDIS_MIN_REPLICAS=1"
soak --scenario failover --min-replicas 1 --prefix failover-wait --work "$work/failover-wait" --max-503-share 0.5 || status=$?
echo "==> failover without MIN_REPLICAS (losses reported, not failed on)"
soak --scenario failover --min-replicas 0 --prefix failover-async --work "$work/failover-async" --max-503-share 0.5 --report-loss || status=$?
stop_redis_nodes "$work/cluster"

make_test_certs "$work/tls"
nodes=$(start_redis_cluster "$work/tls-cluster" "$work/tls")
echo "cluster-soak: a TLS-only Redis Cluster on $nodes"
tls_soak() {
  python3 IntegrationTests/cluster-soak.py --binary "$binary" --nodes "$nodes" --cluster-dir "$work/tls-cluster" --tls-dir "$work/tls" \
    --seconds "${CLUSTER_SOAK_SECONDS:-20}" --rate "${CLUSTER_SOAK_RATE:-300}" "$@"
}
echo "==> TLS: live resharding under load"
tls_soak --scenario reshard --prefix tls-reshard --work "$work/tls-reshard" || status=$?
echo "==> TLS: failover with CIO_RELAY_REDIS_MIN_REPLICAS=1"
tls_soak --scenario failover --min-replicas 1 --prefix tls-failover --work "$work/tls-failover" --max-503-share 0.5 || status=$?
stop_redis_nodes "$work/tls-cluster"
unset REDIS_CLI_TLS_DIR

sentinels=$(start_redis_sentinel "$work/sentinel")
echo "cluster-soak: a primary, two replicas and three Sentinels; Sentinels on $sentinels"
# A master name no Sentinel knows stops start-up at once, as a configuration error.
answer=0
REDIS_URL="redis+sentinel://$sentinels/no-such-master" CUSTOMERIO_WEBHOOK_SECRET=x PORT="$(free_port)" ADMIN_PORT="$(free_port)" \
  CIO_RELAY_BIND=127.0.0.1 timeout 20 "$binary" serve >/dev/null 2>"$work/unknown-master.log" || answer=$?
if [ "$answer" = 78 ] && grep -q "monitors a master named 'no-such-master'" "$work/unknown-master.log"; then
  echo "cluster-soak: serve with an unknown master name stopped with exit 78: $(grep -o "no Sentinel.*" "$work/unknown-master.log" | head -1)"
else
  echo "cluster-soak: FAIL: serve with an unknown master name exited $answer: $(tail -3 "$work/unknown-master.log")"
  status=1
fi
echo "==> Sentinel: kill -9 the primary under load (MIN_REPLICAS by default, 1)"
python3 IntegrationTests/cluster-soak.py --binary "$binary" --nodes "$sentinels" --cluster-dir "$work/sentinel" --sentinel-dir "$work/sentinel" \
  --seconds "${CLUSTER_SOAK_SECONDS:-20}" --rate "${CLUSTER_SOAK_RATE:-300}" \
  --scenario sentinel_failover --prefix sentinel --work "$work/sentinel-failover" --max-503-share 0.5 || status=$?
exit "$status"
