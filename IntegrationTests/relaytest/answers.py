"""The record `cio-relay send --record` writes: a line per request, `EVENT_ID MILLISECONDS ANSWER`
(`200 accepted`, `200 duplicate`, `HTTP 503`, `error …`)."""
import collections


class Answers:
    """What senders recorded: requests sent, answers by kind, the event_ids answered 200 and the
    slowest answer (milliseconds)."""

    def __init__(self, records):
        self.by_kind = collections.Counter()
        self.acknowledged = set()
        self.sent = 0
        self.slowest = 0.0
        self.latencies = []
        for record in records:
            for line in open(record):
                event_id, milliseconds, answer = line.rstrip("\n").split(" ", 2)
                self.sent += 1
                self.by_kind[answer] += 1
                self.latencies.append(float(milliseconds))
                self.slowest = max(self.slowest, float(milliseconds))
                if answer.startswith("200 "):
                    self.acknowledged.add(event_id)

    def count(self, prefix):
        """Answers that start with `prefix` (`200 `, `HTTP 503`, `error `)."""
        return sum(count for answer, count in self.by_kind.items() if answer.startswith(prefix))

    def slower_than(self, milliseconds):
        return sum(1 for latency in self.latencies if latency > milliseconds)
