"""The Fellegi–Sunter person model: comparisons, their levels, and the trained parameters.

Each comparison level is written twice, side by side: as the SQL condition Splink evaluates in DuckDB (batch
deduplication, training) and as the Python test intake uses. ``tests/test_model_parity.py`` runs Splink and
this module over the same pairs and requires identical levels and weights, so the two cannot drift.

Parameters (m and u probability per level, and the prior) are trained with Splink (``rumbo train_matcher``)
and stored as Splink's own model JSON: ``rumbo/matching/data/person_model.json`` ships with Rumbo; a
deployment can train its own from its registry and adjudication labels and point ``RUMBO_MATCH_MODEL`` at it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rapidfuzz.distance import Levenshtein

from rumbo.matching.features import Features

BUNDLED_MODEL = Path(__file__).resolve().parent / "data" / "person_model.json"

Test = Callable[[Features, Features], bool]


@dataclass(frozen=True)
class Level:
    name: str
    label: Promise
    agreement: str  # agree | partial | disagree | missing
    sql: str
    test: Test
    is_null: bool = False


@dataclass(frozen=True)
class ComparisonSpec:
    field: str  # what the user sees it as: given_names, surnames, birth_date…
    column: str  # Splink's output_column_name
    label: Promise
    levels: tuple[Level, ...]


def _null(column: str) -> str:
    return f"l.{column} IS NULL OR r.{column} IS NULL"


def _lev(a: str, b: str, limit: int) -> bool:
    return Levenshtein.distance(a, b, score_cutoff=limit) <= limit


def _share(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
    """Whether two short lists have an element in common (DuckDB's list_has_any)."""
    return any(k in y for k in x)


def _days(a: Features, b: Features) -> int:
    assert a.birth_date is not None and b.birth_date is not None
    return abs((a.birth_date - b.birth_date).days)


def _both_exact(a: Features, b: Features) -> bool:
    return a.birth_precision == "day" and b.birth_precision == "day"


def _years(a: Features, b: Features) -> int:
    assert a.birth_date is not None and b.birth_date is not None
    return abs(a.birth_date.year - b.birth_date.year)


_BOTH_DAY = "l.birth_precision = 'day' AND r.birth_precision = 'day'"


def _dob_close(a: Features, b: Features) -> bool:
    assert a.birth_date is not None and b.birth_date is not None
    return (
        _days(a, b) <= 62
        or (a.birth_date.month == b.birth_date.month and a.birth_date.day == b.birth_date.day)
        or (not _both_exact(a, b) and a.birth_date.year == b.birth_date.year)
    )


COMPARISONS: tuple[ComparisonSpec, ...] = (
    ComparisonSpec(
        "given_names",
        "given",
        _("Given names"),
        (
            Level(
                "null", _("missing"), "missing", _null("given"), lambda a, b: not a.given or not b.given, True
            ),
            Level("exact", _("identical"), "agree", "l.given = r.given", lambda a, b: a.given == b.given),
            Level(
                "form",
                _("same name, nickname, abbreviation or one of a compound name"),
                "partial",
                "list_has_any(l.given_keys, r.given_keys)",
                lambda a, b: _share(a.given_keys, b.given_keys),
            ),
            Level(
                "typo",
                _("spelt slightly differently"),
                "partial",
                "levenshtein(l.given, r.given) <= 2",
                lambda a, b: _lev(a.given, b.given, 2),
            ),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
    ComparisonSpec(
        "surnames",
        "surnames",
        _("Surnames"),
        (
            Level(
                "null",
                _("missing"),
                "missing",
                _null("surnames"),
                lambda a, b: not a.surnames or not b.surnames,
                True,
            ),
            Level(
                "exact",
                _("identical"),
                "agree",
                "l.surnames = r.surnames",
                lambda a, b: a.surnames == b.surnames,
            ),
            Level(
                "same_set",
                _("the same surnames, in another order or spelling"),
                "agree",
                "l.surname_keys = r.surname_keys",
                lambda a, b: a.surname_keys == b.surname_keys,
            ),
            Level(
                "first",
                _("same first surname, second missing or different"),
                "partial",
                "l.first_surname_key = r.first_surname_key",
                lambda a, b: a.first_surname_key == b.first_surname_key,
            ),
            Level(
                "moved",
                _("one surname in common, the other written among the given names (US paperwork)"),
                "partial",
                "list_has_any(l.surname_keys, r.surname_keys) AND (list_has_any(l.surname_keys, r.given_keys)"
                " OR list_has_any(r.surname_keys, l.given_keys))",
                lambda a, b: (
                    _share(a.surname_keys, b.surname_keys)
                    and bool(_share(a.surname_keys, b.given_keys) or _share(b.surname_keys, a.given_keys))
                ),
            ),
            Level(
                "any",
                _("one surname in common"),
                "partial",
                "list_has_any(l.surname_keys, r.surname_keys)",
                lambda a, b: _share(a.surname_keys, b.surname_keys),
            ),
            Level(
                "typo",
                _("spelt slightly differently or written together"),
                "partial",
                "levenshtein(l.surnames, r.surnames) <= 2",
                lambda a, b: _lev(a.surnames, b.surnames, 2),
            ),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
    ComparisonSpec(
        "birth_date",
        "birth_date",
        _("Date of birth"),
        (
            Level(
                "null",
                _("missing"),
                "missing",
                _null("birth_date"),
                lambda a, b: a.birth_date is None or b.birth_date is None,
                True,
            ),
            Level(
                "exact",
                _("identical"),
                "agree",
                f"l.birth_date = r.birth_date AND {_BOTH_DAY}",
                lambda a, b: a.birth_date == b.birth_date and _both_exact(a, b),
            ),
            Level(
                "swapped",
                _("day and month swapped"),
                "partial",
                "day(l.birth_date) = month(r.birth_date) AND month(l.birth_date) = day(r.birth_date)"
                f" AND year(l.birth_date) = year(r.birth_date) AND {_BOTH_DAY}",
                lambda a, b: (
                    a.birth_date is not None
                    and b.birth_date is not None
                    and a.birth_date.day == b.birth_date.month
                    and a.birth_date.month == b.birth_date.day
                    and a.birth_date.year == b.birth_date.year
                    and _both_exact(a, b)
                ),
            ),
            Level(
                "close",
                _("close: within two months, another year on the same day, or same year when approximate"),
                "partial",
                "abs(date_diff('day', l.birth_date, r.birth_date)) <= 62"
                " OR (month(l.birth_date) = month(r.birth_date) AND day(l.birth_date) = day(r.birth_date))"
                " OR (NOT (l.birth_precision = 'day' AND r.birth_precision = 'day')"
                " AND year(l.birth_date) = year(r.birth_date))",
                _dob_close,
            ),
            Level(
                "estimate",
                _("an estimated date within two years"),
                "partial",
                f"NOT ({_BOTH_DAY}) AND abs(year(l.birth_date) - year(r.birth_date)) <= 2",
                lambda a, b: not _both_exact(a, b) and _years(a, b) <= 2,
            ),
            Level(
                "approximate",
                _("within two years"),
                "partial",
                "abs(year(l.birth_date) - year(r.birth_date)) <= 2",
                lambda a, b: _years(a, b) <= 2,
            ),
            Level(
                "far",
                _("a generation apart (12 years or more)"),
                "disagree",
                "abs(year(l.birth_date) - year(r.birth_date)) >= 12",
                lambda a, b: _years(a, b) >= 12,
            ),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
    ComparisonSpec(
        "curp",
        "curp",
        _("CURP"),
        (
            Level(
                "null", _("missing"), "missing", _null("curp"), lambda a, b: not a.curp or not b.curp, True
            ),
            Level("exact", _("identical"), "agree", "l.curp = r.curp", lambda a, b: a.curp == b.curp),
            Level(
                "typo",
                _("one or two characters differ"),
                "partial",
                "levenshtein(l.curp, r.curp) <= 2",
                lambda a, b: _lev(a.curp, b.curp, 2),
            ),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
    ComparisonSpec(
        "documents",
        "documents",
        _("Other documents"),
        (
            Level(
                "null",
                _("missing"),
                "missing",
                _null("documents"),
                lambda a, b: not a.documents or not b.documents,
                True,
            ),
            Level(
                "shared",
                _("a document number in common"),
                "agree",
                "list_has_any(l.documents, r.documents)",
                lambda a, b: _share(a.documents, b.documents),
            ),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
    ComparisonSpec(
        "phones",
        "phones",
        _("Phones"),
        (
            Level(
                "null",
                _("missing"),
                "missing",
                _null("phones"),
                lambda a, b: not a.phones or not b.phones,
                True,
            ),
            Level(
                "shared",
                _("a phone number in common"),
                "agree",
                "list_has_any(l.phones, r.phones)",
                lambda a, b: _share(a.phones, b.phones),
            ),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
    ComparisonSpec(
        "email",
        "email",
        _("Email"),
        (
            Level(
                "null", _("missing"), "missing", _null("email"), lambda a, b: not a.email or not b.email, True
            ),
            Level("exact", _("identical"), "agree", "l.email = r.email", lambda a, b: a.email == b.email),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
    ComparisonSpec(
        "sex",
        "sex",
        _("Sex"),
        (
            Level("null", _("missing"), "missing", _null("sex"), lambda a, b: not a.sex or not b.sex, True),
            Level("exact", _("same"), "agree", "l.sex = r.sex", lambda a, b: a.sex == b.sex),
            Level("else", _("different"), "disagree", "ELSE", lambda a, b: True),
        ),
    ),
)

# Columns of the DuckDB table Splink reads (see ``splink_frame``): lists are DuckDB VARCHAR[].
LIST_COLUMNS = ("given_keys", "surname_keys", "documents", "phones")
SCALAR_COLUMNS = (
    "given",
    "surnames",
    "first_surname_key",
    "birth_date",
    "birth_precision",
    "sex",
    "curp",
    "email",
)


_SIDE = re.compile(r"\b([lr])\.(\w+)")


def splink_sql(sql: str) -> str:
    """A level's condition as Splink writes comparison levels ("l.given" → "given_l")."""
    return _SIDE.sub(r"\2_\1", sql)


def splink_comparisons() -> list[dict[str, Any]]:
    """The comparisons as Splink settings (dict form), without parameters."""
    out = []
    for spec in COMPARISONS:
        levels = []
        for level in spec.levels:
            entry: dict[str, Any] = {"sql_condition": splink_sql(level.sql), "label_for_charts": level.name}
            if level.is_null:
                entry["is_null_level"] = True
            levels.append(entry)
        out.append({"output_column_name": spec.column, "comparison_levels": levels})
    return out


def splink_settings(*, blocking_rules: list[Any] | None = None) -> dict[str, Any]:
    """Untrained Splink settings for the person model (dedupe of one registry)."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": splink_comparisons(),
        "blocking_rules_to_generate_predictions": blocking_rules or [],
        "retain_intermediate_calculation_columns": False,
        "retain_matching_columns": False,
        "additional_columns_to_retain": [],
    }


@dataclass(frozen=True)
class TrainedModel:
    """m/u-derived weights per comparison level, and the prior, read from Splink's model JSON."""

    prior_weight: float
    weights: tuple[tuple[float, ...], ...]  # [comparison][level]; 0 for null levels
    source: str

    @property
    def prior_probability(self) -> float:
        return 1 / (1 + 2 ** (-self.prior_weight))


def _weight(level: dict[str, Any]) -> float:
    if level.get("is_null_level"):
        return 0.0
    m, u = level.get("m_probability"), level.get("u_probability")
    if not m or not u:
        raise ValueError(f"untrained level {level.get('label_for_charts')!r}")
    return math.log2(m / u)


def load_model(path: Path | str) -> TrainedModel:
    """Read a Splink model JSON and check it describes exactly :data:`COMPARISONS`."""
    data = json.loads(Path(path).read_text())
    lam = data["probability_two_random_records_match"]
    weights: list[tuple[float, ...]] = []
    by_column = {c["output_column_name"]: c for c in data["comparisons"]}
    for spec in COMPARISONS:
        stored = by_column.get(spec.column)
        if stored is None:
            raise ValueError(f"model {path} has no comparison {spec.column!r}")
        levels = stored["comparison_levels"]
        sqls = [lv["sql_condition"] for lv in levels]
        expected = [splink_sql(lv.sql) for lv in spec.levels]
        if [s.replace(" ", "") for s in sqls] != [s.replace(" ", "") for s in expected]:
            raise ValueError(f"model {path}: comparison {spec.column!r} was trained with other levels")
        weights.append(tuple(_weight(lv) for lv in levels))
    return TrainedModel(math.log2(lam / (1 - lam)), tuple(weights), str(path))


@cache
def current_model() -> TrainedModel:
    """The model in use: ``RUMBO_MATCH_MODEL`` if set, else the bundled one."""
    path = getattr(settings, "RUMBO_MATCH_MODEL", "") or BUNDLED_MODEL
    return load_model(path)


def model_path() -> Path:
    return Path(getattr(settings, "RUMBO_MATCH_MODEL", "") or BUNDLED_MODEL)


def levels_of(a: Features, b: Features) -> tuple[int, ...]:
    """The comparison vector (Splink's gamma values): for each comparison, the index of the first level that
    holds, counted as Splink counts them (null level -1, the others from the last (else) = 0 upwards)."""
    out = []
    for spec in COMPARISONS:
        n = len(spec.levels)
        for i, level in enumerate(spec.levels):
            if level.test(a, b):
                out.append(-1 if level.is_null else n - 1 - i)
                break
    return tuple(out)


def level_index(spec: ComparisonSpec, gamma: int) -> int:
    """Position in ``spec.levels`` of a Splink gamma value."""
    return 0 if gamma == -1 else len(spec.levels) - 1 - gamma
