"""Processes a check starts, kills with SIGKILL, stops with SIGTERM and waits for."""
import signal
import subprocess
import time


class Managed:
    """A process that can be killed -9 and started again with the same command and environment;
    its output goes to `log_path`, appended to on every start."""

    def __init__(self, name, argv, env, log_path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process = None

    def start(self):
        log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=log_file, stderr=log_file, start_new_session=True)
        log_file.close()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, seconds=20):
        """SIGTERM, then SIGKILL when it has not exited within `seconds`."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_ready(process, seconds=120, host="127.0.0.1"):
    """Waits until a relay process answers /readyz on its ADMIN_PORT (at `host`: a test host's
    address when it runs in one); raises when it exits or times out."""
    url = f"http://{host}:{process.env['ADMIN_PORT']}/readyz"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process.running():
            raise RuntimeError(f"{process.name} exited with {process.process.returncode}; see {process.log_path}")
        if subprocess.run(["curl", "-fsS", "-o", "/dev/null", url], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} was not ready within {seconds} s; see {process.log_path}")
