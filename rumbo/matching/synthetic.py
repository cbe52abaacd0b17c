"""A synthetic set of Hispanic person records with known duplicates, for training and measuring the matcher.

**Corruption model.** Each *entity* (a made-up person: sex, given name(s), two surnames from weighted
Mexican and Honduran name lists in :mod:`rumbo.demo.names`, a date of birth, a structurally valid CURP, a
phone, sometimes an email) is registered once as an *original*. A share of entities is registered again as
one or more *duplicates*, each with 1–3 corruptions drawn from the catalogue below — every variation
issue 3 lists:

=====================  =====================================================================================
``surnames_swapped``   the two surnames in the other order
``second_missing``     second surname left out
``surnames_merged``    surnames written as one word or hyphenated (GarcíaLópez, García-López)
``us_middle_name``     first surname recorded as a middle name, second as the surname (US paperwork)
``compound_short``     compound given name shortened or abbreviated (María Guadalupe → Guadalupe, Ma. Gpe.)
``nickname``           given name replaced by a common nickname (Guadalupe → Lupita, José → Pepe…)
``particle``           particle dropped or glued (De la Cruz → Cruz, Delacruz)
``accents``            accents and ñ dropped, or written in capitals
``phonetic``           a Spanish sound-alike spelling (b/v, s/z/c, ll/y, silent h, x/j/s)
``typo``               one letter changed, dropped or transposed in a name
``dob_swap``           day and month swapped
``dob_approx``         date replaced by an estimate from the age (1 January, ±0–2 years)
``dob_typo``           day off by a few days, or year off by one digit
``curp_typo``          one CURP character changed
``curp_missing``       no CURP
``phone_format``       phone written with or without the country code, with spaces
``phone_missing``      no phone, or a new one
``passport_missing``   passport number not recorded
=====================  =====================================================================================

**Hard negatives**, different persons who look alike: *siblings* (same two surnames, often the same phone,
another given name, born 1–12 years apart, their own CURP) and *father and son* (the same full name and
surnames, born 18–40 years apart, often the same phone). Everything is drawn from one seeded RNG.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from rumbo.demo import names as N
from rumbo.demo.identity import build_curp
from rumbo.matching.features import Features, build_features
from rumbo.people.names import NICKNAMES

CORRUPTIONS = (
    "surnames_swapped",
    "second_missing",
    "surnames_merged",
    "us_middle_name",
    "compound_short",
    "nickname",
    "particle",
    "accents",
    "phonetic",
    "typo",
    "dob_swap",
    "dob_approx",
    "dob_typo",
    "curp_typo",
    "curp_missing",
    "phone_format",
    "phone_missing",
    "passport_missing",
)
PARTICLE_SURNAMES = [
    ("De la Cruz", 30),
    ("De León", 20),
    ("Del Ángel", 10),
    ("De los Santos", 12),
    ("De la Rosa", 10),
]
_NICK_FOR: dict[str, list[str]] = {}
for _nick, _targets in NICKNAMES.items():
    for _t in _targets:
        _NICK_FOR.setdefault(_t, []).append(_nick)
_PHONETIC = [
    ("v", "b"), ("b", "v"), ("z", "s"), ("s", "z"), ("ce", "se"), ("ci", "si"), ("ll", "y"), ("y", "ll"),
    ("x", "j"), ("j", "x"), ("h", ""), ("gue", "ge"),
]  # fmt: skip
# Corruptions that would compound into a name no one would write (a given name made of a surname…).
_CLASH = (
    {"us_middle_name", "compound_short"},
    {"us_middle_name", "nickname"},
    {"us_middle_name", "surnames_merged"},
    {"dob_approx", "dob_swap"},
    {"dob_approx", "dob_typo"},
)
_PLAIN = str.maketrans("áéíóúüñÁÉÍÓÚÜÑ", "aeiouunAEIOUUN")


@dataclass
class Record:
    unique_id: int
    entity_id: int
    role: str  # original | duplicate | sibling | parent
    given_names: str
    first_surname: str
    second_surname: str
    sex: str
    birth_date: datetime.date | None
    birth_precision: str = "day"
    curp: str = ""
    phone: str = ""
    email: str = ""
    passport: str = ""
    corruptions: list[str] = field(default_factory=list)
    source_entity: int | None = None  # for a look-alike: the person it was made to resemble

    def features(self) -> Features:
        return build_features(
            given_names=self.given_names,
            first_surname=self.first_surname,
            second_surname=self.second_surname,
            sex=self.sex,
            birth_date=self.birth_date,
            birth_precision=self.birth_precision,
            curp=self.curp,
            phones=[(self.phone, "MX")] if self.phone else [],
            email=self.email,
            documents=[self.passport] if self.passport else [],
        )


class _Pick:
    def __init__(self, rng: random.Random, items: list[tuple[str, int]]) -> None:
        self.rng = rng
        self.names = [n for n, _ in items]
        self.weights = [w for _, w in items]

    def __call__(self) -> str:
        return self.rng.choices(self.names, self.weights)[0]


class Generator:
    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        self.male = _Pick(self.rng, N.MX_MALE_GIVEN + N.HN_MALE_GIVEN)
        self.female = _Pick(self.rng, N.MX_FEMALE_GIVEN + N.HN_FEMALE_GIVEN)
        self.surname = _Pick(self.rng, N.MX_SURNAMES + N.HN_SURNAMES + PARTICLE_SURNAMES)
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _date(self, start: int = 1950, end: int = 2008) -> datetime.date:
        year = self.rng.randint(start, end)
        return datetime.date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))

    def _curp(self, given: str, s1: str, s2: str, dob: datetime.date, sex: str) -> str:
        return build_curp(
            given_names=given,
            first_surname=s1,
            second_surname=s2 or "X",
            birth_year=dob.year,
            birth_month=dob.month,
            birth_day=dob.day,
            sex=sex,
            state_code=self.rng.choice(["MN", "JC", "OC", "GR", "CS", "DF", "GT", "NE"]),
            differentiator_index=self.rng.randrange(10),
        )

    def _phone(self) -> str:
        area = self.rng.choice(["443", "33", "951", "747", "961", "55"])
        return f"+52 {area} {self.rng.randrange(10**6, 10**7)}"

    def entity(self, entity_id: int) -> Record:
        rng = self.rng
        sex = rng.choice("FM")
        given = (self.female if sex == "F" else self.male)()
        s1, s2 = self.surname(), self.surname()
        dob = self._date()
        has_curp = rng.random() < 0.7
        return Record(
            unique_id=self._id(),
            entity_id=entity_id,
            role="original",
            given_names=given,
            first_surname=s1,
            second_surname=s2 if rng.random() > 0.05 else "",
            sex=sex,
            birth_date=dob,
            curp=self._curp(given, s1, s2, dob, sex) if has_curp else "",
            phone=self._phone() if rng.random() < 0.75 else "",
            email=f"{given.split()[0].lower().translate(_PLAIN)}.{rng.randrange(10**5)}@example.org"
            if rng.random() < 0.2
            else "",
            passport=f"G{rng.randrange(10**7, 10**8)}" if rng.random() < 0.2 else "",
        )

    # --- corruptions --------------------------------------------------------------------------------------

    def _typo(self, word: str) -> str:
        if len(word) < 4:
            return word
        rng = self.rng
        i = rng.randrange(1, len(word) - 1)
        kind = rng.choice(["sub", "del", "swap"])
        if kind == "sub":
            return word[:i] + rng.choice("aeiourstnl") + word[i + 1 :]
        if kind == "del":
            return word[:i] + word[i + 1 :]
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]

    def _phonetic(self, word: str) -> str:
        low = word.lower()
        options = [(a, b) for a, b in _PHONETIC if a in low]
        if not options:
            return word
        a, b = self.rng.choice(options)
        out = low.replace(a, b, 1)
        return out[:1].upper() + out[1:]

    def corrupt(self, rec: Record, kind: str) -> bool:
        """Apply one corruption in place; False when it does not apply to this record."""
        rng = self.rng
        if kind == "surnames_swapped" and rec.second_surname:
            rec.first_surname, rec.second_surname = rec.second_surname, rec.first_surname
        elif kind == "second_missing" and rec.second_surname:
            rec.second_surname = ""
        elif kind == "surnames_merged" and rec.second_surname:
            sep = rng.choice(["", "-"])
            rec.first_surname = f"{rec.first_surname}{sep}{rec.second_surname}"
            rec.second_surname = ""
        elif kind == "us_middle_name" and rec.second_surname:
            rec.given_names = f"{rec.given_names.split()[0]} {rec.first_surname}"
            rec.first_surname, rec.second_surname = rec.second_surname, ""
        elif kind == "compound_short" and len(rec.given_names.split()) >= 2:
            words = rec.given_names.split()
            if words[0] == "María" and rng.random() < 0.5:
                rec.given_names = " ".join(["Ma.", *words[1:]])
            else:
                rec.given_names = (
                    words[-1] if words[-2].lower() not in ("de", "del") else " ".join(words[-2:])
                )
        elif kind == "nickname":
            words = rec.given_names.split()
            for i, word in enumerate(words):
                nicks = _NICK_FOR.get(word.lower().translate(_PLAIN))
                if nicks:
                    words[i] = rng.choice(nicks).capitalize()
                    rec.given_names = words[i] if rng.random() < 0.5 else " ".join(words)
                    return True
            return False
        elif kind == "particle":
            for attr in ("first_surname", "second_surname"):
                value = getattr(rec, attr)
                if value.lower().startswith("de "):
                    words = value.split()
                    setattr(rec, attr, words[-1] if rng.random() < 0.5 else "".join(words).capitalize())
                    return True
            return False
        elif kind == "accents":
            for attr in ("given_names", "first_surname", "second_surname"):
                value = getattr(rec, attr).translate(_PLAIN)
                setattr(rec, attr, value.upper() if rng.random() < 0.3 else value)
        elif kind == "phonetic":
            attr = rng.choice(["given_names", "first_surname", "second_surname"])
            value = getattr(rec, attr)
            if not value:
                return False
            words = value.split()
            i = rng.randrange(len(words))
            changed = self._phonetic(words[i])
            if changed == words[i]:
                return False
            words[i] = changed
            setattr(rec, attr, " ".join(words))
        elif kind == "typo":
            attr = rng.choice(["given_names", "first_surname", "second_surname"])
            value = getattr(rec, attr)
            if len(value) < 5:
                return False
            setattr(rec, attr, self._typo(value))
        elif (
            kind == "dob_swap"
            and rec.birth_date
            and rec.birth_date.day <= 12
            and rec.birth_date.day != rec.birth_date.month
        ):
            d = rec.birth_date
            rec.birth_date = datetime.date(d.year, d.day, d.month)
        elif kind == "dob_approx" and rec.birth_date:
            rec.birth_date = datetime.date(rec.birth_date.year + rng.randint(-2, 2), 1, 1)
            rec.birth_precision = "estimated"
        elif kind == "dob_typo" and rec.birth_date:
            d = rec.birth_date
            if rng.random() < 0.5:
                rec.birth_date = d + datetime.timedelta(days=rng.choice([-3, -2, -1, 1, 2, 3]))
            else:
                rec.birth_date = d.replace(
                    year=d.year + rng.choice([-10, -1, 1, 10]) if d.year < 1995 else d.year - 1
                )
        elif kind == "curp_typo" and rec.curp:
            i = rng.randrange(len(rec.curp))
            rec.curp = rec.curp[:i] + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + rec.curp[i + 1 :]
        elif kind == "curp_missing" and rec.curp:
            rec.curp = ""
        elif kind == "phone_format" and rec.phone:
            digits = rec.phone.replace("+52", "").replace(" ", "")
            rec.phone = rng.choice([digits, f"{digits[:3]} {digits[3:6]} {digits[6:]}", f"52{digits}"])
        elif kind == "passport_missing" and rec.passport:
            rec.passport = ""
        elif kind == "phone_missing" and rec.phone:
            rec.phone = "" if rng.random() < 0.6 else self._phone()
        else:
            return False
        return True

    def duplicate(self, original: Record, max_corruptions: int = 3) -> Record:
        rec = Record(**{**original.__dict__, "corruptions": []})
        rec.unique_id = self._id()
        rec.role = "duplicate"
        wanted = self.rng.choice([1, 1, 2, 2, 3][: max(1, min(5, max_corruptions + 2))])
        wanted = min(wanted, max_corruptions)
        tries = 0
        while len(rec.corruptions) < wanted and tries < 30:
            tries += 1
            kind = self.rng.choice(CORRUPTIONS)
            if kind in rec.corruptions or any(
                kind in pair and c in pair for c in rec.corruptions for pair in _CLASH
            ):
                continue
            if self.corrupt(rec, kind):
                rec.corruptions.append(kind)
        return rec

    def sibling(self, original: Record, entity_id: int) -> Record:
        sex = self.rng.choice("FM")
        given = original.given_names
        while given == original.given_names:
            given = (self.female if sex == "F" else self.male)()
        assert original.birth_date is not None
        dob = original.birth_date + datetime.timedelta(
            days=self.rng.choice([-1, 1]) * self.rng.randint(365, 12 * 365)
        )
        return Record(
            unique_id=self._id(),
            entity_id=entity_id,
            role="sibling",
            source_entity=original.entity_id,
            given_names=given,
            first_surname=original.first_surname,
            second_surname=original.second_surname,
            sex=sex,
            birth_date=dob,
            curp=self._curp(given, original.first_surname, original.second_surname, dob, sex)
            if original.curp
            else "",
            phone=original.phone if self.rng.random() < 0.5 else "",
        )

    def parent(self, original: Record, entity_id: int) -> Record:
        assert original.birth_date is not None
        dob = original.birth_date - datetime.timedelta(days=self.rng.randint(18 * 365, 40 * 365))
        return Record(
            unique_id=self._id(),
            entity_id=entity_id,
            role="parent",
            source_entity=original.entity_id,
            given_names=original.given_names,
            first_surname=original.first_surname,
            second_surname=self.surname(),
            sex=original.sex,
            birth_date=dob,
            curp=self._curp(original.given_names, original.first_surname, "X", dob, original.sex)
            if original.curp
            else "",
            phone=original.phone if self.rng.random() < 0.5 else "",
        )

    def father_son(self, original: Record, entity_id: int) -> Record:
        """The parent shares the *whole* name (José Luis García López Sr. and Jr.), as sons named after
        their fathers do; surnames stay (a son's first surname is his father's, the second may coincide)."""
        rec = self.parent(original, entity_id)
        rec.second_surname = original.second_surname
        return rec


def generate(
    entities: int, *, seed: int = 1, duplicate_share: float = 0.5, hard_negative_share: float = 0.2
) -> Iterator[Record]:
    """Records for ``entities`` persons: originals, their duplicates, and hard negatives, shuffled."""
    gen = Generator(seed)
    out: list[Record] = []
    next_entity = entities
    for entity_id in range(entities):
        original = gen.entity(entity_id)
        out.append(original)
        if gen.rng.random() < duplicate_share:
            for _ in range(gen.rng.choice([1, 1, 1, 2])):
                out.append(gen.duplicate(original))
        if gen.rng.random() < hard_negative_share and original.birth_date:
            next_entity += 1
            if gen.rng.random() < 0.5:
                out.append(gen.sibling(original, next_entity))
            else:
                out.append(gen.father_son(original, next_entity))
    gen.rng.shuffle(out)
    yield from out


def true_pairs(records: list[Record]) -> set[tuple[int, int]]:
    by_entity: dict[int, list[int]] = {}
    for r in records:
        by_entity.setdefault(r.entity_id, []).append(r.unique_id)
    pairs: set[tuple[int, int]] = set()
    for ids in by_entity.values():
        ids.sort()
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                pairs.add((a, b))
    return pairs
