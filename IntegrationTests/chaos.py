#!/usr/bin/env python3
"""The chaos soak: the whole system on loopback under a seeded schedule of faults, then a check of
every acknowledged event end to end. Started by scripts/chaos.sh, which builds the binary and
starts PostgreSQL; this script runs Redis itself (it kills and restarts it), the Track API
stand-in (in a thread), 2 receivers, 2 actions workers, 2 warehouse workers and the senders.

Faults (seeded: the same seed replays the same schedule): kill -9 and restart of a receiver or a
worker; kill -9 of Redis and restart from its append-only file; PostgreSQL `stop -m immediate`
for up to 10 s; Track API bursts of 500, of 429 with Retry-After, of 207 partial failures (the
first identify of a batch refused as invalid) and of requests that hang past the client's timeout
(never applied: the stand-in plays a server that gave up).

Then: faults stop, every process runs, everything drains, and the invariants are checked:
every event_id answered 200 is exactly one row; the stand-in's final state per person is the state
computed from the events (suppressions, monotonic attributes at their newest value, the other
attributes at one of their events' values), except where a dead letter explains it; nothing
pending, dead letters only of the reasons the faults explain; receivers answered only 200 or 503.
Exit status 0 when every invariant holds, 1 when one does not, 2 when the run itself failed.

With --upgrade-to NEW (scripts/upgrade-test.sh), --binary is an earlier release and the schedule is
a rolling upgrade instead of faults: each process is stopped with SIGTERM and started again from
NEW, one at a time (workers first, as docs/lifecycle.md says), then rolled back to the earlier
release the same way (receivers first), with a burst of 207s under each release so that both write
dead letters; the same invariants are checked, by the earlier release's binary. --capture-layout
FILE also writes raw entries of the earlier release's Redis layout to FILE before the upgrade.
"""
import collections
import json
import os
import random
import subprocess
import sys
import time
import urllib.request

from relaytest import relay, report, signing
from relaytest.answers import Answers
from relaytest.net import free_port
from relaytest.oracle import TrackStandIn, compare_state, read_dead_letters
from relaytest.processes import Managed, wait_ready

SECRET = "chaos-signing-key"
TRACK_TIMEOUT_SECONDS = 2
RECLAIM_IDLE_SECONDS = 5
# Dead-letter reasons the injected faults can cause: a 207 refuses an item for good; a worker
# killed again and again, or the Track API failing for long, can use up an entry's deliveries.
EXPLAINED_REASONS = {"track_api_item_rejected": "207 partial failures", "max_deliveries": "repeated kills and outages"}


# The rolling upgrade's order: workers before receivers, so that no entry of a newer layout is
# written while a worker that cannot read it still runs.
UPGRADE_ORDER = ["actions-1", "warehouse-1", "actions-2", "warehouse-2", "receiver-1", "receiver-2"]


def log(message):
    print(f"chaos: {message}", flush=True)


class Soak:
    def __init__(self, arguments):
        self.arguments = arguments
        self.binary = arguments.binary
        self.work = arguments.work
        self.random = random.Random(arguments.seed)
        self.redis_port = free_port()
        self.redis_dir = os.path.join(self.work, "redis")
        os.makedirs(self.redis_dir, exist_ok=True)
        self.track = TrackStandIn(hang_seconds=TRACK_TIMEOUT_SECONDS + 1.5)
        self.faults = collections.Counter()
        self.processes = {}
        self.explained_reasons = dict(EXPLAINED_REASONS)
        if arguments.capture_layout:
            self.explained_reasons["malformed"] = "the signed body that is not an event, sent by --capture-layout"

    # Redis: not daemonized, so that kill -9 is ours to do.
    def start_redis(self):
        redis = Managed("redis", [self.arguments.redis_server, "--bind", "127.0.0.1", "--port", str(self.redis_port),
                                  "--dir", self.redis_dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
                        os.environ.copy(), os.path.join(self.work, "redis.log"))
        redis.start()
        self.processes["redis"] = redis
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.redis("PING") == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("Redis did not answer PING within 30 s (after loading its AOF)")

    def redis(self, *command):
        result = subprocess.run(["redis-cli", "-p", str(self.redis_port), "--no-raw", *command], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    def postgres(self, action):
        subprocess.run([self.arguments.postgres_control, action], check=True, capture_output=True)

    def sql(self, query):
        result = subprocess.run(["psql", self.arguments.postgres_url, "-At", "-F", "\t", "-c", query], capture_output=True, text=True, check=True)
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def environment(self, **extra):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
            "CIO_RELAY_BIND": "127.0.0.1",
            "LOG_LEVEL": "warning",
            "CIO_RELAY_RECLAIM_IDLE": str(RECLAIM_IDLE_SECONDS),
            "CIO_RELAY_GROUPS": "actions,warehouse",
            "ADMIN_PORT": str(free_port()),
        }
        env.update({key: str(value) for key, value in extra.items()})
        return env

    def add(self, name, argv, env):
        process = Managed(name, argv, env, os.path.join(self.work, f"{name}.log"))
        self.processes[name] = process
        process.start()
        return process

    def start_relay(self):
        track_port = self.track.serve()
        self.receiver_ports = []
        for index in (1, 2):
            port = free_port()
            self.receiver_ports.append(port)
            self.add(f"receiver-{index}", [self.binary, "serve"], self.environment(PORT=port, CUSTOMERIO_WEBHOOK_SECRET=SECRET))
        track = dict(CUSTOMERIO_SITE_ID="chaos-site", CUSTOMERIO_TRACK_API_KEY="chaos-key",
                     CUSTOMERIO_TRACK_URL=f"http://127.0.0.1:{track_port}", CIO_RELAY_TRACK_TIMEOUT=TRACK_TIMEOUT_SECONDS)
        for index in (1, 2):
            self.add(f"actions-{index}", [self.binary, "work"], self.environment(CIO_RELAY_GROUPS="actions", WAREHOUSE_URL="none", **track))
            self.add(f"warehouse-{index}", [self.binary, "work"], self.environment(CIO_RELAY_GROUPS="warehouse", WAREHOUSE_URL=self.arguments.postgres_url))
        for name, process in self.processes.items():
            if name != "redis":
                wait_ready(process)

    # The schedule: drawn up front from the seed, so that it does not depend on timing. Every kind
    # comes once, in a seeded order, before any comes twice, so that a short run meets them all.
    def schedule(self, seconds):
        if self.arguments.upgrade_to:
            return self.upgrade_schedule(seconds)
        kinds = ["kill receiver", "kill worker", "kill redis", "stop postgres", "track 500", "track 429", "track 207", "track hang"]
        first_round = self.random.sample(kinds, len(kinds))
        events = []
        moment = 3.0
        while True:
            moment += self.random.uniform(2.0, 6.0)
            if moment > seconds - 3:
                return events
            kind = first_round[len(events)] if len(events) < len(first_round) else self.random.choice(kinds)
            if kind == "kill receiver":
                target = self.random.choice(["receiver-1", "receiver-2"])
            elif kind == "kill worker":
                target = self.random.choice(["actions-1", "actions-2", "warehouse-1", "warehouse-2"])
            else:
                target = None
            duration = round(self.random.uniform(1.0, 10.0 if kind == "stop postgres" else 5.0), 1)
            events.append((round(moment, 1), kind, target, duration))

    def upgrade_schedule(self, seconds):
        """The upgrade and the rollback, evenly spread over the run (see the module's description)."""
        steps = [("track 207", None, 2.0)]
        if self.arguments.capture_layout:
            steps.append(("capture layout", None, 0))
        steps += [("upgrade", name, 0) for name in UPGRADE_ORDER] + [("track 207", None, 2.0)]
        steps += [("roll back", name, 0) for name in reversed(UPGRADE_ORDER)]
        gap = (seconds - 6.0) / len(steps)
        return [(round(3.0 + index * gap, 1), kind, target, duration) for index, (kind, target, duration) in enumerate(steps)]

    def inject(self, kind, target, duration):
        self.faults[kind] += 1
        if kind in ("upgrade", "roll back"):
            process = self.processes[target]
            process.stop()
            process.argv[0] = self.arguments.upgrade_to if kind == "upgrade" else self.binary
            process.start()
            wait_ready(process)
        elif kind == "capture layout":
            capture_layout(self, self.arguments.capture_layout)
        elif kind in ("kill receiver", "kill worker"):
            process = self.processes[target]
            process.kill()
            time.sleep(min(duration, 3.0))
            process.start()
        elif kind == "kill redis":
            self.processes["redis"].kill()
            time.sleep(min(duration, 3.0))
            self.start_redis()
        elif kind == "stop postgres":
            self.postgres("stop")
            time.sleep(duration)
            self.postgres("start")
        else:
            self.track.set_fault(kind.split()[1], duration)
            time.sleep(duration)

    def stop_all(self):
        for name, process in self.processes.items():
            if name != "redis":
                process.stop()
        if "redis" in self.processes:
            self.processes["redis"].stop()


# ---------------------------------------------------------------------------------------------

def main():
    parser = relay.soak_arguments(__doc__, drain_seconds=240)
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--postgres-control", required=True, help="a script taking stop or start")
    parser.add_argument("--upgrade-to", help="a newer binary: a rolling upgrade and rollback instead of faults")
    parser.add_argument("--capture-layout", help="with --upgrade-to: where to write raw entries of the earlier release")
    arguments = relay.parse(parser)
    log(f"seed {arguments.seed} (CHAOS_SEED={arguments.seed} replays this schedule), {arguments.seconds} s of load at {arguments.rate:g} events/s")

    soak = Soak(arguments)
    began = time.monotonic()
    try:
        soak.start_redis()
        soak.start_relay()
        events = soak.schedule(arguments.seconds)
        log(f"{len(events)} faults scheduled")
        urls = [f"http://127.0.0.1:{port}/webhooks/customerio" for port in soak.receiver_ports]
        senders = relay.run_under_faults(
            [(moment, f"{kind}{' ' + target if target else ''} ({duration} s)", (kind, target, duration))
             for moment, kind, target, duration in events],
            lambda fault: soak.inject(*fault),
            lambda: relay.send(soak.binary, urls, SECRET, int(arguments.seconds * arguments.rate), arguments.rate, f"C{arguments.seed}", soak.work),
            arguments.seconds * 3 + 120, log)
        # Faults over: everything up, the Track API healthy.
        soak.track.clear_fault()
        if not soak.processes["redis"].running():
            soak.start_redis()
        subprocess.run([arguments.postgres_control, "start"], capture_output=True)
        for name, process in soak.processes.items():
            if name != "redis" and not process.running():
                process.start()
        log("load and faults over; draining")
        status, drained = relay.drain(soak.binary, soak.environment(), arguments.drain_seconds)
        verdict = check(soak, senders, status, drained, time.monotonic() - began)
    except Exception as error:
        log(f"the run failed: {error}")
        relay.print_tails(soak.processes)
        verdict = 2
    finally:
        soak.stop_all()
    sys.exit(verdict)


def check(soak, senders, status, drained, wall):
    recorded = Answers([record for _, record in senders])
    sent, answers, acknowledged = recorded.sent, recorded.by_kind, recorded.acknowledged
    rows = soak.sql("SELECT event_id, payload FROM customerio_events")
    stored = collections.Counter(event_id for event_id, _ in rows)
    events = {event_id: json.loads(payload) for event_id, payload in rows}
    duplicated = sum(count - 1 for count in stored.values() if count > 1)
    missing = sorted(acknowledged - set(stored))
    unacknowledged_rows = len(set(stored) - acknowledged)
    dead, dead_actions = read_dead_letters(soak.binary, soak.environment())
    unexplained = {key: count for key, count in dead.items() if key[1] not in soak.explained_reasons}
    violations, explained, people, suppressed = compare_state(events, dead_actions, soak.track)
    # Genuine requests may only be stored (200) or refused for now (503); "error …" is no answer
    # at all (the receiver was killed, or the connection broke).
    bad_answers = {answer: count for answer, count in answers.items()
                   if answer not in ("200 accepted", "200 duplicate", "HTTP 503") and not answer.startswith("error ")}
    groups = {group["name"]: group for group in (status or {}).get("groups", [])}

    table = [
        ("seed", soak.arguments.seed),
        ("events sent (requests)", sent),
        ("answered 200 accepted", answers["200 accepted"]),
        ("answered 200 duplicate", answers["200 duplicate"]),
        ("answered 503", answers["HTTP 503"]),
        ("no answer (receiver or connection killed)", sum(c for a, c in answers.items() if a.startswith("error "))),
        ("other answers", sum(bad_answers.values())),
        ("faults injected", ", ".join(f"{kind} {count}" for kind, count in sorted(soak.faults.items())) or "none"),
        ("distinct event_ids acknowledged", len(acknowledged)),
        ("warehouse rows", len(rows)),
        ("rows of events whose 200 was lost", unacknowledged_rows),
        ("lost (acknowledged, no row)", len(missing)),
        ("duplicated rows", duplicated),
        ("Track API answers", ", ".join(f"{kind} {count}" for kind, count in sorted(soak.track.counts.items()))),
        ("people checked / suppressed", f"{people} / {suppressed}"),
        ("state mismatches explained by dead letters", explained),
        ("state violations", len(violations)),
        ("dead letters", ", ".join(f"{group}/{reason} {count}" for (group, reason), count in sorted(dead.items())) or "none"),
        *([("dead letters by the layout field v", ", ".join(f"{v} {n}" for v, n in sorted(dead_letters_by_layout(soak).items())))]
          if soak.arguments.upgrade_to else []),
        ("pending after drain", ", ".join(f"{name} lag {g['lag']} pending {g['pending']}" for name, g in sorted(groups.items()))),
        ("wall time", f"{wall:.0f} s"),
    ]
    report.print_table(table)
    problems = report.delivery_problems(missing, duplicated, drained)
    if unexplained:
        problems.append(f"dead letters no fault explains: {unexplained}")
    if bad_answers:
        problems.append(f"receivers answered genuine requests with {bad_answers}")
    if violations:
        problems.append(f"{len(violations)} people end in a state the events do not give, e.g. {violations[:5]}")
    explain(soak, dead, missing or not drained)
    return report.verdict(problems, log)


def redis_json(soak, *command):
    """A command's reply through redis-cli's JSON output (RESP2), parsed."""
    result = subprocess.run(["redis-cli", "-p", str(soak.redis_port), "-2", "--json", *command], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def dead_letters_by_layout(soak):
    """Dead letters by their `v` field: which release wrote them, in an upgrade run."""
    letters = redis_json(soak, "XRANGE", "cio:{0}:dead", "-", "+")
    return collections.Counter(dict(zip(flat[::2], flat[1::2])).get("v", "no v") for _, flat in letters)


def capture_layout(soak, path):
    """Writes raw Redis data of the running release to `path` as JSON: events, dead letters (one a
    malformed body, sent now, the others given up by the actions group), dedup markers and the
    partition record, as fixtures of its layout that later releases must keep reading
    (Tests/EventQueueTests/Fixtures)."""
    body = b'{"note": "signed, but not a Customer.io event"}'
    request = urllib.request.Request(f"http://127.0.0.1:{soak.receiver_ports[0]}/webhooks/customerio", data=body,
                                     headers={"Content-Type": "application/json", **signing.customerio_headers(SECRET, body)}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()

    def redis(*command):
        return redis_json(soak, *command)

    def entries(stream, count):
        return [{"id": entry_id, "fields": [flat[i:i + 2] for i in range(0, len(flat), 2)]}
                for entry_id, flat in redis("XRANGE", stream, "-", "+", "COUNT", str(count))]

    dead = entries("cio:{0}:dead", 1000)
    kept = [letter for letter in dead if dict(letter["fields"]).get("reason") == "malformed"][:1]
    kept += [letter for letter in dead if dict(letter["fields"]).get("group")][:4]
    cursor, markers = "0", []
    while len(markers) < 5:
        cursor, keys = redis("SCAN", cursor, "MATCH", "cio:{0}:seen:*", "COUNT", "1000")
        markers += [{"key": key, "value": redis("GET", key)} for key in keys[:5 - len(markers)]]
        if cursor == "0":
            break
    version = subprocess.run([soak.binary, "--version"], capture_output=True, text=True).stdout.strip() or "0.1.0 (no --version)"
    fixture = {"written_by": f"cio-relay {version}", "events": entries("cio:{0}:events", 5), "dead": kept,
               "markers": markers, "records": {"cio:{0}:partitions": redis("GET", "cio:{0}:partitions")}}
    with open(path, "w") as output:
        json.dump(fixture, output, indent=1)
        output.write("\n")
    log(f"raw entries of {version} written to {path}: {len(fixture['events'])} events, {len(kept)} dead letters, {len(markers)} markers")


def explain(soak, dead, undrained):
    """Logs what the dead letters are explained by and, when entries were left, what holds them."""
    for reason, cause in soak.explained_reasons.items():
        count = sum(c for (_, r), c in dead.items() if r == reason)
        if count:
            log(f"{count} dead letter(s) {reason}: explained by {cause}")
    if undrained:
        for name in ("actions", "warehouse"):
            log(f"pending in {name}: {soak.redis('XPENDING', 'cio:{0}:events', name, '-', '+', '10')}")
            log(f"consumers of {name}: {soak.redis('XINFO', 'CONSUMERS', 'cio:{0}:events', name)}")


if __name__ == "__main__":
    main()
