"""Writes to an office's service catalogue and directory: services, the institutions that provide them and
offerings (a service at an institution, with requirements and eligibility valid between two dates).

Each state office keeps its own catalogue, changed from the pages (``MANAGE_DIRECTORY``), never in code.
Nothing here deletes: a service or institution that is no longer used is switched off, and an offering that
ended keeps its dates, so the referrals made under it keep their history. Every change leaves a
``DIRECTORY_CHANGE`` audit event with a field-level diff.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email, validate_slug
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.cases.models import Institution, Need, Offering, ProcedureKind, Service, ServiceCategory
from rumbo.geo.models import AdminArea
from rumbo.lib.validation import FieldErrors, clean_text, valid_choice
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require
from rumbo.people.validators import normalize_phone

SERVICE_FIELDS = ("code", "name", "category", "need", "description", "is_active")
INSTITUTION_FIELDS = (
    "name",
    "sector",
    "address",
    "admin_area",
    "lat",
    "lon",
    "contact_name",
    "phone",
    "email",
    "website",
    "hours",
    "is_active",
)
OFFERING_FIELDS = (
    "service",
    "requirements",
    "eligibility",
    "min_age",
    "max_age",
    "valid_from",
    "valid_until",
    "cost",
)
MAX_AGE = 120
LONG_TEXT = 5000


@dataclass(frozen=True)
class ServiceData:
    """What an office says about one service of its catalogue."""

    code: str
    name: str
    category: str
    need: str = ""
    description: str = ""
    is_active: bool = True


@dataclass(frozen=True)
class InstitutionData:
    """An institution of the directory. ``phone`` may be written as people do; it is stored in E.164."""

    name: str
    sector: str
    address: str = ""
    admin_area_id: int | None = None
    lat: float | None = None
    lon: float | None = None
    contact_name: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""
    hours: str = ""
    is_active: bool = True


@dataclass(frozen=True)
class OfferingData:
    """A service as an institution provides it, valid from ``valid_from`` until ``valid_until`` (or open)."""

    service_id: int
    valid_from: datetime.date
    valid_until: datetime.date | None = None
    requirements: str = ""
    eligibility: str = ""
    min_age: int | None = None
    max_age: int | None = None
    cost: str = ""


def _long_text(value: str | None) -> str:
    text = str(value or "").strip()
    if len(text) > LONG_TEXT:
        raise ValidationError(
            _("Write at most %(max)d characters."), code="max_length", params={"max": LONG_TEXT}
        )
    return text


def _required(value: str) -> str:
    if not value:
        raise ValidationError(_("This field is required."), code="required")
    return value


def _audit(actor: Any, office: Office, obj: Any, before: dict[str, Any], fields: tuple[str, ...]) -> None:
    changes = diff(before, snapshot(obj, fields))
    audit_record(
        actor=actor,
        action=Action.DIRECTORY_CHANGE,
        office=office,
        obj=obj,
        changes=changes,
        detail={"created": not before},
    )


# --- Services -----------------------------------------------------------------------------------------


def _clean_service(office: Office, data: ServiceData, exclude_pk: int | None) -> dict[str, Any]:
    errors = FieldErrors()
    code = errors.check("code", lambda: _required(clean_text(data.code, 60).lower())) or ""
    if code:
        errors.check("code", lambda: validate_slug(code))
        taken = Service._base_manager.filter(office=office, code=code).exclude(pk=exclude_pk or 0).exists()
        if taken:
            errors.add("code", _("Another service of this office already has this code."))
    name = errors.check("name", lambda: _required(clean_text(data.name, 200))) or ""
    errors.check("category", lambda: valid_choice(data.category, ServiceCategory, _("Choose a category.")))
    if data.need:
        errors.check("need", lambda: valid_choice(data.need, Need, _("Choose a valid need.")))
    description = errors.check("description", lambda: _long_text(data.description)) or ""
    errors.raise_if_any()
    return {
        "code": code,
        "name": name,
        "category": data.category,
        "need": data.need or "",
        "description": description,
        "is_active": bool(data.is_active),
    }


def service_create(*, actor: Any, office: Office, data: ServiceData) -> Service:
    """Add a service to ``office``'s catalogue (``MANAGE_DIRECTORY``). The code is unique in the office."""
    require(actor, Perm.MANAGE_DIRECTORY, office.pk)
    values = _clean_service(office, data, None)
    with transaction.atomic():
        service = Service._base_manager.create(office=office, **values)
        _audit(actor, office, service, {}, SERVICE_FIELDS)
    return service


def service_update(*, actor: Any, service: Service, data: ServiceData) -> Service:
    """Change a service (``MANAGE_DIRECTORY``); switching it off keeps it for the history of referrals."""
    require(actor, Perm.MANAGE_DIRECTORY, service.office_id)
    office = Office.objects.get(pk=service.office_id)
    values = _clean_service(office, data, service.pk)
    with transaction.atomic():
        before = snapshot(service, SERVICE_FIELDS)
        for key, value in values.items():
            setattr(service, key, value)
        service.save()
        _audit(actor, office, service, before, SERVICE_FIELDS)
    return service


# --- Institutions -------------------------------------------------------------------------------------


def _clean_area(area_id: int | None, country: str) -> AdminArea | None:
    if area_id is None:
        return None
    area = AdminArea.objects.filter(pk=area_id).first()
    if area is None:
        raise ValidationError(_("Choose a valid place."), code="area")
    if area.country != country:
        raise ValidationError(_("Choose a place in the office's country."), code="area_country")
    return area


def _clean_coordinate(value: float | None, limit: int) -> float | None:
    if value is None:
        return None
    if not -limit <= float(value) <= limit:
        raise ValidationError(
            _("Enter a number between -%(limit)d and %(limit)d."), code="coordinate", params={"limit": limit}
        )
    return float(value)


def _clean_email(value: str) -> str:
    email = clean_text(value, 254)
    if email:
        validate_email(email)
    return email


def _clean_website(value: str) -> str:
    url = clean_text(value, 200)
    if url:
        URLValidator(schemes=["http", "https"])(url)
    return url


def _clean_institution(office: Office, data: InstitutionData, exclude_pk: int | None) -> dict[str, Any]:
    errors = FieldErrors()
    name = errors.check("name", lambda: _required(clean_text(data.name, 200))) or ""
    if name:
        taken = (
            Institution._base_manager.filter(office=office, name__iexact=name)
            .exclude(pk=exclude_pk or 0)
            .exists()
        )
        if taken:
            errors.add("name", _("Another institution of this office already has this name."))
    errors.check("sector", lambda: valid_choice(data.sector, Institution.Sector, _("Choose a sector.")))
    address = errors.check("address", lambda: clean_text(data.address, 300)) or ""
    area = errors.check("admin_area", lambda: _clean_area(data.admin_area_id, office.country))
    lat = errors.check("lat", lambda: _clean_coordinate(data.lat, 90))
    lon = errors.check("lon", lambda: _clean_coordinate(data.lon, 180))
    if (data.lat is None) != (data.lon is None):
        errors.add("lat" if data.lat is None else "lon", _("Give both the latitude and the longitude."))
    contact = errors.check("contact_name", lambda: clean_text(data.contact_name, 150)) or ""
    raw_phone = clean_text(data.phone, 40)
    phone = errors.check("phone", lambda: normalize_phone(raw_phone, office.country)) if raw_phone else ""
    email = errors.check("email", lambda: _clean_email(data.email)) or ""
    website = errors.check("website", lambda: _clean_website(data.website)) or ""
    hours = errors.check("hours", lambda: clean_text(data.hours, 200)) or ""
    errors.raise_if_any()
    return {
        "name": name,
        "sector": data.sector,
        "address": address,
        "admin_area": area,
        "lat": lat,
        "lon": lon,
        "contact_name": contact,
        "phone": phone or "",
        "email": email,
        "website": website,
        "hours": hours,
        "is_active": bool(data.is_active),
    }


def institution_create(*, actor: Any, office: Office, data: InstitutionData) -> Institution:
    """Add an institution to ``office``'s directory (``MANAGE_DIRECTORY``); the phone is stored in E.164."""
    require(actor, Perm.MANAGE_DIRECTORY, office.pk)
    values = _clean_institution(office, data, None)
    with transaction.atomic():
        institution = Institution._base_manager.create(office=office, **values)
        _audit(actor, office, institution, {}, INSTITUTION_FIELDS)
    return institution


def institution_update(*, actor: Any, institution: Institution, data: InstitutionData) -> Institution:
    """Change an institution (``MANAGE_DIRECTORY``)."""
    require(actor, Perm.MANAGE_DIRECTORY, institution.office_id)
    office = Office.objects.get(pk=institution.office_id)
    values = _clean_institution(office, data, institution.pk)
    with transaction.atomic():
        before = snapshot(institution, INSTITUTION_FIELDS)
        for key, value in values.items():
            setattr(institution, key, value)
        institution.save()
        _audit(actor, office, institution, before, INSTITUTION_FIELDS)
    return institution


# --- Offerings ----------------------------------------------------------------------------------------


def _clean_age(value: int | None) -> int | None:
    if value is None:
        return None
    if not 0 <= int(value) <= MAX_AGE:
        raise ValidationError(_("Enter an age between 0 and %(max)d."), code="age", params={"max": MAX_AGE})
    return int(value)


def _clean_offering(institution: Institution, data: OfferingData) -> dict[str, Any]:
    errors = FieldErrors()
    service = Service._base_manager.filter(pk=data.service_id, office_id=institution.office_id).first()
    if service is None:
        errors.add("service", _("Choose a service of this office's catalogue."))
    requirements = errors.check("requirements", lambda: _long_text(data.requirements)) or ""
    eligibility = errors.check("eligibility", lambda: _long_text(data.eligibility)) or ""
    min_age = errors.check("min_age", lambda: _clean_age(data.min_age))
    max_age = errors.check("max_age", lambda: _clean_age(data.max_age))
    if min_age is not None and max_age is not None and max_age < min_age:
        errors.add("max_age", _("The maximum age cannot be below the minimum age."))
    if data.valid_from is None:
        errors.add("valid_from", _("This field is required."))
    elif data.valid_until is not None and data.valid_until < data.valid_from:
        errors.add("valid_until", _("The end date must be on or after the start date."))
    cost = errors.check("cost", lambda: clean_text(data.cost, 100)) or ""
    errors.raise_if_any()
    return {
        "service": service,
        "requirements": requirements,
        "eligibility": eligibility,
        "min_age": min_age,
        "max_age": max_age,
        "valid_from": data.valid_from,
        "valid_until": data.valid_until,
        "cost": cost,
    }


def offering_create(*, actor: Any, institution: Institution, data: OfferingData) -> Offering:
    """Record that ``institution`` provides a service of the catalogue, with its rules and dates
    (``MANAGE_DIRECTORY``). The end date, when given, is on or after the start date."""
    require(actor, Perm.MANAGE_DIRECTORY, institution.office_id)
    values = _clean_offering(institution, data)
    office = Office.objects.get(pk=institution.office_id)
    with transaction.atomic():
        offering = Offering.objects.create(institution=institution, **values)
        _audit(actor, office, offering, {}, OFFERING_FIELDS)
    return offering


def offering_update(*, actor: Any, offering: Offering, data: OfferingData) -> Offering:
    """Change an offering (``MANAGE_DIRECTORY``). When a programme's rules change, end this offering
    (``valid_until``) and add a new one: referrals keep pointing at the rules they were made under."""
    institution = Institution._base_manager.get(pk=offering.institution_id)
    require(actor, Perm.MANAGE_DIRECTORY, institution.office_id)
    values = _clean_offering(institution, data)
    office = Office.objects.get(pk=institution.office_id)
    with transaction.atomic():
        before = snapshot(offering, OFFERING_FIELDS)
        for key, value in values.items():
            setattr(offering, key, value)
        offering.save()
        _audit(actor, office, offering, before, OFFERING_FIELDS)
    return offering


# --- Default catalogue --------------------------------------------------------------------------------

SEED_FILE = Path(__file__).resolve().parent.parent / "data" / "directory_seed.json"


@cache
def seed_catalogue() -> dict[str, Any]:
    """The default catalogue shipped with Rumbo (``cases/data/directory_seed.json``)."""
    data: dict[str, Any] = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    return data


@dataclass
class SeedResult:
    """What :func:`directory_seed` added (rows that already existed are left as the office keeps them)."""

    services: list[str] = field(default_factory=list)
    procedure_kinds: list[str] = field(default_factory=list)
    institutions: list[str] = field(default_factory=list)
    offerings: int = 0


def directory_seed(*, office: Office, demo: bool = False, actor: Any = None) -> SeedResult:
    """Give ``office`` the default service catalogue and procedure types; with ``demo``, also a few
    institutions clearly marked "(demo)" with their offerings. Idempotent: services (by code), procedure
    types and institutions (by name) that exist are left untouched, so an office's edits survive.

    A system action for the ``seed_directory`` command (whoever runs it has the server): no permission is
    checked; ``actor``, when given, is recorded. Audits one ``DIRECTORY_CHANGE`` with what was added.
    """
    catalogue = seed_catalogue()
    result = SeedResult()
    with transaction.atomic():
        by_code = {s.code: s for s in Service._base_manager.filter(office=office)}
        for row in catalogue["services"]:
            if row["code"] in by_code:
                continue
            by_code[row["code"]] = Service._base_manager.create(
                office=office,
                code=row["code"],
                name=row["name"],
                category=row["category"],
                need=row.get("need", ""),
                description=row.get("description", ""),
            )
            result.services.append(row["code"])
        kinds = {
            k.lower()
            for k in ProcedureKind._base_manager.filter(office=office).values_list("name", flat=True)
        }
        for row in catalogue["procedure_kinds"]:
            if row["name"].lower() in kinds:
                continue
            ProcedureKind._base_manager.create(
                office=office, name=row["name"], description=row.get("description", ""), steps=row["steps"]
            )
            result.procedure_kinds.append(row["name"])
        if demo:
            _seed_demo_institutions(office, by_code, catalogue["demo_institutions"], result)
        if result.services or result.procedure_kinds or result.institutions:
            audit_record(
                actor=actor,
                action=Action.DIRECTORY_CHANGE,
                office=office,
                object_type="cases.service",
                detail={
                    "seed": True,
                    "services": result.services,
                    "procedure_kinds": result.procedure_kinds,
                    "institutions": result.institutions,
                    "offerings": result.offerings,
                },
            )
    return result


def _seed_demo_institutions(
    office: Office, services: dict[str, Service], rows: list[dict[str, Any]], result: SeedResult
) -> None:
    existing = {
        n.lower() for n in Institution._base_manager.filter(office=office).values_list("name", flat=True)
    }
    for row in rows:
        if row["name"].lower() in existing:
            continue
        area = (
            AdminArea.objects.filter(
                country=office.country, level=AdminArea.Level.MUNICIPALITY, code=row["municipality"]
            ).first()
            if row.get("municipality")
            else None
        )
        institution = Institution._base_manager.create(
            office=office,
            name=row["name"],
            sector=row["sector"],
            address=row.get("address", ""),
            admin_area=area,
            hours=row.get("hours", ""),
        )
        result.institutions.append(row["name"])
        for offer in row.get("offerings", []):
            service = services.get(offer["service"])
            if service is None:
                continue
            Offering.objects.create(
                institution=institution,
                service=service,
                requirements=offer.get("requirements", ""),
                eligibility=offer.get("eligibility", ""),
                min_age=offer.get("min_age"),
                max_age=offer.get("max_age"),
                cost=offer.get("cost", ""),
                valid_from=datetime.date.fromisoformat(offer["valid_from"]),
                valid_until=datetime.date.fromisoformat(offer["valid_until"])
                if offer.get("valid_until")
                else None,
            )
            result.offerings += 1
