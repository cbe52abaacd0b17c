"""Tests of the directory pages: permission matrix of every view, empty states, search, creating and
editing services, institutions, offerings and procedure types with errors at the field."""

from __future__ import annotations

import datetime
from datetime import UTC

import pytest
import time_machine
from django.urls import reverse

from rumbo.cases.models import Institution, Offering, ProcedureKind, Service
from rumbo.cases.tests.referral_support import client, institution, offering, scenario, service
from rumbo.geo.models import AdminArea

NOW = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
PERSONAS = (
    "no_role",
    "caseworker",
    "admin",
    "auditor",
    "coordinator",
    "trainer",
    "jalisco_caseworker",
    "jalisco_admin",
)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def s(world):
    return scenario(world)


READ = (403, 200, 200, 200, 403, 403, 200, 200)  # lists: every office sees its own directory
READ_ONE = (403, 200, 200, 200, 403, 403, 404, 404)  # one entry of Michoacán
MANAGE_NEW = (403, 403, 200, 403, 403, 403, 403, 200)  # office admins, in their own office
MANAGE_ONE = (403, 403, 200, 403, 403, 403, 403, 404)

MATRIX = [
    ("cases:directory_services", None, READ),
    ("cases:directory_institutions", None, READ),
    ("cases:directory_procedure_kinds", None, READ),
    ("cases:directory_institution", "institution", READ_ONE),
    ("cases:directory_service_create", None, MANAGE_NEW),
    ("cases:directory_institution_create", None, MANAGE_NEW),
    ("cases:directory_procedure_kind_create", None, MANAGE_NEW),
    ("cases:directory_service_edit", "service", MANAGE_ONE),
    ("cases:directory_institution_edit", "institution", MANAGE_ONE),
    ("cases:directory_offering_create", "institution", MANAGE_ONE),
    ("cases:directory_offering_edit", "offering", MANAGE_ONE),
    ("cases:directory_procedure_kind_edit", "kind", MANAGE_ONE),
]


@pytest.mark.parametrize(("route", "obj", "expected"), MATRIX)
def test_permission_matrix(world, s, route, obj, expected):
    url = reverse(route, args=[getattr(s, obj).pk] if obj else [])
    anonymous = client(world, "anonymous").get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for persona, status in zip(PERSONAS, expected, strict=True):
        response = client(world, persona).get(url)
        assert response.status_code == status, (route, persona, response.status_code)


def test_other_office_lists_do_not_show_michoacan(world, s):
    page = client(world, "jalisco_caseworker").get(reverse("cases:directory_institutions")).content.decode()
    assert "IMSS UMF 80" not in page and "No institutions yet." in page


def test_empty_states(world):
    c = client(world, "admin")
    page = c.get(reverse("cases:directory_services")).content.decode()
    assert "The catalogue is empty." in page and "rumbo seed_directory --office CODE" in page
    assert "No institutions yet." in c.get(reverse("cases:directory_institutions")).content.decode()
    assert "No procedure types yet." in c.get(reverse("cases:directory_procedure_kinds")).content.decode()
    assert (
        "No service matches “zzz”."
        in c.get(reverse("cases:directory_services"), {"q": "zzz"}).content.decode()
    )


def test_search_institutions_by_name_and_service(world, s):
    rc = institution(world, "Registro Civil Morelia")
    offering(world, svc=service(world, "curp", need="documents", name="CURP"), inst=rc)
    c = client(world, "caseworker")
    url = reverse("cases:directory_institutions")
    assert [i for i, _ in c.get(url, {"q": "registro"}).context["rows"]] == [rc]
    by_service = c.get(url, {"service": s.service.pk}).context["rows"]
    assert [i for i, _ in by_service] == [s.institution]
    assert c.get(url, {"service": "abc", "office": "-1", "page": "x"}).status_code == 200


def test_institution_page_marks_current_and_past_offerings(world, s):
    offering(
        world,
        svc=s.service,
        inst=s.institution,
        valid_from=datetime.date(2025, 1, 24),
        valid_until=datetime.date(2025, 12, 31),
    )
    page = client(world, "caseworker").get(reverse("cases:directory_institution", args=[s.institution.pk]))
    flags = [current for _, current in page.context["offerings"]]
    assert sorted(flags) == [False, True]
    assert "not current" in page.content.decode()


def test_admin_adds_a_service_with_errors_at_the_field(world):
    c = client(world, "admin")
    url = reverse("cases:directory_service_create")
    response = c.post(
        url, {"office": world.michoacan.pk, "code": "no spaces", "name": "", "category": "identity"}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"code", "name"}
    response = c.post(
        url,
        {
            "office": world.michoacan.pk,
            "code": "curp",
            "name": "CURP",
            "category": "identity",
            "need": "documents",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert Service._base_manager.get(code="curp").need == "documents"


def test_admin_adds_an_institution_with_an_area_and_an_offering(world, s):
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    c = client(world, "admin")
    response = c.post(
        reverse("cases:directory_institution_create"),
        {
            "office": world.michoacan.pk,
            "name": "Casa del Migrante",
            "sector": "civil_society",
            "admin_area": morelia.pk,
            "phone": "44",
            "is_active": "on",
        },
    )
    assert response.status_code == 200 and list(response.context["form"].errors) == ["phone"]
    assert (
        'value="Morelia, Michoacán de Ocampo (MX)"' in response.content.decode()
    )  # the picker keeps the choice
    response = c.post(
        reverse("cases:directory_institution_create"),
        {
            "office": world.michoacan.pk,
            "name": "Casa del Migrante",
            "sector": "civil_society",
            "admin_area": morelia.pk,
            "phone": "443 123 4567",
            "is_active": "on",
        },
    )
    casa = Institution._base_manager.get(name="Casa del Migrante")
    assert response.status_code == 302 and casa.phone == "+524431234567"
    url = reverse("cases:directory_offering_create", args=[casa.pk])
    bad = c.post(url, {"service": s.service.pk, "valid_from": "2026-05-01", "valid_until": "2026-04-01"})
    assert bad.context["form"].errors == {"valid_until": ["The end date must be on or after the start date."]}
    good = c.post(url, {"service": s.service.pk, "valid_from": "2026-03-01", "requirements": "Ninguno"})
    assert good.status_code == 302
    assert Offering.objects.filter(institution=casa).count() == 1


def test_admin_edits_an_offering_to_end_it(world, s):
    c = client(world, "admin")
    response = c.post(
        reverse("cases:directory_offering_edit", args=[s.offering.pk]),
        {"service": s.service.pk, "valid_from": "2026-01-01", "valid_until": "2026-03-01"},
    )
    assert response.status_code == 302
    s.offering.refresh_from_db()
    assert s.offering.valid_until == datetime.date(2026, 3, 1)


def test_admin_adds_a_procedure_type_from_the_textarea(world):
    c = client(world, "admin")
    url = reverse("cases:directory_procedure_kind_create")
    bad = c.post(url, {"office": world.michoacan.pk, "name": "Acta", "steps": "Pedir acta | | treinta"})
    assert bad.context["form"].errors == {"steps": ["Line 1: the days must be a whole number, e.g. 30."]}
    ok = c.post(
        url,
        {
            "office": world.michoacan.pk,
            "name": "Acta",
            "steps": "Pedir acta | Identificación | 30\n\nRecoger acta",
            "is_active": "on",
        },
    )
    assert ok.status_code == 302
    kind = ProcedureKind._base_manager.get(name="Acta")
    assert kind.steps == [
        {"name": "Pedir acta", "documents": "Identificación", "days": 30},
        {"name": "Recoger acta", "documents": "", "days": None},
    ]
    edit = c.get(reverse("cases:directory_procedure_kind_edit", args=[kind.pk]))
    assert "Pedir acta | Identificación | 30\nRecoger acta" in edit.content.decode()


def test_pages_are_spanish_by_default(world, s):
    c = world.client_for(world.caseworker)
    page = c.get(reverse("cases:directory_services")).content.decode()
    assert '<html lang="es">' in page


def test_the_institutions_are_on_a_map_at_their_place_or_their_municipality(world, s):
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    institution(world, "Registro Civil Morelia", admin_area_id=morelia.pk)
    institution(world, "DIF Morelia", admin_area_id=morelia.pk)
    institution(world, "Albergue en Uruapan", lat=19.4167, lon=-102.05)
    institution(world, "Sin lugar")
    response = client(world, "caseworker").get(reverse("cases:directory_institutions"))
    the_map = response.context["map"]
    labels = sorted(m.place.label for m in the_map.markers)
    assert labels == ["Albergue en Uruapan", "DIF Morelia; Registro Civil Morelia"]
    shared = next(m for m in the_map.markers if m.place.count == 2)
    assert shared.place.url == ""  # two institutions: the list below tells them apart
    alone = next(m for m in the_map.markers if m.place.count == 1)
    assert alone.place.url == reverse(
        "cases:directory_institution", args=[Institution.objects.get(name="Albergue en Uruapan").pk]
    )
    assert "16" in the_map.highlight
    page = response.content.decode()
    assert page.count("<circle") == 2 and "<title>DIF Morelia; Registro Civil Morelia</title>" in page
    # Another office's directory draws no map of Michoacán's institutions.
    other = client(world, "jalisco_caseworker").get(reverse("cases:directory_institutions"))
    assert other.context["map"] is None and "<svg" not in other.content.decode()


def test_a_new_offering_starts_on_the_institution_offices_date(world, s):
    """An admin of two offices sees pages in the time of the first; a new offering of an institution in
    the other starts on that office's date."""
    from rumbo.lib.testing.factories import MembershipFactory, OfficeFactory
    from rumbo.offices.models import Role
    from rumbo.offices.permissions import forget

    cancun = OfficeFactory(
        name="OFAM Quintana Roo", code="ofam-qroo", parent=world.conofam, time_zone="America/Cancun"
    )
    MembershipFactory(user=world.admin, office=cancun, role=Role.OFFICE_ADMIN)
    forget(world.admin)
    there = institution(world, "Hospital General de Cancún", office=cancun)
    # 2 March 05:30 UTC: still 1 March in Mexico City (Michoacán, the admin's first office), 2 March in Cancún.
    with time_machine.travel(datetime.datetime(2026, 3, 2, 5, 30, tzinfo=UTC), tick=False):
        page = client(world, "admin").get(reverse("cases:directory_offering_create", args=[there.pk]))
    assert page.status_code == 200
    assert page.context["form"].initial["valid_from"] == datetime.date(2026, 3, 2)
