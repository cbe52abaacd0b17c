"""The adjudication pages: permission matrix of every view, masking of a person the user may not see, the
compare page (evidence colours, audit, merge link), single and bulk decisions, and the matching settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import OfficeFactory, member
from rumbo.matching.models import AccessRequest, DedupeRun, DuplicatePair, MatchSettings
from rumbo.matching.services import access_request_create
from rumbo.matching.tests.adjudication import (
    ROSA_SECRETS,
    conofam_admin,
    english_client,
    make_pair,
    mich_person,
    mich_twin,
    rosa,
    two_office_caseworker,
)
from rumbo.matching.views import merge_url
from rumbo.offices.models import Role
from rumbo.people.models import Person

Decision = DuplicatePair.Decision


def assert_no_secrets(body: str) -> None:
    lowered = body.lower()
    for secret in ROSA_SECRETS:
        assert secret.lower() not in lowered, secret


# --- permission matrix ------------------------------------------------------------------------------

USERS = ("no_role", "caseworker", "admin", "auditor", "trainer", "coordinator", "jalisco_caseworker")


def _objects(world: Any) -> dict[str, Any]:
    pair = make_pair(mich_person(world), mich_twin(world))
    hidden = rosa(world)
    request = access_request_create(
        actor=world.jalisco_caseworker,
        candidate_person_id=mich_person(world, given_names="Lucha", documents=[], phones=[]).pk,
        requesting_office=world.jalisco,
        kind=AccessRequest.Kind.ACCESS,
        reason="La atendemos en Guadalajara",
    )
    return {"pair": pair, "hidden": hidden, "request": request}


def _url(name: str, objects: dict[str, Any], world: Any) -> str:
    if name in ("matching:compare", "matching:decide"):
        return reverse(name, args=[objects["pair"].pk])
    if name == "matching:settings":
        return reverse(name, args=[world.conofam.pk])
    if name == "matching:request_decide":
        return reverse(name, args=[objects["request"].pk])
    if name == "matching:request_create":
        return reverse(name) + f"?person={objects['hidden'].pk}"
    return reverse(name)


# (view, method, expected status per user in USERS order). Michoacán owns the pair; Jalisco asked
# Michoacán about one of its records; the hidden candidate (for Michoacán) is Rosa of Jalisco.
MATRIX = [
    ("matching:queue", "get", (403, 200, 200, 403, 403, 403, 200)),
    ("matching:compare", "get", (403, 200, 200, 403, 403, 403, 404)),
    ("matching:decide", "post", (403, 302, 302, 403, 403, 403, 404)),
    ("matching:settings_index", "get", (403, 403, 403, 403, 403, 403, 403)),
    ("matching:settings", "get", (403, 403, 404, 403, 403, 403, 403)),
    ("matching:requests", "get", (403, 200, 200, 403, 403, 403, 200)),
    ("matching:requests_sent", "get", (403, 200, 200, 403, 403, 403, 200)),
    ("matching:request_create", "get", (403, 200, 200, 403, 403, 403, 404)),
    ("matching:request_decide", "get", (403, 200, 200, 403, 403, 403, 404)),
]


@pytest.mark.parametrize(("name", "method", "expected"), MATRIX)
def test_permission_matrix(world, client, name, method, expected):
    objects = _objects(world)
    url = _url(name, objects, world)
    data = {"decision": "unsure"} if method == "post" else None
    anonymous = getattr(client, method)(url, data)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
    for username, status in zip(USERS, expected, strict=True):
        user = getattr(world, username)
        response = getattr(english_client(world, user), method)(url, data)
        assert response.status_code == status, (name, username, response.status_code)


def test_settings_pages_are_for_admins_of_the_network_root(world):
    root_admin = conofam_admin(world)
    client = english_client(world, root_admin)
    index = client.get(reverse("matching:settings_index"))
    assert index.status_code == 302 and index["Location"] == reverse(
        "matching:settings", args=[world.conofam.pk]
    )
    assert client.get(reverse("matching:settings", args=[world.conofam.pk])).status_code == 200
    # Michoacán is not a network: 404 even for its own admin; another network's root: 404.
    assert client.get(reverse("matching:settings", args=[world.michoacan.pk])).status_code == 404
    assert (
        english_client(world, world.admin)
        .get(reverse("matching:settings", args=[world.michoacan.pk]))
        .status_code
        == 404
    )
    other = OfficeFactory(name="Cancillería")
    assert client.get(reverse("matching:settings", args=[other.pk])).status_code == 404
    # An admin of two networks chooses one.
    from rumbo.lib.testing.factories import MembershipFactory

    MembershipFactory(user=root_admin, office=other, role=Role.OFFICE_ADMIN)
    root_admin = type(root_admin).objects.get(pk=root_admin.pk)
    page = english_client(world, root_admin).get(reverse("matching:settings_index"))
    assert page.status_code == 200 and "Cancillería" in page.content.decode()


def test_request_decide_of_another_office_is_404_and_auditor_403(world):
    objects = _objects(world)
    url = reverse("matching:request_decide", args=[objects["request"].pk])
    jalisco_admin = member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")
    assert english_client(world, jalisco_admin).get(url).status_code == 404


# --- Queue ------------------------------------------------------------------------------------------------


def test_queue_shows_rows_count_and_filters(world):
    jose, twin = mich_person(world), mich_twin(world)
    make_pair(jose, twin, probability=0.97, cluster=3)
    client = english_client(world, world.caseworker)
    body = client.get(reverse("matching:queue")).content.decode()
    assert "1 pair" in body and "José Hernández López" in body and "Jose Hernández López" in body
    assert "97 %" in body and "Surnames" in body
    assert reverse("matching:compare", args=[DuplicatePair.objects.get().pk]) in body
    body = client.get(reverse("matching:queue"), {"decision": "same"}).content.decode()
    assert "0 pairs" in body and "No possible duplicates here." in body
    body = client.get(reverse("matching:queue"), {"band": "possible"}).content.decode()
    assert "0 pairs" in body
    body = client.get(reverse("matching:queue"), {"cluster": "3", "source": "batch"}).content.decode()
    assert "1 pair" in body
    # Nonsense filters fall back to the default.
    assert client.get(reverse("matching:queue"), {"cluster": "x", "decision": "zzz"}).status_code == 200


def test_queue_is_paginated_by_25(world):
    jose = mich_person(world)
    for n in range(27):
        make_pair(
            jose,
            mich_person(world, given_names=f"Jose{n}", documents=[], phones=[]),
            probability=0.5 + n / 100,
        )
    client = english_client(world, world.caseworker)
    first = client.get(reverse("matching:queue")).content.decode()
    assert "27 pairs" in first and first.count('name="pair"') == 25 and "Page 1 of 2" in first
    second = client.get(reverse("matching:queue"), {"page": "2"}).content.decode()
    assert second.count('name="pair"') == 2


def test_queue_masks_a_person_of_an_office_the_user_may_not_see(world):
    make_pair(mich_person(world), rosa(world))
    body = english_client(world, world.caseworker).get(reverse("matching:queue")).content.decode()
    assert "A record of OFAM Jalisco" in body and "José Hernández López" in body
    assert_no_secrets(body)
    assert 'name="pair"' not in body  # not decidable from Michoacán alone


def test_bulk_decision_with_one_post(world):
    jose = mich_person(world)
    own = [
        make_pair(jose, mich_person(world, given_names=f"Jose {n}", documents=[], phones=[])) for n in "AB"
    ]
    cross = make_pair(jose, rosa(world))
    client = english_client(world, world.caseworker)
    response = client.post(
        reverse("matching:queue"),
        {
            "pair": [own[0].pk, own[1].pk, cross.pk],
            "decision": "different",
            "next": reverse("matching:queue"),
        },
        follow=True,
    )
    body = response.content.decode()
    assert "2 pairs decided." in body and "1 pair skipped" in body
    assert set(DuplicatePair.objects.filter(decision="different").values_list("pk", flat=True)) == {
        p.pk for p in own
    }
    assert AuditEvent.objects.filter(action=Action.DUPLICATE_DECIDE).count() == 2
    # Nothing ticked, or a bad decision: nothing done.
    response = client.post(reverse("matching:queue"), {"decision": "same"}, follow=True)
    assert "Tick at least one pair." in response.content.decode()
    client.post(reverse("matching:queue"), {"pair": [own[0].pk], "decision": "pending"})
    assert DuplicatePair.objects.get(pk=own[0].pk).decision == "different"


def test_bulk_decision_ignores_an_unsafe_next(world):
    pair = make_pair(mich_person(world), mich_twin(world))
    response = english_client(world, world.caseworker).post(
        reverse("matching:queue"), {"pair": [pair.pk], "decision": "same", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("matching:queue")


# --- Compare and decide --------------------------------------------------------------------------------


def test_compare_shows_both_records_with_evidence_classes_and_is_audited(world):
    jose, twin = mich_person(world), mich_twin(world)
    pair = make_pair(jose, twin)
    response = english_client(world, world.caseworker).get(reverse("matching:compare", args=[pair.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "José" in body and "Jose" in body and "OFAM Michoacán" in body
    evidence = response.context["view"].evidence
    assert {row.field for row in evidence} >= {"given_names", "surnames", "birth_date", "curp", "phones"}
    for row in evidence:
        assert row.agreement in ("agree", "partial", "disagree", "missing")
        assert f'<tr class="{row.agreement}">' in body, row.field
    assert '<tr class="agree"><th scope="row">Surnames</th>' in body  # the side-by-side row too
    assert "style=" not in body  # CSP: no inline styles
    assert 'value="same"' in body and "Merge these records" not in body
    compare = AuditEvent.objects.get(action=Action.DUPLICATE_COMPARE)
    assert compare.object_id == str(pair.pk) and sorted(compare.detail["persons"]) == sorted(
        [jose.pk, twin.pk]
    )
    views = AuditEvent.objects.filter(action=Action.PERSON_VIEW).values_list("object_id", flat=True)
    assert sorted(views) == sorted([str(jose.pk), str(twin.pk)])


def test_compare_masks_the_hidden_person_and_offers_the_request(world):
    jose, hidden = mich_person(world), rosa(world)
    pair = make_pair(jose, hidden)
    response = english_client(world, world.caseworker).get(reverse("matching:compare", args=[pair.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "A possible match is registered at OFAM Jalisco." in body
    assert f"person={hidden.pk}&amp;kind=transfer" in body
    assert_no_secrets(body)
    assert 'value="same"' not in body  # cannot decide
    compare = AuditEvent.objects.get(action=Action.DUPLICATE_COMPARE)
    assert compare.detail["persons"] == [jose.pk]
    assert list(AuditEvent.objects.filter(action=Action.PERSON_VIEW).values_list("object_id", flat=True)) == [
        str(jose.pk)
    ]


def test_decide_from_the_compare_page_and_merge_link(world):
    pair = make_pair(mich_person(world), mich_twin(world))
    client = english_client(world, world.admin)
    response = client.post(
        reverse("matching:decide", args=[pair.pk]), {"decision": "same", "note": "Misma persona"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("matching:compare", args=[pair.pk])
    pair.refresh_from_db()
    assert pair.decision == Decision.SAME and pair.decided_by == world.admin
    body = client.get(reverse("matching:compare", args=[pair.pk])).content.decode()
    assert "Merge these records" in body and merge_url(pair.person_a_id, pair.person_b_id) in body
    # A caseworker may decide but not merge.
    assert (
        "Merge these records"
        not in english_client(world, world.caseworker)
        .get(reverse("matching:compare", args=[pair.pk]))
        .content.decode()
    )
    # "different" goes back to the queue.
    response = client.post(reverse("matching:decide", args=[pair.pk]), {"decision": "different"})
    assert response["Location"] == reverse("matching:queue")


def test_merge_url_is_the_people_route():
    assert merge_url(3, 9) == "/people/3/merge/9/"


def test_decide_page_refuses_cross_office_pair_for_one_office_user(world):
    pair = make_pair(mich_person(world), rosa(world))
    response = english_client(world, world.caseworker).post(
        reverse("matching:decide", args=[pair.pk]), {"decision": "same"}
    )
    assert response.status_code == 403
    response = english_client(world, two_office_caseworker(world)).post(
        reverse("matching:decide", args=[pair.pk]), {"decision": "same"}
    )
    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.decision == Decision.SAME


def test_decide_with_an_invalid_decision_changes_nothing(world):
    pair = make_pair(mich_person(world), mich_twin(world))
    response = english_client(world, world.caseworker).post(
        reverse("matching:decide", args=[pair.pk]), {"decision": "pending"}
    )
    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.decision == Decision.PENDING


# --- Settings -------------------------------------------------------------------------------------------


def test_settings_save_thresholds_with_an_audited_diff(world):
    client = english_client(world, conofam_admin(world))
    url = reverse("matching:settings", args=[world.conofam.pk])
    response = client.post(
        url, {"intake_threshold": "0.2", "review_threshold": "0.6", "likely_threshold": "0.9"}
    )
    assert response.status_code == 302
    settings = MatchSettings.objects.get(network=world.conofam)
    assert (settings.intake_threshold, settings.review_threshold, settings.likely_threshold) == (
        0.2,
        0.6,
        0.9,
    )
    event = AuditEvent.objects.get(action=Action.MATCHING_SETTINGS)
    assert event.office_id == world.conofam.pk
    assert event.changes == {
        "intake_threshold": {"old": 0.1, "new": 0.2},
        "review_threshold": {"old": 0.5, "new": 0.6},
        "likely_threshold": {"old": 0.95, "new": 0.9},
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (("0", "0.5", "0.9"), "intake_threshold"),
        (("0.1", "0.5", "1"), "likely_threshold"),
        (("0.6", "0.5", "0.9"), "intake_threshold"),
        (("0.1", "0.95", "0.9"), "likely_threshold"),
        (("0.1", "-0.5", "0.9"), "review_threshold"),
        (("x", "0.5", "0.9"), "intake_threshold"),
    ],
)
def test_settings_thresholds_are_validated_at_the_field(world, values, field):
    client = english_client(world, conofam_admin(world))
    url = reverse("matching:settings", args=[world.conofam.pk])
    data = dict(zip(("intake_threshold", "review_threshold", "likely_threshold"), values, strict=True))
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not AuditEvent.objects.filter(action=Action.MATCHING_SETTINGS).exists()


def test_settings_list_the_networks_runs(world):
    DedupeRun.objects.create(
        network=world.conofam,
        status=DedupeRun.Status.DONE,
        finished_at=timezone.now(),
        persons=1234,
        comparisons=98765,
        pairs_found=42,
        clusters=17,
        seconds=12.5,
    )
    body = (
        english_client(world, conofam_admin(world))
        .get(reverse("matching:settings", args=[world.conofam.pk]))
        .content.decode()
    )
    assert "1234" in body and "98765" in body and "42" in body and "Finished" in body and "12.5" in body


@pytest.mark.parametrize("language", ["en", "es"])
def test_compare_shows_an_anonymised_record_by_its_translated_label(world, language):
    from django.utils import translation

    from rumbo.people.services import ANONYMISED_NAME

    jose, twin = mich_person(world), mich_twin(world)
    pair = make_pair(jose, twin)
    # What ``person_anonymise`` leaves in the names (its other effects do not matter here).
    Person.objects.filter(pk=twin.pk).update(
        given_names=ANONYMISED_NAME,
        first_surname=ANONYMISED_NAME,
        second_surname="",
        anonymised_at=timezone.now(),
    )
    client = world.client_for(world.caseworker)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    body = client.get(reverse("matching:compare", args=[pair.pk])).content.decode()
    assert ANONYMISED_NAME not in body
    with translation.override(language):
        assert translation.gettext("Anonymised person #%(id)s") % {"id": twin.pk} in body


def test_queue_audits_a_read_of_each_person_it_shows(world):
    jose, twin = mich_person(world), mich_twin(world)
    hidden = rosa(world)
    make_pair(jose, twin)
    make_pair(jose, hidden)
    response = english_client(world, world.caseworker).get(reverse("matching:queue"))
    assert response.status_code == 200
    events = AuditEvent.objects.filter(action=Action.PERSON_VIEW)
    assert sorted(int(e.object_id) for e in events) == sorted([jose.pk, twin.pk])  # Rosa is masked
    assert all(e.detail == {"via": "web", "shown_in": "duplicate_queue"} for e in events)
    assert all(e.actor == world.caseworker for e in events)


def test_compare_of_a_pair_with_a_merged_record_points_to_the_survivor(world):
    jose, twin = mich_person(world), mich_twin(world)
    survivor = mich_person(world, given_names="Josué", documents=[], phones=[])
    pair = make_pair(jose, twin)
    Person.objects.filter(pk=twin.pk).update(merged_into=survivor)
    response = english_client(world, world.caseworker).get(reverse("matching:compare", args=[pair.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert f"Record #{twin.pk} was merged into" in body
    assert f'<a href="{reverse("people:detail", args=[survivor.pk])}">record #{survivor.pk}</a>' in body
    assert "Side by side" not in body and 'name="decision"' not in body
    assert not AuditEvent.objects.filter(action=Action.PERSON_VIEW).exists()  # nothing of a record shown
