"""Text normalisation for search: accent- and case-insensitive, the same in Python on every database."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(value: str) -> str:
    """Lower-case ASCII form of ``value``: accents removed, ñ→n, punctuation turned into spaces.

    Cached: names, places and codes repeat from row to row (a bulk import folds each value several times).

    >>> fold("  José  Núñez-Pérez ")
    'jose nunez perez'
    """
    return _fold(value if type(value) is str else str(value))


@lru_cache(maxsize=1 << 16)
def _fold(value: str) -> str:
    if value.isascii():  # nothing to decompose; ASCII case-folding is lower-casing
        return _NON_ALNUM.sub(" ", value.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", stripped).strip()


def tokens(value: str) -> list[str]:
    """Folded words of ``value``, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in fold(value).split():
        seen.setdefault(word, None)
    return list(seen)


def prefix_upper_bound(prefix: str) -> str:
    """Smallest string greater than every string starting with ``prefix`` (for index range scans)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
