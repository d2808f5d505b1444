#!/usr/bin/env python3
"""Writes COUNT events in a realistic mix as Redis protocol (XADD to the events stream), for
`redis-cli --pipe`. Mix per the worker benchmark: 45% sent/delivered, 35% opened/clicked, 2% bounced,
0.3% spammed, 0.5% unsubscribed, the rest other types and metrics.
With REPLAYS (a fraction, e.g. 0.1), the corpus also has what Customer.io and operators repeat:
that fraction of the events again (same content, a new event id: a retry after its dedup marker
expired, a dead-letter replay) a few thousand entries later, and every email/unsubscribed followed
by the customer/unsubscribed Customer.io sends for the same change a second later.
Usage: prefill-stream.py PREFIX COUNT PEOPLE [REPLAYS] > commands.resp"""
import random, sys, time

from sample_events import event_body, resp_command

prefix, count, people = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
replays = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
mix = [(("email", "sent"), 250), (("email", "delivered"), 200), (("email", "opened"), 200), (("email", "clicked"), 150),
       (("email", "bounced"), 20), (("email", "spammed"), 3), (("email", "unsubscribed"), 2), (("customer", "unsubscribed"), 3),
       (("push", "delivered"), 60), (("push", "opened"), 20), (("sms", "sent"), 40), (("sms", "delivered"), 30),
       (("in_app", "opened"), 12), (("email", "converted"), 5), (("webhook", "sent"), 5)]
choices = [kind for kind, weight in mix for _ in range(weight)]
assert len(choices) == 1000
rng = random.Random(11)
now = int(time.time())
stream = "%s:{0}:events" % prefix
out = sys.stdout.buffer

# (position, body, type, metric): repeats are placed after their original by their position.
events = []
for n in range(count):
    object_type, metric = rng.choice(choices)
    person = rng.randrange(1, people + 1)
    timestamp = now - rng.randrange(0, 3600)
    event_id = "01BENCH%019d" % n
    body = event_body(rng, event_id, object_type, metric, person, timestamp)
    events.append((n, body, object_type, metric))
    if replays:
        if rng.random() < replays:
            events.append((n + rng.randrange(1, 5000), body.replace(event_id, "01BREPL%019d" % n), object_type, metric))
        if (object_type, metric) == ("email", "unsubscribed"):
            echo = event_body(rng, "01BECHO%019d" % n, "customer", "unsubscribed", person, timestamp + 1)
            events.append((n + 0.5, echo, "customer", "unsubscribed"))
events.sort(key=lambda item: item[0])
for _, body, object_type, metric in events:
    out.write(resp_command("XADD", stream, "*", "body", body, "ws", "default", "rt", now * 1000, "t", object_type, "m", metric))
