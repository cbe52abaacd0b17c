"""Shared data of the imports tests: a small Spanish-headed file with good and bad rows."""

from __future__ import annotations

import datetime
from typing import Any

from rumbo.imports.models import ImportBatch
from rumbo.imports.services import import_run, import_set_mapping, import_upload
from rumbo.imports.tests.conftest import csv_bytes, upload
from rumbo.people.tests.utils import make_curp

HEADERS = [
    "Nombre(s)",
    "Apellido paterno",
    "Apellido materno",
    "Sexo",
    "Fecha de nacimiento",
    "CURP",
    "Teléfono",
    "Correo",
    "Nacionalidad",
    "Municipio",
    "Estado",
    "Domicilio",
]

ANA_CURP = make_curp(
    given_names="Ana", first_surname="Zamora", second_surname="Ruiz", birth_date=datetime.date(1985, 3, 2),
    sex="F",
)  # fmt: skip
LUIS_CURP = make_curp(
    given_names="Luis",
    first_surname="Quintero",
    second_surname="Mora",
    birth_date=datetime.date(1979, 11, 30),
)

GOOD_ANA = ["Ana", "Zamora", "Ruiz", "M", "02/03/1985", ANA_CURP, "443 555 0101", "ana@example.com",
            "mexicana", "Morelia", "Michoacán", "Calle Hidalgo 12"]  # fmt: skip
GOOD_LUIS = ["Luis", "Quintero", "Mora", "H", "1979-11-30", LUIS_CURP, "+52 33 5555 0202", "",
             "MX", "16053", "", ""]  # fmt: skip
GOOD_ROSA = ["Rosa María", "Téllez", "", "M", "03/1990", "", "", "", "hondureña", "", "", ""]  # fmt: skip
BAD_CURP = ["Pedro", "Vargas", "Luna", "H", "01/01/1980", "VALP800101HMNRNDX0", "", "", "MX", "", "", ""]
BAD_DATE_AND_PHONE = ["Juana", "Pérez", "", "M", "31/02/1990", "", "12345", "juana@", "MX", "", "", ""]
NO_NAME = ["", "Sánchez", "", "H", "", "", "", "", "", "", "", ""]


def rows() -> list[list[Any]]:
    return [HEADERS, GOOD_ANA, BAD_CURP, GOOD_LUIS, BAD_DATE_AND_PHONE, GOOD_ROSA, NO_NAME]


def import_file(
    actor: Any, office: Any, name: str = "personas.csv", content: bytes | None = None
) -> ImportBatch:
    """Upload ``content`` (default: the sample CSV), map it as suggested and import it now."""
    batch = import_upload(actor=actor, office=office, upload=upload(name, content or csv_bytes(rows())))
    import_set_mapping(actor=actor, batch=batch, mapping=batch.mapping)
    return import_run(actor=actor, batch=batch)
