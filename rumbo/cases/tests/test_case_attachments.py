"""Tests of case attachments: type by content, size limit, clear errors at the file field, nothing partial
stored, storage outside the web root, download headers, permissions and audit."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import Attachment
from rumbo.cases.services import attachment_add
from rumbo.cases.services.attachments import DOCX, JPEG, ODT, PDF, PNG
from rumbo.cases.tests.casework_utils import make_family, open_case

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20


def _docx(*, macros: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        if macros:
            archive.writestr("word/vbaProject.bin", b"\x00")
    return buffer.getvalue()


def _odt() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.text",
            compress_type=zipfile.ZIP_STORED,
        )
        archive.writestr("content.xml", "<office:document-content/>", compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def case(world, data_dir):
    family = make_family(world.caseworker, world.michoacan, children=1)
    return open_case(world.caseworker, family.parent)


def _files(data_dir: Path) -> list[Path]:
    return (
        [p for p in (data_dir / "attachments").rglob("*") if p.is_file()]
        if (data_dir / "attachments").exists()
        else []
    )


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("acta.pdf", PDF_BYTES, PDF),
        ("foto.JPG", JPEG_BYTES, JPEG),
        ("foto.png", PNG_BYTES, PNG),
        ("carta.docx", _docx(), DOCX),
        ("carta.odt", _odt(), ODT),
        ("scan.jpeg", PNG_BYTES, PNG),  # phones mislabel images: the content decides
    ],
)
def test_accepted_types_are_recognised_by_content(world, case, data_dir, name, content, content_type):
    attachment = attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile(name, content))
    assert attachment.content_type == content_type
    assert attachment.size == len(content)
    stored = data_dir / "attachments" / attachment.stored_path
    assert stored.read_bytes() == content
    assert attachment.stored_path.startswith(f"{case.office_id}/{attachment.sha256[:2]}/")
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    assert AuditEvent.objects.filter(action=Action.ATTACHMENT_ADD, object_id=str(attachment.pk)).exists()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("virus.exe", b"MZ\x90\x00", "This file type is not accepted: .exe."),
        (
            "fake.pdf",
            b"MZ\x90\x00 not a pdf",
            "This file type is not accepted: the content of “fake.pdf” is not",
        ),
        ("macro.docx", _docx(macros=True), "This file type is not accepted: the content of “macro.docx”"),
        ("broken.docx", b"PK\x03\x04garbage", "This file type is not accepted"),
        ("page.html", b"<html><script>alert(1)</script>", "This file type is not accepted: .html."),
    ],
)
def test_wrong_types_are_refused_and_nothing_is_stored(world, case, data_dir, name, content, expected):
    with pytest.raises(ValidationError) as exc:
        attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile(name, content))
    assert exc.value.message_dict["file"][0].startswith(expected)
    assert not Attachment.objects.exists()
    assert _files(data_dir) == []


def test_too_large_is_refused_with_both_sizes(world, case, data_dir):
    content = PDF_BYTES + b"0" * int(12.3 * 1024 * 1024 - len(PDF_BYTES))
    with pytest.raises(ValidationError) as exc:
        attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile("big.pdf", content))
    assert exc.value.message_dict["file"] == ["The file is too large: 12.3 MB, the limit is 10 MB."]
    assert not Attachment.objects.exists()
    assert _files(data_dir) == []


class _LyingUpload:
    """An upload that claims to be small and is not: the copy stops at the limit and is removed."""

    name = "lie.pdf"
    size = 10

    def __init__(self, total: int) -> None:
        self._stream = io.BytesIO(PDF_BYTES + b"0" * total)

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)


def test_a_size_that_lies_is_caught_while_copying(world, case, data_dir, settings):
    settings.RUMBO_ATTACHMENT_MAX_BYTES = 1024 * 1024
    with pytest.raises(ValidationError) as exc:
        attachment_add(actor=world.caseworker, case=case, upload=_LyingUpload(2 * 1024 * 1024))
    assert exc.value.message_dict["file"] == ["The file is too large: the limit is 1 MB."]
    assert _files(data_dir) == []


def test_an_empty_file_is_refused(world, case, data_dir):
    with pytest.raises(ValidationError) as exc:
        attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile("empty.pdf", b""))
    assert exc.value.message_dict["file"] == ["The file is empty."]
    assert _files(data_dir) == []


def test_a_database_failure_leaves_no_file(world, case, data_dir, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("rumbo.cases.services.attachments.audit_record", broken)
    with pytest.raises(RuntimeError):
        attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile("a.pdf", PDF_BYTES))
    assert not Attachment.objects.exists()
    assert _files(data_dir) == []


def test_only_case_workers_of_the_office_attach(world, case, data_dir):
    for user in (world.auditor, world.jalisco_caseworker, world.trainer):
        with pytest.raises(PermissionDenied):
            attachment_add(actor=user, case=case, upload=SimpleUploadedFile("a.pdf", PDF_BYTES))
    assert _files(data_dir) == []


def test_files_are_outside_the_web_served_folders(world, case, data_dir, settings):
    attachment = attachment_add(
        actor=world.caseworker, case=case, upload=SimpleUploadedFile("a.pdf", PDF_BYTES)
    )
    stored = (data_dir / "attachments" / attachment.stored_path).resolve()
    for served in (settings.STATIC_ROOT, settings.MEDIA_ROOT, *settings.STATICFILES_DIRS):
        assert not stored.is_relative_to(Path(served).resolve())


def test_upload_page_shows_the_error_at_the_file_field(world, case, data_dir):
    client = world.client_for(world.caseworker)
    url = reverse("cases:attachment_add", kwargs={"pk": case.pk})
    response = client.post(url, {"title": "Virus", "file": SimpleUploadedFile("virus.exe", b"MZ")}, **EN)
    assert response.status_code == 200
    page = response.content.decode()
    assert "This file type is not accepted: .exe." in page
    assert 'class="field has-error"' in page
    assert not Attachment.objects.exists()
    response = client.post(url, {"title": "Acta", "file": SimpleUploadedFile("acta.pdf", PDF_BYTES)}, **EN)
    assert response.status_code == 302
    assert Attachment.objects.get().title == "Acta"


def test_download_is_an_audited_attachment_with_nosniff(world, case, data_dir):
    attachment = attachment_add(
        actor=world.caseworker, case=case, upload=SimpleUploadedFile("Acta de nacimiento.jpeg", PNG_BYTES)
    )
    response = world.client_for(world.auditor).get(
        reverse("cases:attachment_download", kwargs={"pk": attachment.pk}), **EN
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG_BYTES
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "Acta de nacimiento.png" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action=Action.ATTACHMENT_DOWNLOAD)
    assert event.actor == world.auditor and event.object_id == str(attachment.pk)
    assert (
        world.client_for(world.jalisco_caseworker)
        .get(reverse("cases:attachment_download", kwargs={"pk": attachment.pk}), **EN)
        .status_code
        == 404
    )
    assert AuditEvent.objects.filter(action=Action.ATTACHMENT_DOWNLOAD).count() == 1


def test_a_long_file_name_fits_the_title_and_keeps_its_extension(world, case):
    # 250 characters: within the file name's 255, beyond the title's 200 (PostgreSQL refused it: a 500).
    name = "acta-de-nacimiento-" + "x" * 227 + ".pdf"
    attachment = attachment_add(actor=world.caseworker, case=case, upload=SimpleUploadedFile(name, PDF_BYTES))
    stored = Attachment.objects.get(pk=attachment.pk)
    title_max = Attachment._meta.get_field("title").max_length
    assert title_max is not None and len(stored.title) <= title_max
    assert stored.title.endswith(".pdf") and stored.title.startswith("acta-de-nacimiento-")
    assert stored.original_name == name
