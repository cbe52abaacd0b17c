"""Blocking keys: which pairs of persons are worth comparing at all.

Each person stores a few dozen 62-bit hashes of key strings (``MatchKey``); two persons are compared when
they share a key. Intake looks the keys of the person being registered up in the (key, office, person)
index; batch deduplication hands the same keys to Splink as an exploded blocking rule. The keys are chosen
so that every variation the matcher must tolerate leaves at least one key shared:

- ``b`` given-name form × surname form × birth-year bucket, on two grids of 4-year buckets offset by 2
  years, so two dates up to 2 years apart always share a bucket on one grid (day/month swaps, typos,
  approximate dates; surnames in any order or one missing; nicknames and compound names through the forms);
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


def key_hash(text: str) -> int:
    """A non-negative 62-bit hash of a key string (stable across processes and machines)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 2


def _buckets(year: int) -> tuple[str, str]:
    return f"a{year // 4}", f"b{(year + 2) // 4}"


def key_strings(f: Features, *, query: bool = False) -> set[str]:
    """The key strings of ``f``. ``query=True`` adds keys only a lookup needs (the surnames written together,
    to find a registered person whose surnames were merged into one word)."""
    given = list(f.given_keys[:MAX_GIVEN])
    surnames = list(f.surname_keys[:MAX_SURNAME])
    if query and len(f.surnames.split()) >= 2:
        from rumbo.people.names import phonetic

        surnames.append(phonetic("".join(f.surnames.split()[:2])))
    keys: set[str] = set()
    if f.birth_date is not None:
        buckets = _buckets(f.birth_date.year)
        date = f.birth_date.isoformat() if f.birth_precision == "day" else ""
        for g in given:
            for s in surnames:
                for bucket in buckets:
                    keys.add(f"b|{g}|{s}|{bucket}")
            if date:
                keys.add(f"gd|{g}|{date}")
        if date:
            for s in surnames:
                keys.add(f"sd|{s}|{date}")
    pair = sorted(f.surname_keys[:2])
    if len(pair) == 2:
        for g in given:
            keys.add(f"gss|{g}|{pair[0]}|{pair[1]}")
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
