#!/usr/bin/env python3
"""The network-fault soak: every component on a test host of its own (relaytest.netlab: network
namespaces on one bridge; needs root), load through both receivers, and a seeded schedule of
network faults between the pairs that talk, then a check of every acknowledged event end to end.

Hosts: redis (AOF everysec), the warehouse (PostgreSQL, or the BigQuery emulator with
--warehouse bigquery), track (the stateful Track API stand-in), receiver-1 and -2, actions-1 and -2,
warehouse-1 and -2. The senders (`cio-relay send`, Customer.io's side) and this checker run in the
root namespace. Every server is reached through a link proxy on its host (IntegrationTests/
linkproxy.py), which can slow one client's link down.

Faults, one at a time, each on one pair (a receiver, an actions or a warehouse worker and Redis; a
warehouse worker and the warehouse; an actions worker and the Track API): black hole (both ways
dropped, no reset, sockets hang), requests dropped or answers dropped (one way), reset (`reject
with tcp reset` on the server's host, so that the client gets it), slow (50–500 ms each way, a
byte-rate cap and stalls, through the link proxy) and flapping (a black hole on and off every
1–3 s). Every kind and every pair comes once, in a seeded
order, before any comes again. Nothing is killed or restarted.

Then, after the last heal: each receiver must answer new events 200 (its connections rebuilt without
a restart); everything drains; and: every event answered 200 is exactly one warehouse row (in
BigQuery: one row of the de-duplicating view); the stand-in's state is the one the events give
(relaytest.oracle); nothing pending; no dead letters (no fault here lasts long enough to exhaust
deliveries); every answer was 200 or 503 within Customer.io's 4 s; no process exited; the Track API
requests the workers started, timed out ones included, stayed within the shared budget.
Exit status 0 when every invariant holds, 1 when one does not, 2 when the run itself failed.
"""
import collections
import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request

from relaytest import relay, report
from relaytest.answers import Answers
from relaytest.netlab import Lab, wait_for_port
from relaytest.oracle import compare_state, read_dead_letters
from relaytest.processes import Managed, wait_ready

SECRET = "partition-signing-key"
ANSWER_DEADLINE_MS = 4000          # Customer.io waits 4 s for an answer
REDIS_TIMEOUT = 2
TRACK_TIMEOUT = 2
WAREHOUSE_TIMEOUT = 5
RECLAIM_IDLE = 5
TRACK_RATE_LIMIT = 10              # low enough that the budget binds under this load
TRACK_LATE_WINDOW = 30             # a request cut off mid-flight lands within ~2 cuts (≤ 12 s each) of being sent
RELAY_PORT, ADMIN_PORT = 8080, 9090
SERVER_PORTS = {"redis": 6379, "postgres": 5432, "bigquery": 9050, "track": 8081}
PROXY_OFFSET = 10000               # a server's link proxy listens on its port + this, on the host's address
BIGQUERY_PROJECT, BIGQUERY_DATASET = "test-project", "partition_soak"

KINDS = ["black hole", "requests dropped", "answers dropped", "reset", "slow", "flapping"]
# The pairs that talk, as (client role, server): a fault picks one of the role's two hosts.
PAIRS = [("receiver", "redis"), ("actions", "redis"), ("warehouse", "redis"), ("warehouse", "WAREHOUSE"), ("actions", "track")]


def log(message):
    print(f"partition-soak: {message}", flush=True)


class Soak:
    def __init__(self, arguments):
        self.arguments = arguments
        self.binary = arguments.binary
        self.work = arguments.work
        self.random = random.Random(arguments.seed)
        self.warehouse = arguments.warehouse
        self.processes = {}
        self.faults = collections.Counter()
        self.pairs_faulted = collections.Counter()
        self.lab = None

    # --- the hosts and what runs on them -------------------------------------------------------

    def start(self, name, host, argv, env=None, log_name=None):
        process = Managed(name, host.argv(argv), env or os.environ.copy(), os.path.join(self.work, f"{log_name or name}.log"))
        process.start()
        self.processes[name] = process
        return process

    def serve_through_proxy(self, host, server):
        """Starts the link proxy in front of `server` on `host`; answers its address and port."""
        port = SERVER_PORTS[server]
        settings = os.path.join(self.work, f"link-{server}.json")
        self.lab.links[host.name] = settings
        proxy = self.start(f"proxy-{server}", host, [sys.executable, "IntegrationTests/linkproxy.py", host.address, str(port + PROXY_OFFSET), str(port), settings])
        wait_for_port(host.address, port + PROXY_OFFSET, process=proxy)
        return f"{host.address}:{port + PROXY_OFFSET}"

    def start_servers(self):
        self.lab = Lab("ciopf", "10.78.0")
        self.hosts = {name: self.lab.add(name) for name in
                      ["redis", self.warehouse, "track", "receiver-1", "receiver-2", "actions-1", "actions-2", "warehouse-1", "warehouse-2"]}
        redis_dir = os.path.join(self.work, "redis")
        os.makedirs(redis_dir)
        self.start("redis", self.hosts["redis"], ["redis-server", "--bind", "127.0.0.1", "--port", str(SERVER_PORTS["redis"]), "--dir", redis_dir,
                                                  "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])
        self.redis_address = self.serve_through_proxy(self.hosts["redis"], "redis")
        self.start("track", self.hosts["track"], [sys.executable, "IntegrationTests/track-standin.py", str(SERVER_PORTS["track"])])
        self.track_address = self.serve_through_proxy(self.hosts["track"], "track")
        host = self.hosts[self.warehouse]
        if self.warehouse == "postgres":
            self.start_postgres(host)
            self.warehouse_address = self.serve_through_proxy(host, "postgres")
            self.warehouse_url = f"postgres://postgres@{self.warehouse_address}/postgres?sslmode=disable"
        else:
            self.start("bigquery", host, [sys.executable, "IntegrationTests/bigquery-emulator.py", "start", "--rest-port", str(SERVER_PORTS["bigquery"]),
                                          "--grpc-port", "0", "--project", BIGQUERY_PROJECT, "--log-format", "json", "--log-level", "warning"])
            self.warehouse_address = self.serve_through_proxy(host, "bigquery")
            self.warehouse_url = f"bigquery://{BIGQUERY_PROJECT}/{BIGQUERY_DATASET}"
            deadline = time.monotonic() + 120
            while not self.http_ok(f"http://{self.warehouse_address}/healthz"):
                if time.monotonic() > deadline or not self.processes["bigquery"].running():
                    raise RuntimeError("the BigQuery emulator did not start; see bigquery.log")
                time.sleep(0.3)

    @staticmethod
    def http_ok(url):
        try:
            return urllib.request.urlopen(url, timeout=2).status == 200
        except OSError:
            return False

    def start_postgres(self, host):
        folder = os.path.join(self.work, "postgres")
        os.makedirs(folder)
        subprocess.run(["chown", "postgres:", folder], check=True)
        pg_bin = sorted(os.listdir("/usr/lib/postgresql"))[-1]
        self.pg_ctl = f"/usr/lib/postgresql/{pg_bin}/bin/pg_ctl"
        initdb = subprocess.run(["runuser", "-u", "postgres", "--", f"/usr/lib/postgresql/{pg_bin}/bin/initdb", "-D", f"{folder}/data", "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--no-instructions"], capture_output=True, text=True)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb as postgres in {folder} failed (every folder above it must be readable by postgres): {initdb.stderr.strip()}")
        subprocess.run(host.argv(["runuser", "-u", "postgres", "--", self.pg_ctl, "-D", f"{folder}/data", "-l", f"{folder}/postgres.log", "-w", "-t", "30",
                                  "-o", f"-c listen_addresses=127.0.0.1 -p {SERVER_PORTS['postgres']} -k {folder} -c fsync=off -c max_connections=50",
                                  "start"]), check=True, capture_output=True)
        self.postgres_dir = folder

    def stop_postgres(self):
        if getattr(self, "postgres_dir", None):
            subprocess.run(["runuser", "-u", "postgres", "--", self.pg_ctl, "-D", f"{self.postgres_dir}/data", "-m", "immediate", "-w", "stop"], capture_output=True)

    def environment(self, **extra):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_URL": f"redis://{self.redis_address}",
            "CIO_RELAY_BIND": "0.0.0.0",
            "LOG_LEVEL": "warning",
            "CIO_RELAY_REDIS_TIMEOUT": REDIS_TIMEOUT,
            "CIO_RELAY_RECLAIM_IDLE": RECLAIM_IDLE,
            "CIO_RELAY_GROUPS": "actions,warehouse",
            "WAREHOUSE_URL": self.warehouse_url,
            "BIGQUERY_API_URL": f"http://{self.warehouse_address}",
            "PORT": RELAY_PORT,
            "ADMIN_PORT": ADMIN_PORT,
        }
        env.update(extra)
        return {key: str(value) for key, value in env.items()}

    def start_relay(self):
        track = dict(CUSTOMERIO_SITE_ID="partition-site", CUSTOMERIO_TRACK_API_KEY="partition-key", CUSTOMERIO_TRACK_URL=f"http://{self.track_address}",
                     CIO_RELAY_TRACK_TIMEOUT=TRACK_TIMEOUT, CIO_RELAY_TRACK_RATE_LIMIT=TRACK_RATE_LIMIT,
                     CIO_RELAY_TRACK_LATE_WINDOW=TRACK_LATE_WINDOW)
        for index in (1, 2):
            self.start(f"receiver-{index}", self.hosts[f"receiver-{index}"], [self.binary, "serve"], self.environment(CUSTOMERIO_WEBHOOK_SECRET=SECRET))
            self.start(f"actions-{index}", self.hosts[f"actions-{index}"], [self.binary, "work"],
                       self.environment(CIO_RELAY_GROUPS="actions", WAREHOUSE_URL="none", **track))
            self.start(f"warehouse-{index}", self.hosts[f"warehouse-{index}"], [self.binary, "work"],
                       self.environment(CIO_RELAY_GROUPS="warehouse", CIO_RELAY_WAREHOUSE_TIMEOUT=WAREHOUSE_TIMEOUT))
        for name in self.relay_names():
            wait_ready(self.processes[name], host=self.hosts[name].address)
        self.relay_started = time.monotonic()

    @staticmethod
    def relay_names():
        return [f"{role}-{index}" for role in ("receiver", "actions", "warehouse") for index in (1, 2)]

    # --- the faults ------------------------------------------------------------------------------

    def schedule(self, seconds):
        """(moment, kind, client, server, duration, slow settings) drawn up front from the seed:
        every kind and every pair once in the first rounds, then every (kind, pair) before repeats."""
        combinations = [(kind, pair) for kind in KINDS for pair in PAIRS]
        kinds = self.random.sample(KINDS, len(KINDS))
        pairs = self.random.sample(PAIRS, len(PAIRS)) + [self.random.choice(PAIRS)]
        first = list(zip(kinds, pairs))
        rest = [combination for combination in combinations if combination not in first]
        self.random.shuffle(rest)
        order = first + rest
        events, moment = [], 4.0
        while True:
            kind, (role, server) = order[len(events) % len(order)]
            duration = round(self.random.uniform(6.0, 12.0) if kind in ("flapping", "slow") else self.random.uniform(3.0, 10.0), 1)
            if moment + duration > seconds - 2:
                return events
            client = f"{role}-{self.random.choice((1, 2))}"
            server = self.warehouse if server == "WAREHOUSE" else server
            slow = None
            if kind == "slow":
                slow = {"latency_ms": self.random.randint(50, 500), "rate": self.random.choice([5_000, 20_000, 100_000]),
                        "stall": round(self.random.uniform(0.01, 0.1), 2)}
            events.append((round(moment, 1), kind, client, server, duration, slow))
            moment += duration + self.random.uniform(1.0, 3.0)

    @staticmethod
    def describe(kind, client, server, duration, slow):
        detail = f" ({slow['latency_ms']} ms, {slow['rate'] // 1000} kB/s, stalls {slow['stall']:.0%})" if slow else ""
        return f"{kind} {client} ↔ {server}{detail} for {duration} s"

    def inject(self, kind, client, server, duration, slow):
        self.faults[kind] += 1
        self.pairs_faulted[f"{client.rsplit('-', 1)[0]} ↔ {server}"] += 1
        client, server = self.hosts[client], self.hosts[server]
        if kind == "slow":
            self.lab.slow(client, server, **slow)
            time.sleep(duration)
            self.lab.slow(client, server)
        elif kind == "flapping":
            until = time.monotonic() + duration
            while time.monotonic() < until:
                self.lab.cut(client, server, "black hole")
                time.sleep(self.random.uniform(1.0, 3.0))
                self.lab.heal(client, server)
                time.sleep(self.random.uniform(1.0, 3.0))
        else:
            self.lab.cut(client, server, kind)
            time.sleep(duration)
            self.lab.heal(client, server)

    # --- load and checks -------------------------------------------------------------------------

    def rows(self):
        """(event_id, payload, copies) of every event in the warehouse: in BigQuery, of the view."""
        if self.warehouse == "postgres":
            result = subprocess.run(["psql", self.warehouse_url, "-At", "-F", "\t", "-c",
                                     "SELECT event_id, payload::text, 1 FROM customerio_events"], capture_output=True, text=True, check=True)
            return [line.split("\t") for line in result.stdout.splitlines() if line]
        table = f"`{BIGQUERY_PROJECT}.{BIGQUERY_DATASET}.customerio_events"
        query = (f"SELECT v.event_id, TO_JSON_STRING(v.payload) AS payload, c.copies FROM {table}_unique` v "
                 f"JOIN (SELECT event_id, COUNT(*) AS copies FROM {table}` GROUP BY event_id) c USING (event_id)")
        result = subprocess.run([sys.executable, "Tests/IntegrationTests/Resources/bq-read.py", f"http://{self.warehouse_address}", BIGQUERY_PROJECT, "query", query],
                                capture_output=True, text=True, check=True)
        return [(row["event_id"], row["payload"], row["copies"]) for row in json.loads(result.stdout)["rows"]]

    def metrics(self, role, name, label=None):
        """A counter summed over both processes of `role` from their /metrics, by the value of
        `label` when given (else under None)."""
        values = collections.Counter()
        for index in (1, 2):
            try:
                text = urllib.request.urlopen(f"http://{self.hosts[f'{role}-{index}'].address}:{ADMIN_PORT}/metrics", timeout=10).read().decode()
            except OSError:
                continue  # an exited process: "processes that exited" says so
            for line in text.splitlines():
                match = re.match(rf'{name}(?:\{{([^}}]*)\}})? (\S+)$', line)
                if match:
                    key = re.search(rf'{label}="([^"]*)"', match.group(1) or "").group(1) if label else None
                    values[key] += int(float(match.group(2)))
        return values

    def stop_all(self):
        for process in self.processes.values():
            process.stop()
        self.stop_postgres()
        if self.lab:
            self.lab.close()


class TrackState:
    """The stand-in's state as fetched from its process."""

    def __init__(self, snapshot):
        self.attributes = snapshot["attributes"]
        self.suppressed = set(snapshot["suppressed"])
        self.counts = snapshot["counts"]


def check(soak, records, status, drained, exited, probe, wall):
    answers = Answers(records)
    rows = soak.rows()
    copies = collections.Counter()
    events = {}
    for event_id, payload, count in rows:
        copies[event_id] += 1
        events[event_id] = json.loads(payload)
    duplicated = sum(count - 1 for count in copies.values() if count > 1)
    written_again = sum(int(count) - 1 for _, _, count in rows)
    missing = sorted(answers.acknowledged - set(copies))
    dead, dead_actions = read_dead_letters(soak.binary, soak.environment())
    track = TrackState(json.loads(urllib.request.urlopen(f"http://{soak.track_address}/state", timeout=10).read()))
    violations, explained, people, suppressed = compare_state(events, dead_actions, track)
    requests = soak.metrics("actions", "cio_relay_track_requests_total", "status")
    waits = soak.metrics("actions", "cio_relay_track_budget_waits_total")[None]
    lease_waits = soak.metrics("actions", "cio_relay_person_lease_waits_total")[None]
    outcomes = soak.metrics("actions", "cio_relay_events_processed_total", "outcome")
    warehouse_errors = soak.metrics("warehouse", "cio_relay_warehouse_errors_total")[None]
    rows_again = soak.metrics("warehouse", "cio_relay_warehouse_rows_total", "outcome")["duplicate"]
    started = sum(requests.values())
    budget = TRACK_RATE_LIMIT * (time.monotonic() - soak.relay_started) + 2
    other = {answer: count for answer, count in answers.by_kind.items() if answer not in ("200 accepted", "200 duplicate", "HTTP 503")}
    late = answers.slower_than(ANSWER_DEADLINE_MS)
    groups = {group["name"]: group for group in (status or {}).get("groups", [])}
    table = [
        ("seed", soak.arguments.seed),
        ("warehouse", soak.warehouse),
        ("faults by kind", ", ".join(f"{kind} {count}" for kind, count in sorted(soak.faults.items()))),
        ("faults by pair", ", ".join(f"{pair} {count}" for pair, count in sorted(soak.pairs_faulted.items()))),
        ("requests", answers.sent),
        ("answered 200", answers.count("200 ")),
        ("answered 503", answers.by_kind["HTTP 503"]),
        ("other answers or no answer", sum(other.values())),
        ("slowest answer", f"{answers.slowest / 1000:.2f} s"),
        ("answers after 4 s", late),
        ("new events answered 200 after the last heal", f"{probe[0]} of {probe[1]}"),
        ("distinct event_ids acknowledged", len(answers.acknowledged)),
        ("warehouse rows" + (" (the de-duplicating view)" if soak.warehouse == "bigquery" else ""), len(rows)),
        *([("rows written again, collapsed by the view", written_again)] if soak.warehouse == "bigquery" else []),
        ("rows of events answered 503 (stored, the answer lost on the way)", len(set(copies) - answers.acknowledged)),
        ("lost (acknowledged, no row)", len(missing)),
        ("duplicated rows", duplicated),
        ("warehouse batches that failed and were written again", warehouse_errors),
        ("rows already in place when written again (a retried or redelivered batch)", rows_again),
        ("actions outcomes retry_later / deferred; waits for a person's lease",
         f"{outcomes['retry_later']} / {outcomes['deferred']}; {lease_waits}"),
        ("Track API requests started (by status)", f"{started} ({', '.join(f'{s} {n}' for s, n in sorted(requests.items()))})"),
        ("Track API budget over the run", f"{budget:.0f} at {TRACK_RATE_LIMIT}/s; waits for budget {waits}"),
        ("people checked / suppressed", f"{people} / {suppressed}"),
        ("state violations", len(violations)),
        ("dead letters", ", ".join(f"{group}/{reason} {count}" for (group, reason), count in sorted(dead.items())) or "none"),
        ("pending after drain", ", ".join(f"{name} lag {g['lag']} pending {g['pending']}" for name, g in sorted(groups.items()))),
        ("processes that exited", ", ".join(exited) or "none"),
        ("wall time", f"{wall:.0f} s"),
    ]
    report.print_table(table)
    problems = report.delivery_problems(missing, duplicated, drained)
    if dead:
        problems.append(f"dead letters: {dict(dead)}")
    if other:
        problems.append(f"answers other than 200 and 503: {other}")
    if late:
        problems.append(f"{late} answers took longer than {ANSWER_DEADLINE_MS} ms")
    if probe[0] != probe[1]:
        problems.append(f"after the last heal only {probe[0]} of {probe[1]} new events were answered 200")
    if violations:
        problems.append(f"{len(violations)} people end in a state the events do not give, e.g. {violations[:5]}")
    if started > budget:
        problems.append(f"{started} Track API requests started, over the budget of {budget:.0f}")
    if exited:
        problems.append(f"processes exited: {exited}")
    if not answers.acknowledged:
        problems.append("nothing was acknowledged")
    if not drained:
        for name in ("actions", "warehouse"):
            log(f"pending in {name}: {groups.get(name)}")
    return report.verdict(problems, log)


def main():
    parser = relay.soak_arguments(__doc__, drain_seconds=180)
    parser.add_argument("--warehouse", choices=["postgres", "bigquery"], default="postgres")
    arguments = relay.parse(parser)
    os.makedirs(arguments.work, exist_ok=True)
    log(f"seed {arguments.seed} (PARTITION_SEED={arguments.seed} replays this schedule), {arguments.seconds} s of load at "
        f"{arguments.rate:g} events/s, warehouse {arguments.warehouse}")
    soak = Soak(arguments)
    began = time.monotonic()
    try:
        soak.start_servers()
        soak.start_relay()
        events = soak.schedule(arguments.seconds)
        log(f"9 test hosts on 10.78.0.0/24; {len(events)} faults scheduled")
        urls = [f"http://{soak.hosts[f'receiver-{index}'].address}:{RELAY_PORT}/webhooks/customerio" for index in (1, 2)]
        senders = relay.run_under_faults(
            [(event[0], Soak.describe(*event[1:]), event[1:]) for event in events], lambda fault: soak.inject(*fault),
            lambda: relay.send(soak.binary, urls, SECRET, int(arguments.seconds * arguments.rate), arguments.rate, f"P{arguments.seed}", soak.work),
            arguments.seconds * 3 + 120, log)
        # Every fault has healed: new events must be answered 200 again, on the same processes.
        time.sleep(2)
        probes = relay.send(soak.binary, urls, SECRET, 40, 20, f"H{arguments.seed}", soak.work, name="after-heal")
        for sender, _ in probes:
            sender.wait(timeout=120)
        probed = Answers([record for _, record in probes])
        log("load and faults over; draining")
        status, drained = relay.drain(soak.binary, soak.environment(), arguments.drain_seconds)
        exited = [name for name, process in soak.processes.items() if not process.running()]
        verdict = check(soak, [record for _, record in senders + probes], status, drained, exited,
                        (probed.count("200 "), probed.sent), time.monotonic() - began)
    except Exception as error:
        log(f"the run failed: {error}")
        relay.print_tails(soak.processes)
        verdict = 2
    finally:
        soak.stop_all()
    sys.exit(verdict)


if __name__ == "__main__":
    main()
