#!/usr/bin/env python3
"""A stand-in for Customer.io's Track API on loopback, for the smoke test and the worker benchmark.

Answers every PUT/POST with 200 {} after LATENCY_MS, and appends one JSON line per request to
LOG (method, path, number of batch items, actions, time). Prints its port on stdout once ready.
Usage: track-stub.py LOG [LATENCY_MS]
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log_path = sys.argv[1]
latency = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
lock = threading.Lock()
log = open(log_path, "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle plus the client's delayed ACK
    # hold every answer ~40 ms, which no real API does.
    disable_nagle_algorithm = True

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        items, actions = 1, []
        try:
            document = json.loads(body or b"{}")
            if isinstance(document, dict) and isinstance(document.get("batch"), list):
                items = len(document["batch"])
                actions = sorted({item.get("action", "?") for item in document["batch"]})
        except ValueError:
            pass
        if latency:
            time.sleep(latency)
        with lock:
            log.write(json.dumps({"method": self.command, "path": self.path, "items": items, "actions": actions,
                                  "auth": bool(self.headers.get("Authorization")), "t": time.time()}) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_PUT = answer
    do_POST = answer

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
