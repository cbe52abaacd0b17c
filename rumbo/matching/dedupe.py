"""Batch deduplication of an office network's registry (or of one import batch) with Splink.

Pairs at or above the network's review threshold become ``DuplicatePair`` rows in the adjudication queue,
with Splink's cluster ids; decisions already taken are kept (a pair decided "different" is not reopened).
Nothing is ever merged automatically.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.matching import splink_model
from rumbo.matching.features import PROFILE_FIELDS, Features, features_from_values
from rumbo.matching.model import model_path
from rumbo.matching.models import DedupeRun, DuplicatePair, MatchKey, MatchProfile
from rumbo.matching.scoring import explain
from rumbo.matching.selectors import match_settings_for, network_office_ids
from rumbo.offices.models import Office

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_CHUNK = 20_000


def _profiles(
    office_ids: Collection[int], person_ids: Collection[int] | None
) -> Iterator[tuple[int, int, Features]]:
    """(person, office, features) of the profiles in ``office_ids`` (or of ``person_ids``), as tuples."""
    columns = ("person_id", "office_id", *PROFILE_FIELDS)
    qs = MatchProfile._base_manager.filter(office_id__in=list(office_ids)).order_by("person_id")
    if person_ids is not None:
        ids = sorted(person_ids)
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(MatchProfile._meta.db_table)
            qn = connection.ops.quote_name
            by_attname = {f.attname: f.column for f in MatchProfile._meta.concrete_fields}
            names = ", ".join(qn(by_attname[c]) for c in columns)
            office_list = list(office_ids)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {names} FROM {table} WHERE person_id = ANY(%s) AND office_id = ANY(%s)",  # noqa: S608
                    [ids, office_list],
                )
                while batch := cursor.fetchmany(20_000):
                    for pid, oid, *values in batch:
                        yield pid, oid, features_from_values(*values)
            return
        for start in range(0, len(ids), 900):  # SQLite allows 999 parameters
            for pid, oid, *values in qs.filter(person_id__in=ids[start : start + 900]).values_list(*columns):
                yield pid, oid, features_from_values(*values)
        return
    last = 0
    while True:
        chunk = list(qs.filter(person_id__gt=last).values_list(*columns)[:_CHUNK])
        if not chunk:
            return
        for pid, oid, *values in chunk:
            yield pid, oid, features_from_values(*values)
        last = chunk[-1][0]


@contextmanager
def _short_queries() -> Iterator[None]:
    """PostgreSQL: the many index lookups by key lists run without JIT compilation or parallel workers
    (each costs more than the query; the planner's estimates for long ``ANY`` lists invite both)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def _in_lists(values: list[int]) -> Iterator[tuple[list[Any], str]]:
    """``values`` in parts, each with its SQL test: ``= ANY(%s)`` with one array parameter on PostgreSQL
    (10,000 a statement), ``IN (%s, …)`` with 900 parameters elsewhere (SQLite allows 999)."""
    if connection.vendor == "postgresql":
        for start in range(0, len(values), 10_000):
            yield [values[start : start + 10_000]], "= ANY(%s)"
        return
    for start in range(0, len(values), 900):
        part = values[start : start + 900]
        yield part, f"IN ({','.join(['%s'] * len(part))})"


def _neighbours(person_ids: Collection[int], office_ids: Collection[int]) -> dict[int, list[int]]:
    """The persons sharing a blocking key with ``person_ids`` (the part of the registry an import can
    match), each with the keys it shares — every pair involving ``person_ids`` shares one of them, so they
    are all the blocking the batch needs, and none has to be computed again.

    Raw SQL over the ``MatchKey`` indexes (an import of 100,000 persons asks for about a million keys)."""
    table = connection.ops.quote_name(MatchKey._meta.db_table)
    offices = set(office_ids)
    ids = sorted(person_ids)
    subset = set(ids)
    out: dict[int, list[int]] = defaultdict(list)
    if connection.vendor == "postgresql":
        # One hash join: several times faster than a million index probes by key lists.
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH k AS (SELECT DISTINCT key FROM {table} WHERE person_id = ANY(%s)) "  # noqa: S608
                f"SELECT m.key, m.person_id, m.office_id FROM {table} m JOIN k ON m.key = k.key",
                [ids],
            )
            while batch := cursor.fetchmany(100_000):
                for key, pid, oid in batch:
                    if pid in subset or oid in offices:
                        out[pid].append(key)
        return out
    with connection.cursor() as cursor:
        for part, values in _in_lists(ids):
            cursor.execute(f"SELECT key, person_id FROM {table} WHERE person_id {values}", part)  # noqa: S608
            for key, pid in cursor.fetchall():
                out[pid].append(key)
        key_list = sorted({k for keys in out.values() for k in keys})
        # The office is tested here, not in SQL: PostgreSQL probes the (key, office) index once per key
        # *and* office when both are lists, several times slower than one probe per key.
        for part, values in _in_lists(key_list):
            cursor.execute(f"SELECT key, person_id, office_id FROM {table} WHERE key {values}", part)  # noqa: S608
            for key, pid, oid in cursor.fetchall():
                if oid in offices and pid not in subset:
                    out[pid].append(key)
    return out


Pair = tuple[int, int, float, float, tuple[int, ...]]  # (person a, person b, weight, probability, gammas)


def _predict(
    office_ids: Collection[int],
    subset: set[int] | None,
    threshold: float,
    backend: str,
    threads: int | None,
    report: Progress,
    *,
    with_clusters: bool,
) -> tuple[list[Pair], dict[int, int], dict[int, int], int, int]:
    """Splink over ``office_ids`` (or over ``subset`` and the persons sharing a key with it): the pairs at or
    above ``threshold`` (with ``subset``, only those involving it), each person's office, the clusters, the
    number of persons loaded and of pairs compared."""
    with _short_queries():
        keys = _neighbours(subset, office_ids) if subset is not None else None
        scope = set(keys) if keys is not None else None
        loaded = list(_profiles(office_ids, scope)) if scope is not None else None
    everyone = MatchProfile._base_manager.filter(office_id__in=office_ids)
    total = len(scope) if scope is not None else everyone.count()
    offices: dict[int, int] = {}
    rows: list[tuple[int, Features]] = []
    for pid, oid, features in loaded if loaded is not None else _profiles(office_ids, None):
        offices[pid] = oid
        rows.append((pid, features))
        if len(rows) % 10_000 == 0:
            report("load", len(rows), total)
    report("load", len(rows), total)
    persons = len(rows)
    if persons < 2:
        return [], offices, {}, persons, 0
    report("predict", 0, 1)
    df = splink_model.frame(rows, keys=keys)
    del rows, keys
    clusters: dict[int, int] = {}
    if with_clusters:
        pairs_df, comparisons, clusters = splink_model.predict_with_clusters(
            df, model_path(), threshold=threshold, backend=backend, threads=threads
        )
    else:
        pairs_df, comparisons = splink_model.predict(
            df, model_path(), threshold=threshold, backend=backend, threads=threads
        )
    pairs = list(splink_model.gamma_rows(pairs_df))
    report("predict", 1, 1)
    if subset is not None:
        pairs = [p for p in pairs if p[0] in subset or p[1] in subset]
    return pairs, offices, clusters, persons, comparisons


def import_pairs(
    person_ids: Collection[int], office_ids: Collection[int], *, threshold: float, backend: str = "duckdb"
) -> tuple[list[Pair], dict[int, int]]:
    """The duplicate check of a large import: every pair involving one of ``person_ids`` (the persons it
    created) and anyone in ``office_ids`` sharing a blocking key, at or above ``threshold``, scored by Splink
    with the same model and keys as intake (one vectorised pass instead of one lookup per row). Returns the
    pairs and each person's office. Nothing is written."""
    pairs, offices, _, _, _ = _predict(
        office_ids, set(person_ids), threshold, backend, None, lambda *a: None, with_clusters=False
    )
    return pairs, offices


def dedupe_run(
    *,
    actor: Any,
    network: Office,
    person_ids: Collection[int] | None = None,
    import_batch_id: int | None = None,
    backend: str = "duckdb",
    threads: int | None = None,
    progress: Progress | None = None,
) -> DedupeRun:
    """Run batch deduplication over ``network`` (its root and every office below it).

    With ``person_ids`` (e.g. the persons created by one import), only pairs involving at least one of them
    are kept, compared against every person of the network that shares a blocking key with them.
    """
    report = progress or (lambda phase, done, total: None)
    settings = match_settings_for(network)
    root = Office.objects.get(pk=settings.network_id)
    office_ids = network_office_ids([root.pk])
    run = DedupeRun.objects.create(
        network=root,
        import_batch_id=import_batch_id,
        started_by=actor if getattr(actor, "is_authenticated", False) else None,
        backend=backend,
    )
    started = time.monotonic()
    try:
        subset = set(person_ids) if person_ids is not None else None
        pairs, offices, clusters, run.persons, run.comparisons = _predict(
            office_ids, subset, settings.review_threshold, backend, threads, report, with_clusters=True
        )
        written = _store_pairs(run, pairs, offices, clusters, report)
        run.pairs_found = written
        run.clusters = len({clusters[p] for a, b, *_ in pairs for p in (a, b) if p in clusters})
        run.status = DedupeRun.Status.DONE
    except Exception as exc:
        run.status = DedupeRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        run.finished_at = timezone.now()
        run.seconds = round(time.monotonic() - started, 2)
        run.save()
        audit_record(
            actor=actor,
            action=Action.DEDUPE_RUN,
            office=root,
            obj=run,
            detail={
                "status": run.status,
                "persons": run.persons,
                "comparisons": run.comparisons,
                "pairs": run.pairs_found,
                "import_batch": import_batch_id,
                "seconds": run.seconds,
            },
        )
    return run


def _store_pairs(
    run: DedupeRun,
    pairs: list[Pair],
    offices: dict[int, int],
    clusters: dict[int, int],
    report: Progress,
) -> int:
    """Insert new pairs, refresh undecided ones; decided pairs keep their decision."""
    written = 0
    for start in range(0, len(pairs), 2000):
        chunk = pairs[start : start + 2000]
        keys = [(min(a, b), max(a, b)) for a, b, *_ in chunk]
        existing = {
            (p.person_a_id, p.person_b_id): p
            for p in DuplicatePair.objects.filter(
                person_a_id__in={a for a, _ in keys}, person_b_id__in={b for _, b in keys}
            )
        }
        new: list[DuplicatePair] = []
        changed: list[DuplicatePair] = []
        for (a, b), (_, _, weight, prob, gammas) in zip(keys, chunk, strict=True):
            evidence = explain(gammas).as_json()
            cluster = clusters.get(a)
            pair = existing.get((a, b))
            if pair is None:
                new.append(
                    DuplicatePair(
                        person_a_id=a,
                        person_b_id=b,
                        office_a_id=offices[a],
                        office_b_id=offices[b],
                        run=run,
                        source=DuplicatePair.Source.BATCH,
                        match_weight=weight,
                        probability=prob,
                        fields=evidence,
                        cluster=cluster,
                    )
                )
            elif pair.decision in (DuplicatePair.Decision.PENDING, DuplicatePair.Decision.UNSURE):
                pair.run = run
                pair.match_weight, pair.probability, pair.fields, pair.cluster = (
                    weight,
                    prob,
                    evidence,
                    cluster,
                )
                changed.append(pair)
        with transaction.atomic():
            DuplicatePair.objects.bulk_create(new, batch_size=1000)
            DuplicatePair.objects.bulk_update(
                changed,
                ["run", "match_weight", "probability", "fields", "cluster", "updated_at"],
                batch_size=1000,
            )
        written += len(new) + len(changed)
        report("store", start + len(chunk), len(pairs))
    return written
