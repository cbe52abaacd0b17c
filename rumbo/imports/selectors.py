"""Reads of the imports app, always for an acting user: batches of the offices where the user may import
persons; another office's batch is 404, the user's own office without the permission 403."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from rumbo.imports.fields import target_label
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.reader import FileError, Sheet
from rumbo.imports.rows import BuiltRow, RowBuilder
from rumbo.imports.services.files import stored_file
from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require, require_any

PREVIEW_ROWS = 10


def batch_queryset(user: Any) -> QuerySet[ImportBatch]:
    """Batches of the offices where ``user`` may import persons, newest first."""
    return ImportBatch.objects.filter(
        office_id__in=offices_with_perm(user, Perm.IMPORT_PERSONS)
    ).select_related("office", "created_by")


def batch_get(user: Any, pk: int) -> ImportBatch:
    """One batch: 403 when the user may import persons nowhere; else 404 outside the user's offices and 403
    inside them without ``IMPORT_PERSONS``."""
    require_any(user, Perm.IMPORT_PERSONS)
    batch = get_object_or_404(
        ImportBatch.objects.select_related("office", "created_by"),
        pk=pk,
        office_id__in=member_office_ids(user),
    )
    require(user, Perm.IMPORT_PERSONS, batch.office_id)
    return batch


def batch_rows(batch: ImportBatch, statuses: Sequence[str]) -> QuerySet[ImportRow]:
    """Rows of a (permission-checked) batch with one of ``statuses``, in file order."""
    return ImportRow.objects.filter(batch=batch, status__in=list(statuses)).order_by("row_number")


@dataclass
class PreviewRow:
    """One row as it would be imported: the values per field and the errors per field."""

    number: int
    values: list[tuple[str, str]]  # (field label, value as it will be stored)
    errors: list[tuple[str, list[str]]]  # (field label, messages)


def _shown(built: BuiltRow) -> list[tuple[str, str]]:
    data = built.clean or built.data
    values = [
        ("given_names", data.given_names),
        ("first_surname", data.first_surname),
        ("second_surname", data.second_surname),
        ("sex", data.sex if data.sex != "U" else ""),
        ("birth_date", data.birth_date.isoformat() if data.birth_date else ""),
        ("email", data.email),
        ("nationality", ", ".join(data.nationalities)),
        ("language", ", ".join(data.languages)),
    ]
    values += [(doc.kind, doc.number) for doc in data.documents]
    values += [("phone", phone.number) for phone in data.phones]
    values += [("address", a.text or str(a.admin_area_id or "")) for a in data.addresses]
    return [(target_label(k), v) for k, v in values if v]


def batch_preview(
    batch: ImportBatch, mapping: Sequence[str], *, limit: int = PREVIEW_ROWS
) -> tuple[list[PreviewRow], str]:
    """The first rows of a (permission-checked) batch's file as ``mapping`` would import them, validated;
    and a file error ("" when the file could be read)."""
    try:
        headers, rows = Sheet(stored_file(batch), batch.file_kind).read(limit=limit)
        sample = list(rows)
    except (FileError, OSError) as exc:
        return [], str(getattr(exc, "message", exc))
    sex_index = next((i for i, t in enumerate(mapping) if t == "sex"), None)
    builder = RowBuilder(
        headers,
        mapping,
        region=batch.office.country or "MX",
        sex_values=[str(r.values[sex_index] or "") for r in sample] if sex_index is not None else (),
    )
    out: list[PreviewRow] = []
    for row in sample:
        built = builder.validate(builder.build(row.number, row.values))
        out.append(
            PreviewRow(
                number=row.number,
                values=_shown(built),
                errors=[(target_label(k), v) for k, v in built.errors.items()],
            )
        )
    return out, ""
