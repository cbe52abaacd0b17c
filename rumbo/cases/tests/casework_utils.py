"""Helpers of the casework tests: a returnee family made through the real services, and a case for them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from rumbo.cases.models import Case
from rumbo.cases.services import case_open
from rumbo.people.models import Person, Relation
from rumbo.people.services import household_link
from rumbo.people.tests.utils import make_person


@dataclass
class Family:
    parent: Person
    children: list[Person]


def make_family(actor: Any, office: Any, *, surname: str = "Hernández", children: int = 2) -> Family:
    """A returnee (born 1990) and ``children`` children born in the US, linked as household."""
    parent = make_person(actor, office, first_surname=surname)
    kids = []
    for i, name in enumerate(["Mateo", "Sofía", "Diego"][:children]):
        kid = make_person(
            actor,
            office,
            given_names=name,
            first_surname=surname,
            sex="M" if i != 1 else "F",
            birth_date=datetime.date(2015 + i, 3, 1),
            birth_country="US",
            nationalities=["US", "MX"],
            documents=[],
            phones=[],
        )
        household_link(actor=actor, person=kid, relative=parent, relation=Relation.CHILD)
        kids.append(kid)
    return Family(parent, kids)


def open_case(actor: Any, person: Person, **fields: Any) -> Case:
    """A case opened through ``case_open`` (defaults: health and documents needs)."""
    values: dict[str, Any] = {"needs": {"health": "IMSS", "documents": ""}, "summary": "Returned last week."}
    values.update(fields)
    return case_open(actor=actor, person=person, **values)
