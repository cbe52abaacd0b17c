"""Writes of the orientation case itself: opening (with its number), changes, status, notes, assignment.

Every function checks the actor's permission, validates everything before saving (errors keyed by field),
runs in one transaction and leaves an audit event.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import IntegerField, Max
from django.db.models.functions import Cast, Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.cases.models import (
    ArrivalEvent,
    Case,
    CaseNeed,
    CaseNote,
    CaseStatus,
    CaseStatusChange,
    Need,
    Priority,
    ReturnEvent,
)
from rumbo.cases.services.returns import household_companions
from rumbo.cases.services.tasks import office_today
from rumbo.cases.services.transfers import cases_waiting_for_transfer
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, require
from rumbo.people.models import Person
from rumbo.people.services._common import FieldErrors, clean_text, require_live, valid_choice

logger = logging.getLogger(__name__)

SUMMARY_MAX = 5000
NOTE_MAX = 10000
NEED_NOTE_MAX = 300
REASON_MAX = 300
SEQUENCE_WIDTH = 5

#: Allowed status changes. Closing and reopening need a reason.
TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.FOLLOW_UP, CaseStatus.CLOSED}),
    CaseStatus.FOLLOW_UP: frozenset({CaseStatus.OPEN, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.REOPENED}),
    CaseStatus.REOPENED: frozenset({CaseStatus.FOLLOW_UP, CaseStatus.CLOSED}),
}
REASON_REQUIRED = frozenset({CaseStatus.CLOSED, CaseStatus.REOPENED})

_UNSET: Any = object()


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


# --- Case numbers --------------------------------------------------------------------------------------


def number_prefix(office: Office, year: int) -> str:
    """``<OFFICE-CODE-UPPER>-<YEAR>-``: e.g. ``OFAM-MICH-2026-``."""
    return f"{office.code.upper()}-{year}-"


def format_number(prefix: str, sequence: int) -> str:
    return f"{prefix}{sequence:0{SEQUENCE_WIDTH}d}"


def _sequence_of(number: str, prefix: str) -> int | None:
    tail = number[len(prefix) :]
    return int(tail) if number.startswith(prefix) and tail.isdigit() else None


def next_case_number(office: Office, year: int) -> str:
    """The next free number of ``office`` in ``year``.

    The highest number is read from the (office, number) unique index, walking it backwards: numbers of one
    office and year have the same shape, so their index order is their numeric order as long as the
    sequence has 5 digits. Past 99,999 a 6-digit number sorts below "99999", so the maximum is then computed
    numerically (rare: it costs a scan of that office's year). Call it with the office row locked (see
    :func:`case_open`): two transactions must not read the same maximum.
    """
    prefix = number_prefix(office, year)
    same_year = Case._base_manager.filter(office=office, number__startswith=prefix)
    top = same_year.order_by("-number").values_list("number", flat=True).first()
    sequence = _sequence_of(top, prefix) if top else 0
    if sequence is None or sequence >= 10**SEQUENCE_WIDTH - 1:
        found = (
            same_year.filter(number__regex=rf"^{re.escape(prefix)}[0-9]+$")
            .annotate(seq=Cast(Substr("number", len(prefix) + 1), IntegerField()))
            .aggregate(top=Max("seq"))["top"]
        )
        sequence = found or 0
    return format_number(prefix, sequence + 1)


# --- Validation helpers ---------------------------------------------------------------------------------


def _clean_needs(needs: Mapping[str, str] | Iterable[str], errors: FieldErrors) -> dict[str, str]:
    items = needs.items() if isinstance(needs, Mapping) else ((n, "") for n in needs)
    out: dict[str, str] = {}
    for need, note in items:
        if need not in Need.values:
            errors.add("needs", _("“%(need)s” is not a known need.") % {"need": need})
            continue
        try:
            out[need] = clean_text(note, NEED_NOTE_MAX)
        except ValidationError as exc:
            for message in exc.messages:
                errors.add(f"needs.{need}", message)
    return out


def _check_worker(office_id: int, worker: Any, errors: FieldErrors) -> None:
    if worker is not None and not has_perm(worker, Perm.CHANGE_CASE, office_id):
        errors.add("assigned_to", _("Choose a caseworker of the case's office."))


def _check_events(person: Person, return_event: Any, arrival_event: Any, errors: FieldErrors) -> None:
    if isinstance(return_event, ReturnEvent) and return_event.person_id != person.pk:
        errors.add("return_event", _("This return is not the person's."))
    if isinstance(arrival_event, ArrivalEvent) and arrival_event.person_id != person.pk:
        errors.add("arrival_event", _("This arrival is not the person's."))


def _members(actor: Any, person: Person, members: Iterable[Person], errors: FieldErrors) -> list[Person]:
    try:
        return household_companions(actor=actor, person=person, companions=members, key="members")
    except ValidationError as exc:
        for message in exc.message_dict["members"]:
            errors.add("members", message)
        return []


def _schedule_followups(actor: Any, case: Case) -> None:
    """Default follow-up tasks (1, 3 and 6 months), written by the follow-up part of the app."""
    from rumbo.cases.services import tasks as task_services

    task_services.followup_schedule_defaults(actor=actor, case=case)


# --- Opening a case ----------------------------------------------------------------------------------------


def case_open(
    *,
    actor: Any,
    person: Person,
    office: Office | None = None,
    members: Iterable[Person] = (),
    needs: Mapping[str, str] | Iterable[str] = (),
    priority: str = Priority.NORMAL,
    vulnerable: bool = False,
    summary: str = "",
    assigned_to: Any = None,
    return_event: ReturnEvent | None = None,
    arrival_event: ArrivalEvent | None = None,
) -> Case:
    """Open an orientation case for ``person`` (and household ``members``) at the person's office.

    ``needs`` maps each need found at intake to a note. The case gets the office's next number
    ``<OFFICE-CODE>-<YEAR>-<00001>`` (the office row is locked while it is chosen, and a clash with a number
    written meanwhile by other means is retried). Needs ``CHANGE_CASE`` in the office. Members must be
    persons of the office linked to the person's household; the assigned worker must be a caseworker of the
    office; no case of the person may be waiting for an answer to a transfer (accepting it moves the
    person). Writes the first status change, audits ``CASE_OPEN`` and schedules the default follow-up tasks.
    """
    office = office or person.office
    require(actor, Perm.CHANGE_CASE, office.pk)
    errors = FieldErrors()
    if office.pk != person.office_id:
        errors.add(
            "person",
            _("This person is registered by another office: the case is opened where the person is."),
        )
    require_live(person)
    waiting = cases_waiting_for_transfer(person)
    if waiting:
        errors.add(
            "person",
            _(
                "This person is in case %(numbers)s, whose transfer to another office is waiting for an "
                "answer: open a new case once the transfer is answered or withdrawn."
            )
            % {"numbers": ", ".join(waiting)},
        )
    clean_needs = _clean_needs(needs, errors)
    errors.check("priority", lambda: valid_choice(priority, Priority, _("Choose a valid priority.")))
    summary = errors.check("summary", lambda: clean_text(summary, SUMMARY_MAX)) or ""
    _check_worker(office.pk, assigned_to, errors)
    _check_events(person, return_event, arrival_event, errors)
    chosen = _members(actor, person, members, errors)
    errors.raise_if_any()
    year = office_today(office).year
    with transaction.atomic():
        # Serialise the numbering of one office: the row lock is held until this transaction ends.
        Office.objects.select_for_update().filter(pk=office.pk).first()
        case = _create_numbered(
            office=office,
            year=year,
            fields={
                "person": person,
                "priority": priority,
                "vulnerable": bool(vulnerable),
                "summary": summary,
                "assigned_to": assigned_to,
                "return_event": return_event,
                "arrival_event": arrival_event,
                "created_by": _user(actor),
            },
        )
        case.members.set(chosen)
        CaseNeed.objects.bulk_create([_need(case, n, t) for n, t in clean_needs.items()])
        CaseStatusChange.objects.create(
            case=case, office=office, from_status="", to_status=CaseStatus.OPEN, by=_user(actor)
        )
        audit_record(
            actor=actor,
            action=Action.CASE_OPEN,
            office=office,
            obj=case,
            detail={
                "number": case.number,
                "person": person.pk,
                "members": [m.pk for m in chosen],
                "needs": sorted(clean_needs),
                "priority": priority,
            },
        )
        _schedule_followups(actor, case)
    return case


def _need(case: Case, need: str, note: str) -> CaseNeed:
    """A need of ``case``, with the copies of the case's office and opening time that the dashboard counts
    by (see :class:`CaseNeed`)."""
    return CaseNeed(case=case, need=need, note=note, office_id=case.office_id, opened_at=case.opened_at)


def _create_numbered(*, office: Office, year: int, fields: dict[str, Any], attempts: int = 5) -> Case:
    """Insert the case with the next number; on a clash (a number written by an import or another process
    without the lock), take the next one."""
    for attempt in range(attempts):
        number = next_case_number(office, year)
        try:
            with transaction.atomic():  # a savepoint: a clash does not spoil the outer transaction
                return Case.objects.create(office=office, number=number, **fields)
        except IntegrityError:
            if (
                attempt == attempts - 1
                or not Case._base_manager.filter(office=office, number=number).exists()
            ):
                raise
    raise AssertionError("unreachable")


# --- Changing a case ---------------------------------------------------------------------------------------

_TRACKED = ("priority", "vulnerable", "summary", "assigned_to", "return_event", "arrival_event")


def _require_open_for_changes(case: Case) -> None:
    if case.status == CaseStatus.CLOSED:
        raise ValidationError(_("This case is closed: reopen it before changing it."), code="closed")


def case_update(
    *,
    actor: Any,
    case: Case,
    needs: Mapping[str, str] | Iterable[str] | None = None,
    priority: str | None = None,
    vulnerable: bool | None = None,
    summary: str | None = None,
    members: Iterable[Person] | None = None,
    return_event: Any = _UNSET,
    arrival_event: Any = _UNSET,
    assigned_to: Any = _UNSET,
) -> Case:
    """Change what intake recorded. Arguments left out (None) keep their value; ``needs`` and ``members``
    replace the lists (a need kept keeps its "met" date); ``return_event``, ``arrival_event`` and
    ``assigned_to`` change when given (None clears them). Needs ``CHANGE_CASE``; a closed case must be
    reopened first. Audits ``CASE_UPDATE`` with a field-level diff."""
    require(actor, Perm.CHANGE_CASE, case.office_id)
    _require_open_for_changes(case)
    person = case.person
    errors = FieldErrors()
    clean_needs = _clean_needs(needs, errors) if needs is not None else None
    if priority is not None:
        errors.check("priority", lambda: valid_choice(priority, Priority, _("Choose a valid priority.")))
    if summary is not None:
        summary = errors.check("summary", lambda: clean_text(summary, SUMMARY_MAX)) or ""
    _check_events(
        person,
        None if return_event is _UNSET else return_event,
        None if arrival_event is _UNSET else arrival_event,
        errors,
    )
    chosen = _members(actor, person, members, errors) if members is not None else None
    if assigned_to is not _UNSET:
        _check_worker(case.office_id, assigned_to, errors)
    errors.raise_if_any()
    with transaction.atomic():
        locked = Case._base_manager.select_for_update().get(pk=case.pk)
        _require_open_for_changes(locked)
        before = snapshot(locked, _TRACKED)
        if assigned_to is not _UNSET:
            locked.assigned_to = assigned_to
        for name, value in (("priority", priority), ("vulnerable", vulnerable), ("summary", summary)):
            if value is not None:
                setattr(locked, name, value)
        if return_event is not _UNSET:
            locked.return_event = return_event
        if arrival_event is not _UNSET:
            locked.arrival_event = arrival_event
        changes = diff(before, snapshot(locked, _TRACKED))
        locked.save()
        if clean_needs is not None:
            old = {n.need: n for n in CaseNeed.objects.filter(case=locked)}
            if set(old) != set(clean_needs) or any(
                old[n].note != t for n, t in clean_needs.items() if n in old
            ):
                changes["needs"] = {"old": sorted(old), "new": sorted(clean_needs)}
            CaseNeed.objects.filter(case=locked).exclude(need__in=list(clean_needs)).delete()
            for need, note in clean_needs.items():
                # A new need carries the case's office and opening time (the dashboard counts by them).
                CaseNeed.objects.update_or_create(
                    case=locked,
                    need=need,
                    defaults={"note": note},
                    create_defaults={
                        "note": note,
                        "office_id": locked.office_id,
                        "opened_at": locked.opened_at,
                    },
                )
        if chosen is not None:
            old_members = sorted(locked.members.values_list("pk", flat=True))
            new_members = sorted(p.pk for p in chosen)
            if old_members != new_members:
                changes["members"] = {"old": old_members, "new": new_members}
            locked.members.set(chosen)
        if changes:
            audit_record(
                actor=actor, action=Action.CASE_UPDATE, office=locked.office, obj=locked, changes=changes
            )
    case.refresh_from_db()
    return case


def case_assign(*, actor: Any, case: Case, assigned_to: Any) -> Case:
    """Assign the case to a caseworker of its office (or to nobody: ``None``). Needs ``CHANGE_CASE``.
    Audits ``CASE_UPDATE``."""
    require(actor, Perm.CHANGE_CASE, case.office_id)
    errors = FieldErrors()
    _check_worker(case.office_id, assigned_to, errors)
    errors.raise_if_any()
    with transaction.atomic():
        locked = Case._base_manager.select_for_update().get(pk=case.pk)
        old = locked.assigned_to_id
        new = assigned_to.pk if assigned_to is not None else None
        if old != new:
            from rumbo.cases.services.tasks import tasks_follow_assignment

            previous = locked.assigned_to
            locked.assigned_to = assigned_to
            locked.save(update_fields=["assigned_to", "updated_at"])
            tasks_follow_assignment(actor=actor, case=locked, previous=previous)
            audit_record(
                actor=actor,
                action=Action.CASE_UPDATE,
                office=locked.office,
                obj=locked,
                changes={"assigned_to": {"old": old, "new": new}},
            )
    case.refresh_from_db()
    return case


def allowed_statuses(case: Case) -> list[str]:
    """The statuses the case may move to now, in the order of ``CaseStatus``."""
    targets = TRANSITIONS.get(case.status, frozenset())
    return [value for value in CaseStatus.values if value in targets]


def case_set_status(*, actor: Any, case: Case, status: str, reason: str = "") -> Case:
    """Move the case to ``status``: open → in follow-up → closed, closed → reopened, … (``TRANSITIONS``).

    Closing and reopening need a reason. Closing sets ``closed_at``; reopening clears it. Writes a
    ``CaseStatusChange`` row and audits ``CASE_STATUS``. Needs ``CHANGE_CASE``.
    """
    require(actor, Perm.CHANGE_CASE, case.office_id)
    errors = FieldErrors()
    reason = errors.check("reason", lambda: clean_text(reason, REASON_MAX)) or ""
    if status not in CaseStatus.values:
        errors.add("status", _("Choose a valid status."))
    elif status in REASON_REQUIRED and not reason and "reason" not in errors.errors:
        errors.add(
            "reason",
            _("Say why the case is closed.")
            if status == CaseStatus.CLOSED
            else _("Say why the case is reopened."),
        )
    errors.raise_if_any()
    with transaction.atomic():
        locked = Case._base_manager.select_for_update().get(pk=case.pk)
        old = locked.status
        if status not in TRANSITIONS.get(old, frozenset()):
            labels = dict(CaseStatus.choices)
            raise ValidationError(
                {
                    "status": [
                        _("A case that is “%(old)s” cannot become “%(new)s”.")
                        % {"old": labels[old], "new": labels[status]}
                    ]
                },
                code="transition",
            )
        locked.status = status
        locked.status_reason = reason
        if status == CaseStatus.CLOSED:
            locked.closed_at = timezone.now()
        elif status == CaseStatus.REOPENED:
            locked.closed_at = None
        locked.save(update_fields=["status", "status_reason", "closed_at", "updated_at"])
        if status == CaseStatus.CLOSED:
            from rumbo.cases.services.tasks import tasks_close_for_case

            tasks_close_for_case(actor=actor, case=locked)  # open follow-ups are no longer needed
        CaseStatusChange.objects.create(
            case=locked,
            office=locked.office,
            from_status=old,
            to_status=status,
            reason=reason,
            by=_user(actor),
        )
        audit_record(
            actor=actor,
            action=Action.CASE_STATUS,
            office=locked.office,
            obj=locked,
            changes={"status": {"old": old, "new": status}},
            detail={"reason": reason},
        )
    case.refresh_from_db()
    return case


def case_note_add(*, actor: Any, case: Case, text: str) -> CaseNote:
    """Write a note on the case (closed cases too). ``office`` is the writing office: it keeps reading the
    note after a transfer. Needs ``CHANGE_CASE``. Audits ``CASE_NOTE`` (its length, not its text)."""
    require(actor, Perm.CHANGE_CASE, case.office_id)
    errors = FieldErrors()
    text = str(text or "").strip()
    if not text:
        errors.add("text", _("Write the note."))
    elif len(text) > NOTE_MAX:
        errors.add("text", _("Write at most %(max)d characters.") % {"max": NOTE_MAX})
    errors.raise_if_any()
    with transaction.atomic():
        note = CaseNote.objects.create(
            case=case, office_id=case.office_id, text=text, created_by=_user(actor)
        )
        audit_record(
            actor=actor,
            action=Action.CASE_NOTE,
            office=case.office,
            obj=case,
            detail={"note": note.pk, "length": len(text)},
        )
    return note


def case_record_view(
    *,
    actor: Any,
    case: Case,
    via: str = "web",
    past_office_id: int | None = None,
    office: Office | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Audit one read of a case (``CASE_VIEW`` on a page, ``CASE_API_READ`` through the API). The event's
    office is the case's office, or ``office`` when another office reads it by right (the office a
    transfer is sent to); ``past_office_id`` records that a past office read it (its read access);
    ``detail`` says what was read besides the case (a page of it: its tasks, a procedure…)."""
    recorded: dict[str, Any] = {"via": via, **(detail or {})}
    if past_office_id is not None:
        recorded["past_office"] = past_office_id
    audit_record(
        actor=actor,
        action=Action.CASE_API_READ if via == "api" else Action.CASE_VIEW,
        office=office or case.office,
        obj=case,
        detail=recorded,
    )
