#!/usr/bin/env python3
"""Writes COUNT distinct, correctly signed Customer.io events, one per line as
"<timestamp> <signature> <body>", for bench/webhooks.lua. Usage: make-corpus.py SECRET COUNT OUT"""
import hashlib, hmac, json, os, random, sys, time

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
        data = {"campaign_id": rng.randrange(1, 400), "action_id": rng.randrange(1, 5000),
                "delivery_id": os.urandom(16).hex(), "customer_id": "u_%d" % person,
                "identifiers": {"id": "u_%d" % person, "email": "person%d@example.com" % person, "cio_id": "c%010d" % person},
                "recipient": "person%d@example.com" % person, "subject": "Your weekly summary is ready"}
        if metric == "clicked":
            data.update(href="https://example.com/pricing?utm_source=newsletter", link_id=rng.randrange(1, 20))
        if metric == "bounced":
            data["failure_message"] = "550 5.1.1 Recipient address rejected"
        body = json.dumps({"event_id": event_id, "object_type": object_type, "metric": metric,
                           "timestamp": now - rng.randrange(0, 60), "data": data}, separators=(",", ":"))
        signature = hmac.new(secret, b"v0:%d:%s" % (now, body.encode()), hashlib.sha256).hexdigest()
        f.write("%d %s %s\n" % (now, signature, body))
