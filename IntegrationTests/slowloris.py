#!/usr/bin/env python3
"""1,000 connections that never finish their headers against the real `cio-relay serve`, in a
process of its own: genuine signed webhooks must still be answered within Customer.io's 4 s, every
stalled connection must be closed by the server's request timeout, nothing may be queued for them,
and the receiver's resident memory must stay bounded. Prints the figures; exits 1 on a failure.
Usage: slowloris.py BINARY REDIS_PORT WORKDIR
"""
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.request

from relaytest.net import free_port
from relaytest.signing import customerio_headers

binary, redis_port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(work, exist_ok=True)
secret = "slowloris-key"
prefix = f"slowloris{os.getpid()}"


def fail(message):
    print(f"slowloris: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def resident_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def queued():
    out = subprocess.run(["redis-cli", "-p", str(redis_port), "XLEN", f"{prefix}:{{0}}:events"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


port, admin = free_port(), free_port()
env = dict(os.environ, CUSTOMERIO_WEBHOOK_SECRET=secret, REDIS_URL=f"redis://127.0.0.1:{redis_port}", PORT=str(port),
           ADMIN_PORT=str(admin), CIO_RELAY_BIND="127.0.0.1", CIO_RELAY_KEY_PREFIX=prefix, CIO_RELAY_REQUEST_TIMEOUT="2",
           LOG_LEVEL="warning")
server = subprocess.Popen([binary, "serve"], env=env, stderr=open(os.path.join(work, "serve.log"), "wb"))
try:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        fail("the receiver was not ready within 60 s")
    before = resident_kib(server.pid)

    stalled = []
    for index in range(1000):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(f"POST /webhooks/customerio HTTP/1.1\r\nHost: x\r\nX-Slow-{index}: ".encode())
        stalled.append(connection)
    during = resident_kib(server.pid)

    slowest = 0.0
    for _ in range(20):
        event_id = "01SLOW" + os.urandom(8).hex().upper()
        body = json.dumps({"event_id": event_id, "object_type": "email", "metric": "delivered", "timestamp": int(time.time()),
                           "data": {"identifiers": {"id": "u1"}}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/customerio", data=body, method="POST",
                                         headers={"Content-Type": "application/json", **customerio_headers(secret, body)})
        start = time.monotonic()
        answer = urllib.request.urlopen(request, timeout=10)
        slowest = max(slowest, time.monotonic() - start)
        if answer.status != 200:
            fail(f"a genuine webhook was answered {answer.status}")
    if slowest >= 4:
        fail(f"a genuine webhook took {slowest:.2f} s, past Customer.io's 4 s")

    open_sockets = {connection.fileno(): connection for connection in stalled}
    deadline = time.monotonic() + 30
    while open_sockets and time.monotonic() < deadline:
        poller = select.poll()  # select() cannot watch 1,000 descriptors
        for descriptor in open_sockets:
            poller.register(descriptor, select.POLLIN)
        for descriptor, _ in poller.poll(200):
            try:
                data = open_sockets[descriptor].recv(4096)
            except OSError:
                data = b""
            if not data:
                open_sockets.pop(descriptor).close()
    closed = len(stalled) - len(open_sockets)
    after = resident_kib(server.pid)
    stored = queued()
    print(f"slowloris: 1000 stalled connections: {closed} closed by the server within its 2 s request timeout (+ up to 30 s of slack); "
          f"20 genuine webhooks answered 200, slowest {slowest * 1000:.0f} ms; {stored} queued; "
          f"receiver RSS {before // 1024} MiB before, {during // 1024} MiB with the connections open, {after // 1024} MiB after")
    if closed != 1000:
        fail(f"{1000 - closed} stalled connections were still open")
    if stored != 20:
        fail(f"{stored} events queued, expected the 20 genuine ones")
    if during - before > 200 * 1024:
        fail("1,000 stalled connections cost the receiver more than 200 MiB")
finally:
    server.terminate()
    server.wait(timeout=20)
