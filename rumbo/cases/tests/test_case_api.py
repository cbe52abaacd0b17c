"""The cases API: permission matrix of every route, another office's cases invisible, validation at the field
with nothing saved, audit."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.test import Client

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import Case, CaseStatus, ReturnEvent, ReturnPoint
from rumbo.cases.tests.casework_utils import make_family, open_case
from rumbo.geo.models import AdminArea
from rumbo.lib.testing.api import assert_error, token_client

LIST = "/api/v1/cases/"
POINTS = "/api/v1/return-points/"


def detail(case: Case) -> str:
    return f"/api/v1/cases/{case.pk}/"


def status_url(case: Case) -> str:
    return f"/api/v1/cases/{case.pk}/status/"


def returns_url(person: Any) -> str:
    return f"/api/v1/persons/{person.pk}/returns/"


def post(client: Client, url: str, body: Any) -> Any:
    """POST JSON, asking for English messages (the API answers in Spanish by default)."""
    return client.post(url, json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def family(world):
    return make_family(world.caseworker, world.michoacan)


@pytest.fixture
def case(world, family):
    return open_case(world.caseworker, family.parent, members=family.children)


def _statuses(world: Any, request: Any) -> dict[str, int]:
    users = {
        "no_role": world.no_role,
        "caseworker": world.caseworker,
        "admin": world.admin,
        "auditor": world.auditor,
        "trainer": world.trainer,
        "coordinator": world.coordinator,
        "jalisco": world.jalisco_caseworker,
    }
    return {name: request(token_client(user)).status_code for name, user in users.items()}


def test_matrix_of_the_read_routes(world, case, family):
    for url in (LIST, detail(case), returns_url(family.parent), POINTS):
        assert Client().get(url).status_code == 401, url
        got = _statuses(world, lambda c, url=url: c.get(url))
        other_office = 200 if url in (LIST, POINTS) else 404
        assert got == {
            "no_role": 403,
            "caseworker": 200,
            "admin": 200,
            "auditor": 200,
            "trainer": 403,
            "coordinator": 403,
            "jalisco": other_office,
        }, (url, got)


def test_matrix_of_the_write_routes(world, case, family):
    body_case = {"person": family.children[1].pk, "needs": {"schooling": ""}}
    body_status = {"status": "follow_up"}
    body_return = {"returned_on": "2025-06-01", "how": "voluntary"}
    routes = [
        (LIST, body_case, 201),
        (status_url(case), body_status, 200),
        (returns_url(family.parent), body_return, 201),
    ]
    for url, body, created in routes:
        assert Client().post(url, json.dumps(body), content_type="application/json").status_code == 401
        for user, expected in (
            (world.no_role, 403),
            (world.auditor, 403),
            (world.trainer, 403),
            (world.coordinator, 403),
        ):
            assert post(token_client(user), url, body).status_code == expected, (url, user.username)
        other = post(token_client(world.jalisco_caseworker), url, body)
        assert other.status_code == (400 if url == LIST else 404), (url, other.content)
        assert post(token_client(world.caseworker), url, body).status_code == created, url
        if url == status_url(case):
            body_status["status"] = "closed"
            body_status["reason"] = "done"
        if url == LIST:
            body_case["person"] = family.children[0].pk


def test_list_and_retrieve_are_scoped_and_audited(world, case):
    client = token_client(world.caseworker)
    body = client.get(LIST).json()
    assert body["count"] == 1 and not body["capped"]
    assert body["results"][0]["number"] == case.number
    assert body["results"][0]["person"]["name"] == "José Hernández López"
    jalisco = token_client(world.jalisco_caseworker).get(LIST).json()
    assert jalisco["count"] == 0
    assert token_client(world.jalisco_caseworker).get(LIST, {"q": case.number}).json()["count"] == 0
    full = client.get(detail(case)).json()
    assert full["needs"][0]["need"] in {"documents", "health"}
    assert len(full["members"]) == 2 and full["read_only"] is False
    assert full["status_history"][0]["to_status"] == "open"
    reads = AuditEvent.objects.filter(action=Action.CASE_API_READ, actor=world.caseworker)
    assert reads.filter(object_id=str(case.pk)).count() == 1
    assert reads.filter(object_id="").count() == 1  # the list


def test_list_filters(world, case, family):
    other = open_case(world.caseworker, family.children[0], needs={"schooling": ""}, priority="urgent")
    client = token_client(world.caseworker)
    assert [r["id"] for r in client.get(LIST, {"need": "schooling"}).json()["results"]] == [other.pk]
    assert [r["id"] for r in client.get(LIST, {"priority": "urgent"}).json()["results"]] == [other.pk]
    assert client.get(LIST, {"status": "closed"}).json()["count"] == 0
    assert client.get(LIST, {"q": "mateo"}).json()["results"][0]["id"] == other.pk
    assert_error(client.get(LIST, {"status": "lost"}), 400, "invalid")
    assert_error(client.get(LIST, {"page": 9}), 404)


def test_create_validates_at_the_field_and_saves_nothing(world, family):
    client = token_client(world.caseworker)
    neighbour = family.children[0]
    response = post(
        client,
        LIST,
        {"person": family.parent.pk, "needs": {"flying": ""}, "priority": "x"},
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"needs", "priority"}
    response = post(client, LIST, {"person": family.parent.pk, "members": [family.parent.pk], "needs": {}})
    assert "members" in assert_error(response, 400)["fields"]
    response = post(client, LIST, {"person": family.parent.pk, "assigned_to": world.auditor.pk})
    assert "assigned_to" in assert_error(response, 400)["fields"]
    assert not Case.objects.exists()
    created = post(
        client, LIST, {"person": family.parent.pk, "members": [neighbour.pk], "needs": {"work": "forklift"}}
    )
    assert created.status_code == 201
    assert created["Location"] == detail(Case.objects.get())
    assert created.json()["number"].startswith("OFAM-MICH-")


def test_status_change_refuses_a_bad_transition(world, case):
    client = token_client(world.caseworker)
    error = assert_error(post(client, status_url(case), {"status": "reopened", "reason": "x"}), 400)
    assert "status" in error["fields"]
    error = assert_error(post(client, status_url(case), {"status": "closed"}), 400)
    assert error["fields"]["reason"] == ["Say why the case is closed."]
    ok = post(client, status_url(case), {"status": "closed", "reason": "Services delivered"})
    assert ok.json()["status"] == CaseStatus.CLOSED


def test_returns_of_a_person(world, family):
    client = token_client(world.caseworker)
    california = AdminArea.objects.get(country="US", level=1, iso_3166_2="US-CA")
    point = ReturnPoint.objects.get(name="Módulo de Repatriación INM Tijuana")
    body = {
        "returned_on": "2025-10-01",
        "how": "deportation",
        "point": point.pk,
        "us_state": california.pk,
        "companions": [c.pk for c in family.children],
    }
    created = post(client, returns_url(family.parent), body)
    assert created.status_code == 201, created.content
    assert created.json()["us_state_code"] == "US-CA"
    listed = client.get(returns_url(family.parent)).json()
    assert listed["count"] == 1 and listed["results"][0]["point_name"] == point.name
    michoacan = AdminArea.objects.get(country="MX", level=1, code="16")
    future = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    error = assert_error(
        post(client, returns_url(family.parent), {**body, "returned_on": future, "us_state": michoacan.pk}),
        400,
    )
    assert error["fields"] == {
        "returned_on": ["The date cannot be in the future."],
        "us_state": ["Choose a state of the United States."],
    }
    assert ReturnEvent.objects.count() == 1
    assert (
        AuditEvent.objects.filter(action=Action.CASE_API_READ, object_id=str(family.parent.pk)).count() == 1
    )


def test_points_of_return(world):
    body = token_client(world.caseworker).get(POINTS, {"page_size": 50}).json()
    assert body["count"] >= 11
    assert {p["municipality_code"] for p in body["results"]} >= {"02004", "28032"}


def test_schema_documents_the_routes(world):
    schema = token_client(world.caseworker).get("/api/v1/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for route in (
        "/api/v1/cases/",
        "/api/v1/cases/{id}/",
        "/api/v1/cases/{id}/status/",
        "/api/v1/persons/{id}/returns/",
    ):
        assert route in paths, route


@pytest.mark.parametrize("field", ["opened_from", "opened_to"])
def test_list_refuses_a_far_date_at_the_field(world, case, field):
    response = token_client(world.caseworker).get(LIST, {field: "9999-12-31"}, HTTP_ACCEPT_LANGUAGE="en")
    error = assert_error(response, 400)
    assert error["fields"] == {field: ["Enter a date between 1900 and 2100."]}
