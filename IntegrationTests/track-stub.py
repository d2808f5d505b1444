#!/usr/bin/env python3
"""A stand-in for Customer.io's Track API on loopback, for the smoke test, the metrics check and the
worker benchmark.

Answers every PUT/POST with 200 {} after LATENCY_MS, and appends one JSON line per request to
LOG (method, path, number of batch items, actions, time). Prints its port on stdout once ready.
Usage: track-stub.py LOG [LATENCY_MS]
"""
import json
import sys
import threading
import time

from relaytest import track

log_path = sys.argv[1]
latency = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
lock = threading.Lock()
log = open(log_path, "a", buffering=1)


def respond(request):
    items, actions = 1, []
    try:
        document = json.loads(request.body or b"{}")
        if isinstance(document, dict) and isinstance(document.get("batch"), list):
            items = len(document["batch"])
            actions = sorted({item.get("action", "?") for item in document["batch"]})
    except ValueError:
        pass
    if latency:
        time.sleep(latency)
    with lock:
        log.write(json.dumps({"method": request.method, "path": request.path, "items": items, "actions": actions,
                              "auth": bool(request.headers.get("Authorization")), "t": time.time()}) + "\n")
    return track.Answer()


server, port = track.serve(respond)
print(port, flush=True)
threading.Event().wait()
