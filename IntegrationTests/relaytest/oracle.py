"""What the soaks check against: a Track API stand-in that keeps every person's state (and fails on
command), the state the built-in policy should leave given the events (an oracle restating the
policy), and the dead letters as the binary reads them."""
import collections
import json
import subprocess
import threading
import time

from relaytest import track



class TrackStandIn:
    """Customer.io's v2 batch endpoint: applies identify (attributes, last write wins) and suppress
    per person, unless a fault is on. Person keys are `kind:value` of the batch identifiers."""

    def __init__(self, hang_seconds=3.5):
        self.hang_seconds = hang_seconds  # longer than the workers' CIO_RELAY_TRACK_TIMEOUT
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
        """The answer to one request, with the fault that is on; `GET /state` answers the
        snapshot (for a checker when the stand-in runs in a process of its own)."""
        if request.method == "GET" and request.path == "/state":
            return track.Answer(body=json.dumps(self.snapshot()).encode())
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
            time.sleep(self.hang_seconds)
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

    def serve(self, host="127.0.0.1", port=0):
        """Starts answering on `port` (0: a free one); answers the port."""
        return track.serve(self.respond, port=port, host=host)[1]

    def snapshot(self):
        """The state as JSON-ready data, for a checker in another process."""
        with self.lock:
            return {"attributes": self.attributes, "suppressed": sorted(self.suppressed), "counts": dict(self.counts)}



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


def read_dead_letters(binary, env):
    """Dead letters by (group, reason), and the event_ids the actions group gave up on, as the
    binary reads them (`dead-letters list --json`: the stream's layout is the binary's to know)."""
    result = subprocess.run([binary, "dead-letters", "list", "--json", "--limit", "1000000"], env=env,
                            capture_output=True, text=True, check=True)
    dead = collections.Counter()
    dead_actions = set()
    for letter in json.loads(result.stdout)["letters"]:
        dead[(letter.get("group") or "?", letter["reason"] or "?")] += 1
        if letter.get("group") == "actions" and letter.get("event_id"):
            dead_actions.add(letter["event_id"])
    return dead, dead_actions
