"""How Hispanic names vary between records, as data and small pure functions (groundwork for matching).

Used to compare two records of the same person written by different hands: particles (de, del, de la),
compound given names and their abbreviations (Ma. Guadalupe), common nicknames (Lupita, Chuy, Pepe…) and
Spanish phonetic confusions (b/v, s/z/c, ll/y, silent h, x/j/s in Nahuatl-origin names). No I/O, no models.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rumbo.lib.text import fold

PARTICLES = frozenset(
    {"de", "del", "la", "las", "los", "y", "e", "da", "di", "do", "dos", "van", "von", "mc"}
)

# Abbreviations seen on forms and IDs → the full given name (folded).
ABBREVIATIONS: dict[str, str] = {
    "ma": "maria",
    "ma.": "maria",
    "m": "maria",
    "j": "jose",
    "jo": "jose",
    "fco": "francisco",
    "gpe": "guadalupe",
    "ant": "antonio",
    "jn": "juan",
    "mgt": "margarita",
}

# Common Mexican and Central American nicknames → the given names they stand for (folded).
NICKNAMES: dict[str, frozenset[str]] = {
    key: frozenset(values.split())
    for key, values in {
        "lupita": "guadalupe",
        "lupe": "guadalupe",
        "chuy": "jesus",
        "chucho": "jesus",
        "pepe": "jose",
        "chepe": "jose",
        "paco": "francisco",
        "pancho": "francisco",
        "kiko": "francisco enrique",
        "nacho": "ignacio",
        "chayo": "rosario",
        "charo": "rosario",
        "lalo": "eduardo",
        "memo": "guillermo",
        "beto": "alberto roberto humberto norberto heriberto",
        "quique": "enrique",
        "concha": "concepcion",
        "conchita": "concepcion",
        "chelo": "consuelo marcelo",
        "chela": "graciela consuelo",
        "lencho": "lorenzo",
        "tono": "antonio",
        "toni": "antonio",
        "chente": "vicente",
        "goyo": "gregorio",
        "lola": "dolores",
        "lolita": "dolores",
        "meche": "mercedes",
        "nando": "fernando",
        "fito": "adolfo rodolfo",
        "tere": "teresa",
        "rafa": "rafael",
        "licha": "alicia",
        "chabela": "isabel",
        "pili": "pilar",
        "chema": "jose",
        "moncho": "ramon",
        "nena": "elena",
    }.items()
}

_DOUBLE = re.compile(r"(.)\1+")


def given_name_forms(given_names: str) -> frozenset[str]:
    """Every folded given name a record may stand for: the words, abbreviations expanded, nicknames resolved.

    >>> sorted(given_name_forms("Ma. Lupita"))
    ['guadalupe', 'lupita', 'maria']
    """
    forms: set[str] = set()
    for raw in given_names.split():
        word = fold(raw)
        if not word or word in PARTICLES:
            continue
        word = ABBREVIATIONS.get(raw.casefold(), ABBREVIATIONS.get(word, word))
        forms.add(word)
        forms |= NICKNAMES.get(word, frozenset())
    return frozenset(forms)


def surname_words(*surnames: str) -> list[str]:
    """Folded surname words without particles; hyphens and spaces split ("De la Cruz-Ávila" → cruz, avila)."""
    words: list[str] = []
    for surname in surnames:
        for word in fold(surname).split():
            if word not in PARTICLES:
                words.append(word)
    return words


@lru_cache(maxsize=1 << 16)
def phonetic(word: str) -> str:
    """A Spanish sound-alike key: words that differ only by b/v, s/z/c(e,i), ll/y, silent h, x/j, qu/k/c,
    g(e,i)/j, i/y or doubled letters get the same key.

    >>> phonetic("Hernández") == phonetic("Ernandes")
    True
    >>> phonetic("Xavier") == phonetic("Javier")
    True
    """
    w = fold(word).replace(" ", "")
    if not w:
        return ""
    w = w.replace("ch", "\x01")  # keep "ch" apart from the silent h
    w = w.replace("ll", "y")
    w = re.sub(r"qu([ei])", r"k\1", w)
    w = re.sub(r"gu([ei])", r"g\1", w)
    w = re.sub(r"g([ei])", r"j\1", w)
    w = re.sub(r"c([ei])", r"s\1", w)
    w = w.replace("h", "")
    w = w.replace("\x01", "ch")
    w = w.replace("v", "b").replace("z", "s").replace("x", "j").replace("w", "gu")
    w = w.replace("c", "k").replace("q", "k")
    w = re.sub(r"y(?![aeiou])", "i", w)
    return _DOUBLE.sub(r"\1", w)


@lru_cache(maxsize=1 << 16)
def phonetic_keys(word: str) -> frozenset[str]:
    """The phonetic key, plus the variant where an initial x sounds like s (Xóchitl / Sóchitl).

    Cached, as :func:`phonetic`: the same names come back row after row (a bulk import computes the keys
    of a hundred thousand persons, whose surnames are a few thousand words)."""
    keys = {phonetic(word)}
    folded = fold(word)
    if folded.startswith("x"):
        keys.add(phonetic("s" + folded[1:]))
    return frozenset(k for k in keys if k)
