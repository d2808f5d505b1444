"""Redis servers a check starts again itself (a killed cluster node, a former primary)."""
import os
import subprocess


def start_daemon(folder, listen, *options):
    """redis-server on 127.0.0.1, daemonized, without persistence, with its pid file and log in
    `folder` as scripts/lib.sh lays them out; `listen` is the port options (`--port P`, or the
    TLS ones), `options` the rest (`--cluster-enabled yes`, `--replicaof HOST PORT`, …)."""
    subprocess.run(["redis-server", "--bind", "127.0.0.1", *listen, "--dir", folder, "--daemonize", "yes",
                    "--pidfile", os.path.join(folder, "redis.pid"), "--logfile", os.path.join(folder, "redis.log"),
                    "--save", "", "--appendonly", "no", *options], check=True)
