#!/usr/bin/env python3
"""Forwarding destinations on loopback for the worker's tests: every POST is checked with the
standardwebhooks package (the reference implementation) under SECRET and recorded.

Each path is a destination of its own whose behaviour the test sets with POST /__set and a JSON
object {path: {"fail": N, "status": S, "retry_after": "1", "hang": true}}: the next N requests
answer S (500 by default; with retry_after, that header), or, with hang, never answer. Then 200.
GET /__received answers every delivery: path, webhook-id, whether its signature verified, error.
Usage: forward-destination.py SECRET   (prints its port once ready)
"""
import json
import os
import sys
import threading
import time

from standardwebhooks.webhooks import Webhook

# The HTTP server whose answers come from a function, shared with the end-to-end stand-ins.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "IntegrationTests"))
from relaytest import track  # noqa: E402

webhook = Webhook(sys.argv[1])
lock = threading.Lock()
behaviour, received = {}, []


def respond(request):
    if request.method == "GET":
        with lock:
            return track.Answer(body=json.dumps(received).encode())
    if request.path == "/__set":
        with lock:
            behaviour.update(json.loads(request.body))
        return track.Answer()
    try:
        webhook.verify(request.body, {name.lower(): value for name, value in request.headers.items()})
        verified, error = True, ""
    except Exception as failure:  # the library raises WebhookVerificationError, or others on bad input
        verified, error = False, f"{type(failure).__name__}: {failure}"
    with lock:
        rule = behaviour.get(request.path, {})
        failing = rule.get("fail", 0) > 0
        if failing:
            rule["fail"] -= 1
        received.append({"path": request.path, "id": request.headers.get("webhook-id"), "verified": verified, "error": error,
                         "answered": not (failing and rule.get("hang")), "at": time.time()})
    if failing and rule.get("hang"):
        time.sleep(3600)  # the client gives up first
    if failing:
        headers = {"Retry-After": rule["retry_after"]} if "retry_after" in rule else {}
        return track.Answer(rule.get("status", 500), b'{"error":"failing on purpose"}', headers)
    return track.Answer()


server, port = track.serve(respond)
print(port, flush=True)
threading.Event().wait()
