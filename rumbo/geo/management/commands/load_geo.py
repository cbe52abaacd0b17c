"""``rumbo load_geo``: (re)load the shipped administrative areas. Safe to run any number of times."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from rumbo.geo.loader import load_areas
from rumbo.geo.models import AdminArea


class Command(BaseCommand):
    help = "Load or refresh administrative areas from rumbo/geo/data (codes are the keys; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            created = load_areas(AdminArea)
        total = AdminArea.objects.count()
        self.stdout.write(
            _("Administrative areas: %(total)s in total, %(created)s created, %(kept)s refreshed.")
            % {"total": total, "created": created, "kept": total - created}
        )
        rows = (
            AdminArea.objects.values("country", "level").annotate(n=Count("id")).order_by("country", "level")
        )
        for row in rows:
            level = AdminArea.Level(row["level"]).label
            self.stdout.write(f"  {row['country']}  {level}: {row['n']}")
