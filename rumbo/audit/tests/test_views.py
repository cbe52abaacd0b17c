"""Audit pages and selectors: who may read which events, filters, the "who has seen this record" page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.audit.selectors import audit_events_for_user, person_access_log
from rumbo.audit.services import audit_record
from rumbo.lib import context
from rumbo.lib.testing.factories import member
from rumbo.offices.models import Role
from rumbo.offices.tests.clients import persona, signed_in
from rumbo.people.models import Person

ANON, NO_ROLE = "anonymous", "no_role"


@pytest.fixture
def people(world):
    """One person in each OFAM, and a trail of accesses to the Michoacán one from two places."""
    ana = Person.objects.create(office=world.michoacan, given_names="Ana", first_surname="Ramírez")
    eva = Person.objects.create(office=world.jalisco, given_names="Eva", first_surname="Soto")
    with context.bind(context.RequestContext(request_id="req-view-0001", ip="10.1.2.3")):
        audit_record(actor=world.caseworker, action=Action.PERSON_VIEW, office=world.michoacan, obj=ana)
    with context.bind(context.RequestContext(request_id="req-api-0002", ip="10.9.8.7")):
        audit_record(actor=world.caseworker, action=Action.PERSON_API_READ, office=world.michoacan, obj=ana)
    audit_record(
        actor=world.admin,
        action=Action.PERSON_UPDATE,
        office=world.michoacan,
        obj=ana,
        changes={"first_surname": {"old": "Ramirez", "new": "Ramírez"}},
    )
    audit_record(actor=world.admin, action=Action.PERSON_EXPORT, office=world.michoacan, obj=ana)
    audit_record(
        actor=world.caseworker, action=Action.PERSON_SEARCH, office=world.michoacan, detail={"q": "ana"}
    )
    audit_record(actor=world.jalisco_caseworker, action=Action.PERSON_VIEW, office=world.jalisco, obj=eva)
    return {"ana": ana, "eva": eva}


# --- permission matrices ----------------------------------------------------------------------------

LIST_MATRIX = {
    ANON: 302,
    NO_ROLE: 403,
    "caseworker": 403,
    "admin": 200,
    "auditor": 200,
    "trainer": 403,
    "coordinator": 403,
    "jalisco_caseworker": 403,
}


@pytest.mark.parametrize(("who", "status"), LIST_MATRIX.items())
def test_audit_list_permission_matrix(world, people, who, status):
    response = signed_in(persona(world, who)).get(reverse("audit:list"))
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("accounts:login"))


PERSON_MATRIX = {
    ANON: 302,
    NO_ROLE: 404,
    "caseworker": 403,
    "admin": 200,
    "auditor": 200,
    "trainer": 403,
    "coordinator": 404,  # CONOFAM's coordinator holds no role in OFAM Michoacán: its people are invisible
    "jalisco_caseworker": 404,
}


@pytest.mark.parametrize(("who", "status"), PERSON_MATRIX.items())
def test_person_access_log_permission_matrix(world, people, who, status):
    response = signed_in(persona(world, who)).get(reverse("audit:person", args=[people["ana"].pk]))
    assert response.status_code == status


def test_auditor_of_another_office_gets_404_for_the_person_and_for_the_office_filter(world, people):
    jalisco_auditor = member(world.jalisco, Role.AUDITOR)
    client = signed_in(jalisco_auditor)
    assert client.get(reverse("audit:person", args=[people["ana"].pk])).status_code == 404
    assert client.get(reverse("audit:list"), {"office_id": world.michoacan.pk}).status_code == 404
    assert client.get(reverse("audit:person", args=[people["eva"].pk])).status_code == 200


def test_office_filter_on_an_own_office_without_audit_right_is_403(world, people):
    both: Any = member(world.michoacan, Role.AUDITOR)
    from rumbo.offices.models import Membership

    Membership.objects.create(user=both, office=world.jalisco, role=Role.CASEWORKER)
    client = signed_in(both)
    assert client.get(reverse("audit:list"), {"office_id": world.jalisco.pk}).status_code == 403
    assert client.get(reverse("audit:list"), {"office_id": world.michoacan.pk}).status_code == 200


def test_unknown_person_is_404(world):
    assert signed_in(world.auditor).get(reverse("audit:person", args=[999_999])).status_code == 404


# --- the list ---------------------------------------------------------------------------------------


def test_auditor_sees_only_events_of_offices_they_audit(world, people):
    response = signed_in(world.auditor).get(reverse("audit:list"))
    events = response.context["page"].events
    offices = {e.office_id for e in events if e.office_id is not None}
    assert offices == {world.michoacan.pk}
    assert not [e for e in events if e.actor_label == "jorge"]
    assert {Action.PERSON_VIEW, Action.PERSON_UPDATE, Action.PERSON_SEARCH} <= {e.action for e in events}


def test_viewing_the_audit_list_is_itself_audited(world, people):
    signed_in(world.auditor).get(reverse("audit:list"), {"action": Action.PERSON_VIEW})
    event = AuditEvent.objects.filter(action=Action.AUDIT_VIEW).get()
    assert event.actor == world.auditor
    assert event.office == world.michoacan
    assert event.detail["filters"] == {"action": "person.view"}


def test_list_filters_by_action_actor_object_and_date(world, people):
    client = signed_in(world.admin)

    def actions(**params):
        return [e.action for e in client.get(reverse("audit:list"), params).context["page"].events]

    assert actions(action=Action.PERSON_UPDATE) == [Action.PERSON_UPDATE]
    assert set(actions(actor="LUCIA")) >= {Action.PERSON_VIEW, Action.PERSON_API_READ, Action.PERSON_SEARCH}
    assert Action.PERSON_UPDATE not in actions(actor="lucia")
    assert set(actions(object_type="people.person", object_id=str(people["ana"].pk))) == {
        Action.PERSON_VIEW,
        Action.PERSON_API_READ,
        Action.PERSON_UPDATE,
        Action.PERSON_EXPORT,
    }
    assert actions(date_to="2000-01-01") == []


def test_list_with_an_inverted_date_range_shows_the_error_at_the_end_date_and_no_events(world, people):
    response = signed_in(world.auditor).get(
        reverse("audit:list"), {"date_from": "2026-05-02", "date_to": "2026-05-01"}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"date_to"}
    assert response.context["page"].events == []


def test_list_shows_changes_ip_request_id_and_links_persons_to_their_access_log(world, people):
    html = signed_in(world.auditor).get(reverse("audit:list")).content.decode()
    assert "10.1.2.3" in html and "req-view-0001" in html
    assert "Ramirez" in html and "Ramírez" in html  # the field-level diff
    assert reverse("audit:person", args=[people["ana"].pk]) in html


def test_list_is_paginated_without_counting_the_whole_trail(world):
    with time_machine.travel(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), tick=True):
        for _ in range(60):
            audit_record(actor=world.caseworker, action=Action.PERSON_SEARCH, office=world.michoacan)
    client = signed_in(world.auditor)
    first = client.get(reverse("audit:list"), {"action": Action.PERSON_SEARCH})
    assert len(first.context["page"].events) == 50
    assert first.context["page"].has_next
    assert "page=2" in first.content.decode()
    second = client.get(reverse("audit:list"), {"action": str(Action.PERSON_SEARCH), "page": "2"})
    assert len(second.context["page"].events) == 10
    assert not second.context["page"].has_next
    ids = {e.pk for e in first.context["page"].events} | {e.pk for e in second.context["page"].events}
    assert len(ids) == 60


def test_office_less_events_of_the_office_members_are_included(world):
    login = audit_record(actor=world.caseworker, action=Action.LOGIN)
    stranger = audit_record(actor=world.jalisco_caseworker, action=Action.LOGIN)
    events = set(audit_events_for_user(world.auditor))
    assert login in events
    assert stranger not in events


def test_selector_answers_404_and_403_for_office_filters(world):
    with pytest.raises(Http404):
        audit_events_for_user(world.auditor, {"office_id": world.jalisco.pk})
    with pytest.raises(PermissionDenied):
        audit_events_for_user(world.caseworker, {"office_id": world.michoacan.pk})
    assert not audit_events_for_user(world.caseworker).exists()


# --- who has seen this record -----------------------------------------------------------------------


def test_person_access_log_lists_views_api_reads_exports_and_updates_with_ip_and_request_id(world, people):
    log = person_access_log(world.auditor, people["ana"].pk)
    rows = [(e.action, e.actor_label, e.ip, e.request_id) for e in log.events]
    assert rows == [
        (Action.PERSON_EXPORT, "admin-mich", None, ""),
        (Action.PERSON_UPDATE, "admin-mich", None, ""),
        (Action.PERSON_API_READ, "lucia", "10.9.8.7", "req-api-0002"),
        (Action.PERSON_VIEW, "lucia", "10.1.2.3", "req-view-0001"),
    ]


def test_person_page_shows_who_and_records_the_auditors_visit(world, people):
    ana = people["ana"]
    response = signed_in(world.auditor).get(reverse("audit:person", args=[ana.pk]))
    html = response.content.decode()
    assert "Ana Ramírez" in html
    assert "lucia" in html and "10.9.8.7" in html and "req-api-0002" in html
    assert "Soto" not in html and "jorge" not in html
    visit = AuditEvent.objects.get(action=Action.AUDIT_VIEW)
    assert (visit.actor, visit.object_type, visit.object_id) == (world.auditor, "people.person", str(ana.pk))
    # The auditor's visit is part of the record's history from then on.
    assert visit in person_access_log(world.admin, ana.pk).events


def test_person_log_includes_accesses_from_other_offices(world, people):
    ana = people["ana"]
    audit_record(actor=world.jalisco_caseworker, action=Action.PERSON_VIEW, office=world.jalisco, obj=ana)
    labels = {e.actor_label for e in person_access_log(world.auditor, ana.pk).events}
    assert "jorge" in labels


def test_person_log_empty_state(world):
    nobody = Person.objects.create(office=world.michoacan, given_names="Rosa", first_surname="Luna")
    html = signed_in(world.auditor).get(reverse("audit:person", args=[nobody.pk])).content.decode()
    assert "Nobody has opened this record yet." in html


@pytest.mark.parametrize("page", ["99999999999999999999999", "184467440737095517", "-5", "x"])
def test_a_page_number_out_of_range_is_clamped_on_both_pages(world, people, page):
    from rumbo.audit.views import MAX_PAGE

    client = signed_in(world.auditor)
    for url in (reverse("audit:list"), reverse("audit:person", args=[people["ana"].pk])):
        response = client.get(url, {"page": page})
        assert response.status_code == 200, url
        number = response.context["page"].number
        assert number == (1 if page in ("-5", "x") else MAX_PAGE)
        assert (response.context["page"].events == []) == (number == MAX_PAGE)
