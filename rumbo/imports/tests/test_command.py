"""``rumbo import_persons``: a synchronous import from the command line, with a summary."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.tests.conftest import csv_bytes, xlsx_bytes
from rumbo.imports.tests.utils import HEADERS, rows
from rumbo.people.models import Person


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_persons", *args, "--no-progress", stdout=out)
    return out.getvalue()


def test_imports_a_file_as_a_user_into_an_office(world, tmp_path):
    path = tmp_path / "personas.csv"
    path.write_bytes(csv_bytes(rows()))
    out = _run(str(path), "--office", "ofam-mich", "--as", world.admin.username)
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.DONE and batch.created_by == world.admin
    assert Person.objects.filter(office=world.michoacan).count() == 3
    assert "Nombre(s) →" in out
    assert "rows/s" in out  # test code runs in English (root conftest)
    assert "3:" in out  # the bad rows are listed with their row numbers


def test_office_by_id_mapping_as_json_and_xlsx(world, tmp_path):
    path = tmp_path / "personas.xlsx"
    path.write_bytes(xlsx_bytes(rows()))
    mapping = {"Nombre(s)": "given_names", "Apellido paterno": "first_surname", "CURP": "curp"}
    _run(
        str(path),
        "--office",
        str(world.michoacan.pk),
        "--as",
        world.admin.username,
        "--mapping",
        json.dumps(mapping),
    )
    batch = ImportBatch.objects.get()
    assert batch.mapping == ["given_names", "first_surname", *[""] * 3, "curp", *[""] * (len(HEADERS) - 6)]
    # Unmapped columns are ignored: only the bad CURP and the missing name are errors now.
    assert batch.created_count + batch.possible_duplicates_count == 4
    assert set(
        ImportRow.objects.filter(batch=batch, status=ImportRow.Status.INVALID).values_list(
            "row_number", flat=True
        )
    ) == {3, 7}


def test_dry_run_keeps_nothing(world, tmp_path, data_dir, django_capture_on_commit_callbacks):
    path = tmp_path / "personas.csv"
    path.write_bytes(csv_bytes(rows()))
    with django_capture_on_commit_callbacks(execute=True):
        out = _run(str(path), "--office", "ofam-mich", "--as", world.admin.username, "--dry-run")
    assert "Dry run: nothing was kept." in out
    assert not Person.objects.exists() and not ImportBatch.objects.exists()
    assert not list((data_dir / "imports").iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--office", "nowhere", "--as", "admin-mich"], "There is no office nowhere."),
        (["--office", "ofam-mich", "--as", "nobody"], "There is no user nobody."),
        (["--office", "ofam-mich", "--as", "lucia"], "lucia may not import persons in OFAM Michoacán."),
        (["--office", "ofam-mich", "--as", "admin-mich", "--mapping", "[1"], "--mapping must be auto, JSON"),
    ],
)
def test_errors_are_explained(world, tmp_path, args, message):
    path = tmp_path / "personas.csv"
    path.write_bytes(csv_bytes(rows()))
    with pytest.raises(CommandError) as caught:
        _run(str(path), *args)
    assert str(caught.value).startswith(message)
    assert not ImportBatch.objects.exists()


def test_a_file_of_the_wrong_type_is_refused(world, tmp_path):
    path = tmp_path / "personas.txt"
    path.write_text("hola")
    with pytest.raises(CommandError) as caught:
        _run(str(path), "--office", "ofam-mich", "--as", world.admin.username)
    assert "Upload a .csv or .xlsx file." in str(caught.value)
