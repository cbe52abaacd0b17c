"""Tests of the people selectors: possible matches for search-first registration, and person_get access."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from rumbo.offices.permissions import Perm
from rumbo.people.data import DocumentData, PhoneData
from rumbo.people.selectors import person_get, person_possible_matches
from rumbo.people.services import person_anonymise, person_data_clean
from rumbo.people.tests.utils import jose_data, make_person


def matches(user, **overrides):
    return [
        (m.person.pk, m.reasons)
        for m in person_possible_matches(user, person_data_clean(jose_data(**overrides)))
    ]


def test_same_curp_phone_and_name_with_birth_year_are_matches(world):
    person = make_person(world.caseworker, world.michoacan)
    assert matches(world.caseworker) == [(person.pk, ("curp", "phone", "name"))]


def test_each_rule_alone_is_enough(world):
    person = make_person(world.caseworker, world.michoacan)
    assert matches(world.caseworker, given_names="Pepe", phones=[]) == [(person.pk, ("curp",))]
    assert matches(world.caseworker, given_names="Pepe", documents=[]) == [(person.pk, ("phone",))]
    assert matches(world.caseworker, documents=[], phones=[PhoneData("+1 310 555 1234")]) == [
        (person.pk, ("name",))
    ]


def test_same_name_with_another_birth_year_is_not_a_match(world):
    make_person(world.caseworker, world.michoacan)
    assert matches(world.caseworker, documents=[], phones=[], birth_date=datetime.date(1980, 1, 1)) == []


def test_same_passport_number_is_a_document_match(world):
    person = make_person(
        world.caseworker, world.michoacan, documents=[DocumentData("passport", "G12345678")], phones=[]
    )
    assert matches(
        world.caseworker, given_names="Otro", documents=[DocumentData("passport", "g1234 5678")], phones=[]
    ) == [(person.pk, ("document",))]


def test_matches_are_limited_to_visible_live_records(world):
    person = make_person(world.caseworker, world.michoacan)
    assert matches(world.jalisco_caseworker) == []
    person_anonymise(actor=world.admin, person=person, reason="test")
    assert matches(world.caseworker) == []


def test_person_get_is_404_outside_and_403_inside_without_the_permission(world):
    person = make_person(world.caseworker, world.michoacan)
    assert person_get(world.auditor, person.pk) == person
    with pytest.raises(PermissionDenied):
        person_get(world.auditor, person.pk, Perm.CHANGE_PERSON)
    with pytest.raises(Http404):
        person_get(world.jalisco_caseworker, person.pk)
