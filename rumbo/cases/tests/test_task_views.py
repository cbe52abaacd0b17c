"""Follow-up pages: permission matrix of every view, "my tasks" and the office's overdue list (correct
across months), the case panel, and the forms (outcome required, errors at the field, nothing saved)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from rumbo.cases.models import CaseStatus, FollowUpTask, TaskOutcome
from rumbo.cases.services.tasks import followup_schedule_defaults, task_complete, task_create
from rumbo.cases.tests import task_helpers as h

OPENED = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)  # 15 January 2026, 11:00 in Mexico City
ALL_PERSONAS = ["no_role", "caseworker", "admin", "auditor", "coordinator", "trainer", "jalisco_caseworker"]


def _client(world: Any, user: Any) -> Any:
    client = world.client_for(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def case(world):
    who = h.person(world.caseworker, world.michoacan)
    return h.case(world.michoacan, who, worker=world.caseworker, opened_at=OPENED, needs=("health",))


@pytest.fixture
def tasks(world, case):
    return followup_schedule_defaults(actor=world.caseworker, case=case)


# --- Permission matrix -----------------------------------------------------------------------------------

# (route, method, needs a case, needs a task, expected status per persona)
READ = {"caseworker": 200, "admin": 200, "auditor": 200}
WRITE = {"caseworker": 200, "admin": 200, "auditor": 403}
MATRIX = [
    ("cases:task_mine", "get", READ | {"jalisco_caseworker": 200}),
    ("cases:task_overdue", "get", READ | {"jalisco_caseworker": 200}),
    ("cases:task_case", "get", READ | {"jalisco_caseworker": 404}),
    ("cases:task_create", "get", WRITE | {"jalisco_caseworker": 404}),
    ("cases:task_complete", "get", WRITE | {"jalisco_caseworker": 404}),
    ("cases:task_complete", "post", WRITE | {"caseworker": 422, "admin": 422, "jalisco_caseworker": 404}),
    ("cases:task_reschedule", "post", WRITE | {"caseworker": 422, "admin": 422, "jalisco_caseworker": 404}),
]


def _url(name: str, case: Any, task: Any) -> str:
    if name in ("cases:task_case", "cases:task_create"):
        return reverse(name, args=[case.pk])
    if name in ("cases:task_complete", "cases:task_reschedule"):
        return reverse(name, args=[task.pk])
    return reverse(name)


def _call(client: Any, method: str, url: str) -> Any:
    # POSTs with an empty form: the permission is checked before the form (so 422 means "allowed").
    return client.post(url, {}) if method == "post" else client.get(url)


@pytest.mark.parametrize(("name", "method", "expected"), MATRIX, ids=[f"{m[0]}-{m[1]}" for m in MATRIX])
def test_anonymous_users_are_sent_to_log_in(client, world, case, tasks, name, method, expected):
    response = _call(client, method, _url(name, case, tasks[0]))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("persona", ALL_PERSONAS)
@pytest.mark.parametrize(("name", "method", "expected"), MATRIX, ids=[f"{m[0]}-{m[1]}" for m in MATRIX])
def test_permission_matrix(world, case, tasks, persona, name, method, expected):
    response = _call(_client(world, getattr(world, persona)), method, _url(name, case, tasks[0]))
    # Without VIEW_CASE anywhere (no role, coordinator, trainer): 403.
    assert response.status_code == expected.get(persona, 403), response.content[:300]
    assert FollowUpTask.objects.filter(done_at__isnull=False).count() == 0


def test_another_office_cannot_pick_this_office_in_the_overdue_list(world, tasks):
    response = _client(world, world.jalisco_caseworker).get(
        reverse("cases:task_overdue"), {"office": world.michoacan.pk}
    )
    assert response.status_code == 404
    response = _client(world, world.caseworker).get(reverse("cases:task_overdue"), {"office": "x"})
    assert response.status_code == 404


def test_a_case_seen_after_its_transfer_is_read_only_for_the_old_office(world, case, tasks):
    from rumbo.cases.services import case_transfer_decide, case_transfer_request
    from rumbo.lib.testing.factories import member
    from rumbo.offices.models import Role

    task_complete(actor=world.caseworker, task=tasks[0], outcome=TaskOutcome.OK, note="Fine")
    transfer = case_transfer_request(
        actor=world.caseworker, case=case, to_office=world.jalisco, reason="Moved"
    )
    case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True)
    old = _client(world, world.caseworker)
    panel = old.get(reverse("cases:task_case", args=[case.pk]))
    assert panel.status_code == 200
    assert b"followed up by another office" in panel.content and b"Fine" in panel.content
    # The open follow-ups went with the case: the old office can no longer act on them.
    assert old.get(reverse("cases:task_complete", args=[tasks[1].pk])).status_code == 404
    assert old.get(reverse("cases:task_create", args=[case.pk])).status_code == 403
    new = _client(world, world.jalisco_caseworker)
    assert new.get(reverse("cases:task_complete", args=[tasks[1].pk])).status_code == 200
    # A third office sees nothing.
    third = member(world.conofam, Role.CASEWORKER, username="tercera")
    assert _client(world, third).get(reverse("cases:task_case", args=[case.pk])).status_code == 404


# --- Lists -----------------------------------------------------------------------------------------------


def _titles(response: Any) -> list[str]:
    return [t.title for t in response.context["page"].object_list]


def test_my_tasks_lists_my_open_tasks_by_due_date(world, case, tasks):
    other = h.case(
        world.michoacan, h.person(world.caseworker, world.michoacan), worker=world.admin, opened_at=OPENED
    )
    followup_schedule_defaults(actor=world.admin, case=other)
    with time_machine.travel(datetime(2026, 3, 1, 18, 0, tzinfo=UTC), tick=False):
        response = _client(world, world.caseworker).get(reverse("cases:task_mine"))
    assert response.status_code == 200
    rows = list(response.context["page"].object_list)
    assert [t.due_on for t in rows] == [date(2026, 2, 15), date(2026, 4, 15), date(2026, 7, 15)]
    assert all(t.assigned_to == world.caseworker for t in rows)
    assert response.context["counts"] == {"overdue": 1, "today": 0}
    assert b"overdue" in response.content and case.number.encode() in response.content


def test_my_tasks_empty_state(world):
    response = _client(world, world.caseworker).get(reverse("cases:task_mine"))
    assert response.status_code == 200 and b"You have no follow-up to do" in response.content


def test_my_done_tasks(world, tasks):
    task_complete(
        actor=world.caseworker, task=tasks[0], outcome=TaskOutcome.NEEDS_MORE, note="Needs a lawyer"
    )
    response = _client(world, world.caseworker).get(reverse("cases:task_mine"), {"when": "done"})
    assert _titles(response) == [tasks[0].title] and b"Needs a lawyer" in response.content


def test_the_overdue_list_is_right_across_months(world, case, tasks):
    extra = task_create(actor=world.caseworker, case=case, title="Call the school", due_on=date(2026, 2, 28))
    url = reverse("cases:task_overdue")

    def titles_at(moment: datetime, **params: str) -> list[str]:
        with time_machine.travel(moment, tick=False):  # logged in at that moment (sessions end when idle)
            return _titles(_client(world, world.caseworker).get(url, params))

    # 14 February (Mexico City): nothing due yet.
    assert titles_at(datetime(2026, 2, 14, 23, 0, tzinfo=UTC)) == []
    # 16 February: the one-month follow-up (15 February) is overdue; the 28 February task is not yet.
    assert titles_at(datetime(2026, 2, 16, 15, 0, tzinfo=UTC)) == [tasks[0].title]
    # 1 March 05:00 UTC is still 28 February in Mexico City: due today, not overdue.
    assert titles_at(datetime(2026, 3, 1, 5, 0, tzinfo=UTC)) == [tasks[0].title]
    assert titles_at(datetime(2026, 3, 1, 5, 0, tzinfo=UTC), when="today") == [extra.title]
    # 16 April: the three-month follow-up joins; done ones leave.
    task_complete(actor=world.caseworker, task=tasks[0], outcome=TaskOutcome.OK)
    april = datetime(2026, 4, 16, 15, 0, tzinfo=UTC)
    assert titles_at(april) == [extra.title, tasks[1].title]
    assert titles_at(april, assigned="nobody") == [extra.title]
    assert titles_at(april, assigned="me") == [tasks[1].title]


def test_tasks_closed_with_their_case_leave_the_lists(world, case, tasks):
    from rumbo.cases.services.tasks import tasks_close_for_case

    case.status = CaseStatus.CLOSED
    case.save()
    assert tasks_close_for_case(actor=world.caseworker, case=case) == 3
    with time_machine.travel(datetime(2026, 8, 1, 15, 0, tzinfo=UTC), tick=False):
        response = _client(world, world.caseworker).get(reverse("cases:task_overdue"))
    assert _titles(response) == []
    assert b"No overdue follow-up" in response.content


def test_the_overdue_list_paginates(world, case):
    for day in range(1, 31):
        task_create(
            actor=world.caseworker, case=case, title=f"Call {day:02d}", due_on=date(2026, 1, 15 + day % 16)
        )
    with time_machine.travel(datetime(2026, 3, 1, 15, 0, tzinfo=UTC), tick=False):
        client = _client(world, world.caseworker)
        first = client.get(reverse("cases:task_overdue"))
        second = client.get(reverse("cases:task_overdue"), {"page": 2})
    assert len(first.context["page"].object_list) == 25 and len(second.context["page"].object_list) == 5
    assert b'rel="next"' in first.content


def test_lists_answer_in_few_queries(world, case, tasks, django_assert_max_num_queries):
    for _ in range(10):
        other = h.case(
            world.michoacan,
            h.person(world.caseworker, world.michoacan),
            worker=world.caseworker,
            opened_at=OPENED,
        )
        followup_schedule_defaults(actor=world.caseworker, case=other)
    with time_machine.travel(datetime(2026, 9, 1, 15, 0, tzinfo=UTC), tick=False):
        client = _client(world, world.caseworker)
        client.get(reverse("cases:task_mine"))  # warm the session
        with django_assert_max_num_queries(12):
            response = client.get(reverse("cases:task_mine"))
        assert len(response.context["page"].object_list) == 25
        with django_assert_max_num_queries(12):
            client.get(reverse("cases:task_overdue"))


# --- The case panel and the forms ------------------------------------------------------------------------


def test_the_case_panel_lists_open_and_done_tasks_with_the_complete_form(world, case, tasks):
    task_complete(actor=world.caseworker, task=tasks[0], outcome=TaskOutcome.OK, note="Found work")
    client = _client(world, world.caseworker)
    response = client.get(reverse("cases:task_case", args=[case.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('<section id="case-tasks"') and "<html" not in html
    assert html.count('name="outcome"') == 2 and "Found work" in html
    page = client.get(reverse("cases:task_case", args=[case.pk]))
    assert "<html" in page.content.decode() and page.content.decode().count('name="outcome"') == 2


def test_the_auditor_sees_the_panel_without_forms(world, case, tasks):
    response = _client(world, world.auditor).get(reverse("cases:task_case", args=[case.pk]))
    assert response.status_code == 200 and b'name="outcome"' not in response.content
    assert tasks[0].title.encode() in response.content


def test_completing_without_an_outcome_shows_the_error_at_the_field_and_saves_nothing(world, case, tasks):
    client = _client(world, world.caseworker)
    url = reverse("cases:task_complete", args=[tasks[0].pk])
    response = client.post(url, {"outcome": "", "note": "Called twice", "panel": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert f'id="outcome-{tasks[0].pk}-error"' in html and "Choose the outcome of this follow-up." in html
    assert 'value="Called twice"' in html
    page = client.post(url, {"outcome": "other", "note": ""})
    assert page.status_code == 422 and b"Say what happened." in page.content
    assert not FollowUpTask.objects.filter(done_at__isnull=False).exists()


def test_completing_with_an_outcome_refreshes_the_panel(world, case, tasks):
    client = _client(world, world.caseworker)
    url = reverse("cases:task_complete", args=[tasks[0].pk])
    response = client.post(
        url, {"outcome": "ok", "note": "Enrolled at IMSS", "panel": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and b"Enrolled at IMSS" in response.content
    tasks[0].refresh_from_db()
    assert tasks[0].outcome == "ok" and tasks[0].done_at is not None


def test_completing_without_javascript_returns_to_the_page_it_came_from(world, case, tasks):
    client = _client(world, world.caseworker)
    url = reverse("cases:task_complete", args=[tasks[0].pk])
    response = client.post(url, {"outcome": "not_reached", "next": reverse("cases:task_mine")})
    assert response.status_code == 302 and response["Location"] == reverse("cases:task_mine")
    assert (
        client.post(url, {"outcome": "ok", "next": "https://evil.example/"}).status_code == 422
    )  # done already


def test_rescheduling_from_the_panel(world, case, tasks):
    client = _client(world, world.caseworker)
    url = reverse("cases:task_reschedule", args=[tasks[0].pk])
    bad = client.post(url, {"due_on": "2025-01-01", "panel": "1"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422 and b"cannot be before the case was opened" in bad.content
    good = client.post(url, {"due_on": "2026-02-20"})
    assert good.status_code == 302
    tasks[0].refresh_from_db()
    assert tasks[0].due_on == date(2026, 2, 20)


def test_planning_a_followup_by_hand(world, case):
    client = _client(world, world.caseworker)
    url = reverse("cases:task_create", args=[case.pk])
    page = client.get(url)
    assert page.status_code == 200
    options = {str(u.pk) for u in page.context["form"].fields["assigned_to"].queryset}
    assert options == {str(world.caseworker.pk), str(world.admin.pk)}  # not the auditor nor the trainer
    bad = client.post(url, {"title": "", "due_on": "2026-02-01"})
    assert bad.status_code == 422 and b"This field is required." in bad.content
    good = client.post(
        url, {"title": "Visit the shelter", "due_on": "2026-02-01", "assigned_to": world.admin.pk}
    )
    assert good.status_code == 302
    task = FollowUpTask.objects.get(case=case, title="Visit the shelter")
    assert task.assigned_to == world.admin
    other_office = client.post(
        url, {"title": "X", "due_on": "2026-02-01", "assigned_to": world.jalisco_caseworker.pk}
    )
    assert other_office.status_code == 422


def test_the_case_page_shows_the_followup_panel_without_javascript(world, case, tasks):
    response = _client(world, world.caseworker).get(reverse("cases:detail", args=[case.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="case-tasks"' in html and html.count('name="outcome"') == 3
    assert "cases/followup.css" in html
    auditor = _client(world, world.auditor).get(reverse("cases:detail", args=[case.pk]))
    assert auditor.status_code == 200 and b'id="case-tasks"' in auditor.content
    assert b'name="outcome"' not in auditor.content


@pytest.mark.parametrize("htmx", [False, True])
def test_a_case_s_tasks_are_audited_as_a_case_view(world, case, tasks, htmx):
    from rumbo.audit.models import Action, AuditEvent

    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = _client(world, world.auditor).get(reverse("cases:task_case", args=[case.pk]), **headers)
    assert response.status_code == 200
    event = AuditEvent.objects.get(action=Action.CASE_VIEW, actor=world.auditor)
    assert (event.object_type, event.object_id) == ("cases.case", str(case.pk))
    assert event.office_id == world.michoacan.pk and event.detail["page"] == "tasks"


def test_my_tasks_count_days_in_each_task_s_office(world, case, tasks):
    from rumbo.lib.testing.factories import MembershipFactory, OfficeFactory
    from rumbo.offices.models import Role
    from rumbo.offices.permissions import forget

    # Lucía also works at an office in Cancún. Pages show the time of her first office; "today" of a
    # task is its own office's.
    cancun = OfficeFactory(
        name="OFAM Quintana Roo", code="ofam-qroo", parent=world.conofam, time_zone="America/Cancun"
    )
    MembershipFactory(user=world.caseworker, office=cancun, role=Role.CASEWORKER)
    forget(world.caseworker)
    there = h.case(cancun, h.person(world.caseworker, cancun), worker=world.caseworker, opened_at=OPENED)
    here_task, there_task = (
        task_create(
            actor=world.caseworker,
            case=c,
            title=title,
            due_on=date(2026, 2, 28),
            assigned_to=world.caseworker,
        )
        for c, title in ((case, "Call in Morelia"), (there, "Call in Cancún"))
    )
    # 1 March 05:30 UTC: still 28 February in Mexico City (Michoacán), 1 March in Cancún.
    with time_machine.travel(datetime(2026, 3, 1, 5, 30, tzinfo=UTC), tick=False):
        client = _client(world, world.caseworker)
        everything = client.get(reverse("cases:task_mine"))
        overdue = client.get(reverse("cases:task_mine"), {"when": "overdue"})
        due_today = client.get(reverse("cases:task_mine"), {"when": "today"})
    assert everything.context["counts"] == {"overdue": 2, "today": 1}
    rows = {t.pk: t for t in everything.context["page"].object_list}
    assert rows[there_task.pk].is_overdue and not rows[here_task.pk].is_overdue
    assert rows[here_task.pk].is_due_today and not rows[there_task.pk].is_due_today
    assert _titles(overdue) == [tasks[0].title, there_task.title]
    assert _titles(due_today) == [here_task.title]
