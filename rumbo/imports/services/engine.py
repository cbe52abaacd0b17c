"""The bulk import of a batch: every row validated, good rows created in bulk, bad rows reported, rows
already imported skipped, every created person checked for duplicates.

The file is read whole (it is at most ``RUMBO_IMPORT_MAX_BYTES``), then handled in chunks (default 10,000
rows). Rows are first *prepared* in pieces of 2,000 (``rumbo.imports.prepare``: read through the mapping,
validated with ``person_data_clean``, search tokens, CURP flags and match-index rows derived) — in worker
processes for large files, so validation runs on every core while this process writes — and each chunk is
then written in ONE transaction (on SQLite without the per-row lookup of foreign keys, as ``loaddata`` does:
every key written is known good):

1. rows already imported into the office by an earlier batch, or repeating an earlier row of this file,
   are "already imported" (pointing to that person) and create nothing;
2. the valid rows are written in bulk: persons and their child rows, search tokens, the match index (the
   rows ``matching.index.rows_for`` makes), one ``PERSON_CREATE`` audit event each;
3. ``matching.selectors.candidates_bulk`` looks each new person up in the registry — which now holds the
   earlier chunks and this one, so rows of the same file that match each other are found too; a candidate
   at or above the network's review threshold marks the row "duplicate suspected" and writes a
   ``DuplicatePair`` (source "import") to the adjudication queue;
4. one ``ImportRow`` per row (invalid rows with their errors per field and original values), and the
   batch's progress counters.

Large files (``BATCH_MATCH_MIN_ROWS``) skip step 3 per chunk: after the last chunk, one Splink pass
(``matching.dedupe.import_pairs``: the same model and blocking keys, vectorised in DuckDB) scores every
pair involving a created person, and the same rows are marked and the same pairs queued. The pass is given
the profiles and keys the import computed; only the registry's persons sharing a key are read. With worker
processes it runs beside the writes, in a process forked when the import starts and fed each piece once
classified: the persons' ids are reserved beforehand, so it knows them before they are written. Should that
pass fail, the persons stay created and ``rumbo dedupe --import-batch`` runs it again.

Nothing of an invalid row is written. A failure rolls back the chunk it happened in; earlier chunks stay
(importing the file again skips them). The batch ends "done" or "failed", with one ``PERSON_IMPORT`` event.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from json import dumps as json_dumps
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_scopes import scope

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, audit_record_refs
from rumbo.demo.writers import Row, Writer, writer_for
from rumbo.imports.bulk import (
    ADDRESS_COLUMNS,
    DOCUMENT_COLUMNS,
    IMPORT_ROW_COLUMNS,
    LANGUAGE_COLUMNS,
    MATCH_KEY_COLUMNS,
    NATIONALITY_COLUMNS,
    PERSON_COLUMNS,
    PHONE_COLUMNS,
    TOKEN_COLUMNS,
)
from rumbo.imports.fields import cell_text
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.prepare import (
    PARALLEL_MIN_ROWS,
    Prepared,
    PreparePool,
    PrepareSpec,
    can_fork,
    profile_columns,
    sqlite_file_database,
    worker_count,
)
from rumbo.imports.reader import FileError, Sheet
from rumbo.imports.services.files import stored_file
from rumbo.lib.memory import collector_paused
from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require
from rumbo.people.models import Address, Document, Language, Nationality, Person, Phone, SearchToken
from rumbo.people.services._common import area_cache

if TYPE_CHECKING:
    from rumbo.matching.dedupe import KnownProfile, Pair

logger = logging.getLogger(__name__)

CHUNK_SIZE = 10_000  # rows per transaction
PREPARE_ROWS = 2000  # rows per piece of validation work
WARM_ROWS = 50  # prepared once before the workers start, so that they start warm
AHEAD_ROWS = 40_000  # rows validated ahead of the writes, at most (with worker processes)
MAX_ROWS = 1_000_000
CANDIDATES_PER_ROW = 5
#: From this many rows on, the duplicate check runs once for the whole file, vectorised by Splink, after
#: the last chunk (``RUMBO_IMPORT_BATCH_MATCH_MIN_ROWS``); smaller files are checked chunk by chunk.
BATCH_MATCH_MIN_ROWS = 5000
PHASES = ("parse", "validate", "write", "index", "duplicates", "commit")


class ImportFailed(Exception):
    """The import stopped; the batch is marked "failed" with the (translated) reason."""


@dataclass(slots=True)
class Seen:
    """The first row of this file with a given hash; later rows with the same values repeat it."""

    status: str
    errors: dict[str, list[str]]
    row: Prepared | None  # while its chunk is being written
    person_id: int | None = None

    def person(self) -> int | None:
        return self.row.person_id if self.row is not None else self.person_id


@dataclass
class Counters:
    processed: int = 0
    created: int = 0
    skipped_existing: int = 0
    failed: int = 0
    possible_duplicates: int = 0


class Timer:
    """Wall-clock seconds per phase, in the importing process."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def _matching() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The matching app's bulk candidate search and its thresholds (imported when needed)."""
    from rumbo.matching.selectors import candidates_bulk, match_settings_for

    return candidates_bulk, match_settings_for


_first = itemgetter(0)


@contextmanager
def _sqlite_bulk_session() -> Iterator[None]:
    """SQLite: while importing, a larger page cache (``RUMBO_IMPORT_SQLITE_CACHE_MIB``: the pages of the
    indexes new rows go into stay in memory) and no automatic checkpoint at every commit (the WAL is copied
    back once, at the end: see :func:`_checkpoint_after`).
    Restored afterwards. Other databases: nothing.

    Into a registry of 1,000,000 persons, the match-key index alone outgrows 256 MiB: with that cache its
    inserts took 20.8 s of CPU for 100,000 rows, with 1 GiB 10.9 s."""
    if connection.vendor != "sqlite":
        yield
        return
    from django.conf import settings

    cache_kib = 1024 * int(getattr(settings, "RUMBO_IMPORT_SQLITE_CACHE_MIB", 1024))
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache_size = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA wal_autocheckpoint")
        autocheckpoint = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-cache_kib}")
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {cache_size}")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")


def _checkpoint() -> None:
    """SQLite: copy the import's write-ahead log back into the database (in a thread of its own: it takes
    no lock the duplicate check's writes wait for)."""
    from django.db import connections

    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connections.close_all()


@contextmanager
def _checkpoint_after() -> Iterator[None]:
    """SQLite with a file: the log is checkpointed while the block runs, and waited for at its end. The
    block's own writes stay in the log until the next checkpoint. Else nothing."""
    if connection.in_atomic_block or not sqlite_file_database():
        yield
        return
    worker = threading.Thread(target=_checkpoint, name="rumbo-import-checkpoint", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()


class ImportEngine:
    """Runs one batch (see the module docstring)."""

    def __init__(
        self,
        batch: ImportBatch,
        actor: Any,
        *,
        chunk_size: int = CHUNK_SIZE,
        progress: Callable[[int], None] | None = None,
        writer: Writer | None = None,
        workers: int | None = None,
    ) -> None:
        self.batch = batch
        self.actor = actor
        self.chunk_size = max(1, chunk_size)
        self.progress = progress
        self.writer = writer or writer_for("auto")
        self.workers = worker_count() if workers is None else workers
        self.timer = Timer()
        self.counters = Counters()
        self.seen: dict[str, Seen] = {}
        self.candidates_bulk, match_settings_for = _matching()
        self.threshold = float(match_settings_for(batch.office).review_threshold)
        self.office_ids = sorted(offices_with_perm(actor, Perm.VIEW_PERSON) | {batch.office_id})
        self.created_by_id = actor.pk if getattr(actor, "is_authenticated", False) else None
        self.profile_columns = ("person_id", "office_id", *profile_columns())
        self.prepare_cpu_seconds = 0.0
        self.workers_used = 0
        self.match_at_end = False
        self.known: dict[int, KnownProfile] = {}  # large files: the created persons' profiles and keys
        self.reserved: Iterator[int] | None = None  # person ids reserved before writing (see run)
        self.reserved_range = (0, 0)
        self.matcher: _Matcher | None = None  # the duplicate check beside the writes (see _write_all)

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> None:
        # The cyclic garbage collector stays off for the whole import: everything it allocates is freed by
        # reference counting, and walking millions of young objects cost seconds (``rumbo.lib.memory``).
        with collector_paused():
            self._import()

    def _import(self) -> None:
        batch = self.batch
        with self.timer.phase("parse"):
            rows = self._read()
        batch.total_rows = len(rows)
        ImportBatch.objects.filter(pk=batch.pk).update(total_rows=len(rows))
        sex = next((i for i, t in enumerate(batch.mapping) if t == "sex"), None)
        self.match_at_end = len(rows) >= batch_match_min_rows()
        spec = PrepareSpec(
            headers=tuple(batch.headers),
            mapping=tuple(batch.mapping),
            region=batch.office.country or "MX",
            sex_values=frozenset(cell_text(r[1][sex]) for r in rows) if sex is not None else frozenset(),
            office_id=batch.office_id,
            language=batch.language,
            today=timezone.localdate(),
            keep_data=not self.match_at_end,
        )
        self.workers_used = self.workers if len(rows) >= PARALLEL_MIN_ROWS and can_fork() else 0
        # With worker processes, the final duplicate check runs in a process of its own, fed each piece as it
        # is classified, while this one writes: the persons' ids are reserved beforehand, so the check knows
        # them before they are written.
        concurrent = self.match_at_end and self.workers_used > 0
        if concurrent:
            ids = self.writer.reserve_ids(Person, len(rows))
            self.reserved = iter(ids)
            self.reserved_range = (ids[0], ids[-1])
        # Validated in pieces (workers hand them back early and evenly), written a chunk at a time (each
        # transaction writes an index page once for all the rows of its chunk that land on it).
        size = min(PREPARE_ROWS, self.chunk_size)
        pieces = [rows[i : i + size] for i in range(0, len(rows), size)]
        window = 2 * self.workers_used + -(-self.chunk_size // size)
        if concurrent:  # let the workers run ahead of the writes, within a bound on memory
            window = max(window, AHEAD_ROWS // size)
        self._write_all(spec, pieces, window, concurrent)
        del rows, pieces
        with _checkpoint_after():  # beside the duplicate check's last part
            if self.match_at_end:
                with self.timer.phase("duplicates"):
                    if self.matcher is not None:
                        created, pairs, offices = self.matcher.result()
                    else:
                        created, pairs, offices = self._match_created()
                    self._store_matches(created, pairs, offices)

    def _write_all(
        self, spec: PrepareSpec, pieces: list[list[tuple[int, list[Any]]]], window: int, concurrent: bool
    ) -> None:
        """Every piece validated (by the workers), classified as soon as it is ready, and written a chunk
        at a time. ``concurrent``: the final duplicate check (``self.matcher``) is forked first and fed each
        piece once classified; it is left running."""
        try:
            with (
                PreparePool(spec, self.workers_used, window=window, warm=pieces[0][:WARM_ROWS]) as pool,
                area_cache(),
                _sqlite_bulk_session(),
                # As ``loaddata`` does: SQLite does not look up the parent of every row it inserts (a third
                # of the write time). Every key written is known good: the persons' ids were allocated in
                # the same transaction, offices and places were checked when the rows were validated. On
                # PostgreSQL (and inside a dry run's transaction) this changes nothing.
                connection.constraint_checks_disabled(),
            ):
                results = pool.map(pieces)
                if concurrent:
                    # While the workers validate the first pieces: the duplicate check's process, forked
                    # with what it will import (pandas, Splink) loaded, and fed each piece once classified.
                    from rumbo.matching.splink_model import preload

                    preload()
                    self.matcher = _Matcher(self.office_ids, self.threshold, exclude=[self.reserved_range])
                ready: deque[tuple[list[Prepared], list[Prepared], list[Seen]]] = deque()
                waiting = 0  # rows classified, not yet written
                written = 0
                taken = 0
                ahead = max(AHEAD_ROWS, self.chunk_size)
                while taken < len(pieces) or ready:
                    # The first chunk is one piece: writing (the longest task) starts as early as it can.
                    limit = self.chunk_size if written else min(self.chunk_size, len(pieces[0]))
                    # Classify every piece already validated (cheap); wait for one only with nothing to write.
                    while taken < len(pieces) and waiting < ahead and (waiting < limit or pool.ready()):
                        with self.timer.phase("validate"):
                            prepared = next(results)
                        taken += 1
                        ready.append((prepared, *self._classify(prepared)))
                        waiting += len(prepared)
                    if self.matcher is not None and not self.matcher.finished and taken == len(pieces):
                        self.matcher.finish()
                    if waiting >= limit or (taken == len(pieces) and ready):
                        chunk: list[Prepared] = []
                        new: list[Prepared] = []
                        firsts: list[Seen] = []
                        while ready and len(chunk) < limit:
                            part, part_new, part_firsts = ready.popleft()
                            chunk += part
                            new += part_new
                            firsts += part_firsts
                        waiting -= len(chunk)
                        self._chunk(chunk, new, firsts)
                        written += len(chunk)
                        if self.progress is not None:
                            self.progress(len(chunk))
                self.prepare_cpu_seconds = pool.cpu_seconds
        except BaseException:
            if self.matcher is not None:  # the import stopped: so does the check
                self.matcher.cancel()
            raise

    def _read(self) -> list[tuple[int, list[Any]]]:
        path = stored_file(self.batch)
        if not path.exists():
            raise ImportFailed(_("The uploaded file is no longer available: upload it again."))
        try:
            headers, rows = Sheet(path, self.batch.file_kind).read()
            if headers != list(self.batch.headers):
                raise ImportFailed(_("The file's columns changed since it was uploaded."))
            out: list[tuple[int, list[Any]]] = []
            for row in rows:
                out.append((row.number, row.values))
                if len(out) > MAX_ROWS:
                    raise ImportFailed(
                        _("The file has more than %(max)s rows: split it into smaller files.")
                        % {"max": f"{MAX_ROWS:,}"}
                    )
        except FileError as exc:
            raise ImportFailed(str(exc.message)) from exc
        return out

    # --- one chunk -------------------------------------------------------------------------------
    def _classify(self, prepared: list[Prepared]) -> tuple[list[Prepared], list[Seen]]:
        """Repeats of earlier rows marked (:meth:`_repeats`); with reserved ids, each row to create gets its
        person id now, and its profile and keys are kept for the final duplicate check. Returns the rows to
        create and the rows seen first."""
        new, firsts = self._repeats(prepared)
        if self.reserved is not None and self.matcher is not None:
            office_id = self.batch.office_id
            known: dict[int, KnownProfile] = {}
            for row in new:
                row.person_id = pid = next(self.reserved)
                known[pid] = (office_id, row.profile, row.keys)
            self.matcher.feed(known)
        return new, firsts

    def _chunk(self, prepared: list[Prepared], new: list[Prepared], firsts: list[Seen]) -> None:
        with transaction.atomic():
            with self.timer.phase("write"):
                unnumbered = [row for row in new if row.person_id is None]
                ids = self.writer.allocate_ids(Person, len(unnumbered)) if unnumbered else []
                for row, pk in zip(unnumbered, ids, strict=True):
                    row.person_id = pk
                self._write_persons(new)
                if new:
                    office_id = self.batch.office_id
                    audit_record_refs(
                        actor=self.actor,
                        action=Action.PERSON_CREATE,
                        model=Person,
                        refs=[(office_id, row.person_id) for row in new],
                        detail={"import_batch": self.batch.pk},
                        writer=self.writer,
                    )
            with self.timer.phase("index"):
                self._write_index(new)
            if self.match_at_end and self.reserved is None:
                office_id = self.batch.office_id
                for row in new:  # what the final duplicate check needs of them, without reading it back
                    assert row.person_id is not None
                    self.known[row.person_id] = (office_id, row.profile, row.keys)
            if not self.match_at_end:
                with self.timer.phase("duplicates"):
                    self._duplicates(new)
            with self.timer.phase("write"):
                self._write_rows(prepared)
                self._count(prepared)
                c = self.counters
                ImportBatch.objects.filter(pk=self.batch.pk).update(
                    processed_rows=c.processed,
                    created_count=c.created,
                    skipped_existing_count=c.skipped_existing,
                    failed_count=c.failed,
                    possible_duplicates_count=c.possible_duplicates,
                )
            committing = time.perf_counter()
        self.timer.seconds["commit"] += time.perf_counter() - committing
        for seen in firsts:  # from now on only the person id is needed: keep memory bounded
            seen.person_id = seen.person()
            seen.row = None

    def _repeats(self, prepared: list[Prepared]) -> tuple[list[Prepared], list[Seen]]:
        """Rows repeating an earlier row of this file become "already imported" (or get its errors).
        Returns the rows to create and the rows seen first in this chunk."""
        new: list[Prepared] = []
        firsts: list[Seen] = []
        for row in prepared:
            if row.status == ImportRow.Status.ALREADY_IMPORTED:
                continue
            first = self.seen.get(row.sha256)
            if first is None:
                seen = self.seen[row.sha256] = Seen(row.status, row.errors, row)
                firsts.append(seen)
                if row.status == ImportRow.Status.CREATED:
                    new.append(row)
            elif first.status == ImportRow.Status.INVALID:
                row.status, row.errors = ImportRow.Status.INVALID, first.errors
            else:
                row.status = ImportRow.Status.ALREADY_IMPORTED
                row.data = None
                row.repeat_of = first
        return new, firsts

    def _write_persons(self, new: list[Prepared]) -> None:
        office_id, by = self.batch.office_id, self.created_by_id
        stamp = self.writer.datetime(timezone.now())
        json = self.writer.json
        no_flags = json([])
        persons: list[Row] = []
        nationalities: list[Row] = []
        languages: list[Row] = []
        documents: list[Row] = []
        phones: list[Row] = []
        addresses: list[Row] = []
        tokens: list[Row] = []
        for row in new:
            pid = row.person_id
            persons.append((pid, office_id, *row.person, stamp, stamp, by, None, None))
            nationalities.extend((pid, c) for c in row.nationalities)
            languages.extend((pid, c) for c in row.languages)
            documents.extend((pid, *d[:6], json(d[6]) if d[6] else no_flags, stamp) for d in row.documents)
            phones.extend((pid, *p) for p in row.phones)
            addresses.extend((pid, *a, stamp) for a in row.addresses)
            sig = row.sig
            tokens.extend((t, pid, office_id, k, sig) for t, k in row.tokens)
        tokens.sort(key=_first)  # index insertions then walk the B-tree in order
        write = self.writer.write
        write(Person, PERSON_COLUMNS, persons)
        write(Nationality, NATIONALITY_COLUMNS, nationalities)
        write(Language, LANGUAGE_COLUMNS, languages)
        write(Document, DOCUMENT_COLUMNS, documents)
        write(Phone, PHONE_COLUMNS, phones)
        write(Address, ADDRESS_COLUMNS, addresses)
        write(SearchToken, TOKEN_COLUMNS, tokens)

    def _write_index(self, new: list[Prepared]) -> None:
        """The match index of the new persons: the rows ``matching.index.rows_for`` makes (computed when
        the rows were prepared), written in bulk."""
        from rumbo.matching.models import MatchKey, MatchProfile

        office_id = self.batch.office_id
        profiles: list[Row] = []
        keys: list[Row] = []
        for row in new:
            pid = row.person_id
            profiles.append((pid, office_id, *row.profile))
            keys.extend((k, office_id, pid) for k in row.keys)
        keys.sort(key=_first)
        self.writer.write(MatchProfile, self.profile_columns, profiles)
        self.writer.write(MatchKey, MATCH_KEY_COLUMNS, keys)

    def _duplicates(self, new: list[Prepared]) -> None:
        """Candidates of each new person (itself left out) at or above the review threshold: the row is
        marked and a ``DuplicatePair`` queued."""
        if not new:
            return
        found = self.candidates_bulk(
            self.office_ids,
            [row.data for row in new],
            limit=CANDIDATES_PER_ROW + 1,
            min_probability=self.threshold,
        )
        pairs: dict[tuple[int, int], tuple[Any, ...]] = {}
        stamp = self.writer.datetime(timezone.now())
        earlier: set[int] = set()
        chunk_ids = {row.person_id for row in new}
        for row, candidates in zip(new, found, strict=True):
            own = row.person_id
            assert own is not None
            kept = [
                c for c in candidates if c.person_id != own and c.comparison.probability >= self.threshold
            ][:CANDIDATES_PER_ROW]
            if not kept:
                continue
            row.status = ImportRow.Status.DUPLICATE_SUSPECTED
            row.candidates = [
                {
                    "person_id": c.person_id,
                    "office_id": c.office_id,
                    "probability": round(float(c.comparison.probability), 4),
                }
                for c in kept
            ]
            for c in kept:
                a, b = sorted((own, c.person_id))
                if (a, b) in pairs:
                    continue
                office_of = {own: self.batch.office_id, c.person_id: c.office_id}
                pairs[(a, b)] = _pair_row(
                    (a, b),
                    office_of,
                    float(c.comparison.match_weight),
                    float(c.comparison.probability),
                    c.comparison.as_json(),
                    stamp,
                )
                if c.person_id not in chunk_ids:
                    earlier.add(c.person_id)
        _insert_pairs(list(pairs.values()))
        if earlier:
            # Rows of earlier chunks of this file matched by this one are possible duplicates too.
            marked = ImportRow.objects.filter(
                batch_id=self.batch.pk, person_id__in=earlier, status=ImportRow.Status.CREATED
            ).update(status=ImportRow.Status.DUPLICATE_SUSPECTED)
            self.counters.possible_duplicates += marked
            self.counters.created -= marked

    def _match_created(self) -> tuple[set[int], list[Pair], dict[int, int]]:
        """The duplicate check of a large file, once, for every person it creates (see the module
        docstring): the created persons, the scored pairs and each person's office."""
        from rumbo.matching.dedupe import import_pairs

        created = {
            pid
            for seen in self.seen.values()
            if seen.status == ImportRow.Status.CREATED and (pid := seen.person()) is not None
        }
        if not created:
            return created, [], {}
        known = {pid: self.known[pid] for pid in created if pid in self.known}
        self.known = {}
        pairs, offices = import_pairs(created, self.office_ids, threshold=self.threshold, known=known)
        return created, pairs, offices

    def _store_matches(self, created: set[int], pairs: list[Pair], offices: dict[int, int]) -> None:
        """The pairs at or above the threshold queued, and the rows of the created persons they involve
        marked: the same pairs, candidates and row marks as :meth:`_duplicates`."""
        from rumbo.matching.scoring import evidence_json

        if not created:
            return
        evidence_of = evidence_json()
        found: dict[int, list[tuple[float, int]]] = {}
        stamp = self.writer.datetime(timezone.now())
        queued: dict[tuple[int, int], tuple[Any, ...]] = {}
        for left, right, weight, probability, gammas in pairs:
            if probability < self.threshold:
                continue
            a, b = sorted((left, right))
            if (a, b) in queued:
                continue
            queued[a, b] = _pair_row((a, b), offices, weight, probability, evidence_of(gammas), stamp)
            for own, other in ((a, b), (b, a)):
                if own in created:
                    found.setdefault(own, []).append((probability, other))
        marks: dict[int, str] = {}
        for person_id, candidates in found.items():
            best = sorted(candidates, key=lambda c: (-c[0], c[1]))[:CANDIDATES_PER_ROW]
            listed = [
                {"person_id": pid, "office_id": offices[pid], "probability": round(p, 4)} for p, pid in best
            ]
            marks[person_id] = json_dumps(listed)
        with transaction.atomic():
            _insert_pairs(list(queued.values()))
            marked = _mark_rows(self.batch.pk, marks)
            c = self.counters
            c.possible_duplicates += marked
            c.created -= marked
            ImportBatch.objects.filter(pk=self.batch.pk).update(
                created_count=c.created, possible_duplicates_count=c.possible_duplicates
            )

    def _write_rows(self, prepared: list[Prepared]) -> None:
        json = self.writer.json
        empty_dict, empty_list = json({}), json([])
        batch_id, office_id = self.batch.pk, self.batch.office_id
        rows: list[Row] = []
        for p in prepared:
            person_id = p.repeat_of.person() if p.repeat_of is not None else p.person_id
            rows.append(
                (
                    batch_id,
                    office_id,
                    p.number,
                    p.status,
                    p.sha256,
                    json(p.errors) if p.errors else empty_dict,
                    json(p.raw) if p.raw else empty_list,
                    person_id,
                    json(p.candidates) if p.candidates else empty_list,
                )
            )
        self.writer.write(ImportRow, IMPORT_ROW_COLUMNS, rows)

    def _count(self, prepared: list[Prepared]) -> None:
        c = self.counters
        for p in prepared:
            c.processed += 1
            if p.status == ImportRow.Status.CREATED:
                c.created += 1
            elif p.status == ImportRow.Status.DUPLICATE_SUSPECTED:
                c.possible_duplicates += 1
            elif p.status == ImportRow.Status.ALREADY_IMPORTED:
                c.skipped_existing += 1
            else:
                c.failed += 1


# The columns ``_insert_pairs`` writes, with their PostgreSQL types (for the column arrays).
_PAIR_COLUMNS, _PAIR_TYPES = zip(
    ("person_a_id", "bigint"),
    ("person_b_id", "bigint"),
    ("office_a_id", "bigint"),
    ("office_b_id", "bigint"),
    ("source", "text"),
    ("match_weight", "float8"),
    ("probability", "float8"),
    ("fields", "jsonb"),
    ("decision", "text"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    strict=True,
)


def _pair_row(
    pair: tuple[int, int],
    offices: Mapping[int, int],
    weight: float,
    probability: float,
    evidence: list[dict[str, Any]],
    stamp: Any,
) -> tuple[Any, ...]:
    """A ``DuplicatePair`` found by an import, in ``_PAIR_COLUMNS`` order (``pair`` sorted)."""
    from rumbo.matching.models import DuplicatePair

    a, b = pair
    source, pending = DuplicatePair.Source.IMPORT, DuplicatePair.Decision.PENDING
    return (
        a,
        b,
        offices[a],
        offices[b],
        source,
        weight,
        probability,
        json_dumps(evidence),
        pending,
        stamp,
        stamp,
    )


def _insert_pairs(rows: list[tuple[Any, ...]]) -> None:
    """Queue ``DuplicatePair`` rows (``_PAIR_COLUMNS``), a pair already queued left as it is (a batch
    deduplication may have found it meanwhile): one INSERT from column arrays on PostgreSQL, one
    ``executemany`` on SQLite. (Django's ``bulk_create`` builds a model per row: a second for a few thousand
    pairs.)"""
    if not rows:
        return
    from rumbo.matching.models import DuplicatePair

    qn = connection.ops.quote_name
    head = f"INSERT INTO {qn(DuplicatePair._meta.db_table)} ({', '.join(qn(c) for c in _PAIR_COLUMNS)})"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: a column array per field.
            arrays = ", ".join(f"%s::{kind}[]" for kind in _PAIR_TYPES)
            cursor.execute(
                f"{head} SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING",  # noqa: S608
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            values = ", ".join(["%s"] * len(_PAIR_COLUMNS))
            cursor.executemany(f"{head} VALUES ({values}) ON CONFLICT DO NOTHING", rows)


def _mark_rows(batch_id: int, marks: dict[int, str]) -> int:
    """Mark the batch's "created" rows of the persons in ``marks`` (person id → candidates as JSON) as
    possible duplicates; returns how many rows were marked. PostgreSQL: one UPDATE joined with the arrays of
    person ids and candidates. SQLite: the rows' ids read by person, then one ``executemany`` by id. (Django's
    ``bulk_update`` builds a CASE expression per row: seconds for a few thousand rows.)"""
    if not marks:
        return 0
    table = connection.ops.quote_name(ImportRow._meta.db_table)
    suspected, created = ImportRow.Status.DUPLICATE_SUSPECTED, ImportRow.Status.CREATED
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # one statement, joined with the batch's created rows
            cursor.execute(
                f"UPDATE {table} r SET status = %s, candidates = v.candidates::jsonb "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::text[]) AS v(person_id, candidates) "
                "WHERE r.batch_id = %s AND r.status = %s AND r.person_id = v.person_id",
                [suspected, list(marks), list(marks.values()), batch_id, created],
            )
            return int(cursor.rowcount)
    updates: list[tuple[str, str, int]] = []
    ids = sorted(marks)
    for start in range(0, len(ids), 900):
        for pk, person_id in ImportRow.objects.filter(
            batch_id=batch_id, person_id__in=ids[start : start + 900], status=ImportRow.Status.CREATED
        ).values_list("pk", "person_id"):
            updates.append((suspected, marks[person_id], pk))
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET status = %s, candidates = %s WHERE id = %s", updates)  # noqa: S608
    return len(updates)


class _Matcher:
    """The final duplicate check of a large file (``matching.dedupe.ImportPairs``) beside the writes, in a
    process forked when the import starts: fed the created persons of each piece as it is classified (their
    ids reserved beforehand), it looks up at once the registry's persons sharing their keys, and scores
    everything when told every row is classified — on its own core, while this process writes (a thread
    would wait for this one's interpreter lock). It reads through a connection of its own and sends back the
    pairs."""

    BATCH = 20_000  # created persons looked up together (fewer, larger registry reads)

    def __init__(self, office_ids: list[int], threshold: float, *, exclude: list[tuple[int, int]]) -> None:
        context = multiprocessing.get_context("fork")
        self.created: set[int] = set()
        self.finished = False
        self._inbox: Any = context.Queue()  # its feeder thread sends: putting never waits for the check
        self._results, outbox = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_match_in_child,
            args=(self._inbox, outbox, office_ids, threshold, exclude),
            name="rumbo-import-matcher",
            daemon=True,
        )
        self._process.start()
        outbox.close()

    def feed(self, known: dict[int, KnownProfile]) -> None:
        self.created.update(known)
        self._inbox.put(known)

    def finish(self) -> None:
        """Every row is classified: score."""
        self.finished = True
        self._inbox.put(None)

    def result(self) -> tuple[set[int], list[Pair], dict[int, int]]:
        """Wait for the check: its pairs and each person's office."""
        if not self.finished:
            self.finish()
        try:
            status, payload = self._results.recv()
        except EOFError:
            status, payload = "error", f"the duplicate check ended (exit code {self._process.exitcode})"
        finally:
            self._close()
        if status != "ok":
            raise RuntimeError(f"Duplicate check failed: {payload}")
        pairs, offices = payload
        return self.created, pairs, offices

    def cancel(self) -> None:
        """The import stopped: end the check."""
        self._process.terminate()
        self._close()

    def _close(self) -> None:
        self._process.join()
        self._inbox.cancel_join_thread()  # what the check will never read is dropped
        self._inbox.close()
        self._results.close()


_INHERITED: list[Any] = []  # the parent's database connections, in a forked matcher: never used nor closed


def _match_in_child(
    inbox: Any, outbox: Any, office_ids: list[int], threshold: float, exclude: list[tuple[int, int]]
) -> None:
    import signal
    import traceback

    from django.db import connections

    from rumbo.matching.dedupe import ImportPairs

    # Default signal handling (the parent may be a task worker that traps SIGTERM: ``cancel`` must end this).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent's connections are left alone (closing one would end the parent's session); Django opens
    # this process's own on its first query.
    for conn in connections.all(initialized_only=True):
        _INHERITED.append(conn.connection)
        conn.connection = None
    try:
        check = ImportPairs(office_ids, threshold=threshold, exclude=exclude)
        batch: dict[int, KnownProfile] = {}
        while (known := inbox.get()) is not None:
            batch.update(known)
            if len(batch) >= _Matcher.BATCH:
                check.add(batch)
                batch = {}
        check.add(batch)
        outbox.send(("ok", check.pairs()))
    except BaseException:
        outbox.send(("error", traceback.format_exc()))
    finally:
        connections.close_all()
        outbox.close()


def batch_match_min_rows() -> int:
    """Files with at least this many rows are checked for duplicates in one pass at the end."""
    from django.conf import settings

    return int(getattr(settings, "RUMBO_IMPORT_BATCH_MATCH_MIN_ROWS", BATCH_MATCH_MIN_ROWS))


class _DryRun(Exception):
    """Raised to roll a dry run back."""


def import_run(
    *,
    actor: Any,
    batch: ImportBatch,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
    dry_run: bool = False,
    workers: int | None = None,
) -> ImportBatch:
    """Import a batch now (the background task and ``rumbo import_persons`` call this).

    Needs ``IMPORT_PERSONS`` in the batch's office. Messages are written in the batch's language.
    ``progress(n)`` is called after each chunk with the number of rows it held. ``dry_run``: everything is
    done and counted, then rolled back (nothing is kept, not even the counts on the batch). ``workers``:
    validation processes for large files (default ``RUMBO_IMPORT_WORKERS`` or one per core; 0: none).
    Returns the batch with its final counters, status ``done`` or ``failed`` (``error`` says why), and
    ``timings`` (seconds per phase).
    """
    require(actor, Perm.IMPORT_PERSONS, batch.office_id)
    offices = sorted(member_office_ids(actor) | {batch.office_id})
    started = time.perf_counter()
    with scope(office=offices), translation.override(batch.language or None):
        if not dry_run:
            return _run(actor, batch, progress, chunk_size, workers, started)
        try:
            with transaction.atomic():
                _run(actor, batch, progress, chunk_size, workers, started)
                raise _DryRun
        except _DryRun:
            pass
        return batch


def _run(
    actor: Any,
    batch: ImportBatch,
    progress: Callable[[int], None] | None,
    chunk_size: int,
    workers: int | None,
    started: float,
) -> ImportBatch:
    batch.status = ImportBatch.Status.RUNNING
    batch.started_at = timezone.now()
    batch.finished_at = None
    batch.error = ""
    batch.save(update_fields=["status", "started_at", "finished_at", "error"])
    engine: ImportEngine | None = None
    try:
        engine = ImportEngine(batch, actor, chunk_size=chunk_size, progress=progress, workers=workers)
        engine.run()
    except Exception as exc:
        if isinstance(exc, ImportFailed):
            batch.error = str(exc)
        else:
            logger.exception("Import of batch %s failed", batch.pk)
            batch.error = _("The import stopped because of an unexpected error (%(kind)s).") % {
                "kind": type(exc).__name__
            }
        batch.status = ImportBatch.Status.FAILED
    else:
        batch.status = ImportBatch.Status.DONE
    timings: dict[str, Any] = {}
    if engine is not None:
        c = engine.counters
        batch.processed_rows = c.processed
        batch.created_count = c.created
        batch.skipped_existing_count = c.skipped_existing
        batch.failed_count = c.failed
        batch.possible_duplicates_count = c.possible_duplicates
        timings = {k: round(v, 3) for k, v in engine.timer.seconds.items()}
        timings["prepare_cpu"] = round(engine.prepare_cpu_seconds, 3)
        timings["workers"] = engine.workers_used
    timings["total"] = round(time.perf_counter() - started, 3)
    batch.timings = timings
    batch.finished_at = timezone.now()
    with transaction.atomic():
        batch.save()
        if batch.status == ImportBatch.Status.DONE:
            # The file holds every row's personal data, and nothing reads it once the import is done (the
            # error report is built from the rows kept in ImportRow). A failed batch keeps it, to be looked
            # at; a dry run rolls back, so this never runs for it.
            path = stored_file(batch)
            transaction.on_commit(lambda: path.unlink(missing_ok=True))
        audit_record(
            actor=actor,
            action=Action.PERSON_IMPORT,
            office=batch.office,
            obj=batch,
            detail={
                "file_name": batch.file_name,
                "file_sha256": batch.file_sha256,
                "status": batch.status,
                "rows": batch.total_rows,
                "created": batch.created_count,
                "already_imported": batch.skipped_existing_count,
                "invalid": batch.failed_count,
                "possible_duplicates": batch.possible_duplicates_count,
                "error": batch.error,
            },
        )
    return batch
