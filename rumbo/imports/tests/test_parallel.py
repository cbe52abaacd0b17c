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
