"""Scoring a pair of persons with the trained Fellegi–Sunter model, with a per-field explanation."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rumbo.matching.features import Features, features_from_person
from rumbo.matching.model import COMPARISONS, TrainedModel, current_model, level_index, levels_of


@dataclass(frozen=True)
class FieldEvidence:
    field: str
    level: str
    label: str
    agreement: str  # agree | partial | disagree | missing
    weight: float

    def as_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "level": self.level,
            "agreement": self.agreement,
            "weight": round(self.weight, 3),
        }


def probability(match_weight: float) -> float:
    if match_weight > 60:
        return 1.0
    if match_weight < -60:
        return 0.0
    return float(2**match_weight / (1 + 2**match_weight))


PRUNED = float("-inf")


def min_weight(min_probability: float) -> float:
    """The match weight of a probability (its inverse): scores are compared as weights."""
    if min_probability <= 0:
        return PRUNED
    if min_probability >= 1:
        return float("inf")
    return math.log2(min_probability / (1 - min_probability))


@dataclass(frozen=True)
class Comparison:
    match_weight: float
    probability: float
    fields: tuple[FieldEvidence, ...]

    def as_json(self) -> list[dict[str, Any]]:
        return [f.as_json() for f in self.fields]

    @property
    def agreeing(self) -> list[FieldEvidence]:
        return [f for f in self.fields if f.agreement == "agree"]


def explain(gammas: Sequence[int], model: TrainedModel | None = None) -> Comparison:
    """The comparison for a vector of Splink gamma values (from intake or from a batch prediction)."""
    model = model or current_model()
    total = model.prior_weight
    fields = []
    for spec, gamma, weights in zip(COMPARISONS, gammas, model.weights, strict=True):
        idx = level_index(spec, gamma)
        level = spec.levels[idx]
        weight = weights[idx]
        total += weight
        fields.append(FieldEvidence(spec.field, level.name, str(level.label), level.agreement, weight))
    return Comparison(total, probability(total), tuple(fields))


def evidence_json(model: TrainedModel | None = None) -> Callable[[Sequence[int]], list[dict[str, Any]]]:
    """``explain(gammas).as_json()`` for the many pairs of one pass (an import, a batch deduplication),
    computed once per distinct vector of gamma values: thousands of pairs share a few hundred vectors, and
    each explanation translates a label per field. The lists returned are shared: do not change them."""
    model = model or current_model()
    cache: dict[tuple[int, ...], list[dict[str, Any]]] = {}

    def evidence(gammas: Sequence[int]) -> list[dict[str, Any]]:
        key = tuple(gammas)
        found = cache.get(key)
        if found is None:
            found = cache[key] = explain(key, model).as_json()
        return found

    return evidence


def compare_features(a: Features, b: Features, model: TrainedModel | None = None) -> Comparison:
    return explain(levels_of(a, b), model)


# Evaluation order for pruning: the comparisons that most often decide a pair first.
_ORDER = tuple(
    i
    for name in ("birth_date", "curp", "surnames", "given", "phones", "documents", "email", "sex")
    for i, spec in enumerate(COMPARISONS)
    if spec.column == name
)


def weight_bounds(query: Features, model: TrainedModel) -> tuple[float, ...]:
    """For each step of :data:`_ORDER`, the most the remaining comparisons can still add for this query (a
    comparison whose field the query lacks adds nothing: its null level weighs 0)."""
    maxes = [
        max(0.0, *model.weights[i]) if getattr(query, COMPARISONS[i].column) not in ("", (), None) else 0.0
        for i in _ORDER
    ]
    return tuple(sum(maxes[k + 1 :]) for k in range(len(maxes)))


def match_weight_only(
    a: Features,
    b: Features,
    model: TrainedModel,
    *,
    min_weight: float = PRUNED,
    bounds: tuple[float, ...] | None = None,
) -> float:
    """The match weight alone (the hot loop of intake: no explanation objects). With ``min_weight`` and the
    query's ``bounds``, returns :data:`PRUNED` as soon as the pair cannot reach ``min_weight``."""
    total = model.prior_weight
    for step, i in enumerate(_ORDER):
        weights = model.weights[i]
        for j, level in enumerate(COMPARISONS[i].levels):
            if level.test(a, b):
                total += weights[j]
                break
        if bounds is not None and total + bounds[step] < min_weight:
            return PRUNED
    return total


def compare_persons(a: Any, b: Any) -> Comparison:
    """Compare two stored persons (their current data, not their stored profiles)."""
    return compare_features(features_from_person(a), features_from_person(b))


def evidence_labels(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored evidence (``DuplicatePair.fields``) with translated labels added, for display."""
    by_field = {spec.field: spec for spec in COMPARISONS}
    out = []
    for item in fields:
        spec = by_field.get(item.get("field", ""))
        level = next((lv for lv in spec.levels if lv.name == item.get("level")), None) if spec else None
        out.append(
            {
                **item,
                "field_label": str(spec.label) if spec else item.get("field", ""),
                "label": str(level.label) if level else item.get("level", ""),
            }
        )
    return out
