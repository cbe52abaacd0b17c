"""Tests of reading one row through a mapping: places, surnames, phones and WhatsApp, errors per field."""

from __future__ import annotations

import datetime

import pytest

from rumbo.geo.models import AdminArea
from rumbo.imports.rows import AreaResolver, RowBuilder

TODAY = datetime.date(2026, 6, 1)


@pytest.fixture
def resolver(db) -> AreaResolver:
    return AreaResolver("MX")


def test_states_by_code_name_or_abbreviation(resolver):
    mich = AdminArea.objects.get(country="MX", level=1, code="16")
    assert resolver.state("16") == mich
    assert resolver.state("Michoacán") == mich
    assert resolver.state("michoacan de ocampo") == mich
    assert resolver.state("Mich.") == mich
    assert resolver.state("Narnia") is None


def test_municipalities_by_code_or_name_within_the_state(resolver):
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    mich = morelia.parent
    assert resolver.municipality("16053", None) == morelia
    assert resolver.municipality("053", mich) == morelia
    assert resolver.municipality("53", mich) == morelia
    assert resolver.municipality("MORELIA", None) == morelia
    assert resolver.municipality("Morelia", mich) == morelia
    assert resolver.municipality("Nowhere", None) == "No municipality with this name or code was found."


def test_a_name_several_states_share_needs_the_state(resolver):
    name = (
        AdminArea.objects.filter(country="MX", level=2, name_folded="juarez")
        .values_list("name", flat=True)
        .first()
    )
    assert resolver.municipality(name, None) == "Several municipalities have this name: add the state."
    chihuahua = AdminArea.objects.get(country="MX", level=1, name_folded__startswith="chihuahua")
    found = resolver.municipality(name, chihuahua)
    assert isinstance(found, AdminArea) and found.parent_id == chihuahua.pk


def test_honduran_office_resolves_honduran_codes(db):
    resolver = AreaResolver("HN")
    tegucigalpa = AdminArea.objects.get(country="HN", level=2, code="0801")
    assert resolver.municipality("0801", None) == tegucigalpa
    assert resolver.municipality("01", resolver.state("08")) == tegucigalpa
    assert resolver.municipality("801", None) == tegucigalpa  # the leading zero a spreadsheet dropped


def _builder(headers, mapping):
    return RowBuilder(headers, mapping, region="MX", today=TODAY)


def test_surnames_in_one_column_are_split(db):
    builder = _builder(["Nombre", "Apellidos"], ["given_names", "surnames"])
    row = builder.validate(builder.build(2, ["Ana", "de la Cruz Ávila"]))
    assert row.clean is not None
    assert (row.clean.first_surname, row.clean.second_surname) == ("de la Cruz", "Ávila")


def test_whatsapp_as_yes_no_or_as_a_number(db):
    builder = _builder(
        ["Nombre", "Apellido", "Tel", "WhatsApp"], ["given_names", "first_surname", "phone", "whatsapp"]
    )
    yes = builder.validate(builder.build(2, ["Ana", "Ruiz", "443 555 0101", "sí"]))
    assert [(p.number, p.whatsapp) for p in yes.clean.phones] == [("+524435550101", True)]
    same = builder.validate(builder.build(3, ["Ana", "Ruiz", "443 555 0101", "+52 443 555 0101"]))
    assert [(p.number, p.whatsapp) for p in same.clean.phones] == [("+524435550101", True)]
    other = builder.validate(builder.build(4, ["Ana", "Ruiz", "443 555 0101", "+1 213 555 0199"]))
    assert [(p.number, p.whatsapp) for p in other.clean.phones] == [
        ("+524435550101", False),
        ("+12135550199", True),
    ]


def test_errors_are_reported_at_the_import_field_the_value_came_from(db):
    headers = ["Nombre", "Apellidos", "Tel", "Tel 2", "Pasaporte", "Nacionalidad", "Municipio", "Estado"]
    mapping = [
        "given_names",
        "surnames",
        "phone",
        "phone2",
        "passport",
        "nationality",
        "municipality",
        "state",
    ]
    builder = _builder(headers, mapping)
    row = builder.validate(
        builder.build(2, ["Ana", "", "443 555 0101", "12", "X1", "MX, Narnia", "Nowhere", "16"])
    )
    assert row.clean is None
    assert set(row.errors) == {"surnames", "phone2", "passport", "nationality", "municipality"}
    assert row.errors["nationality"] == ["Choose a valid country."]
    assert row.errors["municipality"] == ["No municipality with this name or code was found."]


def test_the_row_hash_ignores_case_spacing_column_order_and_date_spelling(db):
    a = _builder(["N", "A", "F"], ["given_names", "first_surname", "birth_date"])
    b = _builder(["F", "A", "N"], ["birth_date", "first_surname", "given_names"])
    one = a.build(2, ["José  Luis", "Pérez", "15/01/1990"])
    two = b.build(9, ["1990-01-15", "PÉREZ", "josé luis"])
    assert one.sha256 == two.sha256
    assert a.build(2, ["José Luis", "Perez", "15/01/1990"]).sha256 != one.sha256  # accents are data
