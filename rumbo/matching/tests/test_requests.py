"""Requests to the office that owns a possible match: the hidden candidate shown with no personal data, the
request (audited, and telling nothing about records that are not genuine candidates), the owner's inbox
and answer, and a granted transfer moving the record and what can see it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib.testing.factories import OfficeFactory, member
from rumbo.matching.models import AccessRequest, DuplicatePair, MatchKey, MatchProfile
from rumbo.matching.queue_selectors import Side, access_requests_sent, hidden_candidate_office
from rumbo.matching.scoring import Comparison
from rumbo.matching.selectors import Candidate
from rumbo.matching.services import access_request_create, access_request_decide
from rumbo.matching.tests.adjudication import ROSA_SECRETS, english_client, make_pair, mich_person, rosa
from rumbo.offices.models import Role
from rumbo.people.models import Person, SearchToken
from rumbo.people.selectors import person_search
from rumbo.people.tests.utils import make_person

Kind = AccessRequest.Kind
Status = AccessRequest.Status


def assert_no_secrets(body: str) -> None:
    lowered = body.lower()
    for secret in ROSA_SECRETS:
        assert secret.lower() not in lowered, secret


def ask(world, person, *, kind=Kind.ACCESS, actor=None, office=None, reason="Atendemos a la misma persona"):
    return access_request_create(
        actor=actor or world.caseworker,
        candidate_person_id=person.pk if isinstance(person, Person) else person,
        requesting_office=office or world.michoacan,
        kind=kind,
        reason=reason,
    )


# --- The hidden candidate -------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "kind"), [("en", "intake"), ("es", "intake"), ("en", "pair")])
def test_hidden_candidate_names_only_the_office(world, language, kind):
    hidden = rosa(world)
    if kind == "intake":  # an intake candidate (matching.selectors.Candidate)
        candidate: Any = Candidate(
            person_id=hidden.pk,
            office_id=world.jalisco.pk,
            office_name=world.jalisco.name,
            comparison=Comparison(20.0, 0.99, ()),
            person=None,
        )
    else:  # the hidden side of a pair
        candidate = Side(person_id=hidden.pk, office=world.jalisco, person=None)
    request = RequestFactory().get("/")
    with translation.override(language):
        html = render_to_string("matching/_hidden_candidate.html", {"candidate": candidate}, request=request)
    assert "OFAM Jalisco" in html
    assert_no_secrets(html)
    assert f"person={hidden.pk}&amp;kind=access" in html and f"person={hidden.pk}&amp;kind=transfer" in html
    if language == "en":
        assert "A possible match is registered at OFAM Jalisco." in html


def test_hidden_candidate_office_is_given_only_for_genuine_candidates(world):
    hidden = rosa(world)
    assert hidden_candidate_office(world.caseworker, hidden.pk) == world.jalisco
    own = mich_person(world)
    assert hidden_candidate_office(world.caseworker, own.pk) is None  # own office: nothing to ask
    assert hidden_candidate_office(world.caseworker, 987654) is None
    assert hidden_candidate_office(world.auditor, hidden.pk) is None  # may not register persons


# --- Asking ---------------------------------------------------------------------------------------------


def test_request_is_recorded_and_audited_without_personal_data(world):
    hidden = rosa(world)
    request = ask(world, hidden, kind=Kind.TRANSFER)
    assert request.person == hidden and request.owner_office == world.jalisco
    assert request.requesting_office == world.michoacan and request.status == Status.PENDING
    assert request.requested_by == world.caseworker
    event = AuditEvent.objects.get(action=Action.MATCH_ACCESS_REQUEST)
    assert event.office_id == world.michoacan.pk
    assert (event.object_type, event.object_id) == ("people.person", str(hidden.pk))
    assert event.detail == {"request": request.pk, "owner_office": world.jalisco.pk, "kind": "transfer"}
    assert event.changes == {}


def test_every_impossible_request_gets_the_same_error(world):
    hidden = rosa(world)
    merged = make_person(world.jalisco_caseworker, world.jalisco, given_names="Otro", documents=[], phones=[])
    Person.objects.filter(pk=merged.pk).update(merged_into=hidden)
    anonymised = make_person(
        world.jalisco_caseworker, world.jalisco, given_names="Anon", documents=[], phones=[]
    )
    from django.utils import timezone

    Person.objects.filter(pk=anonymised.pk).update(anonymised_at=timezone.now())
    other_network = OfficeFactory(name="Red ajena")
    outsider = make_person(
        member(other_network, Role.CASEWORKER), other_network, given_names="Ajeno", documents=[], phones=[]
    )
    own = mich_person(world)
    messages = set()
    for target in (987654, merged, anonymised, outsider, own):
        with pytest.raises(ValidationError) as exc:
            ask(world, target)
        messages.add(tuple(exc.value.message_dict["person"]))
    assert len(messages) == 1
    assert not AccessRequest.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.MATCH_ACCESS_REQUEST).exists()
    ask(world, hidden)  # the genuine one works


def test_request_needs_add_person_in_the_requesting_office(world):
    hidden = rosa(world)
    with pytest.raises(PermissionDenied):
        ask(world, hidden, actor=world.auditor)
    with pytest.raises(PermissionDenied):
        ask(world, hidden, actor=world.jalisco_caseworker)  # not their office


def test_request_validates_kind_reason_and_a_pending_duplicate(world):
    hidden = rosa(world)
    with pytest.raises(ValidationError) as exc:
        ask(world, hidden, kind="everything", reason=" ")
    assert set(exc.value.message_dict) == {"kind", "reason"}
    ask(world, hidden)
    with pytest.raises(ValidationError) as exc:
        ask(world, hidden)
    assert "person" in exc.value.message_dict
    ask(world, hidden, kind=Kind.TRANSFER)  # another kind is another request


# --- Answering --------------------------------------------------------------------------------------------


def test_owner_refuses_with_an_answer_and_the_requester_sees_it(world):
    hidden = rosa(world)
    request = ask(world, hidden)
    with pytest.raises(ValidationError) as exc:
        access_request_decide(actor=world.jalisco_caseworker, request=request, grant=False, answer="")
    assert "answer" in exc.value.message_dict
    access_request_decide(
        actor=world.jalisco_caseworker, request=request, grant=False, answer="No hay consentimiento"
    )
    request.refresh_from_db()
    assert request.status == Status.REFUSED and request.answer == "No hay consentimiento"
    assert request.decided_by == world.jalisco_caseworker
    [sent] = access_requests_sent(world.caseworker)
    assert sent.status == Status.REFUSED
    event = AuditEvent.objects.get(action=Action.MATCH_ACCESS_DECIDE)
    assert event.office_id == world.jalisco.pk and event.object_id == str(hidden.pk)
    assert event.detail["status"] == "refused" and event.detail["kind"] == "access"
    with pytest.raises(ValidationError):
        access_request_decide(actor=world.jalisco_caseworker, request=request, grant=True)


def test_granting_access_is_recorded_and_moves_nothing(world):
    hidden = rosa(world)
    request = ask(world, hidden)
    access_request_decide(actor=world.jalisco_caseworker, request=request, grant=True, answer="Llamen al 555")
    request.refresh_from_db()
    hidden.refresh_from_db()
    assert request.status == Status.GRANTED
    assert hidden.office == world.jalisco


def test_only_the_owner_office_may_answer(world):
    request = ask(world, rosa(world))
    for user in (world.caseworker, world.admin, world.auditor):
        with pytest.raises(PermissionDenied):
            access_request_decide(actor=user, request=request, grant=True)
    jalisco_auditor = member(world.jalisco, Role.AUDITOR, username="auditor-jal")
    with pytest.raises(PermissionDenied):
        access_request_decide(actor=jalisco_auditor, request=request, grant=True)


def test_granted_transfer_moves_the_record_and_its_visibility(world):
    hidden = rosa(world)
    jose = mich_person(world)
    pair = make_pair(jose, hidden)
    assert person_search(world.caseworker, "Zamudio").total == 0
    request = ask(world, hidden, kind=Kind.TRANSFER)
    other = ask(world, hidden, kind=Kind.ACCESS)  # answered by the transfer itself
    access_request_decide(actor=world.jalisco_caseworker, request=request, grant=True, answer="Es suyo")
    hidden.refresh_from_db()
    assert hidden.office == world.michoacan
    assert set(SearchToken.objects.filter(person=hidden).values_list("office_id", flat=True)) == {
        world.michoacan.pk
    }
    assert MatchProfile.objects.get(person=hidden).office_id == world.michoacan.pk
    assert set(MatchKey.objects.filter(person=hidden).values_list("office_id", flat=True)) == {
        world.michoacan.pk
    }
    # Michoacán now sees the record; Jalisco no longer does.
    assert [p.pk for p in person_search(world.caseworker, "Zamudio").persons] == [hidden.pk]
    assert person_search(world.jalisco_caseworker, "Zamudio").total == 0
    pair.refresh_from_db()
    assert {pair.office_a_id, pair.office_b_id} == {world.michoacan.pk}
    other.refresh_from_db()
    assert other.status == Status.GRANTED
    update = AuditEvent.objects.get(action=Action.PERSON_UPDATE, object_id=str(hidden.pk))
    assert update.changes == {"office": {"old": world.jalisco.pk, "new": world.michoacan.pk}}
    assert update.detail == {"transfer_request": request.pk}
    decide = AuditEvent.objects.get(action=Action.MATCH_ACCESS_DECIDE)
    assert decide.detail["status"] == "granted" and decide.detail["kind"] == "transfer"
    # The pair between two Michoacán persons can now be decided by Michoacán.
    pair.refresh_from_db()
    assert pair.decision == DuplicatePair.Decision.PENDING


def test_pending_requests_of_a_third_office_follow_the_transferred_record(world):
    hidden = rosa(world)
    oaxaca = OfficeFactory(name="OFAM Oaxaca", code="ofam-oax", parent=world.conofam)
    oax_user = member(oaxaca, Role.CASEWORKER, username="oax")
    transfer = ask(world, hidden, kind=Kind.TRANSFER)
    theirs = ask(world, hidden, actor=oax_user, office=oaxaca)
    access_request_decide(actor=world.jalisco_caseworker, request=transfer, grant=True)
    theirs.refresh_from_db()
    assert theirs.status == Status.PENDING and theirs.owner_office == world.michoacan


# --- Pages ------------------------------------------------------------------------------------------------


def test_request_page_flow_from_ask_to_transfer(world):
    hidden = rosa(world)
    client = english_client(world, world.caseworker)
    url = reverse("matching:request_create") + f"?person={hidden.pk}&kind=transfer"
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "OFAM Jalisco" in body
    assert_no_secrets(body)
    response = client.post(
        url,
        {
            "person": hidden.pk,
            "kind": "transfer",
            "reason": "Vive ahora en Morelia",
            "requesting_office": world.michoacan.pk,
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("matching:requests_sent")
    sent = client.get(reverse("matching:requests_sent")).content.decode()
    assert "Vive ahora en Morelia" in sent and "OFAM Jalisco" in sent
    assert_no_secrets(sent)

    owner = english_client(world, world.jalisco_caseworker)
    inbox = owner.get(reverse("matching:requests")).content.decode()
    assert "Rosaura Zamudio Quintero" in inbox and "Vive ahora en Morelia" in inbox
    request = AccessRequest.objects.get()
    decide_url = reverse("matching:request_decide", args=[request.pk])
    assert owner.get(decide_url).status_code == 200
    response = owner.post(decide_url, {"grant": "yes", "answer": ""})
    assert response.status_code == 302
    # Now the requester's list opens the record.
    sent = client.get(reverse("matching:requests_sent")).content.decode()
    assert reverse("people:detail", args=[hidden.pk]) in sent
    assert client.get(reverse("people:detail", args=[hidden.pk])).status_code == 200
    assert owner.get(reverse("people:detail", args=[hidden.pk])).status_code == 404


def test_request_page_is_404_for_anything_but_a_genuine_candidate(world):
    client = english_client(world, world.caseworker)
    own = mich_person(world)
    for person in (own.pk, 987654, "x"):
        url = reverse("matching:request_create") + f"?person={person}"
        assert client.get(url).status_code == 404


def test_request_form_errors_stay_on_the_page(world):
    hidden = rosa(world)
    client = english_client(world, world.caseworker)
    url = reverse("matching:request_create") + f"?person={hidden.pk}"
    response = client.post(
        url, {"person": hidden.pk, "kind": "access", "reason": "", "requesting_office": world.michoacan.pk}
    )
    assert response.status_code == 200
    assert not AccessRequest.objects.exists()


def test_refusing_from_the_page_needs_an_answer(world):
    request = ask(world, rosa(world))
    owner = english_client(world, world.jalisco_caseworker)
    url = reverse("matching:request_decide", args=[request.pk])
    response = owner.post(url, {"grant": "no", "answer": ""})
    assert response.status_code == 200
    request.refresh_from_db()
    assert request.status == Status.PENDING
    owner.post(url, {"grant": "no", "answer": "Sin consentimiento"})
    request.refresh_from_db()
    assert request.status == Status.REFUSED


@pytest.mark.parametrize("language", ["en", "es"])
def test_former_owner_sees_only_the_id_of_a_transferred_record(world, language):
    hidden = rosa(world)
    request = ask(world, hidden, kind=Kind.TRANSFER)
    access_request_decide(actor=world.jalisco_caseworker, request=request, grant=True)
    # Jalisco still holds the answered request, but the record is Michoacán's now.
    client = world.client_for(world.jalisco_caseworker)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    for url in (reverse("matching:request_decide", args=[request.pk]), reverse("matching:requests")):
        response = client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert_no_secrets(body)
        assert reverse("people:detail", args=[hidden.pk]) not in body
    body = client.get(reverse("matching:request_decide", args=[request.pk])).content.decode()
    with translation.override(language):
        assert translation.gettext("Record #%(id)s") % {"id": hidden.pk} in body
        assert translation.gettext("record transferred to another office") in body
    # The new owner's requester sees the record in its list.
    sent = world.client_for(world.caseworker).get(reverse("matching:requests_sent")).content.decode()
    assert reverse("people:detail", args=[hidden.pk]) in sent


def _jalisco_persons(world, count: int) -> list[Person]:
    return [
        make_person(
            world.jalisco_caseworker,
            world.jalisco,
            given_names=f"Persona{chr(65 + i)}",
            first_surname="Jalisciense",
            documents=[],
            phones=[],
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("box", ["matching:requests_sent", "matching:requests"])
def test_request_lists_take_as_many_queries_for_two_requests_as_for_twelve(world, box):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    persons = _jalisco_persons(world, 12)
    for i, person in enumerate(persons[:2]):
        ask(world, person, kind=Kind.TRANSFER, reason=f"Motivo {i}")
    # One granted transfer, so a record is shown.
    access_request_decide(actor=world.jalisco_caseworker, request=AccessRequest.objects.last(), grant=True)
    user = world.caseworker if box == "matching:requests_sent" else world.jalisco_caseworker
    client = world.client_for(user)
    client.get(reverse(box))  # warm (sessions, content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(box)).status_code == 200
    for i, person in enumerate(persons[2:], start=2):
        ask(world, person, kind=Kind.TRANSFER, reason=f"Motivo {i}")
    with CaptureQueriesContext(connection) as many:
        body = client.get(reverse(box)).content.decode()
    assert "Motivo 11" in body  # the twelfth request is listed
    assert len(many) == len(few)


def test_request_lists_are_paged_to_the_oldest_request(world, monkeypatch):
    from rumbo.matching import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    persons = _jalisco_persons(world, 5)
    requests = [ask(world, p, reason=f"Motivo {i}") for i, p in enumerate(persons)]
    for request in requests[:3]:  # three answered, two pending
        access_request_decide(
            actor=world.jalisco_caseworker, request=request, grant=False, answer=f"No {request.pk}"
        )
    sent = world.client_for(world.caseworker)
    first = sent.get(reverse("matching:requests_sent")).content.decode()
    assert "Motivo 4" in first and "Motivo 0" not in first
    last = sent.get(reverse("matching:requests_sent") + "?page=3").content.decode()
    assert "Motivo 0" in last and "Motivo 4" not in last
    owner = world.client_for(world.jalisco_caseworker)
    inbox = owner.get(reverse("matching:requests")).content.decode()
    assert f"No {requests[2].pk}" in inbox and f"No {requests[0].pk}" not in inbox
    older = owner.get(reverse("matching:requests") + "?answered=2").content.decode()
    assert f"No {requests[0].pk}" in older and "Motivo 3" in older  # the pending list stays on its page
