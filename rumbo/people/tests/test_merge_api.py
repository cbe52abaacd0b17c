"""Merge routes of the API: permission matrix, merging with choices, errors at the field, undoing, and old
ids answering 301 (reads) or 409 (writes) with the surviving id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.api import assert_error, token_client
from rumbo.offices.models import Role
from rumbo.people.models import PersonMerge
from rumbo.people.services import person_merge
from rumbo.people.tests.test_merge import grant, merge, plain, refresh, rich_pair


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """These tests read English messages: pages and API answers in English when the client names no language."""
    settings.LANGUAGE_CODE = "en"


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def merge_url(pk: int) -> str:
    return f"/api/v1/persons/{pk}/merge/"


def merges_url(pk: int) -> str:
    return f"/api/v1/persons/{pk}/merges/"


def unmerge_url(pk: int) -> str:
    return f"/api/v1/merges/{pk}/unmerge/"


def detail_url(pk: int) -> str:
    return f"/api/v1/persons/{pk}/"


# persona → expected status; 404 outside the user's offices, 403 inside them without the right.
MERGE_MATRIX = {
    "no_role": 404,
    "coordinator": 404,
    "jalisco_caseworker": 404,
    "trainer": 403,
    "auditor": 403,
    "caseworker": 403,
    "admin": 200,
}
LIST_MATRIX = MERGE_MATRIX | {"auditor": 200, "caseworker": 200}


@pytest.mark.parametrize("persona", list(MERGE_MATRIX))
def test_merge_route_matrix(world, persona):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    response = post(token_client(getattr(world, persona)), merge_url(survivor.pk), {"merged": merged.pk})
    expected = MERGE_MATRIX[persona]
    assert response.status_code == expected, response.content
    if expected != 200:
        assert_error(response, expected)
        assert refresh(merged).merged_into_id is None


@pytest.mark.parametrize("persona", list(MERGE_MATRIX))
def test_unmerge_route_matrix(world, persona):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    record = merge(world, survivor, merged)
    response = post(token_client(getattr(world, persona)), unmerge_url(record.pk), {})
    expected = MERGE_MATRIX[persona]
    assert response.status_code == expected, response.content
    assert (refresh(merged).merged_into_id is None) == (expected == 200)


@pytest.mark.parametrize("persona", list(LIST_MATRIX))
def test_merges_list_matrix(world, persona):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    merge(world, survivor, merged)
    response = token_client(getattr(world, persona)).get(merges_url(survivor.pk))
    assert response.status_code == LIST_MATRIX[persona], response.content


def test_anonymous_is_401_everywhere(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    record = merge(world, survivor, merged)
    client = Client()
    assert_error(post(client, merge_url(survivor.pk), {"merged": merged.pk}), 401, "not_authenticated")
    assert_error(post(client, unmerge_url(record.pk), {}), 401, "not_authenticated")
    assert_error(client.get(merges_url(survivor.pk)), 401, "not_authenticated")


def test_merge_answers_the_survivor_and_unmerge_restores(world):
    pair = rich_pair(world)
    client = token_client(world.admin)
    response = post(
        client,
        merge_url(pair.survivor.pk),
        {"merged": pair.merged.pk, "choices": {"given_names": "merged"}, "reason": "same CURP"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == pair.survivor.pk
    assert body["given_names"] == "Guadalupe"
    assert sorted(d["kind"] for d in body["documents"]) == ["curp", "passport"]
    assert body["nationalities"] == ["MX", "US"]

    listed = client.get(merges_url(pair.survivor.pk)).json()
    assert listed["count"] == 1
    item = listed["results"][0]
    assert item["merged"] == pair.merged.pk and item["merged_by"] == world.admin.username
    assert item["choices"]["given_names"] == "merged" and item["unmerged_at"] is None

    undone = post(client, unmerge_url(item["id"]), {"reason": "siblings"})
    assert undone.status_code == 200, undone.content
    assert undone.json()["unmerged_at"] is not None
    assert undone.json()["unmerged_by"] == world.admin.username
    assert refresh(pair.merged).merged_into_id is None
    assert refresh(pair.survivor).given_names == "María Guadalupe"
    again = post(client, unmerge_url(item["id"]), {})
    assert assert_error(again, 400, "invalid")["fields"]["non_field_errors"] == [
        "This merge was already undone."
    ]
    assert AuditEvent.objects.filter(action=Action.PERSON_UNMERGE).count() == 2


def test_invalid_choices_are_errors_at_their_key(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    client = token_client(world.admin)
    for choices, key in (({"sex": "both"}, "choices.sex"), ({"nickname": "merged"}, "choices.nickname")):
        response = post(client, merge_url(survivor.pk), {"merged": merged.pk, "choices": choices})
        assert key in assert_error(response, 400, "invalid")["fields"], response.content
    response = post(client, merge_url(survivor.pk), {"merged": merged.pk, "choices": ["given_names"]})
    assert "choices" in assert_error(response, 400, "invalid")["fields"]
    assert refresh(merged).merged_into_id is None and not PersonMerge.objects.exists()


def test_merged_must_be_a_mergeable_record_of_your_offices(world):
    survivor, other = plain(world, "Ana"), plain(world, "Ana")
    stranger = plain(world, "Ana", office=world.jalisco)
    client = token_client(world.admin)
    for merged, message in (
        (stranger.pk, "No such person in your offices."),
        (99999999, "No such person in your offices."),
        (survivor.pk, "A record cannot be merged into itself."),
    ):
        response = post(client, merge_url(survivor.pk), {"merged": merged})
        assert assert_error(response, 400, "invalid")["fields"]["merged"] == [message]
    merge(world, survivor, other)
    response = post(client, merge_url(stranger.pk), {"merged": other.pk})
    assert_error(response, 404)
    third = plain(world, "Ana")
    response = post(client, merge_url(third.pk), {"merged": other.pk})
    assert assert_error(response, 400)["fields"]["merged"] == [
        "This record was already merged into another one."
    ]


def test_merge_across_offices_needs_the_right_in_both(world):
    survivor = plain(world, "Ana")
    stranger = plain(world, "Ana", office=world.jalisco)
    grant(world.admin, world.jalisco, Role.CASEWORKER)
    response = post(token_client(world.admin), merge_url(survivor.pk), {"merged": stranger.pk})
    assert_error(response, 403, "permission_denied")
    grant(world.admin, world.jalisco, Role.OFFICE_ADMIN)
    response = post(token_client(world.admin), merge_url(survivor.pk), {"merged": stranger.pk})
    assert response.status_code == 200
    assert refresh(stranger).merged_into_id == survivor.pk


# --- Old ids --------------------------------------------------------------------------------------------------


def test_old_id_read_answers_301_with_the_survivor(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    merge(world, survivor, merged)
    response = token_client(world.caseworker).get(detail_url(merged.pk))
    assert response.status_code == 301
    assert response["Location"] == detail_url(survivor.pk)
    assert response.json()["merged_into"] == survivor.pk and response.json()["detail"]
    followed = token_client(world.caseworker).get(response["Location"])
    assert followed.status_code == 200 and followed.json()["id"] == survivor.pk


def test_old_id_write_answers_409_with_the_survivor(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    merge(world, survivor, merged)
    client = token_client(world.admin)
    patched = client.patch(
        detail_url(merged.pk), json.dumps({"given_names": "X"}), content_type="application/json"
    )
    for response in (
        patched,
        post(client, f"/api/v1/persons/{merged.pk}/anonymise/", {"reason": "x"}),
        post(client, merge_url(merged.pk), {"merged": plain(world, "Ana").pk}),
    ):
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert error["code"] == "merged" and error["merged_into"] == survivor.pk and error["fields"] == {}
    assert refresh(merged).given_names == "Ana"


def test_old_id_follows_chains_and_unmerge_of_an_earlier_merge_is_refused(world):
    a, b, c = plain(world, "Ana"), plain(world, "Ana"), plain(world, "Ana")
    first = merge(world, b, a)
    merge(world, c, b)
    response = token_client(world.caseworker).get(detail_url(a.pk))
    assert response.status_code == 301 and response.json()["merged_into"] == c.pk
    refused = post(token_client(world.admin), unmerge_url(first.pk), {})
    assert "undo that merge first" in assert_error(refused, 400)["fields"]["non_field_errors"][0]


def test_old_id_is_404_when_the_survivor_is_not_visible(world):
    survivor = plain(world, "Ana", office=world.jalisco)
    merged = plain(world, "Ana")
    grant(world.admin, world.jalisco, Role.OFFICE_ADMIN)
    person_merge(actor=world.admin, survivor=survivor, merged=merged, choices={})
    assert_error(token_client(world.caseworker).get(detail_url(merged.pk)), 404, "not_found")
