#!/usr/bin/env python3
"""A forwarding destination for the benchmark: answers every request 200 as fast as asyncio can,
counts them, and checks the Standard Webhooks signature of one request in 100 with the
standardwebhooks package (all of them would make the sink, not cio-relay, the bottleneck).
Prints its port once ready; GET /count answers "requests verified failed".
Usage: forward-sink.py SECRET"""
import asyncio
import sys

from standardwebhooks.webhooks import Webhook

webhook = Webhook(sys.argv[1])
state = {"requests": 0, "verified": 0, "failed": 0}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if lines[0].startswith("GET /count"):
                text = "%(requests)d %(verified)d %(failed)d" % state
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text.encode()))
            else:
                state["requests"] += 1
                if state["requests"] % 100 == 1:
                    try:
                        webhook.verify(body, headers)
                        state["verified"] += 1
                    except Exception:
                        state["failed"] += 1
                writer.write(OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
