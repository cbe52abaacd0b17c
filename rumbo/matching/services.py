"""Writes of the adjudication side of matching: decisions on possible duplicates, the matching thresholds of
an office network, and requests to the office that owns a possible match (for access or a transfer).

Each service checks the acting user's permission, validates before writing, runs in one transaction and
audits what it did. The index of possible duplicates itself (``DuplicatePair`` rows) is written by the batch
run and by intake (``rumbo.matching`` index and scoring), not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.matching.models import AccessRequest, DuplicatePair, MatchSettings
from rumbo.matching.queue_selectors import DECIDED, candidate_person
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, require
from rumbo.people.models import Person
from rumbo.people.search import reindex_person

_SPACES = re.compile(r"\s+")
NOTE_MAX = 500
THRESHOLDS = ("intake_threshold", "review_threshold", "likely_threshold")


def _text(value: Any, max_length: int, key: str) -> str:
    text = _SPACES.sub(" ", str(value or "")).strip()
    if len(text) > max_length:
        raise ValidationError(
            {key: [_("Write at most %(max)d characters.") % {"max": max_length}]}, code="max_length"
        )
    return text


# --- Decisions on possible duplicates ------------------------------------------------------------------


def _may_decide(actor: Any, pair: DuplicatePair) -> bool:
    return has_perm(actor, Perm.ADJUDICATE_DUPLICATES, pair.office_a_id) and has_perm(
        actor, Perm.ADJUDICATE_DUPLICATES, pair.office_b_id
    )


def _both_live(pair: DuplicatePair) -> bool:
    live = Person._base_manager.filter(
        pk__in=[pair.person_a_id, pair.person_b_id], merged_into__isnull=True, anonymised_at__isnull=True
    ).count()
    return live == 2


def _valid_decision(decision: str) -> str:
    if decision not in DECIDED:
        raise ValidationError(
            {"decision": [_("Choose same person, different persons or unsure.")]}, code="invalid_choice"
        )
    return decision


def _decide(actor: Any, pair: DuplicatePair, decision: str, note: str, *, bulk: bool) -> bool:
    """Record the decision on a locked pair and audit it; False when nothing changes."""
    old = pair.decision
    if old == decision and not note:
        return False
    pair.decision = decision
    pair.decided_by = actor if getattr(actor, "is_authenticated", False) else None
    pair.decided_at = timezone.now()
    pair.save(update_fields=["decision", "decided_by", "decided_at", "updated_at"])
    detail: dict[str, Any] = {"probability": round(pair.probability, 4)}
    if note:
        detail["note"] = note
    if bulk:
        detail["bulk"] = True
    audit_record(
        actor=actor,
        action=Action.DUPLICATE_DECIDE,
        office=pair.office_a,
        obj=pair,
        changes={"decision": {"old": old, "new": decision}},
        detail=detail,
    )
    return True


def pair_decide(*, actor: Any, pair: DuplicatePair, decision: str, note: str = "") -> DuplicatePair:
    """Decide whether the two persons of ``pair`` are the same person ("same"), two persons ("different")
    or cannot be told apart ("unsure").

    Needs ``ADJUDICATE_DUPLICATES`` in the offices of both persons (PermissionDenied otherwise: a pair across
    offices is decided only by someone who may see both). Refuses pairs whose persons were merged or
    anonymised since. The decision is a label that later runs keep and the trainer learns from. Audits
    ``DUPLICATE_DECIDE`` with the old and new decision (and the note); repeating the same decision without a
    note writes nothing.
    """
    if not _may_decide(actor, pair):
        raise PermissionDenied
    decision = _valid_decision(decision)
    note = _text(note, NOTE_MAX, "note")
    with transaction.atomic():
        locked = (
            DuplicatePair.objects.select_for_update(of=("self",))
            .select_related("office_a", "office_b")
            .get(pk=pair.pk)
        )
        if not _may_decide(actor, locked):  # the persons may have moved office meanwhile
            raise PermissionDenied
        if not _both_live(locked):
            raise ValidationError(
                _("One of these records was merged or anonymised: there is nothing left to decide."),
                code="gone",
            )
        _decide(actor, locked, decision, note, bulk=False)
    return locked


@dataclass(frozen=True)
class BulkResult:
    """What a bulk decision did: the pairs decided (or already so), and the pairs skipped because the
    user may not decide them (``forbidden``) or they are no longer decidable (``gone``: not found, or a
    person was merged or anonymised)."""

    decided: list[int]
    forbidden: list[int]
    gone: list[int]

    @property
    def skipped(self) -> list[int]:
        return sorted([*self.forbidden, *self.gone])


def pairs_decide_bulk(
    *, actor: Any, pairs: Iterable[DuplicatePair | int], decision: str, note: str = ""
) -> BulkResult:
    """The same decision on many pairs at once, in one transaction; each pair is checked and audited as by
    :func:`pair_decide`. Pairs the user may not decide are skipped and reported, not refused as a whole."""
    decision = _valid_decision(decision)
    note = _text(note, NOTE_MAX, "note")
    ids = sorted({p.pk if isinstance(p, DuplicatePair) else int(p) for p in pairs})
    decided: list[int] = []
    forbidden: list[int] = []
    gone: list[int] = []
    with transaction.atomic():
        locked = {
            p.pk: p
            for p in DuplicatePair.objects.select_for_update(of=("self",))
            .select_related("office_a", "office_b")
            .filter(pk__in=ids)
            .order_by("pk")
        }
        for pk in ids:
            pair = locked.get(pk)
            if pair is None:
                gone.append(pk)
            elif not _may_decide(actor, pair):
                forbidden.append(pk)
            elif not _both_live(pair):
                gone.append(pk)
            else:
                _decide(actor, pair, decision, note, bulk=True)
                decided.append(pk)
    return BulkResult(decided, forbidden, gone)


def pair_compare_record(
    *, actor: Any, pair: DuplicatePair, persons: Sequence[Person], via: str = "web"
) -> None:
    """Audit one look at a pair side by side: ``DUPLICATE_COMPARE`` for the pair and ``PERSON_VIEW`` for
    each person shown (``persons``: only those the user may see; a hidden person's id is not recorded as
    seen)."""
    from rumbo.people.services import person_record_view

    office = persons[0].office if persons else pair.office_a
    audit_record(
        actor=actor,
        action=Action.DUPLICATE_COMPARE,
        office=office,
        obj=pair,
        detail={"persons": [p.pk for p in persons], "via": via},
    )
    for person in persons:
        person_record_view(actor=actor, person=person, via=via)


# --- Matching settings -----------------------------------------------------------------------------------


def match_settings_update(
    *,
    actor: Any,
    network: Office,
    review_threshold: float,
    likely_threshold: float,
    intake_threshold: float,
) -> MatchSettings:
    """Change the thresholds of an office network (``network`` is its root office).

    Needs ``MANAGE_MATCHING`` in the root office. Each threshold is a probability strictly between 0 and 1,
    and intake ≤ review ≤ likely: what intake shows includes what the queue holds, which includes what is
    called likely. Errors are reported at the field. Audits ``MATCHING_SETTINGS`` with the diff.
    """
    require(actor, Perm.MANAGE_MATCHING, network.pk)
    if network.parent_id is not None:
        raise ValidationError(_("Thresholds are set for a whole office network, at its top office."))
    values = {
        "intake_threshold": intake_threshold,
        "review_threshold": review_threshold,
        "likely_threshold": likely_threshold,
    }
    errors: dict[str, list[Any]] = {}
    for key, value in values.items():
        if not isinstance(value, int | float) or not 0 < float(value) < 1:
            errors.setdefault(key, []).append(_("Enter a probability between 0 and 1, both excluded."))
    if not errors:
        if intake_threshold > review_threshold:
            errors["intake_threshold"] = [_("The intake threshold cannot be above the review threshold.")]
        if review_threshold > likely_threshold:
            errors["likely_threshold"] = [_("The likely threshold cannot be below the review threshold.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        settings, _created = MatchSettings.objects.select_for_update().get_or_create(network=network)
        before = snapshot(settings, THRESHOLDS)
        for key, value in values.items():
            setattr(settings, key, float(value))
        changes = diff(before, snapshot(settings, THRESHOLDS))
        if changes:
            settings.save()
            audit_record(
                actor=actor, action=Action.MATCHING_SETTINGS, office=network, obj=settings, changes=changes
            )
    return settings


# --- Requests about a possible match at another office -------------------------------------------------


def _not_possible() -> ValidationError:
    # One message for every reason, so an error never tells anything about the record.
    return ValidationError(
        {"person": [_("This request cannot be made. Search again and use the button shown with the match.")]},
        code="not_possible",
    )


def access_request_create(
    *, actor: Any, candidate_person_id: int, requesting_office: Office, kind: str, reason: str
) -> AccessRequest:
    """Ask the office that owns a possible match for access to the record, or for its transfer.

    The requester was told only that a possible match is registered at that office; the request names the
    person for the owner, and nothing about the person reaches the requester. Needs ``ADD_PERSON`` in
    ``requesting_office``. The person must be a genuine hidden candidate: a live record of another office
    of the same network; every other case gets the same error. Audits ``MATCH_ACCESS_REQUEST`` at the
    requesting office, on the person, with the owner office and the kind only.
    """
    require(actor, Perm.ADD_PERSON, requesting_office.pk)
    errors: dict[str, list[Any]] = {}
    if kind not in AccessRequest.Kind.values:
        errors["kind"] = [_("Choose access to the record or its transfer.")]
    try:
        reason = _text(reason, 500, "reason")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    else:
        if not reason:
            errors["reason"] = [_("Say why your office needs this record.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        person = candidate_person(int(candidate_person_id), requesting_office)
        if person is None:
            raise _not_possible()
        pending = AccessRequest.objects.filter(
            person=person,
            requesting_office=requesting_office,
            kind=kind,
            status=AccessRequest.Status.PENDING,
        )
        if pending.exists():
            raise ValidationError(
                {"person": [_("Your office already made this request; it is waiting for an answer.")]},
                code="pending",
            )
        request = AccessRequest.objects.create(
            person=person,
            owner_office_id=person.office_id,
            requesting_office=requesting_office,
            kind=kind,
            reason=reason,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action=Action.MATCH_ACCESS_REQUEST,
            office=requesting_office,
            obj=person,
            detail={"request": request.pk, "owner_office": person.office_id, "kind": kind},
        )
    return request


def _transfer(*, actor: Any, person: Person, to: Office, request: AccessRequest) -> dict[str, list[int]]:
    """Move ``person`` (locked) to office ``to``: the record, its search and match index, its possible
    duplicates and the other pending requests about it. Audits ``PERSON_UPDATE`` with the office diff."""
    old_office_id = person.office_id
    person.office = to
    person.save(update_fields=["office", "updated_at"])
    reindex_person(person)  # search tokens (and the match index) carry the office
    DuplicatePair.objects.filter(person_a=person).update(office_a=to)
    DuplicatePair.objects.filter(person_b=person).update(office_b=to)
    others = AccessRequest.objects.filter(person=person, status=AccessRequest.Status.PENDING).exclude(
        pk=request.pk
    )
    # A pending request of the new owner is answered by the transfer itself; the others now go to the new
    # owner, who holds the record.
    closed = list(others.filter(requesting_office=to).values_list("pk", flat=True))
    others.filter(pk__in=closed).update(
        status=AccessRequest.Status.GRANTED, decided_by=actor, decided_at=timezone.now()
    )
    redirected = list(others.exclude(pk__in=closed).values_list("pk", flat=True))
    others.filter(pk__in=redirected).update(owner_office=to)
    audit_record(
        actor=actor,
        action=Action.PERSON_UPDATE,
        office=Office.objects.get(pk=old_office_id),
        obj=person,
        changes={"office": {"old": old_office_id, "new": to.pk}},
        detail={"transfer_request": request.pk},
    )
    return {"closed": closed, "redirected": redirected}


def access_request_decide(
    *, actor: Any, request: AccessRequest, grant: bool, answer: str = ""
) -> AccessRequest:
    """Answer a request about one of the office's records: grant or refuse, with an answer for the
    requester (needed when refusing).

    Needs ``CHANGE_PERSON`` in the owner office. Granting a *transfer* moves the person to the requesting
    office (the record, its child rows, search and match index, possible duplicates), audited as a
    ``PERSON_UPDATE`` of the office. Granting *access* records the answer; the requester sees it in their
    requests (sharing a record read-only with another office is not part of Rumbo yet). Audits
    ``MATCH_ACCESS_DECIDE``.
    """
    require(actor, Perm.CHANGE_PERSON, request.owner_office_id)
    answer = _text(answer, 500, "answer")
    if not grant and not answer:
        raise ValidationError({"answer": [_("Say why the request is refused.")]}, code="required")
    # The record leaves the actor's scope during a transfer (and its child rows are read through it).
    with transaction.atomic(), scopes_disabled():
        locked = (
            AccessRequest.objects.select_for_update().select_related("requesting_office").get(pk=request.pk)
        )
        require(actor, Perm.CHANGE_PERSON, locked.owner_office_id)  # it may have been redirected meanwhile
        if locked.status != AccessRequest.Status.PENDING:
            raise ValidationError(_("This request was already answered."), code="answered")
        person = Person._base_manager.select_for_update().get(pk=locked.person_id)
        if person.office_id != locked.owner_office_id:
            raise ValidationError(_("This record no longer belongs to your office."), code="moved")
        moved: dict[str, list[int]] = {}
        if grant and locked.kind == AccessRequest.Kind.TRANSFER:
            if person.merged_into_id is not None or person.anonymised_at is not None:
                raise ValidationError(
                    _("A merged or anonymised record cannot be transferred."), code="not_live"
                )
            moved = _transfer(actor=actor, person=person, to=locked.requesting_office, request=locked)
        locked.status = AccessRequest.Status.GRANTED if grant else AccessRequest.Status.REFUSED
        locked.answer = answer
        locked.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "answer", "decided_by", "decided_at"])
        audit_record(
            actor=actor,
            action=Action.MATCH_ACCESS_DECIDE,
            office=Office.objects.get(pk=locked.owner_office_id),
            obj=person,
            detail={
                "request": locked.pk,
                "requesting_office": locked.requesting_office_id,
                "kind": locked.kind,
                "status": locked.status,
                **moved,
            },
        )
    return locked
