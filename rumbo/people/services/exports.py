"""Controlled export of persons: only with the export permission, only the user's offices, capped, and every
exported person gets an audit event (so "who has seen this record" lists the export)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record_each
from rumbo.offices.permissions import Perm, require_any
from rumbo.people.models import DocumentKind, Person
from rumbo.people.selectors import SEARCH_CAP, person_search

EXPORT_LIMIT = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """Text of one cell; a leading formula character is neutralised so spreadsheets do not execute it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _too_many(limit: int) -> ValidationError:
    return ValidationError(
        _("More than %(limit)s persons match: narrow the search to export them.") % {"limit": f"{limit:,}"},
        code="too_many",
    )


def export_header() -> list[str]:
    return [
        _("Id"),
        _("Office"),
        _("Given names"),
        _("First surname"),
        _("Second surname"),
        _("Sex"),
        _("Date of birth"),
        _("CURP"),
        _("Phone"),
        _("Email"),
        _("Nationalities"),
    ]


def person_export(*, actor: Any, query: str = "") -> list[list[str]]:
    """Rows (header first) of the persons the actor may export, optionally those matching ``query``.

    Without a query: every live person of the offices where the actor holds ``people.export_person``. With
    one: the search results within those offices. Never cut short: more than ``EXPORT_LIMIT`` persons (or a
    search beyond ``SEARCH_CAP`` results) is a ValidationError asking for a narrower search, and nothing is
    exported or audited. Raises PermissionDenied when the actor may export from no office.
    """
    offices = require_any(actor, Perm.EXPORT_PERSON)
    base = Person.objects.filter(office_id__in=offices, merged_into__isnull=True, anonymised_at__isnull=True)
    if query:
        found = person_search(actor, query, page=1, page_size=SEARCH_CAP)
        if found.capped:
            raise _too_many(SEARCH_CAP)
        base = base.filter(pk__in=[p.pk for p in found.persons])
    persons = list(
        base.select_related("office")
        .prefetch_related("documents", "phones", "nationalities")
        .order_by("pk")[: EXPORT_LIMIT + 1]
    )
    if len(persons) > EXPORT_LIMIT:
        raise _too_many(EXPORT_LIMIT)
    rows = [export_header()]
    for p in persons:
        curp = next((d.number for d in p.documents.all() if d.kind == DocumentKind.CURP), "")
        phone = next((ph.e164 for ph in p.phones.all()), "")
        rows.append(
            [
                _cell(v)
                for v in (
                    p.pk,
                    p.office.name,
                    p.given_names,
                    p.first_surname,
                    p.second_surname,
                    p.sex,
                    p.birth_date.isoformat() if isinstance(p.birth_date, date) else "",
                    curp,
                    phone,
                    p.email,
                    " ".join(n.country for n in p.nationalities.all()),
                )
            ]
        )
    with transaction.atomic():
        audit_record_each(
            actor=actor,
            action=Action.PERSON_EXPORT,
            objects=persons,
            detail={"query": query, "rows": len(persons), "format": "csv"},
        )
    return rows
