"""Batch deduplication of an office network's registry (or of one import batch) with Splink.

Pairs at or above the network's review threshold become ``DuplicatePair`` rows in the adjudication queue,
with Splink's cluster ids; decisions already taken are kept (a pair decided "different" is not reopened).
Nothing is ever merged automatically.
"""

from __future__ import annotations

import datetime
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.matching import splink_model
from rumbo.matching.features import PROFILE_FIELDS, features_from_values
from rumbo.matching.model import model_path
from rumbo.matching.models import DedupeRun, DuplicatePair, MatchKey, MatchProfile
from rumbo.matching.scoring import evidence_json
from rumbo.matching.selectors import match_settings_for, network_office_ids
from rumbo.offices.models import Office

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_CHUNK = 20_000


ProfileRow = tuple[int, int, Sequence[Any]]  # person, office, MatchProfile values in PROFILE_FIELDS order
_BIRTH = PROFILE_FIELDS.index("birth_date")


def _dated(values: list[Any]) -> list[Any]:
    """``values`` with the date of birth as a date (raw SQLite queries and imports give ISO text)."""
    if isinstance(values[_BIRTH], str):
        values[_BIRTH] = datetime.date.fromisoformat(values[_BIRTH])
    return values


def _profiles(office_ids: Collection[int], person_ids: Collection[int] | None) -> Iterator[ProfileRow]:
    """(person, office, profile values) of the profiles in ``office_ids`` (or of ``person_ids``)."""
    columns = ("person_id", "office_id", *PROFILE_FIELDS)
    qs = MatchProfile._base_manager.filter(office_id__in=list(office_ids)).order_by("person_id")
    if person_ids is not None:
        ids = sorted(person_ids)
        table = connection.ops.quote_name(MatchProfile._meta.db_table)
        qn = connection.ops.quote_name
        by_attname = {f.attname: f.column for f in MatchProfile._meta.concrete_fields}
        names = ", ".join(qn(by_attname[c]) for c in columns)
        offices = set(office_ids)
        with connection.cursor() as cursor:
            # Raw SQL: the ORM takes longer to build a hundred IN lists than the database takes to run them.
            for part, test in _in_lists(ids):
                cursor.execute(f"SELECT {names} FROM {table} WHERE person_id {test}", part)  # noqa: S608
                while batch := cursor.fetchmany(20_000):
                    for pid, oid, *values in batch:
                        if oid in offices:
                            yield pid, oid, _dated(values)
        return
    last = 0
    while True:
        chunk = list(qs.filter(person_id__gt=last).values_list(*columns)[:_CHUNK])
        if not chunk:
            return
        for pid, oid, *values in chunk:
            yield pid, oid, values
        last = chunk[-1][0]


KnownProfile = tuple[int, Sequence[Any], Sequence[int]]  # office, PROFILE_FIELDS values, blocking keys


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


def _id_ranges(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ``ids`` as runs of consecutive ids: ``[1, 2, 3, 7]`` → ``[(1, 3), (7, 7)]``."""
    out: list[tuple[int, int]] = []
    for pid in ids:
        if out and pid == out[-1][1] + 1:
            out[-1] = (out[-1][0], pid)
        else:
            out.append((pid, pid))
    return out


_MAX_RANGES = 400  # id runs excluded in SQL (SQLite takes 999 parameters); more are excluded in Python


_HOLDER_KEYS_TABLE = "CREATE TEMP TABLE IF NOT EXISTS rumbo_holder_keys (key INTEGER PRIMARY KEY)"


def _sqlite_holders_sql(table: str, ranges: int) -> str:
    """SQLite: the (key, person, office) rows of ``table`` whose key is in the temporary table of keys, and
    whose person is in none of ``ranges`` id ranges (two parameters each).

    CROSS JOIN fixes the loop order (SQLite's rule): one probe of the (key, office, person) index per key.
    Left to itself, the planner (no statistics for the temporary table) scanned the whole ``MatchKey``
    table and looked each row up among the keys: a cost that grows with the registry — 2.2 s instead of
    0.7 s for 184,000 keys against 1.9 million, a full scan for every 20,000 persons an import adds."""
    test = "".join(" AND m.person_id NOT BETWEEN ? AND ?" for _ in range(ranges))
    return (
        f"SELECT m.key, m.person_id, m.office_id FROM rumbo_holder_keys k "  # noqa: S608
        f"CROSS JOIN {table} m ON m.key = k.key WHERE 1{test}"
    )


def _holders(
    table: str, keys: list[int], exclude: Sequence[tuple[int, int]]
) -> Iterator[tuple[int, int, int]]:
    """(key, person, office) of the ``MatchKey`` rows with one of ``keys`` (sorted, distinct) whose person is
    in none of the id ranges ``exclude`` (at most :data:`_MAX_RANGES`): one join in the database, without a
    statement per 900 keys.

    Safe beside a writer on another connection (the import's): on SQLite only a temporary table is written,
    in a deferred transaction that takes no lock on the database."""
    ranges = list(exclude)
    bounds = [bound for run in ranges for bound in run]
    if connection.vendor == "postgresql":
        test = "".join(" AND m.person_id NOT BETWEEN %s AND %s" for _ in ranges)
        with transaction.atomic(), connection.cursor() as cursor:
            # One index probe per key. The planner, misled by the key column's statistics (hash values),
            # otherwise merge-joins the keys with the whole index: a full index scan for every piece.
            cursor.execute("SET LOCAL enable_mergejoin = off")
            cursor.execute("SET LOCAL enable_hashjoin = off")
            cursor.execute(
                f"SELECT m.key, m.person_id, m.office_id FROM (SELECT unnest(%s::bigint[]) AS key) k "  # noqa: S608
                f"JOIN {table} m ON m.key = k.key WHERE TRUE{test}",
                [keys, *bounds],
            )
            while batch := cursor.fetchmany(100_000):
                yield from batch
        return
    connection.ensure_connection()
    raw = connection.connection.cursor()  # no per-row parameter handling in Django's wrapper
    own_transaction = not connection.in_atomic_block
    try:
        if own_transaction:
            raw.execute("BEGIN DEFERRED")
        raw.execute(_HOLDER_KEYS_TABLE)
        raw.executemany("INSERT INTO rumbo_holder_keys (key) VALUES (?)", ((k,) for k in keys))
        if own_transaction:
            raw.execute("COMMIT")
    except BaseException:
        if own_transaction and connection.connection.in_transaction:
            raw.execute("ROLLBACK")
        raw.close()
        raise
    try:
        raw.execute(_sqlite_holders_sql(table, len(ranges)), bounds)
        while batch := raw.fetchmany(100_000):
            yield from batch
    finally:
        raw.execute("DELETE FROM rumbo_holder_keys")
        raw.close()


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
    rows: list[tuple[int, Sequence[Any]]] = []
    for pid, oid, values in loaded if loaded is not None else _profiles(office_ids, None):
        offices[pid] = oid
        rows.append((pid, values))
        if len(rows) % 10_000 == 0:
            report("load", len(rows), total)
    report("load", len(rows), total)
    persons = len(rows)
    if persons < 2:
        return [], offices, {}, persons, 0
    report("predict", 0, 1)
    if keys is not None:
        df = splink_model.frame_from_values(rows, keys=keys)
    else:  # the whole network: keys computed from the features
        df = splink_model.frame((pid, features_from_values(*values)) for pid, values in rows)
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


class ImportPairs:
    """The duplicate check of a large import, fed as the import goes (``rumbo.imports``): every pair
    involving a person it creates and anyone in ``office_ids`` sharing a blocking key, at or above
    ``threshold``, scored by Splink with the same model and keys as intake — one vectorised pass instead of
    one lookup per row. Nothing is written.

    :meth:`add` takes created persons as (office, ``MatchProfile`` values in ``PROFILE_FIELDS`` order,
    blocking keys), as the import computed them, and looks up at once the registry's persons holding their
    keys; :meth:`pairs` loads those persons' profiles and scores everything. ``exclude``: id ranges holding
    every person the import creates (read back, they would be loaded twice)."""

    def __init__(
        self,
        office_ids: Collection[int],
        *,
        threshold: float,
        exclude: Sequence[tuple[int, int]] = (),
        backend: str = "duckdb",
    ) -> None:
        self.office_ids = sorted(office_ids)
        self.offices = set(office_ids)
        self.threshold = threshold
        self.backend = backend
        self.exclude = list(exclude) if len(exclude) <= _MAX_RANGES else []
        self.known: dict[int, KnownProfile] = {}
        self.frames: list[Any] = []  # the scoring frame's rows of the known persons, one part per add
        self.looked_up: set[int] = set()  # keys already looked up
        self.neighbours: dict[int, list[int]] = defaultdict(list)  # registry person → keys shared
        self.table = connection.ops.quote_name(MatchKey._meta.db_table)

    def add(self, known: Mapping[int, KnownProfile]) -> None:
        known = {pid: profile for pid, profile in known.items() if pid not in self.known}
        if not known:
            return
        self.known.update(known)
        # Their rows of the frame Splink scores, built now (beside the import's writes), not at the end.
        rows = [(pid, values) for pid, (_, values, _) in known.items()]
        self.frames.append(
            splink_model.frame_from_values(rows, keys={pid: k for pid, (_, _, k) in known.items()})
        )
        fresh = {k for _, _, keys in known.values() for k in keys}
        fresh -= self.looked_up
        if not fresh:
            return
        self.looked_up |= fresh
        with _short_queries():
            for key, pid, oid in _holders(self.table, sorted(fresh), self.exclude):
                if oid in self.offices and pid not in self.known:
                    self.neighbours[pid].append(key)

    def pairs(self) -> tuple[list[Pair], dict[int, int]]:
        """The pairs involving an added person, and each person's office."""
        import pandas as pd

        created = self.known
        # Added after the lookups that returned them (or not excluded): they are the import's own.
        neighbours = {pid: keys for pid, keys in self.neighbours.items() if pid not in created}
        with _short_queries():
            loaded = list(_profiles(self.office_ids, neighbours))
        offices = {pid: oid for pid, (oid, _, _) in created.items()}
        offices.update((pid, oid) for pid, oid, _ in loaded)
        if len(offices) < 2:
            return [], offices
        # The created persons' part of the frame was built as they were added; the registry's part now.
        parts = list(self.frames)
        if loaded:
            rows = [(pid, values) for pid, _, values in loaded]
            parts.append(splink_model.frame_from_values(rows, keys=neighbours))
        df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        del loaded, parts
        # Only the pairs involving the import's persons are compared: the registry's persons sharing its keys
        # are not compared with each other (into a registry of 1,000,000: 26 s of CPU instead of 36).
        pairs_df, _ = splink_model.predict(
            df, model_path(), threshold=self.threshold, backend=self.backend, count=False, fresh=set(created)
        )
        return list(splink_model.gamma_rows(pairs_df)), offices


def import_pairs(
    person_ids: Collection[int],
    office_ids: Collection[int],
    *,
    threshold: float,
    backend: str = "duckdb",
    known: Mapping[int, KnownProfile] | None = None,
) -> tuple[list[Pair], dict[int, int]]:
    """:class:`ImportPairs` in one call, for persons already written: ``known`` holds their profiles and
    keys as the import computed them (those missing are read back). Returns the pairs and each person's
    office."""
    known = dict(known or {})
    missing = set(person_ids) - known.keys()
    if missing:
        known.update(_stored_profiles(missing))
    check = ImportPairs(office_ids, threshold=threshold, exclude=_id_ranges(sorted(known)), backend=backend)
    check.add(known)
    return check.pairs()


def _stored_profiles(person_ids: Collection[int]) -> dict[int, KnownProfile]:
    """(office, profile values, keys) of ``person_ids`` as the match index holds them."""
    ids = sorted(person_ids)
    parts = [ids[start : start + 900] for start in range(0, len(ids), 900)]  # SQLite allows 999 parameters
    keys: dict[int, list[int]] = defaultdict(list)
    for part in parts:
        for key, pid in MatchKey._base_manager.filter(person_id__in=part).values_list("key", "person_id"):
            keys[pid].append(key)
    columns = ("person_id", "office_id", *PROFILE_FIELDS)
    out: dict[int, KnownProfile] = {}
    for part in parts:
        for pid, oid, *values in MatchProfile._base_manager.filter(person_id__in=part).values_list(*columns):
            out[pid] = (oid, values, keys.get(pid, []))
    return out


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
    evidence_of = evidence_json()
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
            evidence = evidence_of(gammas)
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
