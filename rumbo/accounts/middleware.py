"""Session idle timeout and two-factor enforcement, for every request after authentication."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_htmx.http import HttpResponseClientRedirect

from rumbo.accounts.authentication import token_user
from rumbo.accounts.receivers import LAST_ACTIVITY_SESSION_KEY, LOGOUT_REASON_ATTR
from rumbo.accounts.selectors import pending_two_factor_step

# Pages a user who still owes a second factor may reach: the login flow itself and what any page needs.
TWO_FACTOR_EXEMPT_VIEWS = frozenset(
    {
        "accounts:login",
        "accounts:logout",
        "accounts:two_factor_enrol",
        "accounts:two_factor_verify",
        "set_language",
        "healthz",
    }
)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect that also works for htmx requests (which would otherwise swap the target page in)."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def _with_next(request: HttpRequest, url: str) -> str:
    """``url?next=<this page>`` for page views, so the user comes back where they were."""
    if request.method != "GET" or getattr(request, "htmx", False):
        return url
    return f"{url}?{urlencode({'next': request.get_full_path()})}"


class SessionIdleTimeoutMiddleware:
    """End a logged-in session after ``settings.SESSION_IDLE_MINUTES`` without a request.

    The time of the last request is kept in the session. A session idle for longer is flushed (audited
    as a logout with reason ``idle``) and the user is sent to the login page with a message saying why.
    API calls with an expired session simply continue unauthenticated (and get DRF's 401/403).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            idle_minutes = int(settings.SESSION_IDLE_MINUTES)
            last = request.session.get(LAST_ACTIVITY_SESSION_KEY)
            if isinstance(last, int) and now - last > idle_minutes * 60:
                setattr(request, LOGOUT_REASON_ATTR, "idle")
                logout(request)
                if not _is_api(request):
                    messages.warning(
                        request,
                        ngettext(
                            "Your session ended after %(minutes)d minute without activity. "
                            "Please log in again.",
                            "Your session ended after %(minutes)d minutes without activity. "
                            "Please log in again.",
                            idle_minutes,
                        )
                        % {"minutes": idle_minutes},
                    )
                    return _redirect(request, _with_next(request, reverse(settings.LOGIN_URL)))
            else:
                request.session[LAST_ACTIVITY_SESSION_KEY] = now
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Keep a logged-in user who owes a second factor on the enrolment or verification page.

    Who owes one is decided by :func:`rumbo.accounts.selectors.pending_two_factor_step`. The login flow,
    static files, the language switch and the health check stay reachable. API requests that carry a
    valid API token act as the token's user and are not concerned (a token can only be created from a
    verified session); API requests riding on an unverified session get a JSON 403. Web pages always
    authenticate from the session cookie, so a token header never exempts them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.user.is_authenticated
            and not (_is_api(request) and token_user(request) is not None)
            and not self._exempt(request)
        ):
            step = pending_two_factor_step(request)
            if step is not None:
                if _is_api(request):
                    return JsonResponse(
                        {
                            "error": {
                                "code": "two_factor_required",
                                "message": _("Complete two-factor authentication in the browser first."),
                                "fields": {},
                            }
                        },
                        status=403,
                    )
                url = reverse(
                    "accounts:two_factor_enrol" if step == "enrol" else "accounts:two_factor_verify"
                )
                return _redirect(request, _with_next(request, url))
        return self.get_response(request)

    @staticmethod
    def _exempt(request: HttpRequest) -> bool:
        if settings.STATIC_URL and request.path_info.startswith(str(settings.STATIC_URL)):
            return True
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return True  # let the 404 page answer
        return match.view_name in TWO_FACTOR_EXEMPT_VIEWS
