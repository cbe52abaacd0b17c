"""Pages of the procedures tracker: start a procedure for a case, see its checklist, mark steps done.

Access as for referrals: reading needs ``VIEW_CASE``, changing needs ``CHANGE_CASE`` in the case's office;
outside the user's offices, 404. The case page shows ``cases/procedures/_case_panel.html`` (its data come from
:func:`procedure_panel_context` through the ``cases_referrals`` template tags).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rumbo.cases.forms_referrals import ProcedureStartForm, ProcedureStepForm
from rumbo.cases.models import Procedure, ProcedureKind
from rumbo.cases.selectors_referrals import (
    CaseReadAccess,
    ProcedureProgress,
    case_for_change,
    procedure_get,
    procedure_step_get,
    procedures_for_case,
)
from rumbo.cases.services import case_record_view
from rumbo.cases.services.procedures import procedure_start, procedure_step_update
from rumbo.cases.services.tasks import office_today
from rumbo.cases.views_referrals import case_url
from rumbo.offices.forms import apply_service_errors
from rumbo.offices.permissions import Perm, has_perm, require_any


def procedure_panel_context(user: Any, access: CaseReadAccess) -> dict[str, Any]:
    """What ``cases/procedures/_case_panel.html`` needs, under ``procedure_panel``."""
    case = access.case
    can_change = access.full and has_perm(user, Perm.CHANGE_CASE, case.office_id)
    has_kinds = ProcedureKind._base_manager.filter(office_id=case.office_id, is_active=True).exists()
    return {
        "procedure_panel": {
            "case": case,
            "procedures": procedures_for_case(access),
            "can_start": can_change and not case.is_closed and has_kinds,
            "can_change": can_change,
            "partial": not access.full,
        }
    }


@login_required
@require_http_methods(["GET", "POST"])
def procedure_start_view(request: HttpRequest, case_pk: int) -> HttpResponse:
    """Start a procedure of one of the office's types for the case: its steps are copied with due dates."""
    require_any(request.user, Perm.CHANGE_CASE)
    case = case_for_change(request.user, case_pk, Perm.CHANGE_CASE)
    form = ProcedureStartForm(request.POST or None, office_id=case.office_id)
    if request.method == "POST" and form.is_valid():
        try:
            procedure = procedure_start(actor=request.user, case=case, kind=form.cleaned_data["kind"])
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Procedure started."))
            return redirect("cases:procedure_detail", pk=procedure.pk)
    return render(
        request, "cases/procedures/start.html", {"case": case, "case_url": case_url(case), "form": form}
    )


def _detail(
    request: HttpRequest, progress: ProcedureProgress, bound: ProcedureStepForm | None = None
) -> HttpResponse:
    procedure = progress.procedure
    can_change = (
        has_perm(request.user, Perm.CHANGE_CASE, procedure.case.office_id)
        and procedure.status != Procedure.Status.ABANDONED
    )
    rows = []
    for step in progress.steps:
        form = None
        if can_change:
            form = (
                bound
                if bound is not None and bound.prefix == f"step-{step.pk}"
                else ProcedureStepForm(step=step)
            )
        rows.append((step, form))
    return render(
        request,
        "cases/procedures/detail.html",
        {
            "progress": progress,
            "procedure": procedure,
            "rows": rows,
            "case_url": case_url(procedure.case),
            "today": office_today(procedure.case.office),
        },
    )


@login_required
@require_GET
def procedure_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A procedure's checklist: steps, documents, due and done dates, progress."""
    require_any(request.user, Perm.VIEW_CASE)
    progress = procedure_get(request.user, pk)
    procedure = progress.procedure
    past = None if has_perm(request.user, Perm.VIEW_CASE, procedure.case.office_id) else procedure.office_id
    case_record_view(
        actor=request.user,
        case=procedure.case,
        past_office_id=past,
        detail={"page": "procedure", "procedure": procedure.pk},
    )
    return _detail(request, progress)


@login_required
@require_POST
def procedure_step_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a step done (with its date) or not done, with a note."""
    require_any(request.user, Perm.CHANGE_CASE)
    step = procedure_step_get(request.user, pk, Perm.CHANGE_CASE)
    form = ProcedureStepForm(request.POST, prefix=f"step-{step.pk}")
    if form.is_valid():
        try:
            procedure_step_update(
                actor=request.user,
                step=step,
                done_on=form.cleaned_data["done_on"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Step updated."))
            return redirect("cases:procedure_detail", pk=step.procedure_id)
    return _detail(request, procedure_get(request.user, step.procedure_id, Perm.CHANGE_CASE), form)
