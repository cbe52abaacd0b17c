"""Merging two person records and undoing it (services): every related row moves and comes back, field
choices, unique collisions, permissions in both offices, chains and dependent merges, audit."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from rumbo.audit.models import Action, AuditEvent
from rumbo.geo.models import AdminArea
from rumbo.lib.testing.factories import MembershipFactory
from rumbo.matching.models import DuplicatePair, MatchKey, MatchProfile
from rumbo.offices.models import Role
from rumbo.offices.permissions import forget
from rumbo.people.data import AddressData, AliasData, DocumentData, PersonData, PhoneData, VulnerabilityData
from rumbo.people.models import (
    ConsentRecord,
    Document,
    HouseholdRelation,
    Language,
    Nationality,
    Person,
    PersonMerge,
    SearchToken,
    VulnerabilityFlag,
)
from rumbo.people.services import (
    consent_record,
    household_link,
    person_anonymise,
    person_create,
    person_data_from,
    person_merge,
    person_snapshot,
    person_unmerge,
    person_update,
)
from rumbo.people.services.merge import NOT_MOVED, person_relations
from rumbo.people.tests.utils import make_curp, make_person

# --- Helpers shared with the view and API tests --------------------------------------------------------


def person_row(person: Person) -> dict[str, Any]:
    """Every stored field of the person except ``updated_at`` (bumped by any save)."""
    fresh = Person._base_manager.get(pk=person.pk)
    return {
        f.attname: f.value_from_object(fresh) for f in Person._meta.concrete_fields if f.name != "updated_at"
    }


def related_rows(*persons: Person) -> dict[str, list[dict[str, Any]]]:
    """Every row of every model that points to one of ``persons`` — all fields, ids included — found
    generically, plus the derived and matching rows left out of the merge (as counts by person)."""
    ids = [p.pk for p in persons]
    out: dict[str, list[dict[str, Any]]] = {}
    for relation in person_relations():
        rows = relation.model._base_manager.filter(**{f"{relation.field}__in": ids}).order_by("pk")
        out[relation.key] = [
            {f.attname: f.value_from_object(r) for f in relation.model._meta.concrete_fields} for r in rows
        ]
    return out


def full_snapshot(*persons: Person) -> dict[str, Any]:
    """The persons (fields, child lists as the audit sees them, consent rows, household) and every row that
    points to them."""
    return {
        "persons": {p.pk: person_row(p) for p in persons},
        "audit_view": {p.pk: person_snapshot(Person._base_manager.get(pk=p.pk)) for p in persons},
        "consents": {
            p.pk: list(ConsentRecord._base_manager.filter(person=p).order_by("pk").values()) for p in persons
        },
        "household": sorted(
            HouseholdRelation._base_manager.filter(
                models.Q(person__in=persons) | models.Q(relative__in=persons)
            ).values_list("pk", "person_id", "relative_id", "relation")
        ),
        "rows": related_rows(*persons),
    }


def consent(actor: Any, person: Person, purpose: str = "registry", status: str = "given") -> ConsentRecord:
    return consent_record(
        actor=actor,
        person=person,
        purpose=purpose,
        status=status,
        method="verbal",
        text="Acepto.",
        text_version="v1",
    )


@dataclass
class Pair:
    survivor: Person
    merged: Person
    third: Person  # related to both
    fourth: Person  # related to the merged record only


def rich_pair(world: Any) -> Pair:
    """Two records of one woman in OFAM Michoacán with every kind of related row, some overlapping (MX
    nationality, Spanish, the "indigenous" vulnerability, a link to the same sister), a link between the
    two records, and a link of the merged record to someone else."""
    actor = world.caseworker
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    birth = datetime.date(1985, 6, 2)
    curp = make_curp(
        given_names="Guadalupe", first_surname="Pérez", second_surname="Ramírez", birth_date=birth, sex="F"
    )
    survivor = person_create(
        actor=actor,
        office=world.michoacan,
        data=PersonData(
            given_names="María Guadalupe",
            first_surname="Pérez",
            second_surname="Ramírez",
            sex="F",
            birth_date=birth,
            nationalities=["MX"],
            languages=["spa"],
            aliases=[AliasData("Lupita", "Pérez")],
            documents=[DocumentData("curp", curp)],
            phones=[PhoneData("443 123 4567", whatsapp=True)],
            addresses=[AddressData("MX", morelia.pk, "Calle Hidalgo 12")],
            vulnerabilities=[VulnerabilityData("indigenous", "purépecha")],
        ),
    )
    merged = person_create(
        actor=actor,
        office=world.michoacan,
        data=PersonData(
            given_names="Guadalupe",
            first_surname="Perez",
            second_surname="Ramirez",
            sex="F",
            birth_date=datetime.date(1985, 2, 6),
            birth_date_precision="month",
            email="lupe@example.org",
            preferred_language="pur",
            nationalities=["MX", "US"],
            languages=["spa", "pua"],
            aliases=[AliasData("Lupe", "Ramírez")],
            documents=[DocumentData("passport", "G12345678", "MX")],
            phones=[PhoneData("+1 310 555 0134", kind="other")],
            addresses=[AddressData("US", None, "123 Main St, Los Angeles", is_current=False)],
            vulnerabilities=[
                VulnerabilityData("indigenous", "otra nota"),
                VulnerabilityData("single_parent"),
            ],
        ),
    )
    third = make_person(actor, world.michoacan, given_names="Rosa", sex="F", documents=[], phones=[])
    fourth = make_person(actor, world.michoacan, given_names="Pedro", documents=[], phones=[])
    household_link(actor=actor, person=survivor, relative=merged, relation="sibling")
    household_link(actor=actor, person=survivor, relative=third, relation="sibling")
    household_link(actor=actor, person=merged, relative=third, relation="sibling")
    household_link(actor=actor, person=merged, relative=fourth, relation="parent")
    consent(actor, survivor)
    consent(actor, merged, "messages")
    consent(actor, merged, "messages", "withdrawn")
    return Pair(survivor, merged, third, fourth)


def grant(user: Any, office: Any, role: str) -> None:
    MembershipFactory(user=user, office=office, role=role)
    forget(user)


def merge(world: Any, survivor: Person, merged: Person, **choices: str) -> PersonMerge:
    return person_merge(actor=world.admin, survivor=survivor, merged=merged, choices=choices)


def refresh(person: Person) -> Person:
    return Person._base_manager.get(pk=person.pk)


def plain(world: Any, name: str, office: Any = None, **overrides: Any) -> Person:
    actor = world.caseworker if office is None else world.jalisco_caseworker
    overrides.setdefault("documents", [])
    overrides.setdefault("phones", [])
    return make_person(actor, office or world.michoacan, given_names=name, **overrides)


# --- Discovery of related rows ---------------------------------------------------------------------------


def test_discovery_covers_every_relation_to_person(world):
    discovered = {r.key for r in person_relations()}

    def key_of(rel):
        # A many-to-many to Person (a case's household members) moves through its join table's person column.
        if rel.many_to_many:
            return f"{rel.through._meta.label_lower}.person"
        return f"{rel.related_model._meta.label_lower}.{rel.field.name}"

    from_meta = {
        key_of(rel)
        for rel in Person._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and rel.related_model is not Person
    }
    assert discovered == {key for key in from_meta if key.rsplit(".", 1)[0] not in NOT_MOVED}
    # Every relation Django lists as related objects is moved or deliberately left (derived data, merges,
    # matching pairs and requests) — so rows of apps added later move without changes to the merge.
    for rel in Person._meta.related_objects:
        if rel.related_model is Person:
            continue  # merged_into
        key = key_of(rel)
        assert key in discovered or rel.related_model._meta.label_lower in NOT_MOVED, key
    assert {
        "people.document.person",
        "people.phone.person",
        "people.address.person",
        "people.alias.person",
        "people.nationality.person",
        "people.language.person",
        "people.vulnerabilityflag.person",
        "people.consentrecord.person",
        "people.householdrelation.person",
        "people.householdrelation.relative",
    } <= discovered


# --- Merge then unmerge ----------------------------------------------------------------------------------


def test_merge_then_unmerge_restores_every_related_record(world):
    pair = rich_pair(world)
    persons = (pair.survivor, pair.merged, pair.third, pair.fourth)
    before = full_snapshot(*persons)
    moved_ids = {
        key: [row["id"] for row in rows if pair.merged.pk in row.values()]
        for key, rows in before["rows"].items()
    }

    record = merge(world, pair.survivor, pair.merged, given_names="survivor", email="merged")

    survivor, merged = refresh(pair.survivor), refresh(pair.merged)
    assert merged.merged_into_id == survivor.pk
    assert merged.given_names == "Guadalupe" and merged.email == "lupe@example.org"  # tombstone untouched
    assert survivor.email == "lupe@example.org"
    after = related_rows(survivor, merged)
    for key, rows in after.items():
        assert all(merged.pk not in (row.get("person_id"), row.get("relative_id")) for row in rows), key
    assert sorted(Nationality.objects.filter(person=survivor).values_list("country", flat=True)) == [
        "MX",
        "US",
    ]
    assert sorted(Language.objects.filter(person=survivor).values_list("code", flat=True)) == ["pua", "spa"]
    assert dict(VulnerabilityFlag.objects.filter(person=survivor).values_list("flag", "note")) == {
        "indigenous": "purépecha",  # the survivor's row is kept
        "single_parent": "",
    }
    assert Document.objects.filter(person=survivor).count() == 2
    assert ConsentRecord.objects.filter(person=survivor).count() == 3
    assert sorted(
        HouseholdRelation.objects.filter(person=survivor).values_list("relative_id", flat=True)
    ) == sorted([pair.third.pk, pair.fourth.pk])
    assert not HouseholdRelation.objects.filter(models.Q(person=merged) | models.Q(relative=merged)).exists()
    assert {row["model"] for row in record.dropped} == {
        "people.nationality",
        "people.language",
        "people.vulnerabilityflag",
        "people.householdrelation",
    }
    # Moved rows kept their ids.
    for key, ids in record.moved.items():
        assert set(ids) <= set(moved_ids[key]), key

    person_unmerge(actor=world.admin, merge=record, reason="different persons")

    assert full_snapshot(*persons) == before
    record.refresh_from_db()
    assert record.unmerged_at is not None and record.unmerged_by == world.admin
    assert record.unmerge_reason == "different persons"


def test_tombstone_has_no_search_tokens_or_match_index_and_comes_back(world):
    pair = rich_pair(world)
    assert SearchToken.objects.filter(person=pair.merged).exists()
    assert MatchProfile.objects.filter(person=pair.merged).exists()
    record = merge(world, pair.survivor, pair.merged)
    assert not SearchToken.objects.filter(person=pair.merged).exists()
    assert not MatchProfile.objects.filter(person=pair.merged).exists()
    assert not MatchKey.objects.filter(person=pair.merged).exists()
    # The survivor is now found by the merged record's passport and phone.
    tokens = set(SearchToken.objects.filter(person=pair.survivor).values_list("token", flat=True))
    assert {"g12345678", "13105550134"} <= tokens
    person_unmerge(actor=world.admin, merge=record)
    assert SearchToken.objects.filter(person=pair.merged, token="g12345678").exists()
    assert not SearchToken.objects.filter(person=pair.survivor, token="g12345678").exists()
    assert MatchProfile.objects.filter(person=pair.merged).exists()


def test_curp_flags_follow_the_chosen_values_and_come_back(world):
    pair = rich_pair(world)
    curp = Document.objects.get(person=pair.survivor, kind="curp")
    assert curp.flags == []
    record = merge(world, pair.survivor, pair.merged, birth_date="merged")
    curp.refresh_from_db()
    assert "birth_date" in curp.flags
    person_unmerge(actor=world.admin, merge=record)
    curp.refresh_from_db()
    assert curp.flags == []


# --- Field choices -----------------------------------------------------------------------------------------


def test_chosen_values_are_applied(world):
    pair = rich_pair(world)
    record = merge(world, pair.survivor, pair.merged, given_names="merged", birth_date="merged")
    survivor = refresh(pair.survivor)
    assert survivor.given_names == "Guadalupe"
    assert survivor.birth_date == datetime.date(1985, 2, 1)  # month precision: the day is not known
    assert survivor.birth_date_precision == "month"  # the precision goes with the date
    assert survivor.first_surname == "Pérez"  # the survivor's by default
    # Empty on the survivor, so the merged record's value is kept by default.
    assert survivor.email == "lupe@example.org" and survivor.preferred_language == "pur"
    assert record.choices["given_names"] == "merged" and record.choices["first_surname"] == "survivor"
    assert record.choices["email"] == "merged"
    assert record.survivor_before["given_names"] == "María Guadalupe"


@pytest.mark.parametrize(
    ("choices", "key"),
    [
        ({"nickname": "merged"}, "choices.nickname"),
        ({"sex": "both"}, "choices.sex"),
        ({"office": "merged"}, "choices.office"),
        ({"birth_date_precision": "merged"}, "choices.birth_date_precision"),
    ],
)
def test_invalid_choice_is_an_error_at_its_key_and_changes_nothing(world, choices, key):
    pair = rich_pair(world)
    before = full_snapshot(pair.survivor, pair.merged)
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        person_merge(actor=world.admin, survivor=pair.survivor, merged=pair.merged, choices=choices)
    assert list(exc.value.message_dict) == [key]
    assert full_snapshot(pair.survivor, pair.merged) == before
    assert not PersonMerge.objects.exists()
    assert AuditEvent.objects.count() == events


def test_place_of_birth_outside_the_chosen_country_is_refused(world):
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    survivor = plain(world, "Ana", birth_country="US")
    merged = plain(world, "Ana", birth_place_id=morelia.pk)
    with pytest.raises(ValidationError) as exc:
        merge(world, survivor, merged, birth_place="merged")
    assert "choices.birth_place" in exc.value.message_dict


def test_unmerge_keeps_fields_edited_after_the_merge(world):
    pair = rich_pair(world)
    record = merge(world, pair.survivor, pair.merged, given_names="merged", email="merged", sex="merged")
    survivor = refresh(pair.survivor)
    data = person_data_from(survivor)
    data.email = "nueva@example.org"
    person_update(actor=world.caseworker, person=survivor, data=data)
    person_unmerge(actor=world.admin, merge=record)
    survivor = refresh(pair.survivor)
    assert survivor.given_names == "María Guadalupe"  # untouched since the merge: restored
    assert survivor.email == "nueva@example.org"  # edited since the merge: the newer value stays
    event = AuditEvent.objects.get(action=Action.PERSON_UNMERGE, object_id=str(survivor.pk))
    # preferred_language was empty on the survivor, so it took the merged value by default.
    assert set(event.detail["fields_restored"]) == {"given_names", "sex", "preferred_language"}


# --- Refusals and permissions ----------------------------------------------------------------------------


def test_a_record_cannot_be_merged_into_itself(world):
    person = plain(world, "Ana")
    with pytest.raises(ValidationError) as exc:
        merge(world, person, person)
    assert "merged" in exc.value.message_dict


def test_merged_and_anonymised_records_cannot_be_merged(world):
    survivor, other, third = plain(world, "Ana"), plain(world, "Ana"), plain(world, "Ana")
    merge(world, survivor, other)
    with pytest.raises(ValidationError) as exc:
        merge(world, third, other)
    assert exc.value.message_dict["merged"] == ["This record was already merged into another one."]
    with pytest.raises(ValidationError) as exc:
        merge(world, other, third)
    assert "survivor" in exc.value.message_dict
    person_anonymise(actor=world.admin, person=third, reason="asked")
    with pytest.raises(ValidationError) as exc:
        merge(world, survivor, third)
    assert exc.value.message_dict["merged"] == ["Anonymised records cannot be merged."]


@pytest.mark.parametrize("persona", ["caseworker", "auditor", "trainer", "coordinator", "no_role"])
def test_merge_needs_the_merge_right(world, persona):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    with pytest.raises(PermissionDenied):
        person_merge(actor=getattr(world, persona), survivor=survivor, merged=merged, choices={})
    assert refresh(merged).merged_into_id is None


def test_merge_across_offices_needs_the_right_in_both(world):
    survivor = plain(world, "Ana")
    merged = plain(world, "Ana", office=world.jalisco, email="ana@example.org")
    with pytest.raises(PermissionDenied):
        merge(world, survivor, merged)
    with pytest.raises(PermissionDenied):
        person_merge(actor=world.jalisco_caseworker, survivor=survivor, merged=merged, choices={})
    grant(world.admin, world.jalisco, Role.CASEWORKER)  # a role there, but not the right to merge
    with pytest.raises(PermissionDenied):
        merge(world, survivor, merged)
    grant(world.admin, world.jalisco, Role.OFFICE_ADMIN)
    record = merge(world, survivor, merged)
    assert refresh(merged).merged_into_id == survivor.pk
    assert refresh(survivor).email == "ana@example.org"
    # Undoing needs the same rights: a Jalisco admin alone may not.
    jalisco_admin = MembershipFactory(office=world.jalisco, role=Role.OFFICE_ADMIN).user
    with pytest.raises(PermissionDenied):
        person_unmerge(actor=jalisco_admin, merge=record)
    person_unmerge(actor=world.admin, merge=record)
    assert refresh(merged).merged_into_id is None


# --- Chains and dependent merges ------------------------------------------------------------------------


def test_unmerge_is_refused_while_a_later_merge_depends_on_it(world):
    a, b, c = plain(world, "Ana"), plain(world, "Ana"), plain(world, "Ana")
    first = merge(world, b, a)  # a → b
    second = merge(world, c, b)  # b → c: a chain a → b → c
    with pytest.raises(ValidationError) as exc:
        person_unmerge(actor=world.admin, merge=first)
    assert "undo that merge first" in exc.value.messages[0]
    person_unmerge(actor=world.admin, merge=second)
    person_unmerge(actor=world.admin, merge=first)
    assert refresh(a).merged_into_id is None and refresh(b).merged_into_id is None
    with pytest.raises(ValidationError) as exc:
        person_unmerge(actor=world.admin, merge=first)
    assert exc.value.messages == ["This merge was already undone."]


def test_later_merges_into_the_same_survivor_are_undone_first(world):
    survivor, one, two = plain(world, "Ana"), plain(world, "Ana"), plain(world, "Ana")
    first = merge(world, survivor, one)
    second = merge(world, survivor, two)
    with pytest.raises(ValidationError) as exc:
        person_unmerge(actor=world.admin, merge=first)
    assert "depends on this one" in exc.value.messages[0]
    person_unmerge(actor=world.admin, merge=second)
    person_unmerge(actor=world.admin, merge=first)


def test_unmerge_is_refused_after_the_survivor_was_anonymised(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    record = merge(world, survivor, merged)
    person_anonymise(actor=world.admin, person=survivor, reason="asked")
    with pytest.raises(ValidationError):
        person_unmerge(actor=world.admin, merge=record)


def test_a_record_merged_and_unmerged_can_be_merged_again(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    person_unmerge(actor=world.admin, merge=merge(world, survivor, merged))
    again = merge(world, survivor, merged)
    assert refresh(merged).merged_into_id == survivor.pk
    person_unmerge(actor=world.admin, merge=again)


# --- Adjudication pair --------------------------------------------------------------------------------------


def test_the_pair_of_the_two_records_is_decided_same_and_restored(world):
    survivor, merged = plain(world, "Ana"), plain(world, "Ana")
    low, high = sorted((survivor, merged), key=lambda p: p.pk)
    pair = DuplicatePair.objects.create(
        person_a=low,
        person_b=high,
        office_a=low.office,
        office_b=high.office,
        match_weight=9,
        probability=0.9,
    )
    record = merge(world, survivor, merged)
    pair.refresh_from_db()
    assert pair.decision == "same" and pair.decided_by == world.admin
    person_unmerge(actor=world.admin, merge=record)
    pair.refresh_from_db()
    assert pair.decision == "pending" and pair.decided_by is None and pair.decided_at is None


# --- Audit ----------------------------------------------------------------------------------------------------


def test_merge_and_unmerge_are_audited_on_both_records(world):
    pair = rich_pair(world)
    record = person_merge(
        actor=world.admin,
        survivor=pair.survivor,
        merged=pair.merged,
        choices={"given_names": "merged"},
        reason="same CURP on paper",
    )
    on_survivor = AuditEvent.objects.get(action=Action.PERSON_MERGE, object_id=str(pair.survivor.pk))
    on_merged = AuditEvent.objects.get(action=Action.PERSON_MERGE, object_id=str(pair.merged.pk))
    for event in (on_survivor, on_merged):
        assert event.actor == world.admin
        assert event.office_id == world.michoacan.pk
        assert event.object_type == "people.person"
        assert event.detail["merge_id"] == record.pk
        assert event.detail["survivor"] == pair.survivor.pk and event.detail["merged"] == pair.merged.pk
        assert event.detail["moved"]["people.document.person"] == 1
        assert event.detail["reason"] == "same CURP on paper"
    assert on_survivor.changes["given_names"] == {"old": "María Guadalupe", "new": "Guadalupe"}
    assert "passport" in str(on_survivor.changes["documents"]["new"])
    assert on_merged.changes == {"merged_into": {"old": None, "new": pair.survivor.pk}}

    person_unmerge(actor=world.admin, merge=record, reason="siblings")
    back_survivor = AuditEvent.objects.get(action=Action.PERSON_UNMERGE, object_id=str(pair.survivor.pk))
    back_merged = AuditEvent.objects.get(action=Action.PERSON_UNMERGE, object_id=str(pair.merged.pk))
    assert back_survivor.changes["given_names"] == {"old": "Guadalupe", "new": "María Guadalupe"}
    assert back_merged.changes == {"merged_into": {"old": pair.survivor.pk, "new": None}}
    for event in (back_survivor, back_merged):
        assert event.detail["reason"] == "siblings" and event.detail["missing"] == 0
        assert event.detail["recreated"] == len(record.dropped)
    # The merged record's earlier history is kept as it was.
    assert AuditEvent.objects.filter(action=Action.PERSON_CREATE, object_id=str(pair.merged.pk)).exists()
