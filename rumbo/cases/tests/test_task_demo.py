"""The bulk demo generator of cases: rows the services would write (numbers, follow-up dates, consents
for referrals), for the persons of the OFAM offices only, with both writers; and the `rumbo demo` hook."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db.models import Count

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.demo import cases_generate
from rumbo.cases.models import (
    Case,
    CaseNeed,
    CaseStatusChange,
    FollowUpTask,
    Referral,
    ReferralEvent,
    ReferralStatus,
    ReturnEvent,
)
from rumbo.cases.services.tasks import add_months, local_date
from rumbo.cases.tests import task_helpers as h
from rumbo.demo.writers import OrmWriter, writer_for
from rumbo.people.models import ConsentRecord

NOW = datetime(2026, 5, 20, 18, 0, tzinfo=UTC)


@pytest.fixture
def persons(world):
    made = [h.person(world.caseworker, world.michoacan) for _ in range(12)]
    made += [h.person(world.jalisco_caseworker, world.jalisco) for _ in range(6)]
    # Spread the registrations over two years, as a real registry.
    from rumbo.people.models import Person

    for i, person in enumerate(made):
        Person.objects.filter(pk=person.pk).update(
            created_at=datetime(2024, 6, 1, tzinfo=UTC)
            + (NOW - datetime(2024, 6, 1, tzinfo=UTC)) * i / len(made)
        )
    return made


@pytest.mark.parametrize("writer", ["auto", "orm"])
def test_generated_cases_are_what_the_services_would_write(world, persons, writer):
    out = writer_for(writer) if writer == "auto" else OrmWriter()
    stats = cases_generate(cases=15, writer=out, offices=[world.michoacan, world.jalisco], now=NOW, seed=3)
    assert stats.cases == 15 == Case.objects.count()
    assert sum(stats.offices.values()) == 15 and set(stats.offices) <= {"ofam-mich", "ofam-jal"}
    for case in Case.objects.select_related("office"):
        assert re.fullmatch(rf"{case.office.code.upper()}-\d{{4}}-\d{{5}}", case.number)
        assert case.number.split("-")[-2] == str(local_date(case.opened_at, case.office).year)
        assert case.person.office_id == case.office_id
        assert case.needs.exists()
        history = list(CaseStatusChange.objects.filter(case=case).order_by("at", "id"))
        assert history[0].to_status == "open" and history[-1].to_status == case.status
        opened = local_date(case.opened_at, case.office)
        defaults = sorted(
            FollowUpTask.objects.filter(case=case, referral__isnull=True).values_list("due_on", flat=True)
        )
        assert defaults == [add_months(opened, m) for m in (1, 3, 6)]
        assert (case.return_event_id is None) != (case.arrival_event_id is None)
    numbers = list(Case.objects.values_list("number", flat=True))
    assert len(set(numbers)) == len(numbers)
    # Every referral has the person's consent and the history of its status; delivered ones a follow-up.
    for referral in Referral.objects.all():
        assert referral.consent.purpose == "referral" and referral.consent.person_id == referral.person_id
        assert referral.events.order_by("at", "id").first().status == "sent"
        if referral.status == ReferralStatus.DELIVERED:
            task = FollowUpTask.objects.get(referral=referral)
            assert task.due_on == add_months(local_date(referral.delivered_at, referral.case.office), 1)
    assert ReferralEvent.objects.count() >= Referral.objects.count()
    # Done follow-ups have an outcome; open ones none.
    assert not FollowUpTask.objects.filter(done_at__isnull=False, outcome="").exists()
    assert not FollowUpTask.objects.filter(done_at__isnull=True).exclude(outcome="").exists()
    assert ReturnEvent.objects.filter(point__isnull=False).exists()
    # Closing a case closed its open follow-ups (as ``tasks_close_for_case`` does).
    assert not FollowUpTask.objects.filter(case__status="closed", done_at__isnull=True).exists()
    assert CaseNeed.objects.values("case").annotate(n=Count("id")).filter(n=0).count() == 0
    event = AuditEvent.objects.filter(action=Action.DEMO_GENERATE).latest("id")
    assert event.detail["part"] == "cases" and event.detail["cases"] == 15


def test_more_cases_than_persons_give_some_persons_a_second_case(world, persons):
    cases_generate(cases=30, writer=writer_for(), offices=[world.michoacan], now=NOW)
    assert Case.objects.count() == 30
    numbers = list(Case.objects.values_list("number", flat=True))
    assert len(set(numbers)) == 30


def test_a_second_run_continues_the_numbering(world, persons):
    cases_generate(cases=5, writer=writer_for(), offices=[world.michoacan], now=NOW, seed=1)
    cases_generate(cases=5, writer=writer_for(), offices=[world.michoacan], now=NOW, seed=2)
    numbers = list(Case.objects.values_list("number", flat=True))
    assert len(numbers) == 10 == len(set(numbers))
    assert ConsentRecord.objects.filter(purpose="referral").count() <= 10


def test_the_dashboard_reads_the_generated_cases(world, persons):
    import zoneinfo

    from rumbo.cases.selectors_dashboard import dashboard_figures

    cases_generate(cases=15, writer=writer_for(), offices=[world.michoacan], now=NOW)
    board = dashboard_figures(
        user=world.caseworker,
        office_ids={world.michoacan.pk},
        start=datetime(2024, 1, 1).date(),
        end=NOW.date(),
        today=NOW.date(),
        zone=zoneinfo.ZoneInfo("America/Mexico_City"),
    )
    assert board.opened_in_period == 15 and board.needs and board.returns_total + 0 >= 0


def test_rumbo_demo_opens_cases_for_one_person_in_five_and_more_on_request(db):
    from django.core.management import call_command

    call_command("demo", "--demo-persons", "100", "--no-progress", verbosity=0)
    assert Case.objects.count() == 20
    assert set(Case.objects.values_list("office__kind", flat=True)) == {"ofam"}
    assert not Case.objects.filter(assigned_to__isnull=True).exists()  # every demo OFAM has a caseworker
    assert Referral.objects.exists() and FollowUpTask.objects.exists()
    assert AuditEvent.objects.filter(action=Action.DEMO_GENERATE).latest("id").detail["cases"]["cases"] == 20
    call_command("demo", "--cases", "10", "--no-progress", verbosity=0)
    assert Case.objects.count() == 30
