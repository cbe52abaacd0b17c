"""Reads of orientation cases, always for an acting user.

Who sees a case:

* **its office** (users with ``VIEW_CASE`` there): everything about the case, whoever recorded it;
* **an office the case was transferred away from** (``CaseAccess``): read-only, and only the rows that office
  recorded itself (notes, attachments, status changes, referrals, returns…: rows whose ``office`` is that
  office). :class:`CaseView` says which rows to show (``rows_office_id``). The case itself — summary, status
  and its reason, priority, worker, members, needs — is shown as it was when it left (``CaseAccess.snapshot``,
  see :func:`show_as_it_left`): what the receiving office writes afterwards is not the past office's;
* **anyone else**: 404. A user of the case's office without ``VIEW_CASE`` gets 403.

Cases are read through ``Case._base_manager`` with explicit office filters: a transferred case is outside the
past office's django-scopes scope, yet that office may still read it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from rumbo.cases.models import (
    Attachment,
    Case,
    CaseAccess,
    CaseNeed,
    CaseNote,
    CaseStatusChange,
    CaseTransfer,
)
from rumbo.offices.permissions import Perm, has_perm, member_office_ids, offices_with_perm, require
from rumbo.people.models import Person

#: Counting stops here: "more than 1,000 cases — add a filter" is all a list needs to say. A full count of a
#: large office costs a scan of its index, and a sparse filter (a rare need) a probe per case scanned.
COUNT_CAP = 1_000
PAGE_SIZE = 25
# "OFAM-MICH-2026-00042", "ofam-mich-2026": a letter first, a dash and a digit; a CURP or a phone is not one.
_CASE_NUMBER = re.compile(r"^[A-Za-z][A-Za-z0-9]*-(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]*$")


@dataclass(frozen=True)
class CaseView:
    """A case as one user may read it.

    ``rows_office_id`` is None when every row of the case may be shown (the case's own office); otherwise
    only rows whose ``office_id`` equals it (a past office's read access). ``read_only`` is True for past
    offices; write permissions of the case's own office are checked separately (``can``).
    """

    case: Case
    read_only: bool
    rows_office_id: int | None
    user_perms: frozenset[Perm] = field(default_factory=frozenset)
    #: For a past office: the case as it left (``CaseAccess.snapshot``; ``{}`` when none was kept).
    as_left: Mapping[str, Any] | None = None

    def can(self, perm: Perm) -> bool:
        """Whether the user may do ``perm`` on this case (never on a past office's read-only view)."""
        return not self.read_only and perm in self.user_perms

    def rows(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """``queryset`` (rows of this case with an ``office`` column) restricted to what the user may see."""
        if self.rows_office_id is None:
            return queryset
        return queryset.filter(office_id=self.rows_office_id)

    def needs(self) -> list[CaseNeed]:
        """The case's needs by name; for a past office, those it left the case with (unsaved rows)."""
        if self.as_left is None:
            return list(CaseNeed.objects.filter(case=self.case).order_by("need"))
        return [
            CaseNeed(case=self.case, need=n["need"], note=n.get("note", ""), met_at=_moment(n.get("met_at")))
            for n in sorted(self.as_left.get("needs", []), key=lambda n: n["need"])
        ]

    def members(self) -> list[Person]:
        """The household members on the case; for a past office, those it left the case with."""
        if self.as_left is None:
            persons = Person._base_manager.filter(member_of_cases=self.case)
        else:
            persons = Person._base_manager.filter(pk__in=list(self.as_left.get("members", [])))
        return list(persons.order_by("given_names", "pk"))


def _moment(value: Any) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) and value else None


def show_as_it_left(cases: Sequence[tuple[Case, Mapping[str, Any]]]) -> None:
    """Give each case the values it had when it left the past office reading it (``snapshot`` of that
    office's ``CaseAccess``), in memory only: a past office never writes the case. Without a snapshot
    (transfers accepted before one was kept) the summary, reason, worker and links to returns are blank."""
    workers = get_user_model()._default_manager.in_bulk(
        {snap["assigned_to"] for _, snap in cases if snap.get("assigned_to")}
    )
    for case, snap in cases:
        case.summary = snap.get("summary", "")
        case.status_reason = snap.get("status_reason", "")
        case.assigned_to = workers.get(snap.get("assigned_to"))
        case.return_event_id = snap.get("return_event")
        case.arrival_event_id = snap.get("arrival_event")
        if snap:
            case.status = snap["status"]
            case.closed_at = _moment(snap.get("closed_at"))
            case.priority = snap["priority"]
            case.vulnerable = snap["vulnerable"]
            case.updated_at = _moment(snap.get("updated_at")) or case.updated_at


_CASE_PERMS = (Perm.VIEW_CASE, Perm.CHANGE_CASE, Perm.REFER, Perm.REFER_WITHOUT_CONSENT, Perm.TRANSFER_CASE)


def _perms_in(user: Any, office_id: int) -> frozenset[Perm]:
    return frozenset(p for p in _CASE_PERMS if has_perm(user, p, office_id))


def case_queryset(user: Any, perm: Perm = Perm.VIEW_CASE) -> QuerySet[Case]:
    """Cases of the offices where the user has ``perm``."""
    return Case._base_manager.filter(office_id__in=offices_with_perm(user, perm))


def case_get(user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> Case:
    """A case of one of the user's offices, for acting on it: 404 outside the user's offices (a past office
    too: it may only read), 403 inside them without ``perm``."""
    case = get_object_or_404(
        Case._base_manager.select_related("office", "person", "assigned_to"),
        pk=pk,
        office_id__in=member_office_ids(user),
    )
    require(user, perm, case.office_id)
    return case


def case_view_get(user: Any, pk: int) -> CaseView:
    """A case for reading: its own office (full), or a past office with ``CaseAccess`` (read-only, own
    rows). 404 for everyone else; 403 for a member office without ``VIEW_CASE``."""
    members = member_office_ids(user)
    case = (
        Case._base_manager.select_related("office", "person", "person__office", "assigned_to", "created_by")
        .filter(pk=pk)
        .first()
    )
    if case is None:
        raise Http404
    if case.office_id in members:
        require(user, Perm.VIEW_CASE, case.office_id)
        return CaseView(
            case, read_only=False, rows_office_id=None, user_perms=_perms_in(user, case.office_id)
        )
    past = sorted(
        CaseAccess.objects.filter(case=case, office_id__in=members).values_list("office_id", flat=True)
    )
    if not past:
        raise Http404
    readable = [office_id for office_id in past if has_perm(user, Perm.VIEW_CASE, office_id)]
    if not readable:
        raise PermissionDenied
    as_left = (
        CaseAccess.objects.filter(case=case, office_id=readable[0]).values_list("snapshot", flat=True).first()
        or {}
    )
    show_as_it_left([(case, as_left)])
    return CaseView(
        case,
        read_only=True,
        rows_office_id=readable[0],
        user_perms=frozenset({Perm.VIEW_CASE}),
        as_left=as_left,
    )


# --- The case page ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseDetail:
    """What the case page shows (other panels — referrals, procedures, tasks — read their own rows through
    ``view.rows``)."""

    view: CaseView
    members: list[Person]
    needs: list[CaseNeed]
    status_changes: list[CaseStatusChange]
    notes: list[CaseNote]
    attachments: list[Attachment]
    transfers: list[CaseTransfer]

    @property
    def case(self) -> Case:
        return self.view.case

    @property
    def pending_transfer(self) -> CaseTransfer | None:
        return next((t for t in self.transfers if t.status == CaseTransfer.Status.REQUESTED), None)


def case_detail(*, user: Any, pk: int) -> CaseDetail:
    """The case with its members, needs, status history, notes, attachments and transfers, as ``user`` may
    see them (see the module docstring). The caller audits the view (``services.case_record_view``)."""
    view = case_view_get(user, pk)
    case = view.case
    members = view.members()
    needs = view.needs()
    changes = view.rows(CaseStatusChange.objects.filter(case=case)).select_related("by").order_by("at", "pk")
    notes = view.rows(CaseNote.objects.filter(case=case)).select_related("created_by", "office")
    attachments = view.rows(Attachment.objects.filter(case=case)).select_related("uploaded_by", "office")
    transfers = CaseTransfer.objects.filter(case=case).select_related(
        "from_office", "to_office", "requested_by", "decided_by"
    )
    if view.rows_office_id is not None:
        transfers = transfers.filter(
            Q(from_office_id=view.rows_office_id) | Q(to_office_id=view.rows_office_id)
        )
    return CaseDetail(
        view=view,
        members=members,
        needs=needs,
        status_changes=list(changes),
        notes=list(notes.order_by("-created_at", "-pk")),
        attachments=list(attachments.order_by("-uploaded_at", "-pk")),
        transfers=list(transfers.order_by("-requested_at", "-pk")),
    )


def attachment_get(user: Any, pk: int) -> tuple[Attachment, CaseView]:
    """An attachment the user may download: of a case of the user's office, or recorded by a past office of
    the user (404 otherwise, 403 without ``VIEW_CASE``)."""
    attachment = Attachment.objects.select_related("case").filter(pk=pk).first()
    if attachment is None:
        raise Http404
    view = case_view_get(user, attachment.case_id)
    if view.rows_office_id is not None and attachment.office_id != view.rows_office_id:
        raise Http404
    return attachment, view


# --- The case list ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CasePage:
    cases: list[Case]
    total: int
    capped: bool  # True when there are more than ``total``
    page: int
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _name_matches(user: Any, query: str) -> list[int]:
    """Ids of persons whose names, documents or phones match ``query`` (the registry's indexed search,
    capped at its first 1,000 matches)."""
    from rumbo.people.selectors import SEARCH_CAP, person_search

    if not offices_with_perm(user, Perm.VIEW_PERSON):
        return []
    found = person_search(user, query, page=1, page_size=SEARCH_CAP)
    return [p.pk for p in found.persons]


def is_case_number(query: str) -> bool:
    """Whether a list search looks like a case number (it then matches numbers, not persons)."""
    return bool(_CASE_NUMBER.match(query.strip()))


def case_list(
    *,
    user: Any,
    office: int | None = None,
    status: str | None = None,
    assigned_to: Any = None,
    need: str | None = None,
    priority: str | None = None,
    q: str | None = None,
    period: tuple[datetime.date | None, datetime.date | None] | None = None,
    transferred: bool = False,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> CasePage:
    """One page of the cases the user may see, newest first.

    Built for offices with hundreds of thousands of cases: each filter is an indexed condition on the case
    row — office and status (``cases_case_office_status``), opening date (``cases_case_office_opened``), the
    assigned worker (``cases_case_assigned``), a need through EXISTS on the (case, need) unique index, a
    number prefix (``cases_case_number_like`` on PostgreSQL) — the ordering follows the (office, opened_at)
    index so a page stops after LIMIT rows, and the count stops at :data:`COUNT_CAP` (pages beyond it are not
    offered: narrow the filters). ``q`` is a case number (prefix, upper-cased) or the person's name, document
    or phone (the registry's token search). ``transferred``: the cases the user's offices transferred away
    (read-only access) instead of their own.
    """
    offices = offices_with_perm(user, Perm.VIEW_CASE)
    if office is not None:
        offices = offices & {office}
    if not offices:
        return CasePage([], 0, False, page, page_size)
    if transferred:
        qs = Case._base_manager.filter(
            Exists(CaseAccess.objects.filter(case=OuterRef("pk"), office_id__in=offices))
        ).exclude(office_id__in=offices)
    else:
        qs = Case._base_manager.filter(office_id__in=sorted(offices))
    if status:
        qs = qs.filter(status=status)
    if priority:
        qs = qs.filter(priority=priority)
    if assigned_to is not None:
        qs = qs.filter(assigned_to=assigned_to)
    if need:
        qs = qs.filter(Exists(CaseNeed.objects.filter(case=OuterRef("pk"), need=need)))
    if period is not None:
        # Local days as a range of instants: ``opened_at__date`` would wrap the column in a time-zone
        # conversion that no index serves.
        start, end = period
        if start is not None:
            qs = qs.filter(opened_at__gte=_day_start(start))
        if end is not None:
            qs = qs.filter(opened_at__lt=_day_start(end + datetime.timedelta(days=1)))
    query = (q or "").strip()[:100]
    if query:
        if is_case_number(query):
            qs = qs.filter(number__startswith=query.upper())
        else:
            qs = qs.filter(person_id__in=_name_matches(user, query))
    total = qs.values("pk")[: COUNT_CAP + 1].count()
    capped = total > COUNT_CAP
    total = min(total, COUNT_CAP)
    start_at = (max(page, 1) - 1) * page_size
    if start_at >= max(total, 1):  # past the last page (or an absurd page number): no huge OFFSET
        return CasePage([], total, capped, page, page_size)
    cases = list(
        qs.select_related("person", "office", "assigned_to").order_by("-opened_at", "-pk")[
            start_at : start_at + page_size
        ]
    )
    if transferred:  # as each case left the user's office (the first one, as on the case page)
        as_left: dict[int, Mapping[str, Any]] = {}
        accesses = CaseAccess.objects.filter(case__in=cases, office_id__in=offices).order_by("office_id")
        for case_id, snapshot in accesses.values_list("case_id", "snapshot"):
            as_left.setdefault(case_id, snapshot)
        show_as_it_left([(case, as_left.get(case.pk, {})) for case in cases])
    return CasePage(cases, total, capped, page, page_size)


# --- Transfers -------------------------------------------------------------------------------------------


def transfer_inbox(user: Any) -> QuerySet[CaseTransfer]:
    """Transfers waiting for an answer from the offices where the user may decide them."""
    return (
        CaseTransfer.objects.filter(
            to_office_id__in=offices_with_perm(user, Perm.TRANSFER_CASE),
            status=CaseTransfer.Status.REQUESTED,
        )
        .select_related("case", "case__person", "from_office", "to_office", "requested_by")
        .order_by("requested_at", "pk")
    )


def transfers_of_offices(user: Any) -> QuerySet[CaseTransfer]:
    """Every transfer to or from the offices where the user may view cases (history), newest first."""
    offices = offices_with_perm(user, Perm.VIEW_CASE)
    return (
        CaseTransfer.objects.filter(Q(from_office_id__in=offices) | Q(to_office_id__in=offices))
        .select_related("case", "from_office", "to_office", "requested_by", "decided_by")
        .order_by("-requested_at", "-pk")
    )


def transfer_get(user: Any, pk: int) -> CaseTransfer:
    """A transfer to decide: 404 unless it was sent to or from one of the user's offices; 403 unless the user
    may decide transfers in the receiving office."""
    members = member_office_ids(user)
    transfer = get_object_or_404(
        CaseTransfer.objects.select_related(
            "case", "case__person", "from_office", "to_office", "requested_by"
        ),
        Q(to_office_id__in=members) | Q(from_office_id__in=members),
        pk=pk,
    )
    require(user, Perm.TRANSFER_CASE, transfer.to_office_id)
    return transfer
