"""Matching quality on the synthetic Hispanic-names set (corruption model in rumbo/matching/synthetic.py).

    .venv/bin/python benchmarks/matching/synthetic.py [--entities 20000] [--seed 99] [--json]

The evaluation set uses another seed than the bundled model's training set (seed 11). It prints:

- **batch**: Splink (DuckDB) with the bundled model over every pair sharing a blocking key, at the default
  review threshold 0.5 fixed in advance: precision, recall, F1 over true pairs, and the blocking recall
  (share of true pairs that are compared at all);
- **hard negatives**: siblings and fathers/sons against their look-alike family members — the share kept
  apart, and precision within families (predicted pairs inside a family that are true duplicates);
- **intake recall@10**: for every duplicate record, is a record of the same person among the top 10 shown
  (at or above the intake threshold 0.1)? Candidates are retrieved by the same blocking keys and ranked by
  the same code as ``rumbo.matching.selectors`` (key lookup in memory instead of the database: the speed of
  the database lookup is measured by benchmarks/matching/speed.py);
- recall per corruption kind, so a weak spot shows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")
os.environ.setdefault("RUMBO_DATA_DIR", "/tmp/rumbo-bench-matching")  # noqa: S108 (scratch, benchmark only)

import django

django.setup()

from rumbo.matching import splink_model  # noqa: E402
from rumbo.matching.keys import blocking_keys  # noqa: E402
from rumbo.matching.model import BUNDLED_MODEL, current_model  # noqa: E402
from rumbo.matching.scoring import match_weight_only, probability  # noqa: E402
from rumbo.matching.selectors import MAX_CANDIDATES  # noqa: E402
from rumbo.matching.synthetic import Record, generate, true_pairs  # noqa: E402

REVIEW_THRESHOLD = 0.5
INTAKE_THRESHOLD = 0.1


def _prf(predicted: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, float]:
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "pairs": len(predicted)}


def batch(records: list[Record]) -> dict[str, Any]:
    by_id = {r.unique_id: r for r in records}
    truth = true_pairs(records)
    started = time.perf_counter()
    df = splink_model.frame((r.unique_id, r.features()) for r in records)
    pairs, compared = splink_model.predict(df, BUNDLED_MODEL, threshold=0.01)
    seconds = time.perf_counter() - started
    scored = [
        ((min(a, b), max(a, b)), p)
        for a, b, p in zip(pairs.unique_id_l, pairs.unique_id_r, pairs.match_probability, strict=True)
    ]
    predicted = {pair for pair, p in scored if p >= REVIEW_THRESHOLD}
    out: dict[str, Any] = dict(_prf(predicted, truth))
    # Blocking recall: true pairs sharing at least one key (all of them reach Splink's comparison).
    keys = {r.unique_id: set(blocking_keys(r.features())) for r in records}
    out["blocking_recall"] = sum(1 for a, b in truth if keys[a] & keys[b]) / len(truth)
    out["compared"] = compared
    out["seconds"] = seconds
    # Hard negatives: each look-alike (sibling, father or son) against every record of the person it was
    # made from. Precision within families: of the pairs predicted inside such families, the true ones.
    all_hard_pairs = _all_hard_pairs(records)
    linked = all_hard_pairs & predicted
    families = {r.source_entity for r in records if r.source_entity is not None}
    family_true = {(a, b) for a, b in predicted & truth if by_id[a].entity_id in families}
    out["hard_negative_pairs"] = len(all_hard_pairs)
    out["hard_negative_linked"] = len(linked)
    out["hard_negatives_kept_apart"] = 1 - len(linked) / len(all_hard_pairs) if all_hard_pairs else 1.0
    out["precision_within_families"] = (
        len(family_true) / (len(family_true) + len(linked)) if family_true else 1.0
    )
    # Recall per corruption.
    missed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for a, b in truth:
        kinds = set(by_id[a].corruptions) | set(by_id[b].corruptions)
        for kind in kinds:
            total[kind] += 1
            if (a, b) not in predicted:
                missed[kind] += 1
    out["recall_by_corruption"] = {k: round(1 - missed[k] / total[k], 4) for k in sorted(total)}
    return out


def _all_hard_pairs(records: list[Record]) -> set[tuple[int, int]]:
    """Pairs (look-alike, record of the person it was made from)."""
    by_entity: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        by_entity[r.entity_id].append(r)
    out: set[tuple[int, int]] = set()
    for r in records:
        if r.role not in ("sibling", "parent") or r.source_entity is None:
            continue
        for other in by_entity[r.source_entity]:
            out.add((min(r.unique_id, other.unique_id), max(r.unique_id, other.unique_id)))
    return out


def intake(records: list[Record]) -> dict[str, Any]:
    model = current_model()
    features = {r.unique_id: r.features() for r in records}
    index: dict[int, list[int]] = defaultdict(list)
    for uid, f in features.items():
        for key in blocking_keys(f):
            index[key].append(uid)
    entity = {r.unique_id: r.entity_id for r in records}
    queries = [r for r in records if r.role == "duplicate"]
    found = 0
    ranks: Counter[int] = Counter()
    started = time.perf_counter()
    for q in queries:
        counts: Counter[int] = Counter()
        for key in blocking_keys(features[q.unique_id], query=True):
            counts.update(index.get(key, ()))
        counts.pop(q.unique_id, None)
        ids = [uid for uid, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CANDIDATES]]
        scored = sorted(
            ((match_weight_only(features[q.unique_id], features[uid], model), uid) for uid in ids),
            key=lambda s: (-s[0], s[1]),
        )
        shown = [uid for w, uid in scored if probability(w) >= INTAKE_THRESHOLD][:10]
        hit = next((i for i, uid in enumerate(shown) if entity[uid] == q.entity_id), None)
        if hit is not None:
            found += 1
            ranks[hit + 1] += 1
    seconds = time.perf_counter() - started
    return {
        "queries": len(queries),
        "recall_at_10": found / len(queries),
        "rank_1_share": ranks[1] / len(queries),
        "ms_per_query_in_memory": 1000 * seconds / len(queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    records = list(generate(args.entities, seed=args.seed))
    roles = Counter(r.role for r in records)
    result = {
        "entities": args.entities,
        "records": len(records),
        "roles": dict(roles),
        "true_pairs": len(true_pairs(records)),
        "batch": batch(records),
        "intake": intake(records),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    b, i = result["batch"], result["intake"]
    print(
        f"Synthetic set: {args.entities:,} persons, {len(records):,} records {dict(roles)}, "
        f"{result['true_pairs']:,} true pairs (seed {args.seed})"
    )
    print(
        f"batch (Splink, DuckDB, threshold {REVIEW_THRESHOLD}): precision {b['precision']:.4f}  recall "
        f"{b['recall']:.4f}  F1 {b['f1']:.4f}   blocking recall {b['blocking_recall']:.4f}  "
        f"{b['compared']:,} pairs compared in {b['seconds']:.1f} s"
    )
    print(
        f"hard negatives: {b['hard_negative_pairs']:,} look-alike pairs, {b['hard_negative_linked']} linked, "
        f"kept apart {b['hard_negatives_kept_apart']:.4f}; precision within families "
        f"{b['precision_within_families']:.4f}"
    )
    print(
        f"intake: recall@10 {i['recall_at_10']:.4f} (rank 1: {i['rank_1_share']:.4f}) over {i['queries']:,} "
        f"queries, {i['ms_per_query_in_memory']:.2f} ms/query scoring in memory"
    )
    print("recall by corruption: " + ", ".join(f"{k} {v:.3f}" for k, v in b["recall_by_corruption"].items()))


if __name__ == "__main__":
    main()
