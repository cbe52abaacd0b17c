"""Large files are validated in worker processes: the result is the same as validating in-process."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection

from rumbo.imports import prepare
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.services import import_run, import_set_mapping, import_upload
from rumbo.imports.tests.conftest import csv_bytes, upload
from rumbo.imports.tests.utils import BAD_CURP, HEADERS, NO_NAME
from rumbo.people.models import Person, SearchToken
from rumbo.people.tests.utils import make_curp


def _rows(count: int) -> list[list[str]]:
    out = [HEADERS]
    for i in range(count):
        born = datetime.date(1960, 1, 1) + datetime.timedelta(days=97 * i)
        given = ["Ana", "Luis", "Rosa", "Juan", "Elena"][i % 5] + f" {chr(65 + i % 26)}"
        surname = ["Zamora", "Quintero", "Téllez", "Ibarra"][i % 4]
        curp = make_curp(given_names=given, first_surname=surname, second_surname="Ruiz", birth_date=born)
        out.append([given, surname, "Ruiz", "H", born.strftime("%d/%m/%Y"), curp, f"443 55{i:05d}"[:12],
                    "", "MX", "16053", "", "Calle 1"])  # fmt: skip
    out += [BAD_CURP, NO_NAME]
    return out


def test_can_fork_only_with_a_database_children_can_open(db):
    if connection.vendor == "sqlite":
        assert prepare.can_fork() is False  # the in-memory test database
    else:
        assert prepare.can_fork() is False  # inside the test's transaction


@pytest.mark.django_db(transaction=True)
def test_worker_processes_give_the_same_rows_as_in_process(world, monkeypatch):
    if not prepare.can_fork():
        pytest.skip("worker processes need a database they can open (PostgreSQL, or SQLite on disk)")
    monkeypatch.setattr("rumbo.imports.services.engine.PARALLEL_MIN_ROWS", 10)
    content = csv_bytes(_rows(40))
    results = {}
    for workers, office in ((2, world.michoacan), (0, world.jalisco)):
        admin = world.admin if office == world.michoacan else _jalisco_admin(world)
        batch = import_upload(actor=admin, office=office, upload=upload("p.csv", content))
        import_set_mapping(actor=admin, batch=batch, mapping=batch.mapping)
        batch = import_run(actor=admin, batch=batch, workers=workers, chunk_size=7)
        assert batch.status == ImportBatch.Status.DONE, batch.error
        assert batch.timings["workers"] == workers
        persons = Person.objects.filter(office=office).order_by("pk")
        results[workers] = (
            [(r.row_number, r.status, r.errors) for r in ImportRow.objects.filter(batch=batch)],
            [(p.given_names, p.birth_date) for p in persons],
            sorted(SearchToken.objects.filter(office=office).values_list("token", "kind", "sig")),
        )
    assert results[2] == results[0]
    assert len(results[2][1]) == 40


def _jalisco_admin(world):
    from rumbo.lib.testing.factories import member
    from rumbo.offices.models import Role

    return member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")


def _with_duplicates(count: int) -> list[list[str]]:
    """``_rows(count)`` plus a retyped copy of its first row (accents, phone without the area code's
    spaces): a duplicate inside the file."""
    rows = _rows(count)
    twin = list(rows[1])
    twin[6] = twin[6].replace(" ", "")
    rows.insert(len(rows) - 2, twin)
    return rows


@pytest.mark.django_db(transaction=True)
def test_the_duplicate_check_beside_the_writes_gives_what_the_check_after_them_gives(
    world, monkeypatch, settings
):
    """With worker processes the final duplicate check runs in a forked process, fed ids reserved before
    the writes; in-process it runs after them. Same rows flagged, same pairs, against the registry too."""
    if not prepare.can_fork():
        pytest.skip("worker processes need a database they can open (PostgreSQL, or SQLite on disk)")
    from rumbo.matching.models import DuplicatePair
    from rumbo.people.tests.utils import make_person

    monkeypatch.setattr("rumbo.imports.services.engine.PARALLEL_MIN_ROWS", 10)
    settings.RUMBO_IMPORT_BATCH_MATCH_MIN_ROWS = 0
    content = csv_bytes(_with_duplicates(30))
    first = _rows(1)[1]  # the registry already holds the person of the file's first row
    born = datetime.datetime.strptime(first[4], "%d/%m/%Y").date()
    outcome = {}
    for workers, office in ((2, world.michoacan), (0, world.jalisco)):
        admin = world.admin if office == world.michoacan else _jalisco_admin(world)
        registered = make_person(admin, office, given_names=first[0], first_surname=first[1],
                                 second_surname=first[2], birth_date=born, documents=[], phones=[])  # fmt: skip
        batch = import_upload(actor=admin, office=office, upload=upload("p.csv", content))
        import_set_mapping(actor=admin, batch=batch, mapping=batch.mapping)
        batch = import_run(actor=admin, batch=batch, workers=workers, chunk_size=7)
        assert batch.status == ImportBatch.Status.DONE, batch.error
        rows = {r.row_number: r for r in ImportRow.objects.filter(batch=batch)}
        number_of = {r.person_id: n for n, r in rows.items() if r.person_id}
        number_of[registered.pk] = "registered"
        pairs = {
            frozenset((number_of[p.person_a_id], number_of[p.person_b_id]))
            for p in DuplicatePair.objects.filter(office_a=office, office_b=office)
        }
        outcome[workers] = ({n: r.status for n, r in rows.items()}, pairs)
        created = sorted(
            Person.objects.filter(office=office).exclude(pk=registered.pk).values_list("pk", flat=True)
        )
        if workers:  # reserved together: consecutive, and a later registration lands after them
            assert created == list(range(created[0], created[0] + len(created)))
            later = make_person(admin, office, given_names="Otra", first_surname="Persona", documents=[])
            assert later.pk > created[-1]
    assert outcome[2] == outcome[0]
    statuses, pairs = outcome[2]
    assert frozenset((2, "registered")) in pairs  # against the registry
    assert frozenset((2, len(statuses) - 1)) in pairs  # inside the file (the retyped copy)
    assert statuses[2] == ImportRow.Status.DUPLICATE_SUSPECTED


@pytest.mark.django_db(transaction=True)
def test_an_import_that_stops_stops_its_duplicate_check(world, monkeypatch, settings):
    if not prepare.can_fork():
        pytest.skip("worker processes need a database they can open (PostgreSQL, or SQLite on disk)")
    from rumbo.imports.services import engine

    monkeypatch.setattr("rumbo.imports.services.engine.PARALLEL_MIN_ROWS", 10)
    settings.RUMBO_IMPORT_BATCH_MATCH_MIN_ROWS = 0
    started = []

    class Recorded(engine._Matcher):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    def fail(self, *args):
        if started and self.counters.processed:  # the second chunk: the check is running
            raise RuntimeError("disk full")
        return real_chunk(self, *args)

    real_chunk = engine.ImportEngine._chunk
    monkeypatch.setattr(engine, "_Matcher", Recorded)
    monkeypatch.setattr(engine.ImportEngine, "_chunk", fail)
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(_rows(40)))
    )
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    batch = import_run(actor=world.admin, batch=batch, workers=2, chunk_size=7)
    assert batch.status == ImportBatch.Status.FAILED
    assert started and not started[0]._process.is_alive()


def test_rows_cross_from_the_workers_unchanged():
    """Workers send rows as plain tuples (``to_wire``); the importing process gets back equal rows, the
    status again a member of ``ImportRow.Status``, and a pickled round trip changes nothing."""
    import pickle

    rows = [
        prepare.Prepared(
            7,
            "a" * 64,
            ImportRow.Status.CREATED,
            person=("Ana", "Ruiz", "", "F", "1990-01-02", "day", "MX", 5, "", "spa"),
            nationalities=["MX"],
            documents=[("curp", "X", "x", "MX", None, None, [])],
            phones=[("+524431234567", "mobile", True, True)],
            addresses=[("MX", 5, "Calle 1", None, None, True)],
            tokens=[("ana", "n")],
            sig=12,
            profile=("ana",),
            keys=[3, 1],
        ),
        prepare.Prepared(8, "b" * 64, ImportRow.Status.INVALID, errors={"curp": ["Bad."]}, raw=["x", ""]),
        prepare.Prepared(9, "c" * 64, ImportRow.Status.ALREADY_IMPORTED, person_id=41),
    ]
    wire = prepare.to_wire(rows)
    assert all(type(value) is tuple for value in wire)
    assert all(type(value[2]) is str for value in wire)  # no enum member to pickle
    back = prepare.from_wire(pickle.loads(pickle.dumps(wire)))  # noqa: S301 - our own bytes
    assert back == rows
    assert [type(row.status) for row in back] == [ImportRow.Status] * 3


def test_the_import_takes_its_sqlite_page_cache_from_the_settings_and_gives_it_back(db, settings):
    from rumbo.imports.services.engine import _sqlite_bulk_session

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's page cache")

    def cache_size() -> int:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            return int(cursor.fetchone()[0])

    before = cache_size()
    settings.RUMBO_IMPORT_SQLITE_CACHE_MIB = 7
    with _sqlite_bulk_session():
        assert cache_size() == -7 * 1024  # KiB
    assert cache_size() == before != -7 * 1024
