"""Tests of returns, arrivals and points of return: the shipped INM modules, validation at the field with
nothing saved, companions from the household, audit."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import ArrivalEvent, ReturnEvent, ReturnPoint
from rumbo.cases.services import arrival_record, return_point_add, return_record
from rumbo.cases.services.returns import load_return_points
from rumbo.cases.services.tasks import office_today
from rumbo.cases.tests.casework_utils import make_family
from rumbo.geo.models import AdminArea
from rumbo.people.tests.utils import make_person


@pytest.fixture
def family(world):
    return make_family(world.caseworker, world.michoacan)


def _california():
    return AdminArea.objects.get(country="US", level=1, iso_3166_2="US-CA")


def _tijuana():
    return ReturnPoint.objects.get(name="Módulo de Repatriación INM Tijuana")


def test_the_eleven_inm_modules_are_loaded_with_municipality_and_source():
    points = ReturnPoint.objects.filter(kind=ReturnPoint.Kind.INM_MODULE)
    assert points.count() == 11
    tijuana = _tijuana()
    assert tijuana.municipality.code == "02004"
    assert tijuana.municipality.country == "MX"
    assert round(tijuana.lat, 3) == 32.532
    assert "SOURCES.md" in tijuana.source
    assert all(p.municipality_id for p in points)


def test_loading_the_points_again_changes_nothing():
    before = list(ReturnPoint.objects.order_by("pk").values_list("pk", "name", "municipality_id"))
    assert load_return_points(ReturnPoint, AdminArea) == 0
    assert list(ReturnPoint.objects.order_by("pk").values_list("pk", "name", "municipality_id")) == before


def test_record_a_return_with_the_children(world, family):
    event = return_record(
        actor=world.caseworker,
        person=family.parent,
        returned_on=office_today(world.michoacan),
        how="deportation",
        point=_tijuana(),
        us_state=_california(),
        months_abroad=14 * 12,
        english_level="intermediate",
        companions=family.children,
        inm_constancia="tij 2026/001234",
    )
    assert event.office == world.michoacan
    assert event.inm_constancia == "TIJ2026/001234"
    assert sorted(event.companions.values_list("pk", flat=True)) == sorted(c.pk for c in family.children)
    audit = AuditEvent.objects.get(action=Action.RETURN_RECORD)
    assert audit.object_id == str(event.pk) and audit.office_id == world.michoacan.pk


def test_a_person_can_return_many_times(world, family):
    for year in (2019, 2023, 2025):
        return_record(
            actor=world.caseworker,
            person=family.parent,
            returned_on=datetime.date(year, 5, 1),
            how="voluntary",
        )
    assert ReturnEvent.objects.filter(person=family.parent).count() == 3


def test_a_future_date_is_refused_at_the_field_and_nothing_is_saved(world, family):
    tomorrow = office_today(world.michoacan) + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as exc:
        return_record(actor=world.caseworker, person=family.parent, returned_on=tomorrow, how="deportation")
    assert exc.value.message_dict["returned_on"] == ["The date cannot be in the future."]
    assert not ReturnEvent.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.RETURN_RECORD).exists()


def test_a_state_that_is_not_a_us_state_is_refused(world, family):
    michoacan = AdminArea.objects.get(country="MX", level=1, code="16")
    with pytest.raises(ValidationError) as exc:
        return_record(
            actor=world.caseworker,
            person=family.parent,
            returned_on=datetime.date(2025, 1, 5),
            how="deportation",
            us_state=michoacan,
        )
    assert exc.value.message_dict["us_state"] == ["Choose a state of the United States."]
    with pytest.raises(ValidationError) as exc:
        return_record(
            actor=world.caseworker,
            person=family.parent,
            returned_on=datetime.date(2025, 1, 5),
            how="deportation",
            country_from="CA",
            us_state=_california(),
        )
    assert "us_state" in exc.value.message_dict
    assert not ReturnEvent.objects.exists()


def test_every_bad_field_is_reported_at_once(world, family):
    with pytest.raises(ValidationError) as exc:
        return_record(
            actor=world.caseworker,
            person=family.parent,
            returned_on=datetime.date(1800, 1, 1),
            how="teleported",
            country_from="XX",
            months_abroad=-3,
            english_level="native",
            inm_constancia="??",
        )
    assert set(exc.value.message_dict) == {
        "returned_on",
        "how",
        "country_from",
        "months_abroad",
        "english_level",
        "inm_constancia",
    }


def test_companions_must_be_household_of_the_office(world, family):
    neighbour = make_person(world.caseworker, world.michoacan, given_names="Rosa", documents=[], phones=[])
    jalisco_person = make_person(world.jalisco_caseworker, world.jalisco, given_names="Pedro", documents=[])
    with pytest.raises(ValidationError) as exc:
        return_record(
            actor=world.caseworker,
            person=family.parent,
            returned_on=datetime.date(2025, 1, 5),
            how="deportation",
            companions=[family.children[0], neighbour, jalisco_person],
        )
    messages = exc.value.message_dict["companions"]
    assert len(messages) == 2
    assert "Rosa" in messages[0]
    assert "Pedro" not in messages[1]  # another office's person is not named
    assert not ReturnEvent.objects.exists()


def test_only_caseworkers_of_the_person_office_record_returns(world, family):
    for user in (world.auditor, world.trainer, world.jalisco_caseworker, world.coordinator):
        with pytest.raises(PermissionDenied):
            return_record(
                actor=user, person=family.parent, returned_on=datetime.date(2025, 1, 5), how="other"
            )


def test_an_arrival_needs_no_field(world):
    person = make_person(world.caseworker, world.michoacan, given_names="Ana", documents=[], phones=[])
    event = arrival_record(actor=world.caseworker, person=person)
    assert event.country_of_origin == "" and event.entered_on is None
    full = arrival_record(
        actor=world.caseworker,
        person=person,
        country_of_origin="hn",
        entered_on=datetime.date(2024, 11, 2),
        migration_status="asylum_seeker",
        comar_status="in_process",
        comar_file="COMAR/123/2024",
    )
    assert full.country_of_origin == "HN"
    assert AuditEvent.objects.filter(action=Action.ARRIVAL_RECORD).count() == 2


def test_a_bad_arrival_is_refused_at_its_fields(world):
    person = make_person(world.caseworker, world.michoacan, given_names="Ana", documents=[], phones=[])
    with pytest.raises(ValidationError) as exc:
        arrival_record(
            actor=world.caseworker,
            person=person,
            country_of_origin="MX",
            entered_on=office_today(world.michoacan) + datetime.timedelta(days=3),
            comar_status="maybe",
        )
    assert set(exc.value.message_dict) == {"country_of_origin", "entered_on", "comar_status"}
    assert not ArrivalEvent.objects.exists()


def test_office_admins_add_airports_and_border_crossings(world):
    point = return_point_add(
        actor=world.admin,
        office=world.michoacan,
        name="Aeropuerto Internacional de Morelia",
        kind="airport",
        municipality=AdminArea.objects.get(country="MX", level=2, code="16053"),
        lat=19.85,
        lon=-101.03,
    )
    assert point.source.startswith("OFAM Michoacán")
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_CHANGE, object_id=str(point.pk)).exists()
    with pytest.raises(ValidationError) as exc:
        return_point_add(
            actor=world.admin,
            office=world.michoacan,
            name="aeropuerto internacional de MORELIA",
            kind="inm_module",
            lat=91,
        )
    assert set(exc.value.message_dict) == {"name", "kind", "lat", "lon"}
    with pytest.raises(PermissionDenied):
        return_point_add(
            actor=world.caseworker, office=world.michoacan, name="Puente", kind="border_crossing"
        )
