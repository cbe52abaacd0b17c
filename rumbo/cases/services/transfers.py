"""Transfers of a case to another office (the person moved states): request → accept or reject.

On acceptance the case, its person and the household members on the case move to the receiving office; the
sending office keeps read access (``CaseAccess``) to the rows it recorded, which keep its ``office``: notes,
attachments, status changes, referrals, returns. Open follow-up tasks are future work and move with the case
(unassigned: their worker belongs to the sending office). The whole history stays in ``CaseTransfer``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.models import Case, CaseAccess, CaseNeed, CaseStatus, CaseTransfer, FollowUpTask
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require
from rumbo.people.models import Person
from rumbo.people.services._common import FieldErrors, clean_text

REASON_MAX = 2000
NOTE_MAX = 300


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _persons_of(case: Case) -> list[Person]:
    """The case's person and its household members, as stored now."""
    members = list(Person._base_manager.filter(member_of_cases=case).order_by("pk"))
    person = Person._base_manager.get(pk=case.person_id)
    return [person, *[m for m in members if m.pk != person.pk]]


def _other_open_cases(case: Case, persons: list[Person]) -> list[str]:
    """Numbers of the sending office's other cases, not closed, that involve one of ``persons``: moving the
    persons would leave those cases pointing at another office's records."""
    ids = [p.pk for p in persons]
    return list(
        Case._base_manager.filter(office_id=case.office_id)
        .exclude(pk=case.pk)
        .exclude(status=CaseStatus.CLOSED)
        .filter(Q(person_id__in=ids) | Q(members__in=ids))
        .order_by("number")
        .values_list("number", flat=True)
        .distinct()
    )


def cases_waiting_for_transfer(person: Person) -> list[str]:
    """Numbers of the cases of ``person`` (as holder or household member) whose transfer to another office
    is waiting for an answer: accepting it moves the person, so no other case may be opened meanwhile."""
    return list(
        Case._base_manager.filter(Q(person_id=person.pk) | Q(members=person.pk))
        .filter(transfers__status=CaseTransfer.Status.REQUESTED)
        .order_by("number")
        .values_list("number", flat=True)
        .distinct()
    )


def _refuse_other_open_cases(case: Case) -> None:
    blocking = _other_open_cases(case, _persons_of(case))
    if blocking:
        raise ValidationError(
            _(
                "The persons of this case are also in other open cases of your office (%(numbers)s): "
                "close or transfer those first."
            )
            % {"numbers": ", ".join(blocking)},
            code="other_cases",
        )


def _case_as_it_leaves(case: Case) -> dict[str, Any]:
    """The case as the sending office leaves it (kept on its ``CaseAccess``): what it recorded on the case
    itself. Later changes are the receiving office's and are not shown to the sending office."""
    needs = CaseNeed.objects.filter(case=case).order_by("need")
    return {
        "summary": case.summary,
        "status": case.status,
        "status_reason": case.status_reason,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "priority": case.priority,
        "vulnerable": case.vulnerable,
        "assigned_to": case.assigned_to_id,
        "return_event": case.return_event_id,
        "arrival_event": case.arrival_event_id,
        "updated_at": case.updated_at.isoformat(),
        "members": sorted(case.members.values_list("pk", flat=True)),
        "needs": [
            {"need": n.need, "note": n.note, "met_at": n.met_at.isoformat() if n.met_at else None}
            for n in needs
        ],
    }


def case_transfer_request(*, actor: Any, case: Case, to_office: Office, reason: str) -> CaseTransfer:
    """Ask ``to_office`` to take over ``case`` (the person moved to its state).

    Needs ``TRANSFER_CASE`` in the case's office. The receiving office must be another active OFAM; a reason
    is required; only one request per case may wait for an answer; the case's persons must not be in other
    open cases of the office (close or transfer those first). Audits ``CASE_TRANSFER_REQUEST``.
    """
    require(actor, Perm.TRANSFER_CASE, case.office_id)
    errors = FieldErrors()
    reason = errors.check("reason", lambda: clean_text(reason, REASON_MAX)) or ""
    if not reason and "reason" not in errors.errors:
        errors.add("reason", _("Say why the case moves to the other office."))
    if to_office.pk == case.office_id:
        errors.add("to_office", _("Choose another office than the case's own."))
    elif not to_office.is_active or to_office.kind != Office.Kind.OFAM:
        errors.add("to_office", _("Cases can only be transferred to an active state office (OFAM)."))
    errors.raise_if_any()
    with transaction.atomic(), scopes_disabled():
        locked = Case._base_manager.select_for_update().get(pk=case.pk)
        if locked.office_id != case.office_id:
            raise ValidationError(_("This case no longer belongs to your office."), code="moved")
        if CaseTransfer.objects.filter(case=locked, status=CaseTransfer.Status.REQUESTED).exists():
            raise ValidationError(
                {"to_office": [_("A transfer of this case is already waiting for an answer.")]},
                code="pending",
            )
        _refuse_other_open_cases(locked)
        transfer = CaseTransfer.objects.create(
            case=locked,
            from_office_id=locked.office_id,
            to_office=to_office,
            reason=reason,
            requested_by=_user(actor),
        )
        audit_record(
            actor=actor,
            action=Action.CASE_TRANSFER_REQUEST,
            office=locked.office,
            obj=locked,
            detail={"transfer": transfer.pk, "to_office": to_office.pk},
        )
    return transfer


def _move_person(*, actor: Any, person: Person, to: Office, transfer: CaseTransfer) -> None:
    """Move ``person`` to office ``to``, as ``rumbo.matching.services`` does on a granted transfer request:
    the record (its child rows follow through the person), search tokens and match index, possible
    duplicates, and the pending access requests about it (those of ``to`` are answered by the move; the
    others now go to the new owner). Audits ``PERSON_UPDATE`` with the office diff."""
    from rumbo.matching.models import AccessRequest, DuplicatePair
    from rumbo.people.search import reindex_person

    old_office_id = person.office_id
    person.office = to
    person.save(update_fields=["office", "updated_at"])
    reindex_person(person)
    DuplicatePair.objects.filter(person_a=person).update(office_a=to)
    DuplicatePair.objects.filter(person_b=person).update(office_b=to)
    pending = AccessRequest.objects.filter(person=person, status=AccessRequest.Status.PENDING)
    pending.filter(requesting_office=to).update(
        status=AccessRequest.Status.GRANTED, decided_by=_user(actor), decided_at=timezone.now()
    )
    pending.exclude(requesting_office=to).update(owner_office=to)
    audit_record(
        actor=actor,
        action=Action.PERSON_UPDATE,
        office=Office.objects.get(pk=old_office_id),
        obj=person,
        changes={"office": {"old": old_office_id, "new": to.pk}},
        detail={"case_transfer": transfer.pk},
    )


def case_transfer_decide(*, actor: Any, transfer: CaseTransfer, accept: bool, note: str = "") -> CaseTransfer:
    """Accept or reject a transfer sent to the actor's office (``TRANSFER_CASE`` there); rejecting needs a
    note for the sending office.

    Accepting is refused while the case's persons are in other open cases of the sending office (as at the
    request: one may have been reopened since). It moves the case, its person and the household members on
    the case to the receiving office, unassigns the case and moves its open follow-up tasks, and gives the
    sending office read access to what it recorded and to the case as it left (``CaseAccess``). Audits
    ``CASE_TRANSFER_DECIDE`` (and ``PERSON_UPDATE`` per person moved).
    """
    require(actor, Perm.TRANSFER_CASE, transfer.to_office_id)
    errors = FieldErrors()
    note = errors.check("note", lambda: clean_text(note, NOTE_MAX)) or ""
    if not accept and not note and "note" not in errors.errors:
        errors.add("note", _("Say why the transfer is rejected."))
    errors.raise_if_any()
    # The case and its persons leave the sending office's scope and enter the receiving office's.
    with transaction.atomic(), scopes_disabled():
        locked = (
            CaseTransfer.objects.select_for_update()
            .select_related("from_office", "to_office")
            .get(pk=transfer.pk)
        )
        require(actor, Perm.TRANSFER_CASE, locked.to_office_id)
        if locked.status != CaseTransfer.Status.REQUESTED:
            raise ValidationError(_("This transfer was already answered."), code="answered")
        case = Case._base_manager.select_for_update().get(pk=locked.case_id)
        if case.office_id != locked.from_office_id:
            raise ValidationError(_("This case no longer belongs to the office that asked."), code="moved")
        moved: list[int] = []
        skipped: list[int] = []
        if accept:
            # Checked again: a case of the same persons may have been reopened since the request.
            _refuse_other_open_cases(case)
            as_it_leaves = _case_as_it_leaves(case)
            for person in _persons_of(case):
                live = person.merged_into_id is None and person.anonymised_at is None
                if person.office_id == locked.from_office_id and live:
                    _move_person(actor=actor, person=person, to=locked.to_office, transfer=locked)
                    moved.append(person.pk)
                elif person.office_id != locked.to_office_id:
                    skipped.append(person.pk)  # registered elsewhere meanwhile: not the sender's to move
            case.office = locked.to_office
            case.assigned_to = None
            case.save(update_fields=["office", "assigned_to", "updated_at"])
            FollowUpTask._base_manager.filter(
                case=case, office_id=locked.from_office_id, done_at__isnull=True
            ).update(office=locked.to_office, assigned_to=None)
            # The needs' copy of the case's office (the dashboard counts needs by it).
            CaseNeed.objects.filter(case=case).update(office=locked.to_office)
            CaseAccess.objects.update_or_create(
                case=case,
                office_id=locked.from_office_id,
                defaults={"transfer": locked, "snapshot": as_it_leaves},
            )
        locked.status = CaseTransfer.Status.ACCEPTED if accept else CaseTransfer.Status.REJECTED
        locked.decided_at = timezone.now()
        locked.decided_by = _user(actor)
        locked.decision_note = note
        locked.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
        audit_record(
            actor=actor,
            action=Action.CASE_TRANSFER_DECIDE,
            office=locked.to_office,
            obj=case,
            detail={
                "transfer": locked.pk,
                "from_office": locked.from_office_id,
                "status": locked.status,
                "persons_moved": moved,
                **({"persons_skipped": skipped} if skipped else {}),
            },
        )
    return locked


def case_transfer_cancel(*, actor: Any, transfer: CaseTransfer) -> CaseTransfer:
    """Withdraw a request that is still waiting (``TRANSFER_CASE`` in the sending office). Audits
    ``CASE_TRANSFER_DECIDE`` with the status "cancelled"."""
    require(actor, Perm.TRANSFER_CASE, transfer.from_office_id)
    with transaction.atomic():
        locked = CaseTransfer.objects.select_for_update().get(pk=transfer.pk)
        if locked.status != CaseTransfer.Status.REQUESTED:
            raise ValidationError(_("This transfer was already answered."), code="answered")
        locked.status = CaseTransfer.Status.CANCELLED
        locked.decided_at = timezone.now()
        locked.decided_by = _user(actor)
        locked.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record(
            actor=actor,
            action=Action.CASE_TRANSFER_DECIDE,
            office=Office.objects.get(pk=locked.from_office_id),
            obj=Case._base_manager.get(pk=locked.case_id),
            detail={"transfer": locked.pk, "status": locked.status},
        )
    return locked
