"""Splink on Rumbo's features: training the person model and predicting duplicate pairs in batch.

DuckDB runs it on one machine (the default). For registries beyond one machine Splink's Spark backend runs
the very same settings: pass ``backend="spark"`` with ``pyspark`` installed (see docs/architecture.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rumbo.matching.features import Features
from rumbo.matching.keys import blocking_keys
from rumbo.matching.model import COMPARISONS, LIST_COLUMNS, SCALAR_COLUMNS, splink_settings

logger = logging.getLogger(__name__)

# Blocking rules for expectation maximisation: each leaves some comparisons free to be estimated.
EM_BLOCKING = (
    ("birth_date",),  # estimates the names, CURP, phones…
    ("given", "first_surname_key"),  # estimates the date of birth
    ("curp",),  # estimates the names again, and the date
)
PARAMETER_FLOOR = 1e-6
PRIOR_FLOOR = 1e-6
MIN_EM_PAIRS = 100
# No disagreement is ever treated as impossible among duplicates: real registries have wrong sexes, dates
# and CURPs that no training set shows, so m never falls below this.
M_FLOOR = 1e-3
# Except a generation between the dates of birth: father and son with the same name, often the same phone,
# are the classic false match, and a duplicate with such a date is rarer than one in a hundred thousand.
M_FIXED = {("birth_date", "far"): 1e-5}


def preload() -> None:
    """Import what scoring needs (pandas, Splink, DuckDB) without starting anything (no connection, no
    thread): a process about to fork a scorer calls it so that the child starts with them loaded."""
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import splink  # noqa: F401


#: The column that marks the persons a prediction is about (:func:`predict` with ``fresh``).
FRESH = "fresh"


def _block_on_keys(*, fresh_only: bool = False) -> Any:
    """Pairs sharing a blocking key; with ``fresh_only``, only those involving a person whose
    :data:`FRESH` column is true (the others' pairs are never compared)."""
    from splink import block_on
    from splink.blocking_rule_library import CustomRule

    if fresh_only:
        return CustomRule(
            f"l.block_keys = r.block_keys AND (l.{FRESH} OR r.{FRESH})", arrays_to_explode=["block_keys"]
        )
    return block_on("block_keys", arrays_to_explode=["block_keys"])


def frame(
    rows: Iterable[tuple[int, Features]],
    *,
    with_keys: bool = True,
    keys: Mapping[int, Sequence[int]] | None = None,
) -> Any:
    """A pandas DataFrame of features as Splink reads them: empty values are NULL, lists are lists.
    ``keys``: the blocking keys per person when already known (read from the index), else computed."""
    import pandas as pd

    rows = list(rows)
    columns: dict[str, list[Any]] = {"unique_id": [uid for uid, _ in rows]}
    for col in SCALAR_COLUMNS:
        values = [getattr(f, col) for _, f in rows]
        columns[col] = [v if v != "" else None for v in values]
    for col in LIST_COLUMNS:
        columns[col] = [list(v) if (v := getattr(f, col)) else None for _, f in rows]
    if with_keys:
        if keys is not None:
            columns["block_keys"] = [list(keys[uid]) for uid, _ in rows]
        else:
            columns["block_keys"] = [blocking_keys(f) for _, f in rows]
    df = pd.DataFrame(columns)
    if "birth_date" in df:
        df["birth_date"] = pd.to_datetime(df["birth_date"]).dt.date
    return df


def frame_from_values(rows: Sequence[tuple[int, Sequence[Any]]], *, keys: Mapping[int, Sequence[int]]) -> Any:
    """:func:`frame` from ``MatchProfile`` values (in ``PROFILE_FIELDS`` order) and known blocking keys,
    without a ``Features`` object per person (the duplicate check of a large import loads ~200,000)."""
    import pandas as pd

    from rumbo.matching.features import PROFILE_FIELDS

    at = {name: i for i, name in enumerate(PROFILE_FIELDS)}
    columns: dict[str, list[Any]] = {"unique_id": [uid for uid, _ in rows]}
    for col in SCALAR_COLUMNS:
        i = at[col]
        if col == "birth_precision":  # as ``features_from_values``: "day" when not recorded
            columns[col] = [v[i] or "day" for _, v in rows]
        else:
            columns[col] = [v[i] if v[i] != "" else None for _, v in rows]
    for col in LIST_COLUMNS:  # stored as space-separated words
        i = at[col]
        columns[col] = [v[i].split() or None for _, v in rows]
    columns["block_keys"] = [list(keys[uid]) for uid, _ in rows]
    df = pd.DataFrame(columns)
    df["birth_date"] = pd.to_datetime(df["birth_date"]).dt.date
    return df


def db_api(backend: str = "duckdb", *, threads: int | None = None) -> Any:
    if backend == "spark":
        try:
            from pyspark.sql import SparkSession
            from splink import SparkAPI
        except ImportError as exc:  # pragma: no cover - optional backend
            raise RuntimeError("The Spark backend needs pyspark: pip install pyspark") from exc
        return SparkAPI(spark_session=SparkSession.builder.getOrCreate())
    import duckdb
    from splink import DuckDBAPI

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return DuckDBAPI(connection=con)


def train(
    df: Any,
    *,
    labels: Any = None,
    u_pairs: float = 5e6,
    seed: int = 1,
    backend: str = "duckdb",
) -> dict[str, Any]:
    """Train the person model on a features frame; returns Splink's model dict (settings with m and u).

    Unsupervised: the prior from deterministic rules, u by random sampling, m by expectation maximisation
    over :data:`EM_BLOCKING`. When ``labels`` (a frame of unique_id_l, unique_id_r, clerical_match_score
    from adjudication decisions) is given, m is then re-estimated from the labelled pairs.
    """
    from splink import Linker, block_on

    settings = splink_settings()
    linker = Linker(df, settings, db_api=db_api(backend))
    linker.training.estimate_probability_two_random_records_match(
        ["l.curp = r.curp", "l.given = r.given AND l.surnames = r.surnames AND l.birth_date = r.birth_date"],
        recall=0.8,
    )
    if not linker._settings_obj._probability_two_random_records_match:
        # No deterministic match at all (a registry without duplicates yet): a small prior, not zero.
        linker._settings_obj._probability_two_random_records_match = PRIOR_FLOOR
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    from splink.blocking_analysis import count_comparisons_from_blocking_rule

    for cols in EM_BLOCKING:
        # A registry may have no pair sharing e.g. a CURP: that session cannot run (and a failed session
        # would leave its comparisons out of the model), so it is skipped; the others estimate them.
        counts = count_comparisons_from_blocking_rule(
            table_or_tables=df, blocking_rule=block_on(*cols), link_type="dedupe_only", db_api=db_api(backend)
        )
        if int(counts.get("number_of_comparisons_to_be_scored_post_filter_conditions", 0)) < MIN_EM_PAIRS:
            logger.warning("EM session on %s skipped: too few pairs", cols)
            continue
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*cols), fix_probability_two_random_records_match=True
        )
    if labels is not None and len(labels):
        linker.table_management.register_table(labels, "__rumbo_labels", overwrite=True)
        linker.training.estimate_m_from_pairwise_labels("__rumbo_labels")
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return fill_untrained(model)


def fill_untrained(model: dict[str, Any]) -> dict[str, Any]:
    """Levels no training pair reached get a small probability instead of none (Splink would otherwise treat
    them as neutral at prediction while intake could not), so batch and intake read the same numbers; and m
    gets a floor (:data:`M_FLOOR`)."""
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            level["m_probability"] = M_FIXED.get(
                (comparison["output_column_name"], level["label_for_charts"]),
                max(level.get("m_probability") or 0.0, M_FLOOR),
            )
            level["u_probability"] = max(level.get("u_probability") or 0.0, PARAMETER_FLOOR)
    return model


def save(model: dict[str, Any], path: Path | str) -> None:
    Path(path).write_text(json.dumps(model, indent=2, sort_keys=True, default=str) + "\n")


def _predict_linker(
    df: Any, model_path: Path | str, backend: str, threads: int | None, *, fresh_only: bool = False
) -> Any:
    from splink import Linker

    model = json.loads(Path(model_path).read_text())
    model["blocking_rules_to_generate_predictions"] = [_block_on_keys(fresh_only=fresh_only)]
    model["retain_intermediate_calculation_columns"] = True  # the gamma values explain each pair
    model["retain_matching_columns"] = True
    return Linker(df, model, db_api=db_api(backend, threads=threads))


def _gamma_frame(result: Any) -> Any:
    pairs = result.as_pandas_dataframe()
    gamma_cols = [f"gamma_{spec.column}" for spec in COMPARISONS]
    keep = ["unique_id_l", "unique_id_r", "match_weight", "match_probability", *gamma_cols]
    return pairs[keep]


def predict(
    df: Any,
    model_path: Path | str,
    *,
    threshold: float,
    backend: str = "duckdb",
    threads: int | None = None,
    count: bool = True,
    fresh: Collection[int] | None = None,
) -> tuple[Any, int]:
    """Pairs at or above ``threshold`` match probability, with their gamma values; and the number of pairs
    compared (0 with ``count=False``: counting them is a self-join of every key). Candidate pairs share at
    least one blocking key (the same keys intake looks up). ``fresh``: only the pairs involving one of these
    persons are compared (an import's check: the registry's persons sharing its keys are not compared with
    each other; into a registry of 1,000,000 the pass took 26 s of CPU instead of 36), and not counted."""
    if fresh is not None:
        if count:
            raise ValueError("Only a whole prediction counts its pairs: pass count=False with fresh.")
        df = df.assign(**{FRESH: df["unique_id"].isin(fresh)})
    linker = _predict_linker(df, model_path, backend, threads, fresh_only=fresh is not None)
    result = linker.inference.predict(threshold_match_probability=threshold)
    return _gamma_frame(result), count_pairs(df) if count else 0


def predict_with_clusters(
    df: Any,
    model_path: Path | str,
    *,
    threshold: float,
    backend: str = "duckdb",
    threads: int | None = None,
) -> tuple[Any, int, dict[int, int]]:
    """:func:`predict`, plus Splink's clusters (connected components at ``threshold``) as
    {unique_id: cluster id} for the persons that are in a pair."""
    linker = _predict_linker(df, model_path, backend, threads)
    result = linker.inference.predict(threshold_match_probability=threshold)
    clusters_df = linker.clustering.cluster_pairwise_predictions_at_threshold(
        result, threshold_match_probability=threshold
    ).as_pandas_dataframe()
    pairs = _gamma_frame(result)
    in_pairs = set(pairs["unique_id_l"]).union(pairs["unique_id_r"])
    ids = {
        int(u): int(c)
        for u, c in zip(clusters_df["unique_id"], clusters_df["cluster_id"], strict=True)
        if u in in_pairs
    }
    return pairs, count_pairs(df), ids


def count_pairs(df: Any) -> int:
    """How many distinct pairs share a blocking key (what the batch compares)."""
    import duckdb

    con = duckdb.connect()
    con.register("persons", df[["unique_id", "block_keys"]])
    row = con.execute(
        "WITH k AS (SELECT unique_id, unnest(block_keys) AS key FROM persons) "
        "SELECT count(*) FROM (SELECT DISTINCT a.unique_id, b.unique_id FROM k a JOIN k b "
        "ON a.key = b.key AND a.unique_id < b.unique_id)"
    ).fetchone()
    return int(row[0]) if row else 0


def gamma_rows(pairs: Any) -> Sequence[tuple[int, int, float, float, tuple[int, ...]]]:
    gamma_cols = [f"gamma_{spec.column}" for spec in COMPARISONS]
    out = []
    for row in pairs.itertuples(index=False):
        d = row._asdict()
        out.append(
            (
                int(d["unique_id_l"]),
                int(d["unique_id_r"]),
                float(d["match_weight"]),
                float(d["match_probability"]),
                tuple(int(d[c]) for c in gamma_cols),
            )
        )
    return out
