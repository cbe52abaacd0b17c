"""Columns of the rows an import writes in bulk, in the order the writers of ``rumbo.demo.writers`` take
them (multi-row INSERT on SQLite, COPY on PostgreSQL). The people and match-index columns are the demo
generator's (one definition for both bulk writers); only the import's own rows are defined here."""

from __future__ import annotations

from rumbo.demo.generator import (
    ADDRESS_COLUMNS,
    DOCUMENT_COLUMNS,
    LANGUAGE_COLUMNS,
    MATCH_KEY_COLUMNS,
    NATIONALITY_COLUMNS,
    PERSON_COLUMNS,
    PHONE_COLUMNS,
    TOKEN_COLUMNS,
)

__all__ = [
    "ADDRESS_COLUMNS",
    "DOCUMENT_COLUMNS",
    "IMPORT_ROW_COLUMNS",
    "LANGUAGE_COLUMNS",
    "MATCH_KEY_COLUMNS",
    "NATIONALITY_COLUMNS",
    "PERSON_COLUMNS",
    "PHONE_COLUMNS",
    "TOKEN_COLUMNS",
]

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
