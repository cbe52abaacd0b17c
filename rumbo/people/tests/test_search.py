"""Tests of person search: accent- and case-insensitive prefixes over names, documents and phones,
office scoping, anonymised and merged records, and the -es/-ez relaxation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rumbo.people.data import AliasData, DocumentData
from rumbo.people.models import Person
from rumbo.people.search import relaxed_query
from rumbo.people.selectors import person_search
from rumbo.people.services import person_anonymise
from rumbo.people.tests.utils import JOSE_CURP, make_person


def found(user, query: str) -> list[int]:
    return [p.pk for p in person_search(user, query).persons]


@pytest.fixture
def jose(world):
    return make_person(
        world.caseworker,
        world.michoacan,
        aliases=[AliasData("Joe", "Hernandez")],
        documents=[DocumentData("curp", JOSE_CURP), DocumentData("passport", "G12345678")],
    )


@pytest.mark.parametrize(
    "query",
    ["jose hernandez", "JOSÉ HERNÁNDEZ", "José  Hernández López", "hernand", "HERNAND jo", "lopez", "joe"],
)
def test_names_are_found_by_accent_and_case_insensitive_prefixes(world, jose, query):
    assert found(world.caseworker, query) == [jose.pk]


@pytest.mark.parametrize(
    "query",
    [
        JOSE_CURP,
        JOSE_CURP.lower(),
        JOSE_CURP[:10],
        "G12345678",
        "g-1234-5678",
        "4431234567",
        "+52 443 123 4567",
        "524431234567",
    ],
)
def test_documents_and_phones_are_found(world, jose, query):
    assert found(world.caseworker, query) == [jose.pk]


def test_every_word_must_match(world, jose):
    assert found(world.caseworker, "jose martinez") == []


def test_other_offices_persons_are_not_found(world, jose):
    assert found(world.jalisco_caseworker, "jose hernandez") == []
    assert found(world.no_role, "jose hernandez") == []
    assert found(world.auditor, "jose hernandez") == [jose.pk]


def test_anonymised_persons_are_not_found(world, jose):
    person_anonymise(actor=world.admin, person=jose, reason="test")
    assert found(world.caseworker, "hernandez") == []
    assert found(world.caseworker, JOSE_CURP) == []


def test_merged_records_are_not_listed(world, jose):
    survivor = make_person(
        world.caseworker, world.michoacan, given_names="José Luis", documents=[], phones=[]
    )
    Person.objects.filter(pk=jose.pk).update(merged_into=survivor)
    assert found(world.caseworker, "hernandez") == [survivor.pk]


def test_relaxed_query_drops_final_s_or_z_of_long_words():
    assert relaxed_query("JOSÉ HERNANDES") == "jose hernande"
    assert relaxed_query("Gonzalez") == "gonzale"
    assert relaxed_query("jose luis") is None
    assert relaxed_query("ab12345s") is None


def test_search_page_finds_hernandes_spelt_with_s(world, jose):
    response = world.client_for(world.caseworker).get(reverse("people:search"), {"q": "JOSÉ HERNANDES"})
    assert [p.pk for p, _doc in response.context["rows"]] == [jose.pk]
    assert response.context["relaxed"] == "jose hernande"


def test_exact_results_are_not_relaxed(world, jose):
    response = world.client_for(world.caseworker).get(reverse("people:search"), {"q": "hernandez"})
    assert response.context["relaxed"] is None


@pytest.mark.parametrize(
    ("e164", "tokens"),
    [
        ("+524431234567", ["524431234567", "4431234567"]),
        ("+13105551234", ["13105551234", "3105551234"]),
        ("+50499887766", ["50499887766", "99887766"]),
        ("+35312345678", ["35312345678", "12345678"]),
        (
            "+390612345678",
            ["390612345678", "612345678"],
        ),  # Italy keeps its leading zero: phonenumbers decides
        ("4431234567", ["4431234567"]),
    ],
)
def test_phone_tokens_with_and_without_the_country_code(e164, tokens):
    """E.164 numbers are split without a parse; the result is what phonenumbers gives."""
    import phonenumbers

    from rumbo.people.search import phone_tokens

    assert phone_tokens(e164) == tokens
    if e164.startswith("+"):
        assert tokens[1] == str(phonenumbers.parse(e164, None).national_number)
