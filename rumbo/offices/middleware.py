"""Activate the office scope for the whole request, so an unscoped query on office data fails loudly."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_scopes import scope

from rumbo.accounts.authentication import token_user
from rumbo.offices.permissions import active_memberships, member_office_ids


class OfficeScopeMiddleware:
    """Scope office-owned models (django-scopes) to the offices where the user holds a role.

    Also activates the time zone of the user's first office so dates show in local time.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # On the API, DRF tries the token first, then the session: scope by the same user it will act as.
        # Web pages authenticate from the session cookie only.
        api_user = token_user(request) if request.path_info.startswith("/api/") else None
        user = api_user if api_user is not None else (request.user if request.user.is_authenticated else None)
        offices = sorted(member_office_ids(user)) if user is not None else []
        memberships = active_memberships(user) if user is not None else []
        if memberships:
            timezone.activate(zoneinfo.ZoneInfo(memberships[0].office.time_zone))
        try:
            with scope(office=offices):
                return self.get_response(request)
        finally:
            timezone.deactivate()
