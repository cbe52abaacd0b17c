"""Intake (Python) and batch (Splink SQL in DuckDB) score every pair identically: same levels, same weights."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rumbo.matching import splink_model
from rumbo.matching.keys import blocking_keys
from rumbo.matching.model import BUNDLED_MODEL, COMPARISONS, current_model, levels_of, load_model
from rumbo.matching.scoring import explain
from rumbo.matching.synthetic import generate


@pytest.fixture(scope="module")
def records() -> list:
    return list(generate(400, seed=5, duplicate_share=0.8, hard_negative_share=0.5))


def test_splink_and_python_give_the_same_levels_and_weights(records: list) -> None:
    by_id = {r.unique_id: r.features() for r in records}
    df = splink_model.frame(by_id.items())
    pairs, compared = splink_model.predict(df, BUNDLED_MODEL, threshold=0.0)
    assert compared >= len(pairs) > 300  # enough pairs, of every kind, to mean something
    seen_levels: set[tuple[str, int]] = set()
    for a, b, weight, _prob, gammas in splink_model.gamma_rows(pairs):
        python_gammas = levels_of(by_id[a], by_id[b])
        assert python_gammas == gammas, (a, b)
        assert explain(python_gammas).match_weight == pytest.approx(weight, abs=1e-6)
        seen_levels.update((spec.column, g) for spec, g in zip(COMPARISONS, gammas, strict=True))
    # The sample reaches most levels of the name and date comparisons, so the parity covers them.
    for column in ("given", "surnames", "birth_date"):
        spec = next(s for s in COMPARISONS if s.column == column)
        reached = {g for c, g in seen_levels if c == column}
        assert len(reached) >= len(spec.levels) - 2, (column, reached)


def test_every_pair_sharing_a_key_is_compared(records: list) -> None:
    by_id = {r.unique_id: r.features() for r in records}
    df = splink_model.frame(by_id.items())
    pairs, _ = splink_model.predict(df, BUNDLED_MODEL, threshold=0.0)
    got = {(min(a, b), max(a, b)) for a, b in zip(pairs.unique_id_l, pairs.unique_id_r, strict=True)}
    keys = {uid: set(blocking_keys(f)) for uid, f in by_id.items()}
    ids = sorted(keys)
    expected = {(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if keys[a] & keys[b]}
    assert got == expected


def test_bundled_model_matches_the_comparisons() -> None:
    model = current_model()
    assert len(model.weights) == len(COMPARISONS)
    assert model.prior_probability < 0.01


def test_a_model_trained_with_other_levels_is_refused(tmp_path) -> None:
    data = json.loads(BUNDLED_MODEL.read_text())
    data["comparisons"][0]["comparison_levels"][2]["sql_condition"] = "given_l = given_r"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="other levels"):
        load_model(path)


def test_pruning_never_drops_a_pair_that_reaches_the_threshold(records: list) -> None:
    from rumbo.matching.scoring import PRUNED, match_weight_only, min_weight, weight_bounds

    model = current_model()
    features = [r.features() for r in records[:150]]
    floor = min_weight(0.1)
    pruned = 0
    for a in features:
        bounds = weight_bounds(a, model)
        for b in features:
            full = match_weight_only(a, b, model)
            fast = match_weight_only(a, b, model, min_weight=floor, bounds=bounds)
            if fast == PRUNED:
                pruned += 1
                assert full < floor
            else:
                assert fast == pytest.approx(full)
    assert pruned > len(features) ** 2 / 2  # most random pairs are cut short


def test_the_frame_from_stored_values_is_the_frame_from_features(records: list) -> None:
    """The duplicate pass of a large import builds its frame from ``MatchProfile`` values (dates as text, as
    raw SQLite and the import give them); Splink must read exactly what it reads from ``Features``."""
    import pandas as pd

    from rumbo.matching.features import PROFILE_FIELDS, profile_values

    by_id = {r.unique_id: r.features() for r in records}
    keys = {uid: blocking_keys(f) for uid, f in by_id.items()}
    values = []
    for uid, f in by_id.items():
        stored = profile_values(f)
        row = [stored[c] for c in PROFILE_FIELDS]
        birth = PROFILE_FIELDS.index("birth_date")
        if row[birth] is not None and uid % 2:
            row[birth] = row[birth].isoformat()
        values.append((uid, row))
    expected = splink_model.frame(by_id.items())
    got = splink_model.frame_from_values(values, keys=keys)
    pd.testing.assert_frame_equal(got[expected.columns], expected)
    # Empty values (NULL for Splink) are covered too.
    assert any(not f.curp for f in by_id.values()) and any(not f.phones for f in by_id.values())


def test_the_evidence_of_a_pass_is_each_pairs_explanation_computed_once_per_vector(
    records: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rumbo.matching import scoring

    by_id = {r.unique_id: r.features() for r in records}
    vectors = [levels_of(by_id[a], by_id[b]) for a, b in zip(list(by_id)[:-1], list(by_id)[1:], strict=True)]
    vectors += vectors[:50]  # repeated vectors, as thousands of pairs of one import have
    expected = [explain(v).as_json() for v in vectors]
    calls: list[tuple[int, ...]] = []
    original = scoring.explain

    def counted(gammas: Any, model: Any = None) -> Any:
        calls.append(tuple(gammas))
        return original(gammas, model)

    monkeypatch.setattr(scoring, "explain", counted)
    evidence = scoring.evidence_json()
    assert [evidence(list(v)) for v in vectors] == expected
    assert len(calls) == len({tuple(v) for v in vectors}) < len(vectors)


def test_a_prediction_about_some_persons_compares_exactly_their_pairs(records: list) -> None:
    """An import's check (``fresh``) compares only the pairs involving its persons, and finds every one of
    them that the whole prediction finds, with the same weights."""
    by_id = {r.unique_id: r.features() for r in records}
    df = splink_model.frame(by_id.items())
    fresh = set(list(by_id)[::7])
    everything, _ = splink_model.predict(df, BUNDLED_MODEL, threshold=0.0, count=False)
    theirs, _ = splink_model.predict(df, BUNDLED_MODEL, threshold=0.0, count=False, fresh=fresh)
    expected = {
        (a, b): w for a, b, w, _p, _g in splink_model.gamma_rows(everything) if a in fresh or b in fresh
    }
    found = {(a, b): w for a, b, w, _p, _g in splink_model.gamma_rows(theirs)}
    assert len(expected) < len(splink_model.gamma_rows(everything))  # others' pairs exist, and are left out
    assert found.keys() == expected.keys() and len(found) > 20
    assert all(found[k] == pytest.approx(expected[k]) for k in found)
    with pytest.raises(ValueError, match="count"):
        splink_model.predict(df, BUNDLED_MODEL, threshold=0.0, fresh=fresh)  # its count would be everyone's
