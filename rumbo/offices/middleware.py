"""Activate the office scope for the whole request, so an unscoped query on office data fails loudly."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_scopes import scope
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from rumbo.offices.permissions import active_memberships, member_office_ids


def _api_token_user(request: HttpRequest) -> Any:
    """The user behind an ``Authorization: Token …`` header; DRF authenticates it again in the view."""
    if not request.headers.get("Authorization", "").startswith("Token "):
        return None
    try:
        result = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]
    except AuthenticationFailed:
        return None
    return result[0] if result else None


class OfficeScopeMiddleware:
    """Scope office-owned models (django-scopes) to the offices where the user holds a role.

    Also activates the time zone of the user's first office so dates show in local time.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # DRF tries the token first, then the session: scope by the same user it will act as.
        token_user = _api_token_user(request)
        user = (
            token_user
            if token_user is not None
            else (request.user if request.user.is_authenticated else None)
        )
        offices = sorted(member_office_ids(user)) if user is not None else []
        memberships = active_memberships(user) if user is not None else []
        if memberships:
            timezone.activate(zoneinfo.ZoneInfo(memberships[0].office.time_zone))
        try:
            with scope(office=offices):
                return self.get_response(request)
        finally:
            timezone.deactivate()
