"""Uploaded files: type and size checks, storage under ``settings.DATA_DIR / "imports"``, opening them again.

Files are never kept under a web-served folder (``static``/``media``): they hold personal data and are
only read back by the import itself, which removes them once it is done.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rumbo.imports.models import ImportBatch
from rumbo.imports.reader import FileError, Sheet

#: Largest file accepted (bytes); ``RUMBO_IMPORT_MAX_BYTES`` in the settings changes it.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
EXTENSIONS = {".csv": ImportBatch.Kind.CSV, ".xlsx": ImportBatch.Kind.XLSX}


def max_bytes() -> int:
    return int(getattr(settings, "RUMBO_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def imports_dir() -> Path:
    """Where uploaded files are kept (created on first use, readable by the owner only)."""
    folder = Path(settings.DATA_DIR) / "imports"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def stored_path(relative: str) -> Path:
    """Absolute path of a stored file (``relative`` as kept in ``ImportBatch.stored_path``)."""
    return imports_dir() / relative


def stored_file(batch: ImportBatch) -> Path:
    return stored_path(batch.stored_path)


def file_kind(name: str) -> str:
    """The kind of an uploaded file from its name, or a ValidationError at "file"."""
    kind = EXTENSIONS.get(Path(name or "").suffix.lower())
    if kind is None:
        raise ValidationError({"file": [_("Upload a .csv or .xlsx file.")]}, code="file_type")
    return kind


def check_size(size: int | None) -> None:
    if not size:
        raise ValidationError({"file": [_("The file is empty.")]}, code="file_empty")
    limit = max_bytes()
    if size > limit:
        raise ValidationError(
            {"file": [_("The file is too large: at most %(max)s MB.") % {"max": f"{limit / 1024 / 1024:g}"}]},
            code="file_size",
        )


def store_upload(upload: Any, kind: str) -> tuple[str, str, int]:
    """Copy the upload into the imports folder; (relative path, sha256, size). The copy is removed again
    if it is larger than allowed (a client may lie about the size)."""
    relative = f"{uuid.uuid4().hex}.{kind}"
    path = imports_dir() / relative
    digest = hashlib.sha256()
    size = 0
    limit = max_bytes()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(upload, "seek"):
                upload.seek(0)
            for chunk in (
                upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(65536), b"")
            ):
                size += len(chunk)
                if size > limit:
                    break
                digest.update(chunk)
                out.write(chunk)
        check_size(size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return relative, digest.hexdigest(), size


def read_headers(path: Path, kind: str) -> list[str]:
    """The header row of a stored file, or a ValidationError at "file" (the file is then removed)."""
    try:
        headers, rows = Sheet(path, kind).read(limit=1)
        if next(rows, None) is None:
            raise FileError(_("The file is empty: it needs a header row and at least one row of data."))
    except FileError as exc:
        path.unlink(missing_ok=True)
        raise ValidationError({"file": [exc.message]}, code="file_content") from exc
    return headers
