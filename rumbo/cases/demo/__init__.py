"""Demo and benchmark data for orientation cases, generated in bulk for persons already registered.

For a sample of the persons of the OFAM offices: a return (Mexicans) or an arrival (others), an orientation
case with its needs and status history, referrals to the office's directory with their events and a
consent to share data, and the follow-up tasks (1, 3 and 6 months, plus one a month after each delivered
referral) — done, with an outcome, when their date has passed, mostly. Dates are spread over the persons'
registration dates (up to now), so the dashboard shows this week, this month and past years.

Like ``rumbo.demo``, this bypasses the per-row services on purpose (they validate, audit and number one
case at a time; 300,000 cases would take hours) and writes rows in batches with the fastest writer of the
database (``rumbo.demo.writers``). The rows are those the services would write: case numbers in the
services' format and sequence (``OFAM-MICH-2026-00042``), follow-up dates and titles from
``rumbo.cases.services.tasks``, referrals with a consent. One audit event ("demo data generated")
summarises a run. Household members on cases and companions of returns are left out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.demo.generator import TABLES, Batch, CaseGenerator, Ids
from rumbo.cases.demo.kit import ANALYZE_THRESHOLD, ensure_directory, office_kit
from rumbo.cases.models import ArrivalEvent, Case, Referral, ReturnEvent
from rumbo.demo.writers import Writer, bulk_load
from rumbo.offices.models import Office
from rumbo.people.models import ConsentRecord, Person

__all__ = ["CasesStats", "cases_generate", "ensure_directory", "office_kit"]


@dataclass
class CasesStats:
    cases: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    offices: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


def _analyze() -> None:
    """Fresh planner statistics for the tables that grew (SQLite has none until ANALYZE runs; PostgreSQL's
    autovacuum would get there later). VACUUM also sets PostgreSQL's visibility map, so counts use
    index-only scans at once; it cannot run inside a transaction (tests): ANALYZE then."""
    from django.db import connection

    with connection.cursor() as cursor:
        for _, model, _ in TABLES:
            table = connection.ops.quote_name(model._meta.db_table)
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                cursor.execute(f"VACUUM (ANALYZE) {table}")
            else:
                cursor.execute(f"ANALYZE {table}")


def _persons(office_ids: list[int]) -> Iterator[tuple[int, int, datetime, str]]:
    """(id, office, registered, birth country) of the live persons of the offices, by id."""
    yield from (
        Person._base_manager.filter(
            office_id__in=office_ids, merged_into__isnull=True, anonymised_at__isnull=True
        )
        .order_by("id")
        .values_list("id", "office_id", "created_at", "birth_country")
        .iterator(chunk_size=20_000)
    )


def cases_generate(
    *,
    cases: int,
    writer: Writer,
    offices: list[Office] | None = None,
    seed: int = 2026,
    batch_size: int = 10_000,
    drop_indexes: bool | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    actor: Any = None,
    audit: bool = True,
) -> CasesStats:
    """Add ``cases`` orientation cases (with returns or arrivals, needs, referrals and follow-ups) for persons
    of ``offices`` (default: every OFAM office holding persons), spread over the offices by their number of
    persons. A person may get a second case when there are fewer persons than cases. Call inside
    ``scopes_disabled()``. ``drop_indexes``: rebuild the cases indexes once at the end (default: when the
    load at least doubles the cases). ``audit``: write the "demo data generated" event (the demo command
    writes one event for the whole run instead)."""
    started = time.perf_counter()
    now = now or timezone.now()
    stats = CasesStats()
    if offices is None:
        offices = list(Office.objects.filter(kind=Office.Kind.OFAM, is_active=True).order_by("code"))
    office_ids = [o.pk for o in offices]
    persons = list(_persons(office_ids)) if cases > 0 else []
    if not persons:
        return stats
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    if cases <= len(persons):
        chosen = rng.sample(persons, cases)
    else:
        chosen = persons + [rng.choice(persons) for _ in range(cases - len(persons))]
    del persons
    chosen.sort(key=lambda p: p[2])  # numbers follow the opening dates
    kits = {o.pk: office_kit(o) for o in offices}
    generator = CaseGenerator(seed=seed, now=now, writer=writer)
    if drop_indexes is None:
        drop_indexes = cases >= 50_000 and cases >= Case._base_manager.count()
    with bulk_load([model for _, model, _ in TABLES], drop_indexes=drop_indexes):
        for start in range(0, len(chosen), batch_size):
            part = chosen[start : start + batch_size]
            with transaction.atomic():
                ids = {
                    "returns": Ids(writer, ReturnEvent, len(part)),
                    "arrivals": Ids(writer, ArrivalEvent, len(part) // 4 + 1),
                    "cases": Ids(writer, Case, len(part)),
                    "consents": Ids(writer, ConsentRecord, len(part)),
                    "referrals": Ids(writer, Referral, len(part) * 2),
                }
                out = Batch()
                for person_id, office_id, registered, country in part:
                    generator.add(out, ids, kits[office_id], (person_id, registered, country))
                    stats.offices[kits[office_id].office.code] = (
                        stats.offices.get(kits[office_id].office.code, 0) + 1
                    )
                for attr, model, columns in TABLES:
                    rows = getattr(out, attr)
                    writer.write(model, columns, rows)
                    stats.rows[model._meta.label] = stats.rows.get(model._meta.label, 0) + len(rows)
            stats.cases += len(part)
            if progress is not None:
                progress(len(part))
    if cases >= ANALYZE_THRESHOLD:
        _analyze()
    stats.seconds = time.perf_counter() - started
    if audit:
        audit_record(
            actor=actor,
            action=Action.DEMO_GENERATE,
            detail={
                "part": "cases",
                "cases": stats.cases,
                "rows": stats.rows,
                "offices": stats.offices,
                "seconds": round(stats.seconds, 2),
                "writer": writer.name,
                "seed": seed,
            },
        )
    return stats
