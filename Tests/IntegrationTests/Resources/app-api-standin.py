#!/usr/bin/env python3
"""A stand-in for Customer.io's App API (ESP suppression) on loopback, for the worker's tests.

Every request is validated against Customer.io's OpenAPI description of the ESP-suppression paths
(SPEC, an excerpt of the vendor's App API file) with openapi-core: path, method, parameters and
bearer authentication; the key must also be KEY. Requests are recorded with their verdict.

Answers come from a script set by the test: POST /__script with a JSON list of
{"status": N, "headers": {...}, "body": "..."} consumed one per request (then 200 {}).
GET /__requests answers what was received.
Usage: app-api-standin.py SPEC KEY   (prints its port once ready)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

spec_path, expected_key = sys.argv[1], sys.argv[2]
with open(spec_path) as handle:
    openapi = OpenAPI.from_dict(json.load(handle))
lock = threading.Lock()
script, received = [], []


def validate(method, path, headers, body):
    """The problems with one request, as text (empty: valid)."""
    problems = []
    request = MockRequest("https://api.customer.io", method.lower(), path.split("?")[0], headers=dict(headers), data=body or None,
                          content_type=headers.get("Content-Type") or "")
    try:
        openapi.validate_request(request)
    except Exception as error:  # openapi-core raises one error type per kind of problem
        # The parameter or schema error behind a validation error, when there is one.
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        problems.append(f"{type(error).__name__}: {error}{cause}")
    if headers.get("Authorization") != f"Bearer {expected_key}":
        problems.append("Authorization is not the bearer token of the configured App API key")
    return problems


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

    def handle_request(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/__script" and self.command == "POST":
            with lock:
                script.extend(json.loads(body))
            return self.answer(200)
        if self.path == "/__requests" and self.command == "GET":
            with lock:
                return self.answer(200, json.dumps(received).encode())
        parts = self.path.split("?")[0].split("/")
        record = {
            "method": self.command, "path": self.path,
            "suppression_type": parts[4] if len(parts) == 6 else None,
            "address": unquote(parts[5]) if len(parts) == 6 else None,
            "problems": validate(self.command, self.path, self.headers, body),
        }
        with lock:
            received.append(record)
            step = script.pop(0) if script else {"status": 200}
        self.answer(step.get("status", 200), step.get("body", "{}").encode(), step.get("headers"))

    do_GET = do_POST = do_PUT = do_DELETE = handle_request

    def log_message(self, *arguments):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
