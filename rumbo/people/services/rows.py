"""Snapshots for audit diffs, and the writing of a person's child rows (documents, phones…)."""

from __future__ import annotations

from typing import Any

from django.db import models

from rumbo.audit.services import snapshot
from rumbo.geo.models import AdminArea
from rumbo.people.data import (
    AddressData,
    AliasData,
    DocumentData,
    PersonData,
    PhoneData,
    VulnerabilityData,
)
from rumbo.people.models import (
    Address,
    Alias,
    Document,
    DocumentKind,
    Language,
    Nationality,
    Person,
    Phone,
    VulnerabilityFlag,
)
from rumbo.people.search import document_token
from rumbo.people.services._common import (
    PERSON_FIELDS,
)
from rumbo.people.validators import (
    curp_inconsistencies,
)


def person_snapshot(person: Person) -> dict[str, Any]:
    """The person's fields and child lists as JSON-able values, for field-level audit diffs."""
    out = snapshot(person, PERSON_FIELDS)
    out["nationalities"] = sorted(Nationality.objects.filter(person=person).values_list("country", flat=True))
    out["languages"] = sorted(Language.objects.filter(person=person).values_list("code", flat=True))
    out["aliases"] = sorted(
        f"{a.given_names} / {a.surnames}" for a in Alias.objects.filter(person=person).order_by("pk")
    )
    out["documents"] = [
        {
            "kind": d.kind,
            "number": d.number,
            "issuing_country": d.issuing_country,
            "issued_on": d.issued_on.isoformat() if d.issued_on else None,
            "expires_on": d.expires_on.isoformat() if d.expires_on else None,
            "flags": list(d.flags),
        }
        for d in Document.objects.filter(person=person).order_by("kind", "number_normalized")
    ]
    out["phones"] = [
        {"number": p.e164, "kind": p.kind, "whatsapp": p.whatsapp, "is_primary": p.is_primary}
        for p in Phone.objects.filter(person=person).order_by("e164")
    ]
    out["addresses"] = [
        {"country": a.country, "admin_area": a.admin_area_id, "text": a.text, "is_current": a.is_current}
        for a in Address.objects.filter(person=person).order_by("pk")
    ]
    out["vulnerabilities"] = sorted(
        VulnerabilityFlag.objects.filter(person=person).values_list("flag", flat=True)
    )
    return out


def _sync_rows(
    model: type[models.Model],
    person: Person,
    wanted: list[dict[str, Any]],
    key_fields: tuple[str, ...],
) -> None:
    """Make ``person``'s rows of ``model`` equal ``wanted``, keeping (and updating) rows whose key matches,
    so ids and creation times of unchanged rows survive an update."""
    existing = {
        tuple(getattr(row, f) for f in key_fields): row
        for row in model._default_manager.filter(person=person)
    }
    wanted_keys = {tuple(values[f] for f in key_fields) for values in wanted}
    for key, row in existing.items():
        if key not in wanted_keys:
            row.delete()
    for values in wanted:
        key = tuple(values[f] for f in key_fields)
        current = existing.get(key)
        if current is None:
            model(person=person, **values).save()
            continue
        changed = [f for f, v in values.items() if getattr(current, f) != v]
        if changed:
            for f in changed:
                setattr(current, f, values[f])
            current.save(update_fields=changed)


def _birth_state_code(area: AdminArea | None) -> str | None:
    """INEGI code of the Mexican state of birth ("16"), when the place of birth is in Mexico."""
    if area is None or area.country != "MX":
        return None
    return area.code if area.level == AdminArea.Level.STATE else area.code[:2]


def _curp_flags(person: Person | PersonData, number: str, birth_place: AdminArea | None) -> list[str]:
    return curp_inconsistencies(
        number,
        given_names=person.given_names,
        first_surname=person.first_surname,
        second_surname=person.second_surname,
        birth_date=person.birth_date,
        birth_date_precision=person.birth_date_precision,
        sex=person.sex,
        birth_place_state_code=_birth_state_code(birth_place),
        birth_country=person.birth_country or None,
    )


def person_data_curp_flags(data: PersonData) -> dict[str, list[str]]:
    """For each CURP in (clean) ``data``, the fields it disagrees with — what the services will store in
    ``Document.flags``. Forms and the API use it to warn before saving. CURPs that agree are left out."""
    place = AdminArea.objects.filter(pk=data.birth_place_id).first() if data.birth_place_id else None
    out: dict[str, list[str]] = {}
    for doc in data.documents:
        if doc.kind == DocumentKind.CURP:
            flags = _curp_flags(data, doc.number, place)
            if flags:
                out[doc.number] = flags
    return out


def document_values(person: Person, doc: DocumentData) -> dict[str, Any]:
    return {
        "kind": doc.kind,
        "number": doc.number,
        "number_normalized": document_token(doc.number),
        "issuing_country": doc.issuing_country,
        "issued_on": doc.issued_on,
        "expires_on": doc.expires_on,
        "flags": _curp_flags(person, doc.number, person.birth_place) if doc.kind == DocumentKind.CURP else [],
    }


def refresh_curp_flags(person: Person) -> None:
    """Recompute the flags of the person's CURPs after the person's own fields changed."""
    for doc in Document.objects.filter(person=person, kind=DocumentKind.CURP):
        flags = _curp_flags(person, doc.number, person.birth_place)
        if flags != doc.flags:
            doc.flags = flags
            doc.save(update_fields=["flags"])


def store_children(person: Person, data: PersonData) -> None:
    """Write the (clean) child lists of ``data`` for ``person``."""
    _sync_rows(Nationality, person, [{"country": c} for c in data.nationalities], ("country",))
    _sync_rows(Language, person, [{"code": c} for c in data.languages], ("code",))
    _sync_rows(
        Alias,
        person,
        [{"given_names": a.given_names, "surnames": a.surnames} for a in data.aliases],
        ("given_names", "surnames"),
    )
    _sync_rows(
        Document,
        person,
        [document_values(person, d) for d in data.documents],
        ("kind", "number_normalized"),
    )
    _sync_rows(
        Phone,
        person,
        [
            {"e164": p.number, "kind": p.kind, "whatsapp": p.whatsapp, "is_primary": p.is_primary}
            for p in data.phones
        ],
        ("e164",),
    )
    _sync_rows(
        Address,
        person,
        [
            {
                "country": a.country,
                "admin_area_id": a.admin_area_id,
                "text": a.text,
                "lat": a.lat,
                "lon": a.lon,
                "is_current": a.is_current,
            }
            for a in data.addresses
        ],
        ("country", "admin_area_id", "text"),
    )
    _sync_rows(
        VulnerabilityFlag,
        person,
        [{"flag": v.flag, "note": v.note} for v in data.vulnerabilities],
        ("flag",),
    )


def apply_fields(person: Person, data: PersonData) -> None:
    person.given_names = data.given_names
    person.first_surname = data.first_surname
    person.second_surname = data.second_surname
    person.sex = data.sex
    person.birth_date = data.birth_date
    person.birth_date_precision = data.birth_date_precision
    person.birth_country = data.birth_country
    person.birth_place_id = data.birth_place_id
    person.email = data.email
    person.preferred_language = data.preferred_language


def person_data_from(person: Person) -> PersonData:
    """The current data of ``person`` as a :class:`PersonData` (e.g. to start a partial update from)."""
    return PersonData(
        given_names=person.given_names,
        first_surname=person.first_surname,
        second_surname=person.second_surname,
        sex=person.sex,
        birth_date=person.birth_date,
        birth_date_precision=person.birth_date_precision,
        birth_country=person.birth_country,
        birth_place_id=person.birth_place_id,
        email=person.email,
        preferred_language=person.preferred_language,
        nationalities=list(Nationality.objects.filter(person=person).values_list("country", flat=True)),
        languages=list(Language.objects.filter(person=person).values_list("code", flat=True)),
        aliases=[
            AliasData(a.given_names, a.surnames) for a in Alias.objects.filter(person=person).order_by("pk")
        ],
        documents=[
            DocumentData(d.kind, d.number, d.issuing_country, d.issued_on, d.expires_on)
            for d in Document.objects.filter(person=person).order_by("pk")
        ],
        phones=[
            PhoneData(p.e164, p.kind, p.whatsapp, p.is_primary)
            for p in Phone.objects.filter(person=person).order_by("-is_primary", "pk")
        ],
        addresses=[
            AddressData(a.country, a.admin_area_id, a.text, a.lat, a.lon, a.is_current)
            for a in Address.objects.filter(person=person).order_by("-is_current", "pk")
        ],
        vulnerabilities=[
            VulnerabilityData(v.flag, v.note)
            for v in VulnerabilityFlag.objects.filter(person=person).order_by("pk")
        ],
    )
