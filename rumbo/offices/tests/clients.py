"""Test clients for the UI: logged in *and* past the second factor, since office administrators must use
one. The device is real (django-otp's TOTP device) and the session holds it as the verified device, which
is what django-otp's middleware reads on every request."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def signed_in(user: Any | None, language: str = "en") -> Client:
    """A client for ``user`` with a verified second factor; ``None`` gives an anonymous client.

    Pages are asked for in English (the source language), so assertions on text do not depend on the
    Spanish catalogue."""
    client = Client(headers={"Accept-Language": language})
    if user is None:
        return client
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test authenticator", confirmed=True
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def persona(world: Any, name: str) -> Any:
    """A persona of the ``world`` fixture by attribute name; ``"anonymous"`` is None."""
    return None if name == "anonymous" else getattr(world, name)
