"""Follow-up task services: the default follow-ups at 1, 3 and 6 months, the referral follow-up, tasks by
hand, completion with an outcome, rescheduling and reassignment."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import CaseStatus, FollowUpTask, ReferralStatus, TaskOutcome
from rumbo.cases.services.tasks import (
    add_months,
    case_closed_note,
    followup_for_referral,
    followup_schedule_defaults,
    task_assign,
    task_complete,
    task_create,
    task_reschedule,
    tasks_close_for_case,
    tasks_follow_assignment,
)
from rumbo.cases.tests import task_helpers as h
from rumbo.lib.testing.factories import member
from rumbo.offices.models import Role

# 15 March 2026, 18:00 in Mexico City.
OPENED = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)


@pytest.fixture
def case(world):
    who = h.person(world.caseworker, world.michoacan)
    return h.case(world.michoacan, who, worker=world.caseworker, opened_at=OPENED)


def test_add_months_clips_to_the_end_of_shorter_months():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 3) == date(2027, 3, 15)


def test_default_followups_at_one_three_and_six_months_assigned_to_the_case_worker(world, case):
    tasks = followup_schedule_defaults(actor=world.caseworker, case=case)
    # Opened on 15 March in Mexico City (16 March in UTC): the dates count from the office's day.
    assert [t.due_on for t in tasks] == [date(2026, 4, 15), date(2026, 6, 15), date(2026, 9, 15)]
    assert {t.assigned_to for t in tasks} == {world.caseworker}
    assert {t.office_id for t in tasks} == {world.michoacan.pk}
    assert all(t.referral_id is None and t.done_at is None for t in tasks)
    events = AuditEvent.objects.filter(action=Action.TASK_UPDATE, object_type="cases.followuptask")
    assert events.count() == 3


def test_default_followups_are_not_added_twice(world, case):
    followup_schedule_defaults(actor=world.caseworker, case=case)
    assert followup_schedule_defaults(actor=world.caseworker, case=case) == []
    assert FollowUpTask.objects.filter(case=case).count() == 3


def test_default_followup_months_come_from_the_settings(world, case, settings):
    settings.RUMBO_FOLLOWUP_MONTHS = (2, 12)
    tasks = followup_schedule_defaults(actor=world.caseworker, case=case)
    assert [t.due_on for t in tasks] == [date(2026, 5, 15), date(2027, 3, 15)]


def test_without_a_worker_the_default_followups_go_to_whoever_opened_the_case(world):
    who = h.person(world.caseworker, world.michoacan)
    unassigned = h.case(world.michoacan, who, opened_at=OPENED)
    tasks = followup_schedule_defaults(actor=world.admin, case=unassigned)
    assert {t.assigned_to for t in tasks} == {world.admin}


@pytest.mark.parametrize("persona", ["auditor", "coordinator", "trainer", "jalisco_caseworker", "no_role"])
def test_only_case_workers_of_the_office_schedule_followups(world, case, persona):
    with pytest.raises(PermissionDenied):
        followup_schedule_defaults(actor=getattr(world, persona), case=case)
    assert not FollowUpTask.objects.exists()


def test_opening_a_case_through_the_case_service_schedules_the_defaults(world):
    from rumbo.cases.services import case_open

    who = h.person(world.caseworker, world.michoacan)
    with time_machine.travel(datetime(2026, 1, 31, 17, 0, tzinfo=UTC), tick=False):
        opened = case_open(
            actor=world.caseworker, person=who, needs={"health": ""}, assigned_to=world.caseworker
        )
    due = sorted(FollowUpTask.objects.filter(case=opened).values_list("due_on", flat=True))
    assert due == [date(2026, 2, 28), date(2026, 4, 30), date(2026, 7, 31)]


# --- Referral follow-up ---------------------------------------------------------------------------------


def test_a_delivered_referral_gets_one_followup_a_month_later(world, case):
    delivered = datetime(2026, 4, 2, 20, 0, tzinfo=UTC)  # 2 April, 14:00 in Mexico City
    referral = h.referral(
        case, h.offering(world.michoacan), status=ReferralStatus.DELIVERED, delivered_at=delivered
    )
    task = followup_for_referral(actor=world.caseworker, referral=referral)
    assert task.due_on == date(2026, 5, 2)
    assert task.referral == referral and task.assigned_to == world.caseworker
    assert "IMSS health cover" in task.title and "IMSS UMF 80" in task.title
    assert followup_for_referral(actor=world.caseworker, referral=referral) == task
    assert FollowUpTask.objects.filter(referral=referral).count() == 1


def test_a_referral_not_delivered_is_not_followed_up(world, case):
    referral = h.referral(case, h.offering(world.michoacan), status=ReferralStatus.ACCEPTED)
    with pytest.raises(ValidationError):
        followup_for_referral(actor=world.caseworker, referral=referral)
    assert not FollowUpTask.objects.exists()


def test_marking_a_referral_delivered_creates_the_followup(world, case):
    from rumbo.cases.services.referrals import referral_update_status

    referral = h.referral(case, h.offering(world.michoacan), status=ReferralStatus.ACCEPTED)
    with time_machine.travel(datetime(2026, 4, 10, 18, 0, tzinfo=UTC), tick=False):
        referral_update_status(actor=world.caseworker, referral=referral, status=ReferralStatus.DELIVERED)
    task = FollowUpTask.objects.get(referral=referral)
    assert task.due_on == date(2026, 5, 10)


# --- By hand --------------------------------------------------------------------------------------------


@time_machine.travel(datetime(2026, 4, 1, 16, 0, tzinfo=UTC), tick=False)
def test_task_create_checks_each_field(world, case):
    with pytest.raises(ValidationError) as exc:
        task_create(actor=world.caseworker, case=case, title="  ", due_on=date(2026, 5, 1))
    assert "title" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        task_create(actor=world.caseworker, case=case, title="Call", due_on=date(2026, 3, 1))
    assert "due_on" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        task_create(
            actor=world.caseworker,
            case=case,
            title="Call",
            due_on=date(2026, 5, 1),
            assigned_to=world.trainer,
        )
    assert "assigned_to" in exc.value.message_dict
    assert not FollowUpTask.objects.exists()
    task = task_create(
        actor=world.caseworker,
        case=case,
        title="Call the school",
        due_on=date(2026, 5, 1),
        assigned_to=world.admin,
    )
    assert (task.title, task.assigned_to, task.office) == ("Call the school", world.admin, world.michoacan)


def test_no_followup_is_planned_on_a_closed_case(world):
    who = h.person(world.caseworker, world.michoacan)
    closed = h.case(world.michoacan, who, opened_at=OPENED, status=CaseStatus.CLOSED)
    with pytest.raises(ValidationError):
        task_create(actor=world.caseworker, case=closed, title="Call", due_on=date(2026, 5, 1))


# --- Completing -----------------------------------------------------------------------------------------


def test_completing_needs_an_outcome_and_nothing_changes_without_it(world, case):
    task = followup_schedule_defaults(actor=world.caseworker, case=case)[0]
    with pytest.raises(ValidationError) as exc:
        task_complete(actor=world.caseworker, task=task, outcome="", note="Called")
    assert exc.value.message_dict["outcome"] == ["Choose the outcome of this follow-up."]
    with pytest.raises(ValidationError) as exc:
        task_complete(actor=world.caseworker, task=task, outcome=TaskOutcome.OTHER, note="")
    assert "note" in exc.value.message_dict
    task.refresh_from_db()
    assert task.done_at is None and task.outcome == ""


def test_completing_records_the_outcome_once_and_audits_it(world, case):
    task = followup_schedule_defaults(actor=world.caseworker, case=case)[0]
    done = task_complete(actor=world.caseworker, task=task, outcome=TaskOutcome.OK, note="Works at a bakery")
    assert done.done_at is not None and done.outcome == "ok" and done.outcome_note == "Works at a bakery"
    event = (
        AuditEvent.objects.filter(action=Action.TASK_UPDATE, object_id=str(task.pk)).order_by("-id").first()
    )
    assert event.detail["event"] == "complete" and event.detail["outcome"] == "ok"
    with pytest.raises(ValidationError):
        task_complete(actor=world.caseworker, task=task, outcome=TaskOutcome.OK)


def test_the_auditor_may_not_complete_a_task(world, case):
    task = followup_schedule_defaults(actor=world.caseworker, case=case)[0]
    with pytest.raises(PermissionDenied):
        task_complete(actor=world.auditor, task=task, outcome=TaskOutcome.OK)


# --- Rescheduling and assigning -------------------------------------------------------------------------


def test_rescheduling_moves_the_date_and_allows_a_new_reminder(world, case):
    task = followup_schedule_defaults(actor=world.caseworker, case=case)[0]
    FollowUpTask.objects.filter(pk=task.pk).update(reminded_at=timezone.now())
    moved = task_reschedule(actor=world.caseworker, task=task, due_on=date(2026, 4, 30))
    assert moved.due_on == date(2026, 4, 30) and moved.reminded_at is None
    event = (
        AuditEvent.objects.filter(action=Action.TASK_UPDATE, object_id=str(task.pk)).order_by("-id").first()
    )
    assert event.changes == {"due_on": {"old": "2026-04-15", "new": "2026-04-30"}}
    with pytest.raises(ValidationError) as exc:
        task_reschedule(actor=world.caseworker, task=task, due_on=date(2020, 1, 1))
    assert "due_on" in exc.value.message_dict


def test_assigning_checks_the_new_worker(world, case):
    task = followup_schedule_defaults(actor=world.caseworker, case=case)[0]
    with pytest.raises(ValidationError):
        task_assign(actor=world.caseworker, task=task, assigned_to=world.jalisco_caseworker)
    assert task_assign(actor=world.caseworker, task=task, assigned_to=world.admin).assigned_to == world.admin


def test_open_tasks_follow_the_case_to_its_new_worker(world, case):
    tasks = followup_schedule_defaults(actor=world.caseworker, case=case)
    task_complete(actor=world.caseworker, task=tasks[0], outcome=TaskOutcome.OK)
    other = member(world.michoacan, Role.CASEWORKER, username="marta")
    previous = case.assigned_to
    case.assigned_to = other
    case.save()
    assert tasks_follow_assignment(actor=world.caseworker, case=case, previous=previous) == 2
    owners = dict(FollowUpTask.objects.filter(case=case).values_list("pk", "assigned_to"))
    assert owners == {tasks[0].pk: world.caseworker.pk, tasks[1].pk: other.pk, tasks[2].pk: other.pk}


def test_closing_a_case_closes_its_open_followups(world, case):
    tasks = followup_schedule_defaults(actor=world.caseworker, case=case)
    task_complete(actor=world.caseworker, task=tasks[0], outcome=TaskOutcome.OK)
    assert tasks_close_for_case(actor=world.caseworker, case=case) == 2
    rows = {t.pk: t for t in FollowUpTask.objects.filter(case=case)}
    assert rows[tasks[0].pk].outcome == "ok"
    for task in tasks[1:]:
        closed = rows[task.pk]
        assert closed.done_at is not None and closed.outcome == "other"
        assert closed.outcome_note == case_closed_note()  # stored in the site's language
    assert tasks_close_for_case(actor=world.caseworker, case=case) == 0
    with pytest.raises(PermissionDenied):
        tasks_close_for_case(actor=world.auditor, case=case)
