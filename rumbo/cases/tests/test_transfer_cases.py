"""Tests of case transfers: request → accept / reject, history, and how a transfer moves visibility — the
receiving office sees the case and its persons, the sending office keeps read access to its own rows only, a
third office sees nothing."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import Case, CaseAccess, CaseTransfer, FollowUpTask
from rumbo.cases.services import (
    attachment_add,
    case_note_add,
    case_set_status,
    case_transfer_cancel,
    case_transfer_decide,
    case_transfer_request,
    case_update,
    return_record,
)
from rumbo.cases.tests.casework_utils import make_family, open_case
from rumbo.lib.testing.api import token_client
from rumbo.lib.testing.factories import OfficeFactory, member
from rumbo.offices.models import Office, Role
from rumbo.people.models import Person

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def moved(world, data_dir) -> dict[str, Any]:
    """A Michoacán case with a return, a note and an attachment, transferred to Jalisco and accepted; then
    Jalisco writes its own note and attachment."""
    family = make_family(world.caseworker, world.michoacan)
    return_record(
        actor=world.caseworker,
        person=family.parent,
        returned_on=datetime.date(2025, 10, 1),
        how="deportation",
        companions=family.children,
    )
    case = open_case(world.caseworker, family.parent, members=family.children, assigned_to=world.caseworker)
    mich_note = case_note_add(actor=world.caseworker, case=case, text="Nota de Michoacán")
    mich_file = attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile("mich.pdf", PDF))
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="The family moved to Guadalajara."
    )
    case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True)
    case.refresh_from_db()
    jal_note = case_note_add(actor=world.jalisco_caseworker, case=case, text="Nota de Jalisco")
    jal_file = attachment_add(
        actor=world.jalisco_caseworker, case=case, upload=SimpleUploadedFile("jal.pdf", PDF)
    )
    return {
        "case": case,
        "family": family,
        "transfer": transfer,
        "mich_note": mich_note,
        "jal_note": jal_note,
        "mich_file": mich_file,
        "jal_file": jal_file,
    }


def _third_office_user(world: Any) -> Any:
    sonora: Any = OfficeFactory(name="OFAM Sonora", code="ofam-son", parent=world.conofam)
    return member(sonora, Role.CASEWORKER, username="sonora")


# --- Services -------------------------------------------------------------------------------------------


def test_accepting_moves_the_case_and_its_persons(world, moved):
    case, family = moved["case"], moved["family"]
    assert case.office == world.jalisco
    assert case.assigned_to is None  # the worker belongs to the sending office
    assert case.number.startswith("OFAM-MICH-")  # the number stays
    persons = Person._base_manager.filter(pk__in=[family.parent.pk, *[c.pk for c in family.children]])
    assert set(persons.values_list("office_id", flat=True)) == {world.jalisco.pk}
    assert CaseAccess.objects.filter(case=case, office=world.michoacan).exists()
    transfer = CaseTransfer.objects.get(pk=moved["transfer"].pk)
    assert transfer.status == CaseTransfer.Status.ACCEPTED and transfer.decided_by == world.jalisco_caseworker
    # Open follow-up tasks are future work: they move with the case, unassigned.
    assert set(FollowUpTask._base_manager.filter(case=case).values_list("office_id", flat=True)) <= {
        world.jalisco.pk
    }
    event = AuditEvent.objects.get(action=Action.CASE_TRANSFER_DECIDE)
    assert sorted(event.detail["persons_moved"]) == sorted(
        [family.parent.pk, *[c.pk for c in family.children]]
    )
    moves = AuditEvent.objects.filter(action=Action.PERSON_UPDATE, detail__case_transfer=transfer.pk)
    assert moves.count() == 3
    # Rows keep the office that recorded them.
    assert moved["mich_note"].office_id == world.michoacan.pk


def test_rejecting_needs_a_note_and_moves_nothing(world):
    family = make_family(world.caseworker, world.michoacan, children=0)
    case = open_case(world.caseworker, family.parent)
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved"
    )
    with pytest.raises(ValidationError) as exc:
        case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=False)
    assert "note" in exc.value.message_dict
    case_transfer_decide(
        actor=world.jalisco_caseworker, transfer=transfer, accept=False, note="Not our state"
    )
    case.refresh_from_db()
    assert case.office == world.michoacan
    assert Person._base_manager.get(pk=family.parent.pk).office == world.michoacan
    assert not CaseAccess.objects.exists()
    with pytest.raises(ValidationError):
        case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True)


def test_request_rules(world):
    family = make_family(world.caseworker, world.michoacan, children=1)
    case = open_case(world.caseworker, family.parent, members=family.children)
    with pytest.raises(ValidationError) as exc:
        case_transfer_request(actor=world.caseworker, case=case, to_office=world.michoacan, reason="")
    assert set(exc.value.message_dict) == {"to_office", "reason"}
    with pytest.raises(ValidationError) as exc:
        case_transfer_request(actor=world.caseworker, case=case, to_office=world.conofam, reason="x")
    assert "to_office" in exc.value.message_dict
    for user in (world.auditor, world.jalisco_caseworker):
        with pytest.raises(PermissionDenied):
            case_transfer_request(actor=user, case=case, to_office=world.jalisco, reason="x")
    case_transfer_request(actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved")
    with pytest.raises(ValidationError) as exc:
        case_transfer_request(actor=world.caseworker, case=case, to_office=world.jalisco, reason="Again")
    assert "to_office" in exc.value.message_dict
    assert AuditEvent.objects.filter(action=Action.CASE_TRANSFER_REQUEST).count() == 1


def test_persons_in_other_open_cases_block_the_request(world):
    family = make_family(world.caseworker, world.michoacan, children=1)
    case = open_case(world.caseworker, family.parent, members=family.children)
    child_case = open_case(world.caseworker, family.children[0])
    with pytest.raises(ValidationError) as exc:
        case_transfer_request(actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved")
    assert child_case.number in exc.value.messages[0]
    case_set_status(actor=world.caseworker, case=child_case, status="closed", reason="Done")
    assert case_transfer_request(actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved")


def test_accepting_checks_again_for_other_open_cases(world):
    # The check at request time is not enough: a case of the same persons may be reopened meanwhile.
    family = make_family(world.caseworker, world.michoacan, children=1)
    case = open_case(world.caseworker, family.parent, members=family.children)
    child_case = open_case(world.caseworker, family.children[0])
    case_set_status(actor=world.caseworker, case=child_case, status="closed", reason="Done")
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved"
    )
    case_set_status(actor=world.caseworker, case=child_case, status="reopened", reason="Back")
    with pytest.raises(ValidationError) as exc:
        case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True)
    assert exc.value.code == "other_cases" and child_case.number in exc.value.messages[0]
    assert Case._base_manager.get(pk=case.pk).office_id == world.michoacan.pk
    assert Person._base_manager.get(pk=family.children[0].pk).office_id == world.michoacan.pk
    assert CaseTransfer.objects.get(pk=transfer.pk).status == CaseTransfer.Status.REQUESTED
    # Rejecting is still possible: it moves nothing.
    case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=False, note="Not yet")


def test_no_case_opens_for_a_person_whose_case_waits_for_a_transfer(world):
    family = make_family(world.caseworker, world.michoacan, children=1)
    case = open_case(world.caseworker, family.parent, members=family.children)
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved"
    )
    for person in (family.parent, family.children[0]):
        with pytest.raises(ValidationError) as exc:
            open_case(world.caseworker, person)
        assert case.number in exc.value.message_dict["person"][0]
    assert Case._base_manager.count() == 1
    case_transfer_cancel(actor=world.caseworker, transfer=transfer)
    assert open_case(world.caseworker, family.children[0]).pk


def test_only_the_receiving_office_decides_and_the_sender_may_withdraw(world):
    family = make_family(world.caseworker, world.michoacan, children=0)
    case = open_case(world.caseworker, family.parent)
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved"
    )
    for user in (world.caseworker, world.auditor, _third_office_user(world)):
        with pytest.raises(PermissionDenied):
            case_transfer_decide(actor=user, transfer=transfer, accept=True)
    with pytest.raises(PermissionDenied):
        case_transfer_cancel(actor=world.jalisco_caseworker, transfer=transfer)
    case_transfer_cancel(actor=world.caseworker, transfer=transfer)
    assert CaseTransfer.objects.get(pk=transfer.pk).status == CaseTransfer.Status.CANCELLED


# --- Visibility after the transfer ------------------------------------------------------------------------


def test_the_receiving_office_sees_and_changes_the_whole_case(world, moved):
    client = world.client_for(world.jalisco_caseworker)
    case = moved["case"]
    page = client.get(reverse("cases:detail", kwargs={"pk": case.pk}), **EN).content.decode()
    assert "Nota de Michoacán" in page and "Nota de Jalisco" in page
    assert "mich.pdf" in page and "jal.pdf" in page
    assert reverse("cases:edit", kwargs={"pk": case.pk}) in page
    assert case.number in client.get(reverse("cases:list"), **EN).content.decode()
    person = client.get(reverse("people:detail", kwargs={"pk": moved["family"].parent.pk}), **EN)
    assert person.status_code == 200
    assert (
        "Deportation" in person.content.decode()
    )  # the return recorded by Michoacán is the person's history
    download = client.get(reverse("cases:attachment_download", kwargs={"pk": moved["mich_file"].pk}), **EN)
    assert download.status_code == 200


def test_the_sending_office_reads_only_its_own_rows(world, moved):
    client = world.client_for(world.caseworker)
    case = moved["case"]
    response = client.get(reverse("cases:detail", kwargs={"pk": case.pk}), **EN)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your office keeps read access to what it recorded" in page
    assert "Nota de Michoacán" in page and "mich.pdf" in page
    assert "Nota de Jalisco" not in page and "jal.pdf" not in page
    assert reverse("cases:edit", kwargs={"pk": case.pk}) not in page
    assert reverse("people:detail", kwargs={"pk": moved["family"].parent.pk}) not in page
    own = client.get(reverse("cases:attachment_download", kwargs={"pk": moved["mich_file"].pk}), **EN)
    assert own.status_code == 200
    theirs = client.get(reverse("cases:attachment_download", kwargs={"pk": moved["jal_file"].pk}), **EN)
    assert theirs.status_code == 404
    for name in (
        "cases:edit",
        "cases:status",
        "cases:note_add",
        "cases:attachment_add",
        "cases:transfer_request",
    ):
        assert client.get(reverse(name, kwargs={"pk": case.pk}), **EN).status_code == 404, name
    assert (
        client.post(reverse("cases:note_add", kwargs={"pk": case.pk}), {"text": "x"}, **EN).status_code == 404
    )
    # The person moved: the sending office no longer sees the record.
    assert (
        client.get(reverse("people:detail", kwargs={"pk": moved["family"].parent.pk}), **EN).status_code
        == 404
    )
    own_list = client.get(reverse("cases:list"), **EN).content.decode()
    assert case.number not in own_list
    transferred = client.get(reverse("cases:list"), {"status": "transferred"}, **EN).content.decode()
    assert case.number in transferred
    event = AuditEvent.objects.filter(action=Action.CASE_VIEW, actor=world.caseworker).latest("pk")
    assert event.detail["past_office"] == world.michoacan.pk


def test_the_sending_office_sees_the_case_as_it_left(world, moved):
    """The receiving office's changes to the case itself (summary, needs, members, worker, status and its
    reason) are its own: the sending office keeps reading the case as it was when it left."""
    case, family = moved["case"], moved["family"]
    case_update(
        actor=world.jalisco_caseworker,
        case=case,
        summary="Resumen de Jalisco",
        needs={"health": "Nota de necesidad de Jalisco", "housing": "Albergue en Jalisco"},
        members=[],
        assigned_to=world.jalisco_caseworker,
    )
    case_set_status(actor=world.jalisco_caseworker, case=case, status="closed", reason="Cerrado por Jalisco")
    theirs = (
        "Resumen de Jalisco",
        "Nota de necesidad de Jalisco",
        "Albergue en Jalisco",
        "Cerrado por Jalisco",
    )

    response = world.client_for(world.caseworker).get(reverse("cases:detail", kwargs={"pk": case.pk}), **EN)
    page = response.content.decode()
    assert not [text for text in theirs if text in page]
    assert "Returned last week." in page and "IMSS" in page and "Housing" not in page
    shown = response.context["case"]
    assert (shown.status, shown.closed_at, shown.assigned_to) == ("open", None, world.caseworker)
    assert [m.pk for m in response.context["detail"].members] == sorted(c.pk for c in family.children)
    listed = world.client_for(world.caseworker).get(reverse("cases:list"), {"status": "transferred"}, **EN)
    assert [(c.status, c.assigned_to) for c in listed.context["page"].cases] == [("open", world.caseworker)]

    api = token_client(world.caseworker).get(reverse("api-cases-detail", kwargs={"pk": case.pk}))
    assert api.status_code == 200
    body = api.json()
    assert not [text for text in theirs if text in api.content.decode()]
    assert body["read_only"] is True
    assert (body["summary"], body["status"], body["status_reason"]) == ("Returned last week.", "open", "")
    assert body["assigned_to"] == world.caseworker.username and body["closed_at"] is None
    assert {n["need"]: n["note"] for n in body["needs"]} == {"documents": "", "health": "IMSS"}
    assert body["members"] == sorted(c.pk for c in family.children)

    # The receiving office sees its own values.
    own = (
        token_client(world.jalisco_caseworker).get(reverse("api-cases-detail", kwargs={"pk": case.pk})).json()
    )
    assert (own["summary"], own["status_reason"], own["members"]) == ("Resumen de Jalisco", theirs[3], [])


def test_a_past_office_without_a_record_of_the_case_as_it_left_sees_none_of_it(world, moved):
    """Transfers accepted before the case was recorded as it left: what the case says now is hidden."""
    case = moved["case"]
    CaseAccess.objects.filter(case=case).update(snapshot={})
    case_update(
        actor=world.jalisco_caseworker, case=case, summary="Resumen de Jalisco", needs={"work": "Jalisco"}
    )
    page = world.client_for(world.caseworker).get(reverse("cases:detail", kwargs={"pk": case.pk}), **EN)
    text = page.content.decode()
    assert "Resumen de Jalisco" not in text and "Returned last week." not in text and "Work" not in text
    assert page.context["detail"].members == [] and page.context["case"].assigned_to is None
    body = token_client(world.caseworker).get(reverse("api-cases-detail", kwargs={"pk": case.pk})).json()
    assert (body["summary"], body["needs"], body["members"], body["assigned_to"]) == ("", [], [], None)


def test_a_third_office_sees_nothing(world, moved):
    client = world.client_for(_third_office_user(world))
    case = moved["case"]
    assert client.get(reverse("cases:detail", kwargs={"pk": case.pk}), **EN).status_code == 404
    assert (
        client.get(
            reverse("cases:attachment_download", kwargs={"pk": moved["mich_file"].pk}), **EN
        ).status_code
        == 404
    )
    assert (
        case.number not in client.get(reverse("cases:list"), {"status": "transferred"}, **EN).content.decode()
    )
    api = client.get(reverse("api-cases-detail", kwargs={"pk": case.pk}))
    assert api.status_code == 404


def test_transfer_pages(world):
    family = make_family(world.caseworker, world.michoacan, children=0)
    case = open_case(world.caseworker, family.parent)
    sender = world.client_for(world.caseworker)
    url = reverse("cases:transfer_request", kwargs={"pk": case.pk})
    response = sender.post(url, {"to_office": str(world.jalisco.pk), "reason": ""}, **EN)
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    response = sender.post(url, {"to_office": str(world.jalisco.pk), "reason": "Se mudó a Jalisco"}, **EN)
    assert response.status_code == 302
    transfer = CaseTransfer.objects.get()
    receiver = world.client_for(world.jalisco_caseworker)
    inbox = receiver.get(reverse("cases:transfers"), **EN).content.decode()
    assert case.number in inbox and "Se mudó a Jalisco" in inbox
    decide = reverse("cases:transfer_decide", kwargs={"pk": transfer.pk})
    page = receiver.get(decide, **EN).content.decode()
    assert "Identity documents" in page  # the needs, so the office knows what it takes over
    response = receiver.post(decide, {"decision": "reject", "note": ""}, **EN)
    assert response.status_code == 200 and "Say why the transfer is rejected." in response.content.decode()
    response = receiver.post(decide, {"decision": "accept"}, **EN)
    assert response.status_code == 302 and response["Location"] == reverse(
        "cases:detail", kwargs={"pk": case.pk}
    )
    assert Case._base_manager.get(pk=case.pk).office_id == world.jalisco.pk
    assert receiver.get(decide, **EN).status_code == 302  # answered already
    assert Office.objects.get(pk=world.jalisco.pk).is_active


def test_the_transfer_page_is_audited_as_a_case_view_of_the_receiving_office(world):
    family = make_family(world.caseworker, world.michoacan, children=1)
    case = open_case(world.caseworker, family.parent, members=family.children)
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved"
    )
    receiver = world.client_for(world.jalisco_caseworker)
    page = receiver.get(reverse("cases:transfer_decide", kwargs={"pk": transfer.pk}), **EN)
    assert page.status_code == 200
    event = AuditEvent.objects.get(action=Action.CASE_VIEW, actor=world.jalisco_caseworker)
    assert event.office_id == world.jalisco.pk
    assert (event.object_type, event.object_id) == ("cases.case", str(case.pk))
    assert event.detail["transfer"] == transfer.pk


def test_the_transfers_page_pages_the_inbox_and_the_whole_history(world):
    from rumbo.cases.tests import task_helpers as h

    who = h.person(world.caseworker, world.michoacan)
    for _ in range(55):
        CaseTransfer.objects.create(
            case=h.case(world.michoacan, who),
            from_office=world.michoacan,
            to_office=world.jalisco,
            reason="x",
        )
    receiver = world.client_for(world.jalisco_caseworker)
    url = reverse("cases:transfers")
    first = receiver.get(url, **EN)
    assert len(first.context["inbox"].object_list) == 25 and first.context["inbox"].paginator.count == 55
    assert len(first.context["history"].object_list) == 25 and first.context["history"].paginator.count == 55
    page = first.content.decode()
    assert "inbox_page=2" in page and "page=2" in page
    last = receiver.get(url, {"inbox_page": 3, "page": 3}, **EN)
    assert len(last.context["inbox"].object_list) == 5 and len(last.context["history"].object_list) == 5
    # Past the end (or nonsense): the last page, not an error.
    assert receiver.get(url, {"inbox_page": 99, "page": "x"}, **EN).status_code == 200
