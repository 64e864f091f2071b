"""Run the web server, a Celery worker and Celery beat: all together, or one of them."""

import os
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.demo import logins_table
from portal.processes import PROCESSES, simulator_command
from portal.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Without an argument: run web, worker and beat together until Ctrl-C (and the demo's "
        "simulator while DEBUG and SIMULATE are on). "
        "With one (web, worker or beat): run only that program, in the foreground."
    )

    def add_arguments(self, parser):
        parser.add_argument("process", nargs="?", choices=sorted(PROCESSES))

    def handle(self, *args, process: str | None = None, **options):
        if process:
            command = PROCESSES[process]()
            # exec: the program becomes PID 1 of a container and receives its signals.
            os.execv(command[0], command)
        programs = {name: build() for name, build in PROCESSES.items()}
        if settings.DEBUG and settings.SIMULATE:
            programs["simulator"] = simulator_command()
        supervisor = Supervisor(
            programs,
            out=self.stdout,
            on_started=self._announce_when_up,
        )
        sys.exit(supervisor.run())

    def _announce_when_up(self) -> None:
        bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
        host, _, port = bind.rpartition(":")
        host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host
        url = f"http://{host}:{port}/"
        for _attempt in range(240):
            try:
                with urllib.request.urlopen(f"{url}healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            return
        lines = ["", "=" * 64, f"  The portal is up: {url}"]
        if settings.DEBUG:
            lines += ["  Demo logins (user, password, role):", logins_table()]
        if settings.DEBUG and settings.SIMULATE:
            lines.append("  The simulator pushes live metrics (SIMULATE=0 turns it off).")
        lines += ["  Stop everything with Ctrl-C.", "=" * 64, ""]
        self.stdout.write("\n".join(lines))
