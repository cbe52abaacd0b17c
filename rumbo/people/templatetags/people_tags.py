"""Template filters of the person registry: names, approximate dates, countries and languages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from rumbo.people import validators
from rumbo.people.models import DatePrecision
from rumbo.people.services._common import REMOVED

register = template.Library()


@register.filter
def person_name(person: Any) -> str:
    """The person's full name, or "Anonymised person #id"."""
    if person is None:
        return ""
    if getattr(person, "anonymised_at", None) is not None:
        return _("Anonymised person #%(id)s") % {"id": person.pk}
    return str(person.full_name)


@register.filter
def removed_text(value: Any) -> str:
    """A text, or a translated label when it was removed with the data of an anonymised person (stored as
    :data:`~rumbo.people.services._common.REMOVED`)."""
    if value == REMOVED:
        return _("(removed with the person's data)")
    return "" if value is None else str(value)


@register.filter
def birth_date(person: Any) -> str:
    """The date of birth with only its known parts ("March 1985", "1985", "about 1985")."""
    value = getattr(person, "birth_date", None)
    if value is None:
        return _("Not recorded")
    precision = getattr(person, "birth_date_precision", DatePrecision.EXACT)
    if precision == DatePrecision.MONTH:
        return date_format(value, "YEAR_MONTH_FORMAT")
    if precision == DatePrecision.YEAR:
        return str(value.year)
    if precision == DatePrecision.ESTIMATED:
        return _("about %(year)s (estimated)") % {"year": value.year}
    return date_format(value, "DATE_FORMAT")


@register.filter
def country_name(code: str) -> str:
    return validators.country_name(code) if code else ""


@register.filter
def language_name(code: str) -> str:
    return validators.language_name(code) if code else ""


@register.filter
def percent(value: float) -> str:
    """0.873 → "87 %" (never 100 % unless certain, never 0 % unless impossible)."""
    pct = float(value) * 100
    shown = round(pct)
    if shown == 100 and pct < 100:
        shown = 99
    if shown == 0 and pct > 0:
        return "<1 %"
    return f"{shown} %"


@register.filter
def evidence_field(field: str) -> str:
    """The translated name of a compared field ("given_names" → "Given names")."""
    from rumbo.matching.model import COMPARISONS

    return next((str(spec.label) for spec in COMPARISONS if spec.field == field), field)


@register.filter
def curp_flag_labels(flags: list[str]) -> str:
    """ "date of birth, sex" for ["birth_date", "sex"]."""
    return ", ".join(validators.curp_flag_labels(flags or []))


@register.filter
def phone(e164: str) -> str:
    """An E.164 number written for people: "+52 443 123 4567"."""
    import phonenumbers

    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164
