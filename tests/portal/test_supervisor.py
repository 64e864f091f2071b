"""The supervisor behind `make run`: prefixed output, and one stop for all."""

import io
import os
import signal
import sys
import threading
import time

from portal.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def group_is_gone(pid: int, within: float = 5.0) -> bool:
    """Whether no process of the group remains (orphans are reaped by init, so allow time)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_child_that_dies_stops_the_others_and_fails_the_run():
    out = io.StringIO()
    supervisor = Supervisor(
        {"sleeper": SLEEPER, "crasher": [sys.executable, "-c", "raise SystemExit(3)"]},
        out=out,
        grace_seconds=5,
    )
    assert supervisor.run() == 1
    assert "crasher exited with status 3; stopping all" in out.getvalue()
    assert all(child.poll() is not None for child in supervisor.children.values())
    assert all(group_is_gone(child.pid) for child in supervisor.children.values())


def test_sigterm_stops_every_child_and_their_forked_children():
    # The child forks a grandchild, as gunicorn and Celery do.
    forker = [
        sys.executable,
        "-c",
        "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nprint('up', flush=True)\n"
        "time.sleep(60)",
    ]
    out = io.StringIO()
    supervisor = Supervisor({"a": SLEEPER, "b": forker}, out=out, grace_seconds=2)

    def stop_soon():
        deadline = time.monotonic() + 10
        while out.getvalue().count("| up") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_soon, daemon=True).start()
    assert supervisor.run() == 0
    text = out.getvalue()
    assert "a | up" in text and "b | up" in text
    assert "all processes stopped" in text
    assert all(group_is_gone(child.pid) for child in supervisor.children.values())
