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
import os
import sys
import threading
from urllib.parse import unquote

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

# The HTTP server whose answers come from a function, shared with the end-to-end stand-ins.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "IntegrationTests"))
from relaytest import track  # noqa: E402

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


def respond(request):
    if request.path == "/__script" and request.method == "POST":
        with lock:
            script.extend(json.loads(request.body))
        return track.Answer()
    if request.path == "/__requests" and request.method == "GET":
        with lock:
            return track.Answer(body=json.dumps(received).encode())
    parts = request.path.split("?")[0].split("/")
    record = {
        "method": request.method, "path": request.path,
        "suppression_type": parts[4] if len(parts) == 6 else None,
        "address": unquote(parts[5]) if len(parts) == 6 else None,
        "problems": validate(request.method, request.path, request.headers, request.body),
    }
    with lock:
        received.append(record)
        step = script.pop(0) if script else {"status": 200}
    return track.Answer(step.get("status", 200), step.get("body", "{}").encode(), step.get("headers"))


server, port = track.serve(respond)
print(port, flush=True)
threading.Event().wait()
