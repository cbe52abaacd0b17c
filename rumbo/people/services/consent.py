"""Consent as data: each grant or withdrawal against the hash of the exact text shown."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.offices.permissions import Perm, require
from rumbo.people.models import (
    ConsentPurpose,
    ConsentRecord,
    Person,
)
from rumbo.people.services._common import (
    FieldErrors,
    clean_text,
    require_live,
    valid_choice,
)


def consent_text_sha256(text: str) -> str:
    """SHA-256 (hex) of the consent text exactly as shown, encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def consent_record(
    *,
    actor: Any,
    person: Person,
    purpose: str,
    status: str,
    method: str,
    text: str,
    text_version: str,
    given_by: str = "",
) -> ConsentRecord:
    """Record that consent for ``purpose`` was given or withdrawn, against the exact ``text`` shown.

    Needs ``CHANGE_PERSON``. Stores the SHA-256 of ``text`` (not the text), so a later reader can prove which
    wording was agreed to. ``given_by`` is required when the method is "proxy". A withdrawal is a new row;
    rows are never edited. Audits ``CONSENT_RECORD``.
    """
    require(actor, Perm.CHANGE_PERSON, person.office_id)
    require_live(person)
    errors = FieldErrors()
    errors.check("purpose", lambda: valid_choice(purpose, ConsentPurpose, _("Choose a valid purpose.")))
    errors.check("status", lambda: valid_choice(status, ConsentRecord.Status, _("Choose a valid option.")))
    errors.check("method", lambda: valid_choice(method, ConsentRecord.Method, _("Choose a valid option.")))
    if not text or not text.strip():
        errors.add("text", _("The consent text shown to the person is required."))
    given_by = errors.check("given_by", lambda: clean_text(given_by, 200)) or ""
    if method == ConsentRecord.Method.PROXY and not given_by:
        errors.add("given_by", _("Write who gave consent on the person's behalf."))
    version = errors.check("text_version", lambda: clean_text(text_version, 40)) or ""
    errors.raise_if_any()
    with transaction.atomic():
        record = ConsentRecord.objects.create(
            person=person,
            purpose=purpose,
            status=status,
            method=method,
            given_by=given_by,
            text_version=version,
            text_sha256=consent_text_sha256(text),
            recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action=Action.CONSENT_RECORD,
            office=person.office,
            obj=person,
            changes={f"consent.{purpose}": {"old": None, "new": status}},
            detail={
                "consent_id": record.pk,
                "method": method,
                "text_version": version,
                "text_sha256": record.text_sha256,
            },
        )
    return record
