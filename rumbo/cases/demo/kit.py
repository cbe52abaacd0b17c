"""Per office, what the case generator needs: its directory (seeded when empty), its caseworkers, its time
zone and its case numbering."""

from __future__ import annotations

import hashlib
import zoneinfo
from dataclasses import dataclass, field
from datetime import date

from rumbo.cases.forms_tasks import case_workers
from rumbo.cases.models import (
    Institution,
    Offering,
    Service,
)
from rumbo.cases.services.tasks import (
    office_zone,
    referral_followup_title,
)
from rumbo.offices.models import Office

CONSENT_VERSION = "demo-2026-01"
CONSENT_TEXT_SHA256 = hashlib.sha256(b"Rumbo demo consent text, version demo-2026-01").hexdigest()
#: The demo window that offers the services no institution of an office's directory answers.
FALLBACK_INSTITUTION = "Ventanilla única de canalización (demo)"
ANALYZE_THRESHOLD = 10_000  # cases: refresh the planner's statistics after loading at least this many


# --- Per office --------------------------------------------------------------------------------------------


@dataclass
class OfficeKit:
    """What the generator needs of one office: its directory, workers, time zone and case numbering."""

    office: Office
    zone: zoneinfo.ZoneInfo
    workers: list[int]
    offerings: dict[str, list[tuple[int, date, date | None, str]]]  # need → (id, from, until, title)
    sequences: dict[int, int] = field(default_factory=dict)  # year → last sequence number used
    prefix: str = ""

    def number(self, year: int) -> str:
        from rumbo.cases.services.cases import format_number, next_case_number, number_prefix

        if year not in self.sequences:
            prefix = number_prefix(self.office, year)
            self.sequences[year] = int(next_case_number(self.office, year)[len(prefix) :]) - 1
        self.sequences[year] += 1
        return format_number(number_prefix(self.office, year), self.sequences[year])


def ensure_directory(office: Office) -> None:
    """Give the office the shipped catalogue and demo institutions when it has no offering yet, and an
    all-services "(demo)" window for needs no institution answers (so every need can be referred)."""
    if not Offering.objects.filter(institution__office=office).exists():
        from rumbo.cases.services.directory import directory_seed

        directory_seed(office=office, demo=True)
    services = list(Service._base_manager.filter(office=office, is_active=True).exclude(need=""))
    covered = set(
        Offering.objects.filter(institution__office=office, service__in=services).values_list(
            "service_id", flat=True
        )
    )
    missing = [s for s in services if s.pk not in covered]
    if missing:
        window, _ = Institution._base_manager.get_or_create(
            office=office, name=FALLBACK_INSTITUTION, defaults={"sector": Institution.Sector.STATE}
        )
        for service in missing:
            Offering.objects.create(institution=window, service=service, valid_from=date(2020, 1, 1))


def office_kit(office: Office) -> OfficeKit:
    ensure_directory(office)
    offerings: dict[str, list[tuple[int, date, date | None, str]]] = {}
    rows = Offering.objects.filter(institution__office=office, service__is_active=True).values_list(
        "pk", "service__need", "valid_from", "valid_until", "service__name", "institution__name"
    )
    for pk, need, valid_from, valid_until, service, institution in rows:
        if need:
            offerings.setdefault(need, []).append(
                (pk, valid_from, valid_until, referral_followup_title(service, institution))
            )
    workers = list(case_workers(office.pk).values_list("pk", flat=True))
    return OfficeKit(office=office, zone=office_zone(office), workers=workers, offerings=offerings)
