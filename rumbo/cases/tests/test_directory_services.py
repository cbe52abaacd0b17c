"""Tests of the directory services and the seed command: validation at the field, E.164 phones, offering
dates, office scoping, audit, and an idempotent default catalogue."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation

from rumbo.audit.models import Action, AuditEvent
from rumbo.cases.models import Institution, Offering, ProcedureKind, Service
from rumbo.cases.services.directory import (
    InstitutionData,
    OfferingData,
    ServiceData,
    directory_seed,
    institution_create,
    institution_update,
    offering_create,
    offering_update,
    seed_catalogue,
    service_create,
    service_update,
)
from rumbo.cases.tests.referral_support import institution, offering, service
from rumbo.geo.models import AdminArea

ISSUE_SERVICES = {
    "curp",
    "acta-nacimiento",
    "apostilla-acta-eua",
    "ine",
    "imss",
    "inscripcion-escolar",
    "revalidacion-estudios",
    "vinculacion-laboral",
    "asesoria-juridica",
    "atencion-psicosocial",
    "albergue",
    "busqueda-familiares",
    "traslado-restos",
    "programas-estatales",
    "programas-federales",
}


# --- Services -----------------------------------------------------------------------------------------


def test_service_create_and_update_are_audited_with_a_diff(world):
    svc = service_create(
        actor=world.admin,
        office=world.michoacan,
        data=ServiceData(code="CURP", name=" CURP ", category="identity", need="documents"),
    )
    assert (svc.code, svc.name, svc.office) == ("curp", "CURP", world.michoacan)
    service_update(
        actor=world.admin,
        service=svc,
        data=ServiceData(code="curp", name="CURP", category="identity", need="documents", is_active=False),
    )
    events = AuditEvent.objects.filter(action=Action.DIRECTORY_CHANGE, object_id=str(svc.pk)).order_by("id")
    assert events[0].detail == {"created": True}
    assert events[1].changes == {"is_active": {"old": True, "new": False}}


def test_service_errors_are_at_the_field(world):
    service(world, "curp", need="documents")
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        service_create(
            actor=world.admin,
            office=world.michoacan,
            data=ServiceData(code="curp", name="", category="nope", need="nope"),
        )
    errors = exc.value.message_dict
    assert errors["code"] == ["Another service of this office already has this code."]
    assert set(errors) == {"code", "name", "category", "need"}


def test_the_same_code_in_another_office_is_fine(world):
    service(world, "curp", need="documents")
    assert service(world, "curp", office=world.jalisco, need="documents").office == world.jalisco


@pytest.mark.parametrize("who", ["caseworker", "auditor", "coordinator", "jalisco_caseworker", "no_role"])
def test_only_office_admins_manage_the_directory(world, who):
    with pytest.raises(PermissionDenied):
        service_create(
            actor=getattr(world, who),
            office=world.michoacan,
            data=ServiceData(code="x", name="X", category="legal"),
        )


# --- Institutions -------------------------------------------------------------------------------------


def test_institution_phone_is_stored_in_e164_and_area_checked(world):
    morelia = AdminArea.objects.get(country="MX", level=2, code="16053")
    inst = institution(
        world,
        "Casa del Migrante",
        sector="civil_society",
        phone="443 123 4567",
        admin_area_id=morelia.pk,
        lat=19.70,
        lon=-101.19,
        email="casa@example.org",
        website="https://example.org",
    )
    assert inst.phone == "+524431234567" and inst.admin_area == morelia


def test_institution_errors_are_at_the_field(world):
    institution(world, "IMSS UMF 80")
    texas = AdminArea.objects.filter(country="US").first()
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        institution_create(
            actor=world.admin,
            office=world.michoacan,
            data=InstitutionData(
                name="imss umf 80",
                sector="federal",
                phone="12",
                email="not-an-email",
                website="ftp://x",
                lat=95.0,
                admin_area_id=texas.pk,
            ),
        )
    errors = exc.value.message_dict
    assert errors["name"] == ["Another institution of this office already has this name."]
    assert errors["admin_area"] == ["Choose a place in the office's country."]
    assert errors["lon"] == ["Give both the latitude and the longitude."]
    assert set(errors) == {"name", "phone", "email", "website", "lat", "lon", "admin_area"}
    assert Institution._base_manager.count() == 1


def test_institution_update_keeps_its_own_name(world):
    inst = institution(world, "IMSS UMF 80")
    institution_update(
        actor=world.admin,
        institution=inst,
        data=InstitutionData(name="IMSS UMF 80", sector="federal", hours="24 h"),
    )
    inst.refresh_from_db()
    assert inst.hours == "24 h"


# --- Offerings ----------------------------------------------------------------------------------------


def test_offering_end_must_not_be_before_its_start(world):
    svc, inst = service(world), institution(world)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        offering_create(
            actor=world.admin,
            institution=inst,
            data=OfferingData(
                service_id=svc.pk,
                valid_from=datetime.date(2026, 5, 1),
                valid_until=datetime.date(2026, 4, 30),
                min_age=18,
                max_age=5,
            ),
        )
    assert exc.value.message_dict == {
        "valid_until": ["The end date must be on or after the start date."],
        "max_age": ["The maximum age cannot be below the minimum age."],
    }
    assert not Offering.objects.exists()


def test_offering_service_must_be_of_the_institutions_office(world):
    other = service(world, "imss", office=world.jalisco)
    with pytest.raises(ValidationError) as exc:
        offering_create(
            actor=world.admin,
            institution=institution(world),
            data=OfferingData(service_id=other.pk, valid_from=datetime.date(2026, 1, 1)),
        )
    assert set(exc.value.message_dict) == {"service"}


def test_ending_an_offering_keeps_it(world):
    off = offering(world)
    offering_update(
        actor=world.admin,
        offering=off,
        data=OfferingData(
            service_id=off.service_id, valid_from=off.valid_from, valid_until=datetime.date(2026, 2, 28)
        ),
    )
    off.refresh_from_db()
    assert off.valid_until == datetime.date(2026, 2, 28)
    change = AuditEvent.objects.filter(action=Action.DIRECTORY_CHANGE, object_type="cases.offering").first()
    assert change.changes["valid_until"] == {"old": None, "new": "2026-02-28"}


# --- Default catalogue --------------------------------------------------------------------------------


def test_catalogue_has_every_service_of_the_issue():
    codes = {row["code"] for row in seed_catalogue()["services"]}
    assert codes >= ISSUE_SERVICES
    names = {row["name"] for row in seed_catalogue()["procedure_kinds"]}
    assert names == {"Apostilla y registro de nacimiento de hijo nacido en EUA", "Revalidación de estudios"}


def test_seed_is_idempotent_and_keeps_the_offices_edits(world):
    first = directory_seed(office=world.michoacan)
    assert len(first.services) == len(seed_catalogue()["services"]) and len(first.procedure_kinds) == 2
    assert first.institutions == []
    curp = Service._base_manager.get(office=world.michoacan, code="curp")
    curp.name = "CURP (editado)"
    curp.save()
    second = directory_seed(office=world.michoacan)
    assert second.services == [] and second.procedure_kinds == []
    assert Service._base_manager.get(pk=curp.pk).name == "CURP (editado)"
    assert Service._base_manager.filter(office=world.michoacan).count() == len(seed_catalogue()["services"])
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_CHANGE, detail__seed=True).count() == 1


def test_seed_procedure_steps(world):
    directory_seed(office=world.michoacan)
    kind = ProcedureKind._base_manager.get(name="Apostilla y registro de nacimiento de hijo nacido en EUA")
    names = [step["name"] for step in kind.steps]
    assert len(names) == 6
    assert names[1].startswith("Apostilla en el estado de EUA")
    assert (
        "inserción de acta" in names[3] and names[4].startswith("CURP") and names[5] == "Inscripción escolar"
    )


def test_seed_command_with_demo_institutions(world):
    out = StringIO()
    with translation.override("en"):
        call_command("seed_directory", "--office", "ofam-mich", "--demo", stdout=out)
        call_command("seed_directory", "--office", "ofam-mich", "--demo", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("OFAM Michoacán: 16 services, 2 procedure types, 7 institutions")
    assert lines[1] == "OFAM Michoacán: 0 services, 0 procedure types, 0 institutions and 0 offerings added."
    names = list(Institution._base_manager.filter(office=world.michoacan).values_list("name", flat=True))
    assert all(name.endswith("(demo)") for name in names)
    imss = Institution._base_manager.get(name="IMSS — Unidad de Medicina Familiar (demo)")
    assert imss.admin_area.name == "Morelia"
    assert (
        Offering.objects.filter(institution=imss).count() == 2
    )  # the 2025 rule that ended and the current one


def test_seed_command_unknown_office():
    with translation.override("en"), pytest.raises(CommandError, match="No office has the code"):
        call_command("seed_directory", "--office", "nope")
