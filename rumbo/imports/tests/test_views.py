"""Tests of the import pages: permission matrix of every view, the upload → mapping → progress → results
flow, errors at the file field, the preview, the error report download."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from rumbo.audit.models import Action, AuditEvent
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.services import import_upload
from rumbo.imports.tests.conftest import csv_bytes, damaged_xlsx_bytes, upload, xlsx_bytes
from rumbo.imports.tests.utils import GOOD_ANA, HEADERS, import_file, rows
from rumbo.lib.testing.factories import member
from rumbo.matching.models import DuplicatePair
from rumbo.offices.models import Role
from rumbo.people.models import Person
from rumbo.people.tests.utils import make_person


def _client(world: Any, user: Any) -> Any:
    """A logged-in client whose requests ask for English (the assertions read English text)."""
    client = world.client_for(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


PERSONAS = ["no_role", "caseworker", "auditor", "coordinator", "trainer", "jalisco_caseworker"]


@pytest.fixture
def jalisco_admin(world: Any) -> Any:
    return member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")


@pytest.fixture
def batch(world: Any) -> ImportBatch:
    return import_file(world.admin, world.michoacan)


@pytest.fixture
def uploaded(world: Any) -> ImportBatch:
    return import_upload(actor=world.admin, office=world.michoacan, upload=upload("p.csv", csv_bytes(rows())))


def _request(client: Any, name: str, pk: int | None) -> Any:
    url = reverse(name, args=[pk] if pk is not None else [])
    if name == "imports:preview":
        return client.post(url, {f"col_{i}": "" for i in range(len(HEADERS))})
    return client.get(url)


VIEWS = ["imports:detail", "imports:status", "imports:report", "imports:mapping", "imports:preview"]


@pytest.mark.parametrize("name", ["imports:list", *VIEWS])
def test_anonymous_is_sent_to_log_in(client, world, batch, name):
    pk = None if name == "imports:list" else batch.pk
    response = _request(client, name, pk)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", ["imports:list", *VIEWS])
def test_users_who_may_not_import_get_403(world, batch, persona, name):
    pk = None if name == "imports:list" else batch.pk
    response = _request(_client(world, getattr(world, persona)), name, pk)
    assert response.status_code == 403


@pytest.mark.parametrize("name", VIEWS)
def test_another_office_batch_is_404(world, batch, jalisco_admin, name):
    assert _request(_client(world, jalisco_admin), name, batch.pk).status_code == 404


@pytest.mark.parametrize("name", VIEWS)
def test_office_admin_may_use_every_view(world, uploaded, name):
    client = _client(world, world.admin)
    response = _request(client, name, uploaded.pk)
    # An import not started yet shows its mapping page instead of its results.
    expected = {"imports:detail": 302, "imports:report": 200, "imports:status": 200}.get(name, 200)
    assert response.status_code == expected


def test_list_shows_own_office_batches_only(world, batch, jalisco_admin):
    import_file(jalisco_admin, world.jalisco, "jalisco.csv")
    page = _client(world, world.admin).get(reverse("imports:list")).content.decode()
    assert "personas.csv" in page and "jalisco.csv" not in page


def test_upload_then_map_then_start_then_results(world, django_capture_on_commit_callbacks, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
                                  "QUEUES": ["default", "imports"]}}  # fmt: skip
    client = _client(world, world.admin)
    response = client.post(
        reverse("imports:list"),
        {"office": world.michoacan.pk, "file": upload("personas.xlsx", xlsx_bytes(rows()))},
    )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("imports:mapping", args=[batch.pk])
    page = client.get(response["Location"]).content.decode()
    assert 'value="given_names" selected' in page  # suggested from "Nombre(s)"
    assert "Ana" in page and "This date does not exist." in page  # the preview, errors included
    mapping = {f"col_{i}": target for i, target in enumerate(batch.mapping)}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("imports:mapping", args=[batch.pk]), mapping)
    assert response.status_code == 302 and response["Location"] == reverse("imports:detail", args=[batch.pk])
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE and batch.created_count == 3
    page = client.get(response["Location"]).content.decode()
    assert "Rows with errors" in page and "This date does not exist." in page
    assert reverse("imports:report", args=[batch.pk]) in page
    assert "hx-trigger" not in page  # finished: no more polling


def test_running_import_polls_its_progress(world, uploaded):
    ImportBatch.objects.filter(pk=uploaded.pk).update(
        status=ImportBatch.Status.RUNNING, total_rows=6, processed_rows=3
    )
    client = _client(world, world.admin)
    page = client.get(reverse("imports:detail", args=[uploaded.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert '<progress max="6" value="3"' in page
    partial = client.get(reverse("imports:status", args=[uploaded.pk]), HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode() and "3 of 6 rows" in partial.content.decode()
    assert "checking the new persons" not in partial.content.decode()


def test_running_import_says_when_it_checks_duplicates_after_the_last_row(world, uploaded):
    ImportBatch.objects.filter(pk=uploaded.pk).update(
        status=ImportBatch.Status.RUNNING, total_rows=6, processed_rows=6, started_at=timezone.now()
    )
    client = _client(world, world.admin)
    partial = client.get(reverse("imports:status", args=[uploaded.pk]), HTTP_HX_REQUEST="true")
    assert "checking the new persons against the registry" in partial.content.decode()


def test_wrong_file_type_is_reported_at_the_file_field_and_nothing_is_kept(world, data_dir):
    client = _client(world, world.admin)
    response = client.post(
        reverse("imports:list"), {"office": world.michoacan.pk, "file": upload("personas.pdf", b"%PDF")}
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["Upload a .csv or .xlsx file."]}
    assert not ImportBatch.objects.exists()
    assert not (data_dir / "imports").exists() or not list((data_dir / "imports").iterdir())


def test_damaged_xlsx_is_reported_at_the_file_field_and_nothing_is_kept(world, data_dir):
    client = _client(world, world.admin)
    response = client.post(
        reverse("imports:list"),
        {"office": world.michoacan.pk, "file": upload("personas.xlsx", damaged_xlsx_bytes(rows()))},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["This is not an Excel (.xlsx) file."]}
    assert not ImportBatch.objects.exists()
    assert not (data_dir / "imports").exists() or not list((data_dir / "imports").iterdir())


def test_too_large_file_is_reported_at_the_file_field(world, settings):
    settings.RUMBO_IMPORT_MAX_BYTES = 1024 * 1024
    client = _client(world, world.admin)
    big = csv_bytes(rows()) + b"x" * (1024 * 1024 + 1)
    response = client.post(
        reverse("imports:list"), {"office": world.michoacan.pk, "file": upload("p.csv", big)}
    )
    assert response.context["form"].errors == {"file": ["The file is too large: at most 1 MB."]}
    assert not ImportBatch.objects.exists()


def test_upload_to_an_office_where_the_user_may_not_import_is_refused(world):
    response = _client(world, world.admin).post(
        reverse("imports:list"), {"office": world.jalisco.pk, "file": upload("p.csv", csv_bytes(rows()))}
    )
    assert "office" in response.context["form"].errors
    assert not ImportBatch.objects.exists()


def test_preview_follows_the_mapping_being_edited(world, uploaded):
    client = _client(world, world.admin)
    mapping = {f"col_{i}": target for i, target in enumerate(uploaded.mapping)}
    mapping["col_0"] = ""  # no given names
    response = client.post(reverse("imports:preview", args=[uploaded.pk]), mapping, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Choose the column with the given names." in body
    assert "This field is required." in body


def test_mapping_errors_are_shown_and_nothing_starts(world, uploaded):
    client = _client(world, world.admin)
    mapping = {f"col_{i}": "" for i in range(len(HEADERS))}
    response = client.post(reverse("imports:mapping", args=[uploaded.pk]), mapping)
    assert response.status_code == 200
    assert "Choose the column with the given names." in response.content.decode()
    uploaded.refresh_from_db()
    assert uploaded.status == ImportBatch.Status.UPLOADED


def test_results_link_possible_duplicates_to_the_persons(world):
    jose = make_person(world.caseworker, world.michoacan)
    row = ["José", "Hernández", "López", "H", "15/01/1990", "", "443 123 4567", "", "MX", "", "", ""]
    batch = import_file(world.admin, world.michoacan, content=csv_bytes([HEADERS, row, GOOD_ANA]))
    assert batch.possible_duplicates_count == 1
    page = _client(world, world.admin).get(reverse("imports:detail", args=[batch.pk])).content.decode()
    flagged = ImportRow.objects.get(batch=batch, status=ImportRow.Status.DUPLICATE_SUSPECTED)
    assert reverse("people:detail", args=[jose.pk]) in page
    assert reverse("people:detail", args=[flagged.person_id]) in page
    pair = DuplicatePair.objects.get()
    assert reverse("matching:compare", args=[pair.pk]) in page


def test_error_report_download_is_a_formula_safe_csv_and_audited(world, batch):
    response = _client(world, world.admin).get(reverse("imports:report", args=[batch.pk]))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    text = response.content.decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].split(",")[-1] == "errors"
    assert len(lines) == 1 + batch.failed_count
    assert AuditEvent.objects.filter(action=Action.IMPORT_REPORT_DOWNLOAD).count() == 1
    assert Person.objects.count() == 3


def test_a_failed_import_says_why(world, uploaded):
    ImportBatch.objects.filter(pk=uploaded.pk).update(
        status=ImportBatch.Status.FAILED, error="The uploaded file is no longer available: upload it again."
    )
    page = _client(world, world.admin).get(reverse("imports:detail", args=[uploaded.pk])).content.decode()
    assert "The import stopped:" in page and "no longer available" in page
    assert "hx-trigger" not in page
