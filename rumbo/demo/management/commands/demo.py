"""``rumbo demo``: the demo office network, a user for every role, and synthetic persons.

rumbo demo                    network, users and 3,000 realistic persons (once)
rumbo demo --if-empty         the same, but nothing at all if the demo network already exists
rumbo demo --persons 1000000  N more synthetic persons in bulk, with a progress bar
rumbo demo --cases 300000     N more orientation cases (returns, referrals, follow-ups) for those persons
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from tqdm import tqdm

from rumbo.demo.network import URL, Network, load_network, network_exists
from rumbo.demo.services import DEMO_PERSONS, demo_generate


class Command(BaseCommand):
    help = "Build the demo office network with a user for every role, and synthetic persons."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if the demo network already exists."
        )
        parser.add_argument(
            "--persons", type=int, default=None, metavar="N", help="Add N synthetic persons in bulk."
        )
        parser.add_argument(
            "--demo-persons",
            type=int,
            default=DEMO_PERSONS,
            metavar="N",
            help="Size of the realistic demo set (default %(default)s).",
        )
        parser.add_argument(
            "--cases", type=int, default=None, metavar="N", help="Add N orientation cases in bulk."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for reproducible data.")
        parser.add_argument("--batch-size", type=int, default=10_000, help="Persons per transaction.")
        parser.add_argument(
            "--writer",
            choices=["auto", "orm"],
            default="auto",
            help="auto: multi-row INSERT on SQLite, COPY on PostgreSQL; orm: Django's bulk_create.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        with scopes_disabled():
            if options["if_empty"] and network_exists():
                self.stdout.write(_("The demo network already exists: nothing was added."))
                self._print_credentials(load_network(), options["verbosity"])
                return
            total = options["persons"] if options["persons"] is not None else options["demo_persons"]
            with tqdm(
                total=total,
                unit=" persons",
                unit_scale=True,
                disable=options["no_progress"] or options["verbosity"] == 0,
            ) as bar:
                result = demo_generate(
                    persons=options["persons"],
                    demo_persons=options["demo_persons"],
                    seed=options["seed"],
                    batch_size=options["batch_size"],
                    writer=options["writer"],
                    progress=bar.update,
                    cases=options["cases"],
                )
            if result.skipped_persons:
                self.stdout.write(
                    _("The demo offices already hold persons: none added (use --persons N to add more).")
                )
            if result.stats is not None:
                self.stdout.write(
                    _("%(persons)s persons generated in %(seconds).1f s: %(rate)s persons/s (%(writer)s).")
                    % {
                        "persons": f"{result.stats.persons:,}",
                        "seconds": result.stats.seconds,
                        "rate": f"{result.stats.rate:,.0f}",
                        "writer": result.writer,
                    }
                )
            if result.cases is not None:
                self.stdout.write(
                    _("%(cases)s cases generated in %(seconds).1f s.")
                    % {"cases": f"{result.cases.cases:,}", "seconds": result.cases.seconds}
                )
            self._print_credentials(result.network, options["verbosity"])

    def _print_credentials(self, network: Network, verbosity: int) -> None:
        if verbosity == 0:
            return
        rows = network.credentials()
        headers = (_("username"), _("office"), _("role"), _("2FA backup codes"))
        table = [(r.username, r.office, r.role, " ".join(r.backup_codes)) for r in rows]
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *table, strict=False)]
        self.stdout.write("")
        self.stdout.write(
            _("Demo users — password for all: %(password)s") % {"password": settings.RUMBO_DEMO_PASSWORD}
        )
        for line in (headers, *table):
            self.stdout.write(
                "  " + "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
            )
        self.stdout.write("")
        self.stdout.write(_("Open %(url)s and log in.") % {"url": URL})
        self.stdout.write(
            _(
                "Office administrators use two-factor authentication: when asked for a code, enter one of "
                "their backup codes above (each works once)."
            )
        )
