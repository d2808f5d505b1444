#!/usr/bin/env python3
"""Each role under a Redis user with exactly the rule `cio-relay config --redis-acl ROLE` prints,
against a real Redis (and a Redis Cluster, the rule set on every node):

- serve accepts signed events (a duplicate and a malformed one among them) and cannot read the
  queue (XRANGE and XREADGROUP refused);
- work drains both groups (actions through a Track API stand-in, so the shared budget and the
  attribute guard run; warehouse into SQLite) and does its upkeep (reclaim, trim);
- operator runs status, trace, dead-letters list/show/replay/purge.

After each role, Redis's ACL LOG must hold no refusal for its user: a command the code sends that
the catalogue lacks fails the run. Finally a serve user whose rule lacks XADD must be caught.
Usage: redis-acl-check.py BINARY --redis HOST:PORT [--cluster H:P,H:P…] --work DIR
"""
import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time

from relaytest.net import free_port

SECRET = "acl-check-signing-key"


def log(message):
    print(f"redis-acl-check: {message}", flush=True)


class Redis:
    """The servers (one, or every node of a cluster) through redis-cli as the default user."""

    def __init__(self, nodes):
        self.nodes = nodes

    def cli(self, node, *command, user=None, password=None):
        host, port = node.rsplit(":", 1)
        auth = ["--user", user, "--pass", password, "--no-auth-warning"] if user else []
        result = subprocess.run(["redis-cli", "-h", host, "-p", port, *auth, *command], capture_output=True, text=True, timeout=30)
        return result.stdout.strip() + result.stderr.strip()

    def add_user(self, name, password, rule):
        for node in self.nodes:
            answer = self.cli(node, "ACL", "SETUSER", name, "reset", "on", ">" + password, *rule.split())
            if answer != "OK":
                raise RuntimeError(f"ACL SETUSER on {node}: {answer}")

    def refusals(self, name):
        """ACL LOG entries of user `name` on every node, as 'node: reason object'."""
        found = []
        for node in self.nodes:
            host, port = node.rsplit(":", 1)
            raw = subprocess.run(["redis-cli", "-h", host, "-p", port, "--json", "ACL", "LOG", "128"], capture_output=True, text=True, timeout=30).stdout
            for entry in json.loads(raw or "[]"):
                if entry.get("username") == name:
                    found.append(f"{node}: {entry.get('reason')} {entry.get('object')}")
        return found


class Check:
    def __init__(self, arguments):
        self.binary = arguments.binary
        self.work = arguments.work
        os.makedirs(self.work, exist_ok=True)
        self.failures = []

    def environment(self, redis_url, prefix, **extra):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_URL": redis_url,
            "CUSTOMERIO_WEBHOOK_SECRET": SECRET,
            "CIO_RELAY_KEY_PREFIX": prefix,
            "CIO_RELAY_BIND": "127.0.0.1",
            "LOG_LEVEL": "warning",
            "WAREHOUSE_URL": "sqlite:" + os.path.join(self.work, prefix + ".sqlite"),
            "ADMIN_PORT": str(free_port()),
        }
        env.update({key: str(value) for key, value in extra.items()})
        return env

    def run(self, argv, env, name):
        result = subprocess.run([self.binary, *argv], env=env, capture_output=True, text=True, timeout=120)
        with open(os.path.join(self.work, name + ".log"), "a") as file:
            file.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
        return result

    def fail(self, what):
        log("FAIL: " + what)
        self.failures.append(what)

    def user(self, redis, role, rule=None):
        name = f"cio-{role.replace(',', '-')}-{secrets.token_hex(3)}"
        password = secrets.token_hex(12)
        rule = rule or subprocess.run([self.binary, "config", "--redis-acl", role], env=self.environment("redis://127.0.0.1:1", self.prefix),
                                      capture_output=True, text=True, check=True).stdout.strip()
        redis.add_user(name, password, rule)
        return name, password

    @staticmethod
    def url(scheme, nodes, name, password):
        return f"{scheme}://{name}:{password}@{','.join(nodes)}"

    def serve(self, redis_url, env_extra, count, name):
        """Starts serve, sends `count` events (a fifth repeats) and one malformed; answers (send's output, malformed status)."""
        port = free_port()
        env = self.environment(redis_url, self.prefix, PORT=port, **env_extra)
        process = subprocess.Popen([self.binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, name + "-serve.log"), "w"))
        try:
            # The wait of scripts/lib.sh; /healthz, as /readyz is what a refused user would fail.
            subprocess.run(["bash", "-c", '. scripts/lib.sh && wait_http "$0" 60', f"http://127.0.0.1:{env['ADMIN_PORT']}/healthz"], check=True)
            sent = self.run(["send", "--url", f"http://127.0.0.1:{port}/webhooks/customerio", "--count", str(count), "--duplicates", "0.2",
                             "--people", "5", "--run-id", name.replace("-", "")], env, name)
            # A genuine but unparseable event goes to the dead letters (signed, so it is accepted):
            # send signs it, as it signs everything.
            payload = os.path.join(self.work, "malformed.json")
            with open(payload, "w") as file:
                file.write('{"event_id": 42, "metric": [}')
            record = os.path.join(self.work, name + "-malformed.record")
            self.run(["send", "--url", f"http://127.0.0.1:{port}/webhooks/customerio", "--payloads", payload, "--record", record], env, name)
            # The record's line: EVENT_ID MILLISECONDS then `200 accepted`, `HTTP 400` or `error …`.
            answer = open(record).read().split()[2:] if os.path.exists(record) else []
            status = answer[1] if answer[:1] == ["HTTP"] and len(answer) > 1 else (answer or [""])[0]
            malformed = int(status) if status.isdigit() else " ".join(answer) or "no answer"
            return sent.stdout.strip() + sent.stderr.strip(), malformed
        finally:
            process.terminate()
            process.wait(timeout=30)

    def scenario(self, redis, scheme, label, partitions):
        self.prefix = f"acl-{label}-{secrets.token_hex(3)}"
        common = {"CIO_RELAY_PARTITIONS": partitions}
        # serve
        name, password = self.user(redis, "serve")
        output, malformed = self.serve(self.url(scheme, redis.nodes, name, password), common, 200, f"{label}-serve")
        if "errors 0" not in output or "accepted 0," in output:
            self.fail(f"{label} serve: send reported {output!r}")
        if malformed != 200:
            self.fail(f"{label} serve: a malformed genuine event was answered {malformed}, not 200")
        for command in (["XRANGE", f"{self.prefix}:{{0}}:events", "-", "+"], ["XREADGROUP", "GROUP", "warehouse", "x", "COUNT", "1", "STREAMS", f"{self.prefix}:{{0}}:events", ">"]):
            answer = redis.cli(redis.nodes[0], *command, user=name, password=password)
            if "NOPERM" not in answer:
                self.fail(f"{label} serve: {command[0]} was not refused to the receiver's user: {answer!r}")
        refused = redis.refusals(name)
        expected_probes = [r for r in refused if "xrange" in r or "xreadgroup" in r]
        if len(refused) != len(expected_probes):
            self.fail(f"{label} serve: Redis refused commands the receiver sent: {sorted(set(refused) - set(expected_probes))}")
        log(f"{label} serve: {output}; malformed answered {malformed}; XRANGE/XREADGROUP refused; {len(refused) - len(expected_probes)} other refusals")

        # work, with a Track API stand-in so the budget and the attribute guard run
        name, password = self.user(redis, "work")
        track_log = os.path.join(self.work, f"{label}-track.log")
        stub = subprocess.Popen([sys.executable, "IntegrationTests/track-stub.py", track_log], stdout=subprocess.PIPE, text=True)
        try:
            track_port = stub.stdout.readline().strip()
            env = self.environment(self.url(scheme, redis.nodes, name, password), self.prefix, CUSTOMERIO_SITE_ID="acl-site",
                                   CUSTOMERIO_TRACK_API_KEY="acl-key", CUSTOMERIO_TRACK_URL=f"http://127.0.0.1:{track_port}",
                                   CIO_RELAY_RECLAIM_IDLE=1, **common)
            worker = subprocess.Popen([self.binary, "work"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, f"{label}-work.log"), "w"))
            drained = False
            # Progress is read as the default user: status is the operator's, not the worker's.
            status_env = self.environment(f"{scheme}://{','.join(redis.nodes)}", self.prefix, **common)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not drained:
                time.sleep(1)
                status = self.run(["status", "--json", "--max-lag", "0"], status_env, f"{label}-work-status")
                drained = status.returncode == 0
            worker.terminate()
            worker.wait(timeout=30)
        finally:
            stub.terminate()
        track_requests = sum(1 for _ in open(track_log)) if os.path.exists(track_log) else 0
        if not drained:
            self.fail(f"{label} work: the groups did not drain within 60 s under the work user")
        if track_requests == 0:
            self.fail(f"{label} work: no Track API request was made")
        refused = redis.refusals(name)
        if refused:
            self.fail(f"{label} work: Redis refused commands the worker sent: {sorted(set(refused))}")
        log(f"{label} work: drained={drained}, {track_requests} Track API requests, {len(refused)} refusals")

        # operator
        name, password = self.user(redis, "operator")
        env = self.environment(self.url(scheme, redis.nodes, name, password), self.prefix, **common)
        listed = self.run(["dead-letters", "list"], env, f"{label}-operator")
        # An id is MS-SEQ, or PARTITION/MS-SEQ with several partitions.
        ids = [line.split("\t")[0] for line in listed.stdout.splitlines() if re.fullmatch(r"(\d+/)?\d+-\d+", line.split("\t")[0])]
        steps = [["status"], ["status", "--json"], ["trace", "not-an-event"], ["dead-letters", "list"]]
        if ids:
            # The malformed event cannot be replayed (exit 1, by design): replay reads and refuses it.
            steps += [["dead-letters", "show", ids[0]], ["dead-letters", "replay", "--all"], ["dead-letters", "purge", "--yes"]]
        else:
            self.fail(f"{label} operator: no dead letter listed (the malformed event should be one): {listed.stdout}{listed.stderr}")
        for step in steps:
            result = self.run(step, env, f"{label}-operator")
            # trace of an unknown id exits 1 by design; anything else must succeed.
            if result.returncode not in ((0, 1) if step[0] == "trace" else (0,)):
                self.fail(f"{label} operator: {' '.join(step)} exited {result.returncode}: {result.stderr.strip()}")
        refused = redis.refusals(name)
        if refused:
            self.fail(f"{label} operator: Redis refused commands the operator commands sent: {sorted(set(refused))}")
        log(f"{label} operator: {len(steps)} commands, {len(refused)} refusals")

    def lacking_command_is_caught(self, redis, scheme):
        """A serve user without XADD: the events must fail (503) and ACL LOG must name xadd."""
        self.prefix = f"acl-lacking-{secrets.token_hex(3)}"
        rule = subprocess.run([self.binary, "config", "--redis-acl", "serve"], env=self.environment("redis://127.0.0.1:1", self.prefix),
                              capture_output=True, text=True, check=True).stdout.strip().replace(" +xadd", "")
        name, password = self.user(redis, "serve", rule)
        output, _ = self.serve(self.url(scheme, redis.nodes, name, password), {}, 5, "lacking")
        refused = redis.refusals(name)
        if "accepted 0," not in output or not any("xadd" in r for r in refused):
            self.fail(f"a serve user lacking XADD was not caught: send said {output!r}, ACL LOG {refused}")
        # send retries a 503: a failed enqueue must leave no dedup marker that answers it "duplicate".
        if "duplicate 0," not in output:
            self.fail(f"a refused enqueue left a dedup marker behind: send said {output!r}")
        log(f"a serve user lacking XADD: send said {output!r}; ACL LOG names xadd: {any('xadd' in r for r in refused)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--redis", required=True, help="host:port of a Redis")
    parser.add_argument("--cluster", help="the nodes of a Redis Cluster, host:port,…")
    parser.add_argument("--work", required=True)
    arguments = parser.parse_args()
    check = Check(arguments)
    single = Redis([arguments.redis])
    check.scenario(single, "redis", "single", 1)
    check.lacking_command_is_caught(single, "redis")
    if arguments.cluster:
        check.scenario(Redis(arguments.cluster.split(",")), "redis+cluster", "cluster", 16)
    if check.failures:
        log(f"{len(check.failures)} failures; logs in {arguments.work}")
        return 1
    log("every role ran under its ACL rule with no command refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
