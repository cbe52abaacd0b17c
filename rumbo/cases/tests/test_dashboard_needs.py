"""The dashboard's count of needs reads each need's copy of its case's office and opening time: the copies
must stay equal to the cases' through every write (opening, changing the needs, closing and reopening,
transfers, anonymising the person; and the demo generator's bulk writes), and the figures must equal a count
made live from the cases."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db.models import Count, F, Q

from rumbo.cases.demo import cases_generate
from rumbo.cases.models import Case, CaseNeed, CaseStatus
from rumbo.cases.selectors_dashboard import dashboard_figures
from rumbo.cases.services import (
    case_set_status,
    case_transfer_decide,
    case_transfer_request,
    case_update,
)
from rumbo.cases.tests import task_helpers as h
from rumbo.cases.tests.casework_utils import make_family, open_case
from rumbo.demo.writers import OrmWriter, writer_for
from rumbo.people.services import person_anonymise

MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")


def _stale_copies() -> list[tuple[int, str]]:
    """Needs whose copy of the office or opening time differs from their case's."""
    return list(
        CaseNeed.objects.filter(~Q(office_id=F("case__office_id")) | ~Q(opened_at=F("case__opened_at")))
        .values_list("case_id", "need")
        .order_by("case_id", "need")
    )


def _live_needs(office_ids: set[int], start: date, end: date) -> dict[str, int]:
    """The needs of the cases opened in [start, end] (Mexico City days), counted from the cases."""
    start_at = datetime.combine(start, datetime.min.time(), tzinfo=MEXICO)
    end_at = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=MEXICO)
    return dict(
        CaseNeed.objects.filter(
            case__office_id__in=office_ids, case__opened_at__gte=start_at, case__opened_at__lt=end_at
        )
        .values_list("need")
        .annotate(n=Count("id"))
        .order_by()
    )


def _board_needs(user: Any, office_ids: set[int], start: date, end: date) -> dict[str, int]:
    board = dashboard_figures(user=user, office_ids=office_ids, start=start, end=end, today=end, zone=MEXICO)
    assert board.cases_with_needs == sum(r.count for r in board.needs)
    return {r.key: r.count for r in board.needs}


def _writes(world: Any) -> dict[str, Case]:
    """Cases opened on three days of March 2026 (one just before midnight in Mexico City), whose needs are
    then changed, closed and reopened, transferred to Jalisco, and whose person is anonymised."""
    worker = world.caseworker
    with time_machine.travel(datetime(2026, 3, 2, 17, tzinfo=UTC), tick=False):
        first = open_case(worker, make_family(worker, world.michoacan, surname="Uno").parent)
    with time_machine.travel(datetime(2026, 3, 11, 5, 59, tzinfo=UTC), tick=False):  # 10 March, 23:59
        moving = open_case(
            worker, make_family(worker, world.michoacan, surname="Dos").parent, needs=("work", "housing")
        )
    with time_machine.travel(datetime(2026, 3, 16, 18, tzinfo=UTC), tick=False):
        changed = open_case(worker, make_family(worker, world.michoacan, surname="Tres").parent)
        jalisco = open_case(
            world.jalisco_caseworker,
            make_family(world.jalisco_caseworker, world.jalisco, surname="Cuatro").parent,
            needs=("documents",),
        )
    with time_machine.travel(datetime(2026, 3, 17, 18, tzinfo=UTC), tick=False):
        # Needs added, kept (with a new note) and removed.
        case_update(actor=worker, case=changed, needs={"documents": "CURP", "schooling": "", "legal": ""})
        case_set_status(actor=worker, case=first, status=CaseStatus.CLOSED, reason="Done.")
        case_set_status(actor=worker, case=first, status=CaseStatus.REOPENED, reason="Back.")
        case_update(actor=worker, case=first, needs={"health": "", "psychosocial": ""})
        transfer = case_transfer_request(
            actor=worker, case=moving, to_office=world.jalisco, reason="The family moved to Guadalajara."
        )
        case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True)
        moving.refresh_from_db()
        # The receiving office changes the needs of the case it received.
        case_update(actor=world.jalisco_caseworker, case=moving, needs={"work": "", "financial": ""})
        person_anonymise(actor=world.admin, person=changed.person, reason="Asked to be forgotten.")
    return {"first": first, "moving": moving, "changed": changed, "jalisco": jalisco}


def test_the_needs_copies_follow_their_case_through_every_write(world):
    cases = _writes(world)
    assert _stale_copies() == []
    moving = CaseNeed.objects.filter(case=cases["moving"])
    assert {(n.need, n.office_id) for n in moving} == {
        ("work", world.jalisco.pk),
        ("financial", world.jalisco.pk),
    }
    assert set(CaseNeed.objects.filter(case=cases["changed"]).values_list("need", flat=True)) == {
        "documents",
        "schooling",
        "legal",
    }


def test_the_dashboards_needs_equal_a_live_count_of_the_cases(world):
    _writes(world)
    mich, jal = world.michoacan.pk, world.jalisco.pk
    for office_ids, user in (({mich}, world.caseworker), ({jal}, world.jalisco_caseworker)):
        for start, end in (
            (date(2026, 3, 1), date(2026, 3, 31)),
            (date(2026, 3, 1), date(2026, 3, 10)),  # the case opened at 23:59 on 10 March is in
            (date(2026, 3, 11), date(2026, 3, 31)),  # … and not here
            (date(2026, 3, 16), date(2026, 3, 16)),
            (date(2026, 1, 1), date(2026, 12, 31)),
            (date(2026, 2, 1), date(2026, 2, 28)),  # nothing
        ):
            assert _board_needs(user, office_ids, start, end) == _live_needs(office_ids, start, end)
    # The coordinator's sum of both offices, and the figures themselves for one period.
    march = (date(2026, 3, 1), date(2026, 3, 31))
    assert _board_needs(world.coordinator, {mich, jal}, *march) == _live_needs({mich, jal}, *march)
    assert _board_needs(world.caseworker, {mich}, *march) == {
        "health": 1,
        "psychosocial": 1,
        "documents": 1,
        "schooling": 1,
        "legal": 1,
    }
    assert _board_needs(world.jalisco_caseworker, {jal}, date(2026, 3, 10), date(2026, 3, 10)) == {
        "work": 1,
        "financial": 1,
    }


@pytest.mark.parametrize("writer", ["auto", "orm"])
def test_the_demo_generator_writes_the_copies_too(world, writer):
    for _ in range(6):
        h.person(world.caseworker, world.michoacan)
        h.person(world.jalisco_caseworker, world.jalisco)
    out = writer_for(writer) if writer == "auto" else OrmWriter()
    cases_generate(cases=8, writer=out, offices=[world.michoacan, world.jalisco], seed=5)
    assert CaseNeed.objects.exists()
    assert _stale_copies() == []
