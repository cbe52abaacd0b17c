"""Helpers for the people tests: real CURPs (valid check digit) and persons made through the services."""

from __future__ import annotations

import datetime
from typing import Any

from stdnum.mx import curp as stdnum_curp

from rumbo.lib.text import fold
from rumbo.people.data import DocumentData, PersonData, PhoneData
from rumbo.people.models import Person
from rumbo.people.services import person_create

_VOWELS = "AEIOU"


def _letters(word: str) -> str:
    return fold(word).upper().replace(" ", "")


def _internal(word: str, vowels: bool) -> str:
    for ch in _letters(word)[1:]:
        if (ch in _VOWELS) == vowels:
            return ch
    return "X"


def make_curp(
    *,
    given_names: str,
    first_surname: str,
    second_surname: str = "",
    birth_date: datetime.date,
    sex: str = "M",
    state: str = "MN",
) -> str:
    """A CURP built with RENAPO's rules (simplified) whose check digit stdnum accepts.

    ``sex`` is the Person.sex value ("M" male, "F" female, "X"); ``state`` the CURP state code.
    """
    given = [w for w in given_names.split() if fold(w) not in ("jose", "maria")] or given_names.split()
    first_given = given[0]
    body = (
        _letters(first_surname)[0]
        + _internal(first_surname, vowels=True)
        + (_letters(second_surname)[0] if second_surname else "X")
        + _letters(first_given)[0]
        + birth_date.strftime("%y%m%d")
        + {"M": "H", "F": "M", "X": "X"}[sex]
        + state
        + _internal(first_surname, vowels=False)
        + (_internal(second_surname, vowels=False) if second_surname else "X")
        + _internal(first_given, vowels=False)
        + ("0" if birth_date.year < 2000 else "A")
    )
    curp = body + stdnum_curp.calc_check_digit(body)
    assert len(curp) == 18
    return curp


JOSE_BIRTH = datetime.date(1990, 1, 15)
JOSE_CURP = make_curp(
    given_names="José", first_surname="Hernández", second_surname="López", birth_date=JOSE_BIRTH
)


def jose_data(**overrides: Any) -> PersonData:
    """José Hernández López, born in Morelia in 1990, with his CURP and one mobile phone."""
    values: dict[str, Any] = {
        "given_names": "José",
        "first_surname": "Hernández",
        "second_surname": "López",
        "sex": "M",
        "birth_date": JOSE_BIRTH,
        "nationalities": ["MX"],
        "languages": ["spa"],
        "documents": [DocumentData(kind="curp", number=JOSE_CURP)],
        "phones": [PhoneData(number="443 123 4567", whatsapp=True)],
    }
    values.update(overrides)
    return PersonData(**values)


def make_person(actor: Any, office: Any, **overrides: Any) -> Person:
    """A person registered through ``person_create`` (defaults: José Hernández López)."""
    return person_create(actor=actor, office=office, data=jose_data(**overrides))
