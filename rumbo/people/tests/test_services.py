"""Tests of the people services: validation before writing, audit diffs, CURP flags, anonymisation."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import translation

from rumbo.audit.models import Action, AuditEvent
from rumbo.geo.models import AdminArea
from rumbo.people.data import AddressData, AliasData, DocumentData, PhoneData, VulnerabilityData
from rumbo.people.models import (
    Address,
    Alias,
    ConsentRecord,
    DatePrecision,
    Document,
    HouseholdRelation,
    Person,
    Phone,
    SearchToken,
    VulnerabilityFlag,
)
from rumbo.people.services import (
    ANONYMISED_NAME,
    consent_record,
    consent_text_sha256,
    document_add,
    document_remove,
    household_link,
    household_unlink,
    person_anonymise,
    person_create,
    person_data_from,
    person_record_view,
    person_search_record,
    person_update,
)
from rumbo.people.tests.utils import JOSE_BIRTH, JOSE_CURP, jose_data, make_curp, make_person


def events(person: Person, action: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="people.person", object_id=str(person.pk), action=action)
    )


def morelia() -> AdminArea:
    return AdminArea.objects.get(country="MX", level=2, code="16053")


# --- person_create ----------------------------------------------------------------------------------


def test_create_stores_person_children_and_normalises(world):
    person = make_person(world.caseworker, world.michoacan, birth_place_id=morelia().pk)
    assert person.office == world.michoacan
    assert person.created_by == world.caseworker
    assert person.birth_country == "MX"
    phone = Phone.objects.get(person=person)
    assert phone.e164 == "+524431234567"
    assert phone.is_primary and phone.whatsapp
    doc = Document.objects.get(person=person)
    assert (doc.kind, doc.number, doc.issuing_country, doc.flags) == ("curp", JOSE_CURP, "MX", [])
    assert doc.number_normalized == JOSE_CURP.lower()


def test_create_audits_every_stored_field(world):
    person = make_person(world.caseworker, world.michoacan)
    (event,) = events(person, Action.PERSON_CREATE)
    assert event.actor == world.caseworker
    assert event.office_id == world.michoacan.pk
    assert event.changes["given_names"] == {"old": None, "new": "José"}
    assert event.changes["birth_date"] == {"old": None, "new": "1990-01-15"}
    assert event.changes["phones"]["new"][0]["number"] == "+524431234567"
    assert event.changes["documents"]["new"][0]["number"] == JOSE_CURP


def test_create_indexes_names_documents_and_phones(world):
    person = make_person(world.caseworker, world.michoacan, aliases=[AliasData("Joe", "Hernandez")])
    tokens = set(SearchToken.objects.filter(person=person).values_list("token", flat=True))
    assert {"jose", "hernandez", "lopez", "joe", JOSE_CURP.lower(), "524431234567", "4431234567"} <= tokens


def test_create_needs_add_person_in_that_office(world):
    with pytest.raises(PermissionDenied):
        make_person(world.caseworker, world.jalisco)
    with pytest.raises(PermissionDenied):
        make_person(world.auditor, world.michoacan)
    assert not Person.objects.exists()


def test_invalid_phone_in_second_row_saves_nothing(world):
    data = jose_data(phones=[PhoneData("443 123 4567"), PhoneData("12")])
    with pytest.raises(ValidationError) as exc:
        person_create(actor=world.caseworker, office=world.michoacan, data=data)
    assert set(exc.value.message_dict) == {"phones.1.number"}
    assert not Person.objects.exists()
    assert not Phone.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.PERSON_CREATE).exists()


def test_invalid_curp_is_an_error_at_the_document_number(world):
    bad = JOSE_CURP[:-1] + str((int(JOSE_CURP[-1]) + 1) % 10)
    with pytest.raises(ValidationError) as exc, translation.override("en"):
        person_create(
            actor=world.caseworker,
            office=world.michoacan,
            data=jose_data(documents=[DocumentData("passport", "G12345678"), DocumentData("curp", bad)]),
        )
    assert list(exc.value.message_dict) == ["documents.1.number"]
    with translation.override("en"):
        assert "check digit" in exc.value.message_dict["documents.1.number"][0]
    assert not Person.objects.exists()


def test_future_birth_date_is_an_error_at_the_birth_date(world):
    with pytest.raises(ValidationError) as exc:
        make_person(world.caseworker, world.michoacan, birth_date=datetime.date(2999, 1, 1), documents=[])
    assert list(exc.value.message_dict) == ["birth_date"]
    assert not Person.objects.exists()


def test_every_bad_field_is_reported_at_once(world):
    with pytest.raises(ValidationError) as exc:
        make_person(
            world.caseworker,
            world.michoacan,
            given_names=" ",
            email="not-an-email",
            nationalities=["XX"],
            languages=["zzz"],
            documents=[DocumentData("hn_dni", "9999-1990-12345")],
            addresses=[AddressData(country="MX")],
            vulnerabilities=[VulnerabilityData("nonsense")],
        )
    assert set(exc.value.message_dict) == {
        "given_names",
        "email",
        "nationalities.0",
        "languages.0",
        "documents.0.number",
        "addresses.0.text",
        "vulnerabilities.0.flag",
    }


def test_approximate_birth_date_keeps_only_known_parts(world):
    person = make_person(
        world.caseworker,
        world.michoacan,
        birth_date=datetime.date(1985, 7, 23),
        birth_date_precision=DatePrecision.MONTH,
        documents=[],
    )
    assert person.birth_date == datetime.date(1985, 7, 1)


def test_duplicate_phone_rows_are_an_error_on_the_second(world):
    with pytest.raises(ValidationError) as exc:
        make_person(
            world.caseworker, world.michoacan, phones=[PhoneData("4431234567"), PhoneData("+52 443 123 4567")]
        )
    assert list(exc.value.message_dict) == ["phones.1.number"]


# --- CURP flags -------------------------------------------------------------------------------------


def test_curp_disagreeing_with_birth_date_and_sex_is_saved_and_flagged(world):
    person = make_person(world.caseworker, world.michoacan, sex="F", birth_date=datetime.date(1991, 1, 15))
    assert Document.objects.get(person=person).flags == ["birth_date", "sex"]


def test_curp_flags_follow_person_updates(world):
    person = make_person(world.caseworker, world.michoacan, sex="F")
    doc = Document.objects.get(person=person)
    assert doc.flags == ["sex"]
    person_update(actor=world.caseworker, person=person, data=jose_data(sex="M"))
    doc.refresh_from_db()
    assert doc.flags == []
    assert Document.objects.get(person=person).pk == doc.pk  # the row survived the update


def test_curp_born_in_another_state_flags_birth_state(world):
    guadalajara = AdminArea.objects.get(country="MX", level=2, code="14039")
    person = make_person(world.caseworker, world.michoacan, birth_place_id=guadalajara.pk)
    assert Document.objects.get(person=person).flags == ["birth_state"]


# --- person_update ----------------------------------------------------------------------------------


def test_update_audits_a_field_level_diff(world):
    person = make_person(world.caseworker, world.michoacan)
    data = person_data_from(person)
    data.second_surname = "Pérez"
    data.phones.append(PhoneData("+1 310 555 1234"))
    person_update(actor=world.caseworker, person=person, data=data)
    (event,) = events(person, Action.PERSON_UPDATE)
    assert event.changes["second_surname"] == {"old": "López", "new": "Pérez"}
    assert [p["number"] for p in event.changes["phones"]["new"]] == ["+13105551234", "+524431234567"]
    assert set(event.changes) == {"second_surname", "phones"}
    assert SearchToken.objects.filter(person=person, token="perez").exists()
    assert not SearchToken.objects.filter(person=person, token="lopez").exists()


def test_update_that_changes_nothing_writes_no_event(world):
    person = make_person(world.caseworker, world.michoacan)
    person_update(actor=world.caseworker, person=person, data=person_data_from(person))
    assert events(person, Action.PERSON_UPDATE) == []


def test_update_replaces_child_lists(world):
    person = make_person(world.caseworker, world.michoacan, vulnerabilities=[VulnerabilityData("elderly")])
    person_update(actor=world.caseworker, person=person, data=jose_data(phones=[], documents=[]))
    assert not Phone.objects.filter(person=person).exists()
    assert not Document.objects.filter(person=person).exists()
    assert not VulnerabilityFlag.objects.filter(person=person).exists()


def test_invalid_update_changes_nothing(world):
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(ValidationError):
        person_update(
            actor=world.caseworker,
            person=person,
            data=jose_data(given_names="Juan", phones=[PhoneData("4431234567"), PhoneData("000")]),
        )
    person.refresh_from_db()
    assert person.given_names == "José"
    assert Phone.objects.filter(person=person).count() == 1


def test_auditor_cannot_update(world):
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(PermissionDenied):
        person_update(actor=world.auditor, person=person, data=jose_data(given_names="Juan"))


# --- person_anonymise -------------------------------------------------------------------------------


def test_anonymise_removes_personal_data_and_tokens_but_keeps_audit(world):
    person = make_person(
        world.caseworker,
        world.michoacan,
        birth_place_id=morelia().pk,
        email="jose@example.org",
        aliases=[AliasData("Joe", "Hernandez")],
        addresses=[AddressData(text="Calle Falsa 123", admin_area_id=morelia().pk)],
        vulnerabilities=[VulnerabilityData("medical", "diabetes")],
    )
    relative = make_person(world.caseworker, world.michoacan, given_names="Ana", documents=[], phones=[])
    household_link(actor=world.caseworker, person=person, relative=relative, relation="parent")
    before = AuditEvent.objects.filter(object_id=str(person.pk)).count()

    person_anonymise(actor=world.admin, person=person, reason="Asked to be forgotten")

    person.refresh_from_db()
    assert person.is_anonymised
    assert (person.given_names, person.first_surname, person.second_surname) == (
        ANONYMISED_NAME,
        ANONYMISED_NAME,
        "",
    )
    assert person.email == ""
    assert (person.birth_date, person.birth_date_precision) == (datetime.date(1990, 1, 1), DatePrecision.YEAR)
    assert person.birth_place_id == morelia().parent_id
    for model in (Document, Phone, Address, Alias):
        assert not model.objects.filter(person=person).exists()
    assert not HouseholdRelation.objects.filter(relative=person).exists()
    assert VulnerabilityFlag.objects.get(person=person).note == ""
    assert not SearchToken.objects.filter(person=person).exists()
    assert AuditEvent.objects.filter(object_id=str(person.pk)).count() == before + 1
    (event,) = events(person, Action.PERSON_ANONYMISE)
    assert event.detail["reason"] == "Asked to be forgotten"
    assert event.changes["given_names"] == {"old": "[removed]", "new": ANONYMISED_NAME}
    assert "José" not in str(event.changes) and "jose@example.org" not in str(event.changes)


def test_anonymise_needs_the_admin_role_and_a_reason(world):
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(PermissionDenied):
        person_anonymise(actor=world.caseworker, person=person, reason="x")
    with pytest.raises(ValidationError) as exc:
        person_anonymise(actor=world.admin, person=person, reason="  ")
    assert list(exc.value.message_dict) == ["reason"]
    person.refresh_from_db()
    assert not person.is_anonymised


def test_anonymised_person_cannot_be_updated(world):
    person = make_person(world.caseworker, world.michoacan)
    person_anonymise(actor=world.admin, person=person, reason="duplicate test record")
    with pytest.raises(ValidationError):
        person_update(actor=world.caseworker, person=person, data=jose_data())


# --- access events ----------------------------------------------------------------------------------


def test_record_view_writes_an_access_event(world):
    person = make_person(world.caseworker, world.michoacan)
    person_record_view(actor=world.auditor, person=person)
    (event,) = events(person, Action.PERSON_VIEW)
    assert event.actor == world.auditor and event.detail == {"via": "web"}


def test_record_view_refuses_users_without_view_permission(world):
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(PermissionDenied):
        person_record_view(actor=world.jalisco_caseworker, person=person)


def test_search_record_keeps_only_query_and_count(world):
    person_search_record(actor=world.caseworker, query="hernandez", result_count=3)
    event = AuditEvent.objects.get(action=Action.PERSON_SEARCH)
    assert event.detail == {"query": "hernandez", "results": 3, "via": "web"}
    assert event.object_id == ""


# --- documents --------------------------------------------------------------------------------------


def test_document_add_and_remove_are_audited_and_indexed(world):
    person = make_person(world.caseworker, world.michoacan)
    doc = document_add(actor=world.caseworker, person=person, data=DocumentData("passport", "g 1234-5678"))
    assert doc.number == "G12345678"
    assert SearchToken.objects.filter(person=person, token="g12345678").exists()
    (added,) = events(person, Action.DOCUMENT_ADD)
    assert added.changes["documents"] == {
        "old": None,
        "new": {"kind": "passport", "number": "G12345678", "flags": []},
    }
    document_remove(actor=world.caseworker, document=doc)
    assert not SearchToken.objects.filter(person=person, token="g12345678").exists()
    (removed,) = events(person, Action.DOCUMENT_REMOVE)
    assert removed.changes["documents"]["old"]["number"] == "G12345678"


def test_document_add_flags_a_disagreeing_curp(world):
    person = make_person(
        world.caseworker, world.michoacan, documents=[], birth_date=datetime.date(1990, 2, 15)
    )
    doc = document_add(actor=world.caseworker, person=person, data=DocumentData("curp", JOSE_CURP))
    assert doc.flags == ["birth_date"]


def test_document_add_refuses_the_same_document_twice(world):
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(ValidationError) as exc:
        document_add(actor=world.caseworker, person=person, data=DocumentData("curp", JOSE_CURP.lower()))
    assert list(exc.value.message_dict) == ["number"]


def test_honduran_dni_is_stored_canonically(world):
    person = make_person(
        world.caseworker, world.michoacan, documents=[DocumentData("hn_dni", "0801199012345")]
    )
    doc = Document.objects.get(person=person)
    assert (doc.number, doc.issuing_country) == ("0801-1990-12345", "HN")


# --- consent ----------------------------------------------------------------------------------------


def test_consent_stores_the_hash_of_the_exact_text(world):
    person = make_person(world.caseworker, world.michoacan)
    text = "Acepto que la OFAM guarde mis datos.\nPuedo retirar mi consentimiento."
    record = consent_record(
        actor=world.caseworker,
        person=person,
        purpose="registry",
        status="given",
        method="verbal",
        text=text,
        text_version="2025-01/es",
        given_by="",
    )
    assert record.text_sha256 == hashlib.sha256(text.encode()).hexdigest() == consent_text_sha256(text)
    assert record.recorded_by == world.caseworker
    (event,) = events(person, Action.CONSENT_RECORD)
    assert event.changes == {"consent.registry": {"old": None, "new": "given"}}


def test_consent_by_proxy_needs_who_gave_it(world):
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(ValidationError) as exc:
        consent_record(
            actor=world.caseworker,
            person=person,
            purpose="registry",
            status="given",
            method="proxy",
            text="x",
            text_version="1",
            given_by="",
        )
    assert list(exc.value.message_dict) == ["given_by"]
    assert not ConsentRecord.objects.exists()


# --- household --------------------------------------------------------------------------------------


def test_household_link_stores_both_directions(world):
    child = make_person(world.caseworker, world.michoacan)
    mother = make_person(
        world.caseworker, world.michoacan, given_names="Ana", sex="F", documents=[], phones=[]
    )
    household_link(actor=world.caseworker, person=child, relative=mother, relation="child")
    assert HouseholdRelation.objects.get(person=child, relative=mother).relation == "child"
    assert HouseholdRelation.objects.get(person=mother, relative=child).relation == "parent"
    assert events(child, Action.PERSON_UPDATE)[0].changes == {
        f"household.{mother.pk}": {"old": None, "new": "child"}
    }
    assert events(mother, Action.PERSON_UPDATE)[0].changes == {
        f"household.{child.pk}": {"old": None, "new": "parent"}
    }
    household_unlink(actor=world.caseworker, person=child, relative=mother)
    assert not HouseholdRelation.objects.exists()


def test_household_link_to_an_invisible_person_is_not_found(world):
    person = make_person(world.caseworker, world.michoacan)
    stranger = make_person(
        world.jalisco_caseworker, world.jalisco, given_names="Pedro", documents=[], phones=[]
    )
    with pytest.raises(Http404):
        household_link(actor=world.caseworker, person=person, relative=stranger, relation="sibling")
    assert not HouseholdRelation.objects.exists()


def test_household_link_to_oneself_is_refused(world):
    person = make_person(world.caseworker, world.michoacan)
    with pytest.raises(ValidationError) as exc:
        household_link(actor=world.caseworker, person=person, relative=person, relation="sibling")
    assert list(exc.value.message_dict) == ["relative"]


def test_make_curp_helper_builds_valid_curps():
    from stdnum.mx import curp

    assert curp.is_valid(JOSE_CURP)
    assert JOSE_CURP.startswith("HELJ900115HMN")
    assert curp.is_valid(
        make_curp(given_names="María Luisa", first_surname="Núñez", birth_date=JOSE_BIRTH, sex="F")
    )


# --- person_data_clean -----------------------------------------------------------------------------------


def test_cleaning_keeps_every_field_of_the_child_rows(db):
    """The cleaner builds new child rows field by field (faster than ``dataclasses.replace``): every field
    not normalised must come through as given. A field added to a child dataclass without a value here
    fails the first assertion, so it cannot be forgotten in the cleaner."""
    from dataclasses import fields

    from rumbo.people.data import PersonData
    from rumbo.people.services import person_data_clean

    assert {f.name for f in fields(DocumentData)} == {
        "kind",
        "number",
        "issuing_country",
        "issued_on",
        "expires_on",
    }
    assert {f.name for f in fields(PhoneData)} == {"number", "kind", "whatsapp", "is_primary", "region"}
    assert {f.name for f in fields(AddressData)} == {
        "country",
        "admin_area_id",
        "text",
        "lat",
        "lon",
        "is_current",
    }
    document = DocumentData(
        kind="passport",
        number="g1234567",
        issuing_country="US",
        issued_on=datetime.date(2020, 1, 2),
        expires_on=datetime.date(2030, 1, 2),
    )
    phones = [
        PhoneData(number="(212) 555-0182", kind="landline", whatsapp=True, is_primary=False, region="US"),
        PhoneData(number="443 123 4567", kind="other", whatsapp=False, is_primary=True, region="MX"),
    ]
    address = AddressData(country="US", admin_area_id=None, text=" 12 Main St ", lat=40.5, lon=-74.25)
    address.is_current = False
    clean = person_data_clean(
        PersonData(
            given_names="Ana",
            first_surname="Ruiz",
            documents=[document],
            phones=phones,
            addresses=[address],
        )
    )
    (doc,) = clean.documents
    assert (doc.kind, doc.issuing_country, doc.issued_on, doc.expires_on) == (
        "passport",
        "US",
        datetime.date(2020, 1, 2),
        datetime.date(2030, 1, 2),
    )
    assert [(p.number, p.kind, p.whatsapp, p.is_primary, p.region) for p in clean.phones] == [
        ("+12125550182", "landline", True, False, "US"),
        ("+524431234567", "other", False, True, "MX"),
    ]
    (kept,) = clean.addresses
    assert (kept.country, kept.admin_area_id, kept.text, kept.lat, kept.lon, kept.is_current) == (
        "US",
        None,
        "12 Main St",
        40.5,
        -74.25,
        False,
    )
    # The caller's rows are left as they were.
    assert phones[0].number == "(212) 555-0182" and address.text == " 12 Main St "


def test_cleaning_makes_the_first_phone_primary_without_touching_the_callers_row(db):
    from rumbo.people.data import PersonData
    from rumbo.people.services import person_data_clean

    phone = PhoneData(number="4431234567")
    clean = person_data_clean(PersonData(given_names="Ana", first_surname="Ruiz", phones=[phone]))
    assert clean.phones[0].is_primary is True
    assert phone.is_primary is False
