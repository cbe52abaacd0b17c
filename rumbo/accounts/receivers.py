"""Audit of authentication events, connected in ``AccountsConfig.ready()``.

Signals are used here (and only here) because these are framework events — Django's login, logout and
failed login, django-axes' lockout — fired from several places (Rumbo's login view, the Django admin's,
the test client), not domain writes.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from rumbo.accounts import selectors
from rumbo.audit.models import Action
from rumbo.audit.services import audit_record

# Session key holding the time (Unix seconds) of the user's last request; see SessionIdleTimeoutMiddleware.
LAST_ACTIVITY_SESSION_KEY = "_rumbo_last_activity"
# Set on the request by code that logs a user out for a reason other than the user's own wish.
LOGOUT_REASON_ATTR = "_rumbo_logout_reason"


def _attempted_username(credentials: dict[str, Any]) -> str:
    """The username typed at the login form (never the password, which Django has already masked)."""
    return str(credentials.get("username") or "")[:150]


def _account(username: str) -> Any:
    """The account a login attempt was aimed at, when it exists (so its owner's trail shows the attempt)."""
    if not username:
        return None
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action=Action.LOGIN, obj=user)
    if request is not None and hasattr(request, "session"):
        request.session[LAST_ACTIVITY_SESSION_KEY] = int(time.time())
        request.session[selectors.ENROLLED_SESSION_KEY] = selectors.has_two_factor(user)


def on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:  # logging out an anonymous session: nothing happened
        return
    reason = getattr(request, LOGOUT_REASON_ATTR, "user")
    audit_record(actor=user, action=Action.LOGOUT, obj=user, detail={"reason": reason})


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = _attempted_username(credentials)
    audit_record(
        actor=None,
        action=Action.LOGIN_FAILED,
        obj=_account(username),
        detail={
            "username": username,
            "stage": "password",
            "locked_out": bool(getattr(request, "axes_locked_out", False)),
        },
    )


def on_locked_out(
    sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any
) -> None:
    username = (username or "")[:150]
    audit_record(
        actor=None,
        action=Action.LOCKOUT,
        obj=_account(username),
        detail={"username": username, "ip_address": kwargs.get("ip_address")},
    )


def connect() -> None:
    """Connect the receivers (idempotent: each has a dispatch uid)."""
    from axes.signals import user_locked_out

    user_logged_in.connect(on_logged_in, dispatch_uid="rumbo.accounts.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="rumbo.accounts.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="rumbo.accounts.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="rumbo.accounts.locked_out")
