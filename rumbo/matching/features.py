"""What the matcher compares: a person reduced to folded, variation-tolerant features.

The same :class:`Features` are built from a form or import row (``PersonData``), from a stored person, or
from a benchmark record, and stored as a ``MatchProfile`` row. Intake scoring (Python) and batch scoring
(Splink SQL over the profiles in DuckDB) read exactly these values, so both see the same person.

Name handling (rules in :mod:`rumbo.people.names`):

- given names: folded, particles dropped, abbreviations expanded ("Ma." → maria); ``given_keys`` holds the
  Spanish phonetic key of every form, nicknames resolved (Lupita → guadalupe, Chuy → jesus);
- surnames: folded words without particles ("De la Cruz-Ávila" → cruz avila), glued particles split
  ("Delacruz" → cruz), each word's phonetic key in ``surname_keys`` (order-free); ``first_surname_key`` keeps
  which one was first;
- phones: national significant number, so "+52 443…" and "443…" agree; CURP and other document numbers:
  folded alphanumerics.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from rumbo.lib.text import fold
from rumbo.people.names import PARTICLES, given_name_forms, phonetic_keys, surname_words
from rumbo.people.search import document_token

MAX_NAME_KEYS = 6
_GLUED_PARTICLES = ("delos", "delas", "dela")


@dataclass(frozen=True)
class Features:
    given: str = ""
    given_keys: tuple[str, ...] = ()  # sorted, unique
    surnames: str = ""
    surname_keys: tuple[str, ...] = ()  # sorted, unique
    first_surname_key: str = ""
    birth_date: datetime.date | None = None
    birth_precision: str = "day"
    sex: str = ""
    curp: str = ""
    documents: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    email: str = ""


@lru_cache(maxsize=65536)
def _given_words(given_names: str) -> tuple[str, ...]:
    out: list[str] = []
    for raw in given_names.split():
        forms = given_name_forms(raw)
        word = fold(raw)
        if not word or word in PARTICLES:
            continue
        # The expanded abbreviation ("ma." → maria) is the word itself; nicknames stay as written.
        expanded = [f for f in forms if f != word]
        out.append(expanded[0] if len(forms) == 1 and expanded else word)
    return tuple(out)


@lru_cache(maxsize=65536)
def given_keys(*names: str) -> tuple[str, ...]:
    keys: set[str] = set()
    for name in names:
        for form in given_name_forms(name):
            keys |= phonetic_keys(form)
    return tuple(sorted(keys))[:MAX_NAME_KEYS]


def _unglue(word: str) -> str:
    """The surname without a particle written glued to it ("delacruz" → "cruz"), or the word itself."""
    for glued in _GLUED_PARTICLES:
        if word.startswith(glued) and len(word) - len(glued) >= 3:
            return word[len(glued) :]
    return word


def _surname_forms(*surnames: str) -> list[str]:
    return [_unglue(word) for word in surname_words(*surnames)]


@lru_cache(maxsize=65536)
def surname_keys(*surnames: str) -> tuple[str, ...]:
    keys: set[str] = set()
    for word in _surname_forms(*surnames):
        keys |= phonetic_keys(word)
    return tuple(sorted(keys))[:MAX_NAME_KEYS]


@lru_cache(maxsize=65536)
def _surname_text(first_surname: str, second_surname: str) -> str:
    return " ".join(surname_words(first_surname, second_surname))


@lru_cache(maxsize=65536)
def _first_surname_key(first_surname: str, second_surname: str) -> str:
    first_words = surname_words(first_surname) or surname_words(second_surname)
    return min(phonetic_keys(_unglue(first_words[0])), default="") if first_words else ""


def national_number(number: str, region: str = "MX") -> str:
    """The national significant number of a phone written any way ("+52 443…", "443…", "001 213…")."""
    raw = number.strip()
    if not raw:
        return ""
    if raw.startswith("+") and raw[1:].isdigit():
        # E.164 as stored: the country code is the first 1–3 digits that name one (fast path).
        digits = raw[1:]
        for size in (1, 2, 3):
            if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
                return digits[size:]
    try:
        parsed = phonenumbers.parse(raw, region or "MX")
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in raw if ch.isdigit())
        return digits[-10:]
    return str(parsed.national_number)


def build_features(
    *,
    given_names: str,
    first_surname: str,
    second_surname: str = "",
    aliases: Iterable[tuple[str, str]] = (),
    sex: str = "",
    birth_date: datetime.date | None = None,
    birth_precision: str = "day",
    curp: str = "",
    documents: Iterable[str] = (),
    phones: Iterable[tuple[str, str]] = (),
    email: str = "",
) -> Features:
    """Features from plain values; ``phones`` are (number, default region) pairs."""
    alias_list = list(aliases)
    first_key = _first_surname_key(first_surname, second_surname)
    curp_token = document_token(curp).upper() if curp else ""
    return Features(
        given=" ".join(_given_words(given_names)),
        given_keys=given_keys(given_names, *(g for g, _ in alias_list)),
        surnames=_surname_text(first_surname, second_surname),
        surname_keys=surname_keys(first_surname, second_surname, *(s for _, s in alias_list)),
        first_surname_key=first_key,
        birth_date=birth_date,
        birth_precision=birth_precision or "day",
        sex=sex if sex in ("F", "M", "X") else "",
        curp=curp_token,
        documents=tuple(sorted({t for t in (document_token(d) for d in documents) if t})),
        phones=tuple(sorted({n for n in (national_number(p, r) for p, r in phones) if n})),
        email=email.strip().casefold(),
    )


def features_from_data(data: Any) -> Features:
    """Features of a ``PersonData`` (clean or not: numbers may be as typed)."""
    curp = ""
    others: list[str] = []
    for doc in data.documents:
        if not doc.number:
            continue
        if doc.kind == "curp" and not curp:
            curp = doc.number
        else:
            others.append(doc.number)
    return build_features(
        given_names=data.given_names or "",
        first_surname=data.first_surname or "",
        second_surname=data.second_surname or "",
        aliases=[(a.given_names, a.surnames) for a in data.aliases],
        sex=data.sex or "",
        birth_date=data.birth_date,
        birth_precision=data.birth_date_precision,
        curp=curp,
        documents=others,
        phones=[(p.number, getattr(p, "region", "MX")) for p in data.phones if p.number],
        email=data.email or "",
    )


def features_from_person(
    person: Any,
    *,
    aliases: Iterable[tuple[str, str]] | None = None,
    documents: Iterable[tuple[str, str]] | None = None,
    phones: Iterable[str] | None = None,
) -> Features:
    """Features of a stored person. Child rows are read from the person unless given as
    (given, surnames) aliases, (kind, number) documents and E.164 phones (bulk callers pass them)."""
    if aliases is None:
        aliases = [(a.given_names, a.surnames) for a in person.aliases.all()]
    if documents is None:
        documents = [(d.kind, d.number) for d in person.documents.all()]
    if phones is None:
        phones = [p.e164 for p in person.phones.all()]
    docs = list(documents)
    curp = next((n for k, n in docs if k == "curp"), "")
    return build_features(
        given_names=person.given_names,
        first_surname=person.first_surname,
        second_surname=person.second_surname,
        aliases=aliases,
        sex=person.sex,
        birth_date=person.birth_date,
        birth_precision=person.birth_date_precision,
        curp=curp,
        documents=[n for k, n in docs if k != "curp"],
        phones=[(p, "MX") for p in phones],
        email=person.email,
    )


def features_from_profile(profile: Any) -> Features:
    """Features stored in a ``MatchProfile`` row (or any object with its attributes)."""
    return Features(
        given=profile.given,
        given_keys=tuple(profile.given_keys.split()),
        surnames=profile.surnames,
        surname_keys=tuple(profile.surname_keys.split()),
        first_surname_key=profile.first_surname_key,
        birth_date=profile.birth_date,
        birth_precision=profile.birth_precision or "day",
        sex=profile.sex,
        curp=profile.curp,
        documents=tuple(profile.documents.split()),
        phones=tuple(profile.phones.split()),
        email=profile.email,
    )


PROFILE_FIELDS = (
    "given",
    "given_keys",
    "surnames",
    "surname_keys",
    "first_surname_key",
    "birth_date",
    "birth_precision",
    "sex",
    "curp",
    "documents",
    "phones",
    "email",
)


def features_from_values(
    given: str,
    given_keys: str,
    surnames: str,
    surname_keys: str,
    first_surname_key: str,
    birth_date: datetime.date | None,
    birth_precision: str,
    sex: str,
    curp: str,
    documents: str,
    phones: str,
    email: str,
) -> Features:
    """Features from a ``MatchProfile`` row read as values, in :data:`PROFILE_FIELDS` order."""
    return Features(
        given,
        tuple(given_keys.split()),
        surnames,
        tuple(surname_keys.split()),
        first_surname_key,
        birth_date,
        birth_precision or "day",
        sex,
        curp,
        tuple(documents.split()),
        tuple(phones.split()),
        email,
    )


def profile_values(f: Features) -> dict[str, Any]:
    """``MatchProfile`` field values for ``f``."""
    return {
        "given": f.given[:200],
        "given_keys": " ".join(f.given_keys)[:400],
        "surnames": f.surnames[:200],
        "surname_keys": " ".join(f.surname_keys)[:400],
        "first_surname_key": f.first_surname_key[:60],
        "birth_date": f.birth_date,
        "birth_precision": f.birth_precision,
        "sex": f.sex,
        "curp": f.curp[:18],
        "documents": " ".join(f.documents)[:400],
        "phones": " ".join(f.phones)[:200],
        "email": f.email[:254],
    }
