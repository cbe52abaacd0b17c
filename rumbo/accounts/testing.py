"""Test helpers: log a user in as the browser would end up after the second factor, compute codes, give
API tokens."""

from __future__ import annotations

import hashlib
from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from rumbo.accounts.models import ApiToken
from rumbo.accounts.selectors import ENROLLED_SESSION_KEY, has_two_factor, two_factor_required
from rumbo.offices.permissions import forget


def totp_code(device: TOTPDevice) -> str:
    """The code the user's authenticator app shows now (time_machine moves "now" in tests)."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return str(code).zfill(device.digits)


def enrol_device(user: Any) -> TOTPDevice:
    """A confirmed authenticator device for ``user`` (the user's existing one if there is one)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)


def login_verified(client: Client, user: Any) -> Client:
    """Log ``user`` in on ``client``; when they have or need two-factor authentication, mark the session
    verified with their authenticator device (created if needed), as after a real verification."""
    client.force_login(user)
    needs = two_factor_required(user) or has_two_factor(user)
    forget(user)  # the check above cached memberships on the caller's user object; drop them
    if needs:
        device = enrol_device(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session[ENROLLED_SESSION_KEY] = True
        session.save()
    return client


def api_token_key(user: Any) -> str:
    """A working API token key for ``user``, the same on every call (as DRF's ``Token.get_or_create`` gave).

    Stored keys are digests and cannot be read back, so the test key is derived from the user's id; it
    replaces any token the user had. Tests only: production tokens come from ``api_token_create``.
    """
    key = hashlib.sha256(f"rumbo-test-token:{user.pk}".encode()).hexdigest()[:40]
    ApiToken.objects.update_or_create(user=user, defaults={"digest": ApiToken.digest_of(key)})
    return key
