"""`manage.py prune_metrics [--dry-run]`: delete raw metric points past the retention."""

from __future__ import annotations

import argparse

from django.conf import settings
from django.core.management.base import BaseCommand

from registry.services import metric_points_prune
from registry.services.retention import PRUNE_BATCH_SIZE


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


class Command(BaseCommand):
    """Run the daily prune now; --dry-run only counts what it would delete and rebuild."""

    help = (
        "Delete raw metric points older than METRIC_RETENTION_DAYS (whole UTC days), "
        "after checking their rollups, which are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted; write nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=PRUNE_BATCH_SIZE,
            help=f"points per DELETE statement (default {PRUNE_BATCH_SIZE})",
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options) -> None:
        result = metric_points_prune(batch_size=batch_size, dry_run=dry_run)
        before = result.cutoff.isoformat().replace("+00:00", "Z")
        retention = f"retention {settings.METRIC_RETENTION_DAYS} days"
        if result.skipped:
            self.stdout.write("another prune is running; nothing done")
        elif dry_run:
            self.stdout.write(
                f"dry run: would delete {result.deleted} metric points before {before} "
                f"({retention}); would rebuild {result.rebuilt} rollup days first"
            )
        else:
            self.stdout.write(
                f"deleted {result.deleted} metric points before {before} ({retention}) "
                f"in {result.batches} batches; rebuilt {result.rebuilt} rollup days first"
            )
