"""Print a new API token: a pipeline's (--system or --source) or a person's (--user)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from registry.models import AISystem, DataSource
from registry.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token and print it (shown once; only its hash is stored)."

    def add_arguments(self, parser):
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--system", metavar="SLUG", help="a pipeline token for this AI system")
        scope.add_argument("--source", metavar="SLUG", help="a pipeline token for this data source")
        scope.add_argument("--user", metavar="NAME", help="a personal token for this username")
        parser.add_argument("--name", default="", help="what uses the token (default: cli)")

    def handle(
        self, *args, system: str | None, source: str | None, user: str | None, name: str, **options
    ):
        owner = None
        target = None
        data_source = None
        if system:
            target = AISystem.objects.filter(slug=system).first()
            if target is None:
                raise CommandError(f"No AI system with slug {system!r}.")
        elif source:
            data_source = DataSource.objects.filter(slug=source).first()
            if data_source is None:
                raise CommandError(f"No data source with slug {source!r}.")
        else:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user named {user!r}.")
        try:
            _token, secret = api_token_create(
                by=None, name=name or "cli", system=target, data_source=data_source, user=owner
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(secret)
