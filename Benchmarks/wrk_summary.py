#!/usr/bin/env python3
"""Reads wrk's output (run with --latency): requests, req/s, p50, p99, non-2xx answers and socket
errors. Used by the receiver benchmarks. As a command it prints one line for a run and writes the
req/s to FILE.rps.
Usage: wrk_summary.py NAME FILE
"""
import re
import sys


def milliseconds(value, text):
    match = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if not match:
        sys.exit(f"cannot read latency {value!r} in:\n{text}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[match.group(2)]


def parse(text):
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50": milliseconds(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1), text),
        "p99": milliseconds(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1), text),
        "non2xx": int((re.search(r"Non-2xx or 3xx responses: (\d+)", text) or [0, 0])[1]),
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
    }


if __name__ == "__main__":
    name, path = sys.argv[1], sys.argv[2]
    run = parse(open(path).read())
    print(f"{name:8s} requests={run['requests']} req/s={run['rps']:.0f} p50={run['p50']:.2f}ms p99={run['p99']:.2f}ms "
          f"non2xx={run['non2xx']} socket_errors={run['socket_errors']}")
    open(path + ".rps", "w").write(str(run["rps"]))
