# Shared by the scripts: system packages and throw-away Redis and PostgreSQL servers on loopback.

# Installs the Debian packages given as arguments when any is missing.
ensure_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing ${missing[*]}"
  local sudo="" guard=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # The scripts start their own servers on free ports: a package's service (the prometheus package
  # would start a server on 9090, PostgreSQL one on 5432) must not start on install. Debian asks
  # /usr/sbin/policy-rc.d; exit 101 means "not now". One already there is left as it is.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$guard" >/dev/null
    $sudo chmod 755 "$guard"
  fi
  local status=0
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || status=$?
  [ -z "$guard" ] || $sudo rm -f "$guard"
  return "$status"
}

# rcli ARGS…: redis-cli, over TLS with a client certificate when REDIS_CLI_TLS_DIR names the
# folder of make_test_certs.
rcli() {
  if [ -n "${REDIS_CLI_TLS_DIR:-}" ]; then
    redis-cli --tls --cacert "$REDIS_CLI_TLS_DIR/ca.crt" --cert "$REDIS_CLI_TLS_DIR/client.crt" \
      --key "$REDIS_CLI_TLS_DIR/client.key" "$@"
  else
    redis-cli "$@"
  fi
}

# Prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_redis DIR PORT [extra redis-server args…]: starts redis-server on 127.0.0.1:PORT with its
# data in DIR and waits until it answers PING.
start_redis() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null
  for _ in $(seq 1 100); do
    rcli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  echo "redis-server did not start on port $port; its log:" >&2
  cat "$dir/redis.log" >&2
  return 1
}

# stop_pidfile FILE: stops the process whose pid FILE holds, if it still runs (SIGTERM, then
# SIGKILL after 5 s), and removes FILE.
stop_pidfile() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  rm -f "$1"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# stop_redis DIR: stops the server started with that data folder, if it still runs.
stop_redis() {
  stop_pidfile "$1/redis.pid"
}

# ensure_bigquery_tools: the BigQuery emulator and Google's own Python clients (the tests' independent
# reader and token checker), at versions that work together (see shared/reference/BIGQUERY.md).
ensure_bigquery_tools() {
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    bqemulator==1.4.0 duckdb==1.5.6 numpy==2.4.6 google-cloud-bigquery==3.47.0 google-auth==2.63.0
}

# ensure_api_check_tools: openapi-core (the App API stand-in checks every request against
# Customer.io's OpenAPI description) and standardwebhooks (the forwarding destinations verify
# signatures with the reference implementation).
ensure_api_check_tools() {
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore openapi-core==0.23.1 standardwebhooks==1.1.0
}

# ensure_browser_tools: Debian's Chromium and its WebDriver, and Selenium to drive them, for the
# console's browser test.
ensure_browser_tools() {
  ensure_packages chromium chromium-driver
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore selenium==4.50.0
}

# start_bqemulator DIR PORT [bqemulator options…]: the emulator on 127.0.0.1:PORT (project
# test-project, in memory unless the options say --persistent --data-dir …), its log in DIR; waits
# until /healthz answers.
start_bqemulator() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  python3 IntegrationTests/bigquery-emulator.py start --rest-port "$port" --grpc-port 0 --project test-project \
    --log-format json --log-level warning "$@" >>"$dir/emulator.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/emulator.pid"
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "the BigQuery emulator did not start on port $port; its log:" >&2
  tail -20 "$dir/emulator.log" >&2
  return 1
}

# stop_bqemulator DIR: stops the emulator started with that folder, if it still runs.
stop_bqemulator() {
  stop_pidfile "$1/emulator.pid"
}

# make_test_certs DIR: test certificates made with the openssl command line, for the TLS tests:
# ca.crt (the test CA) and other-ca.crt (a CA that signed nothing here); server.crt/key, a
# certificate for the name localhost only (no IP address), usable as server and as client (a
# cluster node presents it on the cluster bus as a client too); client.crt/key, a client
# certificate from the test CA. Files are readable by all (the PostgreSQL server reads them as
# postgres), keys included: they protect nothing but loopback tests.
make_test_certs() {
  local dir=$1 name
  mkdir -p "$dir"
  for name in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cio-relay test $name"       -keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null || return 1
  done
  issue() {  # issue NAME SUBJECT EXTENSIONS
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$dir/$1.key" -out "$dir/$1.csr" 2>/dev/null &&
      printf '%s\n' "$3" >"$dir/$1.ext" &&
      openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
        -extfile "$dir/$1.ext" -out "$dir/$1.crt" 2>/dev/null
  }
  issue server "/CN=localhost" "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth,clientAuth" || return 1
  issue client "/CN=cio-relay" "extendedKeyUsage=clientAuth" || return 1
  chmod 755 "$dir" && chmod 644 "$dir"/*
}

# redis_tls_args DIR: the redis-server options of a TLS-only server with the certificates of
# make_test_certs DIR (clients must present a certificate from the test CA).
redis_tls_args() {
  echo "--tls-cert-file $1/server.crt --tls-key-file $1/server.key --tls-ca-cert-file $1/ca.crt"
}

# start_redis_cluster DIR [TLS_DIR]: a Redis Cluster of three primaries and three replicas on
# loopback, each node with its data under DIR/PORT; waits until every node reports
# cluster_state:ok and every replica's link to its primary is up (before that a killed primary is
# not failed over). Prints the nodes as host:port,host:port,… Ports are at most 55535: the cluster
# bus is the port + 10000. With TLS_DIR (make_test_certs) every node speaks only TLS, to clients,
# replicas and the cluster bus alike, and clients need a certificate from the test CA.
start_redis_cluster() {
  local dir=$1 ports=() port tls=()
  mkdir -p "$dir"
  if [ -n "${2:-}" ]; then
    export REDIS_CLI_TLS_DIR=$2
    # shellcheck disable=SC2207
    tls=($(redis_tls_args "$2") --tls-cluster yes --tls-replication yes)
  fi
  while [ ${#ports[@]} -lt 6 ]; do
    port=$(free_port)
    [ "$port" -le 55535 ] || continue
    python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' $((port + 10000)) 2>/dev/null || continue
    if [ ${#tls[@]} -gt 0 ]; then
      start_redis "$dir/$port" "$port" --port 0 --tls-port "$port" "${tls[@]}" --save "" --appendonly no \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 >&2 || return 1
    else
      start_redis "$dir/$port" "$port" --save "" --appendonly no --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 2000 >&2 || return 1
    fi
    ports+=("$port")
  done
  local nodes=()
  for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  rcli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; return 1; }
  for _ in $(seq 1 300); do
    local ready=1
    for port in "${ports[@]}"; do
      rcli -p "$port" CLUSTER INFO | grep -q "cluster_state:ok" || ready=0
      if rcli -p "$port" INFO replication | grep -q "role:slave"; then
        rcli -p "$port" INFO replication | grep -q "master_link_status:up" || ready=0
      fi
    done
    [ "$ready" = 1 ] && { (IFS=,; echo "${nodes[*]}"); return 0; }
    sleep 0.1
  done
  echo "the Redis Cluster under $dir did not become ready" >&2
  return 1
}

# stop_redis_nodes DIR: stops every server (and Sentinel) that start_redis_cluster or
# start_redis_sentinel started under DIR.
stop_redis_nodes() {
  local node
  for node in "$1"/*/; do
    [ -d "$node" ] && stop_redis "${node%/}"
  done
  return 0
}

# start_redis_sentinel DIR: one primary and two replicas (each with its data under DIR/PORT, as
# start_redis_cluster lays them out) and three Sentinels monitoring the primary (start_sentinels);
# waits until both replicas are in sync. Prints the Sentinels as host:port,host:port,host:port.
start_redis_sentinel() {
  local dir=$1 primary replica
  mkdir -p "$dir"
  primary=$(free_port)
  start_redis "$dir/$primary" "$primary" --save "" --appendonly no --repl-diskless-sync-delay 0 >&2 || return 1
  for _ in 1 2; do
    replica=$(free_port)
    start_redis "$dir/$replica" "$replica" --save "" --appendonly no --repl-diskless-sync-delay 0 \
      --replicaof 127.0.0.1 "$primary" >&2 || return 1
  done
  for _ in $(seq 1 300); do
    [ "$(redis-cli -p "$primary" INFO replication | grep -c "state=online")" = 2 ] && break
    sleep 0.1
  done
  start_sentinels "$dir" "$primary"
}

# start_sentinels DIR PRIMARY_PORT: three Sentinels (DIR/sentinel-PORT) monitoring the Redis on
# 127.0.0.1:PRIMARY_PORT as "mymaster" (quorum 2, down after 1 s); waits until each knows the
# other two. Prints them as host:port,host:port,host:port.
start_sentinels() {
  local dir=$1 primary=$2 sentinel sentinels=() port
  for _ in 1 2 3; do
    port=$(free_port)
    mkdir -p "$dir/sentinel-$port"
    # A Sentinel rewrites its configuration file: it must be its own and writable.
    cat >"$dir/sentinel-$port/sentinel.conf" <<CONF
bind 127.0.0.1
port $port
daemonize yes
pidfile $dir/sentinel-$port/redis.pid
logfile $dir/sentinel-$port/sentinel.log
dir $dir/sentinel-$port
sentinel monitor mymaster 127.0.0.1 $primary 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 5000
sentinel parallel-syncs mymaster 2
CONF
    redis-server "$dir/sentinel-$port/sentinel.conf" --sentinel >&2 || return 1
    sentinels+=("127.0.0.1:$port")
  done
  for _ in $(seq 1 300); do
    local ready=1
    for sentinel in "${sentinels[@]}"; do
      redis-cli -p "${sentinel##*:}" SENTINEL master mymaster 2>/dev/null | grep -A1 -x "num-other-sentinels" | tail -1 | grep -qx 2 || ready=0
    done
    [ "$ready" = 1 ] && { (IFS=,; echo "${sentinels[*]}"); return 0; }
    sleep 0.1
  done
  echo "the Sentinels under $dir did not find each other" >&2
  return 1
}

# PostgreSQL binaries (Debian's postgresql-15).
pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# as_postgres CMD…: runs a command as the postgres user (initdb and pg_ctl refuse root).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR PORT [SETTINGS] [TLS_DIR]: a throw-away PostgreSQL on 127.0.0.1:PORT with its data in
# DIR/data, trusting local connections (user postgres, database postgres), and waits until it
# accepts them. fsync is off (tests stop the server, never the machine, and the page cache keeps
# what was committed); SETTINGS ("-c name=value …") come after the defaults and override them.
#
# With TLS_DIR (make_test_certs), the server speaks TLS with the localhost certificate of the test
# CA and accepts only TLS connections (hostssl lines alone in pg_hba.conf).
start_postgres() {
  local dir=$1 port=$2 settings=${3:-} tls=${4:-}
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  as_postgres "$(pg_bin)/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  if [ -n "$tls" ]; then
    # PostgreSQL refuses a key that others can read: its own copies, owned by the server's user.
    cp "$tls/server.crt" "$tls/server.key" "$dir/data/"
    chmod 600 "$dir/data/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/data/server.crt" "$dir/data/server.key"
    printf 'hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n' >"$dir/data/pg_hba.conf"
    settings="-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key $settings"
  fi
  pg_control "$dir" "$port" start "$settings" || { cat "$dir/postgres.log" >&2; return 1; }
}

# pg_control DIR PORT start|stop|pause|resume [SETTINGS]: starts the server of DIR (made by
# start_postgres) on PORT, or stops it at once (`-m immediate`, as a crash would: for outage tests
# and the chaos soak), or freezes it and its backends with SIGSTOP and thaws them (a server that
# keeps its connections open and answers nothing).
pg_control() {
  local dir=$1 port=$2 settings=${4:-}
  case "$3" in
    pause | resume)
      local postmaster signal=STOP
      postmaster=$(head -1 "$dir/data/postmaster.pid")
      [ "$3" = resume ] && signal=CONT
      kill -"$signal" "$postmaster" && pkill -"$signal" -P "$postmaster"; return 0 ;;
    start) as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=50 $settings" start >/dev/null ;;
    stop) as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null ;;
    *) echo "pg_control: start, stop, pause or resume, not '$3'" >&2; return 64 ;;
  esac
}

# write_pg_control FILE DIR PORT: a script FILE taking start, stop, pause or resume for that
# server, for test code that stops and starts it.
write_pg_control() {
  cat >"$1" <<CONTROL
#!/usr/bin/env bash
. "$PWD/scripts/lib.sh"
pg_control "$2" "$3" "\$1"
CONTROL
  chmod +x "$1"
}

# stop_postgres DIR: stops the server of that folder, if it runs.
stop_postgres() {
  [ -f "$1/data/postmaster.pid" ] || return 0
  pg_control "$1" 0 stop 2>/dev/null || true
}

# sign SECRET TIMESTAMP BODY: prints the X-CIO-Signature Customer.io would send.
sign() {
  printf 'v0:%s:%s' "$2" "$3" | openssl dgst -sha256 -hmac "$1" | awk '{print $NF}'
}

# sample_event [METRIC]: a realistic, unique email event body on one line (metric: delivered).
sample_event() {
  local id
  id="01$(date +%s%N | sha256sum | tr 'a-f' 'A-F' | cut -c1-24)"
  printf '{"event_id":"%s","object_type":"email","metric":"'"${1:-delivered}"'","timestamp":%s,"data":{"campaign_id":31,"action_id":207,"delivery_id":"dgXkAQEBmZr3xk2Hc1v0Qw==","customer_id":"u_1842","identifiers":{"id":"u_1842","email":"maria@example.org","cio_id":"a1b2c3000042"},"recipient":"maria@example.org","subject":"Your trial ends Friday"}}' "$id" "$(date +%s)"
}

# wait_http URL [SECONDS]: waits until URL answers 200.
wait_http() {
  local deadline=$(( $(date +%s) + ${2:-30} ))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# build_release: builds the release binary with the Dockerfile's own command (`swift build -c
# release --product cio-relay --static-swift-stdlib`) and prints its path; the build's own output
# goes to standard error. It has a scratch path of its own, .build/static: with the static Swift
# runtime every module is compiled against other runtime modules, so sharing .build with the debug
# build would make each rebuild the other's modules, and SwiftPM locks a scratch path for the whole
# of a build, so the tests could not run while this one builds.
build_release() {
  local scratch="$PWD/.build/static"
  swift build -c release --product cio-relay --static-swift-stdlib --scratch-path "$scratch" >&2 || return 1
  echo "$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/cio-relay"
}

# start_bench_worker NAME: what the worker benchmarks share: their packages, the release binary in
# $binary (CIO_RELAY_BINARY, a binary built already, spares the build), a work folder in $work,
# Redis with AOF fsync every second on $redis_port, and an EXIT trap that stops $worker (SIGTERM,
# waited for) and the pids in $helpers, then Redis, and removes $work.
start_bench_worker() {
  ensure_packages redis-server libhiredis-dev libssl-dev libsqlite3-dev curl
  binary=${CIO_RELAY_BINARY:-$(build_release 2>/dev/null)}
  work=$(mktemp -d -t "cio-relay-bench-$1.XXXXXX")
  worker="" helpers=""
  trap stop_bench_worker EXIT
  redis_port=$(free_port)
  start_redis "$work/redis" "$redis_port" --appendonly yes --appendfsync everysec --save ""
}

stop_bench_worker() {
  [ -n "$worker" ] && kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true
  for pid in $helpers; do kill "$pid" 2>/dev/null || true; done
  stop_redis "$work/redis"
  rm -rf "$work"
}

# process_cpu_ticks PID…: user + system clock ticks the processes have used so far (/proc).
process_cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") )); done
  echo "$total"
}

# redis_cpu_ticks PORT…: the same for the redis-server processes on those ports.
redis_cpu_ticks() {
  local port pids=()
  for port in "$@"; do pids+=("$(rcli -p "$port" INFO server | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')"); done
  process_cpu_ticks "${pids[@]}"
}

# start_bench_receiver WORK SECRET COMMAND...: for the receiver benchmarks, starts Redis under
# WORK/redis (append-only, fsync every second: persistence as recommended for production;
# REDIS_APPENDFSYNC=always measures an fsync per write instead; BENCH_REDIS_ARGS adds options,
# such as a TLS port) and COMMAND (the binary, or a wrapper such as valgrind followed by it) as
# `serve` on loopback, then waits until it is ready. Sets redis_port, port, admin and relay (the
# receiver's pid); the caller's EXIT trap calls stop_bench_receiver WORK.
start_bench_receiver() {
  local work=$1 secret=$2
  shift 2
  redis_port=$(free_port)
  # shellcheck disable=SC2086
  start_redis "$work/redis" "$redis_port" --appendonly yes --appendfsync "${REDIS_APPENDFSYNC:-everysec}" --save "" ${BENCH_REDIS_ARGS:-}
  start_bench_relay "$work" "$secret" "redis://127.0.0.1:$redis_port" "$@"
}

# start_bench_relay WORK SECRET REDIS_URL COMMAND...: `serve` on loopback against REDIS_URL (with
# the CIO_RELAY_* settings of the caller's environment), ready when it returns; sets port, admin
# and relay, its log in WORK/serve.log.
start_bench_relay() {
  local work=$1 secret=$2 url=$3
  shift 3
  port=$(free_port)
  admin=$(free_port)
  CUSTOMERIO_WEBHOOK_SECRET=$secret REDIS_URL="$url" PORT=$port ADMIN_PORT=$admin \
    CIO_RELAY_BIND=127.0.0.1 LOG_LEVEL=warning "$@" serve 2>>"$work/serve.log" &
  relay=$!
  wait_http "http://127.0.0.1:$admin/readyz" 120
}

# make_request_corpus BINARY SECRET COUNT PREFIX FILES: COUNT distinct signed webhook requests for
# Benchmarks/webhooks.lua in PREFIX.0 … PREFIX.<FILES-1>, made by the binary's own generator and
# signature (`cio-relay send --write-requests`).
make_request_corpus() {
  "$1" send --url http://127.0.0.1/webhooks/customerio --secret "$2" --count "$3" --write-requests "$4" --files "$5" >/dev/null
}

# stop_bench_receiver WORK: stops what start_bench_receiver started and removes WORK.
stop_bench_receiver() {
  [ -n "${relay:-}" ] && kill -TERM "$relay" 2>/dev/null && wait "$relay" 2>/dev/null || true
  stop_redis "$1/redis"
  rm -rf "$1"
}

# use_podman_settings WORK: podman's defaults fail on these machines (crun cannot use the hybrid
# cgroup layout; the default ulimits exceed the hard limits): runc, cgroupfs and lower ulimits, in
# WORK/containers.conf, exported as CONTAINERS_CONF. Elsewhere they are harmless.
use_podman_settings() {
  cat >"$1/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF="$1/containers.conf"
}

# ensure_debian_base NAME: without a registry, makes the Debian 12 base image the Dockerfile names
# and imports it under NAME; does nothing when podman already has NAME. It is debootstrap
# --variant=minbase from the machine's Debian mirror, made the way Debian's official slim images
# are: apt keeps no package caches or lists (apt.conf.d/docker-clean), dpkg installs no
# documentation, manual pages or translations (dpkg.cfg.d/docker), and none are left in the base.
ensure_debian_base() {
  local name=$1 root mirror
  podman image exists "$name" && return 0
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  root=$(mktemp -d -t debian-base.XXXXXX)
  echo "==> making $name with debootstrap (about 40 s)" >&2
  debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/locale/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  tar -C "$root" -c . | podman import - "$name" >/dev/null
  rm -rf "$root"
}
