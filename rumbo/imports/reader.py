"""Reading uploaded files: CSV (UTF-8 with or without BOM, Windows-1252/Latin-1 fallback, "," ";" or tab
sniffed) and XLSX (first sheet, streamed with openpyxl's read-only mode).

A file is read as a header row (the first row with any value) and data rows numbered as a spreadsheet
numbers them (the header of a file that starts with it is row 1). Cells keep their type where it matters
(spreadsheet dates stay ``datetime``); everything else is text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _

from rumbo.imports.fields import cell_text

ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
DELIMITERS = (",", ";", "\t", "|")
XLSX_MAGIC = b"PK\x03\x04"


class FileError(Exception):
    """The file cannot be read as what it claims to be; ``message`` is translated."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass
class SheetRow:
    number: int  # 1-based, as a spreadsheet shows it
    values: list[Any]


def decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (a BOM is dropped), else Windows-1252, else Latin-1."""
    if b"\x00" in data[:8192]:
        raise FileError(_("This is not a CSV text file."))
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(_("This is not a CSV text file."))  # pragma: no cover - latin-1 decodes anything


def sniff_delimiter(text: str) -> str:
    """The delimiter used in the first non-empty line (outside quotes), "," when there is none."""
    first = next((line for line in text[:65536].splitlines() if line.strip()), "")
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in first:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(path: Path) -> Iterator[list[Any]]:
    text = decode(path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    try:
        yield from reader
    except csv.Error as exc:
        raise FileError(
            _("The CSV file is malformed near line %(line)s.") % {"line": reader.line_num}
        ) from exc


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    import zipfile
    import zlib

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with path.open("rb") as fh:
        if fh.read(4) != XLSX_MAGIC:
            raise FileError(_("This is not an Excel (.xlsx) file."))
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise FileError(_("This is not an Excel (.xlsx) file.")) from exc
    try:
        if not workbook.worksheets:
            return
        # Read-only mode parses the sheet's XML while the rows are read: a damaged or truncated file fails
        # here, not when it is opened (SyntaxError covers the XML parsers' ParseError).
        try:
            for row in workbook.worksheets[0].iter_rows(values_only=True):
                yield list(row)
        except (SyntaxError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError) as exc:
            raise FileError(_("This is not an Excel (.xlsx) file.")) from exc
    finally:
        workbook.close()


def _is_blank(values: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _header_names(values: list[Any]) -> list[str]:
    names: list[str] = []
    for i, value in enumerate(values):
        name = cell_text(value) or str(_("Column %(n)s") % {"n": i + 1})
        if name in names:
            name = f"{name} ({i + 1})"
        names.append(name)
    while names and not cell_text(values[len(names) - 1]):
        names.pop()  # trailing empty header cells are no columns
    return names


@dataclass
class Sheet:
    """A readable file: its headers and an iterator over its data rows (opened on demand)."""

    path: Path
    kind: str

    def _raw(self) -> Iterator[list[Any]]:
        return _xlsx_rows(self.path) if self.kind == "xlsx" else _csv_rows(self.path)

    def read(self, limit: int | None = None) -> tuple[list[str], Iterator[SheetRow]]:
        """(headers, data rows); blank rows are skipped but keep their number. ``limit`` stops early."""
        raw = self._raw()
        number = 0
        headers: list[str] = []
        for values in raw:
            number += 1
            if not _is_blank(values):
                headers = _header_names(values)
                break
        if not headers:
            raise FileError(_("The file is empty: it needs a header row and at least one row of data."))
        width = len(headers)

        def rows() -> Iterator[SheetRow]:
            n = number
            yielded = 0
            for values in raw:
                n += 1
                if _is_blank(values):
                    continue
                if len(values) < width:
                    values = [*values, *([None] * (width - len(values)))]
                elif len(values) > width:
                    values = values[:width]
                yield SheetRow(n, values)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return

        return headers, rows()
