"""The office dashboard: permission matrix, figures on a small fixture (cases by status, needs, referrals
by status and institution, returns by point, overdue follow-ups), periods, coordinators' sums without
personal data, and a bounded number of queries."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from rumbo.cases.models import CaseStatus, FollowUpTask, ReferralStatus
from rumbo.cases.selectors_dashboard import buckets, dashboard_figures
from rumbo.cases.services.tasks import task_create, tasks_close_for_case
from rumbo.cases.tests import task_helpers as h

MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")
# Wednesday 18 March 2026, 12:00 in Mexico City. The week began on Monday 16 March.
NOW = datetime(2026, 3, 18, 18, 0, tzinfo=UTC)


def _at(day: int, month: int = 3, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=MEXICO)


def _client(world: Any, user: Any) -> Any:
    client = world.client_for(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def figures(world):
    """Michoacán: three cases opened in March (one this week, one closed), one in February; referrals,
    returns and follow-ups around them. Jalisco: one case of its own (never counted for Michoacán)."""
    mich, worker = world.michoacan, world.caseworker

    def person():
        return h.person(worker, mich)

    c1 = h.case(mich, person(), worker=worker, opened_at=_at(17), needs=("documents", "health"))
    c2 = h.case(
        mich,
        person(),
        worker=worker,
        opened_at=_at(5),
        status=CaseStatus.FOLLOW_UP,
        needs=("documents", "work"),
    )
    c3 = h.case(mich, person(), worker=worker, opened_at=_at(10), status=CaseStatus.CLOSED, needs=("health",))
    c4 = h.case(mich, person(), worker=worker, opened_at=_at(20, 2), needs=("housing",))
    jal = h.case(
        world.jalisco,
        h.person(world.jalisco_caseworker, world.jalisco),
        worker=world.jalisco_caseworker,
        opened_at=_at(17),
        needs=("documents",),
    )
    imss = h.offering(mich)
    civil = h.offering(mich, service="Birth record", institution="Registro Civil Morelia")
    h.referral(c1, imss, status=ReferralStatus.DELIVERED, sent_at=_at(17), delivered_at=_at(18))
    h.referral(c1, civil, sent_at=_at(17))
    h.referral(c2, imss, status=ReferralStatus.ACCEPTED, sent_at=_at(6))
    h.referral(c4, imss, sent_at=_at(21, 2))
    h.referral(jal, h.offering(world.jalisco, institution="IMSS Guadalajara"), sent_at=_at(17))
    tijuana, nogales = h.return_point("Tijuana (test)"), h.return_point("Nogales (test)")
    for who, on, point in [
        (c1.person, date(2026, 3, 15), tijuana),
        (c2.person, date(2026, 3, 3), tijuana),
        (c3.person, date(2026, 3, 9), nogales),
        (c4.person, date(2026, 3, 1), None),
        (c4.person, date(2026, 2, 18), tijuana),
    ]:
        h.return_event(mich, who, on=on, point=point)
    h.return_event(world.jalisco, jal.person, on=date(2026, 3, 10), point=tijuana)
    task_create(actor=worker, case=c2, title="Overdue", due_on=date(2026, 3, 12))
    task_create(actor=worker, case=c1, title="Due soon", due_on=date(2026, 3, 20))
    task_create(actor=worker, case=c1, title="Later", due_on=date(2026, 4, 20))
    closed_task = FollowUpTask.objects.create(
        office=mich, case=c3, title="Closed case", due_on=date(2026, 3, 12), assigned_to=worker
    )
    tasks_close_for_case(actor=worker, case=c3)
    task_create(actor=world.jalisco_caseworker, case=jal, title="Jalisco overdue", due_on=date(2026, 3, 17))
    return {"cases": (c1, c2, c3, c4), "closed_task": closed_task}


def _board(world, user, office_ids, start=date(2026, 3, 1), end=date(2026, 3, 18)):
    return dashboard_figures(
        user=user, office_ids=office_ids, start=start, end=end, today=date(2026, 3, 18), zone=MEXICO
    )


def _rows(rows) -> dict[str, int]:
    return {r.label: r.count for r in rows}


def test_figures_of_one_office(world, figures):
    board = _board(world, world.caseworker, {world.michoacan.pk})
    assert board.open_cases == 3  # c1, c2, c4 (c3 is closed)
    assert board.new_this_week == 1
    assert board.opened_in_period == 3
    assert _rows(board.opened_by_status) == {"Open": 1, "In follow-up": 1, "Closed": 1}
    assert _rows(board.needs) == {"Identity documents": 2, "Health": 2, "Work": 1}
    assert board.needs[0].count == 2
    assert board.referrals_total == 3
    assert _rows(board.referrals_by_status) == {"Sent": 1, "Accepted": 1, "Service delivered": 1}
    assert _rows(board.referrals_by_institution) == {"IMSS UMF 80": 2, "Registro Civil Morelia": 1}
    assert _rows(board.referrals_by_service) == {"IMSS health cover": 2, "Birth record": 1}
    assert board.delivered_share == pytest.approx(1 / 3)
    assert board.returns_total == 4
    assert _rows(board.returns_by_point) == {
        "Tijuana (test)": 2,
        "Nogales (test)": 1,
        "Other or not recorded": 1,
    }
    assert (board.overdue_tasks, board.tasks_due_this_week) == (
        1,
        1,
    )  # the closed case's task was closed with it
    assert board.trend_unit == "day" and len(board.trend) == 18
    assert {b.start.day: b.count for b in board.trend if b.count} == {5: 1, 10: 1, 17: 1}


def test_figures_of_several_offices_are_summed(world, figures):
    board = _board(world, world.coordinator, {world.michoacan.pk, world.jalisco.pk})
    assert board.open_cases == 4 and board.opened_in_period == 4
    assert _rows(board.needs)["Identity documents"] == 3
    assert board.referrals_total == 4 and board.returns_total == 5 and board.overdue_tasks == 2


def test_a_custom_period(world, figures):
    board = _board(
        world, world.caseworker, {world.michoacan.pk}, start=date(2026, 2, 1), end=date(2026, 2, 28)
    )
    assert board.opened_in_period == 1 and _rows(board.needs) == {"Housing or shelter": 1}
    assert board.referrals_total == 1 and board.returns_total == 1
    assert board.open_cases == 3  # open cases are today's, whatever the period


def test_the_figures_take_few_queries_whatever_the_data(world, figures, django_assert_num_queries):
    with django_assert_num_queries(9):
        _board(world, world.caseworker, {world.michoacan.pk}, start=date(2025, 1, 1))


def test_figures_are_refused_for_offices_out_of_reach(world, figures):
    with pytest.raises(PermissionDenied):
        _board(world, world.caseworker, {world.jalisco.pk})
    with pytest.raises(PermissionDenied):
        _board(world, world.trainer, {world.michoacan.pk})


def test_slices_of_the_trend():
    assert buckets(date(2026, 3, 1), date(2026, 3, 31))[0] == "day"
    unit, weeks = buckets(date(2026, 1, 1), date(2026, 3, 31))
    assert (
        unit == "week"
        and weeks[0] == (date(2026, 1, 1), date(2026, 1, 4))
        and weeks[-1][1] == date(2026, 3, 31)
    )
    unit, months = buckets(date(2026, 1, 15), date(2026, 12, 31))
    assert unit == "month" and len(months) == 12 and months[0] == (date(2026, 1, 15), date(2026, 1, 31))


# --- The page --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("no_role", 403),
        ("trainer", 403),
        ("caseworker", 200),
        ("admin", 200),
        ("auditor", 200),
        ("coordinator", 200),
        ("jalisco_caseworker", 200),
    ],
)
def test_permission_matrix(world, figures, persona, expected):
    with time_machine.travel(NOW, tick=False):
        response = _client(world, getattr(world, persona)).get(reverse("cases:dashboard"))
    assert response.status_code == expected


def test_anonymous_users_are_sent_to_log_in(client, world):
    response = client.get(reverse("cases:dashboard"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize(
    ("persona", "office", "expected"),
    [
        ("jalisco_caseworker", "michoacan", 404),
        ("caseworker", "jalisco", 404),
        ("caseworker", "conofam", 404),
        ("coordinator", "michoacan", 200),
        ("coordinator", "jalisco", 200),
        ("trainer", "michoacan", 403),
    ],
)
def test_choosing_an_office(world, figures, persona, office, expected):
    response = _client(world, getattr(world, persona)).get(
        reverse("cases:dashboard"), {"office": getattr(world, office).pk}
    )
    assert response.status_code == expected


def test_the_page_shows_the_figures_with_charts_and_tables(world, figures):
    with time_machine.travel(NOW, tick=False):
        response = _client(world, world.caseworker).get(reverse("cases:dashboard"))
    html = response.content.decode()
    assert response.context["board"].open_cases == 3
    assert html.count("<svg") == 7 and html.count("<table") == 7
    assert 'role="img"' in html and "Tijuana (test)" in html and "IMSS UMF 80" in html
    assert reverse("cases:task_overdue") in html  # the overdue figure links to the list


def test_returns_are_drawn_on_a_map_at_their_point_of_return(world, figures):
    """Points with coordinates are placed (their own, else their municipality's seat); a point with neither
    is only in the table below the map."""
    from rumbo.cases.models import ReturnPoint
    from rumbo.geo.models import AdminArea

    ReturnPoint.objects.filter(name="Tijuana (test)").update(lat=32.53, lon=-117.02)
    nogales_muni = AdminArea.objects.get(country="MX", level=2, code="26043")
    ReturnPoint.objects.filter(name="Nogales (test)").update(municipality=nogales_muni)
    with time_machine.travel(NOW, tick=False):
        response = _client(world, world.caseworker).get(reverse("cases:dashboard"))
    points = next(card for card in response.context["cards"] if card.key == "points")
    markers = {m.place.label: m for m in points.map.markers}
    assert set(markers) == {"Tijuana (test): 2", "Nogales (test): 1"}
    assert markers["Tijuana (test): 2"].r > markers["Nogales (test): 1"].r
    assert response.content.decode().count("<circle") == 2
    # Without any placed point there is no map, only the table.
    ReturnPoint.objects.update(lat=None, lon=None, municipality=None)
    with time_machine.travel(NOW, tick=False):
        response = _client(world, world.caseworker).get(reverse("cases:dashboard"))
    assert next(card for card in response.context["cards"] if card.key == "points").map is None
    assert 'id="points-map"' not in response.content.decode()


def test_the_coordinator_sees_the_sum_of_the_offices_without_personal_data(world, figures):
    with time_machine.travel(NOW, tick=False):
        response = _client(world, world.coordinator).get(reverse("cases:dashboard"))
    assert response.context["office"] is None and response.context["board"].open_cases == 4
    html = response.content.decode()
    for case in figures["cases"]:
        assert case.number not in html and case.person.second_surname not in html
    assert reverse("cases:task_overdue") not in html and "no personal data" in html


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({}, date(2026, 3, 1), date(2026, 3, 18)),
        ({"period": "week"}, date(2026, 3, 16), date(2026, 3, 18)),
        ({"period": "quarter"}, date(2026, 1, 1), date(2026, 3, 18)),
        ({"period": "year"}, date(2026, 1, 1), date(2026, 3, 18)),
        (
            {"period": "custom", "start": "2026-02-01", "end": "2026-02-28"},
            date(2026, 2, 1),
            date(2026, 2, 28),
        ),
    ],
)
def test_periods(world, figures, params, start, end):
    with time_machine.travel(NOW, tick=False):
        response = _client(world, world.caseworker).get(reverse("cases:dashboard"), params)
    board = response.context["board"]
    assert (board.start, board.end) == (start, end)


def test_bad_custom_dates_fall_back_to_this_month_with_a_message_at_the_field(world, figures):
    with time_machine.travel(NOW, tick=False):
        response = _client(world, world.caseworker).get(
            reverse("cases:dashboard"), {"period": "custom", "start": "2026-03-10", "end": "2026-03-01"}
        )
    assert response.status_code == 200
    assert response.context["board"].start == date(2026, 3, 1)
    assert b"The last day cannot be before the first." in response.content


def test_the_page_takes_a_bounded_number_of_queries(world, figures, django_assert_max_num_queries):
    with time_machine.travel(NOW, tick=False):
        client = _client(world, world.caseworker)
        client.get(reverse("cases:dashboard"))
        with django_assert_max_num_queries(16):
            client.get(reverse("cases:dashboard"), {"period": "year"})


def test_the_trend_counted_per_range_equals_the_grouped_count(world, figures, monkeypatch):
    """SQLite counts the trend with one COUNT per status and slice; beyond SQLITE_MAX_TERMS parts (and on
    PostgreSQL) with one GROUP BY. Both give the same figures."""
    from rumbo.cases import selectors_dashboard

    periods = [(date(2026, 3, 1), date(2026, 3, 18)), (date(2026, 1, 1), date(2026, 3, 18))]
    periods.append((date(2025, 1, 1), date(2026, 3, 18)))
    first = [_board(world, world.coordinator, {world.michoacan.pk, world.jalisco.pk}, *p) for p in periods]
    monkeypatch.setattr(selectors_dashboard, "SQLITE_MAX_TERMS", 0)
    again = [_board(world, world.coordinator, {world.michoacan.pk, world.jalisco.pk}, *p) for p in periods]
    for one, other in zip(first, again, strict=True):
        assert one.trend == other.trend and one.trend_unit == other.trend_unit
        assert one.opened_by_status == other.opened_by_status
        assert one.opened_in_period == other.opened_in_period
    assert first[0].opened_in_period == 4 and sum(b.count for b in first[2].trend) == 5


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [("9999-12-01", "9999-12-31", "end"), ("1000-01-01", "1000-01-31", "start")],
)
def test_a_custom_period_out_of_range_is_an_error_at_the_field(world, start, end, field):
    # 9999-12-31 + 1 day (and the month after December 9999) do not exist: the dashboard answered 500.
    with time_machine.travel(NOW, tick=False):
        response = _client(world, world.caseworker).get(
            reverse("cases:dashboard"), {"period": "custom", "start": start, "end": end}
        )
    assert response.status_code == 200
    assert response.context["form"].errors[field] == ["Enter a date between 1900 and 2100."]
    assert "Enter a date between 1900 and 2100." in response.content.decode()
