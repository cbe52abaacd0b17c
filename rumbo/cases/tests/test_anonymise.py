"""Anonymising a person removes what the cases app keeps about them: the free text of the cases they hold
(and of every row under them), their attachments and files, the notes of their returns and arrivals; the
structured data stays for statistics, and cases where they are only a household member keep their text."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_scopes import scopes_disabled

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import (
    ArrivalEvent,
    Attachment,
    Case,
    CaseAccess,
    CaseNeed,
    CaseNote,
    CaseStatus,
    CaseStatusChange,
    CaseTransfer,
    FollowUpTask,
    Procedure,
    ProcedureStep,
    Referral,
    ReferralEvent,
    ReferralStatus,
    ReturnEvent,
    TaskOutcome,
)
from rumbo.cases.services import (
    arrival_record,
    attachment_add,
    case_note_add,
    case_open,
    case_set_status,
    case_transfer_decide,
    case_transfer_request,
    return_record,
)
from rumbo.cases.services.attachments import stored_file
from rumbo.cases.services.procedures import (
    StepTemplate,
    procedure_kind_create,
    procedure_start,
    procedure_step_update,
)
from rumbo.cases.services.referrals import referral_send, referral_update_status
from rumbo.cases.services.tasks import task_complete
from rumbo.cases.tests import referral_support as support
from rumbo.cases.tests.casework_utils import make_family
from rumbo.cases.tests.casework_utils import open_case as open_family_case
from rumbo.people.services import person_anonymise
from rumbo.people.services._common import REMOVED

NOW = datetime.datetime(2026, 3, 2, 18, 0, tzinfo=datetime.UTC)
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def _files(data_dir: Path) -> list[Path]:
    folder = data_dir / "attachments"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _case_with_everything(world: Any) -> Any:
    """José's Michoacán case with a return and an arrival, needs with notes, a note, a status change, a
    referral with events and an outcome, a procedure with a step note, a follow-up done with a note and an
    attachment — all through the services — then transferred to Jalisco (a snapshot is kept for Michoacán).
    """
    from types import SimpleNamespace

    person = support.returnee(world)
    kid = support.child(world, person)
    support.give_consent(world.caseworker, person)
    ret = return_record(
        actor=world.caseworker,
        person=person,
        returned_on=datetime.date(2026, 2, 20),
        how="deportation",
        inm_constancia="TIJ-2026/00042",
        notes="Llegó con una herida en el pie.",
    )
    arrival = arrival_record(
        actor=world.caseworker,
        person=person,
        country_of_origin="GT",
        comar_file="COMAR/2026/00017",
        notes="Huyó de amenazas de su expareja.",
    )
    case = case_open(
        actor=world.caseworker,
        person=person,
        members=[kid],
        needs={"health": "Diabetes, necesita insulina", "schooling": ""},
        summary="Deportado tras 12 años en Fresno; su esposa sigue allá.",
        return_event=ret,
    )
    case_note_add(actor=world.caseworker, case=case, text="Dice que duerme en casa de su hermana Rosa.")
    case_set_status(actor=world.caseworker, case=case, status=CaseStatus.FOLLOW_UP)
    case.refresh_from_db()
    case_set_status(actor=world.caseworker, case=case, status=CaseStatus.OPEN, reason="Volvió a llamar.")
    referral = referral_send(
        actor=world.caseworker,
        case=case,
        person=person,
        offering=support.offering(world),
        reason="Control de diabetes.",
    )
    referral_update_status(
        actor=world.caseworker,
        referral=referral,
        status=ReferralStatus.ACCEPTED,
        note="Cita el lunes con la Dra. Pérez.",
        outcome="Le dieron insulina para un mes.",
    )
    kind = procedure_kind_create(
        actor=world.admin,
        office=world.michoacan,
        name="Doble nacionalidad",
        steps=[StepTemplate("Apostillar acta", "Acta de nacimiento", 30)],
    )
    procedure = procedure_start(actor=world.caseworker, case=case, kind=kind)
    step = procedure.steps.get()
    procedure_step_update(actor=world.caseworker, step=step, done_on=None, note="El acta tiene un error.")
    with scopes_disabled():
        task = FollowUpTask.objects.filter(case=case).order_by("due_on").first()
    assert task is not None
    task_complete(actor=world.caseworker, task=task, outcome=TaskOutcome.OK, note="Ya trabaja en Uruapan.")
    attachment = attachment_add(
        actor=world.caseworker,
        case=case,
        upload=SimpleUploadedFile("acta-jose.pdf", PDF),
        title="Acta de José",
    )
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Se mudó con su hermana a Zapopan."
    )
    case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True, note="Bienvenido.")
    return SimpleNamespace(
        person=person,
        kid=kid,
        case=case,
        ret=ret,
        arrival=arrival,
        referral=referral,
        procedure=procedure,
        step=step,
        task=task,
        attachment=attachment,
        transfer=transfer,
    )


def test_anonymising_the_holder_removes_the_cases_text_and_attachments(
    world, data_dir, django_capture_on_commit_callbacks
):
    made = _case_with_everything(world)
    with scopes_disabled():
        path = stored_file(made.attachment)
        assert path.exists()
        assert CaseAccess.objects.get(case=made.case).snapshot["summary"]
        made.person.refresh_from_db()
    assert made.person.office_id == world.jalisco.pk
    admin = support.jalisco_admin(world)
    # The person moved to Jalisco with the case: Jalisco's admin anonymises them. The files go on commit.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        person_anonymise(actor=admin, person=made.person, reason="Pidió ser olvidado.")
        assert path.exists()  # not before the rows are gone for good
    assert callbacks

    with scopes_disabled():
        case = Case.objects.get(pk=made.case.pk)
        assert (case.summary, case.status_reason) == ("", "")
        assert case.status == CaseStatus.OPEN and case.office_id == world.jalisco.pk
        assert case.return_event_id == made.ret.pk
        needs = CaseNeed.objects.filter(case=case)
        assert {(n.need, n.note) for n in needs} == {("health", ""), ("schooling", "")}
        assert list(CaseNote.objects.filter(case=case).values_list("text", flat=True)) == [REMOVED]
        changes = CaseStatusChange.objects.filter(case=case)
        assert [c.to_status for c in changes] == [CaseStatus.OPEN, CaseStatus.FOLLOW_UP, CaseStatus.OPEN]
        assert {c.reason for c in changes} == {""}
        referral = Referral.objects.get(pk=made.referral.pk)
        assert (referral.reason, referral.outcome, referral.status) == ("", "", ReferralStatus.ACCEPTED)
        assert referral.accepted_at is not None
        assert {e.note for e in ReferralEvent.objects.filter(referral=referral)} == {""}
        procedure = Procedure.objects.get(pk=made.procedure.pk)
        assert procedure.title == "Doble nacionalidad"  # the kind's name, not about the person
        step = ProcedureStep.objects.get(pk=made.step.pk)
        assert (step.name, step.documents, step.note) == ("Apostillar acta", "Acta de nacimiento", "")
        task = FollowUpTask.objects.get(pk=made.task.pk)
        assert (task.outcome, task.outcome_note) == (TaskOutcome.OK, "")
        assert task.done_at is not None
        transfer = CaseTransfer.objects.get(pk=made.transfer.pk)
        assert (transfer.reason, transfer.decision_note) == (REMOVED, "")
        assert transfer.status == CaseTransfer.Status.ACCEPTED
        snapshot = CaseAccess.objects.get(case=case).snapshot
        assert (snapshot["summary"], snapshot["status_reason"]) == ("", "")
        assert snapshot["needs"] == [
            {"need": "health", "note": "", "met_at": None},
            {"need": "schooling", "note": "", "met_at": None},
        ]
        assert snapshot["status"] == CaseStatus.OPEN and snapshot["members"] == [made.kid.pk]
        assert not Attachment.objects.filter(case=case).exists()
        ret = ReturnEvent.objects.get(pk=made.ret.pk)
        assert (ret.notes, ret.inm_constancia, ret.how) == ("", "", "deportation")
        arrival = ArrivalEvent.objects.get(pk=made.arrival.pk)
        assert (arrival.notes, arrival.comar_file, arrival.country_of_origin) == ("", "", "GT")
    assert not path.exists()
    assert _files(data_dir) == []
    # Pages show a translated label for a removed text, not the stored marker.
    client = world.client_for(world.jalisco_caseworker)
    for language, label in (
        ("en", "(removed with the person&#x27;s data)"),
        ("es", "(eliminado con los datos"),
    ):
        page = client.get(reverse("cases:detail", kwargs={"pk": case.pk}), HTTP_ACCEPT_LANGUAGE=language)
        assert page.status_code == 200
        html = page.content.decode()
        assert label in html and REMOVED not in html
    event = AuditEvent.objects.get(action=Action.PERSON_ANONYMISE, object_id=str(made.person.pk))
    # Case: summary and reason; 1 need note, 1 note, 1 status reason, the referral, 1 event note, the
    # step, the task, the transfer, the snapshot.
    removed = event.detail["removed"]
    assert (removed["case_texts"], removed["attachments"], removed["event_texts"]) == (10, 1, 2)


def test_a_case_where_the_person_is_only_a_member_keeps_its_text(
    world, data_dir, django_capture_on_commit_callbacks
):
    family = make_family(world.caseworker, world.michoacan, children=1)
    kid = family.children[0]
    case = open_family_case(world.caseworker, family.parent, members=[kid])
    note = case_note_add(actor=world.caseworker, case=case, text="La madre busca trabajo en Morelia.")
    attachment = attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile("a.pdf", PDF))

    with django_capture_on_commit_callbacks(execute=True):
        person_anonymise(actor=world.admin, person=kid, reason="Pidió ser olvidado.")

    with scopes_disabled():
        case.refresh_from_db()
        assert case.summary == "Returned last week."
        assert CaseNeed.objects.get(case=case, need="health").note == "IMSS"
        assert CaseNote.objects.get(pk=note.pk).text == "La madre busca trabajo en Morelia."
        assert Attachment.objects.filter(pk=attachment.pk).exists()
        assert stored_file(attachment).exists()
        assert list(case.members.all()) == [kid]
    event = AuditEvent.objects.get(action=Action.PERSON_ANONYMISE, object_id=str(kid.pk))
    removed = event.detail["removed"]
    assert (removed["case_texts"], removed["attachments"], removed["event_texts"]) == (0, 0, 0)
