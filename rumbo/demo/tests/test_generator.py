"""Generated persons are what the person services would accept: valid CURPs consistent with the person,
valid phones, valid documents, and exactly the search tokens ``person_tokens`` builds."""

from __future__ import annotations

import datetime
from collections import defaultdict

import phonenumbers
import pytest
from django.db import connection
from stdnum.mx import curp as stdnum_curp

from rumbo.demo.generator import generate
from rumbo.demo.models import DroppedIndex
from rumbo.demo.network import build_network
from rumbo.demo.services import demo_profiles
from rumbo.demo.writers import OrmWriter, restore_indexes, writer_for
from rumbo.people.models import (
    Address,
    Alias,
    Document,
    HouseholdRelation,
    Nationality,
    Person,
    Phone,
    SearchToken,
)
from rumbo.people.search import person_tokens, token_signature
from rumbo.people.validators import curp_inconsistencies, validate_document_number

TODAY = datetime.date(2026, 6, 1)


@pytest.fixture
def network():
    return build_network()


def run(network, count: int, *, rich: bool = False, writer: str = "auto", seed: int = 11, **kwargs):
    out = OrmWriter() if writer == "orm" else writer_for(writer)
    return generate(
        demo_profiles(network),
        count=count,
        writer=out,
        seed=seed,
        rich=rich,
        today=TODAY,
        batch_size=250,
        **kwargs,
    )


def expected_tokens(person: Person) -> set[tuple[str, str]]:
    return set(
        person_tokens(
            given_names=person.given_names,
            first_surname=person.first_surname,
            second_surname=person.second_surname,
            aliases=[(a.given_names, a.surnames) for a in Alias.objects.filter(person=person)],
            documents=[d.number for d in Document.objects.filter(person=person)],
            phones=[p.e164 for p in Phone.objects.filter(person=person)],
        )
    )


def stored_tokens() -> dict[int, set[tuple[str, str]]]:
    out: dict[int, set[tuple[str, str]]] = defaultdict(set)
    signatures: dict[int, set[int]] = defaultdict(set)
    for person_id, token, kind, sig in SearchToken.objects.values_list("person_id", "token", "kind", "sig"):
        out[person_id].add((token, kind))
        signatures[person_id].add(sig)
    for person_id, tokens in out.items():
        # Every row of a person carries the signature of all the person's tokens, as reindex_person writes it.
        assert signatures[person_id] == {token_signature(t for t, _ in tokens)}
    return out


def assert_persons_valid() -> None:
    persons = {p.pk: p for p in Person.objects.select_related("birth_place__parent")}
    assert persons
    curps = Document.objects.filter(kind="curp")
    assert curps.count() > len(persons) / 3
    for doc in curps:
        assert stdnum_curp.is_valid(doc.number), doc.number
        person = persons[doc.person_id]
        place = person.birth_place
        state = place.parent.code if place is not None and place.parent is not None else None
        assert (
            curp_inconsistencies(
                doc.number,
                given_names=person.given_names,
                first_surname=person.first_surname,
                second_surname=person.second_surname,
                birth_date=person.birth_date,
                sex=person.sex,
                birth_place_state_code=state if person.birth_country == "MX" else None,
                birth_date_precision=person.birth_date_precision,
                birth_country=person.birth_country,
            )
            == []
        ), (doc.number, person.full_name, person.birth_date)
    for doc in Document.objects.all():
        validate_document_number(doc.kind, doc.number)
    for phone in Phone.objects.all():
        parsed = phonenumbers.parse(phone.e164)
        assert phonenumbers.is_valid_number(parsed), phone.e164
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone.e164
    tokens = stored_tokens()
    for person in persons.values():
        assert tokens[person.pk] == expected_tokens(person), person.full_name
        assert SearchToken.objects.filter(person=person).exclude(office_id=person.office_id).count() == 0


def test_bulk_persons_are_valid_and_have_the_services_search_tokens(network):
    stats = run(network, 1200)
    assert stats.persons == Person.objects.count() == 1200
    assert_persons_valid()


def test_rich_demo_persons_are_valid_too(network):
    run(network, 400, rich=True)
    assert_persons_valid()


def test_orm_writer_writes_the_same_persons_as_the_fast_writer(network):
    run(network, 300, writer="orm", seed=5)
    orm = list(
        Person.objects.order_by("id").values_list("given_names", "first_surname", "birth_date", "office")
    )
    orm_docs = sorted(Document.objects.values_list("number", flat=True))
    Person.objects.all().delete()
    run(network, 300, writer="auto", seed=5)
    fast = list(
        Person.objects.order_by("id").values_list("given_names", "first_surname", "birth_date", "office")
    )
    assert orm == fast
    assert sorted(Document.objects.values_list("number", flat=True)) == orm_docs


def test_persons_are_spread_over_the_demo_offices_with_plausible_people(network):
    run(network, 2000)
    counts = defaultdict(int)
    for code in Person.objects.values_list("office__code", flat=True):
        counts[code] += 1
    assert counts["ofam-mich"] > counts["ofam-chis"] > 0
    assert counts["mx-consulado-los-angeles"] > 0
    # Honduran consulates register Hondurans, who carry DNIs, not CURPs.
    hondurans = Person.objects.filter(office__represents_country="HN")
    assert Nationality.objects.filter(person__in=hondurans, country="HN").count() > hondurans.count() * 0.9
    assert not Document.objects.filter(person__in=hondurans, kind="curp").exists()
    assert Document.objects.filter(person__in=hondurans, kind="hn_dni").exists()
    # Some second surnames are missing, some given names are compound, some birth dates approximate.
    assert Person.objects.filter(second_surname="").exists()
    assert Person.objects.filter(given_names__contains=" ").exists()
    assert Person.objects.filter(birth_date_precision="year").exists()
    # Addresses near the municipal seat of a real municipality.
    address = Address.objects.filter(country="MX").select_related("admin_area").first()
    assert address.admin_area.level == 2
    assert abs(address.lat - address.admin_area.lat) < 0.05
    # Mexicans living in Los Angeles have Californian phones.
    assert Phone.objects.filter(
        person__office__code="mx-consulado-los-angeles", e164__startswith="+1"
    ).exists()


def test_rich_demo_has_households_in_both_directions(network):
    run(network, 500, rich=True)
    relations = set(HouseholdRelation.objects.values_list("person_id", "relative_id", "relation"))
    assert relations
    inverse = {"spouse": "spouse", "child": "parent", "parent": "child", "sibling": "sibling"}
    for person, relative, relation in relations:
        assert (relative, person, inverse[relation]) in relations
    child, parent = next((p, r) for p, r, rel in relations if rel == "child")
    kid, father = Person.objects.get(pk=child), Person.objects.get(pk=parent)
    assert kid.office_id == father.office_id
    assert father.first_surname in (kid.first_surname, kid.second_surname)
    curps = list(Document.objects.filter(kind="curp").values_list("number", flat=True))
    assert len(set(curps)) == len(curps)


def _index_names() -> set[str]:
    names: set[str] = set()
    with connection.cursor() as cursor:
        for table in ("people_person", "people_searchtoken", "people_document", "people_phone"):
            names |= {
                name
                for name, info in connection.introspection.get_constraints(cursor, table).items()
                if info["index"]
            }
    return names


def test_dropping_indexes_for_a_bulk_load_rebuilds_them(network):
    before = _index_names()
    run(network, 300, drop_indexes=True)
    assert _index_names() == before
    assert not DroppedIndex.objects.exists()
    assert_persons_valid()


def test_indexes_dropped_by_an_interrupted_load_are_restored():
    before = _index_names()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'people_token_prefix'")
        else:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'people_token_prefix'")
        sql = cursor.fetchone()[0]
        DroppedIndex.objects.create(name="people_token_prefix", table="people_searchtoken", sql=sql)
        cursor.execute("DROP INDEX people_token_prefix")
    assert "people_token_prefix" not in _index_names()
    assert restore_indexes() == 1
    assert _index_names() == before
