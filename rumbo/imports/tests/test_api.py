"""Tests of the imports API: permission matrix of every route, upload with and without a mapping, errors at
the field, progress, the rows with errors (audited)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.imports.models import ImportBatch
from rumbo.imports.tests.conftest import csv_bytes, upload
from rumbo.imports.tests.utils import HEADERS, import_file, rows
from rumbo.lib.testing.api import assert_error, token_client
from rumbo.lib.testing.factories import member
from rumbo.offices.models import Role

PERSONAS = ["no_role", "caseworker", "auditor", "coordinator", "trainer", "jalisco_caseworker"]
IMMEDIATE = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "imports"],
    }
}


@pytest.fixture
def batch(world: Any) -> ImportBatch:
    return import_file(world.admin, world.michoacan)


@pytest.fixture
def jalisco_admin(world: Any) -> Any:
    return member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")


def _client(user: Any) -> Any:
    client = token_client(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _create(client: Any, office: Any, content: bytes | None = None, name: str = "p.csv", **extra: Any) -> Any:
    data = {"office": office.pk, "file": upload(name, content or csv_bytes(rows())), **extra}
    return client.post(reverse("api-imports-list"), data)


ROUTES = ["api-imports-detail", "api-imports-errors"]


def test_anonymous_is_401(client, batch):
    assert_error(client.get(reverse("api-imports-list")), 401)
    assert_error(client.get(reverse("api-imports-detail", args=[batch.pk])), 401)
    assert_error(client.get(reverse("api-imports-errors", args=[batch.pk])), 401)


@pytest.mark.parametrize("persona", PERSONAS)
def test_users_who_may_not_import_get_403_everywhere(world, batch, persona):
    client = _client(getattr(world, persona))
    assert_error(client.get(reverse("api-imports-list")), 403)
    assert_error(_create(client, world.michoacan), 403)
    for route in ROUTES:
        assert_error(client.get(reverse(route, args=[batch.pk])), 403)
    assert ImportBatch.objects.count() == 1


def test_another_office_batch_is_404(world, batch, jalisco_admin):
    client = _client(jalisco_admin)
    for route in ROUTES:
        assert_error(client.get(reverse(route, args=[batch.pk])), 404)
    assert client.get(reverse("api-imports-list")).json()["count"] == 0


def test_upload_into_another_office_is_400_at_office(world, jalisco_admin):
    error = assert_error(_create(_client(jalisco_admin), world.michoacan), 400)
    assert list(error["fields"]) == ["office"]
    assert not ImportBatch.objects.exists()


def test_upload_into_own_office_without_the_permission_is_403(world, jalisco_admin):
    from rumbo.lib.testing.factories import MembershipFactory

    MembershipFactory(user=jalisco_admin, office=world.michoacan, role=Role.CASEWORKER)
    assert_error(_create(_client(jalisco_admin), world.michoacan), 403)
    assert not ImportBatch.objects.exists()


def test_office_admin_imports_a_file_in_the_background(world, settings, django_capture_on_commit_callbacks):
    settings.TASKS = IMMEDIATE
    client = _client(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(client, world.michoacan)
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == reverse("api-imports-detail", args=[body["id"]])
    assert body["mapping"][0] == "given_names" and body["status"] == "running"
    detail = client.get(reverse("api-imports-detail", args=[body["id"]])).json()
    assert detail["status"] == "done"
    assert (detail["total_rows"], detail["created_count"], detail["failed_count"]) == (6, 3, 3)
    assert detail["percent"] == 100
    errors = client.get(reverse("api-imports-errors", args=[body["id"]])).json()
    assert errors["count"] == 3
    first = errors["results"][0]
    assert first["row_number"] == 3 and list(first["errors"]) == ["curp"]
    assert first["values"][:2] == ["Pedro", "Vargas"]
    assert AuditEvent.objects.filter(action=Action.IMPORT_REPORT_DOWNLOAD).count() == 1


def test_mapping_as_json_object_or_list(world, settings, django_capture_on_commit_callbacks):
    settings.TASKS = IMMEDIATE
    client = _client(world.admin)
    mapping = {"Nombre(s)": "given_names", "Apellido paterno": "first_surname"}
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(client, world.michoacan, mapping=json.dumps(mapping))
    assert response.status_code == 201
    assert response.json()["mapping"] == ["given_names", "first_surname", *[""] * (len(HEADERS) - 2)]
    as_list = ["given_names", "surnames", *[""] * (len(HEADERS) - 2)]
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(client, world.michoacan, mapping=json.dumps(as_list))
    assert response.json()["mapping"] == as_list


def test_unusable_mapping_is_400_at_mapping_and_keeps_nothing(world, data_dir):
    client = _client(world.admin)
    error = assert_error(_create(client, world.michoacan, mapping=json.dumps({"Sexo": "sex"})), 400)
    assert "Choose the column with the given names." in error["fields"]["mapping"]
    error = assert_error(_create(client, world.michoacan, mapping="{not json"), 400)
    assert "mapping" in error["fields"]
    assert not ImportBatch.objects.exists()


def test_wrong_file_is_400_at_file(world, settings):
    client = _client(world.admin)
    error = assert_error(_create(client, world.michoacan, b"%PDF", name="p.pdf"), 400)
    assert error["fields"] == {"file": ["Upload a .csv or .xlsx file."]}
    settings.RUMBO_IMPORT_MAX_BYTES = 10
    error = assert_error(_create(client, world.michoacan), 400)
    assert list(error["fields"]) == ["file"]
    assert not ImportBatch.objects.exists()


def test_json_body_is_415(world):
    response = _client(world.admin).post(
        reverse("api-imports-list"), {"office": world.michoacan.pk}, content_type="application/json"
    )
    assert_error(response, 415)


def test_list_shows_the_batches_of_the_office(world, batch):
    body = _client(world.admin).get(reverse("api-imports-list")).json()
    assert body["count"] == 1 and body["results"][0]["id"] == batch.pk
    assert body["results"][0]["errors_url"] == reverse("api-imports-errors", args=[batch.pk])


def test_unknown_batch_is_404(world):
    assert_error(_client(world.admin).get(reverse("api-imports-detail", args=[999999])), 404)
