#!/usr/bin/env python3
"""A TCP proxy in front of one server on its test host, so that a link can be made slow: kernel
netem is not available on these machines. Connections from each client address get that client's
settings, read from a JSON file ({"10.78.0.5": {"latency_ms": 200, "rate": 20000, "stall": 0.05}})
whenever it changes: latency delays each chunk one way, `rate` caps bytes per second one way,
`stall` is the chance that a chunk waits another 0.2–1 s (what a lost segment costs TCP). Order
is kept; a reset or close on one side closes the other.
Usage: linkproxy.py LISTEN_HOST LISTEN_PORT TARGET_PORT SETTINGS_FILE   (target on 127.0.0.1)
"""
import asyncio
import json
import os
import random
import sys

listen_host, listen_port, target_port, settings_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
settings = {}


async def reload_settings():
    global settings
    seen = None
    while True:
        try:
            stamp = os.stat(settings_path).st_mtime_ns
            if stamp != seen:
                seen = stamp
                settings = json.load(open(settings_path))
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.1)


async def pump(reader, writer, client):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read():
        try:
            while True:
                data = await reader.read(65536)
                link = settings.get(client) or {}
                delay = link.get("latency_ms", 0) / 1000
                if data and random.random() < link.get("stall", 0):
                    delay += random.uniform(0.2, 1.0)
                await queue.put((loop.time() + delay, data))
                if not data:
                    return
        except OSError:
            await queue.put((loop.time(), None))

    reading = asyncio.ensure_future(read())
    try:
        while True:
            due, data = await queue.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if not data:
                break
            writer.write(data)
            await writer.drain()
            rate = (settings.get(client) or {}).get("rate", 0)
            if rate:
                await asyncio.sleep(len(data) / rate)
    except OSError:
        pass
    finally:
        reading.cancel()
        writer.close()


async def serve(client_reader, client_writer):
    client = client_writer.get_extra_info("peername")[0]
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    # Either direction ending ends both: a proxy has no half-open connections to keep.
    directions = [asyncio.ensure_future(pump(client_reader, server_writer, client)),
                  asyncio.ensure_future(pump(server_reader, client_writer, client))]
    await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
    for direction in directions:
        direction.cancel()
    server_writer.close()
    client_writer.close()


async def main():
    asyncio.ensure_future(reload_settings())
    server = await asyncio.start_server(serve, listen_host, listen_port, reuse_address=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
