"""Synthetic persons for the demo and for benchmarks, generated in bulk.

Realism: Spanish given names and surnames with illustrative frequencies (``names.py``), compound given names,
second surnames sometimes missing, birth dates (some approximate), birth places that are real INEGI / Honduran
municipalities, valid CURPs and Honduran DNIs, phones valid for ``phonenumbers`` with real area codes,
Indigenous languages where they are spoken, addresses near the municipal seat, and search tokens identical to
what ``rumbo.people.search.person_tokens`` produces.

Speed: everything that can be precomputed is — per name its folded tokens and CURP letters, per birth date its
strings and check-digit contribution — and random picks are lookups in 65,536-slot tables (``Sampler``), so a
person costs a few dozen dictionary and list operations. Rows are written in batches (one transaction each) by
the fastest writer of the database (``writers.py``). Memory is bounded by the batch size.

``rich=True`` (the 3,000-person demo) adds what a browsing user should see: aliases, more documents, e-mail,
vulnerability flags, several consent records, households with parents and children, and it builds the search
tokens with ``person_tokens`` itself. It is slower and meant for thousands, not millions.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.utils import timezone

from rumbo.demo import names as N
from rumbo.demo.identity import (
    DIFFERENTIATORS_1900,
    DIFFERENTIATORS_2000,
    INCONVENIENT,
    VALUE,
    check_digit,
    first_surname_part,
    given_name_part,
    second_surname_part,
    weighted_sum,
)
from rumbo.demo.writers import Row, Writer, bulk_load
from rumbo.geo.loader import DATA_DIR
from rumbo.geo.models import AdminArea
from rumbo.lib.text import tokens as fold_tokens
from rumbo.offices.models import Office
from rumbo.people.models import (
    Address,
    Alias,
    ConsentRecord,
    Document,
    HouseholdRelation,
    Language,
    Nationality,
    Person,
    Phone,
    SearchToken,
    VulnerabilityFlag,
)
from rumbo.people.search import MAX_TOKEN, document_token, person_tokens

T = TypeVar("T")
BITS = 16
SLOTS = 1 << BITS

# Share of persons of each demo office in generated data.
OFFICE_SHARES: dict[str, float] = {
    "ofam-mich": 0.25,
    "ofam-jal": 0.20,
    "ofam-oax": 0.14,
    "ofam-gro": 0.12,
    "ofam-chis": 0.10,
    "hn-consulado-tapachula": 0.08,
    "hn-consulado-cdmx": 0.05,
    "mx-consulado-los-angeles": 0.06,
}
# States with the most emigrants to the US (Mexicans registered at the consulate in Los Angeles).
EMIGRATION_STATES = ("16", "14", "11", "32", "12", "20", "21")
CONSENT_VERSION = "demo-2026-01"
CONSENT_TEXT_SHA256 = hashlib.sha256(b"Rumbo demo consent text, version demo-2026-01").hexdigest()


class Sampler(Generic[T]):
    """Weighted random choice by table lookup: ``table[getrandbits(16)]``. Every item with a positive weight
    gets at least one of the 65,536 slots, so the rarest names still occur. (The table need not be shuffled:
    the random index already makes every slot equally likely.)"""

    __slots__ = ("items", "table")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items:
            raise ValueError("empty sampler")
        total = float(sum(weights))
        counts = [max(1, round(w / total * SLOTS)) if w > 0 else 0 for w in weights]
        table: list[T] = []
        for item, count in zip(items, counts, strict=True):
            table.extend([item] * count)
        while len(table) < SLOTS:  # rounding: pad with the commonest item
            table.append(items[max(range(len(items)), key=lambda i: weights[i])])
        self.items = list(items)
        self.table = table[:SLOTS]


@dataclass(frozen=True, slots=True)
class Name:
    """A given name or surname with its folded search tokens and its CURP letters."""

    text: str
    tokens: tuple[str, ...]
    initial: str  # given name: 1 letter; surname: first letter + inner vowel (as first surname)
    second_initial: str  # surname used as second surname: 1 letter
    consonant: str
    # Check-digit contributions of this name's CURP letters: as given name (positions 4 and 16) or as
    # first surname (1, 2 and 14); ``sum_second`` as second surname (3 and 15).
    sum_first: int
    sum_second: int


NO_NAME = Name("", (), "X", "X", "X", 0, weighted_sum("X", 2) + weighted_sum("X", 14))


def _given(text: str) -> Name:
    part = given_name_part(text)
    weight = weighted_sum(part.initial, 3) + weighted_sum(part.consonant, 15)
    return Name(
        text, tuple(t[:MAX_TOKEN] for t in fold_tokens(text)), part.initial, "", part.consonant, weight, 0
    )


def _surname(text: str) -> Name:
    first, second = first_surname_part(text), second_surname_part(text)
    return Name(
        text,
        tuple(t[:MAX_TOKEN] for t in fold_tokens(text)),
        first.initial,
        second.initial,
        first.consonant,
        weighted_sum(first.initial, 0) + weighted_sum(first.consonant, 13),
        weighted_sum(second.initial, 2) + weighted_sum(second.consonant, 14),
    )


def _name_sampler(pairs: list[tuple[str, int]], make: Callable[[str], Name]) -> Sampler[Name]:
    return Sampler([make(n) for n, _ in pairs], [w for _, w in pairs])


@dataclass(frozen=True, slots=True)
class Day:
    """A birth date with everything the generator needs from it precomputed."""

    iso: str
    iso_month: str  # the date with an unknown day (day 1)
    iso_year: str  # the date with an unknown month and day (1 January)
    yymmdd: str
    year: int
    age: int
    curp_sum: int  # check-digit contribution of yymmdd at CURP position 5


def _age_weight(age: int) -> float:
    # ~14 % minors (as among repatriated persons), adults peaking around 30.
    if age < 18:
        return 0.14 / 18
    if age > 80:
        return 0.0
    return 0.86 * max(0.02, 1 - abs(age - 31) / 38) / 40


def day_sampler(today: date) -> Sampler[Day]:
    days: list[Day] = []
    weights: list[float] = []
    start = date(today.year - 80, 1, 1)
    for n in range((today - start).days):
        d = start + timedelta(days=n)
        age = today.year - d.year - ((today.month, today.day) < (d.month, d.day))
        yymmdd = f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"
        days.append(
            Day(
                d.isoformat(),
                f"{d.year:04d}-{d.month:02d}-01",
                f"{d.year:04d}-01-01",
                yymmdd,
                d.year,
                age,
                weighted_sum(yymmdd, 4),
            )
        )
        weights.append(_age_weight(age))
    return Sampler(days, weights)


@dataclass(frozen=True, slots=True)
class Place:
    """A municipality (or US state) where someone was born or lives."""

    area_id: int | None
    country: str
    state: str  # INEGI state code (MX), department code (HN/GT), FIPS (US)
    code: str  # full area code
    curp_state: str  # two-letter CURP code ("NE" outside Mexico)
    lat: float | None
    lon: float | None
    area_codes: tuple[str, ...] = ()
    # Share of people born here who speak an Indigenous language, and which ones.
    language_share: float = 0.0
    languages: tuple[str, ...] = ()

    @classmethod
    def make(cls, *args: Any, **kwargs: Any) -> Place:
        place = cls(*args, **kwargs)
        share = 0.0
        spoken: tuple[str, ...] = ()
        if place.country == "MX" and place.state in N.INDIGENOUS_BY_STATE:
            share, spoken = (
                N.INDIGENOUS_BY_STATE[place.state][0],
                tuple(N.INDIGENOUS_BY_STATE[place.state][1]),
            )
        elif place.country == "HN" and place.state in N.GARIFUNA_DEPARTMENTS:
            share, spoken = 0.3, ("cab",)
        return dataclasses.replace(place, language_share=share, languages=spoken)


@dataclass(frozen=True, slots=True)
class Origin:
    """Who a person is: nationality, where born, which name lists."""

    key: str
    nationalities: tuple[str, ...]
    birth_country: str
    births: Sampler[Place]
    male: Sampler[Name]
    female: Sampler[Name]
    surnames: Sampler[Name]
    no_second_surname: float  # share without a second surname
    has_curp: bool
    has_dni: bool


@dataclass
class OfficeProfile:
    """Who an office serves and where they live."""

    office_id: int
    code: str
    origins: Sampler[Origin]
    homes: Sampler[Place]
    creator_id: int | None = None
    home_country: str = "MX"


@dataclass
class Batch:
    """Rows of one batch, per model; written in one transaction."""

    persons: list[Row] = field(default_factory=list)
    nationalities: list[Row] = field(default_factory=list)
    documents: list[Row] = field(default_factory=list)
    phones: list[Row] = field(default_factory=list)
    addresses: list[Row] = field(default_factory=list)
    languages: list[Row] = field(default_factory=list)
    tokens: list[Row] = field(default_factory=list)
    consents: list[Row] = field(default_factory=list)
    vulnerabilities: list[Row] = field(default_factory=list)
    aliases: list[Row] = field(default_factory=list)
    relations: list[Row] = field(default_factory=list)


PERSON_COLUMNS = (
    "id",
    "office_id",
    "given_names",
    "first_surname",
    "second_surname",
    "sex",
    "birth_date",
    "birth_date_precision",
    "birth_country",
    "birth_place_id",
    "email",
    "preferred_language",
    "created_at",
    "updated_at",
    "created_by_id",
    "anonymised_at",
    "merged_into_id",
)
NATIONALITY_COLUMNS = ("person_id", "country")
DOCUMENT_COLUMNS = (
    "person_id",
    "kind",
    "number",
    "number_normalized",
    "issuing_country",
    "issued_on",
    "expires_on",
    "flags",
    "created_at",
)
PHONE_COLUMNS = ("person_id", "e164", "kind", "whatsapp", "is_primary")
ADDRESS_COLUMNS = ("person_id", "country", "admin_area_id", "text", "lat", "lon", "is_current", "recorded_at")
LANGUAGE_COLUMNS = ("person_id", "code")
TOKEN_COLUMNS = ("token", "person_id", "office_id", "kind")
CONSENT_COLUMNS = (
    "person_id",
    "purpose",
    "status",
    "method",
    "given_by",
    "text_version",
    "text_sha256",
    "recorded_at",
    "recorded_by_id",
)
VULNERABILITY_COLUMNS = ("person_id", "flag", "note", "recorded_at")
ALIAS_COLUMNS = ("person_id", "given_names", "surnames")
RELATION_COLUMNS = ("person_id", "relative_id", "relation")

# (batch attribute, model, columns) in insertion order: persons first, for the foreign keys.
TABLES: list[tuple[str, type[Any], tuple[str, ...]]] = [
    ("persons", Person, PERSON_COLUMNS),
    ("nationalities", Nationality, NATIONALITY_COLUMNS),
    ("documents", Document, DOCUMENT_COLUMNS),
    ("phones", Phone, PHONE_COLUMNS),
    ("addresses", Address, ADDRESS_COLUMNS),
    ("languages", Language, LANGUAGE_COLUMNS),
    ("aliases", Alias, ALIAS_COLUMNS),
    ("vulnerabilities", VulnerabilityFlag, VULNERABILITY_COLUMNS),
    ("consents", ConsentRecord, CONSENT_COLUMNS),
    ("relations", HouseholdRelation, RELATION_COLUMNS),
    ("tokens", SearchToken, TOKEN_COLUMNS),
]


def _read_states() -> dict[str, str]:
    with (DATA_DIR / "mx_states.csv").open(encoding="utf-8-sig", newline="") as fh:
        return {r["cve_ent"]: r["curp_code"] for r in csv.DictReader(fh)}


class Catalog:
    """Places and name pools, loaded once per run from the admin areas in the database."""

    def __init__(self) -> None:
        curp_codes = _read_states()
        mx = list(
            AdminArea.objects.filter(country="MX", level=2)
            .select_related("parent")
            .only("id", "code", "lat", "lon", "population", "parent__code")
        )
        self.mx_munis: list[tuple[Place, int]] = []
        for a in mx:
            state = a.parent.code if a.parent else a.code[:2]
            place = Place.make(
                a.id,
                "MX",
                state,
                a.code,
                curp_codes[state],
                a.lat,
                a.lon,
                tuple(N.MX_AREA_CODES.get(state, N.MX_DEFAULT_AREA_CODES)),
            )
            self.mx_munis.append((place, a.population or 1000))
        hn = AdminArea.objects.filter(country="HN", level=2).select_related("parent")
        self.hn_munis: list[tuple[Place, int]] = [
            (
                Place.make(a.id, "HN", a.parent.code if a.parent else a.code[:2], a.code, "NE", None, None),
                # Department capitals (municipality 01) are larger.
                6 if a.code.endswith("01") else 1,
            )
            for a in hn
        ]
        gt = AdminArea.objects.filter(country="GT", level=2).select_related("parent")
        self.gt_munis: list[tuple[Place, int]] = [
            (Place(a.id, "GT", a.code[:2], a.code, "NE", a.lat, a.lon), 6 if a.code.endswith("01") else 1)
            for a in gt
        ]
        us = {a.code: a for a in AdminArea.objects.filter(country="US", level=1, code__in=["06", "48", "17"])}
        self.us_births = [
            (Place(us[c].id if c in us else None, "US", c, c, "NE", None, None), w)
            for c, w in (("06", 5), ("48", 3), ("17", 2))
        ]
        california = us.get("06")
        # Homes in California: around Los Angeles (the consulate's district centre).
        self.us_home = Place(
            california.id if california else None,
            "US",
            "06",
            "06",
            "NE",
            34.05,
            -118.25,
            tuple(N.US_AREA_CODES),
        )
        self.mx_male = _name_sampler(N.MX_MALE_GIVEN, _given)
        self.mx_female = _name_sampler(N.MX_FEMALE_GIVEN, _given)
        self.mx_surnames = _name_sampler(N.MX_SURNAMES, _surname)
        self.hn_male = _name_sampler(N.HN_MALE_GIVEN, _given)
        self.hn_female = _name_sampler(N.HN_FEMALE_GIVEN, _given)
        self.hn_surnames = _name_sampler(N.HN_SURNAMES, _surname)
        self._origins: dict[str, Origin] = {}

    def places(self, pairs: Iterable[tuple[Place, int]]) -> Sampler[Place]:
        pairs = list(pairs)
        return Sampler([p for p, _ in pairs], [w for _, w in pairs])

    def origin(self, key: str) -> Origin:
        """``mx:<state>`` born in a state, ``mx`` anywhere in Mexico, ``mx-emigrant``, ``mx-us`` (born in
        the US to Mexican parents), ``hn``, ``gt``."""
        if key in self._origins:
            return self._origins[key]
        mx_names = {"male": self.mx_male, "female": self.mx_female, "surnames": self.mx_surnames}
        hn_names = {"male": self.hn_male, "female": self.hn_female, "surnames": self.hn_surnames}
        if key.startswith("mx:"):
            state = key[3:]
            births = self.places(p for p in self.mx_munis if p[0].state == state)
            origin = Origin(
                key, ("MX",), "MX", births, **mx_names, no_second_surname=0.02, has_curp=True, has_dni=False
            )
        elif key == "mx":
            origin = Origin(
                key,
                ("MX",),
                "MX",
                self.places(self.mx_munis),
                **mx_names,
                no_second_surname=0.02,
                has_curp=True,
                has_dni=False,
            )
        elif key == "mx-emigrant":
            births = self.places(
                (p, w * (4 if p.state in EMIGRATION_STATES else 1)) for p, w in self.mx_munis
            )
            origin = Origin(
                key, ("MX",), "MX", births, **mx_names, no_second_surname=0.02, has_curp=True, has_dni=False
            )
        elif key == "mx-us":
            origin = Origin(
                key,
                ("MX", "US"),
                "US",
                self.places(self.us_births),
                **mx_names,
                no_second_surname=0.25,
                has_curp=True,
                has_dni=False,
            )
        elif key == "hn":
            origin = Origin(
                key,
                ("HN",),
                "HN",
                self.places(self.hn_munis),
                **hn_names,
                no_second_surname=0.08,
                has_curp=False,
                has_dni=True,
            )
        elif key == "gt":
            origin = Origin(
                key,
                ("GT",),
                "GT",
                self.places(self.gt_munis),
                **hn_names,
                no_second_surname=0.08,
                has_curp=False,
                has_dni=False,
            )
        else:
            raise ValueError(key)
        self._origins[key] = origin
        return origin

    def profiles(
        self, offices: dict[str, Office], creators: dict[str, int] | None = None
    ) -> list[OfficeProfile]:
        """Profiles of the demo offices present in ``offices`` (keyed by office code)."""
        creators = creators or {}
        out: list[OfficeProfile] = []
        for code in OFFICE_SHARES:
            office = offices.get(code)
            if office is None:
                continue
            if office.kind == Office.Kind.OFAM and office.location is not None:
                state = office.location.code
                foreign = 0.16 if state == "07" else 0.04
                mix = [
                    (f"mx:{state}", 0.74 - foreign),
                    ("mx", 0.24),
                    ("mx-us", 0.02),
                    ("hn", foreign * 0.7),
                    ("gt", foreign * 0.3),
                ]
                homes = self.places(p for p in self.mx_munis if p[0].state == state)
                home_country = "MX"
            elif office.represents_country == "HN":
                mix = [("hn", 0.97), ("gt", 0.03)]
                served = set(office.jurisdiction.values_list("id", flat=True))
                location_id = office.location_id
                homes = self.places(
                    (p, w * (10 if p.area_id == location_id else 1))
                    for p, w in self.mx_munis
                    if p.area_id in served
                )
                home_country = "MX"
            else:  # the Mexican consulate in Los Angeles
                mix = [("mx-emigrant", 0.9), ("mx", 0.1)]
                homes = Sampler([self.us_home], [1])
                home_country = "US"
            origins = Sampler([self.origin(k) for k, _ in mix], [w for _, w in mix])
            out.append(OfficeProfile(office.id, code, origins, homes, creators.get(code), home_country))
        return out


class _CurpSums:
    """Check-digit contributions of the sex letter + state code (cached) and of the differentiator."""

    def __init__(self) -> None:
        self.middle: dict[str, int] = {}
        self.differentiator = {ch: weighted_sum(ch, 16) for ch in DIFFERENTIATORS_1900 + DIFFERENTIATORS_2000}


@dataclass
class Stats:
    persons: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent generating, per table, committing
    seconds: float = 0.0

    def add(self, what: str, since: float) -> None:
        self.timings[what] = self.timings.get(what, 0.0) + time.perf_counter() - since

    @property
    def rate(self) -> float:
        return self.persons / self.seconds if self.seconds else 0.0


class PersonGenerator:
    """Generates persons for the given office profiles into ``Batch`` objects."""

    def __init__(
        self,
        profiles: list[OfficeProfile],
        *,
        seed: int,
        rich: bool = False,
        today: date | None = None,
        writer: Writer,
    ) -> None:
        if not profiles:
            raise ValueError("no office to put persons in")
        self.rng = random.Random(seed)
        self.rich = rich
        self.writer = writer
        self.today = today or timezone.localdate()
        self.days = day_sampler(self.today)
        shares = [OFFICE_SHARES[p.code] for p in profiles]
        self.offices = Sampler(profiles, shares)
        self.sums = _CurpSums()
        self.empty_flags = writer.json([])
        self.curps: set[str] = set()  # rich mode only: keep CURPs unique
        self.serial = 0
        self._adult_days: list[Day] | None = None
        self._minor_days: list[Day] = []

    # --- one batch ---------------------------------------------------------------------------------
    def batch(self, ids: list[int], registered: tuple[datetime, datetime]) -> Batch:
        """Rows for persons with primary keys ``ids`` (households in rich mode use several ids at once).
        Registration times are spread evenly between ``registered[0]`` and ``registered[1]``."""
        out = Batch()
        start, end = registered
        steps = 256
        span = (end - start) / steps
        times = [self.writer.datetime(start + span * i) for i in range(steps)]
        count = len(ids)
        bits = self.rng.getrandbits
        table = self.offices.table
        i = 0
        while i < count:
            profile = table[bits(BITS)]
            stamp = times[i * steps // count]
            if self.rich and count - i >= 5 and self.rng.random() < 0.05:
                i += self._household(out, profile, ids[i : i + 5], stamp)
                continue
            self.person(out, profile, ids[i], stamp)
            i += 1
        return out

    def person(
        self,
        out: Batch,
        profile: OfficeProfile,
        pid: int,
        stamp: Any,
        *,
        origin: Origin | None = None,
        sex: str | None = None,
        first: Name | None = None,
        second: Name | None = None,
        day: Day | None = None,
        birth: Place | None = None,
        home: Place | None = None,
        home_text: str | None = None,
    ) -> tuple[Origin, str, Name, Name, Day, Place, str]:
        """Append the rows of one person; returns what a household needs to derive relatives."""
        rnd = self.rng.random
        bits = self.rng.getrandbits
        if origin is None:
            origin = profile.origins.table[bits(BITS)]
        if sex is None:
            sex = "F" if rnd() < 0.5 else "M"
        given = (origin.female if sex == "F" else origin.male).table[bits(BITS)]
        if first is None:
            first = origin.surnames.table[bits(BITS)]
        if second is None:
            second = NO_NAME if rnd() < origin.no_second_surname else origin.surnames.table[bits(BITS)]
        if day is None:
            day = self.days.table[bits(BITS)]
        r = rnd()
        if r < 0.05:
            precision, birth_date = "year", day.iso_year
        elif r < 0.10:
            precision, birth_date = "month", day.iso_month
        else:
            precision, birth_date = "day", day.iso
        if birth is None:
            birth = origin.births.table[bits(BITS)]
        if home is None:
            home = profile.homes.table[bits(BITS)]
        office_id = profile.office_id

        # Languages: Indigenous languages by birth state or department.
        language = "spa"
        other_languages: tuple[str, ...] = ()
        if birth.language_share and rnd() < birth.language_share:
            spoken = birth.languages
            other_languages = (spoken[bits(8) % len(spoken)],)
            if rnd() < 0.3:
                language = other_languages[0]

        fast = not self.rich  # rich mode builds the tokens with person_tokens() at the end instead
        tokens = out.tokens

        # Identity document.
        document: str | None = None
        if origin.has_curp and precision == "day" and rnd() < 0.9:
            document = self._curp(given, first, second, day, sex, birth.curp_state)
            out.documents.append(
                (pid, "curp", document, document.lower(), "MX", None, None, self.empty_flags, stamp)
            )
            if fast:
                tokens.append((document.lower(), pid, office_id, "d"))
        elif origin.has_dni and day.age >= 18 and rnd() < 0.85:
            serial = bits(17) % 100000
            document = f"{birth.code}-{day.year:04d}-{serial:05d}"
            normalized = f"{birth.code}{day.year:04d}{serial:05d}"
            out.documents.append(
                (pid, "hn_dni", document, normalized, "HN", None, None, self.empty_flags, stamp)
            )
            if fast:
                tokens.append((normalized, pid, office_id, "d"))

        # Phone: local numbers where the person lives; some Hondurans keep their Honduran number.
        phone: str | None = None
        if rnd() < 0.92:
            r = bits(28)
            if origin.key == "hn" and rnd() < 0.4:
                country_code = "504"
                national = "389"[r % 3] + _D3[(r >> 2) % 1000] + _D4[(r >> 12) % 10000]
            else:
                codes = home.area_codes
                area = codes[bits(8) % len(codes)]
                if home.country == "US":  # NANP: the exchange cannot start with 0 or 1, nor be N11
                    national = area + _US_EXCHANGES[r % len(_US_EXCHANGES)] + _D4[(r >> 10) % 10000]
                elif len(area) == 3:
                    national = area + _D3[r % 1000] + _D4[(r >> 10) % 10000]
                else:
                    national = area + _D4[r % 10000] + _D4[(r >> 14) % 10000]
                country_code = "1" if home.country == "US" else "52"
            phone = "+" + country_code + national
            out.phones.append((pid, phone, "mobile", rnd() < 0.7, True))
            if fast:
                tokens.append((country_code + national, pid, office_id, "p"))
                tokens.append((national, pid, office_id, "p"))

        # Address near the municipal seat (or in Los Angeles).
        if home_text is None:
            home_text = _US_ADDRESSES[bits(10)] if home.country == "US" else _MX_ADDRESSES[bits(12)]
        if home.lat is not None and home.lon is not None:
            lat: float | None = home.lat + (rnd() - 0.5) * 0.04
            lon: float | None = home.lon + (rnd() - 0.5) * 0.04
        else:
            lat = lon = None
        out.addresses.append((pid, home.country, home.area_id, home_text, lat, lon, True, stamp))

        for country in origin.nationalities:
            out.nationalities.append((pid, country))
        for code in other_languages:
            out.languages.append((pid, code))

        email = ""
        if fast:
            name_tokens = given.tokens + first.tokens + second.tokens
            if len(set(name_tokens)) != len(name_tokens):
                name_tokens = tuple(dict.fromkeys(name_tokens))
            for tok in name_tokens:
                tokens.append((tok, pid, office_id, "n"))
        else:
            extra = self._rich_extras(
                out, pid, origin, sex, given, first, day, stamp, other_languages, profile
            )
            email = extra.email
            tokens.extend(
                (t, pid, office_id, k)
                for t, k in person_tokens(
                    given_names=given.text,
                    first_surname=first.text,
                    second_surname=second.text,
                    aliases=extra.aliases,
                    documents=[d for d in (document, *extra.documents) if d],
                    phones=[phone] if phone else [],
                )
            )

        out.persons.append(
            (
                pid,
                office_id,
                given.text,
                first.text,
                second.text,
                sex,
                birth_date,
                precision,
                origin.birth_country,
                birth.area_id,
                email,
                language,
                stamp,
                stamp,
                profile.creator_id,
                None,
                None,
            )
        )
        return origin, sex, first, second, day, home, home_text

    def _curp(self, given: Name, first: Name, second: Name, day: Day, sex: str, state: str) -> str:
        head = first.initial + second.second_initial + given.initial
        total = first.sum_first + second.sum_second + given.sum_first + day.curp_sum
        if head in INCONVENIENT:
            total += (VALUE["X"] - VALUE[head[1]]) * 17  # position 2 weighs 17
            head = head[0] + "X" + head[2:]
        middle = ("H" if sex == "M" else "M") + state
        consonants = first.consonant + second.consonant + given.consonant
        diffs = DIFFERENTIATORS_1900 if day.year < 2000 else DIFFERENTIATORS_2000
        diff = diffs[self.rng.getrandbits(8) % len(diffs)]
        sums = self.sums
        m = sums.middle.get(middle)
        if m is None:
            m = sums.middle[middle] = weighted_sum(middle, 10)
        total += m + sums.differentiator[diff]
        curp = f"{head}{day.yymmdd}{middle}{consonants}{diff}{(10 - total % 10) % 10}"
        if self.rich:
            if curp in self.curps:  # a homonym born the same day in the same state: next differentiator
                for alt in diffs:
                    candidate = curp[:16] + alt
                    candidate += check_digit(candidate)
                    if candidate not in self.curps:
                        curp = candidate
                        break
            self.curps.add(curp)
        return curp

    # --- rich demo extras --------------------------------------------------------------------------
    def _rich_extras(
        self,
        out: Batch,
        pid: int,
        origin: Origin,
        sex: str,
        given: Name,
        first: Name,
        day: Day,
        stamp: Any,
        other_languages: tuple[str, ...],
        profile: OfficeProfile,
    ) -> _Extras:
        rnd = self.rng.random
        bits = self.rng.getrandbits
        extra = _Extras()
        self.serial += 1
        documents: list[tuple[str, str, str, str | None, str | None]] = []
        # Returnees carry INM's repatriation certificate; Mexicans in the US a matrícula consular; some a
        # passport. Number formats are illustrative.
        if "MX" in origin.nationalities and origin.key != "mx-emigrant" and day.age >= 15 and rnd() < 0.2:
            documents.append(
                ("inm_constancia", f"INM-TIJ-{2020 + bits(3) % 6}-{self.serial:06d}", "MX", None, None)
            )
        if origin.key == "mx-emigrant" and rnd() < 0.6:
            documents.append(("matricula", f"{bits(30) % 10**9:09d}", "MX", None, None))
        if day.age >= 18 and rnd() < 0.1:
            country = origin.nationalities[0]
            issued = self.today - timedelta(days=30 + bits(11))
            number = f"{'G' if country == 'MX' else 'E'}{bits(27) % 10**8:08d}"
            documents.append(
                (
                    "passport",
                    number,
                    country,
                    issued.isoformat(),
                    (issued + timedelta(days=6 * 365)).isoformat(),
                )
            )
        for kind, number, country, issued_on, expires_on in documents:
            normalized = document_token(number)
            out.documents.append(
                (pid, kind, number, normalized, country, issued_on, expires_on, self.empty_flags, stamp)
            )
            extra.documents.append(number)
        if rnd() < 0.03:
            # A name from US paperwork: the short form of the given name, one surname.
            last_given = given.text.split()[-1]
            extra.aliases.append((_SHORT_NAMES.get(last_given, given.text.split()[0]), first.text))
        for alias_given, alias_surnames in extra.aliases:
            out.aliases.append((pid, alias_given, alias_surnames))
        out.languages.append((pid, "spa"))
        if origin.key in ("mx", "mx-us", "mx-emigrant") and rnd() < 0.3:
            out.languages.append((pid, "eng"))
        # Vulnerabilities.
        flags: list[str] = []
        if day.age < 18:
            flags.append("child")
            if rnd() < 0.08:
                flags.append("unaccompanied_child")
        elif day.age >= 60:
            flags.append("elderly")
        if other_languages:
            flags.append("indigenous")
        if sex == "F" and 18 <= day.age <= 40 and rnd() < 0.04:
            flags.append("pregnant")
        if origin.key in ("hn", "gt") and rnd() < 0.12:
            flags.append("asylum")
        for flag, share in (("disability", 0.02), ("medical", 0.02), ("violence", 0.01)):
            if rnd() < share:
                flags.append(flag)
        for flag in flags:
            out.vulnerabilities.append((pid, flag, "", stamp))
        # Consent: always to the registry; often to messages and emergency contact; a few withdrawals.
        method = "written" if rnd() < 0.6 else "verbal"
        by = profile.creator_id
        out.consents.append(
            (pid, "registry", "given", method, "", CONSENT_VERSION, CONSENT_TEXT_SHA256, stamp, by)
        )
        for purpose, share in (("messages", 0.6), ("emergency", 0.5), ("referral", 0.4)):
            if rnd() < share:
                out.consents.append(
                    (pid, purpose, "given", method, "", CONSENT_VERSION, CONSENT_TEXT_SHA256, stamp, by)
                )
                if rnd() < 0.05:
                    out.consents.append(
                        (
                            pid,
                            purpose,
                            "withdrawn",
                            "verbal",
                            "",
                            CONSENT_VERSION,
                            CONSENT_TEXT_SHA256,
                            stamp,
                            by,
                        )
                    )
        if rnd() < 0.15:
            extra.email = f"{given.tokens[0]}.{first.tokens[-1]}{bits(7)}@example.com"
        return extra

    def _household(self, out: Batch, profile: OfficeProfile, ids: list[int], stamp: Any) -> int:
        """A couple and one to three children sharing an address; returns how many ids were used."""
        bits = self.rng.getrandbits
        if self._adult_days is None:
            self._adult_days = [d for d in self.days.items if 20 <= d.age <= 55]
            self._minor_days = [d for d in self.days.items if d.age < 18]
        adults, minors = self._adult_days, self._minor_days
        father_day = adults[bits(20) % len(adults)]
        origin, _, f_first, _, _, home, home_text = self.person(
            out, profile, ids[0], stamp, sex="M", day=father_day
        )
        # Near the southern border many couples are Mexican–Honduran.
        mother_origin = origin
        honduran = next((o for o in profile.origins.items if o.key == "hn"), None)
        if (
            honduran is not None
            and profile.code in ("ofam-chis", "hn-consulado-tapachula")
            and self.rng.random() < 0.5
        ):
            mother_origin = honduran
        mother_day = adults[bits(20) % len(adults)]
        _, _, m_first, _, _, _, _ = self.person(
            out,
            profile,
            ids[1],
            stamp,
            origin=mother_origin,
            sex="F",
            day=mother_day,
            home=home,
            home_text=home_text,
        )
        youngest_parent = max(father_day.year, mother_day.year)
        child_days = [d for d in minors if d.year >= youngest_parent + 18]
        # Children born where the family lives are Mexican when that is Mexico.
        child_origin = origin
        birth: Place | None = None
        if home.country == "MX":
            birth = home
            child_origin = next((o for o in profile.origins.items if o.key.startswith("mx")), origin)
        members = [ids[0], ids[1]]
        for n in range(1 + bits(8) % 3):
            if not child_days:
                break
            self.person(
                out,
                profile,
                ids[2 + n],
                stamp,
                origin=child_origin,
                first=f_first,
                second=m_first,
                day=child_days[bits(20) % len(child_days)],
                birth=birth,
                home=home,
                home_text=home_text,
            )
            members.append(ids[2 + n])
        father, mother, kids = members[0], members[1], members[2:]
        rel = out.relations
        rel.append((father, mother, "spouse"))
        rel.append((mother, father, "spouse"))
        for kid in kids:
            for parent in (father, mother):
                rel.append((kid, parent, "child"))
                rel.append((parent, kid, "parent"))
            for sibling in kids:
                if sibling != kid:
                    rel.append((kid, sibling, "sibling"))
        return len(members)


def _address_pool(size: int, make: Callable[[random.Random], str]) -> list[str]:
    rng = random.Random(size)
    return [make(rng) for _ in range(size)]


_D3 = [f"{i:03d}" for i in range(1000)]
_D4 = [f"{i:04d}" for i in range(10000)]
_US_EXCHANGES = [f"{i:03d}" for i in range(200, 1000) if i % 100 != 11]
_MX_ADDRESSES = _address_pool(
    4096,
    lambda r: f"Calle {r.choice(N.STREETS)} {r.randint(1, 999)}, Col. {r.choice(N.NEIGHBOURHOODS)}",
)
_US_ADDRESSES = _address_pool(1024, lambda r: f"{r.randint(100, 9999)} {r.choice(N.US_STREETS)}, Los Angeles")
_SHORT_NAMES = {
    "Guadalupe": "Lupe",
    "José": "Pepe",
    "Francisco": "Pancho",
    "Jesús": "Chuy",
    "Ignacio": "Nacho",
}


@dataclass
class _Extras:
    email: str = ""
    documents: list[str] = field(default_factory=list)
    aliases: list[tuple[str, str]] = field(default_factory=list)


def generate(
    profiles: list[OfficeProfile],
    *,
    count: int,
    writer: Writer,
    seed: int = 2026,
    batch_size: int = 10_000,
    rich: bool = False,
    today: date | None = None,
    registered_days: int = 730,
    drop_indexes: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Stats:
    """Generate and write ``count`` persons in batches, one transaction per batch.

    ``drop_indexes``: drop the secondary indexes of the people tables first and rebuild them at the end
    (worth it when the load at least doubles the tables; the rebuild time is included in the rate).
    """
    generator = PersonGenerator(profiles, seed=seed, rich=rich, today=today, writer=writer)
    stats = Stats()
    now = timezone.now()
    first_registered = now - timedelta(days=registered_days)
    per_person = (now - first_registered) / max(count, 1)
    started = time.perf_counter()
    done = 0
    with bulk_load([model for _, model, _ in TABLES], drop_indexes=drop_indexes):
        while done < count:
            size = min(batch_size, count - done)
            window = (first_registered + per_person * done, first_registered + per_person * (done + size))
            tick = time.perf_counter()
            with transaction.atomic():
                ids = writer.allocate_ids(Person, size)
                batch = generator.batch(ids, window)
                if not drop_indexes:
                    # Sorted by key, index insertions walk each B-tree in order instead of jumping around.
                    batch.tokens.sort(key=_first)
                    batch.documents.sort(key=_by_number)
                    batch.phones.sort(key=_by_e164)
                stats.add("generate", tick)
                for attr, model, columns in TABLES:
                    rows = getattr(batch, attr)
                    tick = time.perf_counter()
                    writer.write(model, columns, rows)
                    stats.add(model._meta.label, tick)
                    stats.rows[model._meta.label] = stats.rows.get(model._meta.label, 0) + len(rows)
                tick = time.perf_counter()
            stats.add("commit", tick)
            done += size
            stats.persons = done
            if progress is not None:
                progress(size)
        tick = time.perf_counter()
    stats.add("rebuild indexes", tick)
    stats.seconds = time.perf_counter() - started
    return stats


def _first(row: Row) -> Any:
    return row[0]


def _by_number(row: Row) -> Any:
    return row[3]


def _by_e164(row: Row) -> Any:
    return row[1]
