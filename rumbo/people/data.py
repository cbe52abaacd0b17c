"""Plain data a caller hands to the people services: what a person is, independent of forms or serializers.

Forms and API serializers build these; :func:`rumbo.people.services.person_data_clean` validates and
normalises them; the services store them. Child lists are complete ("replace style"): what is not in the
list is removed on update.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from rumbo.people.models import DatePrecision, Phone, Sex


@dataclass
class AliasData:
    """Another name the person is known by."""

    given_names: str = ""
    surnames: str = ""


@dataclass
class DocumentData:
    """An identity document; ``number`` in any spelling, normalised by the validators."""

    kind: str
    number: str
    issuing_country: str = ""
    issued_on: datetime.date | None = None
    expires_on: datetime.date | None = None


@dataclass
class PhoneData:
    """A phone number as typed; stored in E.164. Numbers without "+" are read as numbers of ``region``."""

    number: str
    kind: str = Phone.Kind.MOBILE
    whatsapp: bool = False
    is_primary: bool = False
    region: str = "MX"


@dataclass
class AddressData:
    """Where the person lives or lived: an admin area (state or municipality), text, coordinates."""

    country: str = "MX"
    admin_area_id: int | None = None
    text: str = ""
    lat: float | None = None
    lon: float | None = None
    is_current: bool = True


@dataclass
class VulnerabilityData:
    """One vulnerability flag (a ``Vulnerability`` value) with an optional note."""

    flag: str
    note: str = ""


@dataclass
class PersonData:
    """Everything the registry keeps about a person, except consent and household (their own services)."""

    given_names: str
    first_surname: str
    second_surname: str = ""
    sex: str = Sex.UNKNOWN
    birth_date: datetime.date | None = None
    birth_date_precision: str = DatePrecision.EXACT
    birth_country: str = ""
    birth_place_id: int | None = None
    email: str = ""
    preferred_language: str = ""
    nationalities: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    aliases: list[AliasData] = field(default_factory=list)
    documents: list[DocumentData] = field(default_factory=list)
    phones: list[PhoneData] = field(default_factory=list)
    addresses: list[AddressData] = field(default_factory=list)
    vulnerabilities: list[VulnerabilityData] = field(default_factory=list)
