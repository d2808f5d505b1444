"""Writes RESP for Benchmarks/redis-cost.sh: EVENTS events as the receiver stores them (the
benchmark corpus' Customer.io-like bodies of about 420 bytes from sample_events.py, the five other
fields, 26-character event ids, the 7-day TTL), sent as
  script BATCH        the dedup script read from stdin, called with BATCH events a call (`EVAL`)
  set                 a plain `SET marker id NX EX ttl` per event
  xadd                a plain `XADD` of the entry per event
  both                the two, per event
  entry BATCH         one plain `XADD` of an entry holding BATCH events (another layout's floor)
  entry+hash BATCH    that, and one `HSET` of the BATCH markers into one hash
  entry-script BATCH  the sketch of that layout read from stdin (several-per-entry.lua): the
                      markers checked and set in the hash and one entry per call, atomically
Usage: redis-cost.py MODE EVENTS [BATCH] < script.lua > commands.resp
"""
import os
import random
import sys

from sample_events import event_body, resp_command

mode, events = sys.argv[1], int(sys.argv[2])
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1
script = sys.stdin.read() if mode in ("script", "entry-script") else ""
rng = random.Random(7)
tag = os.urandom(2).hex()
out = sys.stdout.buffer
stream, hash_key, ttl = "cio:{0}:events", "cio:{0}:seen:20261207", 604800


def event_id(index):
    return "01J%s%019d" % (tag, index)


def fields(index):
    body = event_body(rng, event_id(index), "email", "delivered", rng.randrange(1, 50000), 1767235000 + index // 1000)
    return ["body", body, "ws", "default", "rt", 1767235000123 + index, "t", "email", "m", "delivered", "v", 2]


def marker(index):
    return "cio:{0}:seen:" + event_id(index)


index = 0
while index < events:
    group = range(index, min(index + batch, events))
    index = group.stop
    if mode == "script":
        keys, args = [stream] + [marker(i) for i in group], [ttl]
        for i in group:
            args += [12] + fields(i)
        out.write(resp_command("EVAL", script, len(keys), *keys, *args))
    elif mode in ("entry", "entry+hash"):
        out.write(resp_command("XADD", stream, "*", *[f for i in group for f in fields(i)]))
        if mode == "entry+hash":
            out.write(resp_command("HSET", hash_key, *[v for i in group for v in (event_id(i), "1767235000123-0/%d" % i)]))
    elif mode == "entry-script":
        args = [1767235000 + 2 * ttl, 12] + [v for i in group for v in [event_id(i)] + fields(i)]
        out.write(resp_command("EVAL", script, 2, stream, hash_key, *args))
    else:
        for i in group:
            if mode in ("set", "both"):
                out.write(resp_command("SET", marker(i), "1767235000123-%d" % i, "NX", "EX", ttl))
            if mode in ("xadd", "both"):
                out.write(resp_command("XADD", stream, "*", *fields(i)))
