"""The audit trail and the "who has seen this record" page, for auditors and office administrators.

Both pages are read-only (GET only) and reading them is itself audited (Action.AUDIT_VIEW).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from rumbo.audit import selectors
from rumbo.audit.forms import AuditFilterForm
from rumbo.audit.models import Action, AuditEvent
from rumbo.audit.services import audit_record
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require_any

PAGE_SIZE = 50
# Higher page numbers show the last page number allowed (empty): an unbounded number overflows the SQL
# OFFSET (a 500). Five million events back is further than anyone pages; the date filters reach older ones.
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page:
    """A page of events without a total count: counting a large trail on every page view is too slow."""

    events: list[AuditEvent]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _page(qs: QuerySet[AuditEvent], request: HttpRequest) -> Page:
    try:
        number = min(max(1, int(request.GET.get("page", "1"))), MAX_PAGE)
    except ValueError:
        number = 1
    start = (number - 1) * PAGE_SIZE
    rows = list(qs[start : start + PAGE_SIZE + 1])
    return Page(events=rows[:PAGE_SIZE], number=number, has_next=len(rows) > PAGE_SIZE)


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    """The audit trail of the offices the user audits, filtered and paginated."""
    office_ids = require_any(request.user, Perm.VIEW_AUDIT)
    offices = list(Office.objects.filter(pk__in=office_ids).order_by("name"))
    form = AuditFilterForm(request.GET or None, offices=offices)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = form.cleaned_data
    events = selectors.audit_events_for_user(request.user, filters)
    if form.is_bound and not form.is_valid():
        events = events.none()  # show the errors at their fields, not a list the user did not ask for
    page = _page(events, request)
    audited_office: Any = filters.get("office_id") or (offices[0].pk if len(offices) == 1 else None)
    audit_record(
        actor=request.user,
        action=Action.AUDIT_VIEW,
        office=Office.objects.filter(pk=audited_office).first() if audited_office else None,
        detail={"page": page.number, "filters": {k: v for k, v in filters.items() if v}},
    )
    return render(
        request,
        "audit/list.html",
        {"form": form, "page": page, "querystring": _query_without_page(request)},
    )


@login_required
@require_GET
def person_log(request: HttpRequest, person_id: int) -> HttpResponse:
    """Who has seen or changed one person's record: actor, time, IP and request id of every access."""
    log = selectors.person_access_log(request.user, person_id)
    page = _page(log.events, request)
    audit_record(
        actor=request.user,
        action=Action.AUDIT_VIEW,
        office=log.person.office,
        obj=log.person,
        detail={"page": page.number, "view": "person_access_log"},
    )
    return render(
        request,
        "audit/person.html",
        {"person": log.person, "page": page, "querystring": _query_without_page(request)},
    )
