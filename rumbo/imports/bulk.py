"""Columns of the rows an import writes in bulk, in the order the writers of ``rumbo.demo.writers`` take
them (multi-row INSERT on SQLite, COPY on PostgreSQL). They are the rows ``person_create`` writes for a
person: the person, its nationalities, languages, documents, phones, addresses and search tokens."""

from __future__ import annotations

PERSON_COLUMNS = (
    "id",
    "office_id",
    "given_names",
    "first_surname",
    "second_surname",
    "sex",
    "birth_date",
    "birth_date_precision",
    "birth_country",
    "birth_place_id",
    "email",
    "preferred_language",
    "created_at",
    "updated_at",
    "created_by_id",
    "anonymised_at",
    "merged_into_id",
)
NATIONALITY_COLUMNS = ("person_id", "country")
LANGUAGE_COLUMNS = ("person_id", "code")
DOCUMENT_COLUMNS = (
    "person_id",
    "kind",
    "number",
    "number_normalized",
    "issuing_country",
    "issued_on",
    "expires_on",
    "flags",
    "created_at",
)
PHONE_COLUMNS = ("person_id", "e164", "kind", "whatsapp", "is_primary")
ADDRESS_COLUMNS = ("person_id", "country", "admin_area_id", "text", "lat", "lon", "is_current", "recorded_at")
TOKEN_COLUMNS = ("token", "person_id", "office_id", "kind", "sig")
MATCH_KEY_COLUMNS = ("key", "office_id", "person_id")
IMPORT_ROW_COLUMNS = (
    "batch_id",
    "office_id",
    "row_number",
    "status",
    "row_sha256",
    "errors",
    "raw",
    "person_id",
    "candidates",
)
