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
import argparse
import collections
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request

from relaytest import signing, track
from relaytest.net import free_port
from relaytest.processes import Managed, wait_ready

SECRET = "chaos-signing-key"
TRACK_TIMEOUT_SECONDS = 2
RECLAIM_IDLE_SECONDS = 5
PEOPLE = 300
TIME_SPREAD_SECONDS = 3600
DUPLICATES = 0.2
# Dead-letter reasons the injected faults can cause: a 207 refuses an item for good; a worker
# killed again and again, or the Track API failing for long, can use up an entry's deliveries.
EXPLAINED_REASONS = {"track_api_item_rejected": "207 partial failures", "max_deliveries": "repeated kills and outages"}


# The rolling upgrade's order: workers before receivers, so that no entry of a newer layout is
# written while a worker that cannot read it still runs.
UPGRADE_ORDER = ["actions-1", "warehouse-1", "actions-2", "warehouse-2", "receiver-1", "receiver-2"]


def log(message):
    print(f"chaos: {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# The Track API stand-in: the state of every person, and faults on command.

class TrackStandIn:
    """Customer.io's v2 batch endpoint: applies identify (attributes, last write wins) and suppress
    per person, unless a fault is on. Person keys are `kind:value` of the batch identifiers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attributes = collections.defaultdict(dict)
        self.suppressed = set()
        self.fault = None            # (kind, until monotonic time) or None
        self.counts = collections.Counter()

    def set_fault(self, kind, seconds):
        with self.lock:
            self.fault = (kind, time.monotonic() + seconds)

    def clear_fault(self):
        with self.lock:
            self.fault = None

    def current_fault(self):
        with self.lock:
            if self.fault and time.monotonic() < self.fault[1]:
                return self.fault[0]
            return None

    def apply(self, batch):
        """Applies a batch; answers the indices refused when a 207 burst is on."""
        fault = self.current_fault()
        refused = []
        with self.lock:
            for index, item in enumerate(batch):
                identifiers = item.get("identifiers") or {}
                if len(identifiers) != 1:
                    self.counts["malformed items"] += 1
                    continue
                (kind, value), = identifiers.items()
                person = f"{kind}:{value}"
                if item.get("action") == "identify":
                    if fault == "207" and not refused:
                        refused.append(index)
                        continue
                    self.attributes[person].update(item.get("attributes") or {})
                    self.counts["identify applied"] += 1
                elif item.get("action") == "suppress":
                    self.suppressed.add(person)
                    self.counts["suppress applied"] += 1
        return refused

    def respond(self, request):
        """The answer to one request, with the fault that is on."""
        if not request.headers.get("Authorization", "").startswith("Basic "):
            return track.Answer(401, b'{"errors":[{"message":"unauthorized"}]}')
        if request.path != "/api/v2/batch":
            return track.Answer(404)
        fault = self.current_fault()
        if fault == "500":
            self.counts["answered 500"] += 1
            return track.Answer(500, b'{"errors":[{"message":"internal"}]}')
        if fault == "429":
            self.counts["answered 429"] += 1
            return track.Answer(429, b'{"errors":[{"message":"slow down"}]}', {"Retry-After": "1"})
        if fault == "hang":
            self.counts["hung"] += 1
            time.sleep(TRACK_TIMEOUT_SECONDS + 1.5)
            return track.Answer(hang_up=True)
        try:
            batch = json.loads(request.body).get("batch") or []
        except ValueError:
            return track.Answer(400, b'{"errors":[{"message":"bad json"}]}')
        refused = self.apply(batch)
        if refused:
            self.counts["answered 207"] += 1
            errors = [{"batch_index": i, "reason": "invalid", "field": "attributes", "message": "value too long"} for i in refused]
            return track.Answer(207, json.dumps({"errors": errors}).encode())
        self.counts["answered 200"] += 1
        return track.Answer()

    def serve(self):
        """Starts answering on a free port; answers the port."""
        return track.serve(self.respond)[1]


class Soak:
    def __init__(self, arguments):
        self.arguments = arguments
        self.binary = arguments.binary
        self.work = arguments.work
        self.random = random.Random(arguments.seed)
        self.redis_port = free_port()
        self.redis_dir = os.path.join(self.work, "redis")
        os.makedirs(self.redis_dir, exist_ok=True)
        self.track = TrackStandIn()
        self.faults = collections.Counter()
        self.fault_log = []
        self.processes = {}
        self.start_time = time.monotonic()
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

    def run_faults(self, events, stop):
        for moment, kind, target, duration in events:
            while time.monotonic() - self.start_time < moment:
                if stop.is_set():
                    return
                time.sleep(0.05)
            if stop.is_set():
                return
            self.fault_log.append(f"{moment:7.1f} s  {kind}{' ' + target if target else ''} ({duration} s)")
            log(self.fault_log[-1])
            try:
                self.inject(kind, target, duration)
            except Exception as error:  # a fault that could not be injected is a failed run
                self.fault_error = error
                stop.set()

    def send(self, seconds, rate):
        senders = []
        for index, port in enumerate(self.receiver_ports, 1):
            count = max(1, int(seconds * rate / len(self.receiver_ports)))
            record = os.path.join(self.work, f"sent-{index}.txt")
            argv = [self.binary, "send", "--url", f"http://127.0.0.1:{port}/webhooks/customerio", "--secret", SECRET,
                    "--count", str(count), "--rate", str(rate / len(self.receiver_ports)), "--concurrency", "16",
                    "--duplicates", str(DUPLICATES), "--people", str(PEOPLE), "--time-spread", str(TIME_SPREAD_SECONDS),
                    "--run-id", f"C{self.arguments.seed}S{index}", "--record", record]
            log_file = open(os.path.join(self.work, f"send-{index}.log"), "wb")
            senders.append((subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT), record))
        return senders

    def drain(self, seconds):
        """Waits until neither group has anything undelivered or pending; answers the last status."""
        deadline = time.monotonic() + seconds
        status = None
        while time.monotonic() < deadline:
            result = subprocess.run([self.binary, "status", "--json"], env=self.environment(), capture_output=True, text=True)
            if result.returncode == 0:
                status = json.loads(result.stdout)
                groups = {group["name"]: group for group in status["groups"]}
                if all(name in groups and groups[name]["lag"] == 0 and groups[name]["pending"] == 0 for name in ("actions", "warehouse")):
                    return status, True
            time.sleep(1)
        return status, False

    def stop_all(self):
        for name, process in self.processes.items():
            if name != "redis":
                process.stop()
        if "redis" in self.processes:
            self.processes["redis"].stop()


# ---------------------------------------------------------------------------------------------
# The expected state, from the events themselves (the built-in policy, restated as an oracle).

MONOTONIC = {
    ("*", "unsubscribed"): lambda e: {"unsubscribed": True, "unsubscribed_at": e["timestamp"]},
    ("customer", "subscribed"): lambda e: {"unsubscribed": False, "subscribed_at": e["timestamp"]},
    ("email", "opened"): lambda e: {"last_email_engaged_at": e["timestamp"], "last_email_metric": "opened"},
    ("email", "clicked"): lambda e: {"last_email_engaged_at": e["timestamp"], "last_email_metric": "clicked"},
}
PLAIN = {
    ("email", "bounced"): lambda e: {"email_bounced": True, "email_bounced_at": e["timestamp"],
                                     "last_bounce_delivery_id": e["data"].get("delivery_id")},
    ("email", "spammed"): lambda e: {"spam_complaint": True, "spam_complaint_at": e["timestamp"]},
}
SUPPRESSING = {("email", "bounced"), ("email", "spammed")}


def person_of(event):
    identifiers = event.get("data", {}).get("identifiers") or {}
    for kind in ("cio_id", "id", "email"):
        if identifiers.get(kind):
            return f"{kind}:{identifiers[kind]}"
    return None


def writes(event):
    """(attributes, monotonic?) the built-in policy writes for an event, or (None, False)."""
    key = (event["object_type"], event["metric"])
    if key in PLAIN:
        return PLAIN[key](event), False
    if key in MONOTONIC:
        return MONOTONIC[key](event), True
    if ("*", event["metric"]) in MONOTONIC:
        return MONOTONIC[("*", event["metric"])](event), True
    return None, False


def compare_state(events, dead_actions, track):
    """Checks the stand-in's state against the events; answers (violations, explained, people)."""
    candidates = collections.defaultdict(lambda: collections.defaultdict(list))  # person → attribute → [(time, value, monotonic)]
    blocked = collections.defaultdict(lambda: collections.defaultdict(int))      # newest dead-lettered write
    expected_suppressed = set()
    for event in events.values():
        attributes, monotonic = writes(event)
        person = person_of(event)
        if attributes is None or person is None:
            continue
        dead = event["event_id"] in dead_actions
        for name, value in attributes.items():
            if value is None:
                continue
            if dead:
                blocked[person][name] = max(blocked[person][name], event["timestamp"])
            else:
                candidates[person][name].append((event["timestamp"], value, monotonic))
        if not dead and (event["object_type"], event["metric"]) in SUPPRESSING:
            expected_suppressed.add(person)
    violations, explained = [], 0
    for person, attributes in candidates.items():
        actual = track.attributes.get(person, {})
        for name, writes_of in attributes.items():
            if writes_of[0][2]:
                newest = max(time for time, _, _ in writes_of)
                allowed = [value for time, value, _ in writes_of if time == newest]
            else:
                newest = None
                allowed = [value for _, value, _ in writes_of]
            if name in actual and actual[name] in allowed:
                continue
            # A newer write of the same attribute that went to the dead letters holds older ones
            # back (the guard recorded it): replaying the letter applies it.
            if newest is not None and blocked[person].get(name, -1) >= newest:
                explained += 1
                continue
            violations.append(f"{person} {name}: is {actual.get(name, '(missing)')!r}, expected one of {sorted(map(str, allowed))[:3]}")
    missing_suppressions = expected_suppressed - track.suppressed
    extra_suppressions = track.suppressed - expected_suppressed
    violations += [f"{person}: bounced or complained, not suppressed" for person in sorted(missing_suppressions)]
    violations += [f"{person}: suppressed without a bounce or complaint" for person in sorted(extra_suppressions)]
    return violations, explained, len(candidates), len(expected_suppressed)


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--postgres-control", required=True, help="a script taking stop or start")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rate", type=float, default=150.0, help="events per second in all")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--drain-seconds", type=int, default=240)
    parser.add_argument("--upgrade-to", help="a newer binary: a rolling upgrade and rollback instead of faults")
    parser.add_argument("--capture-layout", help="with --upgrade-to: where to write raw entries of the earlier release")
    arguments = parser.parse_args()
    if arguments.seed is None:
        arguments.seed = random.SystemRandom().randrange(1, 1_000_000)
    log(f"seed {arguments.seed} (CHAOS_SEED={arguments.seed} replays this schedule), {arguments.seconds} s of load at {arguments.rate:g} events/s")

    soak = Soak(arguments)
    soak.fault_error = None
    began = time.monotonic()
    try:
        soak.start_redis()
        soak.start_relay()
        soak.start_time = time.monotonic()
        events = soak.schedule(arguments.seconds)
        log(f"{len(events)} faults scheduled")
        stop = threading.Event()
        faults = threading.Thread(target=soak.run_faults, args=(events, stop), daemon=True)
        faults.start()
        senders = soak.send(arguments.seconds, arguments.rate)
        for sender, _ in senders:
            sender.wait(timeout=arguments.seconds * 3 + 120)
        stop.set()
        faults.join(timeout=60)
        if soak.fault_error:
            raise RuntimeError(f"a fault could not be injected: {soak.fault_error}")
        # Faults over: everything up, the Track API healthy.
        soak.track.clear_fault()
        if not soak.processes["redis"].running():
            soak.start_redis()
        subprocess.run([arguments.postgres_control, "start"], capture_output=True)
        for name, process in soak.processes.items():
            if name != "redis" and not process.running():
                process.start()
        log("load and faults over; draining")
        status, drained = soak.drain(arguments.drain_seconds)
        verdict = check(soak, senders, status, drained, time.monotonic() - began)
    except Exception as error:
        log(f"the run failed: {error}")
        for name, process in soak.processes.items():
            if os.path.exists(process.log_path):
                tail = open(process.log_path, "rb").read()[-1500:].decode(errors="replace")
                print(f"--- {name} ({process.log_path})\n{tail}", file=sys.stderr)
        verdict = 2
    finally:
        soak.stop_all()
    sys.exit(verdict)


def read_answers(senders):
    """What the senders recorded: requests sent, answers by kind, the event_ids answered 200."""
    answers = collections.Counter()
    acknowledged = set()
    sent = 0
    for _, record in senders:
        for line in open(record):
            event_id, _, answer = line.rstrip("\n").partition(" ")
            sent += 1
            answers[answer] += 1
            if answer.startswith("200 "):
                acknowledged.add(event_id)
    return sent, answers, acknowledged


def read_dead_letters(soak):
    """Dead letters by (group, reason), and the event_ids the actions group gave up on, as the
    binary reads them (`dead-letters list --json`: the stream's layout is the binary's to know)."""
    result = subprocess.run([soak.binary, "dead-letters", "list", "--json", "--limit", "1000000"], env=soak.environment(),
                            capture_output=True, text=True, check=True)
    dead = collections.Counter()
    dead_actions = set()
    for letter in json.loads(result.stdout)["letters"]:
        dead[(letter.get("group") or "?", letter["reason"] or "?")] += 1
        if letter.get("group") == "actions" and letter.get("event_id"):
            dead_actions.add(letter["event_id"])
    return dead, dead_actions


def check(soak, senders, status, drained, wall):
    sent, answers, acknowledged = read_answers(senders)
    rows = soak.sql("SELECT event_id, payload FROM customerio_events")
    stored = collections.Counter(event_id for event_id, _ in rows)
    events = {event_id: json.loads(payload) for event_id, payload in rows}
    duplicated = sum(count - 1 for count in stored.values() if count > 1)
    missing = sorted(acknowledged - set(stored))
    unacknowledged_rows = len(set(stored) - acknowledged)
    dead, dead_actions = read_dead_letters(soak)
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
    print("\n| figure | value |\n|---|---|")
    for name, value in table:
        print(f"| {name} | {value} |")
    print()
    problems = []
    if missing:
        problems.append(f"{len(missing)} acknowledged events have no row, e.g. {missing[:5]}")
    if duplicated:
        problems.append(f"{duplicated} duplicated rows")
    if not drained:
        problems.append("the groups did not drain")
    if unexplained:
        problems.append(f"dead letters no fault explains: {unexplained}")
    if bad_answers:
        problems.append(f"receivers answered genuine requests with {bad_answers}")
    if violations:
        problems.append(f"{len(violations)} people end in a state the events do not give, e.g. {violations[:5]}")
    explain(soak, dead, missing or not drained)
    for problem in problems:
        log(f"VIOLATION: {problem}")
    log("every invariant holds" if not problems else f"{len(problems)} invariant(s) violated")
    return 0 if not problems else 1


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
