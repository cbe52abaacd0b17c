"""Tests of the referral API: permission matrix of every route, send with consent (and the refusals), status
changes, filters, audit of reads."""

from __future__ import annotations

import datetime
from datetime import UTC

import pytest
import time_machine
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import FollowUpTask, Referral
from rumbo.cases.tests.referral_support import institution, jalisco_admin, offering, scenario, service
from rumbo.lib.testing.api import assert_error, token_client

NOW = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
PERSONAS = ("no_role", "caseworker", "admin", "auditor", "coordinator", "trainer", "jalisco_caseworker")


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def s(world):
    return scenario(world)


def api(world, who):
    from django.test import Client

    if who == "anonymous":
        return Client(HTTP_ACCEPT_LANGUAGE="en")
    user = jalisco_admin(world) if who == "jalisco_admin" else getattr(world, who)
    c = token_client(user)
    c.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return c


def _post(c, url, data):
    return c.post(url, data, content_type="application/json")


# --- Permission matrix --------------------------------------------------------------------------------


def test_permission_matrix_list(world, s):
    url = reverse("api-referrals-list")
    assert_error(api(world, "anonymous").get(url), 401)
    expected = (403, 200, 200, 200, 403, 403, 200)
    for persona, status in zip(PERSONAS, expected, strict=True):
        response = api(world, persona).get(url)
        assert response.status_code == status, persona
        if status == 200:
            ids = [r["id"] for r in response.json()["results"]]
            assert ids == ([] if persona == "jalisco_caseworker" else [s.referral.pk])


def test_permission_matrix_retrieve(world, s):
    url = reverse("api-referrals-detail", args=[s.referral.pk])
    assert_error(api(world, "anonymous").get(url), 401)
    expected = (403, 200, 200, 200, 403, 403, 404)
    for persona, status in zip(PERSONAS, expected, strict=True):
        assert api(world, persona).get(url).status_code == status, persona


def test_permission_matrix_create(world, s):
    url = reverse("api-referrals-list")
    body = {"case": s.case.pk, "person": s.person.pk, "offering": s.offering.pk}
    assert_error(_post(api(world, "anonymous"), url, body), 401)
    expected = (403, 201, 201, 403, 403, 403, 400)  # another office's case is not one of yours: 400 at case
    for persona, status in zip(PERSONAS, expected, strict=True):
        response = _post(api(world, persona), url, body)
        assert response.status_code == status, (persona, response.content[:300])
    error = assert_error(_post(api(world, "jalisco_caseworker"), url, body), 400, "invalid")
    assert set(error["fields"]) == {"case"}


def test_permission_matrix_status(world, s):
    url = reverse("api-referrals-status", args=[s.referral.pk])
    assert_error(_post(api(world, "anonymous"), url, {"status": "accepted"}), 401)
    expected = (
        403,
        400,
        400,
        403,
        403,
        403,
        404,
    )  # "delivered" from "sent" is not allowed: 400 for those who may
    for persona, status in zip(PERSONAS, expected, strict=True):
        response = _post(api(world, persona), url, {"status": "delivered"})
        assert response.status_code == status, (persona, response.content[:300])
    assert_error(_post(api(world, "jalisco_admin"), url, {"status": "accepted"}), 404)


# --- Behaviour ----------------------------------------------------------------------------------------


def test_create_without_consent_is_refused_at_consent(world, s):
    error = assert_error(
        _post(
            api(world, "caseworker"),
            reverse("api-referrals-list"),
            {"case": s.case.pk, "person": s.kid.pk, "offering": s.offering.pk},
        ),
        400,
        "invalid",
    )
    assert error["fields"] == {
        "consent": [
            "Ana Hernández López has not agreed to share data with institutions: record the consent first."
        ]
    }


def test_override_needs_the_permission(world, s):
    body = {"case": s.case.pk, "person": s.kid.pk, "offering": s.offering.pk, "override_reason": "Urgente"}
    error = assert_error(_post(api(world, "caseworker"), reverse("api-referrals-list"), body), 400)
    assert error["fields"] == {"override_reason": ["You may not send a referral without consent."]}
    response = _post(api(world, "admin"), reverse("api-referrals-list"), body)
    assert response.status_code == 201
    data = response.json()
    assert data["consent"] is None and data["consent_override_reason"] == "Urgente"
    assert response["Location"] == reverse("api-referrals-detail", args=[data["id"]])
    assert AuditEvent.objects.filter(
        action=Action.REFERRAL_CONSENT_OVERRIDE, object_id=str(data["id"])
    ).exists()


def test_create_refuses_an_expired_offering_and_an_unknown_person(world, s):
    old = offering(
        world,
        svc=service(world, "imss-2025"),
        inst=institution(world, "IMSS 2025"),
        valid_from=datetime.date(2025, 1, 24),
        valid_until=datetime.date(2025, 12, 31),
    )
    c = api(world, "caseworker")
    url = reverse("api-referrals-list")
    error = assert_error(_post(c, url, {"case": s.case.pk, "person": s.person.pk, "offering": old.pk}), 400)
    assert list(error["fields"]) == ["offering"]
    error = assert_error(_post(c, url, {"case": s.case.pk, "person": 999999, "offering": s.offering.pk}), 400)
    assert list(error["fields"]) == ["person"]
    error = assert_error(_post(c, url, {"case": s.case.pk, "person": s.person.pk}), 400)
    assert list(error["fields"]) == ["offering"]
    assert Referral._base_manager.count() == 1


def test_status_flow_through_the_api(world, s):
    c = api(world, "caseworker")
    url = reverse("api-referrals-status", args=[s.referral.pk])
    assert _post(c, url, {"status": "accepted", "note": "Cita"}).json()["status"] == "accepted"
    data = _post(c, url, {"status": "delivered", "outcome": "Afiliado"}).json()
    assert data["status"] == "delivered" and data["outcome"] == "Afiliado"
    assert data["delivered_at"] is not None and data["closed_at"] is not None
    assert [e["status"] for e in data["events"]] == ["sent", "accepted", "delivered"]
    assert FollowUpTask._base_manager.filter(referral=s.referral).exists()
    error = assert_error(_post(c, url, {"status": "cancelled"}), 400)
    assert list(error["fields"]) == ["status"]


def test_list_filters_and_reads_are_audited(world, s):
    c = api(world, "auditor")
    url = reverse("api-referrals-list")
    assert c.get(url, {"status": "delivered"}).json()["count"] == 0
    assert c.get(url, {"case": s.case.pk, "service": s.service.pk}).json()["count"] == 1
    assert_error(c.get(url, {"status": "nope"}), 400)
    detail = c.get(reverse("api-referrals-detail", args=[s.referral.pk])).json()
    assert detail["service"] == {"id": s.service.pk, "name": s.service.name}
    assert detail["institution"]["name"] == "IMSS UMF 80"
    reads = AuditEvent.objects.filter(action=Action.CASE_API_READ, actor=world.auditor)
    assert reads.filter(object_id=str(s.referral.pk)).count() == 1
    assert reads.filter(object_id="").count() == 2  # the two lists; the refused one (400) read nothing
