"""The office dashboard: figures and charts of an office's cases over a period.

Access: ``VIEW_CASE`` in the office, or ``VIEW_AGGREGATES`` in it or an office above it (coordinators see
the figures of the offices below theirs, and their sum, without personal data: the page shows counts and
links to nothing personal). 404 for an office outside the user's reach; 403 for one of the user's offices
without either permission.

Charts are SVG drawn on the server (the CSP allows no chart library from elsewhere, and a phone on a poor
connection gets a few kilobytes of markup); each has its figures as a table next to it for screen readers
and for copying.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from rumbo.cases.forms_tasks import PERIOD_CHOICES, DashboardFilterForm
from rumbo.cases.selectors_dashboard import Bucket, Dashboard, Row, dashboard_figures, dashboard_offices
from rumbo.cases.services.tasks import office_today, office_zone
from rumbo.cases.views_tasks import choose_office
from rumbo.geo.maps import MexicoMap, mexico_map
from rumbo.offices.permissions import Perm, has_perm, offices_with_perm

CHART_WIDTH = 400  # SVG user units; the chart is scaled to its card, the text with it
ROW = 36  # a label line above a bar
BAR_HEIGHT = 14
LABEL_CHARS = 58
COLUMNS_HEIGHT = 140
MAX_TICKS = 5


@dataclass(frozen=True)
class Bar:
    label: str
    short_label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    text_x: float
    text_y: float
    label_y: float = 0
    muted: bool = False  # "others": a grey bar


EMPTY = SafeString("")


@dataclass(frozen=True)
class Chart:
    """A chart's geometry and, ready to print, its SVG marks and the rows of its table (built here with
    ``format_html_join`` — escaped like template output, a fraction of the cost of a template loop over
    every bar)."""

    width: int
    height: int
    bars: list[Bar]
    total: int
    ticks: list[tuple[float, str, str]]  # (x, label, text-anchor) under a column chart
    marks: SafeString = EMPTY
    rows: SafeString = EMPTY


@dataclass(frozen=True)
class ChartCard:
    """One card of the dashboard: its heading, the chart, and the words around it (the chart's title for
    screen readers, the table's column headings, what to say when there is nothing to draw)."""

    key: str  # the element ids: h-<key>, c-<key>
    heading: str
    chart: Chart
    title: str
    label_heading: str
    value_heading: str
    empty: str = ""
    caption: str = ""
    columns: bool = False  # a column chart over the period (else horizontal bars)
    map: MexicoMap | None = None  # drawn above the chart
    map_title: str = ""


BAR_MARK = (
    '<g><text x="0" y="{}">{}</text><rect x="{}" y="{}" width="{}" height="{}" fill="{}" rx="2">'
    '<title>{}: {}</title></rect><text x="{}" y="{}" class="value">{}</text></g>'
)
COLUMN_MARK = '<rect x="{}" y="{}" width="{}" height="{}" fill="#0b5d6b"><title>{}: {}</title></rect>'
TICK_MARK = '<text x="{}" y="{}" text-anchor="{}">{}</text>'
TABLE_ROW = '<tr><td>{}</td><td class="num">{}</td></tr>'


def _bar_mark_args(b: Bar) -> tuple[Any, ...]:
    colour = "#6b7785" if b.muted else "#0b5d6b"  # "others" in grey
    return (
        b.label_y,
        b.short_label,
        b.x,
        b.y,
        b.width,
        b.height,
        colour,
        b.label,
        b.value,
        b.text_x,
        b.text_y,
        b.value,
    )


def _number(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def _table_rows(bars: Sequence[Bar]) -> SafeString:
    return format_html_join("", TABLE_ROW, ((b.label, _number(b.value)) for b in bars))


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart(rows: Sequence[Row]) -> Chart:
    """Horizontal bars, one per row: the label above its bar (long institution names stay readable on a
    phone), the value at the end of the bar."""
    peak = max((r.count for r in rows), default=0) or 1
    room = CHART_WIDTH - 48  # space left for the value after the longest bar
    bars = []
    for i, row in enumerate(rows):
        top = i * ROW
        width = round(room * row.count / peak, 1) if row.count else 0.0
        bars.append(
            Bar(
                label=row.label,
                short_label=_short(row.label),
                value=row.count,
                x=0,
                y=top + 17,
                width=max(width, 1.0) if row.count else 0,
                height=BAR_HEIGHT,
                text_x=width + 5,
                text_y=top + 17 + BAR_HEIGHT - 2,
                label_y=top + 13,
                muted=not row.key,
            )
        )
    marks = format_html_join(
        "",
        BAR_MARK,
        (_bar_mark_args(b) for b in bars),
    )
    height = max(1, len(rows)) * ROW
    return Chart(CHART_WIDTH, height, bars, sum(r.count for r in rows), [], marks, _table_rows(bars))


def _tick(day: date, unit: str) -> str:
    if unit == "month":
        return formats.date_format(day, "M Y" if day.month == 1 else "M")
    return formats.date_format(day, "j M")


def _bucket_label(bucket: Bucket, unit: str) -> str:
    if unit == "month":
        return formats.date_format(bucket.start, "YEAR_MONTH_FORMAT")
    if bucket.start != bucket.end:
        first = formats.date_format(bucket.start, "SHORT_DATE_FORMAT")
        return f"{first}–{formats.date_format(bucket.end, 'SHORT_DATE_FORMAT')}"
    return formats.date_format(bucket.start, "SHORT_DATE_FORMAT")


def column_chart(trend: Sequence[Bucket], unit: str) -> Chart:
    """Vertical columns, one per slice of the period; a few dates under the axis."""
    height = COLUMNS_HEIGHT
    peak = max((b.count for b in trend), default=0) or 1
    slot = CHART_WIDTH / max(1, len(trend))
    bars = []
    for i, bucket in enumerate(trend):
        h = round((height - 4) * bucket.count / peak, 1) if bucket.count else 0
        label = _bucket_label(bucket, unit)
        bars.append(
            Bar(
                label=label,
                short_label=label,
                value=bucket.count,
                x=round(i * slot + slot * 0.1, 2),
                y=round(height - h, 1),
                width=round(slot * 0.8, 2),
                height=max(h, 1.0) if bucket.count else 0,
                text_x=round(i * slot + slot / 2, 1),
                text_y=height + 16,
            )
        )
    every = max(1, -(-len(trend) // MAX_TICKS))
    ticks = []
    for i, bucket in enumerate(trend):
        if i % every == 0:
            x = round(i * slot + slot / 2, 1)
            # Labels near an edge are anchored inside the chart instead of centred (they would be cut).
            anchor = "start" if x < 40 else "end" if x > CHART_WIDTH - 40 else "middle"
            ticks.append((round(i * slot, 1) if anchor == "start" else x, _tick(bucket.start, unit), anchor))
    marks = format_html_join(
        "", COLUMN_MARK, ((b.x, b.y, b.width, b.height, b.label, b.value) for b in bars if b.value)
    ) + format_html_join("", TICK_MARK, ((x, height + 18, anchor, text) for x, text, anchor in ticks))
    return Chart(CHART_WIDTH, height, bars, sum(b.count for b in trend), ticks, marks, _table_rows(bars))


def chart_cards(board: Dashboard) -> list[ChartCard]:
    """The dashboard's charts, in the order they are shown."""
    trend_titles = {
        "day": _("Cases opened per day"),
        "week": _("Cases opened per week"),
        "month": _("Cases opened per month"),
    }
    opened = board.opened_in_period
    no_referral = _("No referral was sent in this period.")
    returns_map = mexico_map(board.return_places, max_radius=18) if board.return_places else None

    def referrals(key: str, heading: str, title: str, label: str, rows: Sequence[Row]) -> ChartCard:
        return ChartCard(key, heading, bar_chart(rows), title, label, _("Referrals"), no_referral)

    return [
        ChartCard(
            "trend",
            _("Cases opened"),
            column_chart(board.trend, board.trend_unit),
            trend_titles.get(board.trend_unit, trend_titles["month"]),
            _("Period"),
            _("Cases"),
            caption=ngettext(
                "%(count)s case opened in the period.", "%(count)s cases opened in the period.", opened
            )
            % {"count": opened},
            columns=True,
        ),
        ChartCard(
            "needs",
            _("Services most needed"),
            bar_chart(board.needs),
            _("Needs found in the cases opened in the period"),
            _("Need"),
            _("Cases"),
            _("No needs recorded in the cases of this period."),
        ),
        referrals(
            "refstatus",
            _("Referrals by status"),
            _("Referrals sent in the period, by status"),
            _("Status"),
            board.referrals_by_status,
        ),
        referrals(
            "institutions",
            _("Referrals by institution"),
            _("Referrals sent in the period, by institution"),
            _("Institution"),
            board.referrals_by_institution,
        ),
        referrals(
            "services",
            _("Referrals by service"),
            _("Referrals sent in the period, by service"),
            _("Service"),
            board.referrals_by_service,
        ),
        ChartCard(
            "points",
            _("Returns by point of return"),
            bar_chart(board.returns_by_point),
            _("Returns recorded in the period, by point of return"),
            _("Point of return"),
            _("Returns"),
            _("No return was recorded in this period."),
            map=returns_map,
            map_title=_(
                "Returns in the period on a map of Mexico: each circle is a point of return, its size the "
                "number of returns"
            ),
        ),
        ChartCard(
            "status",
            _("Where the period's cases stand"),
            bar_chart(board.opened_by_status),
            _("Cases opened in the period, by their status today"),
            _("Status"),
            _("Cases"),
            _("No case was opened in this period."),
        ),
    ]


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The dashboard of one office (``?office=<id>``) or, for coordinators, of all their offices
    (``?office=all``), for this week, month (default), quarter, year or two dates."""
    allowed = dashboard_offices(request.user)
    office, offices = choose_office(request, allowed, allow_all=True)
    if (
        "office" not in request.GET
        and len(offices) > 1
        and not offices_with_perm(request.user, Perm.VIEW_CASE)
    ):
        office = None  # a coordinator starts with the sum of the offices below theirs
    ids = {office.pk} if office is not None else {o.pk for o in offices}
    zone = office_zone(office) if office is not None else zoneinfo.ZoneInfo(settings.TIME_ZONE)
    today = office_today(office) if office is not None else timezone.localtime(timezone.now(), zone).date()
    form = DashboardFilterForm(request.GET or None)
    period, start, end = form.bounds(today)
    board = dashboard_figures(user=request.user, office_ids=ids, start=start, end=end, today=today, zone=zone)
    # Links to lists of records only for someone who may see the records of that one office.
    can_view_cases = office is not None and has_perm(request.user, Perm.VIEW_CASE, office.pk)
    context: dict[str, Any] = {
        "office": office,
        "offices": offices,
        "form": form,
        "period": period,
        "period_choices": PERIOD_CHOICES,
        "board": board,
        "can_view_cases": can_view_cases,
        "overdue_url": (
            reverse("cases:task_overdue") + (f"?office={office.pk}" if len(offices) > 1 else "")
            if can_view_cases and office is not None
            else ""
        ),
        "cards": chart_cards(board),
        "delivered_percent": (
            round(board.delivered_share * 100) if board.delivered_share is not None else None
        ),
        "office_value": office.pk if office is not None else "all",
        "is_today": end == today,
        "today": today,
    }
    response = render(request, "cases/dashboard/dashboard.html", context)
    response["Cache-Control"] = "no-store"
    return response
