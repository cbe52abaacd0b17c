"""The search signature (``SearchToken.sig``) only speeds search up: it never hides a match."""

from __future__ import annotations

import random

from django_scopes import scope

from rumbo.demo.generator import generate
from rumbo.demo.network import build_network
from rumbo.demo.services import demo_profiles
from rumbo.demo.writers import writer_for
from rumbo.offices.permissions import member_office_ids
from rumbo.people.models import Person, SearchToken
from rumbo.people.search import token_signature, word_mask
from rumbo.people.selectors import person_search


def test_signature_has_every_bit_of_every_prefix_of_its_tokens():
    rng = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    for _ in range(2000):
        tokens = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(8)]
        sig = token_signature(tokens)
        for token in tokens:
            for end in range(1, len(token) + 1):
                mask = word_mask(token[:end])
                assert sig & mask == mask


def test_short_words_are_not_tested_by_the_signature():
    assert word_mask("ju") == 0
    assert word_mask("jua") != 0


def _search_ids(user, query: str) -> set[int]:
    with scope(office=list(member_office_ids(user))):
        found = person_search(user, query)
        return {p.pk for p in found.persons}


def test_multi_word_search_finds_persons_with_and_without_a_signature():
    network = build_network()
    generate(demo_profiles(network), count=300, writer=writer_for(), seed=9, batch_size=300)
    caseworker = network.users["caseworker.michoacan"]
    person = Person.objects.filter(office__code="ofam-mich").exclude(second_surname="").order_by("id").first()
    query = f"{person.second_surname} {person.given_names} {person.first_surname}"
    assert person.pk in _search_ids(caseworker, query)
    SearchToken.objects.filter(person=person).update(sig=0)  # rows written before signatures existed
    assert person.pk in _search_ids(caseworker, query)
