"""Tests of how headers are recognised and cells read: mapping suggestion, dates, sex, places, lists."""

from __future__ import annotations

import datetime

import pytest

from rumbo.imports.fields import (
    CellError,
    cell_text,
    parse_bool,
    parse_country,
    parse_date,
    parse_language,
    parse_sex,
    sex_convention,
    split_list,
    split_surnames,
    suggest_mapping,
)

TODAY = datetime.date(2026, 6, 1)


def test_spanish_headers_are_suggested_their_fields():
    headers = [
        "Nombre(s)", "Apellido Paterno", "Apellido materno", "SEXO", "Fecha de Nacimiento", "Teléfono",
        "Celular 2", "Correo electrónico", "CURP", "Nacionalidad", "Municipio", "Estado", "Domicilio", "Notas",
    ]  # fmt: skip
    assert suggest_mapping(headers) == [
        "given_names", "first_surname", "second_surname", "sex", "birth_date", "phone", "", "email", "curp",
        "nationality", "municipality", "state", "address", "",
    ]  # fmt: skip


def test_other_spellings_and_english_headers():
    assert suggest_mapping(["nombre", "primer apellido", "segundo apellido", "f. nac.", "tel"]) == [
        "given_names", "first_surname", "second_surname", "birth_date", "phone",
    ]  # fmt: skip
    assert suggest_mapping(["First name", "Last name", "Date of birth", "Gender", "Passport number"]) == [
        "given_names", "surnames", "birth_date", "sex", "passport",
    ]  # fmt: skip
    # Separate surname columns win over a "surnames" one.
    assert suggest_mapping(["Apellido paterno", "Apellidos"]) == ["first_surname", ""]


def test_a_field_is_suggested_for_one_column_only():
    assert suggest_mapping(["Teléfono", "Teléfono"]) == ["phone", ""]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("15/01/1990", (datetime.date(1990, 1, 15), "day")),
        ("5/1/1990", (datetime.date(1990, 1, 5), "day")),
        ("15-01-1990", (datetime.date(1990, 1, 15), "day")),
        ("15.01.90", (datetime.date(1990, 1, 15), "day")),
        ("15/01/05", (datetime.date(2005, 1, 15), "day")),
        ("1990-01-15", (datetime.date(1990, 1, 15), "day")),
        ("1990-01-15 00:00:00", (datetime.date(1990, 1, 15), "day")),
        ("03/1990", (datetime.date(1990, 3, 1), "month")),
        ("1990", (datetime.date(1990, 1, 1), "year")),
        ("32888", (datetime.date(1990, 1, 15), "day")),  # a spreadsheet day number
        (datetime.datetime(1990, 1, 15, 0, 0), (datetime.date(1990, 1, 15), "day")),
        (datetime.date(1990, 1, 15), (datetime.date(1990, 1, 15), "day")),
    ],
)
def test_dates_are_read_in_the_usual_spellings(value, expected):
    assert parse_date(value, today=TODAY) == expected


@pytest.mark.parametrize("value", ["31/02/1990", "15/13/1990", "1990-02-30"])
def test_impossible_dates_are_errors(value):
    with pytest.raises(CellError) as caught:
        parse_date(value, today=TODAY)
    assert str(caught.value.message) == "This date does not exist."


@pytest.mark.parametrize("value", ["mañana", "15 de enero", "01/15"])
def test_unreadable_dates_say_how_to_write_them(value):
    with pytest.raises(CellError) as caught:
        parse_date(value, today=TODAY)
    assert str(caught.value.message) == "Write the date as dd/mm/yyyy or yyyy-mm-dd."


def test_sex_letters_follow_the_convention_of_the_column():
    assert sex_convention(["H", "M", "M"]) == "es"
    assert sex_convention(["F", "M"]) == "en"
    assert sex_convention(["M", "M"]) == "es"  # the CURP convention of Mexican files
    assert parse_sex("M", "es") == "F"
    assert parse_sex("M", "en") == "M"
    assert parse_sex("H", "es") == "M"
    assert parse_sex("Mujer", "en") == "F"
    assert parse_sex("masculino", "es") == "M"
    assert parse_sex("No binario", "es") == "X"
    assert parse_sex("", "es") == "U"
    assert parse_sex("Z", "es") == "Z"  # unknown: the validator reports it


def test_countries_and_languages_by_code_name_or_demonym():
    assert [parse_country(v) for v in ("MX", "mex", "México", "mexicana", "Honduras", "hondureño")] == [
        "MX", "MX", "MX", "MX", "HN", "HN",
    ]  # fmt: skip
    assert [parse_country(v) for v in ("Estados Unidos", "United States", "Guatemala")] == ["US", "US", "GT"]
    assert parse_country("Narnia") == "Narnia"
    assert [parse_language(v) for v in ("spa", "es", "Español", "náhuatl", "Tsotsil", "inglés")] == [
        "spa", "spa", "spa", "nah", "tzo", "eng",
    ]  # fmt: skip
    assert split_list("español y náhuatl") == ["español", "náhuatl"]
    assert split_list("MX, US") == ["MX", "US"]


def test_surnames_are_split_keeping_particles():
    assert split_surnames("García López") == ("García", "López")
    assert split_surnames("de la Cruz Hernández") == ("de la Cruz", "Hernández")
    assert split_surnames("Pérez") == ("Pérez", "")
    assert split_surnames("del Río de la Vega") == ("del Río", "de la Vega")


def test_cells_as_text():
    assert cell_text(4435550101.0) == "4435550101"
    assert cell_text(None) == ""
    assert cell_text("  Ana \n María ") == "Ana María"
    assert cell_text(datetime.datetime(1990, 1, 15)) == "1990-01-15"
    assert parse_bool("Sí") is True and parse_bool("no") is False and parse_bool("443 555 0101") is None


def test_normalised_gives_the_row_hash_its_old_values():
    """Row hashes must never change (an earlier import is recognised by them): every text — tabs, odd
    spaces, accents, compatibility characters — gets exactly the form it always got."""
    import unicodedata

    from rumbo.imports.fields import normalised
    from rumbo.lib.testing.texts import random_texts

    def always(value: str) -> str:
        if not value.isascii():
            value = unicodedata.normalize("NFC", value)
        return " ".join(value.split()).casefold()

    texts = random_texts(30_000, seed=5)
    texts += ["Ana", "ANA", " ana", "ana ", "a  b", "a\tb", "MARÍA", "Maria\u0301"]
    assert [normalised(t) for t in texts] == [always(t) for t in texts]
