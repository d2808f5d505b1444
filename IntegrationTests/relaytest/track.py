"""The Track API stand-in: an HTTP server (on a free loopback port unless told otherwise) whose
answers come from a function, so that each check says only how Customer.io behaves for it
(applies and records, refuses, fails on command) and not how to speak HTTP."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    """What the stand-in received: method, path, headers and the whole body."""

    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body


class Answer:
    """What to answer: a status, a JSON body (bytes) and extra headers; `hang_up` closes the
    connection without an answer (a server that gave up)."""

    def __init__(self, status=200, body=b"{}", headers=None, hang_up=False):
        self.status, self.body, self.headers, self.hang_up = status, body, headers or {}, hang_up


def serve(respond, port=0, host="127.0.0.1"):
    """Starts the stand-in in a daemon thread; `respond(Request) -> Answer` is called for every
    GET, PUT and POST. Answers (server, port)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without this, Nagle plus the client's delayed ACK
        # hold every answer ~40 ms, which no real API does.
        disable_nagle_algorithm = True

        def handle_request(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = respond(Request(self.command, self.path, self.headers, body))
            if answer.hang_up:
                self.close_connection = True
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = handle_request
        do_PUT = handle_request
        do_POST = handle_request

        def log_message(self, *arguments):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]
