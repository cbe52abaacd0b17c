"""Blocking keys: which pairs of persons are worth comparing at all.

Each person stores a few dozen 62-bit hashes of key strings (``MatchKey``); two persons are compared when
they share a key. Intake looks the keys of the person being registered up in the (key, office, person)
index; batch deduplication hands the same keys to Splink as an exploded blocking rule. The keys are chosen
so that every variation the matcher must tolerate leaves at least one key shared:

- ``b`` given-name form × both surnames (in any order) × birth-year bucket, on two grids of 4-year buckets
  offset by 2 years, so two dates up to 2 years apart always share a bucket on one grid (approximate dates,
  year typos; nicknames and compound names through the forms);
- ``y`` given-name form × one surname × birth year: a second surname missing or moved (US paperwork), with
  day/month swaps and day typos;
- ``gd`` given-name form × exact date and ``sd`` surname form × exact date: any name variant the forms do
  not cover (a surname merged with the next, a given name replaced on US paperwork) when the date agrees;
- ``gss`` given form × both surnames: persons without a date of birth;
- ``c`` CURP, ``d`` other document, ``p`` phone (national number), ``e`` email.
"""

from __future__ import annotations

import hashlib

from rumbo.matching.features import Features

MAX_GIVEN = 4
MAX_SURNAME = 3
# Given names so common as the first of a compound name (María Guadalupe, José Luis) that, next to another
# given name, they say little: blocking on them would put a tenth of the registry in the same blocks. They
# still count in the exact-date keys and in the comparison itself.
COMMON_FIRST = frozenset({"maria", "jose", "ma"})


def key_hash(text: str) -> int:
    """A non-negative 62-bit hash of a key string (stable across processes and machines)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 2


def _buckets(year: int) -> tuple[str, str]:
    return f"a{year // 4}", f"b{(year + 2) // 4}"


def key_strings(f: Features, *, query: bool = False) -> set[str]:
    """The key strings of ``f``. ``query=True`` adds keys only a lookup needs: the surnames written together
    (to find a registered person whose surnames were merged into one word) and the one-surname keys of the
    two years either side (approximate dates)."""
    given = list(f.given_keys[:MAX_GIVEN])
    compound = len(f.given.split()) > 1
    distinctive = ([g for g in given if g not in COMMON_FIRST] if compound else given) or given
    surnames = list(f.surname_keys[:MAX_SURNAME])
    if query and len(f.surnames.split()) >= 2:
        from rumbo.people.names import phonetic

        surnames.append(phonetic("".join(f.surnames.split()[:2])))
    pairs = [(a, b) for i, a in enumerate(surnames) for b in surnames[i + 1 :]]
    keys: set[str] = set()
    for g in distinctive:
        for a, b in pairs:
            keys.add(f"gss|{g}|{a}|{b}")
    if f.birth_date is not None:
        year = f.birth_date.year
        # A lookup also tries the neighbouring years: an approximate date with one surname.
        years = range(year - 2, year + 3) if query else (year,)
        for g in distinctive:
            for s in surnames:
                for y in years:
                    keys.add(f"y|{g}|{s}|{y}")
            for a, b in pairs:
                for bucket in _buckets(year):
                    keys.add(f"b|{g}|{a}|{b}|{bucket}")
        if f.birth_precision == "day":
            date = f.birth_date.isoformat()
            for g in given:
                keys.add(f"gd|{g}|{date}")
            for s in surnames:
                keys.add(f"sd|{s}|{date}")
    if f.curp:
        keys.add(f"c|{f.curp}")
    for doc in f.documents:
        keys.add(f"d|{doc}")
    for phone in f.phones:
        keys.add(f"p|{phone}")
    if f.email:
        keys.add(f"e|{f.email}")
    return keys


def blocking_keys(f: Features, *, query: bool = False) -> list[int]:
    return sorted({key_hash(k) for k in key_strings(f, query=query)})
