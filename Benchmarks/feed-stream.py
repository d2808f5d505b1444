#!/usr/bin/env python3
"""Appends events to the events stream at a steady RATE per second for SECONDS, each stamped with
the time it was added (field rt, ms), as the receiver does. Talks RESP over a plain socket.
Usage: feed-stream.py PORT PREFIX RATE SECONDS"""
import random, socket, sys, time

from sample_events import event_body, resp_command

port, prefix, rate, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
stream = ("%s:{0}:events" % prefix).encode()
rng = random.Random(5)
mix = [("email", "sent"), ("email", "delivered"), ("email", "opened"), ("email", "clicked"), ("push", "delivered"), ("sms", "sent")]




sock = socket.create_connection(("127.0.0.1", port))
tick = 0.02  # send every 20 ms
per_tick = max(1, round(rate * tick))
start = time.time()
sent = 0
while time.time() - start < seconds:
    now_ms = int(time.time() * 1000)
    chunk = []
    for _ in range(per_tick):
        object_type, metric = rng.choice(mix)
        body = event_body(rng, "01FEED%020d" % sent, object_type, metric, rng.randrange(1, 50000), now_ms // 1000)
        chunk.append(resp_command("XADD", stream, "*", "body", body, "ws", "default", "rt", now_ms, "t", object_type, "m", metric))
        sent += 1
    sock.sendall(b"".join(chunk))
    replies = 0
    buffer = b""
    while replies < per_tick:
        buffer += sock.recv(65536)
        replies = buffer.count(b"\r\n")
    next_tick = start + (sent / per_tick) * tick
    time.sleep(max(0, next_tick - time.time()))
print(sent)
