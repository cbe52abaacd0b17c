"""Writes of the procedures tracker: procedure types (checklist templates an office configures) and the
procedures under way for a case, step by step, so the person and the worker see where each one stands.

A procedure type's steps are an ordered list of ``{"name", "documents", "days"}``: ``days`` is how long the
step usually takes, so a procedure started today gets each step's due date by adding up the days of the
steps up to it. Starting a procedure copies the steps: changing the type later does not rewrite the
procedures already under way.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.cases.models import Case, Procedure, ProcedureKind, ProcedureStep
from rumbo.cases.services.tasks import office_today
from rumbo.lib.validation import FieldErrors, clean_text
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require

MAX_STEPS = 40
MAX_STEP_DAYS = 3650
KIND_FIELDS = ("name", "description", "steps", "is_active")
STEP_FIELDS = ("done_on", "note")


@dataclass(frozen=True)
class StepTemplate:
    """One step of a procedure type: its name, the documents it needs, how many days it usually takes."""

    name: str
    documents: str = ""
    days: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "documents": self.documents, "days": self.days}


def steps_from_text(text: str) -> list[StepTemplate]:
    """Parse "one step per line: name | documents | days" (documents and days optional).

    Raises a ValidationError naming the line when a line cannot be read. Empty lines are skipped.
    """
    steps: list[StepTemplate] = []
    for number, line in enumerate(str(text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) > 3:
            raise ValidationError(
                _("Line %(line)d: write at most three parts: name | documents | days."),
                code="step_parts",
                params={"line": number},
            )
        name = parts[0]
        documents = parts[1] if len(parts) > 1 else ""
        raw_days = parts[2] if len(parts) > 2 else ""
        days: int | None = None
        if raw_days:
            if not raw_days.isdigit():
                raise ValidationError(
                    _("Line %(line)d: the days must be a whole number, e.g. 30."),
                    code="step_days",
                    params={"line": number},
                )
            days = int(raw_days)
        steps.append(StepTemplate(name=name, documents=documents, days=days))
    return steps


def steps_to_text(steps: Sequence[dict[str, Any]]) -> str:
    """The textarea form of stored steps (inverse of :func:`steps_from_text`)."""
    lines = []
    for step in steps:
        days = step.get("days")
        parts = [str(step.get("name", "")), str(step.get("documents", "") or "")]
        if days is not None:
            parts.append(str(days))
        lines.append(" | ".join(parts).rstrip(" |"))
    return "\n".join(lines)


def _clean_steps(steps: Sequence[StepTemplate]) -> list[dict[str, Any]]:
    if not steps:
        raise ValidationError(_("Write at least one step."), code="no_steps")
    if len(steps) > MAX_STEPS:
        raise ValidationError(
            _("Write at most %(max)d steps."), code="too_many_steps", params={"max": MAX_STEPS}
        )
    out = []
    for number, step in enumerate(steps, start=1):
        name = clean_text(step.name, 200)
        if not name:
            raise ValidationError(_("Step %(step)d has no name."), code="step_name", params={"step": number})
        documents = clean_text(step.documents, 300)
        if step.days is not None and not 0 <= int(step.days) <= MAX_STEP_DAYS:
            raise ValidationError(
                _("Step %(step)d: the days must be between 0 and %(max)d."),
                code="step_days",
                params={"step": number, "max": MAX_STEP_DAYS},
            )
        out.append(StepTemplate(name, documents, step.days).as_json())
    return out


def _clean_kind(
    office: Office,
    *,
    name: str,
    description: str,
    steps: Sequence[StepTemplate],
    exclude_pk: int | None,
) -> dict[str, Any]:
    errors = FieldErrors()
    clean_name = errors.check("name", lambda: clean_text(name, 200)) or ""
    if not clean_name and "name" not in errors.errors:
        errors.add("name", _("This field is required."))
    if clean_name:
        taken = (
            ProcedureKind._base_manager.filter(office=office, name__iexact=clean_name)
            .exclude(pk=exclude_pk or 0)
            .exists()
        )
        if taken:
            errors.add("name", _("Another procedure type of this office already has this name."))
    clean_description = errors.check("description", lambda: clean_text(description, 2000)) or ""
    clean_steps = errors.check("steps", lambda: _clean_steps(steps)) or []
    errors.raise_if_any()
    return {"name": clean_name, "description": clean_description, "steps": clean_steps}


def procedure_kind_create(
    *,
    actor: Any,
    office: Office,
    name: str,
    steps: Sequence[StepTemplate],
    description: str = "",
    is_active: bool = True,
) -> ProcedureKind:
    """Add a procedure type (checklist template) to ``office`` (``MANAGE_DIRECTORY``)."""
    require(actor, Perm.MANAGE_DIRECTORY, office.pk)
    values = _clean_kind(office, name=name, description=description, steps=steps, exclude_pk=None)
    with transaction.atomic():
        kind = ProcedureKind._base_manager.create(office=office, is_active=is_active, **values)
        audit_record(
            actor=actor,
            action=Action.DIRECTORY_CHANGE,
            office=office,
            obj=kind,
            changes=diff({}, snapshot(kind, KIND_FIELDS)),
            detail={"created": True},
        )
    return kind


def procedure_kind_update(
    *,
    actor: Any,
    kind: ProcedureKind,
    name: str,
    steps: Sequence[StepTemplate],
    description: str = "",
    is_active: bool = True,
) -> ProcedureKind:
    """Change a procedure type (``MANAGE_DIRECTORY``); procedures already started keep their own steps."""
    require(actor, Perm.MANAGE_DIRECTORY, kind.office_id)
    office = Office.objects.get(pk=kind.office_id)
    values = _clean_kind(office, name=name, description=description, steps=steps, exclude_pk=kind.pk)
    with transaction.atomic():
        before = snapshot(kind, KIND_FIELDS)
        for key, value in values.items():
            setattr(kind, key, value)
        kind.is_active = is_active
        kind.save()
        audit_record(
            actor=actor,
            action=Action.DIRECTORY_CHANGE,
            office=office,
            obj=kind,
            changes=diff(before, snapshot(kind, KIND_FIELDS)),
            detail={"created": False},
        )
    return kind


# --- Procedures of a case -----------------------------------------------------------------------------


def procedure_start(*, actor: Any, case: Case, kind: ProcedureKind) -> Procedure:
    """Start a procedure of type ``kind`` for ``case`` (``CHANGE_CASE`` in the case's office): its steps
    are copied with due dates counted from today (the office's date). The type must be one of the case
    office's, in use; the case must not be closed. Audits ``PROCEDURE_UPDATE``."""
    require(actor, Perm.CHANGE_CASE, case.office_id)
    errors = FieldErrors()
    if kind.office_id != case.office_id or not kind.is_active:
        errors.add("kind", _("Choose a procedure type in use at this office."))
    if case.is_closed:
        errors.add("__all__", _("This case is closed: reopen it first."))
    errors.raise_if_any()
    office = Office.objects.get(pk=case.office_id)
    today = office_today(office)
    with transaction.atomic():
        procedure = Procedure.objects.create(
            case=case, office=office, kind=kind, title=kind.name, started_on=today
        )
        due = today
        steps = []
        for order, step in enumerate(kind.steps, start=1):
            days = step.get("days")
            if days is not None:
                due = due + datetime.timedelta(days=int(days))
            steps.append(
                ProcedureStep(
                    procedure=procedure,
                    order=order,
                    name=str(step.get("name", ""))[:200],
                    documents=str(step.get("documents", "") or "")[:300],
                    due_on=due if days is not None else None,
                )
            )
        ProcedureStep.objects.bulk_create(steps)
        audit_record(
            actor=actor,
            action=Action.PROCEDURE_UPDATE,
            office=office,
            obj=procedure,
            detail={"started": True, "case": case.pk, "kind": kind.pk, "steps": len(steps)},
        )
    return procedure


def procedure_step_update(
    *, actor: Any, step: ProcedureStep, done_on: datetime.date | None, note: str = ""
) -> ProcedureStep:
    """Mark a step done on ``done_on`` (or not done, with ``None``) and keep a note (``CHANGE_CASE`` in
    the case's office). The date cannot be in the future (at the office). When every step is done the
    procedure is done (finished on the last date); undoing a step puts it back in progress. Audits
    ``PROCEDURE_UPDATE``."""
    procedure = Procedure.objects.select_related("case").get(pk=step.procedure_id)
    case = procedure.case
    require(actor, Perm.CHANGE_CASE, case.office_id)
    errors = FieldErrors()
    if done_on is not None and done_on > office_today(case.office):
        errors.add("done_on", _("The date cannot be in the future."))
    clean_note = errors.check("note", lambda: clean_text(note, 300)) or ""
    if procedure.status == Procedure.Status.ABANDONED:
        errors.add("__all__", _("This procedure was abandoned and cannot be changed."))
    errors.raise_if_any()
    with transaction.atomic():
        before = snapshot(step, STEP_FIELDS)
        step.done_on = done_on
        step.note = clean_note
        step.save(update_fields=["done_on", "note"])
        dates = list(ProcedureStep.objects.filter(procedure=procedure).values_list("done_on", flat=True))
        proc_before = (procedure.status, procedure.finished_on)
        if dates and all(d is not None for d in dates):
            procedure.status = Procedure.Status.DONE
            procedure.finished_on = max(d for d in dates if d is not None)
        else:
            procedure.status = Procedure.Status.IN_PROGRESS
            procedure.finished_on = None
        if (procedure.status, procedure.finished_on) != proc_before:
            procedure.save(update_fields=["status", "finished_on"])
        changes = diff(before, snapshot(step, STEP_FIELDS))
        audit_record(
            actor=actor,
            action=Action.PROCEDURE_UPDATE,
            office=case.office,
            obj=procedure,
            changes={f"step.{step.order}.{k}": v for k, v in changes.items()},
            detail={"step": step.pk, "case": case.pk, "status": procedure.status},
        )
    return step
