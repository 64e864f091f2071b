"""Push live demo metrics through the REST API every few seconds (what `make run` starts)."""

import os
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.simulator import Simulator, simulator_tokens, simulator_tokens_revoke, utcnow

BREACH_TOKENS = "simulator-breach"


def default_url() -> str:
    host, _, port = os.environ.get("WEB_BIND", "127.0.0.1:8000").rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host
    return f"http://{host}:{port}"


class Command(BaseCommand):
    help = (
        "Push metrics for the demo systems through the real REST API every few seconds, "
        "with an occasional bad batch for a running rollout's candidate. Ctrl-C stops it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=default_url(), help="the portal (default: WEB_BIND)")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between pushes")
        parser.add_argument(
            "--breach-every",
            type=float,
            default=1800.0,
            help="seconds between bad batches for a running rollout (0: never)",
        )
        parser.add_argument("--ticks", type=int, default=0, help="stop after this many (0: never)")
        parser.add_argument(
            "--breach-now",
            action="store_true",
            help="send one bad batch for each running rollout and stop (beside a running "
            "simulator: it uses tokens of its own)",
        )
        parser.add_argument(
            "--allow-production", action="store_true", help="run even with DEBUG off"
        )

    def handle(
        self, *args, url, interval, breach_every, ticks, breach_now, allow_production, **options
    ):
        if not settings.DEBUG and not allow_production:
            raise CommandError("The simulator pushes made-up metrics; it runs with DEBUG on only.")
        if interval <= 0:
            raise CommandError("--interval must be positive.")
        self._wait_for(url)
        if breach_now:
            self._breach_now(url)
            return
        systems, sources = simulator_tokens()
        simulator = Simulator(
            base_url=url.rstrip("/"),
            systems=systems,
            sources=sources,
            log=self._say,
            breach_every=timedelta(seconds=breach_every) if breach_every > 0 else None,
        )
        self._say(
            f"simulating {len(systems)} systems and {len(sources)} sources every {interval:g} s"
        )
        done = 0
        while not ticks or done < ticks:
            started = time.monotonic()
            sent = simulator.tick(utcnow())
            done += 1
            if done % 60 == 1:
                self._say(f"tick {done}: {sent} points accepted")
            time.sleep(max(interval - (time.monotonic() - started), 0))

    def _breach_now(self, url: str) -> None:
        systems, sources = simulator_tokens(name=BREACH_TOKENS)
        simulator = Simulator(
            base_url=url.rstrip("/"),
            systems=systems,
            sources=sources,
            log=self._say,
            breach_every=None,
        )
        try:
            simulator.breach(utcnow())
        finally:
            simulator_tokens_revoke(name=BREACH_TOKENS)

    def _say(self, line: str) -> None:
        # Flushed at once: under `make run` the output is a pipe to the supervisor.
        self.stdout.write(line)
        self.stdout.flush()

    def _wait_for(self, url: str) -> None:
        """The web server starts beside us under `make run`: wait for it (two minutes at most)."""
        import urllib.request

        for _attempt in range(240):
            try:
                with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise CommandError(f"The portal does not answer at {url}.")
