"""Returns of Mexicans and arrivals of immigrants, and the points of return offices add.

A person can return many times (one person, many repatriations): each return is its own row, recorded by the
office that holds the person. Every field of an arrival is optional; a return needs its date and how it
happened. Errors are reported at the field; nothing is saved when one is found.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.models import (
    ArrivalEvent,
    ComarStatus,
    EnglishLevel,
    MigrationStatus,
    ReturnEvent,
    ReturnHow,
    ReturnPoint,
)
from rumbo.cases.services.tasks import office_today
from rumbo.geo.models import AdminArea
from rumbo.lib.validation import FieldErrors, clean_text, valid_choice
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, offices_with_perm, require
from rumbo.people.models import HouseholdRelation, Person
from rumbo.people.services._common import require_live
from rumbo.people.validators import validate_country, validate_inm_constancia

#: The earliest date of return or entry accepted (an older date is almost surely a typing error).
EARLIEST_DATE = datetime.date(1940, 1, 1)
MAX_MONTHS_ABROAD = 12 * 90
NOTES_MAX = 5000

# --- Reference data: INM repatriation modules ---------------------------------------------------------

REPATRIATION_POINTS_CSV = Path(__file__).resolve().parents[2] / "geo" / "data" / "mx_repatriation_points.csv"
#: Provenance of the shipped points (geo/data/SOURCES.md, section mx_repatriation_points.csv).
REPATRIATION_POINTS_SOURCE = (
    "INM Módulos de Repatriación (accesolatino.org, 11 modules); lat/lon: INEGI seat of the host "
    "municipality, not the module address (see geo/data/SOURCES.md)"
)


def load_return_points(point_model: Any, area_model: Any) -> int:
    """Create or update the INM repatriation modules from ``geo/data/mx_repatriation_points.csv``.

    Idempotent (names are the key). ``point_model``/``area_model`` may be a migration's historical models.
    The municipality is the INEGI area of ``cvegeo_municipality`` when areas are loaded. Returns how many
    points were created.
    """
    created = 0
    with REPATRIATION_POINTS_CSV.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            municipality = area_model.objects.filter(
                country="MX", level=2, code=row["cvegeo_municipality"]
            ).first()
            _point, was_created = point_model.objects.update_or_create(
                name=row["name"],
                defaults={
                    "kind": "inm_module",
                    "municipality": municipality,
                    "lat": float(row["lat"]) if row["lat"] else None,
                    "lon": float(row["lon"]) if row["lon"] else None,
                    "source": REPATRIATION_POINTS_SOURCE,
                    "is_active": True,
                },
            )
            created += int(was_created)
    return created


def return_point_add(
    *,
    actor: Any,
    office: Office,
    name: str,
    kind: str,
    municipality: AdminArea | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> ReturnPoint:
    """Add a point of return the reference data lacks (an airport of interior repatriation flights, a border
    crossing). Needs ``MANAGE_DIRECTORY`` in ``office``; points are shared by every office, so the source says
    which office added it. Audits ``DIRECTORY_CHANGE``."""
    require(actor, Perm.MANAGE_DIRECTORY, office.pk)
    errors = FieldErrors()
    name = errors.check("name", lambda: clean_text(name, 200)) or ""
    if not name and "name" not in errors.errors:
        errors.add("name", _("This field is required."))
    elif name and ReturnPoint.objects.filter(name__iexact=name).exists():
        errors.add("name", _("A point of return with this name exists already."))
    allowed = {ReturnPoint.Kind.AIRPORT, ReturnPoint.Kind.BORDER_CROSSING, ReturnPoint.Kind.OTHER}
    if kind not in allowed:
        errors.add("kind", _("Choose an airport, a border crossing or other."))
    if municipality is not None and (municipality.country != "MX" or municipality.level != 2):
        errors.add("municipality", _("Choose a Mexican municipality."))
    if (lat is None) != (lon is None):
        errors.add("lat" if lat is None else "lon", _("Give both latitude and longitude, or neither."))
    if lat is not None and not -90 <= lat <= 90:
        errors.add("lat", _("A latitude is between -90 and 90."))
    if lon is not None and not -180 <= lon <= 180:
        errors.add("lon", _("A longitude is between -180 and 180."))
    errors.raise_if_any()
    with transaction.atomic():
        point = ReturnPoint.objects.create(
            name=name,
            kind=kind,
            municipality=municipality,
            lat=lat,
            lon=lon,
            source=f"{office.name} ({timezone.localdate():%Y-%m-%d})"[:300],
        )
        audit_record(
            actor=actor,
            action=Action.DIRECTORY_CHANGE,
            office=office,
            obj=point,
            detail={"added": "return_point", "name": name, "kind": kind},
        )
    return point


# --- Shared checks -------------------------------------------------------------------------------------


def check_past_date(value: Any, *, today: datetime.date, required: bool) -> datetime.date | None:
    """A date that is not in the future (and not absurdly old)."""
    if value in (None, ""):
        if required:
            raise ValidationError(_("This field is required."), code="required")
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    if not isinstance(value, datetime.date):
        raise ValidationError(_("Enter a valid date."), code="invalid")
    if value > today:
        raise ValidationError(_("The date cannot be in the future."), code="future")
    if value < EARLIEST_DATE:
        raise ValidationError(_("Check the date: it is too far in the past."), code="too_old")
    return value


def household_companions(
    *, actor: Any, person: Person, companions: Iterable[Person], key: str
) -> list[Person]:
    """The persons of ``companions``, each checked: visible to the actor, registered by the person's office,
    and linked to the person as household. Raises a ValidationError at ``key`` naming each one refused."""
    chosen = list(dict.fromkeys(companions))
    if not chosen:
        return []
    visible = offices_with_perm(actor, Perm.VIEW_PERSON)
    related = set(
        HouseholdRelation.objects.filter(person=person, relative__in=[p.pk for p in chosen]).values_list(
            "relative_id", flat=True
        )
    )
    messages: list[Any] = []
    for other in chosen:
        if other.pk == person.pk:
            messages.append(_("The person cannot be their own companion or household member."))
        elif other.office_id not in visible or other.office_id != person.office_id:
            messages.append(
                _("Record %(id)s is not a person of this office.") % {"id": other.pk}  # no name: not visible
            )
        elif other.anonymised_at is not None or other.merged_into_id is not None:
            messages.append(_("%(name)s's record was anonymised or merged.") % {"name": other.full_name})
        elif other.pk not in related:
            messages.append(
                _("%(name)s is not linked to this person's household: link them first.")
                % {"name": other.full_name}
            )
    if messages:
        raise ValidationError({key: messages})
    return chosen


# --- Returns -------------------------------------------------------------------------------------------


def return_record(
    *,
    actor: Any,
    person: Person,
    returned_on: datetime.date,
    how: str,
    point: ReturnPoint | None = None,
    point_other: str = "",
    country_from: str = "US",
    us_state: AdminArea | None = None,
    months_abroad: int | None = None,
    english_level: str = "",
    companions: Iterable[Person] = (),
    inm_constancia: str = "",
    notes: str = "",
) -> ReturnEvent:
    """Record one return of ``person`` to Mexico, at the person's office.

    Needs ``CHANGE_CASE`` in the person's office. The date cannot be in the future; ``us_state`` must be a
    US state (and only for returns from the US); companions must be persons of the office linked to the
    person's household. Audits ``RETURN_RECORD``.
    """
    office = person.office
    require(actor, Perm.CHANGE_CASE, office.pk)
    require_live(person)
    today = office_today(office)
    errors = FieldErrors()
    errors.check("returned_on", lambda: check_past_date(returned_on, today=today, required=True))
    errors.check("how", lambda: valid_choice(how, ReturnHow, _("Choose how the person returned.")))
    point_other = errors.check("point_other", lambda: clean_text(point_other, 200)) or ""
    if point is not None and not point.is_active:
        errors.add("point", _("This point of return is no longer in use."))
    country = errors.check("country_from", lambda: validate_country(country_from or "US"))
    if country == "MX":
        errors.add("country_from", _("A return comes from another country."))
    if us_state is not None:
        if us_state.country != "US" or us_state.level != AdminArea.Level.STATE:
            errors.add("us_state", _("Choose a state of the United States."))
        elif country and country != "US":
            errors.add("us_state", _("A US state applies only to returns from the United States."))
    if months_abroad is not None and not (
        isinstance(months_abroad, int) and 0 <= months_abroad <= MAX_MONTHS_ABROAD
    ):
        errors.add(
            "months_abroad",
            _("Enter the months abroad as a number from 0 to %(max)d.") % {"max": MAX_MONTHS_ABROAD},
        )
    errors.check(
        "english_level",
        lambda: valid_choice(english_level or "", EnglishLevel, _("Choose a valid English level.")),
    )
    constancia = ""
    if inm_constancia and str(inm_constancia).strip():
        constancia = errors.check("inm_constancia", lambda: validate_inm_constancia(inm_constancia)) or ""
    notes = errors.check("notes", lambda: clean_text(notes, NOTES_MAX)) or ""
    chosen: list[Person] = []
    try:
        chosen = household_companions(actor=actor, person=person, companions=companions, key="companions")
    except ValidationError as exc:
        for message in exc.message_dict["companions"]:
            errors.add("companions", message)
    errors.raise_if_any()
    with transaction.atomic():
        event = ReturnEvent.objects.create(
            office=office,
            person=person,
            returned_on=returned_on,
            how=how,
            point=point,
            point_other=point_other,
            country_from=country or "US",
            us_state=us_state,
            months_abroad=months_abroad,
            english_level=english_level or "",
            inm_constancia=constancia,
            notes=notes,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        event.companions.set(chosen)
        audit_record(
            actor=actor,
            action=Action.RETURN_RECORD,
            office=office,
            obj=event,
            detail={
                "person": person.pk,
                "returned_on": returned_on,
                "how": how,
                "point": point.pk if point else None,
                "companions": [p.pk for p in chosen],
            },
        )
    return event


# --- Arrivals ------------------------------------------------------------------------------------------


def arrival_record(
    *,
    actor: Any,
    person: Person,
    country_of_origin: str = "",
    entered_on: datetime.date | None = None,
    migration_status: str = "",
    comar_status: str = "",
    comar_file: str = "",
    notes: str = "",
) -> ArrivalEvent:
    """Record an immigrant's arrival in Mexico. Every field is optional, never required; what is given is
    checked (a date not in the future, a real country, known statuses). Needs ``CHANGE_CASE`` in the
    person's office. Audits ``ARRIVAL_RECORD``."""
    office = person.office
    require(actor, Perm.CHANGE_CASE, office.pk)
    require_live(person)
    today = office_today(office)
    errors = FieldErrors()
    country = ""
    if country_of_origin:
        country = errors.check("country_of_origin", lambda: validate_country(country_of_origin)) or ""
        if country == "MX":
            errors.add("country_of_origin", _("An immigrant comes from another country than Mexico."))
    errors.check("entered_on", lambda: check_past_date(entered_on, today=today, required=False))
    errors.check(
        "migration_status",
        lambda: valid_choice(migration_status or "", MigrationStatus, _("Choose a valid migration status.")),
    )
    errors.check(
        "comar_status",
        lambda: valid_choice(comar_status or "", ComarStatus, _("Choose a valid state of the application.")),
    )
    comar_file = errors.check("comar_file", lambda: clean_text(comar_file, 60)) or ""
    notes = errors.check("notes", lambda: clean_text(notes, NOTES_MAX)) or ""
    errors.raise_if_any()
    with transaction.atomic():
        event = ArrivalEvent.objects.create(
            office=office,
            person=person,
            country_of_origin=country,
            entered_on=entered_on,
            migration_status=migration_status or "",
            comar_status=comar_status or "",
            comar_file=comar_file,
            notes=notes,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action=Action.ARRIVAL_RECORD,
            office=office,
            obj=event,
            detail={"person": person.pk, "country_of_origin": country, "entered_on": entered_on},
        )
    return event
