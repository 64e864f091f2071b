"""Load the demo data (idempotent)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.demo import demo_load, logins_table


class Command(BaseCommand):
    help = "Load the demo data and the demo logins (one per role). Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load even with DEBUG off (the demo logins have published passwords).",
        )

    def handle(self, *args, allow_production: bool = False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Refusing to create demo logins with published passwords while DEBUG is off; "
                "pass --allow-production if this really is a demo installation."
            )
        demo_load()
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Logins (user, password, role):"))
        self.stdout.write(logins_table())
