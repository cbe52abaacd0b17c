"""Tests of the import services: upload checks, the bulk import (good rows kept, bad rows reported per field,
idempotent), CSV and XLSX, duplicate detection, audit, and rows equal to what ``person_create`` writes."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from rumbo.audit.models import Action, AuditEvent
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.services import (
    import_error_report,
    import_run,
    import_set_mapping,
    import_start,
    import_upload,
)
from rumbo.imports.services.engine import ImportEngine
from rumbo.imports.tests.conftest import csv_bytes, upload, xlsx_bytes
from rumbo.imports.tests.utils import ANA_CURP, GOOD_ANA, HEADERS, LUIS_CURP, import_file, rows
from rumbo.matching.index import index_person
from rumbo.matching.models import DuplicatePair, MatchKey, MatchProfile
from rumbo.people.models import Address, Document, Nationality, Person, Phone, SearchToken
from rumbo.people.search import reindex_person
from rumbo.people.tests.utils import JOSE_CURP, make_person

# --- upload --------------------------------------------------------------------------------------------


def _stored(data_dir: Path) -> list[Path]:
    folder = data_dir / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_upload_stores_the_file_outside_the_web_root_and_suggests_a_mapping(world, data_dir):
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    assert batch.status == ImportBatch.Status.UPLOADED
    assert batch.file_kind == "csv" and batch.file_name == "p.csv"
    assert len(batch.file_sha256) == 64
    assert batch.headers == HEADERS
    assert batch.mapping[:6] == [
        "given_names", "first_surname", "second_surname", "sex", "birth_date", "curp",
    ]  # fmt: skip
    assert batch.mapping[6:] == ["phone", "email", "nationality", "municipality", "state", "address"]
    stored = _stored(data_dir)
    assert len(stored) == 1 and stored[0].read_bytes() == csv_bytes(rows())
    assert stored[0].stat().st_mode & 0o077 == 0  # readable by the owner only


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("personas.pdf", b"%PDF-1.4", "Upload a .csv or .xlsx file."),
        ("personas.csv", b"", "The file is empty."),
        ("personas.xlsx", b"Nombre,Apellido\nAna,Ruiz\n", "This is not an Excel (.xlsx) file."),
        ("personas.csv", b"\x00\x01\x02binary", "This is not a CSV text file."),
        (
            "personas.csv",
            b"Nombre,Apellido\n",
            "The file is empty: it needs a header row and at least one row",
        ),
    ],
)
def test_wrong_files_are_refused_at_the_file_field_and_nothing_is_kept(
    world, data_dir, name, content, message
):
    with pytest.raises(ValidationError) as caught:
        import_upload(actor=world.admin, office=world.michoacan, upload=upload(name, content))
    assert list(caught.value.message_dict) == ["file"]
    assert caught.value.message_dict["file"][0].startswith(message)
    assert not ImportBatch.objects.exists()
    assert _stored(data_dir) == []


def test_too_large_file_is_refused_at_the_file_field(world, data_dir, settings):
    settings.RUMBO_IMPORT_MAX_BYTES = 100
    content = csv_bytes(rows())
    with pytest.raises(ValidationError) as caught:
        import_upload(actor=world.admin, office=world.michoacan, upload=upload("p.csv", content))
    assert caught.value.message_dict["file"] == ["The file is too large: at most 9.53674e-05 MB."]
    assert not ImportBatch.objects.exists() and _stored(data_dir) == []


def test_a_client_lying_about_the_size_is_caught_while_storing(world, data_dir, settings):
    settings.RUMBO_IMPORT_MAX_BYTES = 100
    file = upload("p.csv", csv_bytes(rows()))
    file.size = 10
    with pytest.raises(ValidationError) as caught:
        import_upload(actor=world.admin, office=world.michoacan, upload=file)
    assert "file" in caught.value.message_dict
    assert _stored(data_dir) == []


def test_only_office_admins_may_upload(world):
    for user in (world.caseworker, world.auditor, world.jalisco_caseworker, world.no_role):
        with pytest.raises(PermissionDenied):
            import_upload(actor=user, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows())))


def test_mapping_must_name_given_names_and_a_surname_and_use_fields_once(world):
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    wrong = ["", "first_surname", "first_surname", "nonsense", *[""] * 8]
    with pytest.raises(ValidationError) as caught:
        import_set_mapping(actor=world.admin, batch=batch, mapping=wrong)
    messages = caught.value.message_dict["mapping"]
    assert "Unknown field: nonsense." in messages
    assert "Each field can take one column only: first_surname." in messages
    assert "Choose the column with the given names." in messages
    with pytest.raises(ValidationError):
        import_set_mapping(actor=world.admin, batch=batch, mapping=["given_names"])  # not one per column


# --- the import ----------------------------------------------------------------------------------------


def test_import_keeps_good_rows_and_reports_each_bad_row_per_field(world):
    batch = import_file(world.admin, world.michoacan)
    assert batch.status == ImportBatch.Status.DONE, batch.error
    assert (batch.total_rows, batch.processed_rows) == (6, 6)
    assert (batch.created_count, batch.failed_count, batch.skipped_existing_count) == (3, 3, 0)
    created = {p.given_names: p for p in Person.objects.filter(office=world.michoacan)}
    assert set(created) == {"Ana", "Luis", "Rosa María"}
    ana, luis, rosa = created["Ana"], created["Luis"], created["Rosa María"]
    assert (ana.sex, ana.birth_date, ana.email) == ("F", datetime.date(1985, 3, 2), "ana@example.com")
    assert (luis.sex, luis.birth_date) == ("M", datetime.date(1979, 11, 30))
    assert (rosa.birth_date, rosa.birth_date_precision) == (datetime.date(1990, 3, 1), "month")
    assert ana.created_by == world.admin
    assert list(Document.objects.filter(person=ana).values_list("kind", "number", "flags")) == [
        ("curp", ANA_CURP, [])
    ]
    assert list(Phone.objects.filter(person=ana).values_list("e164", "is_primary")) == [
        ("+524435550101", True)
    ]
    assert list(Nationality.objects.filter(person=rosa).values_list("country", flat=True)) == ["HN"]
    address = Address.objects.get(person=ana)
    assert (address.admin_area.code, address.text) == ("16053", "Calle Hidalgo 12")
    assert Address.objects.get(person=luis).admin_area.code == "16053"
    assert not Address.objects.filter(person=rosa).exists()

    bad = {r.row_number: r for r in ImportRow.objects.filter(batch=batch, status=ImportRow.Status.INVALID)}
    assert set(bad) == {3, 5, 7}  # spreadsheet row numbers: the header is row 1
    assert list(bad[3].errors) == ["curp"]
    assert set(bad[5].errors) == {"birth_date", "phone", "email"}
    assert bad[5].errors["birth_date"] == ["This date does not exist."]
    assert list(bad[7].errors) == ["given_names"]
    assert bad[7].errors["given_names"] == ["This field is required."]
    assert bad[3].raw[:2] == ["Pedro", "Vargas"]
    assert not Person.objects.filter(given_names__in=["Pedro", "Juana"]).exists()
    good = ImportRow.objects.filter(batch=batch, status=ImportRow.Status.CREATED)
    assert {r.person.given_names for r in good} == {"Ana", "Luis", "Rosa María"}
    assert all(r.raw == [] for r in good)  # the values of created rows live in the registry only


def test_errors_are_written_in_the_language_of_the_batch(world):
    with translation.override("es"):
        batch = import_upload(
            actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
        )
    assert batch.language == "es"
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    batch = import_run(actor=world.admin, batch=batch)
    row = ImportRow.objects.get(batch=batch, row_number=7)
    with translation.override("es"):
        expected = translation.gettext("This field is required.")
    assert expected != "This field is required."  # the people app's catalogue has it
    assert row.errors["given_names"] == [expected]


def test_the_same_file_imported_twice_creates_nothing_new(world):
    first = import_file(world.admin, world.michoacan)
    persons = Person.objects.count()
    tokens, keys = SearchToken.objects.count(), MatchKey.objects.count()
    second = import_file(world.admin, world.michoacan)
    assert second.file_sha256 == first.file_sha256
    assert second.status == ImportBatch.Status.DONE
    assert (second.created_count, second.skipped_existing_count, second.failed_count) == (0, 3, 3)
    assert Person.objects.count() == persons
    assert (SearchToken.objects.count(), MatchKey.objects.count()) == (tokens, keys)
    again = ImportRow.objects.filter(batch=second, status=ImportRow.Status.ALREADY_IMPORTED)
    originals = dict(
        ImportRow.objects.filter(batch=first, person__isnull=False).values_list("row_number", "person")
    )
    assert {r.row_number: r.person_id for r in again} == originals


def test_rows_written_differently_but_equal_once_normalised_are_already_imported(world):
    import_file(world.admin, world.michoacan)
    respelled = ["  ANA ", "zamora", "RUIZ", "m", "1985-03-02", ANA_CURP.lower(), "443 555 0101",
                 "ANA@example.com", "Mexicana", "morelia", "MICHOACÁN", "calle  hidalgo 12"]  # fmt: skip
    reordered = [HEADERS[::-1], respelled[::-1]]
    batch = import_file(world.admin, world.michoacan, "otra.csv", csv_bytes(reordered))
    assert (batch.created_count, batch.skipped_existing_count) == (0, 1)


def test_a_row_repeated_in_the_same_file_is_created_once(world):
    content = csv_bytes([HEADERS, GOOD_ANA, GOOD_ANA, GOOD_ANA])
    batch = import_file(world.admin, world.michoacan, content=content)
    assert (batch.created_count + batch.possible_duplicates_count, batch.skipped_existing_count) == (1, 2)
    ana = Person.objects.get(given_names="Ana")
    assert set(ImportRow.objects.filter(batch=batch).values_list("person_id", flat=True)) == {ana.pk}


def test_xlsx_with_spreadsheet_dates_and_numbers_is_imported(world):
    content = xlsx_bytes(
        [
            [
                "Nombre",
                "Primer apellido",
                "Segundo apellido",
                "Sexo",
                "Fecha de nacimiento",
                "Celular",
                "CURP",
            ],
            ["Ana", "Zamora", "Ruiz", "Mujer", datetime.datetime(1985, 3, 2), 4435550101, ANA_CURP],
            ["Luis", "Quintero", "Mora", "Hombre", datetime.date(1979, 11, 30), 3355550202.0, LUIS_CURP],
            [None, None, None, None, None, None, None],  # blank rows are skipped
            ["", "Sin nombre", "", "", "", "", ""],
        ]
    )
    batch = import_file(world.admin, world.michoacan, "personas.xlsx", content)
    assert batch.file_kind == "xlsx"
    assert (batch.total_rows, batch.created_count, batch.failed_count) == (3, 2, 1)
    ana = Person.objects.get(given_names="Ana")
    assert (ana.sex, ana.birth_date) == ("F", datetime.date(1985, 3, 2))
    assert Phone.objects.get(person=ana).e164 == "+524435550101"
    assert ImportRow.objects.get(batch=batch, status=ImportRow.Status.INVALID).row_number == 5


def test_csv_in_latin1_with_semicolons_is_imported(world):
    content = csv_bytes([HEADERS, GOOD_ANA, GOOD_LUIS_ACCENTED()], delimiter=";", encoding="latin-1")
    batch = import_file(world.admin, world.michoacan, content=content)
    assert batch.created_count == 2, list(ImportRow.objects.filter(batch=batch).values("errors"))
    assert Person.objects.filter(first_surname="Quiñónez").exists()


def GOOD_LUIS_ACCENTED() -> list[str]:
    return ["Luis", "Quiñónez", "Mora", "H", "30/11/1979", "", "", "", "MX", "", "", ""]


def test_created_persons_have_the_rows_person_create_writes(world):
    """Search tokens, CURP flags and the match index of an imported person equal what the services (and
    their reindexing) write for the same person."""
    batch = import_file(world.admin, world.michoacan)
    ana = Person.objects.get(pk=ImportRow.objects.get(batch=batch, row_number=2).person_id)
    tokens = sorted(SearchToken.objects.filter(person=ana).values_list("token", "kind", "sig"))
    profile = MatchProfile.objects.filter(person=ana).values().get()
    keys = sorted(MatchKey.objects.filter(person=ana).values_list("key", flat=True))
    reindex_person(ana)
    index_person(ana)
    assert sorted(SearchToken.objects.filter(person=ana).values_list("token", "kind", "sig")) == tokens
    assert MatchProfile.objects.filter(person=ana).values().get() == profile
    assert sorted(MatchKey.objects.filter(person=ana).values_list("key", flat=True)) == keys


def test_curp_that_disagrees_is_imported_and_flagged(world):
    row = list(GOOD_ANA)
    row[4] = "03/03/1985"  # the CURP says 2 March
    batch = import_file(world.admin, world.michoacan, content=csv_bytes([HEADERS, row]))
    assert batch.created_count == 1
    assert Document.objects.get(number=ANA_CURP).flags == ["birth_date"]


def test_every_created_person_and_the_batch_are_audited(world):
    batch = import_file(world.admin, world.michoacan)
    created = set(Person.objects.filter(office=world.michoacan).values_list("pk", flat=True))
    events = AuditEvent.objects.filter(action=Action.PERSON_CREATE)
    assert {int(e.object_id) for e in events} == created
    assert all(e.detail == {"import_batch": batch.pk} and e.actor == world.admin for e in events)
    summary = AuditEvent.objects.get(action=Action.PERSON_IMPORT)
    assert summary.object_id == str(batch.pk)
    assert summary.detail["created"] == 3 and summary.detail["invalid"] == 3


@pytest.fixture(params=["per chunk", "at the end"])
def duplicate_check(request, settings):
    """Both duplicate checks: chunk by chunk (small files) and one Splink pass at the end (large files)."""
    settings.RUMBO_IMPORT_BATCH_MATCH_MIN_ROWS = 10**9 if request.param == "per chunk" else 0
    return request.param


def test_duplicate_of_an_existing_person_is_flagged_and_queued(world, duplicate_check):
    jose = make_person(world.caseworker, world.michoacan)
    row = ["Jose", "Hernandez", "Lopez", "H", "15/01/1990", JOSE_CURP, "4431234567", "", "MX", "", "", ""]
    batch = import_file(world.admin, world.michoacan, content=csv_bytes([HEADERS, row, GOOD_ANA]))
    assert (batch.created_count, batch.possible_duplicates_count) == (1, 1)
    flagged = ImportRow.objects.get(batch=batch, status=ImportRow.Status.DUPLICATE_SUSPECTED)
    assert flagged.person_id != jose.pk
    assert flagged.candidates[0]["person_id"] == jose.pk
    assert flagged.candidates[0]["office_id"] == world.michoacan.pk
    assert flagged.candidates[0]["probability"] >= 0.5
    pair = DuplicatePair.objects.get()
    assert (pair.person_a_id, pair.person_b_id) == (jose.pk, flagged.person_id)
    assert pair.source == DuplicatePair.Source.IMPORT and pair.decision == DuplicatePair.Decision.PENDING
    assert (pair.office_a_id, pair.office_b_id) == (world.michoacan.pk, world.michoacan.pk)
    assert pair.fields and {"field", "agreement", "weight"} <= set(pair.fields[0])


def test_rows_of_the_same_file_that_match_each_other_are_flagged(world, duplicate_check):
    twin = ["Ana", "Zamora", "Ruiz", "M", "02/03/1985", ANA_CURP, "", "", "", "", "", ""]
    content = csv_bytes([HEADERS, GOOD_ANA, twin])
    batch = import_file(world.admin, world.michoacan, content=content)
    assert batch.created_count + batch.possible_duplicates_count == 2
    assert batch.possible_duplicates_count == 2
    pair = DuplicatePair.objects.get()
    assert {pair.person_a_id, pair.person_b_id} == set(
        ImportRow.objects.filter(batch=batch).values_list("person_id", flat=True)
    )


def test_rows_matching_a_row_of_an_earlier_chunk_are_flagged_both(world, duplicate_check):
    twin = ["Ana", "Zamora", "Ruiz", "M", "02/03/1985", ANA_CURP, "", "", "", "", "", ""]
    batch = import_upload(
        actor=world.admin,
        office=world.michoacan,
        upload=upload("p.csv", csv_bytes([HEADERS, GOOD_ANA, twin])),
    )
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    batch = import_run(actor=world.admin, batch=batch, chunk_size=1)
    assert batch.possible_duplicates_count == 2 and batch.created_count == 0
    assert set(ImportRow.objects.filter(batch=batch).values_list("status", flat=True)) == {
        ImportRow.Status.DUPLICATE_SUSPECTED
    }


def test_dry_run_keeps_nothing(world):
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    result = import_run(actor=world.admin, batch=batch, dry_run=True)
    assert (result.created_count, result.failed_count) == (3, 3)
    assert not Person.objects.exists()
    assert not ImportRow.objects.exists()
    assert not AuditEvent.objects.filter(action__in=[Action.PERSON_CREATE, Action.PERSON_IMPORT]).exists()
    assert ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.MAPPED


def test_a_failure_marks_the_batch_failed_and_keeps_earlier_chunks(world, monkeypatch):
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    calls = {"n": 0}
    original = ImportEngine._write_index

    def failing(self, new):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return original(self, new)

    monkeypatch.setattr(ImportEngine, "_write_index", failing)
    batch = import_run(actor=world.admin, batch=batch, chunk_size=2)
    assert batch.status == ImportBatch.Status.FAILED
    assert "RuntimeError" in batch.error
    assert batch.processed_rows == 2  # the first chunk stays; the second was rolled back whole
    assert Person.objects.count() == 1
    assert AuditEvent.objects.get(action=Action.PERSON_IMPORT).detail["status"] == "failed"


def test_missing_stored_file_fails_the_batch_with_a_reason(world, data_dir):
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    for path in (data_dir / "imports").iterdir():
        path.unlink()
    batch = import_run(actor=world.admin, batch=batch)
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.error == "The uploaded file is no longer available: upload it again."


def test_start_needs_a_mapping(world):
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    with pytest.raises(ValidationError):
        import_start(actor=world.admin, batch=batch)


# --- error report --------------------------------------------------------------------------------------


def test_error_report_has_the_original_columns_and_the_reasons_and_is_audited(world):
    bad = list(GOOD_ANA)
    bad[0] = '=HYPERLINK("http://evil")'
    bad[5] = "NOTACURP"
    batch = import_file(world.admin, world.michoacan, content=csv_bytes([HEADERS, bad, *rows()[1:]]))
    report = import_error_report(actor=world.admin, batch=batch)
    assert report[0] == [*HEADERS, "errors"]
    assert len(report) == 1 + batch.failed_count
    first = report[1]
    assert first[0] == '\'=HYPERLINK("http://evil")'  # formula neutralised
    assert first[-1].startswith("CURP: ")
    assert (
        AuditEvent.objects.filter(action=Action.IMPORT_REPORT_DOWNLOAD, object_id=str(batch.pk)).count() == 1
    )
    with pytest.raises(PermissionDenied):
        import_error_report(actor=world.caseworker, batch=batch)


def test_reserved_person_ids_are_never_given_again(world):
    """An import reserves its persons' ids before writing them: nothing registered meanwhile takes one."""
    from rumbo.demo.writers import writer_for
    from rumbo.people.tests.utils import make_person

    before = make_person(world.caseworker, world.michoacan)
    ids = writer_for("auto").reserve_ids(Person, 5)
    assert len(ids) == 5 and ids == list(range(ids[0], ids[0] + 5)) and ids[0] > before.pk
    after = make_person(world.caseworker, world.michoacan, given_names="Otra", first_surname="Persona")
    assert after.pk > ids[-1]
    assert writer_for("auto").reserve_ids(Person, 3)[0] > after.pk


# --- the stored file -----------------------------------------------------------------------------------


def test_a_finished_import_removes_its_file_and_keeps_its_error_report(
    world, data_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch = import_file(world.admin, world.michoacan)
    assert batch.status == ImportBatch.Status.DONE
    assert _stored(data_dir) == []
    report = import_error_report(actor=world.admin, batch=batch)  # built from the rows, not the file
    assert len(report) == 1 + batch.failed_count == 4
    assert report[1][1] == "Vargas"


def test_a_dry_run_keeps_the_file(world, data_dir, django_capture_on_commit_callbacks):
    batch = import_upload(
        actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows()))
    )
    import_set_mapping(actor=world.admin, batch=batch, mapping=batch.mapping)
    with django_capture_on_commit_callbacks(execute=True):
        import_run(actor=world.admin, batch=batch, dry_run=True)
    assert len(_stored(data_dir)) == 1


def test_anonymising_a_person_clears_their_import_rows_and_removes_the_files(
    world, data_dir, django_capture_on_commit_callbacks
):
    from django.apps import apps

    twin = ["Ana", "Zamora", "Ruiz", "M", "02/03/1985", ANA_CURP, "", "", "", "", "", ""]
    # Callbacks not run: the file stays, as it did for every batch imported before files were removed.
    batch = import_file(
        world.admin, world.michoacan, content=csv_bytes([HEADERS, GOOD_ANA, twin, *rows()[2:]])
    )
    assert len(_stored(data_dir)) == 1
    ana_row = ImportRow.objects.filter(batch=batch, person__isnull=False).order_by("row_number").first()
    assert ana_row is not None and ana_row.candidates  # the twin
    ana = Person.objects.get(pk=ana_row.person_id)
    with django_capture_on_commit_callbacks(execute=True):
        removed = apps.get_app_config("imports").anonymise_person(ana)
    assert removed == {"import_rows": 1, "import_files": 1}
    ana_row.refresh_from_db()
    assert (ana_row.raw, ana_row.candidates) == ([], [])
    assert _stored(data_dir) == []
    others = ImportRow.objects.filter(batch=batch).exclude(pk=ana_row.pk)
    assert others.filter(status=ImportRow.Status.INVALID).exclude(raw=[]).count() == 3  # not Ana's
