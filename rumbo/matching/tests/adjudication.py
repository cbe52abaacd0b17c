"""Helpers for the adjudication tests: persons in two offices and possible-duplicate pairs written by hand
(the evidence JSON as the batch run stores it)."""

from __future__ import annotations

import datetime
from typing import Any

from rumbo.lib.testing.factories import MembershipFactory, member
from rumbo.matching.models import DuplicatePair
from rumbo.offices.models import Role
from rumbo.people.data import DocumentData, PhoneData
from rumbo.people.models import Person
from rumbo.people.tests.utils import make_curp, make_person

#: What must never appear in a page or an answer given to someone who may not see Rosa (Jalisco).
ROSA_BIRTH = datetime.date(1992, 3, 4)
ROSA_CURP = make_curp(
    given_names="Rosaura", first_surname="Zamudio", second_surname="Quintero", birth_date=ROSA_BIRTH, sex="F"
)
ROSA_SECRETS = ("Rosaura", "Zamudio", "Quintero", ROSA_CURP, "3312345678", "1234 5678", "1992", "rosaura@")

EVIDENCE = [
    {"field": "given_names", "level": "exact", "label": "identical", "agreement": "agree", "weight": 6.5},
    {"field": "surnames", "level": "exact", "label": "identical", "agreement": "agree", "weight": 9.1},
    {"field": "birth_date", "level": "exact", "label": "identical", "agreement": "agree", "weight": 7.2},
    {"field": "curp", "level": "typo", "label": "one character apart", "agreement": "partial", "weight": 3.0},
    {"field": "phones", "level": "else", "label": "different", "agreement": "disagree", "weight": -2.0},
    {"field": "email", "level": "null", "label": "missing", "agreement": "missing", "weight": 0.0},
]


def mich_person(world: Any, **overrides: Any) -> Person:
    return make_person(world.caseworker, world.michoacan, **overrides)


def mich_twin(world: Any) -> Person:
    """A second record of José at Michoacán (no documents: the CURP is unique per office)."""
    return make_person(world.caseworker, world.michoacan, given_names="Jose", documents=[], phones=[])


def rosa(world: Any) -> Person:
    """Rosaura Zamudio Quintero, registered by OFAM Jalisco."""
    return make_person(
        world.jalisco_caseworker,
        world.jalisco,
        given_names="Rosaura",
        first_surname="Zamudio",
        second_surname="Quintero",
        sex="F",
        birth_date=ROSA_BIRTH,
        documents=[DocumentData(kind="curp", number=ROSA_CURP)],
        phones=[PhoneData(number="+52 33 1234 5678")],
        email="rosaura@example.org",
    )


def make_pair(
    a: Person,
    b: Person,
    *,
    probability: float = 0.97,
    fields: list[dict[str, Any]] | None = None,
    source: str = DuplicatePair.Source.BATCH,
    cluster: int | None = None,
    decision: str = DuplicatePair.Decision.PENDING,
) -> DuplicatePair:
    """A possible duplicate of ``a`` and ``b`` (in either order), as a batch run would write it."""
    first, second = sorted((a, b), key=lambda p: p.pk)
    pair, _ = DuplicatePair.objects.update_or_create(
        person_a=first,
        person_b=second,
        defaults={
            "office_a_id": first.office_id,
            "office_b_id": second.office_id,
            "source": source,
            "match_weight": 8.0,
            "probability": probability,
            "fields": EVIDENCE if fields is None else fields,
            "cluster": cluster,
            "decision": decision,
        },
    )
    return pair


def two_office_caseworker(world: Any, username: str = "ambos") -> Any:
    """A caseworker of both OFAM Michoacán and OFAM Jalisco."""
    user = member(world.michoacan, Role.CASEWORKER, username=username)
    MembershipFactory(user=user, office=world.jalisco, role=Role.CASEWORKER)
    return user


def conofam_admin(world: Any) -> Any:
    """An office administrator of CONOFAM, the root of the network (manages matching)."""
    return member(world.conofam, Role.OFFICE_ADMIN, username="admin-conofam")


def english_client(world: Any, user: Any) -> Any:
    """``world.client_for(user)`` asking for English pages (Spanish is the default language)."""
    client = world.client_for(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client
