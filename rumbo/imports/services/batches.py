"""Upload, mapping and start of an import batch, and its error report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.imports.fields import suggest_mapping, target_label
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.rows import validate_mapping
from rumbo.imports.services.files import check_size, file_kind, read_headers, store_upload, stored_path
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def import_upload(*, actor: Any, office: Office, upload: Any, language: str = "") -> ImportBatch:
    """Store an uploaded CSV or XLSX file and create its batch with a suggested column mapping.

    ``upload`` is a Django ``File``/``UploadedFile`` (``name``, ``size``, ``chunks()``). Needs
    ``IMPORT_PERSONS`` in ``office``. The file type (by name and content), its size (at most
    ``RUMBO_IMPORT_MAX_BYTES``, 20 MB by default) and its header row are checked first; when any check
    fails a ValidationError at ``"file"`` is raised and nothing is kept. The file is stored under
    ``DATA_DIR/imports`` and its SHA-256 recorded; a file imported before may be uploaded again (its rows
    are then found already imported and nothing new is created).
    """
    require(actor, Perm.IMPORT_PERSONS, office.pk)
    name = Path(str(getattr(upload, "name", "") or "")).name[:255]
    kind = file_kind(name)
    check_size(getattr(upload, "size", None))
    relative, sha256, size = store_upload(upload, kind)
    path = stored_path(relative)
    try:
        headers = read_headers(path, kind)
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                office=office,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
                file_name=name,
                file_sha256=sha256,
                file_kind=kind,
                file_size=size,
                stored_path=relative,
                language=(language or get_language() or settings.LANGUAGE_CODE)[:10],
                headers=headers,
                mapping=suggest_mapping(headers),
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return batch


def import_discard(*, actor: Any, batch: ImportBatch) -> None:
    """Remove a batch that has not started (its stored file too), e.g. when the API refused its mapping.
    Needs ``IMPORT_PERSONS``."""
    require(actor, Perm.IMPORT_PERSONS, batch.office_id)
    if batch.status not in (ImportBatch.Status.UPLOADED, ImportBatch.Status.MAPPED):
        raise ValidationError(_("This import has already started."), code="started")
    with transaction.atomic():
        ImportBatch.objects.filter(pk=batch.pk).delete()
        transaction.on_commit(lambda: stored_path(batch.stored_path).unlink(missing_ok=True))


def import_set_mapping(*, actor: Any, batch: ImportBatch, mapping: Sequence[str]) -> ImportBatch:
    """Choose the field each column is imported into ("" for none). Needs ``IMPORT_PERSONS``; only before
    the import starts. ValidationError at ``"mapping"`` when the mapping cannot work (unknown field, a field
    twice, no given names or no surname)."""
    require(actor, Perm.IMPORT_PERSONS, batch.office_id)
    if batch.status not in (ImportBatch.Status.UPLOADED, ImportBatch.Status.MAPPED):
        raise ValidationError({"mapping": [_("This import has already started.")]}, code="started")
    values = validate_mapping(mapping, batch.headers)
    with transaction.atomic():
        batch.mapping = values
        batch.status = ImportBatch.Status.MAPPED
        batch.save(update_fields=["mapping", "status"])
    return batch


def import_start(*, actor: Any, batch: ImportBatch) -> ImportBatch:
    """Queue the import of a mapped batch as a background task (queue "imports"); progress is kept on the
    batch. Needs ``IMPORT_PERSONS``. The task is enqueued once the transaction commits."""
    from rumbo.imports.tasks import import_persons

    require(actor, Perm.IMPORT_PERSONS, batch.office_id)
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != ImportBatch.Status.MAPPED:
            raise ValidationError(_("This import cannot be started: map its columns first."), code="state")
        locked.status = ImportBatch.Status.RUNNING
        locked.error = ""
        locked.save(update_fields=["status", "error"])
        batch_id = locked.pk

        def enqueue() -> None:
            result = import_persons.enqueue(batch_id=batch_id)
            ImportBatch.objects.filter(pk=batch_id).update(task_id=str(result.id)[:64])

        transaction.on_commit(enqueue)
    batch.status = locked.status
    batch.error = ""
    return batch


def _cell(value: Any) -> str:
    """Text of one report cell; a leading formula character is neutralised (spreadsheets would run it)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


ERRORS_HEADER = gettext_lazy("errors")


def import_error_report(*, actor: Any, batch: ImportBatch, via: str = "web") -> list[list[str]]:
    """Rows (header first) of the rows that were not imported: their original columns plus an "errors"
    column ("Field: message; …"). Formula-safe. Needs ``IMPORT_PERSONS``; audited
    (``IMPORT_REPORT_DOWNLOAD``)."""
    require(actor, Perm.IMPORT_PERSONS, batch.office_id)
    header = [*batch.headers, str(ERRORS_HEADER)]
    out = [[_cell(h) for h in header]]
    rows = ImportRow.objects.filter(batch=batch, status=ImportRow.Status.INVALID).order_by("row_number")
    count = 0
    for row in rows.iterator(chunk_size=2000):
        values = list(row.raw) + [""] * (len(batch.headers) - len(row.raw))
        reasons = "; ".join(
            f"{target_label(field)}: {' '.join(messages)}" for field, messages in row.errors.items()
        )
        out.append([_cell(v) for v in values[: len(batch.headers)]] + [_cell(reasons)])
        count += 1
    audit_record(
        actor=actor,
        action=Action.IMPORT_REPORT_DOWNLOAD,
        office=batch.office,
        obj=batch,
        detail={"rows": count, "via": via},
    )
    return out
