"""Tests of the case services: opening with a number per office, members and needs, status transitions and
history, notes, assignment, audit; the numbering under concurrency."""

from __future__ import annotations

import datetime
import threading

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django_scopes import scopes_disabled

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import Case, CaseNeed, CaseNote, CaseStatus, CaseStatusChange, FollowUpTask
from rumbo.cases.services import (
    case_assign,
    case_note_add,
    case_open,
    case_set_status,
    case_update,
    next_case_number,
)
from rumbo.cases.services.cases import format_number, number_prefix
from rumbo.cases.tests.casework_utils import make_family, open_case
from rumbo.people.tests.utils import make_person


@pytest.fixture
def family(world):
    return make_family(world.caseworker, world.michoacan)


# --- Opening --------------------------------------------------------------------------------------------


@time_machine.travel(datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC), tick=False)
def test_open_case_numbers_per_office_and_year(world, family):
    first = open_case(world.caseworker, family.parent, members=family.children)
    second = open_case(world.caseworker, family.children[0])
    jalisco_person = make_person(world.jalisco_caseworker, world.jalisco, given_names="Pedro", documents=[])
    other_office = open_case(world.jalisco_caseworker, jalisco_person)
    assert first.number == "OFAM-MICH-2026-00001"
    assert second.number == "OFAM-MICH-2026-00002"
    assert other_office.number == "OFAM-JAL-2026-00001"
    assert first.office == world.michoacan
    assert sorted(first.members.values_list("pk", flat=True)) == sorted(c.pk for c in family.children)
    assert dict(CaseNeed.objects.filter(case=first).values_list("need", "note")) == {
        "health": "IMSS",
        "documents": "",
    }
    history = list(CaseStatusChange.objects.filter(case=first).values_list("from_status", "to_status"))
    assert history == [("", CaseStatus.OPEN)]
    event = AuditEvent.objects.get(action=Action.CASE_OPEN, object_id=str(first.pk))
    assert event.office_id == world.michoacan.pk
    assert event.detail["number"] == first.number
    assert sorted(event.detail["members"]) == sorted(c.pk for c in family.children)


def test_sequence_continues_from_the_highest_number_of_the_year(world):
    prefix = number_prefix(world.michoacan, 2026)
    assert prefix == "OFAM-MICH-2026-"
    assert next_case_number(world.michoacan, 2026) == "OFAM-MICH-2026-00001"
    person = make_person(world.caseworker, world.michoacan)
    for number in (
        "OFAM-MICH-2026-00007",
        "OFAM-MICH-2026-00041",
        "OFAM-MICH-2025-00900",
        "OFAM-JAL-2026-00099",
    ):
        Case.objects.create(office=world.michoacan, number=number, person=person)
    assert next_case_number(world.michoacan, 2026) == "OFAM-MICH-2026-00042"
    assert next_case_number(world.michoacan, 2025) == "OFAM-MICH-2025-00901"
    assert next_case_number(world.michoacan, 2027) == "OFAM-MICH-2027-00001"


def test_sequence_past_five_digits_is_numeric_not_alphabetical(world):
    person = make_person(world.caseworker, world.michoacan)
    prefix = number_prefix(world.michoacan, 2026)
    for sequence in (99_998, 99_999, 100_000, 100_001):
        Case.objects.create(office=world.michoacan, number=format_number(prefix, sequence), person=person)
    # "…-100001" sorts below "…-99999" as text: the maximum must be found numerically.
    assert next_case_number(world.michoacan, 2026) == "OFAM-MICH-2026-100002"


def test_a_number_taken_meanwhile_is_skipped(world, family, monkeypatch):
    """A clash with a number written without the lock (an import, another process) takes the next one."""
    from rumbo.cases.services import cases as case_services

    taken = open_case(world.caseworker, family.parent)
    calls = []
    real = case_services.next_case_number

    def stale_then_real(office, year):
        calls.append(year)
        return taken.number if len(calls) == 1 else real(office, year)

    monkeypatch.setattr(case_services, "next_case_number", stale_then_real)
    case = open_case(world.caseworker, family.children[0])
    assert case.number != taken.number
    assert len(calls) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_openings_get_distinct_numbers(world):
    """Eight threads open cases at the same office at once: every number is distinct and consecutive."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every writer anyway)")
    persons = [
        make_person(
            world.caseworker, world.michoacan, given_names=f"Ana {chr(65 + i)}", documents=[], phones=[]
        )
        for i in range(8)
    ]
    barrier = threading.Barrier(len(persons))
    errors: list[BaseException] = []

    def worker(person):
        try:
            with scopes_disabled():
                barrier.wait(timeout=10)
                case_open(actor=world.caseworker, person=person, needs={"work": ""})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in persons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    numbers = sorted(Case.objects.filter(office=world.michoacan).values_list("number", flat=True))
    year = numbers[0].split("-")[2]
    assert numbers == [f"OFAM-MICH-{year}-{i:05d}" for i in range(1, 9)]


def test_members_must_be_household_of_the_same_office(world, family):
    stranger = make_person(world.caseworker, world.michoacan, given_names="Rosa", documents=[], phones=[])
    with pytest.raises(ValidationError) as exc:
        open_case(world.caseworker, family.parent, members=[family.children[0], stranger])
    assert "members" in exc.value.message_dict
    assert "link them first" in exc.value.message_dict["members"][0]
    assert not Case.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.CASE_OPEN).exists()


def test_unknown_need_priority_and_worker_are_refused_at_their_field(world, family):
    with pytest.raises(ValidationError) as exc:
        open_case(
            world.caseworker,
            family.parent,
            needs={"teleportation": ""},
            priority="whenever",
            assigned_to=world.jalisco_caseworker,
        )
    assert set(exc.value.message_dict) == {"needs", "priority", "assigned_to"}
    assert not Case.objects.exists()


def test_only_caseworkers_of_the_office_open_cases(world, family):
    for user in (world.auditor, world.trainer, world.no_role, world.jalisco_caseworker):
        with pytest.raises(PermissionDenied):
            open_case(user, family.parent)
    assert not Case.objects.exists()


def test_case_opens_default_followups_when_the_followup_module_is_there(world, family):
    case = open_case(world.caseworker, family.parent, assigned_to=world.caseworker)
    try:
        import rumbo.cases.services.tasks  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("the follow-up module is not there yet")
    assert FollowUpTask.objects.filter(case=case).count() == 3


# --- Changing -------------------------------------------------------------------------------------------


def test_status_transitions_and_history(world, family):
    case = open_case(world.caseworker, family.parent)
    case_set_status(actor=world.caseworker, case=case, status=CaseStatus.FOLLOW_UP)
    with pytest.raises(ValidationError) as exc:
        case_set_status(actor=world.caseworker, case=case, status=CaseStatus.CLOSED, reason="")
    assert "reason" in exc.value.message_dict
    case_set_status(actor=world.caseworker, case=case, status=CaseStatus.CLOSED, reason="Services received.")
    assert case.status == CaseStatus.CLOSED and case.closed_at is not None
    with pytest.raises(ValidationError) as exc:
        case_set_status(actor=world.caseworker, case=case, status=CaseStatus.FOLLOW_UP, reason="x")
    assert "status" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        case_set_status(actor=world.caseworker, case=case, status=CaseStatus.REOPENED)
    assert "reason" in exc.value.message_dict
    case_set_status(actor=world.caseworker, case=case, status=CaseStatus.REOPENED, reason="Lost the job.")
    assert case.closed_at is None
    history = list(
        CaseStatusChange.objects.filter(case=case)
        .order_by("at", "pk")
        .values_list("from_status", "to_status", "reason")
    )
    assert history == [
        ("", "open", ""),
        ("open", "follow_up", ""),
        ("follow_up", "closed", "Services received."),
        ("closed", "reopened", "Lost the job."),
    ]
    assert AuditEvent.objects.filter(action=Action.CASE_STATUS, object_id=str(case.pk)).count() == 3


def test_update_replaces_needs_and_members_and_audits_a_diff(world, family):
    case = open_case(world.caseworker, family.parent, members=family.children)
    case_update(
        actor=world.caseworker,
        case=case,
        needs={"schooling": "Revalidation for Mateo"},
        priority="high",
        members=family.children[:1],
    )
    assert set(CaseNeed.objects.filter(case=case).values_list("need", flat=True)) == {"schooling"}
    assert list(case.members.values_list("pk", flat=True)) == [family.children[0].pk]
    assert case.priority == "high"
    event = AuditEvent.objects.get(action=Action.CASE_UPDATE, object_id=str(case.pk))
    assert event.changes["priority"] == {"old": "normal", "new": "high"}
    assert event.changes["needs"]["new"] == ["schooling"]


def test_a_closed_case_must_be_reopened_before_changes_but_takes_notes(world, family):
    case = open_case(world.caseworker, family.parent)
    case_set_status(actor=world.caseworker, case=case, status=CaseStatus.CLOSED, reason="Done")
    with pytest.raises(ValidationError):
        case_update(actor=world.caseworker, case=case, priority="low")
    note = case_note_add(actor=world.caseworker, case=case, text="Called: all well.")
    assert note.office == world.michoacan
    event = AuditEvent.objects.get(action=Action.CASE_NOTE)
    assert "Called" not in str(event.detail)  # the text stays out of the trail


def test_empty_note_is_refused_at_the_field(world, family):
    case = open_case(world.caseworker, family.parent)
    with pytest.raises(ValidationError) as exc:
        case_note_add(actor=world.caseworker, case=case, text="   ")
    assert "text" in exc.value.message_dict
    assert not CaseNote.objects.exists()


def test_assign_only_to_a_worker_of_the_office(world, family):
    case = open_case(world.caseworker, family.parent)
    case_assign(actor=world.caseworker, case=case, assigned_to=world.admin)
    assert case.assigned_to == world.admin
    for wrong in (world.auditor, world.jalisco_caseworker):
        with pytest.raises(ValidationError) as exc:
            case_assign(actor=world.caseworker, case=case, assigned_to=wrong)
        assert "assigned_to" in exc.value.message_dict
    case.refresh_from_db()
    assert case.assigned_to == world.admin


def test_update_changes_the_worker_in_the_same_step(world, family):
    case = open_case(world.caseworker, family.parent, assigned_to=world.caseworker)
    with pytest.raises(ValidationError) as exc:
        case_update(actor=world.caseworker, case=case, priority="high", assigned_to=world.auditor)
    assert "assigned_to" in exc.value.message_dict
    case.refresh_from_db()
    assert case.priority == "normal"  # nothing saved
    case_update(actor=world.caseworker, case=case, assigned_to=world.admin)
    assert case.assigned_to == world.admin
    event = AuditEvent.objects.get(action=Action.CASE_UPDATE)
    assert event.changes == {"assigned_to": {"old": world.caseworker.pk, "new": world.admin.pk}}
