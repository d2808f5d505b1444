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
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

webhook = Webhook(sys.argv[1])
lock = threading.Lock()
behaviour, received = {}, []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def answer(self, status, body=b"{}", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            self.answer(200, json.dumps(received).encode())

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/__set":
            with lock:
                behaviour.update(json.loads(body))
            return self.answer(200)
        try:
            webhook.verify(body, {name.lower(): value for name, value in self.headers.items()})
            verified, error = True, ""
        except Exception as failure:  # the library raises WebhookVerificationError, or others on bad input
            verified, error = False, f"{type(failure).__name__}: {failure}"
        with lock:
            rule = behaviour.get(self.path, {})
            failing = rule.get("fail", 0) > 0
            if failing:
                rule["fail"] -= 1
            received.append({"path": self.path, "id": self.headers.get("webhook-id"), "verified": verified, "error": error,
                             "answered": not (failing and rule.get("hang")), "at": time.time()})
        if failing and rule.get("hang"):
            time.sleep(3600)
            return
        if failing:
            headers = {"Retry-After": rule["retry_after"]} if "retry_after" in rule else {}
            return self.answer(rule.get("status", 500), b'{"error":"failing on purpose"}', headers)
        self.answer(200)

    def log_message(self, *arguments):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
