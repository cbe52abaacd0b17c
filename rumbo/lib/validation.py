"""Validation helpers every app's services share: collect field errors, clean free text, check a choice.

Services validate everything before saving and report every bad field at once, keyed by field, so a form
or an API answer shows each message at the field that caused it (see ``docs/architecture.md``, Writes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

SPACES = re.compile(r"\s+")


class FieldErrors:
    """Collects field errors so one ValidationError reports every bad field at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[Any]] = {}

    def add(self, key: str, message: Any) -> None:
        self.errors.setdefault(key, []).append(message)

    def check(self, key: str, func: Callable[[], Any]) -> Any:
        """Run ``func``; on ValidationError record its messages under ``key`` and return None."""
        try:
            return func()
        except ValidationError as exc:
            for message in exc.messages:
                self.add(key, message)
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def clean_text(value: str | None, max_length: int) -> str:
    """``value`` with runs of white space made one space and trimmed; refused when longer than
    ``max_length``."""
    text = value if type(value) is str else str(value or "")
    # Printable text has no white space but the plain space: without a run of it there is nothing to collapse.
    if not text.isprintable() or "  " in text:
        text = SPACES.sub(" ", text)
    text = text.strip()
    if len(text) > max_length:
        raise ValidationError(
            _("Write at most %(max)d characters."), code="max_length", params={"max": max_length}
        )
    return text


@cache
def _choice_values(choices: type[models.TextChoices]) -> frozenset[str]:
    return frozenset(choices.values)  # ``.values`` builds a new list on every access


def valid_choice(value: str, choices: type[models.TextChoices], message: Any) -> str:
    """``value`` when it is one of ``choices``, else a ValidationError with ``message``."""
    if value not in _choice_values(choices):
        raise ValidationError(message, code="invalid_choice")
    return value
