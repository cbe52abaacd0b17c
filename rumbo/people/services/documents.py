"""Adding and removing identity documents."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.offices.permissions import Perm, require
from rumbo.people.data import (
    DocumentData,
)
from rumbo.people.models import (
    Document,
    Person,
)
from rumbo.people.search import reindex_person
from rumbo.people.services._common import (
    FieldErrors,
    require_live,
)
from rumbo.people.services.cleaning import clean_document
from rumbo.people.services.rows import document_values


def document_add(*, actor: Any, person: Person, data: DocumentData) -> Document:
    """Add one identity document to ``person`` (validated; a CURP is cross-checked and flagged).

    Needs ``CHANGE_PERSON``. The same document (kind and number) twice is an error at ``number``.
    Audits ``DOCUMENT_ADD`` on the person with the new document as the diff.
    """
    require(actor, Perm.CHANGE_PERSON, person.office_id)
    require_live(person)
    errors = FieldErrors()
    clean = clean_document(data, errors, "doc")
    errors.raise_if_any()
    values = document_values(person, clean)
    if Document.objects.filter(
        person=person, kind=clean.kind, number_normalized=values["number_normalized"]
    ).exists():
        raise ValidationError({"number": [_("This person already has this document.")]})
    with transaction.atomic():
        document = Document.objects.create(person=person, **values)
        reindex_person(person)
        audit_record(
            actor=actor,
            action=Action.DOCUMENT_ADD,
            office=person.office,
            obj=person,
            changes={"documents": {"old": None, "new": _doc_summary(document)}},
            detail={"document_id": document.pk},
        )
    return document


def _doc_summary(document: Document) -> dict[str, Any]:
    return {"kind": document.kind, "number": document.number, "flags": list(document.flags)}


def document_remove(*, actor: Any, document: Document) -> None:
    """Remove one document from its person (``CHANGE_PERSON``); audits ``DOCUMENT_REMOVE`` with the old
    value."""
    person = document.person
    require(actor, Perm.CHANGE_PERSON, person.office_id)
    require_live(person)
    with transaction.atomic():
        summary, pk = _doc_summary(document), document.pk
        document.delete()
        reindex_person(person)
        audit_record(
            actor=actor,
            action=Action.DOCUMENT_REMOVE,
            office=person.office,
            obj=person,
            changes={"documents": {"old": summary, "new": None}},
            detail={"document_id": pk},
        )
