"""Building demo and benchmark data.

Demo and bulk generation bypass the per-row people services on purpose: those validate, audit and reindex one
person at a time, which is right for real work and far too slow for a million synthetic persons. Instead the
generator writes rows in bulk (``writers.py``) and this module writes ONE audit event, "demo data generated",
that says what was added. The tests check that the generated rows are what the services would accept (valid
CURPs consistent with the person, valid phones, the same search tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.demo.generator import Stats, generate
from rumbo.demo.network import USERS, Network, build_network
from rumbo.demo.pools import Catalog, OfficeProfile
from rumbo.demo.writers import OrmWriter, Writer, writer_for
from rumbo.offices.models import Role
from rumbo.people.models import Person

DEFAULT_SEED = 2026
DEMO_PERSONS = 3000
DEMO_CASES_SHARE = 5  # the realistic demo opens a case for one person in five (``rumbo.cases.demo``)
BULK_REINDEX_THRESHOLD = 50_000
_WRITES_PEOPLE = {Role.CASEWORKER, Role.CONSULAR_OFFICER}


@dataclass
class DemoResult:
    network: Network
    stats: Stats | None = None
    skipped_persons: bool = False
    writer: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    cases: Any = None  # rumbo.cases.demo.CasesStats


def demo_profiles(network: Network) -> list[OfficeProfile]:
    """Generation profiles of the demo offices; the office's caseworker is recorded as registrar."""
    creators = {spec.office: network.users[spec.username].pk for spec in USERS if spec.role in _WRITES_PEOPLE}
    return Catalog().profiles(network.offices, creators)


def demo_generate(
    *,
    actor: Any = None,
    persons: int | None = None,
    demo_persons: int = DEMO_PERSONS,
    seed: int | None = None,
    batch_size: int = 10_000,
    writer: str = "auto",
    drop_indexes: bool | None = None,
    progress: Callable[[int], None] | None = None,
    cases: int | None = None,
) -> DemoResult:
    """Build (or update) the demo network and its users, then add persons.

    ``drop_indexes``: rebuild the people indexes once at the end instead of row by row (default: when the
    load at least doubles the registry and adds 50,000 persons or more).

    ``persons=None``: the realistic demo set (``demo_persons`` persons with households, consents, flags…),
    written with ``bulk_create``, only when the demo offices hold nobody yet. ``persons=N``: N more synthetic
    persons in bulk with the fastest writer of the database, every time it is called. One audit event
    summarises what was done. Call inside ``scopes_disabled()``.

    Cases (``rumbo.cases.demo``): the realistic demo set comes with cases for one person in five;
    ``cases=N`` adds N more in bulk for the persons already there.
    """
    base_seed = DEFAULT_SEED if seed is None else seed
    with transaction.atomic():
        network = build_network(seed=base_seed)
    result = DemoResult(network)
    office_ids = [o.pk for o in network.offices.values()]
    existing = Person.objects.filter(office_id__in=office_ids).count()
    if persons is None:
        if existing:
            result.skipped_persons = True
        else:
            out: Writer = OrmWriter()
            result.stats = generate(
                demo_profiles(network),
                count=demo_persons,
                writer=out,
                seed=base_seed,
                batch_size=demo_persons,
                rich=True,
                progress=progress,
            )
            result.writer = out.name
    elif persons > 0:
        out = writer_for(writer)
        # Without an explicit seed each run differs (new names, CURPs), yet a run is reproducible from the
        # same database state.
        run_seed = base_seed + existing if seed is None else seed
        if drop_indexes is None:
            # Rebuilding the indexes once pays off when the load at least doubles the registry.
            drop_indexes = persons >= BULK_REINDEX_THRESHOLD and persons >= Person.objects.count()
        with _bulk_session():
            result.stats = generate(
                demo_profiles(network),
                count=persons,
                writer=out,
                seed=run_seed,
                batch_size=batch_size,
                drop_indexes=drop_indexes,
                progress=progress,
            )
        result.writer = out.name
    if cases or (persons is None and result.stats is not None):
        from rumbo.cases.demo import cases_generate

        count = cases or max(1, demo_persons // DEMO_CASES_SHARE)
        result.cases = cases_generate(cases=count, writer=writer_for(writer), seed=base_seed, audit=False)
    result.detail = {
        "offices_created": network.offices_created,
        "users_created": network.users_created,
        "persons": result.stats.persons if result.stats else 0,
        "rows": result.stats.rows if result.stats else {},
        "seconds": round(result.stats.seconds, 2) if result.stats else 0,
        "writer": result.writer,
        "indexes_rebuilt": bool(drop_indexes),
        "seed": base_seed,
        "cases": {"cases": result.cases.cases, "rows": result.cases.rows} if result.cases else None,
    }
    audit_record(actor=actor, action=Action.DEMO_GENERATE, detail=result.detail)
    return result


@contextmanager
def _bulk_session() -> Iterator[None]:
    """SQLite: a larger page cache while loading, so index pages stay in memory; restored afterwards.
    PostgreSQL: statistics refreshed afterwards so the planner knows the tables grew."""
    vendor = connection.vendor
    cache_size = None
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            # Batches are re-creatable demo data: no need to wait for each commit to reach the disk.
            cursor.execute("SET synchronous_commit = off")
    if vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            cache_size = int(cursor.fetchone()[0])
            cursor.execute("PRAGMA cache_size = -524288")  # 512 MiB
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if vendor == "sqlite":
                cursor.execute(f"PRAGMA cache_size = {cache_size}")
                cursor.execute("PRAGMA optimize")
                if not connection.in_atomic_block:
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # give the disk space of the WAL back
            elif vendor == "postgresql":
                cursor.execute("SET synchronous_commit = on")
                # VACUUM sets the visibility map, so searches use index-only scans right away (autovacuum
                # would get there later); it cannot run inside a transaction (tests): ANALYZE then.
                command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
                for table in ("people_person", "people_searchtoken", "people_document", "people_phone"):
                    cursor.execute(f"{command} {table}")
