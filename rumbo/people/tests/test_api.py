"""The persons API: permission matrix of every route, office isolation, validation at the field, audit."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.test import Client

from rumbo.audit.models import Action, AuditEvent
from rumbo.geo.models import AdminArea
from rumbo.lib.testing.api import assert_error, token_client
from rumbo.lib.testing.factories import MembershipFactory
from rumbo.offices.models import Role
from rumbo.people.models import Document, Person, Phone
from rumbo.people.tests.utils import JOSE_BIRTH, JOSE_CURP, make_curp, make_person

LIST = "/api/v1/persons/"


def detail(person: Person | int) -> str:
    return f"/api/v1/persons/{getattr(person, 'pk', person)}/"


def anonymise(person: Person) -> str:
    return f"/api/v1/persons/{person.pk}/anonymise/"


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client: Client, url: str, body: Any) -> Any:
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def jose(world) -> Person:
    """José Hernández López, registered by OFAM Michoacán."""
    return make_person(world.caseworker, world.michoacan)


@pytest.fixture
def jalisco_person(world) -> Person:
    """Someone with the same surname, registered by OFAM Jalisco."""
    return make_person(
        world.jalisco_caseworker, world.jalisco, given_names="Rosa", sex="F", documents=[], phones=[]
    )


def new_person(world, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "office": world.michoacan.pk,
        "given_names": "María Guadalupe",
        "first_surname": "Pérez",
        "second_surname": "Ramírez",
        "sex": "F",
        "birth_date": "1985-06-02",
        "nationalities": ["mx"],
        "languages": ["spa", "tsz"],
        "documents": [
            {
                "kind": "curp",
                "number": make_curp(
                    given_names="Guadalupe",
                    first_surname="Pérez",
                    second_surname="Ramírez",
                    birth_date=datetime.date(1985, 6, 2),
                    sex="F",
                ).lower(),
            }
        ],
        "phones": [{"e164": "443 123 4567", "whatsapp": True}, {"e164": "+1 310 555 0134", "kind": "other"}],
    }
    body.update(overrides)
    return body


def admin_client(world) -> Client:
    """The office admin through a token (an admin's session would first need two-factor verification)."""
    return token_client(world.admin)


# --- GET /persons/ ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_list_is_401():
    assert_error(Client().get(LIST), 401, "not_authenticated")


@pytest.mark.parametrize("persona", ["no_role", "trainer", "coordinator"])
def test_list_is_403_without_view_person_anywhere(world, persona):
    assert_error(world.client_for(getattr(world, persona)).get(LIST), 403, "permission_denied")


@pytest.mark.parametrize("persona", ["caseworker", "auditor"])
def test_list_shows_own_office_persons_only(world, jose, jalisco_person, persona):
    response = world.client_for(getattr(world, persona)).get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert [p["id"] for p in body["results"]] == [jose.pk]
    assert body["count"] == 1
    assert body["capped"] is False
    assert body["results"][0] == {
        "id": jose.pk,
        "office": world.michoacan.pk,
        "given_names": "José",
        "first_surname": "Hernández",
        "second_surname": "López",
        "sex": "M",
        "birth_date": "1990-01-15",
        "birth_date_precision": "day",
        "birth_country": "",
        "is_anonymised": False,
    }


def test_list_is_paginated_by_id(world, jose):
    second = make_person(world.caseworker, world.michoacan, given_names="Pedro", documents=[], phones=[])
    client = world.client_for(world.caseworker)
    first_page = client.get(LIST, {"page_size": 1}).json()
    assert [p["id"] for p in first_page["results"]] == [jose.pk]
    assert first_page["count"] == 2
    second_page = client.get(first_page["next"]).json()
    assert [p["id"] for p in second_page["results"]] == [second.pk]
    assert second_page["next"] is None


def test_search_is_accent_insensitive_and_scoped(world, jose, jalisco_person):
    response = world.client_for(world.caseworker).get(LIST, {"q": "HERNANDEZ"})
    assert response.status_code == 200
    body = response.json()
    assert [p["id"] for p in body["results"]] == [jose.pk]
    assert body["count"] == 1
    assert body["capped"] is False


def test_search_by_document_and_phone(world, jose):
    client = world.client_for(world.caseworker)
    assert [p["id"] for p in client.get(LIST, {"q": JOSE_CURP.lower()}).json()["results"]] == [jose.pk]
    assert [p["id"] for p in client.get(LIST, {"q": "4431234567"}).json()["results"]] == [jose.pk]


def test_search_pages_link_to_each_other(world):
    people = [
        make_person(world.caseworker, world.michoacan, given_names=name, documents=[], phones=[])
        for name in ("Ana", "Berta", "Carla")
    ]
    client = world.client_for(world.caseworker)
    first = client.get(LIST, {"q": "hernandez", "page_size": 2}).json()
    assert first["count"] == 3
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert len(first["results"]) + len(second["results"]) == 3
    assert {p["id"] for p in first["results"] + second["results"]} == {p.pk for p in people}
    assert second["next"] is None
    assert client.get(second["previous"]).json()["results"] == first["results"]


def test_search_page_past_the_end_is_404(world, jose):
    assert_error(world.client_for(world.caseworker).get(LIST, {"q": "jose", "page": 5}), 404, "not_found")


def test_search_and_list_are_audited(world, jose):
    client = world.client_for(world.caseworker)
    client.get(LIST, {"q": "jose"})
    client.get(LIST)
    events = AuditEvent.objects.filter(action=Action.PERSON_SEARCH, actor=world.caseworker).order_by("id")
    assert [(e.detail["query"], e.detail["results"], e.detail["via"]) for e in events] == [
        ("jose", 1, "api"),
        ("", 1, "api"),
    ]


@pytest.mark.parametrize(("params", "field"), [({"page": "x"}, "page"), ({"q": "a\x00b"}, "q")])
def test_malformed_list_parameters_are_400_at_the_parameter(world, params, field):
    error = assert_error(world.client_for(world.caseworker).get(LIST, params), 400, "invalid")
    assert list(error["fields"]) == [field]


# --- POST /persons/ -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_create_is_401():
    assert_error(post(Client(), LIST, {"given_names": "A"}), 401, "not_authenticated")


@pytest.mark.parametrize("persona", ["no_role", "auditor", "trainer", "coordinator"])
def test_create_is_403_without_add_person(world, persona):
    response = post(world.client_for(getattr(world, persona)), LIST, new_person(world))
    assert_error(response, 403, "permission_denied")
    assert not Person.objects.exists()


def test_caseworker_registers_a_person_in_own_office(world):
    response = post(world.client_for(world.caseworker), LIST, new_person(world))
    assert response.status_code == 201, response.content
    body = response.json()
    person = Person.objects.get()
    assert response["Location"] == detail(person)
    assert body["id"] == person.pk
    assert body["office"] == world.michoacan.pk
    assert body["nationalities"] == ["MX"]
    assert body["languages"] == ["spa", "tsz"]
    assert [p["e164"] for p in body["phones"]] == ["+524431234567", "+13105550134"]
    assert [p["is_primary"] for p in body["phones"]] == [True, False]
    assert body["documents"][0]["number"] == body["documents"][0]["number"].upper()
    assert body["documents"][0]["flags"] == []
    assert AuditEvent.objects.filter(action=Action.PERSON_CREATE, object_id=str(person.pk)).count() == 1


def test_office_admin_registers_through_a_token(world):
    assert post(admin_client(world), LIST, new_person(world)).status_code == 201


def test_other_office_in_body_is_400_at_office(world):
    response = post(world.client_for(world.caseworker), LIST, new_person(world, office=world.jalisco.pk))
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["office"]
    assert not Person.objects.exists()


def test_unknown_office_in_body_is_400_at_office(world):
    response = post(world.client_for(world.caseworker), LIST, new_person(world, office=987654))
    assert list(assert_error(response, 400)["fields"]) == ["office"]


def test_own_office_without_add_person_is_403(world):
    """A caseworker of Michoacán who is only an auditor in Jalisco cannot register persons there."""
    MembershipFactory(user=world.caseworker, office=world.jalisco, role=Role.AUDITOR)
    response = post(world.client_for(world.caseworker), LIST, new_person(world, office=world.jalisco.pk))
    assert_error(response, 403, "permission_denied")
    assert not Person.objects.exists()


def test_missing_names_are_400_at_each_field(world):
    body = new_person(world)
    del body["given_names"], body["first_surname"]
    error = assert_error(post(world.client_for(world.caseworker), LIST, body), 400, "invalid")
    assert set(error["fields"]) == {"given_names", "first_surname"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"documents": [{"kind": "curp", "number": "HELM800101HMNRPR09"}]}, "documents.0.number"),
        ({"documents": [{"kind": "curp", "number": "HELM80"}]}, "documents.0.number"),
        ({"documents": [{"kind": "passport", "number": "?"}]}, "documents.0.number"),
        ({"documents": [{"kind": "id_card", "number": "X"}]}, "documents.0.kind"),
        ({"phones": [{"e164": "443 123 4567"}, {"e164": "123"}]}, "phones.1.e164"),
        ({"phones": [{"e164": "443 123 4567"}, {"e164": "+52 443 123 4567"}]}, "phones.1.e164"),
        ({"birth_date": "1990-02-30"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"birth_date": "1850-01-01"}, "birth_date"),
        ({"nationalities": ["MX", "ZZ"]}, "nationalities.1"),
        ({"languages": ["xxq"]}, "languages.0"),
        ({"birth_place": 99999999}, "birth_place"),
        ({"addresses": [{"admin_area": 99999999}]}, "addresses.0.admin_area"),
        ({"addresses": [{"text": "Calle 1", "lat": 91}]}, "addresses.0.lat"),
        ({"email": "not-an-email"}, "email"),
        ({"sex": "Q"}, "sex"),
    ],
)
def test_invalid_value_is_400_at_that_field_and_saves_nothing(world, overrides, field):
    response = post(world.client_for(world.caseworker), LIST, new_person(world, **overrides))
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [field], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert not Person.objects.exists()
    assert not Document.objects.exists()
    assert not Phone.objects.exists()


def test_errors_are_translated_into_the_request_language(world):
    body = new_person(world)
    del body["given_names"]
    client = world.client_for(world.caseworker)
    spanish = client.post(LIST, json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="es")
    english = client.post(LIST, json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert assert_error(english, 400)["fields"] == {"given_names": ["This field is required."]}
    assert assert_error(spanish, 400)["fields"] == {"given_names": ["Este campo es obligatorio."]}


def test_curp_that_disagrees_is_saved_and_flagged(world):
    curp = make_curp(
        given_names="Guadalupe",
        first_surname="Pérez",
        second_surname="Ramírez",
        birth_date=datetime.date(1986, 6, 2),
        sex="F",
    )
    response = post(
        world.client_for(world.caseworker),
        LIST,
        new_person(world, documents=[{"kind": "curp", "number": curp}]),
    )
    assert response.status_code == 201
    assert response.json()["documents"][0]["flags"] == ["birth_date"]


def test_form_encoded_body_is_415(world):
    response = world.client_for(world.caseworker).post(LIST, {"given_names": "Ana"})
    assert_error(response, 415, "unsupported_media_type")


def test_malformed_json_is_400(world):
    response = world.client_for(world.caseworker).post(LIST, "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


# --- GET /persons/{id}/ -------------------------------------------------------------------------------


def test_anonymous_read_is_401(world, jose):
    assert_error(Client().get(detail(jose)), 401, "not_authenticated")


@pytest.mark.parametrize("persona", ["no_role", "coordinator", "jalisco_caseworker"])
def test_read_outside_own_offices_is_404(world, jose, persona):
    assert_error(world.client_for(getattr(world, persona)).get(detail(jose)), 404, "not_found")


def test_read_in_own_office_without_view_person_is_403(world, jose):
    assert_error(world.client_for(world.trainer).get(detail(jose)), 403, "permission_denied")


@pytest.mark.parametrize("persona", ["caseworker", "auditor"])
def test_read_returns_whole_record_and_is_audited(world, jose, persona):
    user = getattr(world, persona)
    response = world.client_for(user).get(detail(jose))
    assert response.status_code == 200
    body = response.json()
    assert body["given_names"] == "José"
    assert body["birth_date"] == JOSE_BIRTH.isoformat()
    assert body["nationalities"] == ["MX"]
    assert body["languages"] == ["spa"]
    assert [(d["kind"], d["number"], d["flags"]) for d in body["documents"]] == [("curp", JOSE_CURP, [])]
    assert [(p["e164"], p["whatsapp"], p["is_primary"]) for p in body["phones"]] == [
        ("+524431234567", True, True)
    ]
    assert body["anonymised_at"] is None
    event = AuditEvent.objects.get(action=Action.PERSON_VIEW, object_id=str(jose.pk))
    assert event.actor == user
    assert event.detail == {"via": "api"}
    assert event.office_id == world.michoacan.pk


def test_unknown_person_is_404(world):
    assert_error(world.client_for(world.caseworker).get(detail(99999999)), 404, "not_found")


def test_merged_person_read_moves_and_writes_conflict(world, jose):
    loser = make_person(world.caseworker, world.michoacan, given_names="Jose", documents=[], phones=[])
    Person.objects.filter(pk=loser.pk).update(merged_into=jose)
    client = world.client_for(world.caseworker)
    moved = client.get(detail(loser))
    assert moved.status_code == 301
    assert moved["Location"] == detail(jose)
    assert moved.json()["merged_into"] == jose.pk
    for response in (
        patch(client, detail(loser), {"given_names": "X"}),
        post(admin_client(world), anonymise(loser), {"reason": "duplicate"}),
    ):
        error = assert_error_with_extra(response, 409, "merged")
        assert error["merged_into"] == jose.pk
    assert Person.objects.get(pk=loser.pk).given_names == "Jose"
    assert not AuditEvent.objects.filter(action=Action.PERSON_VIEW, object_id=str(loser.pk)).exists()


def test_merge_chain_names_the_last_survivor(world, jose):
    first = make_person(world.caseworker, world.michoacan, given_names="A", documents=[], phones=[])
    second = make_person(world.caseworker, world.michoacan, given_names="B", documents=[], phones=[])
    Person.objects.filter(pk=first.pk).update(merged_into=second)
    Person.objects.filter(pk=second.pk).update(merged_into=jose)
    response = world.client_for(world.caseworker).get(detail(first))
    assert response.status_code == 301
    assert response.json()["merged_into"] == jose.pk


def assert_error_with_extra(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["fields"] == {}
    return error


# --- PATCH /persons/{id}/ -----------------------------------------------------------------------------


def test_anonymous_patch_is_401(world, jose):
    assert_error(patch(Client(), detail(jose), {"given_names": "X"}), 401, "not_authenticated")


@pytest.mark.parametrize("persona", ["no_role", "coordinator", "jalisco_caseworker"])
def test_patch_outside_own_offices_is_404(world, jose, persona):
    response = patch(world.client_for(getattr(world, persona)), detail(jose), {"given_names": "X"})
    assert_error(response, 404, "not_found")
    assert Person.objects.get(pk=jose.pk).given_names == "José"


@pytest.mark.parametrize("persona", ["auditor", "trainer"])
def test_patch_without_change_person_is_403(world, jose, persona):
    response = patch(world.client_for(getattr(world, persona)), detail(jose), {"given_names": "X"})
    assert_error(response, 403, "permission_denied")
    assert Person.objects.get(pk=jose.pk).given_names == "José"


def test_patch_changes_only_what_is_sent_and_is_audited(world, jose):
    response = patch(world.client_for(world.caseworker), detail(jose), {"given_names": "José Luis"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["given_names"] == "José Luis"
    assert [d["number"] for d in body["documents"]] == [JOSE_CURP]
    assert [p["e164"] for p in body["phones"]] == ["+524431234567"]
    event = AuditEvent.objects.get(action=Action.PERSON_UPDATE, object_id=str(jose.pk))
    assert event.changes["given_names"] == {"old": "José", "new": "José Luis"}


def test_patch_with_a_list_replaces_the_list_and_keeps_unchanged_rows(world, jose):
    phone_id = jose.phones.get().pk
    body = {"phones": [{"e164": "+52 443 123 4567", "whatsapp": True}, {"e164": "+1 213 555 0199"}]}
    response = patch(world.client_for(world.caseworker), detail(jose), body)
    assert response.status_code == 200, response.content
    phones = response.json()["phones"]
    assert [p["e164"] for p in phones] == ["+524431234567", "+12135550199"]
    assert phones[0]["id"] == phone_id


def test_patch_recomputes_curp_flags(world, jose):
    response = patch(world.client_for(world.caseworker), detail(jose), {"sex": "F"})
    assert response.json()["documents"][0]["flags"] == ["sex"]


def test_patch_with_invalid_phone_is_400_at_the_field_and_saves_nothing(world, jose):
    body = {"given_names": "Otro", "phones": [{"e164": "+52 443 123 4567"}, {"e164": "55"}]}
    error = assert_error(patch(world.client_for(world.caseworker), detail(jose), body), 400, "invalid")
    assert list(error["fields"]) == ["phones.1.e164"]
    jose.refresh_from_db()
    assert jose.given_names == "José"
    assert list(jose.phones.values_list("e164", flat=True)) == ["+524431234567"]


def test_patch_with_invalid_curp_is_400_at_the_field(world, jose):
    body = {"documents": [{"kind": "curp", "number": JOSE_CURP[:-1] + "Z"}]}
    error = assert_error(patch(world.client_for(world.caseworker), detail(jose), body), 400, "invalid")
    assert list(error["fields"]) == ["documents.0.number"]
    assert list(jose.documents.values_list("number", flat=True)) == [JOSE_CURP]


def test_patch_birth_date_precision_alone_is_checked_against_the_stored_date(world, jose):
    response = patch(world.client_for(world.caseworker), detail(jose), {"birth_date_precision": "year"})
    assert response.json()["birth_date"] == "1990-01-01"


def test_patch_cannot_move_a_person_to_another_office(world, jose):
    MembershipFactory(user=world.caseworker, office=world.jalisco, role=Role.CASEWORKER)
    response = patch(world.client_for(world.caseworker), detail(jose), {"office": world.jalisco.pk})
    assert list(assert_error(response, 400, "invalid")["fields"]) == ["office"]
    assert Person.objects.get(pk=jose.pk).office == world.michoacan


def test_patch_of_anonymised_person_is_400(world, jose):
    post(admin_client(world), anonymise(jose), {"reason": "Requested by the person"})
    error = assert_error(patch(world.client_for(world.caseworker), detail(jose), {"given_names": "X"}), 400)
    assert list(error["fields"]) == ["non_field_errors"]


@pytest.mark.parametrize("method", ["put", "delete"])
def test_put_and_delete_are_not_allowed(world, jose, method):
    assert_error(getattr(admin_client(world), method)(detail(jose)), 405, "method_not_allowed")
    assert Person.objects.filter(pk=jose.pk, anonymised_at__isnull=True).exists()


# --- POST /persons/{id}/anonymise/ --------------------------------------------------------------------


def test_anonymous_anonymise_is_401(world, jose):
    assert_error(post(Client(), anonymise(jose), {"reason": "x"}), 401, "not_authenticated")


@pytest.mark.parametrize("persona", ["no_role", "coordinator", "jalisco_caseworker"])
def test_anonymise_outside_own_offices_is_404(world, jose, persona):
    response = post(token_client(getattr(world, persona)), anonymise(jose), {"reason": "x"})
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("persona", ["caseworker", "auditor", "trainer"])
def test_anonymise_needs_the_office_admin(world, jose, persona):
    response = post(world.client_for(getattr(world, persona)), anonymise(jose), {"reason": "x"})
    assert_error(response, 403, "permission_denied")
    assert Person.objects.get(pk=jose.pk).anonymised_at is None


def test_admin_anonymises_a_person(world, jose):
    response = post(admin_client(world), anonymise(jose), {"reason": "Requested by the person"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_anonymised"] is True
    assert body["anonymised_at"] is not None
    assert body["documents"] == body["phones"] == []
    assert body["birth_date"] == "1990-01-01"
    event = AuditEvent.objects.get(action=Action.PERSON_ANONYMISE, object_id=str(jose.pk))
    assert event.detail["reason"] == "Requested by the person"


def test_anonymise_without_reason_is_400_at_reason(world, jose):
    error = assert_error(post(admin_client(world), anonymise(jose), {}), 400, "invalid")
    assert list(error["fields"]) == ["reason"]
    blank = assert_error(post(admin_client(world), anonymise(jose), {"reason": "   "}), 400, "invalid")
    assert list(blank["fields"]) == ["reason"]
    assert Person.objects.get(pk=jose.pk).anonymised_at is None


def test_anonymising_twice_is_400(world, jose):
    client = admin_client(world)
    assert post(client, anonymise(jose), {"reason": "Requested"}).status_code == 200
    error = assert_error(post(client, anonymise(jose), {"reason": "Again"}), 400, "invalid")
    assert list(error["fields"]) == ["non_field_errors"]


# --- Office isolation and tokens ----------------------------------------------------------------------


def test_michoacan_caseworker_cannot_reach_a_jalisco_person_in_any_way(world, jalisco_person):
    for client in (world.client_for(world.caseworker), token_client(world.caseworker)):
        assert client.get(LIST).json()["results"] == []
        assert client.get(LIST, {"q": "rosa hernandez"}).json()["results"] == []
        assert_error(client.get(detail(jalisco_person)), 404, "not_found")
        assert_error(patch(client, detail(jalisco_person), {"given_names": "X"}), 404, "not_found")
    assert Person.objects.get(pk=jalisco_person.pk).given_names == "Rosa"
    assert not AuditEvent.objects.filter(action=Action.PERSON_VIEW, object_id=str(jalisco_person.pk)).exists()


def test_token_is_scoped_like_the_session(world, jose, jalisco_person):
    client = token_client(world.jalisco_caseworker)
    assert [p["id"] for p in client.get(LIST).json()["results"]] == [jalisco_person.pk]
    assert client.get(detail(jalisco_person)).status_code == 200
    assert_error(client.get(detail(jose)), 404, "not_found")


def test_token_writes_are_attributed_to_the_token_user(world):
    response = post(token_client(world.caseworker), LIST, new_person(world))
    assert response.status_code == 201
    assert Person.objects.get().created_by == world.caseworker


def test_birth_place_is_checked_against_birth_country(world):
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    response = post(
        world.client_for(world.caseworker),
        LIST,
        new_person(world, birth_place=morelia.pk, birth_country="GT"),
    )
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["birth_place"]


def test_session_writes_need_the_csrf_token_and_token_writes_do_not(world):
    session = Client(enforce_csrf_checks=True)
    session.force_login(world.caseworker)
    assert_error(post(session, LIST, new_person(world)), 403, "permission_denied")
    assert not Person.objects.exists()
    token = token_client(world.caseworker)
    token.handler.enforce_csrf_checks = True
    assert post(token, LIST, new_person(world)).status_code == 201
