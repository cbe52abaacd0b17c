"""The match index follows every write, and bulk writers build exactly what the services build."""

from __future__ import annotations

from typing import Any

import pytest

from rumbo.matching.features import PROFILE_FIELDS, features_from_person
from rumbo.matching.keys import blocking_keys
from rumbo.matching.models import MatchKey, MatchProfile
from rumbo.people.models import Person
from rumbo.people.services import person_anonymise, person_data_from, person_update
from rumbo.people.tests.utils import jose_data, make_person


def _index(person_id: int) -> tuple[dict[str, Any] | None, list[int]]:
    profile = MatchProfile._base_manager.filter(person_id=person_id).values(*PROFILE_FIELDS).first()
    keys = sorted(MatchKey._base_manager.filter(person_id=person_id).values_list("key", flat=True))
    return profile, keys


def _expected(person: Person) -> list[int]:
    return blocking_keys(features_from_person(person))


def test_create_update_and_anonymise_keep_the_index_current(world: Any) -> None:
    person = make_person(world.caseworker, world.michoacan)
    profile, keys = _index(person.pk)
    assert profile is not None and profile["surnames"] == "hernandez lopez"
    assert keys == _expected(person)
    data = person_data_from(person)
    data.second_surname = "Pérez"
    person = person_update(actor=world.caseworker, person=person, data=data)
    profile, keys = _index(person.pk)
    assert profile is not None and profile["surnames"] == "hernandez perez"
    assert keys == _expected(Person.objects.get(pk=person.pk))
    person_anonymise(actor=world.admin, person=person, reason="asked")
    assert _index(person.pk) == (None, [])


@pytest.mark.parametrize("rich", [True, False])
def test_the_demo_generator_writes_the_index_the_services_would(db: None, rich: bool) -> None:
    from rumbo.demo.services import demo_generate

    if rich:
        demo_generate(demo_persons=150, seed=3)
    else:
        demo_generate(persons=150, seed=3, demo_persons=0)
    persons = list(Person.objects.prefetch_related("aliases", "documents", "phones"))
    assert len(persons) >= 150
    for person in persons:
        profile, keys = _index(person.pk)
        expected = features_from_person(person)
        assert profile is not None
        assert profile["given"] == expected.given and profile["curp"] == expected.curp
        assert profile["phones"] == " ".join(expected.phones)
        assert profile["documents"] == " ".join(expected.documents)
        assert keys == blocking_keys(expected), person.pk


def test_jose_is_indexed_with_his_curp_and_phone(world: Any) -> None:
    person = make_person(world.caseworker, world.michoacan, **jose_data().__dict__)
    profile, _ = _index(person.pk)
    assert profile is not None
    assert profile["phones"] == "4431234567"
    assert len(profile["curp"]) == 18


def test_rebuild_match_index_recomputes_the_keys(world: Any) -> None:
    from django.core.management import call_command

    person = make_person(world.caseworker, world.michoacan)
    MatchKey._base_manager.filter(person_id=person.pk).delete()
    MatchKey._base_manager.create(key=1, office_id=person.office_id, person_id=person.pk)
    call_command("rebuild_match_index", "--no-progress", verbosity=0)
    assert _index(person.pk)[1] == _expected(person)
