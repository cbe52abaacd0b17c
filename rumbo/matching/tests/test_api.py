"""The duplicates and match-requests API: permission matrix of every route, masking of a person the user
may not see (nothing of it in any answer), decisions one by one and in bulk, requests and the owner's
answer, audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.api import assert_error, token_client
from rumbo.lib.testing.factories import member
from rumbo.matching.models import AccessRequest, DuplicatePair
from rumbo.matching.services import access_request_create
from rumbo.matching.tests.adjudication import (
    ROSA_SECRETS,
    make_pair,
    mich_person,
    mich_twin,
    rosa,
    two_office_caseworker,
)
from rumbo.offices.models import Role

LIST = "/api/v1/duplicates/"
BULK = "/api/v1/duplicates/decisions/"
REQUESTS = "/api/v1/match-requests/"


def detail(pair: DuplicatePair) -> str:
    return f"/api/v1/duplicates/{pair.pk}/"


def decision(pair: DuplicatePair) -> str:
    return f"/api/v1/duplicates/{pair.pk}/decision/"


def request_decision(request: AccessRequest) -> str:
    return f"/api/v1/match-requests/{request.pk}/decision/"


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def assert_no_secrets(response: Any) -> None:
    body = response.content.decode().lower()
    for secret in ROSA_SECRETS:
        assert secret.lower() not in body, secret


# --- permission matrix ------------------------------------------------------------------------------

USERS = ("no_role", "caseworker", "admin", "auditor", "trainer", "coordinator", "jalisco_caseworker")


@pytest.fixture
def objects(world) -> dict[str, Any]:
    """A pending pair of two Michoacán records; a request of Jalisco about a Michoacán record; Rosa of
    Jalisco, a hidden candidate for Michoacán."""
    pair = make_pair(mich_person(world), mich_twin(world))
    lucha = mich_person(world, given_names="Lucha", documents=[], phones=[])
    request = access_request_create(
        actor=world.jalisco_caseworker,
        candidate_person_id=lucha.pk,
        requesting_office=world.jalisco,
        kind=AccessRequest.Kind.ACCESS,
        reason="La atendemos en Guadalajara",
    )
    return {"pair": pair, "request": request, "hidden": rosa(world)}


def _call(name: str, client: Client, objects: dict[str, Any], world: Any) -> Any:
    if name == "list":
        return client.get(LIST)
    if name == "detail":
        return client.get(detail(objects["pair"]))
    if name == "decide":
        return post(client, decision(objects["pair"]), {"decision": "unsure"})
    if name == "bulk":
        return post(client, BULK, {"pairs": [objects["pair"].pk], "decision": "unsure"})
    if name == "requests_received":
        return client.get(REQUESTS)
    if name == "requests_sent":
        return client.get(REQUESTS, {"box": "sent"})
    if name == "request_create":
        body = {
            "person": objects["hidden"].pk,
            "requesting_office": world.michoacan.pk,
            "kind": "access",
            "reason": "Misma persona",
        }
        return post(client, REQUESTS, body)
    if name == "request_decide":
        return post(client, request_decision(objects["request"]), {"grant": False, "answer": "No"})
    raise AssertionError(name)


# Expected status per user in USERS order. Michoacán owns the pair and the requested record.
MATRIX = [
    ("list", (403, 200, 200, 403, 403, 403, 200)),
    ("detail", (403, 200, 200, 403, 403, 403, 404)),
    ("decide", (403, 200, 200, 403, 403, 403, 404)),
    ("bulk", (403, 200, 200, 403, 403, 403, 200)),
    ("requests_received", (403, 200, 200, 403, 403, 403, 200)),
    ("requests_sent", (403, 200, 200, 403, 403, 403, 200)),
    ("request_create", (403, 201, 400, 403, 403, 403, 400)),
    ("request_decide", (403, 200, 400, 403, 403, 403, 404)),
]


@pytest.mark.parametrize(("name", "expected"), MATRIX)
def test_permission_matrix(world, objects, name, expected):
    assert_error(_call(name, Client(), objects, world), 401)
    for username, status in zip(USERS, expected, strict=True):
        response = _call(name, token_client(getattr(world, username)), objects, world)
        assert response.status_code == status, (name, username, response.content[:300])
        if status >= 400:
            assert_error(response, status)


def test_bulk_of_a_pair_the_user_may_not_see_only_skips_it(world, objects):
    response = post(
        token_client(world.jalisco_caseworker), BULK, {"pairs": [objects["pair"].pk], "decision": "same"}
    )
    assert response.json() == {"decided": [], "skipped": [objects["pair"].pk]}
    objects["pair"].refresh_from_db()
    assert objects["pair"].decision == "pending"


# --- Queue and masking ------------------------------------------------------------------------------------


def test_list_filters_and_shape(world):
    jose, twin = mich_person(world), mich_twin(world)
    pair = make_pair(jose, twin, probability=0.97, cluster=5)
    client = token_client(world.caseworker)
    body = client.get(LIST).json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["id"] == pair.pk and row["decision"] == "pending" and row["likely"] is True
    assert row["decidable"] is True and row["cluster"] == 5 and row["source"] == "batch"
    assert row["agreeing_fields"] == ["surnames", "birth_date", "given_names"]
    assert {row["a"]["person"]["given_names"], row["b"]["person"]["given_names"]} == {"José", "Jose"}
    assert client.get(LIST, {"band": "possible"}).json()["count"] == 0
    assert client.get(LIST, {"decision": "same"}).json()["count"] == 0
    assert client.get(LIST, {"decision": "all", "cluster": 5, "source": "batch"}).json()["count"] == 1
    assert_error(client.get(LIST, {"band": "sometimes"}), 400)


def test_list_and_detail_mask_the_hidden_person(world):
    jose, hidden = mich_person(world), rosa(world)
    pair = make_pair(jose, hidden)
    client = token_client(world.caseworker)
    listed = client.get(LIST)
    assert_no_secrets(listed)
    [row] = listed.json()["results"]
    side = row["a"] if row["a"]["person_id"] == hidden.pk else row["b"]
    assert side == {
        "visible": False,
        "person_id": hidden.pk,
        "office": {"id": world.jalisco.pk, "name": "OFAM Jalisco"},
        "person": None,
        "merged": False,
        "merged_into": None,
    }
    assert row["agreeing_fields"] == [] and row["decidable"] is False
    response = client.get(detail(pair))
    assert response.status_code == 200
    assert_no_secrets(response)
    body = response.json()
    assert body["evidence"] == [] and body["live_evidence"] == []
    compare = AuditEvent.objects.get(action=Action.DUPLICATE_COMPARE)
    assert compare.detail == {"persons": [jose.pk], "via": "api"}
    assert_error(post(client, decision(pair), {"decision": "same"}), 403)


def test_detail_of_both_visible_gives_records_and_evidence_and_is_audited(world):
    jose, twin = mich_person(world), mich_twin(world)
    pair = make_pair(jose, twin)
    body = token_client(world.caseworker).get(detail(pair)).json()
    assert body["a"]["person"]["documents"] is not None
    assert [e["field"] for e in body["evidence"]][:3] == ["given_names", "surnames", "birth_date"]
    assert body["evidence"][0]["agreement"] == "agree"
    views = AuditEvent.objects.filter(action=Action.PERSON_VIEW).values_list("object_id", flat=True)
    assert sorted(views) == sorted([str(jose.pk), str(twin.pk)])


# --- Decisions ----------------------------------------------------------------------------------------------


def test_decide_one_and_audit(world):
    pair = make_pair(mich_person(world), mich_twin(world))
    response = post(
        token_client(world.caseworker), decision(pair), {"decision": "same", "note": "Misma CURP"}
    )
    assert response.status_code == 200 and response.json()["decision"] == "same"
    event = AuditEvent.objects.get(action=Action.DUPLICATE_DECIDE)
    assert event.changes == {"decision": {"old": "pending", "new": "same"}}
    assert event.detail["note"] == "Misma CURP"
    error = assert_error(post(token_client(world.caseworker), decision(pair), {"decision": "pending"}), 400)
    assert "decision" in error["fields"]


def test_cross_office_pair_is_decided_by_someone_of_both_offices(world):
    pair = make_pair(mich_person(world), rosa(world))
    both = token_client(two_office_caseworker(world))
    response = both.get(detail(pair))
    assert response.json()["a"]["visible"] and response.json()["b"]["visible"]
    assert post(both, decision(pair), {"decision": "different"}).status_code == 200


def test_bulk_decides_and_reports_skipped(world):
    jose = mich_person(world)
    own = [
        make_pair(jose, mich_person(world, given_names=f"Jose {n}", documents=[], phones=[])) for n in "AB"
    ]
    cross = make_pair(jose, rosa(world))
    response = post(
        token_client(world.caseworker),
        BULK,
        {"pairs": [own[0].pk, own[1].pk, cross.pk, 999999], "decision": "different"},
    )
    assert response.status_code == 200
    assert response.json() == {"decided": sorted(p.pk for p in own), "skipped": sorted([cross.pk, 999999])}
    assert AuditEvent.objects.filter(action=Action.DUPLICATE_DECIDE).count() == 2
    error = assert_error(post(token_client(world.caseworker), BULK, {"pairs": [], "decision": "same"}), 400)
    assert "pairs" in error["fields"]


# --- Requests ---------------------------------------------------------------------------------------------------


def test_request_create_list_and_transfer(world):
    hidden = rosa(world)
    requester = token_client(world.caseworker)
    response = post(
        requester,
        REQUESTS,
        {
            "person": hidden.pk,
            "requesting_office": world.michoacan.pk,
            "kind": "transfer",
            "reason": "Vive aquí",
        },
    )
    assert response.status_code == 201
    assert_no_secrets(response)
    created = response.json()
    assert created["status"] == "pending" and created["person_summary"] is None
    assert created["owner_office"] == {"id": world.jalisco.pk, "name": "OFAM Jalisco"}
    event = AuditEvent.objects.get(action=Action.MATCH_ACCESS_REQUEST)
    assert event.detail == {"request": created["id"], "owner_office": world.jalisco.pk, "kind": "transfer"}
    sent = requester.get(REQUESTS, {"box": "sent"})
    assert_no_secrets(sent)
    assert [r["id"] for r in sent.json()["results"]] == [created["id"]]
    assert requester.get(REQUESTS).json()["count"] == 0  # nothing received

    owner = token_client(world.jalisco_caseworker)
    [received] = owner.get(REQUESTS).json()["results"]
    assert received["person_summary"]["given_names"] == "Rosaura" and received["direction"] == "received"
    request = AccessRequest.objects.get()
    answered = post(owner, request_decision(request), {"grant": True, "answer": "Es suyo"})
    assert answered.status_code == 200 and answered.json()["status"] == "granted"
    # The record moved: the requester now sees it, in the list and on the persons API.
    [sent_row] = requester.get(REQUESTS, {"box": "sent", "status": "granted"}).json()["results"]
    assert sent_row["person_summary"]["given_names"] == "Rosaura"
    assert requester.get(f"/api/v1/persons/{hidden.pk}/").status_code == 200
    assert owner.get(f"/api/v1/persons/{hidden.pk}/").status_code == 404
    # The answered request stays in the old owner's list (without the record, which it no longer sees).
    [kept] = owner.get(REQUESTS).json()["results"]
    assert kept["status"] == "granted" and kept["person_summary"] is None
    assert_error(post(owner, request_decision(request), {"grant": False, "answer": "x"}), 400)


def test_request_errors_tell_nothing(world):
    client = token_client(world.caseworker)
    own = mich_person(world)
    messages = set()
    for person in (own.pk, 987654321):
        error = assert_error(
            post(
                client,
                REQUESTS,
                {"person": person, "requesting_office": world.michoacan.pk, "kind": "access", "reason": "x"},
            ),
            400,
        )
        messages.add(tuple(error["fields"]["person"]))
    assert len(messages) == 1
    hidden = rosa(world)
    error = assert_error(
        post(
            client,
            REQUESTS,
            {"person": hidden.pk, "requesting_office": world.jalisco.pk, "kind": "access", "reason": "x"},
        ),
        400,
    )
    assert "requesting_office" in error["fields"]
    auditor_in_two = member(world.jalisco, Role.AUDITOR, username="aud2")
    assert_error(
        post(
            token_client(auditor_in_two),
            REQUESTS,
            {"person": own.pk, "requesting_office": world.jalisco.pk, "kind": "access", "reason": "x"},
        ),
        403,
    )


def test_refusal_needs_an_answer(world, objects):
    client = token_client(world.caseworker)
    error = assert_error(post(client, request_decision(objects["request"]), {"grant": False}), 400)
    assert "answer" in error["fields"]


def test_list_audits_a_read_of_each_person_it_gives(world):
    jose, twin, hidden = mich_person(world), mich_twin(world), rosa(world)
    make_pair(jose, twin)
    make_pair(jose, hidden)
    assert token_client(world.caseworker).get(LIST).json()["count"] == 2
    events = AuditEvent.objects.filter(action=Action.PERSON_VIEW)
    assert sorted(int(e.object_id) for e in events) == sorted([jose.pk, twin.pk])  # Rosa is masked
    assert all(e.detail == {"via": "api", "shown_in": "duplicate_queue"} for e in events)


def test_detail_of_a_pair_with_a_merged_record_gives_the_survivor_not_the_stale_record(world):
    from rumbo.people.models import Person

    jose, twin = mich_person(world), mich_twin(world)
    survivor = mich_person(world, given_names="Josué", documents=[], phones=[])
    pair = make_pair(jose, twin)
    Person.objects.filter(pk=twin.pk).update(merged_into=survivor)
    body = token_client(world.caseworker).get(detail(pair)).json()
    merged, live = (body["a"], body["b"]) if body["a"]["person_id"] == twin.pk else (body["b"], body["a"])
    assert merged["merged"] is True and merged["merged_into"] == survivor.pk and merged["person"] is None
    assert live["merged"] is False and live["person"] is None
    assert body["evidence"] == [] and body["live_evidence"] == [] and body["decidable"] is False
    assert not AuditEvent.objects.filter(action=Action.PERSON_VIEW).exists()
