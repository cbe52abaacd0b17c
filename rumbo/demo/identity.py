"""Synthetic identity numbers that pass the real checks: CURP (RENAPO rules) and the Honduran DNI.

The CURP is built the way RENAPO's *Instructivo normativo para la asignación de la CURP* describes:

1. first letter and first inner vowel of the first surname;
2. first letter of the second surname (``X`` when there is none);
3. first letter of the given name — of the *second* given name when the first is María or José, so that
   "María Guadalupe" gives ``G``;
4. birth date as YYMMDD, ``H``/``M`` for sex, the two-letter code of the birth state (``NE`` when born
   abroad);
5. first inner consonant of the first surname, second surname and given name;
6. a differentiator: a digit for births up to 1999, a letter from 2000 on;
7. a check digit over the first 17 characters.

Particles of compound names (De la Cruz → Cruz) are skipped, Ñ becomes X, and a first part that spells a
word on RENAPO's list of inconvenient words gets X as its second letter. The result is validated by
``stdnum.mx.curp`` in the tests. The pieces are split (name part, date part, check-digit contributions) so the
bulk generator can precompute them per name and per date instead of per person.
"""

from __future__ import annotations

from dataclasses import dataclass

from rumbo.lib.text import fold

# Words RENAPO replaces (Anexo 2 of the Instructivo normativo): their second letter becomes X.
INCONVENIENT = frozenset(
    """
    BACA BAKA BUEI BUEY CACA CACO CAGA CAGO CAKA CAKO COGE COGI COJA COJE COJI COJO COLA CULO FALO FETO
    GETA GUEI GUEY JETA JOTO KACA KACO KAGA KAGO KAKA KAKO KOGE KOGI KOJA KOJE KOJI KOJO KOLA KULO LILO
    LOCA LOCO LOKA LOKO MAME MAMO MEAR MEAS MEON MIAR MION MOCO MOKO MULA MULO NACA NACO PEDA PEDO PENE
    PIPI PITO POPO PUTA PUTO QULO RATA ROBA ROBE ROBO RUIN SENO TETA VACA VAGA VAGO VAKA VUEI VUEY WUEI WUEY
    """.split()  # noqa: SIM905
)
PARTICLES = frozenset("DA DAS DE DEL DER DI DIE DD EL LA LOS LAS LE LES MAC MC VAN VON Y".split())  # noqa: SIM905
SKIPPED_FIRST_GIVEN = frozenset({"MARIA", "MA", "JOSE", "J"})
VOWELS = frozenset("AEIOU")
ALPHABET = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ"
VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
BORN_ABROAD = "NE"
DIFFERENTIATORS_1900 = "0123456789"
DIFFERENTIATORS_2000 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _upper_words(name: str) -> list[str]:
    # fold() keeps ñ as n; RENAPO writes Ñ as X, so mark it before folding.
    return fold(name.replace("ñ", "x").replace("Ñ", "X")).upper().split()


def _significant(name: str) -> str:
    """The word of a (possibly compound) surname that RENAPO uses: the first that is not a particle."""
    words = _upper_words(name)
    for word in words:
        if word not in PARTICLES:
            return word
    return words[-1] if words else ""


def _given_for_curp(given_names: str) -> str:
    words = [w for w in _upper_words(given_names) if w not in PARTICLES]
    if len(words) > 1 and words[0] in SKIPPED_FIRST_GIVEN:
        return words[1]
    return words[0] if words else ""


def _inner_vowel(word: str) -> str:
    return next((ch for ch in word[1:] if ch in VOWELS), "X")


def _inner_consonant(word: str) -> str:
    return next((ch for ch in word[1:] if ch.isalpha() and ch not in VOWELS), "X")


@dataclass(frozen=True, slots=True)
class NamePart:
    """What one name contributes to a CURP."""

    initial: str  # first letter (surname 1: first letter and inner vowel, 2 characters)
    consonant: str  # first inner consonant


def first_surname_part(name: str) -> NamePart:
    word = _significant(name)
    return NamePart((word[:1] or "X") + _inner_vowel(word), _inner_consonant(word))


def second_surname_part(name: str) -> NamePart:
    if not name.strip():
        return NamePart("X", "X")
    word = _significant(name)
    return NamePart(word[:1] or "X", _inner_consonant(word))


def given_name_part(name: str) -> NamePart:
    word = _given_for_curp(name)
    return NamePart(word[:1] or "X", _inner_consonant(word))


def check_digit(first17: str) -> str:
    total = sum(VALUE[ch] * (18 - i) for i, ch in enumerate(first17))
    return str((10 - total % 10) % 10)


def curp_stem(first: NamePart, second: NamePart, given: NamePart) -> tuple[str, str]:
    """The four leading letters (inconvenient words replaced) and the three inner consonants."""
    head = first.initial + second.initial + given.initial
    if head in INCONVENIENT:
        head = head[0] + "X" + head[2:]
    return head, first.consonant + second.consonant + given.consonant


def build_curp(
    *,
    given_names: str,
    first_surname: str,
    second_surname: str,
    birth_year: int,
    birth_month: int,
    birth_day: int,
    sex: str,
    state_code: str,
    differentiator_index: int = 0,
) -> str:
    """A CURP that satisfies RENAPO's structure and check digit. ``sex`` is "M" (male) or "F" (female);
    ``state_code`` the two-letter RENAPO state code (``NE`` for born abroad)."""
    head, consonants = curp_stem(
        first_surname_part(first_surname), second_surname_part(second_surname), given_name_part(given_names)
    )
    pool = DIFFERENTIATORS_1900 if birth_year < 2000 else DIFFERENTIATORS_2000
    first17 = (
        f"{head}{birth_year % 100:02d}{birth_month:02d}{birth_day:02d}"
        f"{'H' if sex == 'M' else 'M'}{state_code}{consonants}{pool[differentiator_index % len(pool)]}"
    )
    return first17 + check_digit(first17)


def weighted_sum(text: str, start: int) -> int:
    """Check-digit contribution of ``text`` placed at 0-based position ``start`` of a CURP."""
    return sum(VALUE[ch] * (18 - (start + i)) for i, ch in enumerate(text))


def hn_dni(municipality_code: str, birth_year: int, serial: int) -> str:
    """Honduran DNI as printed: municipality of registration (4 digits), birth year, 5-digit serial."""
    return f"{municipality_code}-{birth_year:04d}-{serial:05d}"
