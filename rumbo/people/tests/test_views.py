"""Tests of the people pages: permission matrix of every view, search-first creation, errors at the field,
audit of every read and write, CURP flags, anonymisation, consent and household."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from rumbo.audit.models import Action, AuditEvent
from rumbo.geo.models import AdminArea
from rumbo.lib.testing.factories import member
from rumbo.offices.models import Role
from rumbo.people.consent import consent_text
from rumbo.people.data import AddressData
from rumbo.people.models import Address, ConsentRecord, Document, HouseholdRelation, Person, Phone
from rumbo.people.services import consent_text_sha256
from rumbo.people.tests.utils import JOSE_CURP, make_curp, make_person

ROWS = ("documents", "phones", "aliases", "addresses")


def payload(**fields: Any) -> dict[str, Any]:
    """POST data of the person form: José Hernández López with his CURP and a phone, plus ``fields``."""
    data: dict[str, Any] = {
        "given_names": "José",
        "first_surname": "Hernández",
        "second_surname": "López",
        "sex": "M",
        "birth_date": "1990-01-15",
        "birth_date_precision": "day",
        "nationalities": ["MX"],
        "languages": ["spa"],
        "documents-0-kind": "curp",
        "documents-0-number": JOSE_CURP,
        "phones-0-number": "443 123 4567",
        "phones-0-kind": "mobile",
        "phones-0-whatsapp": "on",
        "addresses-0-country": "MX",
        "phones-1-kind": "mobile",
        "addresses-0-is_current": "on",
    }
    for prefix in ROWS:
        total = "1" if prefix in ("aliases", "addresses") else "2"
        data.update(
            {f"{prefix}-TOTAL_FORMS": total, f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "20"}
        )
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def michoacan_person(world: Any, **overrides: Any) -> Person:
    return make_person(world.caseworker, world.michoacan, **overrides)


def jalisco_person(world: Any) -> Person:
    return make_person(
        world.jalisco_caseworker,
        world.jalisco,
        given_names="Pedro",
        first_surname="Ramírez",
        documents=[],
        phones=[],
    )


# --- permission matrix ------------------------------------------------------------------------------

# (view name, needs a person, status for: no_role, caseworker, auditor, trainer)
MATRIX = [
    ("people:search", False, 403, 200, 200, 403),
    ("people:create", False, 403, 200, 403, 403),
    ("people:municipalities", False, 403, 200, 200, 403),
    ("people:detail", True, 403, 200, 200, 403),
    ("people:edit", True, 403, 200, 403, 403),
    ("people:consent", True, 403, 200, 403, 403),
    ("people:household", True, 403, 200, 403, 403),
    ("people:anonymise", True, 403, 403, 403, 403),
]


def _url(name: str, needs_person: bool, person: Person) -> str:
    return reverse(name, kwargs={"pk": person.pk}) if needs_person else reverse(name)


@pytest.mark.parametrize(("name", "needs_person", "no_role", "caseworker", "auditor", "trainer"), MATRIX)
def test_permission_matrix(world, client, name, needs_person, no_role, caseworker, auditor, trainer):
    person = michoacan_person(world)
    url = _url(name, needs_person, person)
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
    for user, expected in (
        (world.no_role, no_role),
        (world.caseworker, caseworker),
        (world.auditor, auditor),
        (world.trainer, trainer),
        (world.coordinator, 403),
    ):
        assert world.client_for(user).get(url).status_code == expected, (name, user.username)


@pytest.mark.parametrize("name", ["people:detail", "people:edit", "people:consent", "people:household"])
def test_other_office_person_is_not_found(world, name):
    person = michoacan_person(world)
    response = world.client_for(world.jalisco_caseworker).get(reverse(name, kwargs={"pk": person.pk}))
    assert response.status_code == 404


def test_anonymise_page_is_for_admins_of_the_office(world):
    person = michoacan_person(world)
    url = reverse("people:anonymise", kwargs={"pk": person.pk})
    assert world.client_for(world.admin).get(url).status_code == 200
    jalisco_admin = member(world.jalisco, Role.OFFICE_ADMIN, username="admin-jal")
    assert world.client_for(jalisco_admin).get(url).status_code == 404


def test_writes_by_post_follow_the_same_matrix(world):
    person = michoacan_person(world)
    edit = reverse("people:edit", kwargs={"pk": person.pk})
    assert world.client_for(world.auditor).post(edit, payload(given_names="Juan")).status_code == 403
    assert (
        world.client_for(world.jalisco_caseworker).post(edit, payload(given_names="Juan")).status_code == 404
    )
    assert world.client_for(world.auditor).post(reverse("people:create"), payload()).status_code == 403
    person.refresh_from_db()
    assert person.given_names == "José"
    assert Person.objects.count() == 1


def test_michoacan_caseworker_cannot_see_search_or_reach_a_jalisco_person(world):
    stranger = jalisco_person(world)
    client = world.client_for(world.caseworker)
    response = client.get(reverse("people:search"), {"q": "pedro ramirez"})
    assert response.status_code == 200
    assert "Pedro" not in response.content.decode()
    assert response.context["result"].total == 0
    assert client.get(reverse("people:detail", kwargs={"pk": stranger.pk})).status_code == 404
    assert client.get(reverse("people:edit", kwargs={"pk": stranger.pk})).status_code == 404
    own = michoacan_person(world)
    link = client.post(
        reverse("people:household", kwargs={"pk": own.pk}),
        {"relative": stranger.pk, "relation": "sibling", "action": "link"},
    )
    assert link.status_code == 404
    assert not HouseholdRelation.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.PERSON_VIEW, object_id=str(stranger.pk)).exists()


# --- search -----------------------------------------------------------------------------------------


def test_search_finds_accents_and_capitals_and_audits_query_and_count(world):
    person = michoacan_person(world)
    client = world.client_for(world.caseworker)
    response = client.get(reverse("people:search"), {"q": "jose hernandez"})
    assert [p.pk for p, _doc in response.context["rows"]] == [person.pk]
    assert JOSE_CURP in response.content.decode()  # the main document column
    event = AuditEvent.objects.get(action=Action.PERSON_SEARCH)
    assert event.actor == world.caseworker
    assert event.detail == {"query": "jose hernandez", "results": 1, "via": "web"}


def test_search_without_query_shows_help_and_audits_nothing(world):
    response = world.client_for(world.caseworker).get(reverse("people:search"))
    assert response.status_code == 200
    assert response.context["result"] is None
    assert not AuditEvent.objects.filter(action=Action.PERSON_SEARCH).exists()


def test_search_with_no_result_offers_registration(world):
    response = world.client_for(world.caseworker).get(reverse("people:search"), {"q": "nadie"})
    assert reverse("people:create") in response.content.decode()
    assert response.context["rows"] == []


def test_htmx_search_returns_only_the_results_partial(world):
    michoacan_person(world)
    response = world.client_for(world.caseworker).get(
        reverse("people:search"), {"q": "hernand"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "<html" not in body and "Hernández" in body
    assert "HX-Request" in response["Vary"]


def test_search_paginates(world):
    for i in range(27):
        make_person(world.caseworker, world.michoacan, given_names=f"Ana{i}", documents=[], phones=[])
    client = world.client_for(world.caseworker)
    first = client.get(reverse("people:search"), {"q": "hernandez"})
    assert len(first.context["rows"]) == 25 and first.context["result"].has_next
    second = client.get(reverse("people:search"), {"q": "hernandez", "page": "2"})
    assert len(second.context["rows"]) == 2 and not second.context["result"].has_next


# --- create -----------------------------------------------------------------------------------------


def test_create_registers_and_redirects_to_detail(world):
    response = world.client_for(world.caseworker).post(reverse("people:create"), payload())
    person = Person.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("people:detail", kwargs={"pk": person.pk})
    assert person.office == world.michoacan
    assert Phone.objects.get(person=person).e164 == "+524431234567"
    assert AuditEvent.objects.filter(action=Action.PERSON_CREATE, object_id=str(person.pk)).exists()


def test_create_form_renders_with_places_and_rows(world):
    response = world.client_for(world.caseworker).get(reverse("people:create"))
    body = response.content.decode()
    assert 'name="documents-1-number"' in body and 'name="phones-1-number"' in body
    assert "Michoacán de Ocampo" in body or "Michoacán" in body
    assert 'hx-get="/people/municipalities/"' in body


def test_invalid_phone_in_second_row_is_an_error_there_and_saves_nothing(world):
    response = world.client_for(world.caseworker).post(
        reverse("people:create"), payload(**{"phones-1-number": "12345"})
    )
    assert response.status_code == 200
    editor = response.context["editor"]
    assert editor.phones.forms[1].errors["number"]
    assert not editor.phones.forms[0].errors
    assert editor.has_errors and 'role="alert"' in response.content.decode()
    assert not Person.objects.exists() and not Phone.objects.exists()


def test_invalid_curp_is_an_error_at_the_document_number(world):
    bad = JOSE_CURP[:-1] + str((int(JOSE_CURP[-1]) + 1) % 10)
    response = world.client_for(world.caseworker).post(
        reverse("people:create"), payload(**{"documents-0-number": bad})
    )
    errors = response.context["editor"].documents.forms[0].errors
    assert list(errors) == ["number"]
    assert not Person.objects.exists()


def test_future_birth_date_is_an_error_at_the_birth_date(world):
    response = world.client_for(world.caseworker).post(
        reverse("people:create"), payload(birth_date="2999-01-01")
    )
    assert list(response.context["form"].errors) == ["birth_date"]
    assert not Person.objects.exists()


def test_malformed_date_is_an_error_at_the_field(world):
    response = world.client_for(world.caseworker).post(
        reverse("people:create"), payload(birth_date="15/13/1990")
    )
    assert "birth_date" in response.context["form"].errors
    assert not Person.objects.exists()


def test_errors_are_translated(world):
    client = world.client_for(world.caseworker)
    spanish = client.post(
        reverse("people:create"), payload(**{"phones-1-number": "12345"}), HTTP_ACCEPT_LANGUAGE="es"
    )
    english = client.post(
        reverse("people:create"), payload(**{"phones-1-number": "12345"}), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert spanish.context["editor"].phones.forms[1].errors["number"]
    assert "phone number does not exist" in english.context["editor"].phones.forms[1].errors["number"][0]


def test_age_gives_an_estimated_birth_date(world):
    world.client_for(world.caseworker).post(
        reverse("people:create"),
        payload(birth_date="", age="30", **{"documents-0-kind": "", "documents-0-number": ""}),
    )
    person = Person.objects.get()
    assert person.birth_date_precision == "estimated"
    assert person.birth_date.year == timezone.localdate().year - 30


def test_place_of_birth_from_state_and_municipality(world):
    michoacan = AdminArea.objects.get(country="MX", level=1, code="16")
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    world.client_for(world.caseworker).post(
        reverse("people:create"), payload(birth_state=michoacan.pk, birth_municipality=morelia.pk)
    )
    assert Person.objects.get().birth_place == morelia


def test_municipality_outside_the_state_is_an_error_at_the_municipality(world):
    jalisco = AdminArea.objects.get(country="MX", level=1, code="14")
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    response = world.client_for(world.caseworker).post(
        reverse("people:create"), payload(birth_state=jalisco.pk, birth_municipality=morelia.pk)
    )
    assert list(response.context["form"].errors) == ["birth_municipality"]
    assert not Person.objects.exists()


def test_possible_matches_are_shown_before_creating_and_confirmation_creates(world):
    existing = michoacan_person(world)
    client = world.client_for(world.caseworker)
    first = client.post(
        reverse("people:create"), payload(**{"documents-0-number": "", "documents-0-kind": ""})
    )
    assert first.status_code == 200
    matches = first.context["matches"]
    assert [m.person.pk for m in matches] == [existing.pk]
    evidence = {f.field: f.agreement for f in matches[0].comparison.fields}
    assert evidence["phones"] == "agree" and evidence["given_names"] == "agree"
    assert matches[0].probability > 0.9
    body = first.content.decode()
    assert "evidence-agree" in body and "%" in body
    assert Person.objects.count() == 1
    token = first.context["confirm_token"]
    assert token and f'value="{token}"' in first.content.decode()
    second = client.post(
        reverse("people:create"), payload(confirm=token, **{"documents-0-number": "", "documents-0-kind": ""})
    )
    assert second.status_code == 302
    assert Person.objects.count() == 2


def test_same_curp_is_a_possible_match(world):
    existing = michoacan_person(world, phones=[])
    response = world.client_for(world.caseworker).post(
        reverse("people:create"), payload(given_names="Pepe", **{"phones-0-number": ""})
    )
    matches = response.context["matches"]
    assert [m.person.pk for m in matches] == [existing.pk]
    assert {f.field: f.level for f in matches[0].comparison.fields}["curp"] == "exact"


def test_a_stale_confirmation_shows_new_matches_again(world):
    michoacan_person(world)
    response = world.client_for(world.caseworker).post(
        reverse("people:create"), payload(confirm="0123456789abcdef")
    )
    assert response.status_code == 200 and response.context["matches"]
    assert Person.objects.count() == 1


def test_a_likely_match_in_another_office_is_shown_by_office_only(world):
    other = jalisco_person(world)
    client = world.client_for(world.caseworker)
    data = payload(
        given_names="Pedro", first_surname="Ramírez", **{"documents-0-number": "", "documents-0-kind": ""}
    )
    response = client.post(reverse("people:create"), data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    [candidate] = response.context["matches"]
    assert candidate.person is None and candidate.person_id == other.pk
    body = response.content.decode()
    assert "A possible match is registered at OFAM Jalisco." in body
    assert reverse("people:detail", kwargs={"pk": other.pk}) not in body
    assert f"person={other.pk}&amp;kind=transfer" in body
    confirmed = client.post(reverse("people:create"), {**data, "confirm": response.context["confirm_token"]})
    assert confirmed.status_code == 302
    assert Person.objects.filter(office=world.michoacan).count() == 1


def test_an_unlikely_match_in_another_office_is_not_shown(world):
    jalisco_person(world)
    response = world.client_for(world.caseworker).post(
        reverse("people:create"),
        payload(
            given_names="Pedro",
            first_surname="Ramírez",
            birth_date="1950-03-02",
            **{"documents-0-number": "", "documents-0-kind": ""},
        ),
    )
    assert response.status_code == 302


def test_curp_that_disagrees_is_warned_then_saved_and_flagged(world):
    client = world.client_for(world.caseworker)
    data = payload(sex="F", birth_date="1991-01-15")
    first = client.post(reverse("people:create"), data)
    assert first.status_code == 200
    assert first.context["curp_flags"] == {JOSE_CURP: ["birth_date", "sex"]}
    assert not Person.objects.exists()
    second = client.post(reverse("people:create"), {**data, "confirm": first.context["confirm_token"]})
    person = Person.objects.get()
    assert second.status_code == 302
    assert Document.objects.get(person=person).flags == ["birth_date", "sex"]
    detail = client.get(reverse("people:detail", kwargs={"pk": person.pk}), HTTP_ACCEPT_LANGUAGE="en")
    assert "CURP disagrees with: date of birth, sex" in detail.content.decode()


# --- detail -----------------------------------------------------------------------------------------


def test_every_detail_view_is_audited(world):
    person = michoacan_person(world)
    url = reverse("people:detail", kwargs={"pk": person.pk})
    world.client_for(world.caseworker).get(url)
    world.client_for(world.auditor).get(url)
    views = AuditEvent.objects.filter(action=Action.PERSON_VIEW, object_id=str(person.pk)).order_by("id")
    assert [e.actor for e in views] == [world.caseworker, world.auditor]


def test_detail_shows_the_record(world):
    person = michoacan_person(world)
    body = (
        world.client_for(world.caseworker)
        .get(reverse("people:detail", kwargs={"pk": person.pk}))
        .content.decode()
    )
    for text in ("José", "Hernández López", JOSE_CURP, "+524431234567", "OFAM Michoacán"):
        assert text in body


def test_detail_of_a_merged_record_redirects_to_the_survivor(world):
    survivor = michoacan_person(world)
    merged = michoacan_person(world, given_names="Pepe", documents=[], phones=[])
    Person.objects.filter(pk=merged.pk).update(merged_into=survivor)
    response = world.client_for(world.caseworker).get(reverse("people:detail", kwargs={"pk": merged.pk}))
    assert response.status_code == 302
    assert response["Location"] == reverse("people:detail", kwargs={"pk": survivor.pk})


def test_relative_in_another_office_is_shown_without_name(world):
    person = michoacan_person(world)
    stranger = jalisco_person(world)
    HouseholdRelation.objects.create(person=person, relative=stranger, relation="sibling")
    body = (
        world.client_for(world.caseworker)
        .get(reverse("people:detail", kwargs={"pk": person.pk}))
        .content.decode()
    )
    assert "Pedro" not in body


# --- edit -------------------------------------------------------------------------------------------


def test_edit_saves_and_audits_a_field_diff(world):
    person = michoacan_person(world)
    client = world.client_for(world.caseworker)
    page = client.get(reverse("people:edit", kwargs={"pk": person.pk}))
    assert f'value="{JOSE_CURP}"' in page.content.decode()
    data = payload(second_surname="Pérez")
    data.update({"documents-INITIAL_FORMS": "1", "phones-INITIAL_FORMS": "1"})
    response = client.post(reverse("people:edit", kwargs={"pk": person.pk}), data)
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.second_surname == "Pérez"
    event = AuditEvent.objects.get(action=Action.PERSON_UPDATE, object_id=str(person.pk))
    assert event.changes == {"second_surname": {"old": "López", "new": "Pérez"}}


def test_edit_keeps_unchanged_rows(world):
    person = michoacan_person(world)
    data = payload(
        second_surname="Pérez",
        **{
            "documents-INITIAL_FORMS": "1",
            "documents-0-issuing_country": "MX",
            "phones-INITIAL_FORMS": "1",
            "phones-0-number": "+524431234567",
            "phones-0-is_primary": "on",
        },
    )
    response = world.client_for(world.caseworker).post(reverse("people:edit", kwargs={"pk": person.pk}), data)
    assert response.status_code == 302
    assert Document.objects.filter(person=person).count() == 1
    assert Phone.objects.filter(person=person).count() == 1
    event = AuditEvent.objects.get(action=Action.PERSON_UPDATE, object_id=str(person.pk))
    assert set(event.changes) == {"second_surname"}


def test_edit_can_delete_a_row(world):
    person = michoacan_person(world)
    data = payload(**{"phones-0-DELETE": "on"})
    data.update({"documents-INITIAL_FORMS": "1", "phones-INITIAL_FORMS": "1"})
    world.client_for(world.caseworker).post(reverse("people:edit", kwargs={"pk": person.pk}), data)
    assert not Phone.objects.filter(person=person).exists()


def test_edit_keeps_places_outside_mexico(world):
    tegucigalpa = AdminArea.objects.get(country="HN", level=2, code="0801")
    texas = AdminArea.objects.get(country="US", level=1, code="48")
    person = michoacan_person(
        world,
        birth_country="HN",
        birth_place_id=tegucigalpa.pk,
        documents=[],
        addresses=[AddressData(country="US", admin_area_id=texas.pk, text="123 Main St")],
    )
    client = world.client_for(world.caseworker)
    page = client.get(reverse("people:edit", kwargs={"pk": person.pk})).content.decode()
    assert f'name="kept_place" value="{tegucigalpa.pk}"' in page
    assert f'name="addresses-0-kept_place" value="{texas.pk}"' in page
    data = payload(
        second_surname="Pérez",
        birth_date="",
        birth_country="HN",
        kept_place=str(tegucigalpa.pk),
        **{
            "documents-0-kind": "",
            "documents-0-number": "",
            "phones-INITIAL_FORMS": "1",
            "addresses-INITIAL_FORMS": "1",
            "addresses-0-country": "US",
            "addresses-0-kept_place": str(texas.pk),
            "addresses-0-text": "123 Main St",
        },
    )
    response = client.post(reverse("people:edit", kwargs={"pk": person.pk}), data)
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.second_surname, person.birth_place_id) == ("Pérez", tegucigalpa.pk)
    assert Address.objects.get(person=person).admin_area_id == texas.pk


def test_invalid_edit_saves_nothing(world):
    person = michoacan_person(world)
    data = payload(given_names="Juan", **{"phones-1-number": "000"})
    response = world.client_for(world.caseworker).post(reverse("people:edit", kwargs={"pk": person.pk}), data)
    assert response.status_code == 200
    person.refresh_from_db()
    assert person.given_names == "José"
    assert not AuditEvent.objects.filter(action=Action.PERSON_UPDATE).exists()


# --- anonymise --------------------------------------------------------------------------------------


def test_anonymise_removes_personal_data_keeps_audit(world):
    person = michoacan_person(world)
    client = world.client_for(world.admin)
    client.get(reverse("people:detail", kwargs={"pk": person.pk}))
    response = client.post(
        reverse("people:anonymise", kwargs={"pk": person.pk}), {"reason": "Asked to be deleted"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_anonymised and not Document.objects.filter(person=person).exists()
    assert AuditEvent.objects.filter(object_id=str(person.pk), action=Action.PERSON_VIEW).exists()
    assert AuditEvent.objects.filter(object_id=str(person.pk), action=Action.PERSON_ANONYMISE).exists()
    search = client.get(reverse("people:search"), {"q": "hernandez"})
    assert search.context["result"].total == 0
    detail = client.get(reverse("people:detail", kwargs={"pk": person.pk}))
    assert "Hernández" not in detail.content.decode()
    assert client.get(reverse("people:edit", kwargs={"pk": person.pk})).status_code == 302


def test_anonymise_without_reason_is_an_error_at_the_reason(world):
    person = michoacan_person(world)
    response = world.client_for(world.admin).post(
        reverse("people:anonymise", kwargs={"pk": person.pk}), {"reason": ""}
    )
    assert list(response.context["form"].errors) == ["reason"]
    person.refresh_from_db()
    assert not person.is_anonymised


def test_caseworker_cannot_anonymise_by_post(world):
    person = michoacan_person(world)
    response = world.client_for(world.caseworker).post(
        reverse("people:anonymise", kwargs={"pk": person.pk}), {"reason": "x"}
    )
    assert response.status_code == 403
    person.refresh_from_db()
    assert not person.is_anonymised


# --- consent and household --------------------------------------------------------------------------


def test_consent_records_the_hash_of_the_text_shown(world):
    person = michoacan_person(world)
    client = world.client_for(world.caseworker)
    page = client.get(reverse("people:consent", kwargs={"pk": person.pk}), HTTP_ACCEPT_LANGUAGE="en")
    from django.utils import translation

    with translation.override("en"):
        text = consent_text("messages")
    assert text in page.content.decode()
    response = client.post(
        reverse("people:consent", kwargs={"pk": person.pk}),
        {"purpose": "messages", "status": "given", "method": "verbal"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    record = ConsentRecord.objects.get(person=person)
    assert record.text_sha256 == consent_text_sha256(text)
    assert record.text_version.endswith("/en")
    assert AuditEvent.objects.filter(action=Action.CONSENT_RECORD, object_id=str(person.pk)).exists()


def test_consent_by_proxy_without_name_is_an_error_at_given_by(world):
    person = michoacan_person(world)
    response = world.client_for(world.caseworker).post(
        reverse("people:consent", kwargs={"pk": person.pk}),
        {"purpose": "registry", "status": "given", "method": "proxy", "given_by": ""},
    )
    assert list(response.context["form"].errors) == ["given_by"]
    assert not ConsentRecord.objects.exists()


def test_household_finds_and_links_a_relative(world):
    child = michoacan_person(world)
    mother = michoacan_person(world, given_names="Ana María", sex="F", documents=[], phones=[])
    client = world.client_for(world.caseworker)
    url = reverse("people:household", kwargs={"pk": child.pk})
    found = client.get(url, {"q": "ana maria"})
    assert [p.pk for p in found.context["candidates"]] == [mother.pk]
    response = client.post(url, {"relative": mother.pk, "relation": "child", "action": "link"})
    assert response.status_code == 302
    assert HouseholdRelation.objects.get(person=mother, relative=child).relation == "parent"
    client.post(url, {"relative": mother.pk, "relation": "child", "action": "unlink"})
    assert not HouseholdRelation.objects.exists()


def test_municipalities_partial_lists_the_state(world):
    michoacan = AdminArea.objects.get(country="MX", level=1, code="16")
    response = world.client_for(world.caseworker).get(
        reverse("people:municipalities"), {"addresses-0-state": michoacan.pk}
    )
    body = response.content.decode()
    assert "Morelia" in body and "Guadalajara" not in body


def test_make_curp_for_a_woman_is_valid():
    from stdnum.mx import curp

    assert curp.is_valid(
        make_curp(given_names="Ana", first_surname="Ruiz", birth_date=datetime.date(2001, 5, 2), sex="F")
    )


@pytest.mark.parametrize("language", ["en", "es"])
def test_anonymised_person_page_shows_the_translated_label(world, language):
    from django.utils import translation

    from rumbo.people.services import ANONYMISED_NAME

    person = michoacan_person(world)
    # What ``person_anonymise`` leaves in the names (its other effects do not matter here).
    Person.objects.filter(pk=person.pk).update(
        given_names=ANONYMISED_NAME,
        first_surname=ANONYMISED_NAME,
        second_surname="",
        anonymised_at=timezone.now(),
    )
    client = world.client_for(world.caseworker)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    body = client.get(reverse("people:detail", kwargs={"pk": person.pk})).content.decode()
    assert ANONYMISED_NAME not in body
    with translation.override(language):
        label = translation.gettext("Anonymised person #%(id)s") % {"id": person.pk}
    assert label in body


def test_possible_matches_shown_at_registration_are_audited_as_reads(world):
    existing = michoacan_person(world)
    other = jalisco_person(world)  # shown by office only: not a read
    client = world.client_for(world.caseworker)
    response = client.post(
        reverse("people:create"), payload(**{"documents-0-number": "", "documents-0-kind": ""})
    )
    assert [m.person.pk for m in response.context["matches"]] == [existing.pk]
    [event] = AuditEvent.objects.filter(action=Action.PERSON_VIEW)
    assert (event.object_type, event.object_id) == ("people.person", str(existing.pk))
    assert event.actor == world.caseworker and event.office_id == world.michoacan.pk
    assert event.detail == {"via": "web", "shown_in": "intake"}
    assert not AuditEvent.objects.filter(action=Action.PERSON_VIEW, object_id=str(other.pk)).exists()


def test_registration_matches_use_the_thresholds_of_the_chosen_offices_network(world):
    from rumbo.lib.testing.factories import MembershipFactory, OfficeFactory
    from rumbo.matching.models import MatchSettings

    existing = michoacan_person(world)
    other = OfficeFactory(name="Oficina B", parent=OfficeFactory(name="Red B"))
    MembershipFactory(user=world.caseworker, office=other, role=Role.CASEWORKER)
    # The network of the caseworker's first office (CONOFAM) shows only near-certain candidates at intake.
    MatchSettings.objects.create(
        network=world.conofam, intake_threshold=0.999999, review_threshold=0.999999, likely_threshold=0.999999
    )
    data = payload(**{"documents-0-number": "", "documents-0-kind": "", "phones-0-number": ""})
    client = world.client_for(world.caseworker)
    response = client.post(reverse("people:create"), {**data, "office": other.pk})
    assert [m.person.pk for m in response.context["matches"]] == [existing.pk]
    response = client.post(reverse("people:create"), {**data, "office": world.michoacan.pk})
    assert response.status_code == 302  # no candidate at CONOFAM's threshold: registered
