"""Run several programs as one: prefixed output, and Ctrl-C stops them all.

Each child runs in its own session so that the terminal's Ctrl-C reaches only
the supervisor, which then stops every child's whole process group (gunicorn
and Celery fork workers of their own) with SIGTERM, and SIGKILL after a grace
period. On Linux each child also gets SIGTERM if the supervisor itself dies,
so even `kill -9` of the supervisor leaves no orphan serving a port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Start named commands, relay their output, stop them together."""

    def __init__(
        self,
        commands: dict[str, list[str]],
        *,
        out: IO[str],
        grace_seconds: float = 15.0,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self.commands = commands
        self.out = out
        self.grace_seconds = grace_seconds
        self.on_started = on_started
        self.children: dict[str, subprocess.Popen[str]] = {}
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._width = max(len(name) for name in commands)

    def write(self, name: str, line: str) -> None:
        """One output line, prefixed with the program's name."""
        with self._write_lock:
            self.out.write(f"{name:<{self._width}} | {line.rstrip()}\n")
            self.out.flush()

    def _relay(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.write(name, line)

    def _request_stop(self, signum: int, frame: object) -> None:
        self._stop.set()

    def start(self) -> None:
        """Start every command in its own process group."""
        for name, command in self.commands.items():
            child = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            self.children[name] = child
            threading.Thread(target=self._relay, args=(name, child.stdout), daemon=True).start()
            self.write("portal", f"started {name} (pid {child.pid}): {' '.join(command)}")

    def stop(self) -> None:
        """SIGTERM each program, then SIGKILL its whole group after the grace period.

        Only the group leader gets SIGTERM: gunicorn and the Celery worker stop
        their own forked workers gracefully, which a group-wide SIGTERM would cut short.
        """
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in self.children.values():
            # The group may still hold forked workers even if the leader has exited.
            self._signal_group(child, signal.SIGKILL)
            child.wait()

    @staticmethod
    def _signal_group(child: subprocess.Popen[str], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    def run(self) -> int:
        """Run until Ctrl-C/SIGTERM (exit 0) or until a child dies (exit 1)."""
        previous = {
            signum: signal.signal(signum, self._request_stop)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        exit_code = 0
        try:
            self.start()
            if self.on_started:
                threading.Thread(target=self.on_started, daemon=True).start()
            while not self._stop.wait(0.5):
                dead = [name for name, child in self.children.items() if child.poll() is not None]
                if dead:
                    for name in dead:
                        code = self.children[name].returncode
                        self.write("portal", f"{name} exited with status {code}; stopping all")
                    exit_code = 1
                    break
        finally:
            self.write("portal", "stopping all processes")
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.write("portal", "all processes stopped")
        return exit_code
