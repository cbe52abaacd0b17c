"""Synthetic persons for the demo and for benchmarks, generated in bulk.

Realism: Spanish given names and surnames with illustrative frequencies (``names.py``), compound given names,
second surnames sometimes missing, birth dates (some approximate), birth places that are real INEGI / Honduran
municipalities, valid CURPs and Honduran DNIs, phones valid for ``phonenumbers`` with real area codes,
Indigenous languages where they are spoken, addresses near the municipal seat, and search tokens identical to
what ``rumbo.people.search.person_tokens`` produces.

Speed: everything that can be precomputed is (``pools.py``): per name its folded tokens and CURP letters, per
birth date its strings and check-digit contribution; random picks are lookups in 65,536-slot tables, so a
person costs a few dozen dictionary and list operations. Rows are written in batches (one transaction each) by
the fastest writer of the database (``writers.py``). Memory is bounded by the batch size.

``rich=True`` (the 3,000-person demo) adds what a browsing user should see: aliases, more documents, e-mail,
vulnerability flags, several consent records, households with parents and children, and it builds the search
tokens with ``person_tokens`` itself. It is slower and meant for thousands, not millions.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from rumbo.demo import names as N
from rumbo.demo.identity import (
    DIFFERENTIATORS_1900,
    DIFFERENTIATORS_2000,
    INCONVENIENT,
    VALUE,
    check_digit,
    weighted_sum,
)
from rumbo.demo.pools import (
    BITS,
    NO_NAME,
    OFFICE_SHARES,
    Day,
    Name,
    OfficeProfile,
    Origin,
    Place,
    Sampler,
    day_sampler,
)
from rumbo.demo.writers import Row, Writer, bulk_load
from rumbo.matching.features import PROFILE_FIELDS, build_features, profile_values
from rumbo.matching.keys import blocking_keys
from rumbo.matching.models import MatchKey, MatchProfile
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
from rumbo.people.search import document_token, person_tokens, token_signature

CONSENT_VERSION = "demo-2026-01"
CONSENT_TEXT_SHA256 = hashlib.sha256(b"Rumbo demo consent text, version demo-2026-01").hexdigest()


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
    match_profiles: list[Row] = field(default_factory=list)
    match_keys: list[Row] = field(default_factory=list)


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
TOKEN_COLUMNS = ("token", "person_id", "office_id", "kind", "sig")
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
MATCH_PROFILE_COLUMNS = ("person_id", "office_id", *PROFILE_FIELDS)
MATCH_KEY_COLUMNS = ("key", "office_id", "person_id")

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
    ("match_profiles", MatchProfile, MATCH_PROFILE_COLUMNS),
    ("match_keys", MatchKey, MATCH_KEY_COLUMNS),
]


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
        doc_token = ""
        phone_tokens: tuple[str, ...] = ()

        # Identity document.
        document: str | None = None
        if origin.has_curp and precision == "day" and rnd() < 0.9:
            document = self._curp(given, first, second, day, sex, birth.curp_state)
            out.documents.append(
                (pid, "curp", document, document.lower(), "MX", None, None, self.empty_flags, stamp)
            )
            if fast:
                doc_token = document.lower()
        elif origin.has_dni and day.age >= 18 and rnd() < 0.85:
            serial = bits(17) % 100000
            document = f"{birth.code}-{day.year:04d}-{serial:05d}"
            normalized = f"{birth.code}{day.year:04d}{serial:05d}"
            out.documents.append(
                (pid, "hn_dni", document, normalized, "HN", None, None, self.empty_flags, stamp)
            )
            if fast:
                doc_token = normalized

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
                phone_tokens = (country_code + national, national)

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
        extra_aliases: list[tuple[str, str]] = []
        extra_documents: list[str] = []
        if fast:
            name_tokens = given.tokens + first.tokens + second.tokens
            if len(set(name_tokens)) != len(name_tokens):
                name_tokens = tuple(dict.fromkeys(name_tokens))
            sig = given.sig | first.sig | second.sig
            if doc_token:
                sig |= _signature(doc_token)
            for tok in phone_tokens:
                sig |= _signature(tok)
            for tok in name_tokens:
                tokens.append((tok, pid, office_id, "n", sig))
            if doc_token:
                tokens.append((doc_token, pid, office_id, "d", sig))
            for tok in phone_tokens:
                tokens.append((tok, pid, office_id, "p", sig))
        else:
            extra = self._rich_extras(
                out, pid, origin, sex, given, first, day, stamp, other_languages, profile
            )
            email = extra.email
            extra_aliases = list(extra.aliases)
            extra_documents = list(extra.documents)
            pairs = list(
                person_tokens(
                    given_names=given.text,
                    first_surname=first.text,
                    second_surname=second.text,
                    aliases=extra.aliases,
                    documents=[d for d in (document, *extra.documents) if d],
                    phones=[phone] if phone else [],
                )
            )
            sig = token_signature(t for t, _ in pairs)
            tokens.extend((t, pid, office_id, k, sig) for t, k in pairs)

        # The duplicate-detection index, exactly as ``rumbo.matching.index`` builds it.
        features = build_features(
            given_names=given.text,
            first_surname=first.text,
            second_surname=second.text,
            aliases=extra_aliases,
            sex=sex,
            birth_date=date.fromisoformat(birth_date),
            birth_precision=precision,
            curp=document if document and "-" not in document else "",  # the HN DNI has dashes, a CURP none
            documents=([document] if document and "-" in document else []) + extra_documents,
            phones=[(phone, "")] if phone else [],
            email=email,
        )
        values = profile_values(features)
        out.match_profiles.append((pid, office_id, *(values[f] for f in PROFILE_FIELDS)))
        out.match_keys.extend((key, office_id, pid) for key in blocking_keys(features))

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


_SIGNATURES: dict[str, int] = {}


def _signature(token: str) -> int:
    """``token_signature((token,))``, cached by the token's first four characters (all it depends on)."""
    key = token[:4]
    sig = _SIGNATURES.get(key)
    if sig is None:
        sig = _SIGNATURES[key] = token_signature((key,))
    return sig


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
