"""``rumbo rebuild_match_index``: recompute the duplicate-detection blocking keys from the stored profiles.

Run it after an upgrade that changes how keys are made (the release notes say so); intake and batch
deduplication then find the same pairs again. It takes about a minute per million persons.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from tqdm import tqdm

from rumbo.matching.index import rebuild_keys
from rumbo.matching.models import MatchProfile


class Command(BaseCommand):
    help = "Recompute the blocking keys of duplicate detection from the stored profiles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        with scopes_disabled():
            total = MatchProfile._base_manager.count()
            quiet = options["no_progress"] or options["verbosity"] == 0
            with tqdm(total=total, unit=" persons", unit_scale=True, disable=quiet) as bar:
                written = rebuild_keys(progress=bar.update)
            self.stdout.write(
                _("%(keys)s keys written for %(persons)s persons.")
                % {"keys": f"{written:,}", "persons": f"{total:,}"}
            )
