"""Figures of the office dashboard: open cases, new this week, follow-ups overdue, referrals by status and
institution, the needs found, returns by point of return and cases opened over the period.

Only counts leave this module — no names, no case numbers — so coordinators (``VIEW_AGGREGATES``) may see
the figures of every office below theirs without seeing anyone's record.

Speed (1,000,000 persons, 300,000 cases): every figure is one aggregate query over a range of an index
that holds every column the query names, so no table row is read — ``cases_case_office_status`` (open
cases, and the cases opened in the period by status and slice of the trend), ``cases_case_office_opened``
(new this week), ``cases_task_open_due`` (a partial index of open tasks), ``cases_referral_office_offering``
(referrals by status and offering), ``cases_need_office_need`` (needs, by the copy of the case's office
and opening time each need carries), ``cases_return_office_point`` (returns by point) — and small look-ups
of names (institutions and services, points of return). Nine queries whatever the period; none loads a row
per case. The queries name the offices explicitly and read through the base managers: a coordinator's
request scope holds only the coordinator's own office, while the figures are those of the offices below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db.models import Count, ExpressionWrapper, F, IntegerField, Q
from django.utils.translation import gettext

from rumbo.cases.models import (
    Case,
    CaseNeed,
    CaseStatus,
    FollowUpTask,
    Need,
    Offering,
    Referral,
    ReferralStatus,
    ReturnEvent,
    ReturnPoint,
)
from rumbo.geo.maps import MapPlace
from rumbo.offices.permissions import Perm, offices_with_perm

OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.FOLLOW_UP, CaseStatus.REOPENED)
TOP_INSTITUTIONS = 10
TOP_POINTS = 12
# SQLite refuses a compound SELECT of more than 500 parts (SQLITE_MAX_COMPOUND_SELECT): longer trends (a
# custom period of years, by month) are counted with the GROUP BY of PostgreSQL.
SQLITE_MAX_TERMS = 400


@dataclass(frozen=True)
class Bucket:
    """A slice of the period (a day, a week or a month) and how many cases opened in it."""

    start: date
    end: date  # last day included
    count: int


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    count: int


@dataclass
class Dashboard:
    start: date
    end: date
    today: date
    open_cases: int = 0
    new_this_week: int = 0
    opened_in_period: int = 0
    opened_by_status: list[Row] = field(default_factory=list)
    overdue_tasks: int = 0
    tasks_due_this_week: int = 0
    referrals_total: int = 0
    referrals_by_status: list[Row] = field(default_factory=list)
    referrals_by_institution: list[Row] = field(default_factory=list)
    referrals_by_service: list[Row] = field(default_factory=list)
    needs: list[Row] = field(default_factory=list)
    cases_with_needs: int = 0
    returns_total: int = 0
    returns_by_point: list[Row] = field(default_factory=list)
    #: Every point of return of the period that has coordinates (its own, else its municipality's seat),
    #: with its count: the dashboard's map.
    return_places: list[MapPlace] = field(default_factory=list)
    trend: list[Bucket] = field(default_factory=list)
    trend_unit: str = "day"

    @property
    def delivered_share(self) -> float | None:
        """Share of the period's referrals whose service was delivered (None without referrals)."""
        if not self.referrals_total:
            return None
        delivered = sum(r.count for r in self.referrals_by_status if r.key == ReferralStatus.DELIVERED)
        return delivered / self.referrals_total


def dashboard_offices(user: Any) -> frozenset[int]:
    """Offices whose dashboard the user may see: where the user sees cases, and every office below one
    where the user sees aggregates."""
    return offices_with_perm(user, Perm.VIEW_CASE) | offices_with_perm(user, Perm.VIEW_AGGREGATES)


def buckets(start: date, end: date) -> tuple[str, list[tuple[date, date]]]:
    """Slices of [start, end] for the trend: days up to 5 weeks, weeks (from Monday) up to about 8 months,
    months beyond."""
    days = (end - start).days + 1
    out: list[tuple[date, date]] = []
    if days <= 35:
        out = [(start + timedelta(days=i), start + timedelta(days=i)) for i in range(days)]
        return "day", out
    if days <= 245:
        cursor = start
        while cursor <= end:
            last = min(end, cursor + timedelta(days=6 - cursor.weekday()))
            out.append((cursor, last))
            cursor = last + timedelta(days=1)
        return "week", out
    cursor = start
    while cursor <= end:
        following = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        last = min(end, following - timedelta(days=1))
        out.append((cursor, last))
        cursor = following
    return "month", out


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def dashboard_figures(
    *, user: Any, office_ids: set[int] | frozenset[int], start: date, end: date, today: date, zone: ZoneInfo
) -> Dashboard:
    """The dashboard of ``office_ids`` (one office, or several summed) for the period [start, end], both
    days included, in the time zone ``zone``. Every office must be one the user may see the dashboard of
    (403 otherwise: callers answer 404 for offices outside the user's reach before asking)."""
    ids = sorted(office_ids)
    if not ids or not set(ids) <= dashboard_offices(user):
        raise PermissionDenied
    board = Dashboard(start=start, end=end, today=today)
    start_at, end_at = _midnight(start, zone), _midnight(end + timedelta(days=1), zone)
    week_at = _midnight(today - timedelta(days=today.weekday()), zone)
    cases = Case._base_manager.filter(office_id__in=ids)

    # 1. Open cases: a count over the (office, status, opened_at) index.
    board.open_cases = cases.filter(status__in=OPEN_STATUSES).count()
    # 2. New this week: a short range of the (office, opened_at) index.
    board.new_this_week = cases.filter(opened_at__gte=week_at).count()

    # 3. Cases opened in the period: total, by current status, and per slice of the trend — one pass over
    #    the period's ranges of the (office, status, opened_at) index.
    board.trend_unit, slices = buckets(start, end)
    ends = [_midnight(last + timedelta(days=1), zone) for _, last in slices]
    by_status, per_slice = _opened_in_period(ids, start_at, end_at, ends)
    board.opened_in_period = sum(by_status.values())
    board.opened_by_status = [
        Row(s.value, str(s.label), by_status[s.value]) for s in CaseStatus if by_status.get(s.value)
    ]
    board.trend = [Bucket(first, last, per_slice.get(i, 0)) for i, (first, last) in enumerate(slices)]

    # 4. Follow-ups: open tasks due before today / within the week, counted inside the partial index of
    #    open tasks (closing a case closes its follow-ups: no need to look at the cases). The counts name
    #    ``due_on``, a column of that index, so PostgreSQL need not read the task rows.
    tasks = FollowUpTask._base_manager.filter(
        office_id__in=ids, done_at__isnull=True, due_on__lte=today + timedelta(days=6)
    ).aggregate(
        overdue=Count("due_on", filter=Q(due_on__lt=today)), soon=Count("due_on", filter=Q(due_on__gte=today))
    )
    board.overdue_tasks = tasks["overdue"] or 0
    board.tasks_due_this_week = tasks["soon"] or 0

    # 5. Referrals sent in the period, by status and offering (a few hundred groups at most); the offerings'
    #    institutions and services are looked up once.
    groups = list(
        Referral._base_manager.filter(
            office_id__in=ids, status__in=ReferralStatus.values, sent_at__gte=start_at, sent_at__lt=end_at
        )
        .values_list("status", "offering_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    offering_ids = {offering for _, offering, _ in groups}
    offerings = {
        pk: (institution, service)
        for pk, institution, service in Offering.objects.filter(pk__in=offering_ids).values_list(
            "pk", "institution__name", "service__name"
        )
    }
    referral_status: dict[str, int] = {}
    by_institution: dict[str, int] = {}
    by_service: dict[str, int] = {}
    for status, offering, n in groups:
        referral_status[status] = referral_status.get(status, 0) + n
        institution, service = offerings.get(offering, ("?", "?"))
        by_institution[institution] = by_institution.get(institution, 0) + n
        by_service[service] = by_service.get(service, 0) + n
    board.referrals_total = sum(referral_status.values())
    board.referrals_by_status = [
        Row(s.value, str(s.label), referral_status[s.value])
        for s in ReferralStatus
        if referral_status.get(s.value)
    ]
    board.referrals_by_institution = _top(by_institution, TOP_INSTITUTIONS)
    board.referrals_by_service = _top(by_service, TOP_INSTITUTIONS)

    # 6. Needs found in the cases opened in the period. Each need carries a copy of its case's office and
    #    opening time (kept equal to the case's by the services), so the count is one range of the (office,
    #    need, opened_at) index per office and need — looking up the needs of each of the period's cases
    #    took 45 ms (SQLite) to 120 ms (PostgreSQL) for a year of OFAM Michoacán. Naming every need and
    #    grouping by office and need in the index's order spares SQLite a sort of every need counted (the
    #    services accept no other need than these).
    need_counts: dict[str, int] = {}
    for _office, need, n in (
        CaseNeed._base_manager.filter(
            office_id__in=ids, need__in=Need.values, opened_at__gte=start_at, opened_at__lt=end_at
        )
        .values_list("office_id", "need")
        .annotate(n=Count("*"))
        .order_by("office_id", "need")
    ):
        need_counts[need] = need_counts.get(need, 0) + n
    board.needs = sorted(
        (Row(n.value, str(n.label), need_counts[n.value]) for n in Need if need_counts.get(n.value)),
        key=lambda r: (-r.count, r.label),
    )
    board.cases_with_needs = sum(need_counts.values())

    # 7. Returns in the period by point of return, counted over the (office, returned_on, point) index;
    #    the names of the few points found are looked up afterwards (a join looks one up per return).
    #    Grouped by ``point_id + 0``, not the bare column: grouping by the column makes SQLite prefer the
    #    (point, returned_on) index, already in point order, and read every return row (84 ms instead of
    #    7 ms for a year of OFAM Michoacán).
    points = dict(
        ReturnEvent._base_manager.filter(office_id__in=ids, returned_on__gte=start, returned_on__lte=end)
        .annotate(point_key=ExpressionWrapper(F("point_id") + 0, output_field=IntegerField()))
        .values_list("point_key")
        .annotate(n=Count("*"))
        .order_by()
    )
    board.returns_total = sum(points.values())
    found = [point for point in points if point is not None]
    names: dict[int, str] = {}
    for pk, name, lat, lon, area_lat, area_lon in ReturnPoint._base_manager.filter(pk__in=found).values_list(
        "pk", "name", "lat", "lon", "municipality__lat", "municipality__lon"
    ):
        names[pk] = name
        if lat is None or lon is None:
            lat, lon = area_lat, area_lon
        if lat is not None and lon is not None:
            board.return_places.append(
                MapPlace(lat=lat, lon=lon, label=f"{name}: {points[pk]}", count=points[pk])
            )
    named: dict[str, int] = {}
    for point_id, n in points.items():
        key = names.get(point_id, "") if point_id is not None else ""
        named[key] = named.get(key, 0) + n
    other = named.pop("", 0)
    board.returns_by_point = _top(named, TOP_POINTS)
    if other:
        board.returns_by_point.append(Row("", gettext("Other or not recorded"), other))
    return board


def _opened_in_period(
    ids: list[int], start_at: datetime, end_at: datetime, slice_ends: list[datetime]
) -> tuple[dict[str, int], dict[int, int]]:
    """Cases of ``ids`` opened in [start_at, end_at): (count per status, count per slice of the trend).

    ``slice_ends``: the midnight that ends each slice. PostgreSQL: one GROUP BY over the period's range of
    the (office, status, opened_at) index — every status is named so that the index covers the query: no
    case row is read — the slice found by a CASE over the slice boundaries. SQLite: see
    :func:`_opened_per_slice_sqlite`. Written in SQL because the ORM takes longer to build this query (one
    filtered Count per day of a month) than the database takes to run it. The boundaries are midnights in
    the office's time zone, as datetimes, so days and daylight saving time are right without any time zone
    arithmetic in the database."""
    from django.db import connection

    if connection.vendor == "sqlite" and len(CaseStatus.values) * len(slice_ends) <= SQLITE_MAX_TERMS:
        return _opened_per_slice_sqlite(ids, start_at, slice_ends)
    qn = connection.ops.quote_name
    opened = qn(Case._meta.get_field("opened_at").column)
    adapt = connection.ops.adapt_datetimefield_value
    whens = " ".join(f"WHEN {opened} < %s THEN {i}" for i in range(len(slice_ends) - 1))
    slice_sql = f"CASE {whens} ELSE {len(slice_ends) - 1} END" if whens else "0"
    sql = (
        f"SELECT {qn('status')}, {slice_sql} AS slice, COUNT(*) FROM {qn(Case._meta.db_table)}"  # noqa: S608 - no user input in the SQL text
        f" WHERE {qn('office_id')} IN ({', '.join(['%s'] * len(ids))})"
        f" AND {qn('status')} IN ({', '.join(['%s'] * len(CaseStatus.values))})"
        f" AND {opened} >= %s AND {opened} < %s"
        " GROUP BY 1, 2"
    )
    params = [
        *(adapt(e) for e in slice_ends[:-1]),
        *ids,
        *CaseStatus.values,
        adapt(start_at),
        adapt(end_at),
    ]
    by_status: dict[str, int] = {}
    per_slice: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for status, slice_, n in cursor.fetchall():
            by_status[status] = by_status.get(status, 0) + n
            per_slice[int(slice_)] = per_slice.get(int(slice_), 0) + n
    return by_status, per_slice


def _opened_per_slice_sqlite(
    ids: list[int], start_at: datetime, slice_ends: list[datetime]
) -> tuple[dict[str, int], dict[int, int]]:
    """:func:`_opened_in_period` for SQLite: one ``COUNT(*)`` per status and slice, each over its own range
    of the (office, status, opened_at) index, joined by UNION ALL. SQLite counts the entries of a range
    without decoding them, where a GROUP BY decodes each entry, works out its slice and sorts it: 7 ms
    instead of 80 ms for a year of the five OFAM offices (141,000 cases), 2 ms instead of 23 ms for one.
    (PostgreSQL plans each part of the union separately, which costs more than it saves.)"""
    from django.db import connection

    qn = connection.ops.quote_name
    opened = qn(Case._meta.get_field("opened_at").column)
    adapt = connection.ops.adapt_datetimefield_value
    offices = ", ".join(["%s"] * len(ids))
    bounds = [adapt(start_at), *(adapt(e) for e in slice_ends)]
    parts: list[str] = []
    params: list[Any] = []
    for s, status in enumerate(CaseStatus.values):
        for i in range(len(slice_ends)):
            parts.append(
                f"SELECT {s}, {i}, COUNT(*) FROM {qn(Case._meta.db_table)}"  # noqa: S608 - no user input in the SQL text
                f" WHERE {qn('office_id')} IN ({offices}) AND {qn('status')} = %s"
                f" AND {opened} >= %s AND {opened} < %s"
            )
            params += [*ids, status, bounds[i], bounds[i + 1]]
    by_status: dict[str, int] = {}
    per_slice: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for s, slice_, n in cursor.fetchall():
            if n:
                status = CaseStatus.values[int(s)]
                by_status[status] = by_status.get(status, 0) + n
                per_slice[int(slice_)] = per_slice.get(int(slice_), 0) + n
    return by_status, per_slice


def _top(counts: dict[str, int], limit: int) -> list[Row]:
    """The ``limit`` largest counts; the rest summed as "others"."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [Row(name, name, n) for name, n in ordered[:limit]]
    rest = sum(n for _, n in ordered[limit:])
    if rest:
        rows.append(Row("", gettext("Others"), rest))
    return rows
