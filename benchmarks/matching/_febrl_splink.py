"""The two Splink models of the FEBRL benchmark and the one unsupervised training recipe they share.

``rumbo_comparisons`` is the designed model (the ideas Rumbo's person model reuses); ``default_comparisons``
is what Splink's tutorial would build with library defaults. Both are trained the same way, without the true
links:

1. ``probability_two_random_records_match`` from deterministic rules (same SSN; same names and date of birth)
   with an a-priori recall of 0.9;
2. u by random sampling of record pairs;
3. m by expectation maximisation, once per EM blocking rule (date of birth, postcode, surname), each session
   estimating the comparisons its rule does not touch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from _febrl_data import BLOCKING_RULES, Dataset
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator

logging.getLogger("splink").setLevel(logging.ERROR)

Comparisons = list[ComparisonCreator | dict[str, Any]]


# --- SQL fragments ----------------------------------------------------------------------------------------
# DuckDB's damerau_levenshtein is ~10x slower than jaro_winkler_similarity, and nearly every pair sampled
# for u is a non-match that falls through every level, so the edit distance only runs behind a cheap
# Jaro-Winkler guard, inside CASE because DuckDB evaluates both sides of AND. The guards are below the lowest
# Jaro-Winkler that the edit budget allows for these fields' lengths (dates 8, SSNs 7, postcodes 4 digits);
# for names only two edits in a name of 4 letters or fewer, with no common first letter, can fail them.


def _c(col: str, side: str) -> str:
    return f'"{col}_{side}"'


def _ns(col: str, side: str) -> str:
    """The value without spaces (a column added by ``_febrl_data``)."""
    return f'"{col}_ns_{side}"'


def _jw(a: str, b: str) -> str:
    return f"jaro_winkler_similarity({a}, {b})"


def _edits(a: str, b: str, n: int, guard: float) -> str:
    """At most ``n`` insertions, deletions, substitutions or adjacent transpositions."""
    return f"(case when {_jw(a, b)} >= {guard} then damerau_levenshtein({a}, {b}) <= {n} else false end)"


def _level(sql: str, label: str) -> cll.CustomLevel:
    return cll.CustomLevel(sql, label_for_charts=label)


def _exact(col: str, tf: bool) -> ComparisonLevelCreator:
    return cll.ExactMatchLevel(col, term_frequency_adjustments=tf)


# --- Rumbo's comparisons ----------------------------------------------------------------------------------


def _name(col: str, other: str) -> cl.CustomComparison:
    """A name: exact (with term frequencies), one edit (spaces ignored), close, or found in the other name
    field of the other record (given name and surname swapped, wholly or in part)."""
    a, b = _ns(col, "l"), _ns(col, "r")
    swapped = (
        f"{_jw(_ns(col, 'l'), _ns(other, 'r'))} >= 0.92 or {_jw(_ns(other, 'l'), _ns(col, 'r'))} >= 0.92"
    )
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            _exact(col, tf=True),
            _level(f"{a} = {b} or {_edits(a, b, 1, 0.7)}", "one edit, spaces ignored"),
            _level(f"{_jw(a, b)} >= 0.92 or {_edits(a, b, 2, 0.7)}", "Jaro-Winkler >= 0.92 or two edits"),
            _level(swapped, "given name and surname swapped"),
            cll.ElseLevel(),
        ],
    )


def _date_of_birth() -> cl.CustomComparison:
    """YYYYMMDD strings, compared as text: FEBRL corrupts digits, so some are not valid dates."""
    col = "date_of_birth"
    a, b = _c(col, "l"), _c(col, "r")
    swap = (
        f"substr({a}, 1, 4) = substr({b}, 1, 4) and substr({a}, 5, 2) = substr({b}, 7, 2)"
        f" and substr({a}, 7, 2) = substr({b}, 5, 2)"
    )
    year_close = f"abs(try_cast(substr({a}, 1, 4) as integer) - try_cast(substr({b}, 1, 4) as integer)) <= 1"
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            _exact(col, tf=False),
            # FEBRL never swaps day and month, so EM sees almost no such pairs and can drive m to ~0 (a veto
            # weight of -29 on FEBRL4). m is fixed a priori instead; u is still estimated.
            _level(swap, "day and month swapped").configure(m_probability=0.01, fix_m_probability=True),
            _level(_edits(a, b, 1, 0.85), "one digit wrong or two adjacent swapped"),
            _level(year_close, "year within 1"),
            cll.ElseLevel(),
        ],
    )


def _soc_sec_id() -> cl.CustomComparison:
    col = "soc_sec_id"
    a, b = _c(col, "l"), _c(col, "r")
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            _exact(col, tf=False),
            _level(_edits(a, b, 1, 0.85), "one edit"),
            _level(_edits(a, b, 2, 0.7), "two edits"),
            cll.ElseLevel(),
        ],
    )


def _postcode() -> cl.CustomComparison:
    """Four digits: exact (with term frequencies) or one edit (a wrong or transposed digit)."""
    col = "postcode"
    a, b = _c(col, "l"), _c(col, "r")
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            _exact(col, tf=True),
            _level(_edits(a, b, 1, 0.6), "one edit"),
            cll.ElseLevel(),
        ],
    )


def _address_line(col: str, other: str) -> cl.CustomComparison:
    """An address line: exact, near (spaces ignored), close, or found in the other address line of the other
    record (FEBRL swaps address_1 and address_2)."""
    a, b = _ns(col, "l"), _ns(col, "r")
    crossed = (
        f"{_jw(_ns(col, 'l'), _ns(other, 'r'))} >= 0.92 or {_jw(_ns(other, 'l'), _ns(col, 'r'))} >= 0.92"
    )
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            _exact(col, tf=True),
            _level(f"{a} = {b} or {_jw(a, b)} >= 0.95", "Jaro-Winkler >= 0.95, spaces ignored"),
            _level(f"{_jw(a, b)} >= 0.88", "Jaro-Winkler >= 0.88"),
            _level(crossed, "address lines swapped"),
            cll.ElseLevel(),
        ],
    )


def _suburb() -> cl.CustomComparison:
    col = "suburb"
    a, b = _ns(col, "l"), _ns(col, "r")
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            _exact(col, tf=True),
            _level(f"{a} = {b} or {_jw(a, b)} >= 0.92", "Jaro-Winkler >= 0.92, spaces ignored"),
            cll.ElseLevel(),
        ],
    )


def rumbo_comparisons() -> Comparisons:
    return [
        _name("given_name", "surname"),
        _name("surname", "given_name"),
        _date_of_birth(),
        _soc_sec_id(),
        # One edit in a street number is as common between strangers as between duplicates: exact or not.
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        _address_line("address_1", "address_2"),
        _address_line("address_2", "address_1"),
        _suburb(),
        _postcode(),
        cl.ExactMatch("state"),
    ]


# --- Splink's defaults ------------------------------------------------------------------------------------


def default_comparisons() -> Comparisons:
    """What the Splink tutorial builds: library comparisons with their default levels, no tuning."""
    return [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison(
            "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
        ),
        cl.ExactMatch("soc_sec_id"),
        cl.ExactMatch("street_number"),
        cl.ExactMatch("address_1"),
        cl.ExactMatch("suburb"),
        cl.ExactMatch("postcode"),
        cl.ExactMatch("state"),
    ]


# --- Training and prediction ------------------------------------------------------------------------------

DETERMINISTIC_RULES: list[str | BlockingRuleCreator] = [
    block_on("soc_sec_id"),
    block_on("given_name", "surname", "date_of_birth"),
]
DETERMINISTIC_RECALL = 0.9
EM_RULES = [block_on("date_of_birth"), block_on("postcode"), block_on("surname")]
U_MAX_PAIRS = 1e6


@dataclass(frozen=True)
class SplinkRun:
    """Every compared pair with its match probability, how many pairs were compared, and the wall time."""

    scored: pd.DataFrame  # id_l, id_r (canonical order), score = match probability
    pairs_compared: int
    seconds: float
    linker: Linker


def run(ds: Dataset, comparisons: Callable[[], Comparisons], seed: int = 42) -> SplinkRun:
    """Train a model with ``comparisons`` on ``ds`` (unsupervised) and score every blocked pair."""
    started = time.perf_counter()
    db_api = DuckDBAPI()
    settings = SettingsCreator(
        link_type=ds.link_type,
        unique_id_column_name="rec_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=[CustomRule(rule) for rule in BLOCKING_RULES],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    inputs = ds.frames if len(ds.frames) > 1 else ds.frames[0]
    linker = Linker(inputs, settings, db_api, set_up_basic_logging=False)
    linker.training.estimate_probability_two_random_records_match(
        DETERMINISTIC_RULES, recall=DETERMINISTIC_RECALL
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=seed)
    for rule in EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    predictions = linker.inference.predict().as_pandas_dataframe()
    seconds = time.perf_counter() - started
    a = predictions["rec_id_l"].astype(str)
    b = predictions["rec_id_r"].astype(str)
    scored = pd.DataFrame(
        {
            "id_l": a.where(a <= b, b),
            "id_r": b.where(a <= b, a),
            "score": predictions["match_probability"].astype(float),
        }
    )
    return SplinkRun(scored, len(scored), seconds, linker)
