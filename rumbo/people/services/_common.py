"""Shared helpers of the people services: names, places, guards (and, re-exported from
``rumbo.lib.validation``, the error collection and text cleaning every app uses)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rumbo.geo.models import AdminArea
from rumbo.lib.validation import SPACES, FieldErrors, clean_text, valid_choice
from rumbo.people.models import (
    Person,
)

#: What an anonymised person's names are replaced with (templates show a translated label instead).
ANONYMISED_NAME = "[anonymised]"
#: What the anonymisation audit event shows instead of the removed values.
REMOVED = "[removed]"

__all__ = [
    "ANONYMISED_NAME",
    "PERSON_FIELDS",
    "REMOVED",
    "SPACES",
    "FieldErrors",
    "admin_area",
    "area_cache",
    "clean_name",
    "clean_text",
    "require_live",
    "valid_choice",
]

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

_HAS_LETTER = re.compile(r"[^\W\d_]")


# --- Validation (shared by every app: ``rumbo.lib.validation``) ---------------------------------------


def clean_name(value: str | None, *, required: bool) -> str:
    text = clean_text(value, 100)
    if required and not text:
        raise ValidationError(_("This field is required."), code="required")
    if text and not _HAS_LETTER.search(text):
        raise ValidationError(_("A name must contain letters."), code="name_letters")
    return text


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
