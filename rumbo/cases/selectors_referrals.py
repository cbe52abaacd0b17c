"""Reads of referrals and procedures, always for an acting user.

Who sees what: the office that owns the case now sees every referral and procedure of the case; an office
that recorded some of them and then transferred the case keeps read access to what it recorded (rows keep
the recording office in ``office``). Anything else is 404; the right office without the right role is 403.
Writes need the permission in the case's current office.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from rumbo.cases.models import (
    Case,
    CaseAccess,
    Procedure,
    ProcedureStep,
    Referral,
    ReferralEvent,
    ReferralStatus,
)
from rumbo.offices.permissions import Perm, has_perm, member_office_ids, offices_with_perm, require

# --- Cases --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseReadAccess:
    """A case as the user may read it: ``full`` for the owning office, otherwise only the rows recorded
    by ``offices`` (the user's offices that transferred the case away)."""

    case: Case
    full: bool
    offices: frozenset[int]


def case_for_change(user: Any, pk: int, perm: Perm) -> Case:
    """A case to act on with ``perm``: 404 unless it belongs to one of the user's offices now, 403 there
    without ``perm``."""
    case = (
        Case._base_manager.select_related("office", "person")
        .filter(pk=pk, office_id__in=list(member_office_ids(user)))
        .first()
    )
    if case is None:
        raise Http404
    require(user, perm, case.office_id)
    return case


def case_for_read(user: Any, pk: int) -> CaseReadAccess:
    """A case to read: the owning office reads all of it; an office that transferred it reads what it
    recorded. 404 for anyone else; 403 for those offices' members without ``VIEW_CASE``."""
    members = member_office_ids(user)
    case = Case._base_manager.select_related("office", "person").filter(pk=pk).first()
    if case is None:
        raise Http404
    if case.office_id in members:
        require(user, Perm.VIEW_CASE, case.office_id)
        return CaseReadAccess(case, True, frozenset({case.office_id}))
    past = set(
        CaseAccess.objects.filter(case_id=case.pk, office_id__in=list(members)).values_list(
            "office_id", flat=True
        )
    )
    if not past:
        raise Http404
    readable = frozenset(past & offices_with_perm(user, Perm.VIEW_CASE))
    if not readable:
        raise PermissionDenied
    return CaseReadAccess(case, False, readable)


# --- Referrals ----------------------------------------------------------------------------------------


def referral_queryset(user: Any) -> QuerySet[Referral]:
    """Referrals the user may read: those of cases their offices own and those their offices recorded."""
    offices = list(offices_with_perm(user, Perm.VIEW_CASE))
    return Referral._base_manager.filter(Q(office_id__in=offices) | Q(case__office_id__in=offices))


def referral_list(
    user: Any,
    *,
    office_id: int | None = None,
    status: str = "",
    institution_id: int | None = None,
    service_id: int | None = None,
    case_id: int | None = None,
) -> QuerySet[Referral]:
    """Referrals for the office list and the API, newest first, filtered as asked."""
    qs = referral_queryset(user)
    if office_id is not None:
        qs = qs.filter(Q(office_id=office_id) | Q(case__office_id=office_id))
    if status:
        qs = qs.filter(status=status)
    if institution_id is not None:
        qs = qs.filter(offering__institution_id=institution_id)
    if service_id is not None:
        qs = qs.filter(offering__service_id=service_id)
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    return qs.select_related(
        "case", "person", "offering", "offering__service", "offering__institution", "office"
    ).order_by("-sent_at", "-id")


def referral_get(user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> Referral:
    """One referral: 404 unless the user belongs to the office that recorded it or owns its case; reading
    needs ``VIEW_CASE`` in one of them, any other ``perm`` is needed in the case's current office (403)."""
    members = list(member_office_ids(user))
    referral = (
        Referral._base_manager.select_related(
            "case",
            "case__office",
            "person",
            "office",
            "offering",
            "offering__service",
            "offering__institution",
            "consent",
            "created_by",
            "consent_override_by",
        )
        .filter(Q(office_id__in=members) | Q(case__office_id__in=members), pk=pk)
        .first()
    )
    if referral is None:
        raise Http404
    if perm == Perm.VIEW_CASE:
        if not (has_perm(user, perm, referral.office_id) or has_perm(user, perm, referral.case.office_id)):
            require(user, perm, referral.case.office_id)
    else:
        require(user, perm, referral.case.office_id)
    return referral


def referral_events(referral: Referral) -> list[ReferralEvent]:
    return list(ReferralEvent.objects.filter(referral=referral).select_related("by").order_by("at", "id"))


def referrals_for_case(access: CaseReadAccess) -> list[Referral]:
    """The case's referrals the reader may see, newest first."""
    qs = Referral._base_manager.filter(case_id=access.case.pk)
    if not access.full:
        qs = qs.filter(office_id__in=list(access.offices))
    return list(
        qs.select_related("person", "offering", "offering__service", "offering__institution").order_by(
            "-sent_at", "-id"
        )
    )


def open_referral_count(referrals: list[Referral]) -> int:
    return sum(1 for r in referrals if r.status in (ReferralStatus.SENT, ReferralStatus.ACCEPTED))


# --- Procedures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureProgress:
    """A procedure with its steps, how many are done and which step comes next."""

    procedure: Procedure
    steps: list[ProcedureStep]

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps if s.done_on is not None)

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def next_step(self) -> ProcedureStep | None:
        return next((s for s in self.steps if s.done_on is None), None)


def procedures_for_case(access: CaseReadAccess) -> list[ProcedureProgress]:
    """The case's procedures the reader may see, each with its steps in order."""
    qs = Procedure.objects.filter(case_id=access.case.pk)
    if not access.full:
        qs = qs.filter(office_id__in=list(access.offices))
    qs = qs.prefetch_related(Prefetch("steps", queryset=ProcedureStep.objects.order_by("order", "id")))
    return [ProcedureProgress(p, list(p.steps.all())) for p in qs.order_by("-started_on", "-id")]


def procedure_get(user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> ProcedureProgress:
    """One procedure with its steps: visible like the case's referrals (see :func:`referral_get`)."""
    members = list(member_office_ids(user))
    procedure = (
        Procedure.objects.select_related("case", "case__office", "case__person", "kind")
        .filter(Q(office_id__in=members) | Q(case__office_id__in=members), pk=pk)
        .first()
    )
    if procedure is None:
        raise Http404
    if perm == Perm.VIEW_CASE:
        if not (has_perm(user, perm, procedure.office_id) or has_perm(user, perm, procedure.case.office_id)):
            require(user, perm, procedure.case.office_id)
    else:
        require(user, perm, procedure.case.office_id)
    steps = list(ProcedureStep.objects.filter(procedure=procedure).order_by("order", "id"))
    return ProcedureProgress(procedure, steps)


def procedure_step_get(user: Any, pk: int, perm: Perm = Perm.CHANGE_CASE) -> ProcedureStep:
    """One step, to change it: the rules of :func:`procedure_get` apply to its procedure."""
    step = ProcedureStep.objects.filter(pk=pk).first()
    if step is None:
        raise Http404
    procedure_get(user, step.procedure_id, perm)
    return step
