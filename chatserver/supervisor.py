"""`serve --workers N`: bind once, run N worker processes on the shared socket, restart any that die.

Each worker is `python -m chatserver serve --worker-fd FD` with the settings in its environment;
signals reach every worker (SIGHUP reloads rooms, SIGTERM/SIGINT stop them), and the workers
share their metrics through files in a directory that lives as long as the supervisor.
No uvicorn here: the workers import it, the supervisor only watches them.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from chatserver.metrics import MULTIPROCESS_ENV
from chatserver.settings import Settings

log = logging.getLogger("chatserver")

#: How often the supervisor looks for a worker that exited.
POLL_S = 0.2
#: Seconds the workers get to finish after SIGTERM/SIGINT before they are killed.
STOP_GRACE_S = 15


def supervise(settings: Settings) -> int:
    """Run `settings.workers` workers until SIGTERM or SIGINT; the exit status for the command."""
    sock = _listen(settings)
    if sock is None:
        return 1
    # Workers share their metrics through files here, so any worker can answer /metrics for all.
    metrics_dir = tempfile.mkdtemp(prefix="chatserver-metrics-")
    try:
        Supervisor(settings, sock, metrics_dir).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _listen(settings: Settings) -> socket.socket | None:
    """The socket every worker accepts on; None (and why, on stderr) when the address is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        print(
            f"chatserver: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr
        )
        return None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """N worker processes on one inherited socket: forwards signals, replaces a worker that dies.

    Args:
        settings: what every worker runs with (passed through its environment).
        sock: the bound, listening socket the workers inherit.
        metrics_dir: prometheus-client's multiprocess directory, shared by the workers.
    """

    def __init__(self, settings: Settings, sock: socket.socket, metrics_dir: str) -> None:
        self.count = settings.workers
        self.metrics_dir = metrics_dir
        self._sock = sock  # held: the workers' inherited descriptor must stay open
        self._fd = sock.fileno()
        self._env = {**os.environ, **settings.to_env(), MULTIPROCESS_ENV: metrics_dir}
        # One ban-evasion key for all workers, in their memory only (moderation/evasion.py).
        self._env.setdefault("CHATSERVER_EVASION_SECRET", secrets.token_hex(32))
        self._argv = [sys.executable, "-m", "chatserver", "serve", "--worker-fd", str(self._fd)]
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def spawn(self, index: int) -> subprocess.Popen[bytes]:
        # Retention purges run in the first worker only, so N workers never purge at once.
        env = self._env if index == 0 else {**self._env, "CHATSERVER_RETENTION_DAYS": "0"}
        return subprocess.Popen(self._argv, env=env, pass_fds=(self._fd,))

    def forward(self, signum: int, _frame: FrameType | None) -> None:
        """Pass a signal to every live worker; SIGTERM and SIGINT also stop supervising."""
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signum)

    def run(self) -> None:
        """Start the workers and keep them running until stopped, then wait for them to exit."""
        self.workers = [self.spawn(i) for i in range(self.count)]
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.forward)
        log.info("supervising %d workers", self.count)
        while not self.stopping:
            time.sleep(POLL_S)
            self._replace_exited()
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.workers:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()

    def _replace_exited(self) -> None:
        for i, proc in enumerate(self.workers):
            if proc.poll() is not None and not self.stopping:
                log.warning("worker %d exited with %s; starting a new one", proc.pid, proc.returncode)
                mark_process_dead(proc.pid, self.metrics_dir)  # its live gauges go; its counters stay
                self.workers[i] = self.spawn(i)
