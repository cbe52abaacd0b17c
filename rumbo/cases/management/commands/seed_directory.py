"""``rumbo seed_directory --office CODE [--demo]``: give an office the default service catalogue and
procedure types (idempotent: what exists is left as the office keeps it)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from rumbo.cases.services.directory import directory_seed
from rumbo.offices.models import Office


class Command(BaseCommand):
    help = (
        "Seed an office's service catalogue (CURP, birth record, apostille, INE, IMSS, schooling, jobs, "
        "legal, psychosocial, shelter, family search, remains, programmes) and procedure types. "
        "Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--office", required=True, help="Office code, e.g. ofam-mich.")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Also add a few Michoacán institutions marked “(demo)”, for demonstrations only.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        office = Office.objects.filter(code=options["office"]).first()
        if office is None:
            raise CommandError(_("No office has the code “%(code)s”.") % {"code": options["office"]})
        result = directory_seed(office=office, demo=options["demo"])
        self.stdout.write(
            _(
                "%(office)s: %(services)d services, %(kinds)d procedure types, %(institutions)d institutions "
                "and %(offerings)d offerings added."
            )
            % {
                "office": office.name,
                "services": len(result.services),
                "kinds": len(result.procedure_kinds),
                "institutions": len(result.institutions),
                "offerings": result.offerings,
            }
        )
