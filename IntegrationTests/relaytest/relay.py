"""Driving the relay as the soaks do: the load (`cio-relay send` into each receiver, the same mix
for every soak) under a schedule of faults, waiting until the groups have drained, and the logs'
tails when a run fails."""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

# The load: every object type and metric, a fifth of the sends repeats, 300 people, event times
# spread over an hour so that older events arrive after newer ones.
PEOPLE = 300
TIME_SPREAD_SECONDS = 3600
DUPLICATES = 0.2


def soak_arguments(description, drain_seconds):
    """The command line every soak takes (binary, work folder, seconds, rate, seed, drain time);
    the caller adds its own and then calls `parse`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--seconds", type=int, default=60, help="seconds of load and faults")
    parser.add_argument("--rate", type=float, default=150.0, help="events per second in all")
    parser.add_argument("--seed", type=int, default=None, help="replays an earlier run's schedule (default: a new one)")
    parser.add_argument("--drain-seconds", type=int, default=drain_seconds)
    return parser


def parse(parser):
    """The arguments, with a seed drawn when none was given."""
    arguments = parser.parse_args()
    if arguments.seed is None:
        arguments.seed = random.SystemRandom().randrange(1, 1_000_000)
    return arguments


def send(binary, urls, secret, count, rate, run_id, work, name="sent"):
    """Starts one `cio-relay send` per receiver URL, `count` events at `rate` per second in all,
    each recording its answers in `work`/NAME-I.txt; answers [(process, record)]."""
    senders = []
    for index, url in enumerate(urls, 1):
        record = os.path.join(work, f"{name}-{index}.txt")
        argv = [binary, "send", "--url", url, "--secret", secret, "--count", str(max(1, count // len(urls))),
                "--rate", str(rate / len(urls)), "--concurrency", "16", "--duplicates", str(DUPLICATES),
                "--people", str(PEOPLE), "--time-spread", str(TIME_SPREAD_SECONDS), "--run-id", f"{run_id}S{index}", "--record", record]
        with open(os.path.join(work, f"{name}-{index}.log"), "wb") as output:
            senders.append((subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT), record))
    return senders


def run_under_faults(events, fire, start_load, wait_seconds, log):
    """Starts the load (`start_load()` answers [(process, record)]) and meanwhile, in a thread, each
    (moment, description, fault) of `events` `moment` seconds from now, through `fire(fault)`; waits
    for the load to end (at most `wait_seconds`), then for the fault in progress. Answers the
    senders; raises when a fault could not be injected (a failed run, not a verdict)."""
    started = time.monotonic()
    stop = threading.Event()
    failures = []

    def run():
        for moment, description, fault in events:
            while time.monotonic() - started < moment:
                if stop.is_set():
                    return
                time.sleep(0.05)
            if stop.is_set():
                return
            log(f"{moment:7.1f} s  {description}")
            try:
                fire(fault)
            except Exception as error:  # any failure to inject ends the run
                failures.append(error)
                return

    faults = threading.Thread(target=run, daemon=True)
    faults.start()
    senders = start_load()
    for sender, _ in senders:
        sender.wait(timeout=wait_seconds)
    stop.set()
    faults.join(timeout=60)
    if failures:
        raise RuntimeError(f"a fault could not be injected: {failures[0]}")
    return senders


def drain(binary, env, seconds, groups=("actions", "warehouse")):
    """Waits until no group has anything undelivered or pending; answers (last status, drained?)."""
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        result = subprocess.run([binary, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            status = json.loads(result.stdout)
            found = {group["name"]: group for group in status["groups"]}
            if all(name in found and found[name]["lag"] == 0 and found[name]["pending"] == 0 for name in groups):
                return status, True
        time.sleep(1)
    return status, False


def print_tails(processes):
    """The last lines of each process's log, on standard error: what a failed run shows."""
    for name, process in processes.items():
        if os.path.exists(process.log_path):
            tail = open(process.log_path, "rb").read()[-1500:].decode(errors="replace")
            print(f"--- {name} ({process.log_path})\n{tail}", file=sys.stderr)
