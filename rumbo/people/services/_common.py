"""Shared helpers of the people services: error collection, text cleaning, guards."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from rumbo.geo.models import AdminArea
from rumbo.people.models import (
    Person,
)

#: What an anonymised person's names are replaced with (templates show a translated label instead).
ANONYMISED_NAME = "[anonymised]"
#: What the anonymisation audit event shows instead of the removed values.
REMOVED = "[removed]"

PERSON_FIELDS = (
    "given_names",
    "first_surname",
    "second_surname",
    "sex",
    "birth_date",
    "birth_date_precision",
    "birth_country",
    "birth_place",
    "email",
    "preferred_language",
)

SPACES = re.compile(r"\s+")
_HAS_LETTER = re.compile(r"[^\W\d_]")


# --- Validation ---------------------------------------------------------------------------------------


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
    text = SPACES.sub(" ", str(value or "")).strip()
    if len(text) > max_length:
        raise ValidationError(
            _("Write at most %(max)d characters."), code="max_length", params={"max": max_length}
        )
    return text


def clean_name(value: str | None, *, required: bool) -> str:
    text = clean_text(value, 100)
    if required and not text:
        raise ValidationError(_("This field is required."), code="required")
    if text and not _HAS_LETTER.search(text):
        raise ValidationError(_("A name must contain letters."), code="name_letters")
    return text


@cache
def _choice_values(choices: type[models.TextChoices]) -> frozenset[str]:
    return frozenset(choices.values)  # ``.values`` builds a new list on every access


def valid_choice(value: str, choices: type[models.TextChoices], message: Any) -> str:
    if value not in _choice_values(choices):
        raise ValidationError(message, code="invalid_choice")
    return value


# Inside ``area_cache()`` each area is looked up once: bulk validation (imports) checks the same few
# thousand areas again and again. Areas are reference data that do not change while such a job runs.
_AREA_CACHE: ContextVar[dict[int, AdminArea | None] | None] = ContextVar("rumbo_area_cache", default=None)


@contextmanager
def area_cache() -> Iterator[None]:
    """Within this block :func:`admin_area` queries each area once (per thread or task)."""
    token = _AREA_CACHE.set({})
    try:
        yield
    finally:
        _AREA_CACHE.reset(token)


def admin_area(area_id: int | None, country: str | None = None) -> AdminArea | None:
    if area_id is None:
        return None
    cache = _AREA_CACHE.get()
    if cache is not None and area_id in cache:
        area = cache[area_id]
    else:
        area = AdminArea.objects.filter(pk=area_id).first()
        if cache is not None:
            cache[area_id] = area
    if area is None:
        raise ValidationError(_("Choose a valid place."), code="area")
    if country and area.country != country:
        raise ValidationError(_("This place is not in the country chosen."), code="area_country")
    return area


def require_live(person: Person) -> None:
    """Refuse changes to anonymised or merged records (read from the database: ``person`` may be stale)."""
    anonymised_at, merged_into_id = (
        Person.objects.filter(pk=person.pk).values_list("anonymised_at", "merged_into_id").get()
    )
    if anonymised_at is not None:
        raise ValidationError(_("This person was anonymised and cannot be changed."), code="anonymised")
    if merged_into_id is not None:
        raise ValidationError(
            _("This record was merged into another one; change the surviving record."), code="merged"
        )
