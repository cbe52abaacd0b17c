"""Search tokens: what makes a person findable by name, document or phone, accent- and case-insensitively.

Tokens are stored in ``SearchToken`` and matched by prefix through a B-tree index, so search stays fast
at millions of persons on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from django.db.models import Q

from rumbo.lib.text import fold, prefix_upper_bound
from rumbo.lib.text import tokens as text_tokens

MAX_TOKEN = 40
_ALNUM = re.compile(r"[^a-z0-9]")


def document_token(number: str) -> str:
    """Folded alphanumerics of a document number ("GOHM-800101…" → "gohm800101…")."""
    return _ALNUM.sub("", fold(number))[:MAX_TOKEN]


def phone_tokens(e164: str) -> list[str]:
    """Digits of the number with and without the country code, so both ways of typing it find it."""
    import phonenumbers

    digits = re.sub(r"\D", "", e164)
    out = [digits]
    if e164.startswith("+") and e164[1:].isdigit():
        # E.164 as stored: the country code is the first 1–3 digits that name one (no parse needed).
        from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

        for size in (1, 2, 3):
            if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
                national = digits[size:]
                if national and national[0] != "0":  # a leading zero (Italy…): phonenumbers decides
                    out.append(national)
                    return out
                break
    try:
        parsed = phonenumbers.parse(e164, None)
        national = str(parsed.national_number)
        if national != digits:
            out.append(national)
    except phonenumbers.NumberParseException:
        pass
    return out


def name_tokens(*names: str) -> list[str]:
    out: dict[str, None] = {}
    for name in names:
        for word in text_tokens(name):
            out.setdefault(word[:MAX_TOKEN], None)
    return list(out)


def person_tokens(
    *,
    given_names: str,
    first_surname: str,
    second_surname: str = "",
    aliases: Iterable[tuple[str, str]] = (),
    documents: Iterable[str] = (),
    phones: Iterable[str] = (),
) -> Iterator[tuple[str, str]]:
    """(token, kind) pairs for one person; kinds as in ``SearchToken.Kind``."""
    seen: set[str] = set()
    alias_names = [part for pair in aliases for part in pair]
    for tok in name_tokens(given_names, first_surname, second_surname, *alias_names):
        if tok not in seen:
            seen.add(tok)
            yield tok, "n"
    for number in documents:
        tok = document_token(number)
        if tok and tok not in seen:
            seen.add(tok)
            yield tok, "d"
    for e164 in phones:
        for tok in phone_tokens(e164):
            if tok and tok not in seen:
                seen.add(tok)
                yield tok, "p"


SIGNATURE_BITS = 62  # fits a signed 64-bit integer column on every database


@lru_cache(maxsize=1 << 16)  # beginnings of words repeat from person to person
def _prefix_bits(prefix: str) -> int:
    digest = zlib.crc32(prefix.encode())
    return (1 << (digest % SIGNATURE_BITS)) | (1 << ((digest // SIGNATURE_BITS) % SIGNATURE_BITS))


@lru_cache(maxsize=1 << 16)  # names repeat from person to person
def word_mask(word: str) -> int:
    """Bits a person's signature must have for one of their tokens to start with ``word`` (0: no test):
    also the bits a token adds to the signature (see :func:`token_signature`)."""
    mask = 0
    for size in (3, 4):
        if len(word) >= size:
            mask |= _prefix_bits(word[:size])
    return mask


def token_signature(tokens: Iterable[str]) -> int:
    """Bloom filter of the 3- and 4-character beginnings of ``tokens`` (see ``SearchToken.sig``).

    If a token starts with a query word of 3 or more characters, the signature has every bit of
    ``word_mask(word)``; the reverse may be wrong (a few percent of the time), so a match is always
    confirmed against the tokens themselves.
    """
    sig = 0
    for token in tokens:
        sig |= word_mask(token)  # the bits of its 3- and 4-character beginnings
    return sig


def reindex_person(person: Any) -> None:
    """Rebuild the search tokens of ``person`` from its current names, aliases, documents and phones, and
    its duplicate-detection index (``rumbo.matching.index``)."""
    from rumbo.matching.index import index_person
    from rumbo.people.models import SearchToken

    index_person(person)
    SearchToken.objects.filter(person=person).delete()
    if person.is_anonymised or person.merged_into_id is not None:  # tombstones are not findable
        return
    pairs = list(
        person_tokens(
            given_names=person.given_names,
            first_surname=person.first_surname,
            second_surname=person.second_surname,
            aliases=[(a.given_names, a.surnames) for a in person.aliases.all()],
            documents=[d.number for d in person.documents.all()],
            phones=[p.e164 for p in person.phones.all()],
        )
    )
    sig = token_signature(t for t, _ in pairs)
    SearchToken.objects.bulk_create(
        [SearchToken(person=person, office_id=person.office_id, token=t, kind=k, sig=sig) for t, k in pairs]
    )


def prefix_q(field: str, prefix: str) -> Q:
    """A filter for ``field`` starting with ``prefix`` as a range (``>= prefix`` and ``<`` the next string),
    which a B-tree index serves on every database: tokens compare byte by byte (SQLite's BINARY
    collation; the "C" collation of ``SearchTokenField`` on PostgreSQL), so the same index also gives
    the order in which ``person_search`` streams results."""
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix_upper_bound(prefix)})


def query_tokens(query: str) -> list[str]:
    """Tokens to look for: the folded words of the query, plus the whole query as a document/phone token
    when it looks like one (so "+52 443 123 4567" and "GOHM-800101" are found)."""
    words = name_tokens(query)
    compact = document_token(query)
    if len(words) > 1 and len(compact) >= 7 and any(ch.isdigit() for ch in compact):
        return [compact]
    return [w for w in words if w][:6]


def relaxed_query(query: str) -> str | None:
    """The query with the final "s"/"z" of longer words dropped, or None when nothing changes.

    Spanish surnames ending in -ez are very often written -es and the other way round (Hernandes,
    Gonzales, Martines): when a search finds no one, searching the shorter prefix finds them. Words that
    look like documents or phones (with digits) are left alone.
    """
    words = name_tokens(query)
    relaxed = [
        w[:-1] if len(w) >= 5 and w[-1] in "sz" and not any(c.isdigit() for c in w) else w for w in words
    ]
    return " ".join(relaxed) if relaxed != words else None
