"""Writes RESP for Benchmarks/redis-cost.sh: EVENTS events as the receiver stores them (a 700-byte
body and its six fields, Customer.io-like 26-character event ids, the 7-day TTL), sent as
  script BATCH   the script read from stdin, called with BATCH events a call (`EVAL`)
  set            a plain `SET marker id NX EX ttl` per event
  xadd           a plain `XADD` of the entry per event
  both           the two, per event
Usage: redis-cost.py MODE EVENTS [BATCH] < script.lua > commands.resp
"""
import os
import sys


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


mode, events = sys.argv[1], int(sys.argv[2])
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1
script = sys.stdin.read() if mode == "script" else ""
body = (b'{"data":{"action_id":1,"customer_id":"c","delivery_id":"d","identifiers":{"id":"c"},'
        b'"recipient":"x@example.com"},"x":"' + b"a" * 560 + b'"}')
tag = os.urandom(2).hex()
out = sys.stdout.buffer


def fields(index):
    return [b"body", body, "ws", "default", "rt", 1767235000123 + index, "t", "email", "m", "delivered", "v", 2]


def marker(index):
    return "cio:{0}:seen:" + "01J%s%019d" % (tag, index)


index = 0
while index < events:
    if mode == "script":
        keys, args = ["cio:{0}:events"], [604800]
        for _ in range(min(batch, events - index)):
            keys.append(marker(index))
            args += [12] + fields(index)
            index += 1
        out.write(resp(["EVAL", script, len(keys)] + keys + args))
        continue
    if mode in ("set", "both"):
        out.write(resp(["SET", marker(index), "1767235000123-%d" % index, "NX", "EX", 604800]))
    if mode in ("xadd", "both"):
        out.write(resp(["XADD", "cio:{0}:events", "*"] + fields(index)))
    index += 1
