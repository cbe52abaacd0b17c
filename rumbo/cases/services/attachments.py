"""Files attached to a case: checked by content and size, stored outside every web-served folder, written
atomically, every download audited.

Files live under ``settings.DATA_DIR / "attachments" / <office id> / <first 2 hex of the SHA-256> /``, never
under ``static`` or ``media``: they hold personal data and are only served by a view that checks the user's
access. An upload is written to a temporary file, checked, then renamed into place; on any error (too large,
wrong type, database failure) the temporary file and the placed file are removed and no row is left.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.models import Attachment, Case
from rumbo.lib.validation import FieldErrors, clean_text
from rumbo.offices.permissions import Perm, require

#: Largest file accepted (bytes); ``RUMBO_ATTACHMENT_MAX_BYTES`` in the settings changes it.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"

#: Extension of the stored (and downloaded) file for each accepted type.
EXTENSION = {PDF: "pdf", JPEG: "jpg", PNG: "png", DOCX: "docx", ODT: "odt"}
#: File-name extensions accepted at upload (the content decides the type).
ACCEPTED_SUFFIXES = frozenset({".pdf", ".jpg", ".jpeg", ".png", ".docx", ".odt"})
_ODT_MIMETYPE = b"mimetypeapplication/vnd.oasis.opendocument.text"
NAME_MAX = Attachment._meta.get_field("original_name").max_length or 255
TITLE_MAX = Attachment._meta.get_field("title").max_length or 200


def fit_name(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` characters, keeping a short extension (``acta…x.pdf``): the name stays
    recognisable and its type visible. A name with no such extension is simply cut."""
    if len(name) <= limit:
        return name
    suffix = Path(name).suffix
    if suffix and len(suffix) <= 10 < limit:
        return name[: limit - len(suffix)] + suffix
    return name[:limit]


def max_bytes() -> int:
    return int(getattr(settings, "RUMBO_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def attachments_dir() -> Path:
    """Where attachments are kept (created on first use, readable by the owner only)."""
    folder = Path(settings.DATA_DIR) / "attachments"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def stored_file(attachment: Attachment) -> Path:
    """Absolute path of an attachment's file; refuses a stored path that leaves the attachments folder."""
    root = attachments_dir().resolve()
    path = (root / attachment.stored_path).resolve()
    if root not in path.parents:
        raise ValueError("attachment path outside the attachments folder")
    return path


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".rstrip("0").rstrip(".")


def _too_large(size: int | None) -> ValidationError:
    limit = _megabytes(max_bytes())
    if size:
        message = _("The file is too large: %(size)s MB, the limit is %(limit)s MB.") % {
            "size": _megabytes(size),
            "limit": limit,
        }
    else:
        message = _("The file is too large: the limit is %(limit)s MB.") % {"limit": limit}
    return ValidationError({"file": [message]}, code="file_size")


def _not_accepted(what: str) -> ValidationError:
    return ValidationError(
        {
            "file": [
                _(
                    "This file type is not accepted: %(what)s. Upload a PDF, JPEG or PNG image, "
                    "Word (.docx) or OpenDocument text (.odt) file."
                )
                % {"what": what}
            ]
        },
        code="file_type",
    )


def detect_type(path: Path) -> str | None:
    """The content type of the file at ``path`` from its content (magic numbers; for DOCX and ODT, the
    ZIP's table of contents), or None when it is none of the accepted types. Macro-enabled Word files are
    refused."""
    with path.open("rb") as fh:
        head = fh.read(128)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        # ODF: the first entry is an uncompressed "mimetype" file (ODF 1.2, section 3.3).
        if head[30:].startswith(_ODT_MIMETYPE) and "content.xml" in names:
            return ODT
        if (
            "[Content_Types].xml" in names
            and "word/document.xml" in names
            and "word/vbaProject.bin" not in names
        ):
            return DOCX
    return None


def _write_temp(upload: Any, folder: Path) -> tuple[Path, str, int]:
    """Copy the upload to a new temporary file in ``folder``: (path, sha256, size). Stops and removes the
    copy as soon as it is larger than allowed (a client may lie about the size)."""
    path = folder / f"{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    limit = max_bytes()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(upload, "seek"):
                upload.seek(0)
            chunks = (
                upload.chunks(_CHUNK) if hasattr(upload, "chunks") else iter(lambda: upload.read(_CHUNK), b"")
            )
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    declared = getattr(upload, "size", None)
                    raise _too_large(declared if isinstance(declared, int) and declared > limit else None)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise ValidationError({"file": [_("The file is empty.")]}, code="file_empty")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def attachment_add(*, actor: Any, case: Case, upload: Any, title: str = "") -> Attachment:
    """Attach ``upload`` (a Django ``UploadedFile`` or any object with ``name`` and ``read``) to ``case``.

    Accepted: PDF, JPEG, PNG, DOCX and ODT, recognised by their content (the name must also end in one of
    their extensions); at most ``RUMBO_ATTACHMENT_MAX_BYTES`` (10 MB by default). Errors are reported at
    "file" (and "title") and leave nothing behind. Needs ``CHANGE_CASE``. Audits ``ATTACHMENT_ADD``.
    """
    require(actor, Perm.CHANGE_CASE, case.office_id)
    original = fit_name(Path(str(getattr(upload, "name", "") or "")).name, NAME_MAX)
    errors = FieldErrors()
    title = errors.check("title", lambda: clean_text(title, TITLE_MAX)) or ""
    suffix = Path(original).suffix.lower()
    if not original:
        errors.add("file", _("Choose a file."))
    elif suffix not in ACCEPTED_SUFFIXES:
        errors.errors.setdefault("file", []).extend(_not_accepted(suffix or original).message_dict["file"])
    declared = getattr(upload, "size", None)
    if isinstance(declared, int) and declared > max_bytes() and "file" not in errors.errors:
        errors.errors.setdefault("file", []).extend(_too_large(declared).message_dict["file"])
    errors.raise_if_any()
    root = attachments_dir()
    temp_dir = root / "tmp"
    temp_dir.mkdir(exist_ok=True, mode=0o700)
    temp, sha256, size = _write_temp(upload, temp_dir)
    final: Path | None = None
    try:
        content_type = detect_type(temp)
        if content_type is None:
            raise _not_accepted(
                str(
                    _("the content of “%(name)s” is not a PDF, JPEG, PNG, DOCX or ODT file")
                    % {"name": original}
                )
            )
        relative = f"{case.office_id}/{sha256[:2]}/{uuid.uuid4().hex}.{EXTENSION[content_type]}"
        final = root / relative
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(temp, final)  # atomic on one filesystem: the file is whole or absent
        with transaction.atomic():
            attachment = Attachment.objects.create(
                case=case,
                office_id=case.office_id,
                title=title or fit_name(original, TITLE_MAX),
                original_name=original,
                content_type=content_type,
                size=size,
                sha256=sha256,
                stored_path=relative,
                uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            audit_record(
                actor=actor,
                action=Action.ATTACHMENT_ADD,
                office=case.office,
                obj=attachment,
                detail={"case": case.pk, "type": content_type, "size": size, "sha256": sha256},
            )
    except BaseException:
        temp.unlink(missing_ok=True)
        if final is not None:
            final.unlink(missing_ok=True)
        raise
    return attachment


def download_name(attachment: Attachment) -> str:
    """The file name a download gets: the uploaded name with the extension of its real type."""
    stem = Path(attachment.original_name).stem or "adjunto"
    return f"{stem}.{EXTENSION.get(attachment.content_type, 'bin')}"


def attachment_download_record(*, actor: Any, attachment: Attachment, via: str = "web") -> None:
    """Audit one download (``ATTACHMENT_DOWNLOAD``), at the office that holds the case."""
    audit_record(
        actor=actor,
        action=Action.ATTACHMENT_DOWNLOAD,
        office=attachment.case.office,
        obj=attachment,
        detail={"case": attachment.case_id, "via": via, "sha256": attachment.sha256},
    )
