"""Reads about the acting user's own account: two-factor policy and devices, API token."""

from __future__ import annotations

from typing import Any

from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from rumbo.accounts.models import ApiToken
from rumbo.offices.permissions import Perm, active_memberships, offices_with_perm

# Session key caching "this user has a confirmed second factor", set at login and on enrol/disable,
# so the two-factor middleware does not query the device tables on every request.
ENROLLED_SESSION_KEY = "_rumbo_2fa_enrolled"


def two_factor_required(user: Any) -> bool:
    """Whether ``user`` must use two-factor authentication.

    Required for platform staff and superusers, for office administrators (whoever may manage an office's
    members: the permission map says who that is) and for every member of an office that requires it for
    everyone. Optional for everybody else.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff or user.is_superuser:
        return True
    if offices_with_perm(user, Perm.MANAGE_MEMBERS):
        return True
    return any(m.office.require_two_factor for m in active_memberships(user))


def totp_device(user: Any, *, confirmed: bool = True) -> TOTPDevice | None:
    """The user's (confirmed or pending) authenticator-app device, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("-id").first()


def backup_device(user: Any) -> StaticDevice | None:
    """The user's backup-code device, if any."""
    return StaticDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def backup_codes_left(user: Any) -> int:
    """How many unused backup codes the user still has."""
    device = backup_device(user)
    return device.token_set.count() if device is not None else 0


def has_two_factor(user: Any) -> bool:
    """Whether the user has enrolled a confirmed authenticator app."""
    return totp_device(user) is not None


def confirmed_devices(user: Any) -> list[Device]:
    """Every confirmed device of the user (authenticator app and backup codes)."""
    return list(devices_for_user(user, confirmed=True))


def api_token(user: Any) -> ApiToken | None:
    """The user's API token (at most one per user; only its digest and date are kept), if any."""
    return ApiToken.objects.filter(user=user).first()


def pending_two_factor_step(request: Any) -> str | None:
    """What the logged-in user of ``request`` still has to do before using Rumbo: ``"enrol"``, ``"verify"``
    or nothing (``None``).

    A user who must use two-factor authentication and has no device enrols; a user with a device (required
    or chosen) verifies a code once per session.
    """
    user = request.user
    # ``otp_device`` is set by django-otp's middleware (and by django_otp.login); a user object that
    # django.contrib.auth.login() just put on the request has none yet, i.e. is not verified.
    if not user.is_authenticated or getattr(user, "otp_device", None) is not None:
        return None
    enrolled = request.session.get(ENROLLED_SESSION_KEY)
    if enrolled is None:
        enrolled = has_two_factor(user)
        request.session[ENROLLED_SESSION_KEY] = enrolled
    if enrolled:
        return "verify"
    if two_factor_required(user):
        return "enrol"
    return None
