#!/usr/bin/env python3
"""Writes COUNT distinct, correctly signed Customer.io events, one per line as
"<timestamp> <signature> <body>", for bench/webhooks.lua. Usage: make-corpus.py SECRET COUNT OUT"""
import hashlib, hmac, os, random, sys, time

from sample_events import event_body

secret, count, out = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
# A realistic mix of metrics (see the worker issue's benchmark).
mix = [("email", "sent", 25), ("email", "delivered", 20), ("email", "opened", 20), ("email", "clicked", 15),
       ("email", "bounced", 2), ("push", "delivered", 8), ("sms", "sent", 6), ("customer", "unsubscribed", 1),
       ("email", "spammed", 1), ("in_app", "opened", 2)]
choices = [(t, m) for t, m, weight in mix for _ in range(weight)]
now = int(time.time())
rng = random.Random(7)
with open(out, "w") as f:
    for n in range(count):
        object_type, metric = rng.choice(choices)
        person = rng.randrange(1, 200000)
        event_id = "01BENCH%019d" % n + os.urandom(2).hex().upper()
        body = event_body(rng, event_id, object_type, metric, person, now - rng.randrange(0, 60))
        signature = hmac.new(secret, b"v0:%d:%s" % (now, body.encode()), hashlib.sha256).hexdigest()
        f.write("%d %s %s\n" % (now, signature, body))
