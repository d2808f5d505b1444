#!/usr/bin/env python3
"""Checks the /metrics of the real binary in each of its roles with Prometheus's own linter: starts
`serve` and `work` on one key prefix and `run` on another, sends them signed webhooks (with
repeats and a forged one) and lets the workers act through a local Track API stand-in, then runs
`promtool check metrics` on each role's /metrics and compares its families with the reference
(`cio-relay config --metrics-markdown`): each role must export what it records, every family must
be documented, and promtool must find nothing. Prints a line per role; exits 1 on a failure.
Usage: check-metrics.py BINARY REDIS_PORT WORKDIR
"""
import os
import re
import subprocess
import sys
import time
import urllib.request

from relaytest.net import free_port

binary, redis_port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(work, exist_ok=True)
secret = "metrics-check-key"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROCESS = {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
           "process_open_fds", "process_max_fds", "process_start_time_seconds"}
COMMON = PROCESS | {"cio_relay_build_info", "cio_relay_redis_up"}
RECEIVER = {"cio_relay_webhooks_received_total", "cio_relay_enqueue_duration_seconds"}
WORKER = {"cio_relay_events_processed_total", "cio_relay_group_lag", "cio_relay_group_pending",
          "cio_relay_group_oldest_unprocessed_age_seconds", "cio_relay_stream_length", "cio_relay_dead_letter_length",
          "cio_relay_track_requests_total", "cio_relay_track_request_duration_seconds", "cio_relay_warehouse_rows_total",
          "cio_relay_warehouse_batch_duration_seconds"}
children = []


def fail(message):
    print(f"metrics: FAILED: {message}", file=sys.stderr)
    for name in sorted(os.listdir(work)):
        if name.endswith(".log"):
            print(f"--- {name}", file=sys.stderr)
            print("".join(open(os.path.join(work, name), errors="replace").readlines()[-15:]), file=sys.stderr)
    sys.exit(1)


def get(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()


def wait_ready(admin, name):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            get(f"http://127.0.0.1:{admin}/readyz")
            return
        except OSError:
            time.sleep(0.2)
    fail(f"{name} was not ready within 60 s")


def start(role, prefix, extra):
    port, admin = free_port(), free_port()
    env = dict(os.environ, CUSTOMERIO_WEBHOOK_SECRET=secret, REDIS_URL=f"redis://127.0.0.1:{redis_port}", PORT=str(port),
               ADMIN_PORT=str(admin), CIO_RELAY_BIND="127.0.0.1", CIO_RELAY_KEY_PREFIX=prefix, LOG_LEVEL="warning",
               CIO_RELAY_CONSUMER_NAME=f"{role}-check", **extra)
    log = open(os.path.join(work, f"{role}.log"), "wb")
    children.append(subprocess.Popen([binary, role], env=env, stderr=log))
    wait_ready(admin, role)
    return port, admin


def send(port, count):
    url = f"http://127.0.0.1:{port}/webhooks/customerio"
    result = subprocess.run([binary, "send", "--url", url, "--count", str(count), "--duplicates", "0.2", "--secret", secret,
                             "--people", "20", "--run-id", f"m{os.getpid()}x{port}"], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"send to {url} failed: {result.stderr or result.stdout}")
    # A forged one, so the refusals are counted too.
    request = urllib.request.Request(url, data=b'{"event_id":"x"}', method="POST",
                                     headers={"X-CIO-Timestamp": str(int(time.time())), "X-CIO-Signature": "00" * 32})
    try:
        urllib.request.urlopen(request, timeout=5)
        fail("a forged webhook was accepted")
    except urllib.error.HTTPError as error:
        if error.code != 401:
            fail(f"a forged webhook answered {error.code}")


def progress(admin):
    """Events the actions group finished and rows the warehouse group wrote, from the worker's counters."""
    text = get(f"http://127.0.0.1:{admin}/metrics")
    actions = sum(float(v) for v in re.findall(r'^cio_relay_events_processed_total\{group="actions"[^}]*\} (\S+)$', text, re.M))
    rows = sum(float(v) for v in re.findall(r'^cio_relay_warehouse_rows_total\{[^}]*\} (\S+)$', text, re.M))
    return actions, rows


def wait_processed(admin, name):
    deadline = time.time() + 60
    while time.time() < deadline:
        actions, rows = progress(admin)
        if actions > 0 and rows > 0:
            return
        time.sleep(0.5)
    fail(f"{name}: the workers did not finish events within 60 s (actions events, warehouse rows): {progress(admin)}")


def families(text):
    return {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}


def documented():
    table = subprocess.run([binary, "config", "--metrics-markdown"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))


def check(role, admin, expected, reference):
    # The readiness check sets cio_relay_redis_up; the kubelet's probes do this in a cluster.
    get(f"http://127.0.0.1:{admin}/readyz")
    # The per-group gauges come from the workers' periodic queue figures (every 5 s), which may
    # not have run yet when the first events are done: wait for them, up to 30 s.
    deadline = time.time() + 30
    text = get(f"http://127.0.0.1:{admin}/metrics")
    while expected - set(families(text)) and time.time() < deadline:
        time.sleep(0.5)
        text = get(f"http://127.0.0.1:{admin}/metrics")
    path = os.path.join(work, f"{role}.metrics")
    open(path, "w").write(text)
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    problems = (lint.stdout + lint.stderr).strip()
    if lint.returncode != 0 or problems:
        fail(f"promtool check metrics on {role} (exit {lint.returncode}): {problems} (exposition in {path})")
    exported = families(text)
    missing = expected - set(exported)
    if missing:
        fail(f"{role} does not export {sorted(missing)} after traffic")
    undocumented = set(exported) - reference
    if undocumented:
        fail(f"{role} exports families the reference does not list: {sorted(undocumented)}")
    helped = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ") and len(line.split(maxsplit=3)) == 4}
    if set(exported) - helped:
        fail(f"{role}: families without HELP: {sorted(set(exported) - helped)}")
    print(f"metrics: {role}: promtool check metrics passes; {len(exported)} families, {len(text.splitlines())} lines, all documented with HELP")


try:
    stub_port_file = os.path.join(work, "track.port")
    children.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "IntegrationTests", "track-stub.py"), os.path.join(work, "track.requests")],
                                     stdout=open(stub_port_file, "w")))
    deadline = time.time() + 10
    while time.time() < deadline and not open(stub_port_file).read().strip():
        time.sleep(0.1)
    track = {"CUSTOMERIO_SITE_ID": "check-site", "CUSTOMERIO_TRACK_API_KEY": "check-key",
             "CUSTOMERIO_TRACK_URL": f"http://127.0.0.1:{open(stub_port_file).read().strip()}"}
    reference = documented()
    prefix = f"metrics{os.getpid()}"
    serve_port, serve_admin = start("serve", prefix + "a", {})
    _, work_admin = start("work", prefix + "a", dict(track, WAREHOUSE_URL=f"sqlite:{work}/work.sqlite"))
    run_port, run_admin = start("run", prefix + "b", dict(track, WAREHOUSE_URL=f"sqlite:{work}/run.sqlite"))
    send(serve_port, 60)
    send(run_port, 60)
    wait_processed(work_admin, "work")
    wait_processed(run_admin, "run")
    check("serve", serve_admin, COMMON | RECEIVER, reference)
    check("work", work_admin, COMMON | WORKER, reference)
    check("run", run_admin, COMMON | RECEIVER | WORKER, reference)
finally:
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
