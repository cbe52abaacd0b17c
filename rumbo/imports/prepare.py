"""The per-row work of an import that needs no write: reading the row, validating it and computing every
derived value the writer stores — search tokens, CURP flags, match features and blocking keys.

It runs in worker processes when the file is large (``PreparePool``: validation is the costliest part of
an import and Python runs it on one core per process), else in the importing process. Either way the
same :class:`Preparer` does it, so both paths give the same rows. Workers read the database (places,
earlier imports) through their own connections and never write.
"""

from __future__ import annotations

import datetime
import gc
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any, cast

from django.conf import settings
from django.db import connection, connections
from django.utils import translation
from django_scopes import scope

from rumbo.imports.fields import cell_text
from rumbo.imports.models import ImportRow
from rumbo.imports.rows import BuiltRow, RowBuilder
from rumbo.lib.dates import fixed_today
from rumbo.lib.memory import collector_paused
from rumbo.people.data import PersonData
from rumbo.people.models import Person
from rumbo.people.search import person_tokens, token_signature
from rumbo.people.services._common import area_cache
from rumbo.people.services.rows import document_values

#: Files with at least this many rows are validated in worker processes (when the database allows it).
PARALLEL_MIN_ROWS = 5000


def worker_count() -> int:
    """Validation processes for large files: ``RUMBO_IMPORT_WORKERS``, by default one per CPU core."""
    configured = getattr(settings, "RUMBO_IMPORT_WORKERS", None)
    if configured is not None:
        return max(0, int(configured))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class PrepareSpec:
    """What a worker needs to read the rows of one batch."""

    headers: tuple[str, ...]
    mapping: tuple[str, ...]
    region: str
    sex_values: frozenset[str]
    office_id: int
    language: str
    today: datetime.date
    # Whether a valid row keeps its cleaned ``PersonData`` (``Prepared.data``): only the per-chunk duplicate
    # check of small files reads it. Large files leave it out: a third less to send back from the workers.
    keep_data: bool = True


@dataclass(slots=True)
class Prepared:
    """One row, read and validated; for a valid row, everything the writer stores except the person id."""

    number: int
    sha256: str
    status: str  # ImportRow.Status: created (valid), invalid, already_imported (earlier batch)
    errors: dict[str, list[str]] = field(default_factory=dict)
    raw: list[str] = field(default_factory=list)
    person_id: int | None = None  # already imported: that person
    data: PersonData | None = None
    person: tuple[Any, ...] = ()  # Person columns from given_names to preferred_language
    nationalities: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    documents: list[tuple[Any, ...]] = field(default_factory=list)
    phones: list[tuple[Any, ...]] = field(default_factory=list)
    addresses: list[tuple[Any, ...]] = field(default_factory=list)
    tokens: list[tuple[str, str]] = field(default_factory=list)
    sig: int = 0
    profile: tuple[Any, ...] = ()  # MatchProfile values in profile_columns() order
    keys: list[int] = field(default_factory=list)
    # Set by the importing process:
    candidates: list[dict[str, Any]] = field(default_factory=list)
    repeat_of: Any = None  # the first row of this file with the same values


class _PersonView:
    """The attributes of a ``Person`` that ``people.services.rows.document_values`` reads."""

    __slots__ = (
        "birth_country",
        "birth_date",
        "birth_date_precision",
        "birth_place",
        "first_surname",
        "given_names",
        "second_surname",
        "sex",
    )

    def __init__(self, data: PersonData, birth_place: Any) -> None:
        self.given_names = data.given_names
        self.first_surname = data.first_surname
        self.second_surname = data.second_surname
        self.sex = data.sex
        self.birth_date = data.birth_date
        self.birth_date_precision = data.birth_date_precision
        self.birth_country = data.birth_country
        self.birth_place = birth_place


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.date) else value


def profile_columns() -> tuple[str, ...]:
    """``MatchProfile`` columns a writer fills from :attr:`Prepared.profile` (after person and office)."""
    from rumbo.matching.features import PROFILE_FIELDS

    return tuple(PROFILE_FIELDS)


class Preparer:
    """Reads, validates and derives the rows of one batch (in a worker or in the importing process)."""

    def __init__(self, spec: PrepareSpec) -> None:
        from rumbo.matching.features import features_from_data, profile_values
        from rumbo.matching.keys import blocking_keys

        self.spec = spec
        self.builder = RowBuilder(
            spec.headers, spec.mapping, region=spec.region, sex_values=spec.sex_values, today=spec.today
        )
        self.features_from_data = features_from_data
        self.profile_values = profile_values
        self.blocking_keys = blocking_keys
        self.profile_columns = profile_columns()
        self._birth_index = self.profile_columns.index("birth_date")
        self._areas: dict[int, Any] = {}

    def prepare(self, rows: Sequence[tuple[int, Sequence[Any]]]) -> list[Prepared]:
        """One :class:`Prepared` per (row number, cells). Rows already imported into the office by an
        earlier batch are not validated again."""
        with fixed_today(self.spec.today), collector_paused():
            return self._prepare(rows)

    def _prepare(self, rows: Sequence[tuple[int, Sequence[Any]]]) -> list[Prepared]:
        built = []
        for number, values in rows:
            built.append(self.builder.build(number, values))
        with scope(office=[self.spec.office_id]):
            existing = dict(
                ImportRow.objects.filter(
                    office_id=self.spec.office_id,
                    row_sha256__in={b.sha256 for b in built},
                    status__in=[ImportRow.Status.CREATED, ImportRow.Status.DUPLICATE_SUSPECTED],
                    person__isnull=False,
                ).values_list("row_sha256", "person_id")
            )
        out: list[Prepared] = []
        for row in built:
            if row.sha256 in existing:
                out.append(
                    Prepared(
                        row.number,
                        row.sha256,
                        ImportRow.Status.ALREADY_IMPORTED,
                        person_id=existing[row.sha256],
                    )
                )
                continue
            self.builder.validate(row)
            out.append(self._derive(row))
        return out

    def _derive(self, row: BuiltRow) -> Prepared:
        data = row.clean
        if data is None:
            return Prepared(
                row.number,
                row.sha256,
                ImportRow.Status.INVALID,
                errors=row.errors,
                raw=[cell_text(v) for v in row.values],
            )
        # What ``document_values`` reads of a person (CURP flags), without a model instance per row.
        person = _PersonView(data, self._area(data.birth_place_id) if data.birth_place_id else None)
        documents = []
        for doc in data.documents:
            values = document_values(cast(Person, person), doc)
            documents.append(
                (
                    values["kind"],
                    values["number"],
                    values["number_normalized"],
                    values["issuing_country"],
                    _iso(values["issued_on"]),
                    _iso(values["expires_on"]),
                    values["flags"],
                )
            )
        tokens = list(
            person_tokens(
                given_names=data.given_names,
                first_surname=data.first_surname,
                second_surname=data.second_surname,
                aliases=[(a.given_names, a.surnames) for a in data.aliases],
                documents=[d.number for d in data.documents],
                phones=[p.number for p in data.phones],
            )
        )
        # The match index rows ``matching.index.rows_for`` makes, as plain values.
        features = self.features_from_data(data)
        profile = self.profile_values(features)
        return Prepared(
            row.number,
            row.sha256,
            ImportRow.Status.CREATED,
            data=data if self.spec.keep_data else None,
            person=(
                data.given_names,
                data.first_surname,
                data.second_surname,
                data.sex,
                _iso(data.birth_date),
                data.birth_date_precision,
                data.birth_country,
                data.birth_place_id,
                data.email,
                data.preferred_language,
            ),
            nationalities=list(data.nationalities),
            languages=list(data.languages),
            documents=documents,
            phones=[(p.number, p.kind, p.whatsapp, p.is_primary) for p in data.phones],
            addresses=[
                (a.country, a.admin_area_id, a.text, a.lat, a.lon, a.is_current) for a in data.addresses
            ],
            tokens=tokens,
            sig=token_signature(t for t, _ in tokens),
            profile=self._profile_row(profile),
            keys=self.blocking_keys(features),
        )

    def _profile_row(self, profile: dict[str, Any]) -> tuple[Any, ...]:
        """The profile's values in :func:`profile_columns` order, the date of birth as ISO text (the only
        value that is not text already)."""
        values = [profile[c] for c in self.profile_columns]
        values[self._birth_index] = _iso(values[self._birth_index])
        return tuple(values)

    def _area(self, area_id: int) -> Any:
        from rumbo.geo.models import AdminArea

        area = self._areas.get(area_id)
        if area is None:
            area = self._areas[area_id] = AdminArea.objects.get(pk=area_id)
        return area


# --- worker processes ------------------------------------------------------------------------------------

_worker: Preparer | None = None
_worker_cache: Any = None


def _init_worker(spec: PrepareSpec) -> None:
    """Start of a worker process: default signal handling (the parent may be a task worker that traps
    SIGTERM), the batch's language, the area cache, and the batch's :class:`Preparer`."""
    global _worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    translation.activate(spec.language or settings.LANGUAGE_CODE)
    global _worker_cache
    # For the life of the process; the reference keeps the context manager from being collected (and
    # the cache switched off again).
    _worker_cache = area_cache()
    _worker_cache.__enter__()
    if _worker is None or _worker.spec != spec:  # else inherited from the parent, already warm
        _worker = Preparer(spec)
    # What the process holds so far (modules, settings, caches) lives as long as it does: out of the
    # collector's sight, each collection only walks the rows of the chunk in hand.
    gc.freeze()


#: The fields of :class:`Prepared` a worker sends back, in order: all but the last two, which the importing
#: process sets.
_WIRE_FIELDS = tuple(f.name for f in dataclass_fields(Prepared))[:-2]
assert _WIRE_FIELDS[-1] == "keys"
_STATUS_AT = _WIRE_FIELDS.index("status")
_STATUSES = {status.value: status for status in ImportRow.Status}


def to_wire(prepared: list[Prepared]) -> list[tuple[Any, ...]]:
    """Rows as plain tuples of their fields, the status as its text: a third of the time to pickle and half
    the time to unpickle of the dataclasses (whose status, an enum member, is pickled as a call)."""
    fields = _WIRE_FIELDS
    out = []
    for row in prepared:
        values = [getattr(row, name) for name in fields]
        values[_STATUS_AT] = row.status.value if isinstance(row.status, ImportRow.Status) else row.status
        out.append(tuple(values))
    return out


def from_wire(rows: list[tuple[Any, ...]]) -> list[Prepared]:
    """The :class:`Prepared` rows of :func:`to_wire`."""
    statuses = _STATUSES
    out = []
    for values in rows:
        row = Prepared(*values)
        row.status = statuses.get(row.status, row.status)
        out.append(row)
    return out


def _prepare_in_worker(rows: Sequence[tuple[int, Sequence[Any]]]) -> tuple[list[tuple[Any, ...]], float]:
    assert _worker is not None
    started = time.process_time()
    out = to_wire(_worker.prepare(rows))
    return out, time.process_time() - started


def sqlite_file_database() -> bool:
    """Whether the default database is SQLite in a file (not an in-memory test database)."""
    if connection.vendor != "sqlite":
        return False
    name = str(connection.settings_dict.get("NAME") or "")
    return bool(name) and ":memory:" not in name and "mode=memory" not in name


def can_fork() -> bool:
    """Worker processes need a database they can open themselves (not an in-memory SQLite test database)
    and no transaction in progress (the parent's connection is closed before forking)."""
    if os.name != "posix" or connection.in_atomic_block:
        return False
    return connection.vendor != "sqlite" or sqlite_file_database()


_EXIT_GRACE_SECONDS = 60.0  # how long the pieces in flight may take to finish when an import stops


class PreparePool:
    """Prepared chunks, in order: from worker processes when ``workers`` > 0, else in this process."""

    def __init__(
        self,
        spec: PrepareSpec,
        workers: int,
        *,
        window: int | None = None,
        warm: Sequence[tuple[int, Sequence[Any]]] = (),
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.warm = warm  # a few rows to prepare once before the workers start (see __enter__)
        self.window = window or 2 * workers  # pieces in flight
        self.cpu_seconds = 0.0  # spent preparing, summed over the processes
        self._pool: Any = None
        self._local: Preparer | None = None
        self._pending: deque[Any] = deque()  # worker results in flight, in order

    def __enter__(self) -> PreparePool:
        if self.workers > 0:
            global _worker
            # Built once here, and warmed on a few rows (places, phone metadata and country names are
            # loaded on first use), rather than in every worker: the workers inherit it ready.
            _worker = Preparer(self.spec)
            if self.warm:
                with area_cache():
                    _worker.prepare(self.warm)
            # A forked child must not share the parent's database connection: close it first, the parent
            # opens a new one on its next query and each child opens its own.
            connections.close_all()
            context = multiprocessing.get_context("fork")
            self._pool = context.Pool(self.workers, initializer=_init_worker, initargs=(self.spec,))
            _worker = None  # the workers have theirs
        else:
            self._local = Preparer(self.spec)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        # The pieces still in flight (an import that stopped early) are let finish first, then the idle
        # workers are closed: terminating a worker while it writes a result can leave the pool's result pipe
        # locked, and Pool.terminate() would then wait for that lock for ever. terminate() only for a worker
        # that does not finish in time.
        deadline = time.monotonic() + _EXIT_GRACE_SECONDS
        finished = True
        while self._pending:
            pending = self._pending.popleft()
            pending.wait(max(0.0, deadline - time.monotonic()))
            finished = finished and pending.ready()
        if finished:
            pool.close()
        else:
            pool.terminate()
        pool.join()

    def ready(self) -> bool:
        """Whether the next piece :meth:`map` yields is already validated (in-process: never ahead)."""
        return bool(self._pending) and self._pending[0].ready()

    def _take(self, pending: deque[Any]) -> list[Prepared]:
        prepared, cpu = pending.popleft().get()
        self.cpu_seconds += cpu
        return from_wire(prepared)

    def map(self, chunks: Iterable[Sequence[tuple[int, Sequence[Any]]]]) -> Iterator[list[Prepared]]:
        if self._pool is not None:
            # A bounded window of chunks in flight: workers stay ahead of the writer without the whole
            # prepared file piling up in memory when writing is the slower side.
            pending: deque[Any] = self._pending
            for chunk in chunks:
                pending.append(self._pool.apply_async(_prepare_in_worker, (chunk,)))
                if len(pending) >= self.window:
                    yield self._take(pending)
            while pending:
                yield self._take(pending)
            return
        assert self._local is not None
        for chunk in chunks:
            started = time.process_time()
            prepared = self._local.prepare(chunk)
            self.cpu_seconds += time.process_time() - started
            yield prepared
