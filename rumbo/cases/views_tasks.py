"""Pages of the follow-up: "my tasks", the office's overdue tasks, a case's tasks (the panel of the case
page), and the forms that create, complete and reschedule a task.

Access: anonymous users are sent to log in; a user without ``VIEW_CASE`` anywhere gets 403; a task or case
outside the user's offices is 404; inside them without the right role, 403. Writes need ``CHANGE_CASE``.
Thin views: access helper → form → one service → redirect (or, for htmx, the refreshed panel).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rumbo.cases.forms_tasks import (
    ASSIGNED_CHOICES,
    TaskCompleteForm,
    TaskCreateForm,
    TaskFilterForm,
    TaskRescheduleForm,
)
from rumbo.cases.models import FollowUpTask
from rumbo.cases.selectors_tasks import (
    ASSIGNED_ANY,
    WHEN_ALL,
    WHEN_DONE,
    WHEN_OVERDUE,
    Today,
    case_for_tasks,
    case_tasks,
    task_counts,
    task_get,
    tasks_mine,
    tasks_overdue,
)
from rumbo.cases.services import case_record_view
from rumbo.cases.services.tasks import office_today, task_complete, task_create, task_reschedule
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, member_office_ids, require, require_any

PAGE_SIZE = 25
_CASE_ROUTES = ("cases:case_detail", "cases:detail", "cases:case")


# --- Helpers shared with the dashboard ----------------------------------------------------------------


def is_htmx(request: HttpRequest) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 100_000))
    except ValueError:
        return 1


def case_url(pk: int) -> str:
    """The case page (written by the casework part of the app); its path when the route is not there."""
    for name in _CASE_ROUTES:
        try:
            return reverse(name, args=[pk])
        except NoReverseMatch:
            continue
    return f"/cases/{pk}/"


def safe_next(request: HttpRequest, default: str) -> str:
    value = request.POST.get("next") or request.GET.get("next")
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


def choose_office(
    request: HttpRequest, allowed: frozenset[int] | set[int], *, allow_all: bool = False
) -> tuple[Office | None, list[Office]]:
    """The office a page is about (``?office=<id>``, else the first of ``allowed`` by name) and the offices to
    pick from. ``?office=all`` (when ``allow_all``): None, meaning every allowed office.

    403 when ``allowed`` is empty; 404 for an office that is neither allowed nor one of the user's; 403 for
    one of the user's offices that is not allowed.
    """
    if not allowed:
        raise PermissionDenied
    offices = list(Office.objects.filter(pk__in=allowed).order_by("name", "pk"))
    raw = request.GET.get("office", "")
    if not raw:
        return offices[0], offices
    if raw == "all" and allow_all and len(offices) > 1:
        return None, offices
    try:
        pk = int(raw)
    except ValueError:
        raise Http404 from None
    if pk not in allowed:
        if pk in member_office_ids(request.user):
            raise PermissionDenied
        raise Http404
    return next(o for o in offices if o.pk == pk), offices


def _paginate(request: HttpRequest, qs: Any) -> Page[Any]:
    paginator = Paginator(qs, PAGE_SIZE)
    number = min(page_number(request), max(1, paginator.num_pages))
    return paginator.page(number)


def _annotate(tasks: Sequence[FollowUpTask], today: Today) -> None:
    for task in tasks:
        day = today if isinstance(today, date) else today[task.office_id]
        task.case_link = case_url(task.case_id)  # type: ignore[attr-defined]
        task.is_overdue = task.done_at is None and task.due_on < day  # type: ignore[attr-defined]
        task.is_due_today = task.done_at is None and task.due_on == day  # type: ignore[attr-defined]


def _query(**params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"?{urlencode(clean)}" if clean else ""


def _no_store(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ["HX-Request"])
    response["Cache-Control"] = "no-store"
    return response


# --- Lists --------------------------------------------------------------------------------------------


@login_required
@require_GET
def task_mine(request: HttpRequest) -> HttpResponse:
    """Open tasks assigned to me in every office where I see cases, by due date (filters: overdue, today,
    within a week, done); "today" is each task's office's date."""
    allowed = require_any(request.user, Perm.VIEW_CASE)
    form = TaskFilterForm(request.GET or None)
    when = form.value("when", WHEN_ALL)
    # Each task's "today" is its office's: the user's offices may lie in different time zones.
    today = {office.pk: office_today(office) for office in Office.objects.filter(pk__in=allowed)}
    page = _paginate(request, tasks_mine(user=request.user, today=today, when=when))
    _annotate(list(page.object_list), today)
    counts = task_counts(user=request.user, office_ids=set(allowed), today=today)
    context = {
        "form": form,
        "when": when,
        "page": page,
        "counts": counts,
        "show_office": len(allowed) > 1,
        "page_query": _query(when=when if when != WHEN_ALL else ""),
        "can_change_in": {o for o in allowed if has_perm(request.user, Perm.CHANGE_CASE, o)},
        "here": request.get_full_path(),
        "when_choices": form.fields["when"].choices,  # type: ignore[attr-defined]
    }
    return _no_store(render(request, "cases/tasks/mine.html", context))


@login_required
@require_GET
def task_overdue(request: HttpRequest) -> HttpResponse:
    """The office's overdue tasks, whoever they are assigned to (filter: assigned to anyone, me, nobody)."""
    allowed = require_any(request.user, Perm.VIEW_CASE)
    office, offices = choose_office(request, allowed)
    assert office is not None
    form = TaskFilterForm(request.GET or None)
    assigned = form.value("assigned", ASSIGNED_ANY)
    when = form.value("when", WHEN_OVERDUE)
    if when == WHEN_DONE:
        when = WHEN_OVERDUE
    today = office_today(office)
    qs = tasks_overdue(user=request.user, office_id=office.pk, today=today, assigned=assigned, when=when)
    page = _paginate(request, qs)
    _annotate(list(page.object_list), today)
    office_param = office.pk if len(offices) > 1 else ""
    context = {
        "form": form,
        "office": office,
        "offices": offices,
        "assigned": assigned,
        "when": when,
        "page": page,
        "today": today,
        "page_query": _query(
            office=office_param,
            assigned=assigned if assigned != ASSIGNED_ANY else "",
            when=when if when != WHEN_OVERDUE else "",
        ),
        "can_change": has_perm(request.user, Perm.CHANGE_CASE, office.pk),
        "here": request.get_full_path(),
        "assigned_choices": ASSIGNED_CHOICES,
    }
    return _no_store(render(request, "cases/tasks/overdue.html", context))


# --- A case's tasks -----------------------------------------------------------------------------------


def panel_context(request: HttpRequest, case_pk: int, **extra: Any) -> dict[str, Any]:
    data = case_tasks(user=request.user, pk=case_pk)
    today = office_today(data.case.office)
    _annotate([*data.open, *data.done], today)
    can_change = not data.read_only and has_perm(request.user, Perm.CHANGE_CASE, data.office_id)
    forms: dict[int, Form] = extra.pop("forms", {})
    rows = [
        {
            "task": task,
            "complete": forms.get(task.pk) if isinstance(forms.get(task.pk), TaskCompleteForm) else None,
            "reschedule": forms.get(task.pk) if isinstance(forms.get(task.pk), TaskRescheduleForm) else None,
        }
        for task in data.open
    ]
    return {
        "case": data.case,
        "rows": rows,
        "done": data.done,
        "read_only": data.read_only,
        "office_id": data.office_id,
        "can_change": can_change and not data.case.is_closed,
        "today": today,
        "case_link": case_url(data.case.pk),
        "panel_url": reverse("cases:task_case", args=[data.case.pk]),
        "complete_form": TaskCompleteForm(),
        "create_url": reverse("cases:task_create", args=[data.case.pk]),
        **extra,
    }


@login_required
@require_GET
def task_case(request: HttpRequest, case_pk: int) -> HttpResponse:
    """The tasks of a case: the panel of the case page (htmx) or a page of its own (without JavaScript)."""
    require_any(request.user, Perm.VIEW_CASE)
    context = panel_context(request, case_pk)
    case_record_view(
        actor=request.user,
        case=context["case"],
        past_office_id=context["office_id"] if context["read_only"] else None,
        detail={"page": "tasks"},
    )
    template = "cases/tasks/_panel.html" if is_htmx(request) else "cases/tasks/case.html"
    return _no_store(render(request, template, context))


def _after_write(request: HttpRequest, task: FollowUpTask, message: str) -> HttpResponse:
    if is_htmx(request) and request.POST.get("panel"):
        return _no_store(render(request, "cases/tasks/_panel.html", panel_context(request, task.case_id)))
    messages.success(request, message)
    return redirect(safe_next(request, reverse("cases:task_case", args=[task.case_id])))


def _form_error(request: HttpRequest, task: FollowUpTask, form: Form, title: str) -> HttpResponse:
    """Show ``form`` with its errors: inside the refreshed panel (htmx) or on a page of its own."""
    if is_htmx(request) and request.POST.get("panel"):
        context = panel_context(request, task.case_id, forms={task.pk: form})
        return _no_store(render(request, "cases/tasks/_panel.html", context, status=422))
    context = {
        "task": task,
        "case": task.case,
        "form": form,
        "title": title,
        "action": request.path,
        "next": safe_next(request, ""),
        "case_link": case_url(task.case_id),
    }
    return _no_store(render(request, "cases/tasks/task_form.html", context, status=422))


def _apply(form: Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@login_required
@require_http_methods(["GET", "POST"])
def task_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the outcome of a follow-up (the outcome is required)."""
    require_any(request.user, Perm.VIEW_CASE)
    task = task_get(user=request.user, pk=pk, perm=Perm.CHANGE_CASE)
    title = _("Record the outcome of the follow-up")
    form = TaskCompleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            task = task_complete(
                actor=request.user,
                task=task,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            return _after_write(request, task, _("Follow-up recorded."))
    if request.method == "GET":
        return _no_store(
            render(
                request,
                "cases/tasks/task_form.html",
                {
                    "task": task,
                    "case": task.case,
                    "form": form,
                    "title": title,
                    "action": request.path,
                    "next": safe_next(request, ""),
                    "case_link": case_url(task.case_id),
                },
            )
        )
    return _form_error(request, task, form, title)


@login_required
@require_POST
def task_reschedule_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Move an open follow-up to another date."""
    require_any(request.user, Perm.VIEW_CASE)
    task = task_get(user=request.user, pk=pk, perm=Perm.CHANGE_CASE)
    form = TaskRescheduleForm(request.POST)
    if form.is_valid():
        try:
            task = task_reschedule(actor=request.user, task=task, due_on=form.cleaned_data["due_on"])
        except ValidationError as exc:
            _apply(form, exc)
        else:
            return _after_write(request, task, _("Follow-up moved to %(date)s.") % {"date": task.due_on})
    return _form_error(request, task, form, _("Move the follow-up to another date"))


@login_required
@require_http_methods(["GET", "POST"])
def task_create_view(request: HttpRequest, case_pk: int) -> HttpResponse:
    """Plan a follow-up on a case by hand."""
    require_any(request.user, Perm.VIEW_CASE)
    case, office_id, read_only = case_for_tasks(user=request.user, pk=case_pk, perm=Perm.CHANGE_CASE)
    if read_only:
        raise PermissionDenied
    require(request.user, Perm.CHANGE_CASE, office_id)
    form = TaskCreateForm(request.POST if request.method == "POST" else None, office_id=office_id)
    if request.method == "POST" and form.is_valid():
        try:
            task_create(
                actor=request.user,
                case=case,
                title=form.cleaned_data["title"],
                due_on=form.cleaned_data["due_on"],
                assigned_to=form.cleaned_data["assigned_to"],
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, _("Follow-up planned."))
            return redirect(safe_next(request, reverse("cases:task_case", args=[case.pk])))
    context = {
        "case": case,
        "form": form,
        "title": _("Plan a follow-up"),
        "action": request.path,
        "next": safe_next(request, ""),
        "case_link": case_url(case.pk),
    }
    status = 422 if request.method == "POST" else 200
    return _no_store(render(request, "cases/tasks/task_form.html", context, status=status))
