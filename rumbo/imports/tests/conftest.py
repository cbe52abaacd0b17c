"""Fixtures of the imports tests: uploaded files go to a temporary DATA_DIR; files are made in the test."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.DATA_DIR = tmp_path
    yield tmp_path


def csv_bytes(
    rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False
) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def damaged_xlsx_bytes(rows: list[list[Any]]) -> bytes:
    """A workbook whose first sheet's XML is cut inside its first data row: it opens, and fails only when
    that row is read."""
    import zipfile

    whole = zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as damaged:
        for info in whole.infolist():
            content = whole.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = content[: content.index(b'<row r="2"') + 10]
            damaged.writestr(info, content)
    return buffer.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")
