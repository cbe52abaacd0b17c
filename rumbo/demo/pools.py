"""Reference pools for synthetic persons: weighted names, birth dates and places, and office profiles.

Everything a generated person is drawn from is precomputed here once per run — per name its folded search
tokens, CURP letters, check-digit contribution and search-signature bits; per date its strings and
check-digit contribution — and every random pick is a lookup in a 65,536-slot table (``Sampler``).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

from rumbo.demo import names as N
from rumbo.demo.identity import first_surname_part, given_name_part, second_surname_part, weighted_sum
from rumbo.geo.loader import DATA_DIR
from rumbo.geo.models import AdminArea
from rumbo.lib.text import tokens as fold_tokens
from rumbo.offices.models import Office
from rumbo.people.search import MAX_TOKEN, token_signature

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
    sig: int = 0  # search signature bits of ``tokens`` (SearchToken.sig)


NO_NAME = Name("", (), "X", "X", "X", 0, weighted_sum("X", 2) + weighted_sum("X", 14))


def _given(text: str) -> Name:
    part = given_name_part(text)
    weight = weighted_sum(part.initial, 3) + weighted_sum(part.consonant, 15)
    tokens = tuple(t[:MAX_TOKEN] for t in fold_tokens(text))
    return Name(text, tokens, part.initial, "", part.consonant, weight, 0, token_signature(tokens))


def _surname(text: str) -> Name:
    first, second = first_surname_part(text), second_surname_part(text)
    tokens = tuple(t[:MAX_TOKEN] for t in fold_tokens(text))
    return Name(
        text,
        tokens,
        first.initial,
        second.initial,
        first.consonant,
        weighted_sum(first.initial, 0) + weighted_sum(first.consonant, 13),
        weighted_sum(second.initial, 2) + weighted_sum(second.consonant, 14),
        token_signature(tokens),
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


def _read_states() -> dict[str, str]:
    with (DATA_DIR / "mx_states.csv").open(encoding="utf-8-sig", newline="") as fh:
        return {r["cve_ent"]: r["curp_code"] for r in csv.DictReader(fh)}


class Catalog:
    """Places and name pools, loaded once per run from the admin areas in the database."""

    def __init__(self) -> None:
        curp_codes = _read_states()
        mx = list(
            AdminArea.objects.filter(country="MX", level=2)
            .order_by("code")  # not by name: collations differ between databases; one seed, same persons
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
        hn = AdminArea.objects.filter(country="HN", level=2).order_by("code").select_related("parent")
        self.hn_munis: list[tuple[Place, int]] = [
            (
                Place.make(a.id, "HN", a.parent.code if a.parent else a.code[:2], a.code, "NE", None, None),
                # Department capitals (municipality 01) are larger.
                6 if a.code.endswith("01") else 1,
            )
            for a in hn
        ]
        gt = AdminArea.objects.filter(country="GT", level=2).order_by("code").select_related("parent")
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
