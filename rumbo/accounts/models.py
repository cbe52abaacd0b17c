"""Rumbo's user model: Django's, with the few things an office network needs."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
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
