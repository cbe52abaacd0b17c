"""Reminder e-mails (Django's locmem backend): one digest per worker of the follow-ups due tomorrow, today
or overdue, at most once a day per task; run by the django-tasks worker or the management command."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from rumbo.cases.models import CaseStatus, FollowUpTask, TaskOutcome
from rumbo.cases.services.tasks import task_complete, task_create, task_reminders_send
from rumbo.cases.tests import task_helpers as h
from rumbo.lib.testing.factories import member
from rumbo.offices.models import Role

OPENED = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
# 10 February 2026, 07:00 in Mexico City.
MORNING = datetime(2026, 2, 10, 13, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://rumbo.example.org"


@pytest.fixture
def case(world):
    who = h.person(world.caseworker, world.michoacan)
    return h.case(world.michoacan, who, worker=world.caseworker, opened_at=OPENED)


def _task(world, case, title, due, assigned_to=None):
    return task_create(
        actor=world.caseworker,
        case=case,
        title=title,
        due_on=due,
        assigned_to=assigned_to or world.caseworker,
    )


def test_one_digest_per_worker_with_the_tasks_due_tomorrow_today_or_overdue(world, case):
    overdue = _task(world, case, "Call about the CURP", date(2026, 2, 2))
    today = _task(world, case, "Check the school enrolment", date(2026, 2, 10))
    tomorrow = _task(world, case, "Ask about IMSS", date(2026, 2, 11))
    _task(world, case, "Later", date(2026, 2, 12))
    admins = _task(world, case, "Admin's task", date(2026, 2, 9), assigned_to=world.admin)
    nobodys = _task(world, case, "Nobody's", date(2026, 2, 9))
    FollowUpTask.objects.filter(pk=nobodys.pk).update(assigned_to=None)
    with time_machine.travel(MORNING, tick=False):
        run = task_reminders_send()
    assert (run.emails, run.tasks, run.failed) == (2, 4, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([world.caseworker.email, world.admin.email])
    to_lucia = next(m for m in mail.outbox if m.to == [world.caseworker.email])
    assert "3" in to_lucia.subject
    body = to_lucia.body
    for task in (overdue, today, tomorrow):
        assert task.title in body
    assert "Later" not in body and "Admin's task" not in body
    assert case.number in body and "https://rumbo.example.org/cases/tasks/" in body
    assert case.person.second_surname not in body  # no names of persons in e-mail
    reminded = set(FollowUpTask.objects.filter(reminded_at__isnull=False).values_list("pk", flat=True))
    assert reminded == {overdue.pk, today.pk, tomorrow.pk, admins.pk}


def test_a_task_is_reminded_at_most_once_a_day(world, case):
    _task(world, case, "Call about the CURP", date(2026, 2, 2))
    with time_machine.travel(MORNING, tick=False):
        assert task_reminders_send().emails == 1
    # Same day in Mexico City (22:00): nothing new to send.
    with time_machine.travel(datetime(2026, 2, 11, 4, 0, tzinfo=UTC), tick=False):
        assert task_reminders_send().emails == 0
    # Next morning it is still overdue: reminded again.
    with time_machine.travel(datetime(2026, 2, 11, 13, 0, tzinfo=UTC), tick=False):
        assert task_reminders_send().emails == 1
    assert len(mail.outbox) == 2


def test_done_tasks_closed_cases_and_workers_without_email_are_not_reminded(world, case):
    done = _task(world, case, "Done already", date(2026, 2, 2))
    task_complete(actor=world.caseworker, task=done, outcome=TaskOutcome.OK)
    closed_case = h.case(
        world.michoacan,
        h.person(world.caseworker, world.michoacan),
        worker=world.caseworker,
        opened_at=OPENED,
    )
    _task(world, closed_case, "Closed case", date(2026, 2, 2))
    closed_case.status = CaseStatus.CLOSED
    closed_case.save()
    silent = member(world.michoacan, Role.CASEWORKER, username="sin-correo", email="")
    _task(world, case, "No address", date(2026, 2, 2), assigned_to=silent)
    with time_machine.travel(MORNING, tick=False):
        run = task_reminders_send()
    assert run.emails == 0 and mail.outbox == []


def test_a_worker_who_left_the_office_is_not_reminded(world, case):
    _task(world, case, "Call", date(2026, 2, 2))
    world.caseworker.memberships.all().delete()
    from rumbo.offices.permissions import forget

    forget(world.caseworker)
    with time_machine.travel(MORNING, tick=False):
        assert task_reminders_send().emails == 0


def test_the_digest_is_in_the_workers_language(world, case):
    world.caseworker.preferred_language = "es"
    world.caseworker.save()
    _task(world, case, "Llamar", date(2026, 2, 2))
    with time_machine.travel(MORNING, tick=False):
        task_reminders_send()
    # The date is written the Spanish way (dd/mm/yyyy) whatever the catalogue holds.
    assert "02/02/2026" in mail.outbox[0].body


def test_a_failed_email_leaves_the_tasks_for_the_next_run(world, case, monkeypatch):
    task = _task(world, case, "Call", date(2026, 2, 2))

    def refuse(*args, **kwargs):
        raise OSError("SMTP server down")

    monkeypatch.setattr("rumbo.cases.services.tasks.send_mail", refuse)
    with time_machine.travel(MORNING, tick=False):
        run = task_reminders_send()
    assert (run.emails, run.failed) == (0, 1)
    task.refresh_from_db()
    assert task.reminded_at is None


@pytest.fixture
def keep_test_connection(monkeypatch):
    """The worker closes "old" connections between tasks; inside a test that would end its transaction."""
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)


def test_the_command_enqueues_the_task_on_the_default_queue_and_the_worker_sends(
    world, case, keep_test_connection
):
    _task(world, case, "Call", date(2026, 2, 2))
    with time_machine.travel(MORNING, tick=True):
        call_command("send_task_reminders", verbosity=0)
        result = DBTaskResult.objects.get()
        assert result.queue_name == "default" and result.task_path == "rumbo.cases.tasks.send_task_reminders"
        call_command(
            "db_worker", "--batch", "--queue-name", "default", "--no-startup-delay", "--no-reload", "-v", "0"
        )
    result.refresh_from_db()
    assert result.status == "SUCCESSFUL" and result.task_result.return_value["emails"] == 1
    assert len(mail.outbox) == 1


def test_the_command_sends_at_once_with_now(world, case, capsys):
    _task(world, case, "Call", date(2026, 2, 2))
    with time_machine.travel(MORNING, tick=False):
        call_command("send_task_reminders", "--now")
    assert len(mail.outbox) == 1 and "1" in capsys.readouterr().out
