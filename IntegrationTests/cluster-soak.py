#!/usr/bin/env python3
"""cio-relay on a Redis Cluster under topology changes: two receivers and a worker (both groups,
SQLite warehouse, Track API dry run) with 16 partitions, `cio-relay send` pushing signed events at
both receivers, and meanwhile one of:

  reshard   the slots of two partitions move to another primary, key by key (the steps of
            `redis-cli --cluster reshard`: IMPORTING, MIGRATING, MIGRATE, SETSLOT NODE), so the
            client meets ASK while they migrate and MOVED after;
  failover  kill -9 of the primary holding the most partitions; its replica is promoted; the
            killed node is started again (it rejoins as a replica, as a restarted pod would).

Then the senders finish, everything drains, and the run is checked: every event answered 200 is
one warehouse row; answers are only 200 or 503 (at most --max-503-share of them 503); no process
was restarted. With --report-loss (failover without CIO_RELAY_REDIS_MIN_REPLICAS) acknowledged
events missing from the warehouse are counted and reported, not failed on: asynchronous
replication may lose them, which is what the option is for.

Started by IntegrationTests/cluster-soak.sh, which starts the cluster. Exit status 0 when every check
holds, 1 when one does not, 2 when the run itself failed.
"""
import argparse
import collections
import json
import os
import sqlite3
import signal
import subprocess
import sys
import time

from relaytest import redis
from relaytest.answers import Answers
from relaytest.net import free_port
from relaytest.processes import Managed, wait_ready

SECRET = "cluster-soak-signing-key"
PARTITIONS = 16


def log(message):
    print(f"cluster-soak: {message}", flush=True)


class Cluster:
    """The test cluster, through redis-cli: who serves which slot, and the moves made on it."""

    def __init__(self, nodes, directory, tls_dir=None):
        self.nodes = nodes          # ["127.0.0.1:port", …]
        self.directory = directory  # DIR/PORT/redis.pid, as scripts/lib.sh start_redis_cluster lays it out
        self.tls_dir = tls_dir      # the certificates of a TLS-only cluster (make_test_certs), or None

    def cli(self, node, *command):
        host, port = node.rsplit(":", 1)
        tls = []
        if self.tls_dir:
            tls = ["--tls", "--cacert", f"{self.tls_dir}/ca.crt", "--cert", f"{self.tls_dir}/client.crt", "--key", f"{self.tls_dir}/client.key"]
        result = subprocess.run(["redis-cli", *tls, "-h", host, "-p", port, *command], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli {node} {' '.join(command)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def alive(self, node):
        try:
            return self.cli(node, "PING") == "PONG"
        except (RuntimeError, subprocess.TimeoutExpired):
            return False

    def slot_owners(self, excluding=None):
        """slot → primary "host:port", as a live node sees it (CLUSTER SHARDS would do as well);
        not asking `excluding` (a node cut off from the others keeps its own stale view)."""
        for node in self.nodes:
            if node == excluding or not self.alive(node):
                continue
            owners = {}
            for line in self.cli(node, "CLUSTER", "NODES").splitlines():
                fields = line.split()
                if "master" not in fields[2] or "fail" in fields[2]:
                    continue
                address = fields[1].split("@")[0]
                for part in fields[8:]:
                    if part.startswith("["):
                        continue
                    start, _, end = part.partition("-")
                    for slot in range(int(start), int(end or start) + 1):
                        owners[slot] = address
            return owners
        raise RuntimeError("no node of the cluster answers")

    def node_id(self, node):
        return self.cli(node, "CLUSTER", "MYID")

    def move_slot(self, slot, source, target):
        """The steps of redis-cli --cluster reshard for one slot."""
        source_id, target_id = self.node_id(source), self.node_id(target)
        self.cli(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
        self.cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
        host, port = target.rsplit(":", 1)
        moved = 0
        while True:
            keys = self.cli(source, "CLUSTER", "GETKEYSINSLOT", str(slot), "100").split()
            if not keys:
                break
            self.cli(source, "MIGRATE", host, port, "", "0", "10000", "KEYS", *keys)
            moved += len(keys)
        for node in self.primaries():
            self.cli(node, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
        return moved

    def primaries(self):
        return sorted(set(self.slot_owners().values()))

    def pid(self, node):
        with open(os.path.join(self.directory, node.rsplit(":", 1)[1], "redis.pid")) as file:
            return int(file.read())

    def restart(self, node):
        """Starts a killed node again with its own folder and nodes.conf: it rejoins the cluster."""
        port = node.rsplit(":", 1)[1]
        folder = os.path.join(self.directory, port)
        listen = ["--port", port]
        if self.tls_dir:  # as scripts/lib.sh redis_tls_args and start_redis_cluster start it
            listen = ["--port", "0", "--tls-port", port, "--tls-cert-file", f"{self.tls_dir}/server.crt",
                      "--tls-key-file", f"{self.tls_dir}/server.key", "--tls-ca-cert-file", f"{self.tls_dir}/ca.crt",
                      "--tls-cluster", "yes", "--tls-replication", "yes"]
        redis.start_daemon(folder, listen, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")

    def wait_replica_linked(self, node, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.alive(node):
                info = self.cli(node, "INFO", "replication")
                if "role:slave" in info and "master_link_status:up" in info:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{node} did not come back as a linked replica within {seconds} s")


class Run:
    def __init__(self, arguments):
        self.arguments = arguments
        self.work = arguments.work
        os.makedirs(self.work, exist_ok=True)
        self.cluster = Cluster(arguments.nodes.split(","), arguments.cluster_dir, arguments.tls_dir)
        self.database = os.path.join(self.work, "events.sqlite")
        self.processes = []
        self.timeline = []
        # [(address, namespace)] of receiver-1 and -2 when they run on test hosts (--receiver-hosts).
        self.receiver_hosts = [tuple(pair.split("=")) for pair in arguments.receiver_hosts.split(",")] if arguments.receiver_hosts else []

    def note(self, what):
        self.timeline.append((round(time.monotonic() - self.started, 1), what))
        log(what)

    def environment(self, **extra):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_URL": "redis+cluster://" + self.arguments.nodes,
            "CIO_RELAY_PARTITIONS": str(PARTITIONS),
            "CIO_RELAY_KEY_PREFIX": self.arguments.prefix,
            "CIO_RELAY_BIND": "127.0.0.1",
            "CIO_RELAY_GROUPS": "actions,warehouse",
            "CIO_RELAY_RECLAIM_IDLE": "5",
            "WAREHOUSE_URL": "sqlite:" + self.database,
            "LOG_LEVEL": "warning",
            "ADMIN_PORT": str(free_port()),
        }
        if self.arguments.min_replicas is not None:  # else the binary's default: 1 on a cluster and with Sentinel
            env["CIO_RELAY_REDIS_MIN_REPLICAS"] = str(self.arguments.min_replicas)
        if self.arguments.sentinel_dir:
            # --nodes are the Sentinels; the data nodes live in --sentinel-dir.
            env["REDIS_URL"] = "redis+sentinel://" + self.arguments.nodes + "/mymaster"
        if self.arguments.tls_dir:
            # Mutual TLS; the nodes announce 127.0.0.1 and their certificate names localhost.
            env.update({
                "REDIS_URL": "rediss+cluster://" + self.arguments.nodes,
                "CIO_RELAY_REDIS_TLS_CA_FILE": f"{self.arguments.tls_dir}/ca.crt",
                "CIO_RELAY_REDIS_TLS_CERT_FILE": f"{self.arguments.tls_dir}/client.crt",
                "CIO_RELAY_REDIS_TLS_KEY_FILE": f"{self.arguments.tls_dir}/client.key",
                "CIO_RELAY_REDIS_TLS_SERVER_NAME": "localhost",
            })
        env.update({key: str(value) for key, value in extra.items()})
        return env

    def start(self, name, argv, env):
        process = Managed(name, argv, env, os.path.join(self.work, f"{name}.log"))
        process.start()
        self.processes.append(process)
        return process

    def status(self):
        result = subprocess.run([self.arguments.binary, "status", "--json"], env=self.environment(), capture_output=True, text=True, timeout=60)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def partition_slots(self):
        """slot of each partition's stream, from the names `status` reports."""
        status = self.status()
        if status is None:
            raise RuntimeError("cio-relay status failed")
        node = self.cluster.nodes[0] if self.cluster.alive(self.cluster.nodes[0]) else self.cluster.nodes[1]
        return [int(self.cluster.cli(node, "CLUSTER", "KEYSLOT", partition["stream"])) for partition in status["partitions"]]

    def reshard(self):
        slots = self.partition_slots()
        owners = self.cluster.slot_owners()
        by_owner = collections.defaultdict(list)
        for partition, slot in enumerate(slots):
            by_owner[owners[slot]].append(partition)
        source = max(by_owner, key=lambda node: len(by_owner[node]))
        target = next(node for node in self.cluster.primaries() if node != source)
        for partition in by_owner[source][:2]:
            moved = self.cluster.move_slot(slots[partition], source, target)
            self.note(f"moved partition {partition} (slot {slots[partition]}, {moved} keys) from {source} to {target}")
        self.moved = [(partition, slots[partition]) for partition in by_owner[source][:2]]
        after = self.cluster.slot_owners()
        if any(after[slot] != target for _, slot in self.moved):
            raise RuntimeError("the moved slots are not served by the target afterwards")

    def failover(self):
        slots = self.partition_slots()
        owners = self.cluster.slot_owners()
        counts = collections.Counter(owners[slot] for slot in slots)
        victim = counts.most_common(1)[0][0]
        victim_slots = [slot for slot in slots if owners[slot] == victim]
        os.kill(self.cluster.pid(victim), 9)
        self.note(f"kill -9 primary {victim}, which served {len(victim_slots)} of {PARTITIONS} partitions")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                now = self.cluster.slot_owners()
                if all(now.get(slot) not in (None, victim) for slot in victim_slots):
                    self.note(f"its replica {now[victim_slots[0]]} was promoted")
                    break
            except RuntimeError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("no replica was promoted within 60 s")
        self.cluster.restart(victim)
        self.cluster.wait_replica_linked(victim)
        self.note(f"{victim} restarted and linked again, as a replica")

    def sentinel_primary(self):
        """host:port of the primary, as the first Sentinel that answers names it."""
        for sentinel in self.arguments.nodes.split(","):
            try:
                answer = self.cluster.cli(sentinel, "SENTINEL", "get-master-addr-by-name", "mymaster").split()
            except (RuntimeError, subprocess.TimeoutExpired):
                continue
            if len(answer) == 2:
                return f"{answer[0]}:{answer[1]}"
        raise RuntimeError("no Sentinel names a primary for mymaster")

    def sentinel_failover(self):
        """kill -9 the primary; a Sentinel promotes a replica; the old primary comes back as a replica."""
        victim = self.sentinel_primary()
        port = victim.rsplit(":", 1)[1]
        folder = os.path.join(self.arguments.sentinel_dir, port)
        with open(os.path.join(folder, "redis.pid")) as file:
            os.kill(int(file.read()), 9)
        self.note(f"kill -9 primary {victim}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                promoted = self.sentinel_primary()
                if promoted != victim and self.cluster.cli(promoted, "ROLE").split()[0] == "master":
                    self.note(f"the Sentinels promoted {promoted}")
                    break
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("no replica was promoted within 60 s")
        host, new_port = promoted.rsplit(":", 1)
        redis.start_daemon(folder, ["--port", port], "--replicaof", host, new_port)
        self.cluster.wait_replica_linked(victim)
        self.note(f"{victim} restarted and linked again, as a replica")

    def namespace_of(self, address):
        """The network namespace of a node's address (--namespaces)."""
        return dict(pair.split("=") for pair in self.arguments.namespaces.split(","))[address]

    def cut(self, namespace, addresses, table="cut"):
        """Drops (no reset) every packet between `namespace` and `addresses`, both ways."""
        script = (f"table inet {table} {{\n  chain in {{ type filter hook input priority 0; }}\n"
                  f"  chain out {{ type filter hook output priority 0; }}\n}}\n"
                  f"add rule inet {table} in ip saddr {{ {', '.join(addresses)} }} drop\n"
                  f"add rule inet {table} out ip daddr {{ {', '.join(addresses)} }} drop\n")
        subprocess.run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], input=script, text=True, check=True, timeout=10)

    def heal(self, namespace, table="cut"):
        subprocess.run(["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", table], check=True, timeout=10)

    def partition(self):
        """Cut the primary serving most partitions off from every other node (its packets to and
        from them dropped, no reset). With --receiver-hosts, receiver-1 is on its side (it reaches
        only that primary) and receiver-2 on the majority side (it reaches every node but that
        one); without, both receivers still reach every node. Heal once its replica has been
        promoted on the majority side and another --cut-seconds have passed."""
        slots = self.partition_slots()
        owners = self.cluster.slot_owners()
        victim = collections.Counter(owners[slot] for slot in slots).most_common(1)[0][0]
        victim_slots = [slot for slot in slots if owners[slot] == victim]
        victim_address = victim.rsplit(":", 1)[0]
        others = sorted({node.rsplit(":", 1)[0] for node in self.cluster.nodes} - {victim_address})
        self.cut(self.namespace_of(victim_address), others)
        sides = "receivers still reach it"
        if self.receiver_hosts:
            (_, minority), (_, majority) = self.receiver_hosts
            self.cut(minority, others)
            self.cut(majority, [victim_address])
            sides = "receiver-1 on its side, receiver-2 on the majority side"
        # The worker waits out the cut: it could otherwise carry what the cut-off primary
        # acknowledged into the warehouse before those writes vanish, hiding Redis' loss.
        worker = next(process for process in self.processes if process.name == "worker")
        os.kill(worker.process.pid, signal.SIGSTOP)
        self.note(f"cut primary {victim} ({len(victim_slots)} of {PARTITIONS} partitions) off from the other nodes; {sides}; worker paused")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = self.cluster.slot_owners(excluding=victim)
            if all(now.get(slot) not in (None, victim) for slot in victim_slots):
                self.note(f"the majority promoted {now[victim_slots[0]]}")
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("no replica was promoted within 60 s")
        time.sleep(self.arguments.cut_seconds)
        self.heal(self.namespace_of(victim_address))
        for _, namespace in self.receiver_hosts:
            self.heal(namespace)
        self.note("healed the cut")
        self.cluster.wait_replica_linked(victim)
        os.kill(worker.process.pid, signal.SIGCONT)
        self.note(f"{victim} rejoined as a replica; worker resumed")

    def run(self):
        self.started = time.monotonic()
        receivers = []
        for index in (1, 2):
            port = free_port()
            if self.receiver_hosts:
                # On a test host of its own, so that a cut can put it on one side.
                address, namespace = self.receiver_hosts[index - 1]
                process = self.start(f"receiver-{index}", ["ip", "netns", "exec", namespace, self.arguments.binary, "serve"],
                                     self.environment(PORT=port, CUSTOMERIO_WEBHOOK_SECRET=SECRET, CIO_RELAY_BIND=address))
                wait_ready(process, host=address)
            else:
                address = "127.0.0.1"
                self.start(f"receiver-{index}", [self.arguments.binary, "serve"], self.environment(PORT=port, CUSTOMERIO_WEBHOOK_SECRET=SECRET))
            receivers.append(f"{address}:{port}")
        self.start("worker", [self.arguments.binary, "work"], self.environment())
        for process in self.processes:
            if process.name == "worker" or not self.receiver_hosts:
                wait_ready(process)
        self.note("2 receivers and a worker ready")

        per_sender = int(self.arguments.rate * self.arguments.seconds / 2)
        records = []
        senders = []
        for index, receiver in enumerate(receivers, 1):
            record = os.path.join(self.work, f"sent-{index}.txt")
            records.append(record)
            senders.append(subprocess.Popen(
                [self.arguments.binary, "send", "--url", f"http://{receiver}/webhooks/customerio", "--secret", SECRET,
                 "--count", str(per_sender), "--rate", str(self.arguments.rate / 2), "--concurrency", str(self.arguments.concurrency),
                 "--run-id", self.arguments.prefix.replace("-", "") + str(index), "--record", record],
                stdout=open(os.path.join(self.work, f"send-{index}.log"), "wb"), stderr=subprocess.STDOUT))
        self.note(f"sending {per_sender * 2} events at {self.arguments.rate}/s through both receivers")
        time.sleep(self.arguments.seconds / 4)
        getattr(self, self.arguments.scenario)()
        for sender in senders:
            sender.wait(timeout=self.arguments.seconds * 4 + 60)
        self.note("senders done")

        drained, status = False, None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = self.status()
            if status and all(group["lag"] == 0 and group["pending"] == 0 for group in status["groups"]) and len(status["groups"]) == 2:
                drained = True
                break
            time.sleep(1)
        self.note("drained" if drained else "NOT drained within 120 s")
        restarted = [process.name for process in self.processes if not process.running()]
        for process in self.processes:
            process.stop()
        return self.check(records, status, drained, restarted)

    def check(self, records, status, drained, restarted):
        recorded = Answers(records)
        answers, acknowledged = recorded.by_kind, recorded.acknowledged
        with sqlite3.connect(self.database) as database:
            stored = collections.Counter(row[0] for row in database.execute("SELECT event_id FROM customerio_events"))
        missing = acknowledged - set(stored)
        requests = sum(answers.values())
        refused = answers["HTTP 503"]
        other = {answer: count for answer, count in answers.items() if answer not in ("200 accepted", "200 duplicate", "HTTP 503")}
        table = [
            ("scenario", f"{self.arguments.scenario}, CIO_RELAY_REDIS_MIN_REPLICAS={'the default' if self.arguments.min_replicas is None else self.arguments.min_replicas}, "
                         f"{self.arguments.concurrency} requests in flight per sender"),
            ("requests", requests),
            ("answered 200", answers["200 accepted"] + answers["200 duplicate"]),
            ("answered 503", f"{refused} ({100 * refused / max(requests, 1):.1f} %)"),
            ("other answers or no answer", sum(other.values())),
            ("distinct events acknowledged", len(acknowledged)),
            ("warehouse rows", sum(stored.values())),
            ("acknowledged, not in the warehouse", len(missing)),
            ("  by receiver (answered 200 / 503 / lost)", "; ".join(
                f"receiver-{index} {answered.count('200 ')} / {answered.by_kind['HTTP 503']} / {len(answered.acknowledged & missing)}"
                for index, answered in enumerate((Answers([record]) for record in records), 1))),
            ("drained (lag and pending 0 in both groups)", drained),
            ("processes that exited", ", ".join(restarted) or "none"),
        ]
        for moment, what in self.timeline:
            log(f"  t={moment:>5} s  {what}")
        width = max(len(name) for name, _ in table)
        for name, value in table:
            print(f"  {name:<{width}}  {value}", flush=True)
        failures = []
        if other:
            failures.append(f"answers other than 200 and 503: {dict(other)}")
        if refused > self.arguments.max_503_share * requests:
            failures.append(f"{refused} of {requests} answers were 503, more than {self.arguments.max_503_share:.0%}")
        if not drained:
            failures.append("the queue did not drain")
        if restarted:
            failures.append(f"processes exited: {restarted}")
        if len(acknowledged) == 0:
            failures.append("nothing was acknowledged")
        if missing and not self.arguments.report_loss:
            failures.append(f"{len(missing)} acknowledged events are not in the warehouse, e.g. {sorted(missing)[:3]}")
        if missing and self.arguments.report_loss:
            log(f"lost without MIN_REPLICAS: {len(missing)} of {len(acknowledged)} acknowledged events (reported, not failed on)")
        for failure in failures:
            log(f"FAILED: {failure}")
        return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--nodes", required=True, help="the cluster's nodes, host:port,…")
    parser.add_argument("--cluster-dir", required=True, help="the folder scripts/lib.sh start_redis_cluster made")
    parser.add_argument("--work", required=True)
    parser.add_argument("--scenario", choices=["reshard", "failover", "sentinel_failover", "partition"], required=True)
    parser.add_argument("--prefix", required=True, help="key prefix of this run")
    parser.add_argument("--min-replicas", type=int, help="CIO_RELAY_REDIS_MIN_REPLICAS (default: not set, the binary's default)")
    parser.add_argument("--tls-dir", help="the certificates of a TLS-only cluster (scripts/lib.sh make_test_certs)")
    parser.add_argument("--namespaces", help="partition: each node's IP and its network namespace, ip=ns,…")
    parser.add_argument("--receiver-hosts", help="partition: the receivers' test hosts, ip=ns,ip=ns (receiver-1 goes to the cut primary's side)")
    parser.add_argument("--cut-seconds", type=float, default=2, help="partition: how long the cut lasts after the promotion")
    parser.add_argument("--sentinel-dir", help="the folder of scripts/lib.sh start_redis_sentinel: --nodes are then its Sentinels")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--concurrency", type=int, default=8, help="requests each sender keeps in flight")
    parser.add_argument("--max-503-share", type=float, default=0.1)
    parser.add_argument("--report-loss", action="store_true")
    arguments = parser.parse_args()
    run = Run(arguments)
    try:
        status = run.run()
    except Exception as error:  # the run itself failed: say so, keep the logs
        log(f"the run failed: {error}; logs in {arguments.work}")
        for process in run.processes:
            process.stop()
        sys.exit(2)
    sys.exit(status)


if __name__ == "__main__":
    main()
