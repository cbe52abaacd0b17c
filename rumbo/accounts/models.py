"""Rumbo's user model: Django's, with the few things an office network needs."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who works in one or more offices. Roles come from memberships, not from Django groups."""

    preferred_language = models.CharField(
        _("preferred language"),
        max_length=8,
        choices=[("es", _("Spanish")), ("en", _("English"))],
        default="es",
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


class ApiToken(models.Model):
    """A user's API token (at most one), kept only as the SHA-256 digest of its key.

    The key is shown to the user once, when created; whoever reads the database (or a backup) cannot use
    the digest to call the API. Keys are random (160 bits), so an unsalted fast hash is enough.
    """

    digest = models.CharField(_("key digest"), max_length=64, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_token"
    )
    # Not auto_now_add: the migration that hashed the clear-text tokens kept their creation dates.
    created = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} — {self.created:%Y-%m-%d}"

    @staticmethod
    def new_key() -> str:
        return secrets.token_hex(20)

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()
