"""The admin-area API: reference data for any signed-in user, found by name (accents ignored) or code."""

from __future__ import annotations

import pytest
from django.test import Client

from rumbo.geo.models import AdminArea
from rumbo.lib.testing.api import assert_error, token_client

LIST = "/api/v1/areas/"


def area(country: str, level: int, code: str) -> AdminArea:
    return AdminArea.objects.get(country=country, level=level, code=code)


def detail(pk: int) -> str:
    return f"/api/v1/areas/{pk}/"


# --- permission matrix --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_401():
    assert_error(Client().get(LIST), 401, "not_authenticated")
    assert_error(Client().get(detail(area("MX", 1, "16").pk)), 401, "not_authenticated")


@pytest.mark.parametrize("persona", ["no_role", "caseworker", "trainer", "auditor", "jalisco_caseworker"])
def test_any_authenticated_user_reads_reference_data(world, persona):
    client = world.client_for(getattr(world, persona))
    assert client.get(LIST, {"q": "morelia"}).status_code == 200
    assert client.get(detail(area("MX", 2, "16053").pk)).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_areas_are_read_only(world, method):
    client = world.client_for(world.caseworker)
    assert_error(getattr(client, method)(LIST), 405, "method_not_allowed")
    assert_error(getattr(client, method)(detail(area("MX", 1, "16").pk)), 405, "method_not_allowed")


def test_token_authentication_reads_areas(world):
    assert token_client(world.caseworker).get(LIST, {"q": "16053"}).status_code == 200


# --- lookup -------------------------------------------------------------------------------------------


def test_lookup_ignores_accents_and_case(world):
    response = world.client_for(world.caseworker).get(LIST, {"q": "MICHOACAN", "level": 1})
    assert [a["name"] for a in response.json()["results"]] == ["Michoacán de Ocampo"]


def test_lookup_with_accents_finds_names_without(world):
    response = world.client_for(world.caseworker).get(LIST, {"q": "Morélia", "country": "mx"})
    results = response.json()["results"]
    assert [(a["code"], a["name"], a["parent_name"]) for a in results] == [
        ("16053", "Morelia", "Michoacán de Ocampo")
    ]


def test_lookup_by_inegi_code_and_by_iso_code(world):
    client = world.client_for(world.caseworker)
    by_code = client.get(LIST, {"q": "16053"}).json()["results"]
    assert [a["name"] for a in by_code] == ["Morelia"]
    by_iso = client.get(LIST, {"q": "mx-mic"}).json()["results"]
    assert [a["name"] for a in by_iso] == ["Michoacán de Ocampo"]


def test_names_starting_with_the_query_come_first(world):
    client = world.client_for(world.caseworker)
    results = client.get(LIST, {"q": "juan", "country": "MX", "page_size": 200}).json()["results"]
    starts = [a["name"].lower().startswith("juan") for a in results]
    assert True in starts and False in starts  # "Juan Aldama" and "San Juan …"
    assert starts == sorted(starts, reverse=True)


def test_parent_filter_lists_a_states_municipalities(world):
    mich = area("MX", 1, "16")
    body = world.client_for(world.caseworker).get(LIST, {"parent": mich.pk, "page_size": 200}).json()
    assert body["count"] == AdminArea.objects.filter(parent=mich).count() == 113
    assert {a["parent"] for a in body["results"]} == {mich.pk}


def test_country_and_level_filters(world):
    body = world.client_for(world.caseworker).get(LIST, {"country": "MX", "level": 1}).json()
    assert body["count"] == 32


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"country": "MEX"}, "country"),
        ({"level": 3}, "level"),
        ({"parent": "abc"}, "parent"),
        ({"page": 0}, "page"),
        ({"page_size": 500}, "page_size"),
        ({"q": "x" * 101}, "q"),
        ({"q": "mor\x00elia"}, "q"),
    ],
)
def test_malformed_filter_is_400_at_that_parameter(world, params, field):
    error = assert_error(world.client_for(world.caseworker).get(LIST, params), 400, "invalid")
    assert list(error["fields"]) == [field]


def test_detail_has_population_and_provenance(world):
    morelia = area("MX", 2, "16053")
    body = world.client_for(world.caseworker).get(detail(morelia.pk)).json()
    assert body["name"] == "Morelia"
    assert body["population"] == 849053
    assert "INEGI" in body["source"]


def test_unknown_area_is_404_json(world):
    assert_error(world.client_for(world.caseworker).get(detail(10**9)), 404, "not_found")
