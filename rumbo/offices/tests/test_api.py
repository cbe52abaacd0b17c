"""The offices API: who sees which office, token authentication, and the error shape."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from rumbo.lib.testing.api import assert_error, token_client
from rumbo.lib.testing.factories import OfficeFactory
from rumbo.offices.models import Office

LIST = "/api/v1/offices/"


def detail(office: Office) -> str:
    return f"/api/v1/offices/{office.pk}/"


def names(response) -> list[str]:
    return [o["name"] for o in response.json()["results"]]


# --- list ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_list_is_401_with_error_shape_and_token_challenge():
    response = Client().get(LIST)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_user_without_role_gets_an_empty_list(world):
    response = world.client_for(world.no_role).get(LIST)
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_caseworker_lists_only_own_office_with_own_roles(world):
    response = world.client_for(world.caseworker).get(LIST)
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": world.michoacan.pk,
            "name": "OFAM Michoacán",
            "code": "ofam-mich",
            "kind": "ofam",
            "parent": world.conofam.pk,
            "country": "MX",
            "represents_country": "",
            "location": world.michoacan.location_id,
            "time_zone": "America/Mexico_City",
            "is_active": True,
            "my_roles": ["caseworker"],
        }
    ]


def test_other_office_caseworker_does_not_see_michoacan(world):
    response = world.client_for(world.jalisco_caseworker).get(LIST)
    assert names(response) == ["OFAM Jalisco"]


def test_coordinator_sees_own_office_and_descendants_without_roles_there(world):
    OfficeFactory(name="Unrelated office")
    response = world.client_for(world.coordinator).get(LIST)
    assert names(response) == ["CONOFAM", "OFAM Jalisco", "OFAM Michoacán"]
    roles = {o["name"]: o["my_roles"] for o in response.json()["results"]}
    assert roles == {"CONOFAM": ["coordinator"], "OFAM Jalisco": [], "OFAM Michoacán": []}


def test_list_is_paginated(world):
    response = world.client_for(world.coordinator).get(LIST, {"page_size": 2})
    body = response.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"].endswith("page=2&page_size=2")
    second = world.client_for(world.coordinator).get(LIST, {"page_size": 2, "page": 2}).json()
    assert [o["name"] for o in second["results"]] == ["OFAM Michoacán"]
    assert second["next"] is None


def test_page_past_the_end_is_404_json(world):
    assert_error(world.client_for(world.caseworker).get(LIST, {"page": 9}), 404, "not_found")


def test_malformed_page_is_400_at_the_parameter(world):
    error = assert_error(world.client_for(world.caseworker).get(LIST, {"page": "x"}), 400, "invalid")
    assert list(error["fields"]) == ["page"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_offices_are_read_only_through_the_api(world, method):
    client = token_client(world.admin)  # an admin's session would first need two-factor verification
    assert_error(getattr(client, method)(LIST), 405, "method_not_allowed")
    assert_error(getattr(client, method)(detail(world.michoacan)), 405, "method_not_allowed")


# --- detail -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_detail_is_401():
    office: Any = OfficeFactory()
    assert_error(Client().get(detail(office)), 401, "not_authenticated")


def test_user_without_role_gets_404_for_any_office(world):
    assert_error(world.client_for(world.no_role).get(detail(world.michoacan)), 404, "not_found")


def test_member_reads_own_office(world):
    world.michoacan.jurisdiction.add(world.michoacan.location)
    response = world.client_for(world.auditor).get(detail(world.michoacan))
    assert response.status_code == 200
    body = response.json()
    assert body["my_roles"] == ["auditor"]
    assert body["jurisdiction"] == [world.michoacan.location_id]
    assert body["children"] == []


def test_other_office_is_404(world):
    assert_error(world.client_for(world.caseworker).get(detail(world.jalisco)), 404, "not_found")
    assert_error(world.client_for(world.caseworker).get(detail(world.conofam)), 404, "not_found")


def test_coordinator_reads_child_office_and_sees_children_of_own(world):
    client = world.client_for(world.coordinator)
    assert client.get(detail(world.jalisco)).status_code == 200
    children = client.get(detail(world.conofam)).json()["children"]
    assert children == sorted([world.michoacan.pk, world.jalisco.pk])


def test_children_lists_only_visible_offices(world):
    child: Any = OfficeFactory(parent=world.michoacan)
    body = world.client_for(world.caseworker).get(detail(world.michoacan)).json()
    assert child.pk not in body["children"]


def test_unknown_office_is_404(world):
    assert_error(world.client_for(world.caseworker).get("/api/v1/offices/999999/"), 404, "not_found")


# --- token authentication -----------------------------------------------------------------------------


def test_token_authenticates_and_is_scoped_like_the_session(world):
    client = token_client(world.jalisco_caseworker)
    assert names(client.get(LIST)) == ["OFAM Jalisco"]
    assert_error(client.get(detail(world.michoacan)), 404, "not_found")


@pytest.mark.django_db
def test_wrong_token_is_401_authentication_failed():
    response = Client(HTTP_AUTHORIZATION="Token not-a-real-token").get(LIST)
    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Token"


def test_token_of_inactive_user_is_401(world):
    client = token_client(world.caseworker)
    world.caseworker.is_active = False
    world.caseworker.save()
    assert_error(client.get(LIST), 401, "authentication_failed")
