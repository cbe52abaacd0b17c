"""Tests of the procedure pages: permission matrix, starting from a case, the checklist, marking steps, the
case panel with progress."""

from __future__ import annotations

import datetime
from datetime import UTC

import pytest
import time_machine
from django.urls import reverse

from rumbo.cases.models import Procedure, ProcedureStep
from rumbo.cases.tests.referral_support import client, scenario

NOW = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
PERSONAS = ("no_role", "caseworker", "admin", "auditor", "coordinator", "trainer", "jalisco_caseworker")


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def s(world):
    return scenario(world)


MATRIX = [
    ("cases:procedure_start", "case", "get", (403, 200, 200, 403, 403, 403, 404)),
    ("cases:procedure_detail", "procedure", "get", (403, 200, 200, 200, 403, 403, 404)),
    ("cases:procedure_step", "step", "post", (403, 302, 302, 403, 403, 403, 404)),
]


@pytest.mark.parametrize(("route", "obj", "method", "expected"), MATRIX)
def test_permission_matrix(world, s, route, obj, method, expected):
    url = reverse(route, args=[getattr(s, obj).pk])
    anonymous = getattr(client(world, "anonymous"), method)(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for persona, status in zip(PERSONAS, expected, strict=True):
        response = getattr(client(world, persona), method)(url)
        assert response.status_code == status, (route, persona, response.status_code)


def test_start_from_the_case(world, s):
    c = client(world, "caseworker")
    response = c.post(reverse("cases:procedure_start", args=[s.case.pk]), {"kind": s.kind.pk})
    procedure = Procedure.objects.exclude(pk=s.procedure.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:procedure_detail", args=[procedure.pk])
    assert procedure.steps.count() == 2


def test_checklist_and_marking_a_step(world, s):
    c = client(world, "caseworker")
    detail = reverse("cases:procedure_detail", args=[s.procedure.pk])
    page = c.get(detail).content.decode()
    assert "0 of 2 steps done" in page and "Reunir constancias" in page and "Boletas" in page
    prefix = f"step-{s.step.pk}"
    bad = c.post(reverse("cases:procedure_step", args=[s.step.pk]), {f"{prefix}-done_on": "2026-03-09"})
    assert bad.status_code == 200
    assert "The date cannot be in the future." in bad.content.decode()
    ok = c.post(
        reverse("cases:procedure_step", args=[s.step.pk]),
        {f"{prefix}-done_on": "2026-03-01", f"{prefix}-note": "Entregadas"},
        follow=True,
    )
    assert "1 of 2 steps done" in ok.content.decode()
    step = ProcedureStep.objects.get(pk=s.step.pk)
    assert step.done_on == datetime.date(2026, 3, 1) and step.note == "Entregadas"


def test_auditor_reads_the_checklist_without_forms(world, s):
    page = (
        client(world, "auditor")
        .get(reverse("cases:procedure_detail", args=[s.procedure.pk]))
        .content.decode()
    )
    assert "Reunir constancias" in page
    assert reverse("cases:procedure_step", args=[s.step.pk]) not in page


def test_case_page_shows_the_procedure_panel_with_progress(world, s):
    page = client(world, "caseworker").get(reverse("cases:detail", args=[s.case.pk])).content.decode()
    assert 'id="h-procedures"' in page
    assert "0 of 2 steps done" in page
    assert "Next: Reunir constancias" in page
    assert reverse("cases:procedure_start", args=[s.case.pk]) in page


def test_start_page_without_types(world):
    from rumbo.cases.tests.referral_support import open_case, returnee

    case = open_case(world, returnee(world))
    page = client(world, "caseworker").get(reverse("cases:procedure_start", args=[case.pk])).content.decode()
    assert "This office has no procedure types yet." in page


def test_the_checklist_is_audited_as_a_case_view(world, s):
    from rumbo.audit.models import Action, AuditEvent

    response = client(world, "auditor").get(reverse("cases:procedure_detail", args=[s.procedure.pk]))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action=Action.CASE_VIEW, actor=world.auditor)
    assert (event.object_type, event.object_id) == ("cases.case", str(s.case.pk))
    assert event.office_id == world.michoacan.pk and event.detail["procedure"] == s.procedure.pk
