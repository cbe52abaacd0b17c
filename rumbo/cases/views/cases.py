"""Pages of the case itself: list, open, detail, edit, status, notes.

Access: anonymous users are sent to log in; a user without the permission in any office gets 403; a case
(or person) outside the user's offices is 404, inside them without the right role 403. An office a case was
transferred away from reads it (its own rows only) and cannot change it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from rumbo.cases.forms import (
    AttachmentForm,
    CaseFilterForm,
    CaseForm,
    NoteForm,
    StatusForm,
    add_service_errors,
)
from rumbo.cases.models import CaseStatus, ReturnEvent
from rumbo.cases.selectors import case_detail, case_get, case_list, is_case_number
from rumbo.cases.services import (
    allowed_statuses,
    case_note_add,
    case_open,
    case_record_view,
    case_set_status,
    case_update,
)
from rumbo.offices.permissions import Perm, has_perm, offices_with_perm, require, require_any
from rumbo.people.models import VulnerabilityFlag
from rumbo.people.selectors import person_get
from rumbo.people.services import person_search_record

PAGE_SIZE = 25
MAX_PAGE = 40  # 1,000 cases: the count cap of the list


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), MAX_PAGE))
    except ValueError:
        return 1


@login_required
def case_list_view(request: HttpRequest) -> HttpResponse:
    """The office's cases, newest first, with filters (status, need, priority, assigned to me, opening dates,
    number or person) and pages; a search by person is audited like a person search."""
    require_any(request.user, Perm.VIEW_CASE)
    form = CaseFilterForm(request.GET or None)
    form.is_valid()
    data: dict[str, Any] = getattr(form, "cleaned_data", {}) or {}
    status = data.get("status") or None
    query = (data.get("q") or "").strip()
    opened_from, opened_to = data.get("opened_from"), data.get("opened_to")
    page = case_list(
        user=request.user,
        status=None if status == "transferred" else status,
        transferred=status == "transferred",
        need=data.get("need") or None,
        priority=data.get("priority") or None,
        assigned_to=request.user if data.get("mine") else None,
        q=query or None,
        period=(opened_from, opened_to) if opened_from or opened_to else None,
        page=_page_number(request),
        page_size=PAGE_SIZE,
    )
    if query and not is_case_number(query):  # a search by person: audited like a person search
        person_search_record(actor=request.user, query=query, result_count=page.total, via="cases")
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "cases/list.html",
        {
            "form": form,
            "page": page,
            "filtered": any(v for k, v in data.items()),
            "query_string": params.urlencode(),
            "can_open": bool(offices_with_perm(request.user, Perm.CHANGE_CASE)),
            "show_office": status == "transferred"
            or len(offices_with_perm(request.user, Perm.VIEW_CASE)) > 1,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def case_open_view(request: HttpRequest, person_pk: int) -> HttpResponse:
    """Open a case for a person: household members, needs with notes, priority, the worker."""
    require_any(request.user, Perm.CHANGE_CASE)
    person = person_get(request.user, person_pk)
    require(request.user, Perm.CHANGE_CASE, person.office_id)
    if person.is_anonymised or person.merged_into_id is not None:
        messages.error(request, _("This record can no longer be changed."))
        return redirect("people:detail", pk=person.merged_into_id or person.pk)
    latest_return = ReturnEvent._base_manager.filter(person=person).order_by("-returned_on", "-pk").first()
    initial = {
        "vulnerable": VulnerabilityFlag.objects.filter(person=person).exists(),
        "assigned_to": request.user.pk
        if has_perm(request.user, Perm.CHANGE_CASE, person.office_id)
        else None,
        "return_event": latest_return.pk if latest_return else None,
    }
    form = CaseForm(request.POST if request.method == "POST" else None, person=person, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = case_open(
                actor=request.user,
                person=person,
                members=form.member_persons(),
                needs=form.needs(),
                priority=data["priority"],
                vulnerable=data["vulnerable"],
                summary=data["summary"],
                assigned_to=data.get("assigned_to"),
                return_event=form.return_event_obj(),
                arrival_event=form.arrival_event_obj(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Case %(number)s opened.") % {"number": case.number})
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/form.html", {"form": form, "person": person, "case": None})


@login_required
def case_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything about a case the user may see; every view is audited (``CASE_VIEW``)."""
    require_any(request.user, Perm.VIEW_CASE)
    detail = case_detail(user=request.user, pk=pk)
    view = detail.view
    case = view.case
    case_record_view(actor=request.user, case=case, past_office_id=view.rows_office_id)
    can_change = view.can(Perm.CHANGE_CASE)
    context = {
        "detail": detail,
        "case": case,
        "case_view": view,
        "read_only": view.read_only,
        "rows_office_id": view.rows_office_id,
        "can_change": can_change,
        "can_refer": view.can(Perm.REFER),
        "can_transfer": view.can(Perm.TRANSFER_CASE) and detail.pending_transfer is None,
        "can_withdraw": view.can(Perm.TRANSFER_CASE),
        "person_visible": not view.read_only
        and has_perm(request.user, Perm.VIEW_PERSON, case.person.office_id),
        "allowed_statuses": allowed_statuses(case) if can_change else [],
        "note_form": NoteForm() if can_change else None,
        "attachment_form": AttachmentForm() if can_change else None,
    }
    return render(request, "cases/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def case_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Change intake data, members and the assigned worker (a closed case must be reopened first)."""
    require_any(request.user, Perm.CHANGE_CASE)
    case = case_get(request.user, pk, Perm.CHANGE_CASE)
    if case.status == CaseStatus.CLOSED:
        messages.error(request, _("This case is closed: reopen it before changing it."))
        return redirect("cases:detail", pk=case.pk)
    form = CaseForm(request.POST if request.method == "POST" else None, person=case.person, case=case)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case_update(
                actor=request.user,
                case=case,
                needs=form.needs(),
                priority=data["priority"],
                vulnerable=data["vulnerable"],
                summary=data["summary"],
                members=form.member_persons(),
                return_event=form.return_event_obj() if "return_event" in form.fields else case.return_event,
                arrival_event=form.arrival_event_obj()
                if "arrival_event" in form.fields
                else case.arrival_event,
                assigned_to=data.get("assigned_to"),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/form.html", {"form": form, "person": case.person, "case": case})


@login_required
@require_http_methods(["GET", "POST"])
def case_status_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the case to another status, with the reason (required to close or reopen)."""
    require_any(request.user, Perm.CHANGE_CASE)
    case = case_get(request.user, pk, Perm.CHANGE_CASE)
    form = StatusForm(request.POST if request.method == "POST" else None, allowed=allowed_statuses(case))
    if request.method == "POST" and form.is_valid():
        try:
            case_set_status(
                actor=request.user,
                case=case,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, _("Status changed: %(status)s.") % {"status": case.get_status_display()}
            )
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/status.html", {"form": form, "case": case})


@login_required
@require_http_methods(["GET", "POST"])
def case_note_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Write a note on the case."""
    require_any(request.user, Perm.CHANGE_CASE)
    case = case_get(request.user, pk, Perm.CHANGE_CASE)
    form = NoteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            case_note_add(actor=request.user, case=case, text=form.cleaned_data["text"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Note saved."))
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/note.html", {"form": form, "case": case})
