"""Test hosts for network faults (needs root): each host a network namespace joined by a veth pair
to one bridge, the root namespace at .1; faults between two hosts as nftables rules in the
client's namespace; every server reached through a link proxy on its own host
(IntegrationTests/linkproxy.py) that can slow a link down, as kernel netem is not available."""
import json
import os
import subprocess
import threading
import time

# What each kind of cut does to the packets between a client and a server, as nftables rules:
# (on whose host, chain, match on the other's address, verdict). A reset is rejected on the
# server's host as the client's packets arrive, so that the client gets the reset (checked here:
# a `reject with tcp reset` in the client's own output chain only drops the packet, and one in its
# input chain drops the server's reset too); the server's socket is reset by the client's kernel
# the next time it sends.
CUTS = {
    "black hole": [("client", "out", "daddr", "drop"), ("client", "in", "saddr", "drop")],
    "requests dropped": [("client", "out", "daddr", "drop")],
    "answers dropped": [("client", "in", "saddr", "drop")],
    "reset": [("server", "in", "saddr", "meta l4proto tcp reject with tcp reset")],
}


class Host:
    """One test host: its name, namespace and address."""

    def __init__(self, name, namespace, address):
        self.name, self.namespace, self.address = name, namespace, address

    def argv(self, argv):
        """`argv` run inside this host."""
        return ["ip", "netns", "exec", self.namespace, *argv]


class Lab:
    """The bridge and the hosts on it; `close()` removes them all, as does a later Lab with the same
    prefix (a run that died before cleaning up)."""

    def __init__(self, prefix, subnet):
        self.prefix, self.subnet = prefix, subnet
        self.bridge = f"{prefix}br"
        self.hosts = {}
        self.links = {}           # server host name → its link proxy's settings file
        self.lock = threading.Lock()
        self.remove_leftovers()
        self.ip("link", "add", self.bridge, "type", "bridge")
        self.ip("addr", "add", f"{subnet}.1/24", "dev", self.bridge)
        self.ip("link", "set", self.bridge, "up")
        self.root_address = f"{subnet}.1"

    @staticmethod
    def ip(*arguments, check=True):
        subprocess.run(["ip", *arguments], check=check, capture_output=True, timeout=30)

    def remove_leftovers(self):
        """Removes this prefix's namespaces, killing what still runs in them (a run killed before
        it stopped its processes), and the bridge."""
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        for namespace in namespaces:
            if namespace.startswith(self.prefix):
                pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
                if pids:
                    subprocess.run(["kill", "-9", *pids], capture_output=True)
                self.ip("netns", "del", namespace, check=False)
        self.ip("link", "del", self.bridge, check=False)

    def add(self, name):
        index = len(self.hosts) + 2
        namespace, veth = f"{self.prefix}{index}", f"{self.prefix}v{index}"
        address = f"{self.subnet}.{index}"
        self.ip("netns", "add", namespace)
        self.ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        self.ip("link", "set", veth, "master", self.bridge, "up")
        for command in (["addr", "add", f"{address}/24", "dev", "eth0"], ["link", "set", "eth0", "up"], ["link", "set", "lo", "up"]):
            self.ip("netns", "exec", namespace, "ip", *command)
        host = Host(name, namespace, address)
        self.hosts[name] = host
        return host

    def nft(self, host, script):
        subprocess.run(host.argv(["nft", "-f", "-"]), input=script, text=True, check=True, capture_output=True, timeout=10)

    def cut(self, client, server, kind):
        """Starts a cut of `kind` (CUTS) between two hosts; one cut per pair at a time."""
        for host, other in ((client, server), (server, client)):
            rules = [(chain, match, verdict) for side, chain, match, verdict in CUTS[kind] if (host is client) == (side == "client")]
            if not rules:
                continue
            table = f"cut_{other.namespace}"
            lines = [f"table inet {table} {{",
                     "  chain in { type filter hook input priority 0; }",
                     "  chain out { type filter hook output priority 0; }", "}"]
            lines += [f"add rule inet {table} {chain} ip {match} {other.address} {verdict}" for chain, match, verdict in rules]
            self.nft(host, "\n".join(lines) + "\n")

    def heal(self, client, server):
        for host, other in ((client, server), (server, client)):
            subprocess.run(host.argv(["nft", "delete", "table", "inet", f"cut_{other.namespace}"]), capture_output=True, timeout=10)

    def slow(self, client, server, latency_ms=0, rate=0, stall=0.0):
        """Sets the link proxy's behaviour for connections from `client` to `server` (0: none)."""
        with self.lock:
            path = self.links[server.name]
            settings = json.load(open(path)) if os.path.exists(path) else {}
            settings[client.address] = {"latency_ms": latency_ms, "rate": rate, "stall": stall}
            temporary = path + ".new"
            with open(temporary, "w") as file:
                json.dump(settings, file)
            os.replace(temporary, path)

    def close(self):
        self.remove_leftovers()


def wait_for_port(host, port, seconds=60, process=None):
    """Waits until something accepts TCP connections on host:port (from the root namespace)."""
    import socket
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and not process.running():
            raise RuntimeError(f"{process.name} exited with {process.process.returncode}; see {process.log_path}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing accepts connections on {host}:{port} after {seconds} s")
