"""Reads of follow-up tasks, always for an acting user: "my tasks", the office's overdue tasks, a case's
tasks, one task.

Access: tasks live in the office that recorded them (``FollowUpTask.office``). A task outside the user's
offices is 404; in one of them without the permission, 403.

Open tasks are read from the partial indexes of open tasks (``cases_task_open_due``, ``cases_task_assigned``)
without looking at their cases: closing a case closes its open follow-ups (``tasks_close_for_case``), so
an open task belongs to a case that is not closed. (Joining every overdue task to its case to check cost
more than the rest of the dashboard together at 300,000 cases.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from rumbo.cases.models import Case, CaseAccess, FollowUpTask
from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require

#: ``when`` filters of the lists.
WHEN_OVERDUE = "overdue"
WHEN_TODAY = "today"
WHEN_WEEK = "week"  # due within the next 7 days (today included), overdue included
WHEN_ALL = "all"
WHEN_DONE = "done"  # completed ones, newest first

ASSIGNED_ANY = "any"
ASSIGNED_ME = "me"
ASSIGNED_NOBODY = "nobody"

_LIST_RELATED = ("case", "case__person", "assigned_to", "office", "referral")


#: Today: one date, or each office's own date (office id → date) for lists that span offices whose time
#: zones differ (at 23:30 in Mexico City it is already tomorrow in Cancún).
Today = date | Mapping[int, date]


def due(today: Today, lookup: str = "", days: int = 0) -> Q:
    """``due_on`` compared (``lookup``: "", "__lt", "__lte") with today plus ``days``, today being each
    task's office's date when ``today`` is per office."""
    if isinstance(today, date):
        return Q(**{f"due_on{lookup}": today + timedelta(days=days)})
    offices_by_day: dict[date, list[int]] = {}
    for office_id, day in today.items():
        offices_by_day.setdefault(day, []).append(office_id)
    condition = Q(pk__in=[])
    for day, office_ids in sorted(offices_by_day.items()):
        condition |= Q(office_id__in=sorted(office_ids), **{f"due_on{lookup}": day + timedelta(days=days)})
    return condition


def _when(qs: QuerySet[FollowUpTask], when: str, today: Today) -> QuerySet[FollowUpTask]:
    if when == WHEN_DONE:
        return qs.filter(done_at__isnull=False).order_by("-done_at", "-id")
    qs = qs.filter(done_at__isnull=True)
    if when == WHEN_OVERDUE:
        qs = qs.filter(due(today, "__lt"))
    elif when == WHEN_TODAY:
        qs = qs.filter(due(today))
    elif when == WHEN_WEEK:
        qs = qs.filter(due(today, "__lte", 6))
    return qs.order_by("due_on", "id")


def tasks_mine(
    *, user: Any, today: Today, when: str = WHEN_ALL, office_ids: set[int] | None = None
) -> QuerySet[FollowUpTask]:
    """Tasks assigned to ``user`` in the offices where the user may see cases, open ones by due date
    (``when``: all, overdue, today, week; or done, newest first). ``today`` may be each office's date."""
    offices = set(offices_with_perm(user, Perm.VIEW_CASE))
    if office_ids is not None:
        offices &= set(office_ids)
    qs = FollowUpTask.objects.filter(office_id__in=offices, assigned_to=user)
    return _when(qs, when, today).select_related(*_LIST_RELATED)


def tasks_overdue(
    *, user: Any, office_id: int, today: date, assigned: str = ASSIGNED_ANY, when: str = WHEN_OVERDUE
) -> QuerySet[FollowUpTask]:
    """The office's open tasks due before ``today`` (every worker's), oldest first; ``assigned``: any, me,
    nobody. 403 without ``VIEW_CASE`` in the office (the caller has checked it is one of the user's)."""
    require(user, Perm.VIEW_CASE, office_id)
    qs = FollowUpTask.objects.filter(office_id=office_id)
    if assigned == ASSIGNED_ME:
        qs = qs.filter(assigned_to=user)
    elif assigned == ASSIGNED_NOBODY:
        qs = qs.filter(assigned_to__isnull=True)
    return _when(qs, when, today).select_related(*_LIST_RELATED)


@dataclass(frozen=True)
class CaseTasks:
    """A case's tasks as one office sees them."""

    case: Case
    office_id: int  # the office through which the user sees the case
    read_only: bool  # True for a past office of the case (after a transfer)
    open: list[FollowUpTask]
    done: list[FollowUpTask]


def case_for_tasks(*, user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> tuple[Case, int, bool]:
    """The case whose tasks the user wants, with the office the user sees it through and whether that is
    read-only: the case's own office, or a past office of the case (``CaseAccess``, read-only). 404
    outside the user's offices; 403 inside them without ``perm``."""
    members = member_office_ids(user)
    case = Case._base_manager.select_related("office", "assigned_to").filter(pk=pk).first()
    if case is None:
        raise Http404
    if case.office_id in members:
        require(user, perm, case.office_id)
        return case, case.office_id, False
    past = (
        CaseAccess.objects.filter(case_id=pk, office_id__in=members)
        .values_list("office_id", flat=True)
        .first()
    )
    if past is None:
        raise Http404
    require(user, perm, past)
    return case, past, True


def case_tasks(*, user: Any, pk: int) -> CaseTasks:
    """The tasks of case ``pk`` that the user's office recorded (all of them for the case's own office),
    open ones by due date, done ones newest first."""
    case, office_id, read_only = case_for_tasks(user=user, pk=pk)
    rows = list(
        FollowUpTask._base_manager.filter(case_id=case.pk, office_id=office_id)
        .select_related("assigned_to", "referral", "referral__offering__service")
        .order_by("due_on", "id")
    )
    open_ = [t for t in rows if t.done_at is None]
    done = sorted((t for t in rows if t.done_at is not None), key=lambda t: (t.done_at, t.pk), reverse=True)
    return CaseTasks(case, office_id, read_only, open_, done)


def task_get(*, user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> FollowUpTask:
    """One task: 404 outside the user's offices, 403 inside them without ``perm``."""
    task = get_object_or_404(
        FollowUpTask._base_manager.select_related("case", "office", "assigned_to"),
        pk=pk,
        office_id__in=member_office_ids(user),
    )
    require(user, perm, task.office_id)
    return task


def task_counts(*, user: Any, office_ids: set[int], today: Today) -> dict[str, int]:
    """Open tasks of ``user``: overdue and due today (for the list's headings), in one query. ``today`` may
    be each office's date."""
    qs = FollowUpTask.objects.filter(
        due(today, "__lte"),
        office_id__in=office_ids & set(offices_with_perm(user, Perm.VIEW_CASE)),
        assigned_to=user,
        done_at__isnull=True,
    )
    return qs.aggregate(overdue=Count("id", filter=due(today, "__lt")), today=Count("id", filter=due(today)))
