"""Writes to the person registry; import them from here. Every function validates first, runs in one
transaction, keeps the search tokens current and leaves an audit event with a field-level diff.

Validation errors are raised as one :class:`django.core.exceptions.ValidationError` whose keys name the
field that caused them; child rows use dotted paths ("phones.1.number", "documents.0.number"), which
:func:`rumbo.people.validators.error_tree` turns into the nested shape of DRF.

**CURP that disagrees with the person** (decision): saving is *not* blocked, because the person in front of
the caseworker and the CURP on paper are both evidence and either may be wrong. The CURP ``Document`` row's
``flags`` lists the disagreeing fields ("birth_date", "sex", "name", "birth_state", see
:func:`rumbo.people.validators.curp_inconsistencies`); flags are recomputed whenever the person or the
document changes. The form warns before saving and the detail page shows a badge ("CURP disagrees with: date
of birth, sex"). A CURP with a wrong format or check digit *is* a blocking error at the field.
"""

from __future__ import annotations

from rumbo.people.data import (
    AddressData,
    AliasData,
    DocumentData,
    PersonData,
    PhoneData,
    VulnerabilityData,
)
from rumbo.people.services._common import ANONYMISED_NAME
from rumbo.people.services.cleaning import person_data_clean
from rumbo.people.services.consent import consent_record, consent_text_sha256
from rumbo.people.services.documents import document_add, document_remove
from rumbo.people.services.exports import person_export
from rumbo.people.services.household import household_link, household_unlink
from rumbo.people.services.merge import person_merge, person_unmerge
from rumbo.people.services.persons import (
    person_anonymise,
    person_create,
    person_list_record,
    person_record_view,
    person_search_record,
    person_update,
)
from rumbo.people.services.rows import person_data_curp_flags, person_data_from, person_snapshot

__all__ = [
    "ANONYMISED_NAME",
    "AddressData",
    "AliasData",
    "DocumentData",
    "PersonData",
    "PhoneData",
    "VulnerabilityData",
    "consent_record",
    "consent_text_sha256",
    "document_add",
    "document_remove",
    "household_link",
    "household_unlink",
    "person_anonymise",
    "person_create",
    "person_data_clean",
    "person_data_curp_flags",
    "person_data_from",
    "person_export",
    "person_list_record",
    "person_merge",
    "person_record_view",
    "person_search_record",
    "person_snapshot",
    "person_unmerge",
    "person_update",
]
