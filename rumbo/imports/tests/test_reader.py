"""Tests of file reading: encodings, delimiters, XLSX, blank rows and odd headers."""

from __future__ import annotations

import datetime

import pytest

from rumbo.imports.reader import FileError, Sheet, decode, sniff_delimiter
from rumbo.imports.tests.conftest import csv_bytes, damaged_xlsx_bytes, xlsx_bytes


def _read(tmp_path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    headers, rows = Sheet(path, kind).read()
    return headers, [(r.number, r.values) for r in rows]


def test_utf8_with_bom_and_commas(tmp_path):
    content = csv_bytes([["Nombre", "Apellido"], ["José", "Núñez"]], bom=True)
    assert _read(tmp_path, "a.csv", content, "csv") == (["Nombre", "Apellido"], [(2, ["José", "Núñez"])])


def test_latin1_with_semicolons(tmp_path):
    content = csv_bytes([["Nombre", "Apellido"], ["José", "Núñez"]], delimiter=";", encoding="latin-1")
    assert _read(tmp_path, "a.csv", content, "csv")[1] == [(2, ["José", "Núñez"])]


def test_windows_1252_characters_are_read(tmp_path):
    content = "Nombre;Nota\nAna;“comillas”\n".encode("cp1252")
    assert _read(tmp_path, "a.csv", content, "csv")[1] == [(2, ["Ana", "“comillas”"])]


def test_delimiter_inside_quotes_does_not_count():
    assert sniff_delimiter('"Apellidos; nombres",Sexo,Edad\n') == ","
    assert sniff_delimiter("Nombre\tApellido\n") == "\t"
    assert sniff_delimiter("Nombre\n") == ","


def test_blank_rows_are_skipped_but_keep_their_numbers_and_short_rows_are_padded(tmp_path):
    content = b"\n\nNombre,Apellido,Sexo\nAna,Ruiz\n,,\nLuis,Mora,H,extra\n"
    headers, rows = _read(tmp_path, "a.csv", content, "csv")
    assert headers == ["Nombre", "Apellido", "Sexo"]
    assert rows == [(4, ["Ana", "Ruiz", None]), (6, ["Luis", "Mora", "H"])]


def test_empty_and_repeated_headers_get_names(tmp_path):
    headers, _ = _read(tmp_path, "a.csv", b"Nombre,,Nombre,\nAna,x,y,\n", "csv")
    assert headers == ["Nombre", "Column 2", "Nombre (3)"]


def test_xlsx_first_sheet_keeps_dates(tmp_path):
    content = xlsx_bytes([["Nombre", "Fecha"], ["Ana", datetime.datetime(1990, 1, 15)], [None, None]])
    headers, rows = _read(tmp_path, "a.xlsx", content, "xlsx")
    assert headers == ["Nombre", "Fecha"]
    assert rows == [(2, ["Ana", datetime.datetime(1990, 1, 15)])]


def test_binary_is_not_csv():
    with pytest.raises(FileError):
        decode(b"PK\x03\x04\x00\x00binary")


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    path = tmp_path / "a.xlsx"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(FileError):
        Sheet(path, "xlsx").read()


def test_a_workbook_damaged_inside_its_sheet_is_a_file_error(tmp_path):
    rows = [["Nombre", "Apellido"], *[[f"Ana {i}", "Ruiz"] for i in range(50)]]
    with pytest.raises(FileError) as caught:
        _read(tmp_path, "a.xlsx", damaged_xlsx_bytes(rows), "xlsx")
    assert str(caught.value.message) == "This is not an Excel (.xlsx) file."
