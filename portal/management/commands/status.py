"""Show whether the portal's dependencies and its background processes are alive."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal import health, selectors
from portal.celery import app


class Command(BaseCommand):
    help = (
        "Check the database and the broker, ping the Celery workers, and show when "
        "each worker last ran beat's heartbeat. Exits 1 when something is down."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=3.0, help="Seconds to wait for pongs.")

    def handle(self, *args, timeout: float = 3.0, **options):
        problems = []
        for name, state in health.readiness().items():
            self.stdout.write(f"{name:<9} {state}")
            if state != "ok":
                problems.append(name)

        replies = app.control.ping(timeout=timeout) if "broker" not in problems else []
        workers = sorted(name for reply in replies for name in reply)
        self.stdout.write(
            f"workers   {', '.join(workers) if workers else 'none answered the ping'}"
        )
        if not workers:
            problems.append("worker")

        if "database" not in problems:
            now = timezone.now()
            heartbeats = list(selectors.worker_heartbeats()[:10])
            for beat in heartbeats:
                age = int((now - beat.seen_at).total_seconds())
                self.stdout.write(f"heartbeat {beat.hostname}: {age} s ago")
            if not selectors.worker_alive():
                self.stdout.write("heartbeat none recent: is beat running? (it sends one a minute)")
                problems.append("beat")

        if problems:
            raise CommandError(f"not healthy: {', '.join(problems)}")
        self.stdout.write(self.style.SUCCESS("all healthy"))
