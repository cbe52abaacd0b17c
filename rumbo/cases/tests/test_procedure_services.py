"""Tests of the procedures tracker services: procedure types from text, starting a procedure (steps copied
with due dates), marking steps done, the procedure done when every step is, permissions and audit."""

from __future__ import annotations

import datetime
from datetime import UTC

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import Procedure, ProcedureStep
from rumbo.cases.services.directory import directory_seed
from rumbo.cases.services.procedures import (
    StepTemplate,
    procedure_kind_create,
    procedure_kind_update,
    procedure_start,
    procedure_step_update,
    steps_from_text,
    steps_to_text,
)
from rumbo.cases.tests.referral_support import open_case, returnee

NOW = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
TODAY = datetime.date(2026, 3, 2)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def case(world):
    return open_case(world, returnee(world), needs=("documents",))


@pytest.fixture
def apostille(world):
    directory_seed(office=world.michoacan)
    from rumbo.cases.models import ProcedureKind

    return ProcedureKind._base_manager.get(name="Apostilla y registro de nacimiento de hijo nacido en EUA")


def test_steps_from_text_and_back():
    steps = steps_from_text("Obtener acta | Identificación | 30\n\n  Apostilla |  | 75 \nCURP")
    assert steps == [
        StepTemplate("Obtener acta", "Identificación", 30),
        StepTemplate("Apostilla", "", 75),
        StepTemplate("CURP", "", None),
    ]
    text = steps_to_text([s.as_json() for s in steps])
    assert text == "Obtener acta | Identificación | 30\nApostilla |  | 75\nCURP"
    assert steps_from_text(text) == steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a | b | c | d", "Line 1: write at most three parts: name | documents | days."),
        ("ok\nb | c | -3", "Line 2: the days must be a whole number, e.g. 30."),
    ],
)
def test_steps_from_text_names_the_bad_line(text, message):
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        steps_from_text(text)
    assert exc.value.messages == [message]


def test_kind_validation(world):
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        procedure_kind_create(
            actor=world.admin, office=world.michoacan, name="", steps=[StepTemplate(" ", "", 5)]
        )
    assert exc.value.message_dict == {"name": ["This field is required."], "steps": ["Step 1 has no name."]}
    with pytest.raises(ValidationError) as exc:
        procedure_kind_create(actor=world.admin, office=world.michoacan, name="X", steps=[])
    assert list(exc.value.message_dict) == ["steps"]
    with pytest.raises(PermissionDenied):
        procedure_kind_create(
            actor=world.caseworker, office=world.michoacan, name="X", steps=[StepTemplate("a")]
        )


def test_start_copies_steps_with_cumulative_due_dates(world, case, apostille):
    procedure = procedure_start(actor=world.caseworker, case=case, kind=apostille)
    assert (procedure.title, procedure.started_on, procedure.status) == (apostille.name, TODAY, "in_progress")
    steps = list(procedure.steps.order_by("order").values_list("order", "due_on"))
    days = [30, 75, 15, 15, 7, 15]
    expected, due = [], TODAY
    for order, d in enumerate(days, start=1):
        due += datetime.timedelta(days=d)
        expected.append((order, due))
    assert steps == expected
    assert AuditEvent.objects.filter(action=Action.PROCEDURE_UPDATE, object_id=str(procedure.pk)).count() == 1


def test_changing_the_type_does_not_change_started_procedures(world, case, apostille):
    procedure = procedure_start(actor=world.caseworker, case=case, kind=apostille)
    procedure_kind_update(
        actor=world.admin, kind=apostille, name=apostille.name, steps=[StepTemplate("Solo uno")]
    )
    assert procedure.steps.count() == 6


def test_start_refuses_a_kind_of_another_office_or_not_in_use(world, case, apostille):
    other = procedure_kind_create(
        actor=_jalisco_admin(world), office=world.jalisco, name="Otro", steps=[StepTemplate("a")]
    )
    with pytest.raises(ValidationError) as exc:
        procedure_start(actor=world.caseworker, case=case, kind=other)
    assert list(exc.value.message_dict) == ["kind"]
    procedure_kind_update(
        actor=world.admin, kind=apostille, name=apostille.name, steps=[StepTemplate("a")], is_active=False
    )
    with pytest.raises(ValidationError):
        procedure_start(actor=world.caseworker, case=case, kind=apostille)
    with pytest.raises(PermissionDenied):
        procedure_start(actor=world.auditor, case=case, kind=apostille)


def _jalisco_admin(world):
    from rumbo.cases.tests.referral_support import jalisco_admin

    return jalisco_admin(world)


def test_steps_done_finish_the_procedure_and_undoing_reopens_it(world, case):
    kind = procedure_kind_create(
        actor=world.admin,
        office=world.michoacan,
        name="Corto",
        steps=[StepTemplate("a", "", 1), StepTemplate("b")],
    )
    procedure = procedure_start(actor=world.caseworker, case=case, kind=kind)
    first, second = procedure.steps.order_by("order")
    procedure_step_update(
        actor=world.caseworker, step=first, done_on=datetime.date(2026, 2, 20), note="Listo"
    )
    procedure.refresh_from_db()
    assert procedure.status == Procedure.Status.IN_PROGRESS
    procedure_step_update(actor=world.caseworker, step=second, done_on=TODAY)
    procedure.refresh_from_db()
    assert (procedure.status, procedure.finished_on) == (Procedure.Status.DONE, TODAY)
    procedure_step_update(actor=world.caseworker, step=second, done_on=None)
    procedure.refresh_from_db()
    assert (procedure.status, procedure.finished_on) == (Procedure.Status.IN_PROGRESS, None)
    event = AuditEvent.objects.filter(action=Action.PROCEDURE_UPDATE, object_id=str(procedure.pk)).first()
    assert event.changes == {"step.2.done_on": {"old": "2026-03-02", "new": None}}
    assert ProcedureStep.objects.get(pk=first.pk).note == "Listo"


def test_a_step_cannot_be_done_in_the_future_and_auditors_cannot_mark_steps(world, case, apostille):
    step = procedure_start(actor=world.caseworker, case=case, kind=apostille).steps.first()
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        procedure_step_update(actor=world.caseworker, step=step, done_on=TODAY + datetime.timedelta(days=1))
    assert exc.value.message_dict == {"done_on": ["The date cannot be in the future."]}
    with pytest.raises(PermissionDenied):
        procedure_step_update(actor=world.auditor, step=step, done_on=TODAY)


def test_dates_are_the_office_s_not_the_server_s(world, case, apostille):
    from rumbo.offices.models import Office

    # 2 March 05:30 UTC: still 1 March in Mexico City (the server's zone), already 2 March in Cancún.
    Office.objects.filter(pk=world.michoacan.pk).update(time_zone="America/Cancun")
    with time_machine.travel(datetime.datetime(2026, 3, 2, 5, 30, tzinfo=UTC), tick=False):
        procedure = procedure_start(actor=world.caseworker, case=case, kind=apostille)
        assert procedure.started_on == TODAY
        step = procedure.steps.order_by("order").first()
        procedure_step_update(actor=world.caseworker, step=step, done_on=TODAY)  # not "in the future"
    assert ProcedureStep.objects.get(pk=step.pk).done_on == TODAY
