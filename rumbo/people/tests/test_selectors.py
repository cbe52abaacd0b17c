"""Tests of the people selectors (person_get access) and of the candidates search-first registration shows."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from rumbo.matching.selectors import intake_candidates
from rumbo.offices.permissions import Perm
from rumbo.people.data import DocumentData
from rumbo.people.selectors import person_get
from rumbo.people.services import person_anonymise, person_data_clean
from rumbo.people.tests.utils import jose_data, make_person


def matches(user, **overrides):
    """(person id, fields that agree) of the intake candidates for José typed with ``overrides``."""
    return [
        (c.person_id, {f.field for f in c.comparison.fields if f.agreement == "agree"})
        for c in intake_candidates(user, person_data_clean(jose_data(**overrides)))
        if c.probability >= 0.5
    ]


def test_same_curp_phone_and_name_are_a_likely_match(world):
    person = make_person(world.caseworker, world.michoacan)
    [(pk, agree)] = matches(world.caseworker)
    assert pk == person.pk and {"curp", "phones", "given_names", "surnames", "birth_date"} <= agree


def test_the_same_curp_under_another_name_is_a_likely_match(world):
    person = make_person(world.caseworker, world.michoacan)
    other_name = {"given_names": "Ramiro", "first_surname": "Soto", "second_surname": ""}
    assert matches(world.caseworker, **other_name, phones=[])[0][0] == person.pk


def test_a_shared_phone_counts_with_the_name_but_not_alone(world):
    """A phone is often a family's: with another name it is a relative, not a duplicate."""
    person = make_person(world.caseworker, world.michoacan)
    same_name = intake_candidates(
        world.caseworker, person_data_clean(jose_data(documents=[], birth_date=None))
    )
    assert [c.person_id for c in same_name] == [person.pk]
    assert {f.field: f.agreement for f in same_name[0].comparison.fields}["phones"] == "agree"
    other_name = {"given_names": "Ramiro", "first_surname": "Soto", "second_surname": ""}
    assert matches(world.caseworker, **other_name, documents=[], birth_date=None) == []


def test_same_name_a_generation_apart_is_not_a_likely_match(world):
    make_person(world.caseworker, world.michoacan)
    assert matches(world.caseworker, documents=[], phones=[], birth_date=datetime.date(1960, 1, 1)) == []


def test_same_passport_number_is_evidence(world):
    person = make_person(
        world.caseworker, world.michoacan, documents=[DocumentData("passport", "G12345678")], phones=[]
    )
    found = intake_candidates(
        world.caseworker,
        person_data_clean(jose_data(documents=[DocumentData("passport", "g1234 5678")], phones=[])),
    )
    assert found[0].person_id == person.pk
    assert {f.field: f.level for f in found[0].comparison.fields}["documents"] == "shared"


def test_matches_are_limited_to_live_records_and_other_offices_are_masked(world):
    person = make_person(world.caseworker, world.michoacan)
    [hidden] = intake_candidates(world.jalisco_caseworker, person_data_clean(jose_data()))
    assert hidden.person is None and hidden.office_name == "OFAM Michoacán"
    person_anonymise(actor=world.admin, person=person, reason="test")
    assert matches(world.caseworker) == []


def test_person_get_is_404_outside_and_403_inside_without_the_permission(world):
    person = make_person(world.caseworker, world.michoacan)
    assert person_get(world.auditor, person.pk) == person
    with pytest.raises(PermissionDenied):
        person_get(world.auditor, person.pk, Perm.CHANGE_PERSON)
    with pytest.raises(Http404):
        person_get(world.jalisco_caseworker, person.pk)
