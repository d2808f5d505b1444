#!/usr/bin/env python3
"""A stand-in for Google's OAuth token endpoint and the metadata server, for the tests of the
BigQuery sink's authentication. Every assertion is verified with Google's own `google-auth`
package: RS256 signature against the key's public half, `iat`/`exp` (at most an hour apart), the
audience (this endpoint's token URI) and the BigQuery scope. Prints its port once ready.

  POST /token            form grant_type=…jwt-bearer&assertion=JWT -> {"access_token":"sa-token-N",…}
  GET  /computeMetadata/v1/instance/service-accounts/default/token
                         needs "Metadata-Flavor: Google"       -> {"access_token":"md-token-N",…}
  GET  /stats            -> {"exchanges":N,"metadata":M,"refused":[reasons…]}

Usage: fake-google-token.py PUBLIC_KEY_PEM KEY_ID EXPIRES_IN_SECONDS
"""
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.auth import jwt

public_pem, key_id, expires_in = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3])
SCOPE = "https://www.googleapis.com/auth/bigquery"
lock = threading.Lock()
stats = {"exchanges": 0, "metadata": 0, "refused": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, status, reason):
        with lock:
            stats["refused"].append(reason)
        self.answer(status, {"error": "invalid_grant", "error_description": reason})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if self.path != "/token":
            return self.refuse(404, f"no such path {self.path}")
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return self.refuse(400, f"grant_type {form.get('grant_type')}")
        audience = f"http://127.0.0.1:{self.server.server_port}/token"
        try:
            claims = jwt.decode(form["assertion"][0], certs={key_id: public_pem}, audience=audience)
        except Exception as error:  # the reason goes back to the test
            return self.refuse(400, f"assertion refused: {error}")
        if claims.get("scope") != SCOPE:
            return self.refuse(400, f"scope {claims.get('scope')}")
        if not 0 < claims["exp"] - claims["iat"] <= 3600:
            return self.refuse(400, "exp must be within an hour of iat")
        with lock:
            stats["exchanges"] += 1
            number = stats["exchanges"]
        self.answer(200, {"access_token": f"sa-token-{number}", "expires_in": expires_in, "token_type": "Bearer"})

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                return self.answer(200, dict(stats))
        if self.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.refuse(403, "metadata request without Metadata-Flavor: Google")
            with lock:
                stats["metadata"] += 1
                number = stats["metadata"]
            return self.answer(200, {"access_token": f"md-token-{number}", "expires_in": expires_in, "token_type": "Bearer"})
        self.refuse(404, f"no such path {self.path}")

    def log_message(self, *arguments):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
