#!/usr/bin/env python3
"""Writes COUNT distinct, correctly signed Customer.io events as ready-to-send HTTP requests for
bench/webhooks.lua, split over THREADS files OUT.0, OUT.1, ... (one per wrk thread).

Every request in a file has the same length (an X-Bench-Pad header makes up the difference), and the
file's first line is that length: wrk's Lua then reads request N with one fixed-size read instead of
parsing and formatting the corpus up front. That matters because wrk creates its threads one after
another, calling each one's init first, and starts the clock only after the last: a slow init lets
the first threads send untimed requests that still count, which inflates req/s.

Usage: make-corpus.py SECRET COUNT OUT THREADS"""
import hashlib, hmac, os, random, sys, time

from sample_events import event_body

secret, count, out, threads = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
# A realistic mix of metrics (see the worker issue's benchmark).
mix = [("email", "sent", 25), ("email", "delivered", 20), ("email", "opened", 20), ("email", "clicked", 15),
       ("email", "bounced", 2), ("push", "delivered", 8), ("sms", "sent", 6), ("customer", "unsubscribed", 1),
       ("email", "spammed", 1), ("in_app", "opened", 2)]
choices = [(t, m) for t, m, weight in mix for _ in range(weight)]
now = int(time.time())
rng = random.Random(7)


def request(body, signature, pad):
    return (b"POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-CIO-Timestamp: %d\r\nX-CIO-Signature: %s\r\nX-Bench-Pad: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (now, signature.encode(), b"x" * pad, len(body), body))


requests = []
for n in range(count):
    object_type, metric = rng.choice(choices)
    person = rng.randrange(1, 200000)
    event_id = "01BENCH%019d" % n + os.urandom(2).hex().upper()
    body = event_body(rng, event_id, object_type, metric, person, now - rng.randrange(0, 60)).encode()
    signature = hmac.new(secret, b"v0:%d:%s" % (now, body), hashlib.sha256).hexdigest()
    requests.append((body, signature))

# The longest request gets a one-byte pad; every other one is padded up to its length.
unpadded = [len(request(body, signature, 0)) for body, signature in requests]
size = max(unpadded) + 1
files = [open("%s.%d" % (out, thread), "wb") for thread in range(threads)]
for f in files:
    f.write(b"%d\n" % size)
for n, ((body, signature), length) in enumerate(zip(requests, unpadded)):
    record = request(body, signature, size - length)
    assert len(record) == size
    files[n % threads].write(record)
for f in files:
    f.close()
