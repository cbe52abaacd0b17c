"""Batch deduplication of an office network's registry (or of one import batch) with Splink.

Pairs at or above the network's review threshold become ``DuplicatePair`` rows in the adjudication queue,
with Splink's cluster ids; decisions already taken are kept (a pair decided "different" is not reopened).
Nothing is ever merged automatically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.matching import splink_model
from rumbo.matching.features import Features, features_from_profile
from rumbo.matching.model import model_path
from rumbo.matching.models import DedupeRun, DuplicatePair, MatchKey, MatchProfile
from rumbo.matching.scoring import explain
from rumbo.matching.selectors import match_settings_for, network_office_ids
from rumbo.offices.models import Office

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_CHUNK = 20_000


def _profiles(
    office_ids: Collection[int], person_ids: Collection[int] | None
) -> Iterator[tuple[int, int, Features]]:
    qs = MatchProfile._base_manager.filter(office_id__in=list(office_ids)).order_by("person_id")
    if person_ids is not None:
        ids = sorted(person_ids)
        for start in range(0, len(ids), 900):
            for p in qs.filter(person_id__in=ids[start : start + 900]):
                yield p.person_id, p.office_id, features_from_profile(p)
        return
    last = 0
    while True:
        chunk = list(qs.filter(person_id__gt=last)[:_CHUNK])
        if not chunk:
            return
        for p in chunk:
            yield p.person_id, p.office_id, features_from_profile(p)
        last = chunk[-1].person_id


def _neighbours(person_ids: Collection[int], office_ids: Collection[int]) -> set[int]:
    """Persons sharing a blocking key with ``person_ids`` (the part of the registry an import can match)."""
    ids = sorted(person_ids)
    keys: set[int] = set()
    for start in range(0, len(ids), 900):
        keys.update(
            MatchKey._base_manager.filter(person_id__in=ids[start : start + 900]).values_list(
                "key", flat=True
            )
        )
    out: set[int] = set(ids)
    key_list = sorted(keys)
    for start in range(0, len(key_list), 900):
        out.update(
            MatchKey._base_manager.filter(
                key__in=key_list[start : start + 900], office_id__in=list(office_ids)
            ).values_list("person_id", flat=True)
        )
    return out


def dedupe_run(
    *,
    actor: Any,
    network: Office,
    person_ids: Collection[int] | None = None,
    import_batch_id: int | None = None,
    backend: str = "duckdb",
    threads: int | None = None,
    progress: Progress | None = None,
) -> DedupeRun:
    """Run batch deduplication over ``network`` (its root and every office below it).

    With ``person_ids`` (e.g. the persons created by one import), only pairs involving at least one of them
    are kept, compared against every person of the network that shares a blocking key with them.
    """
    report = progress or (lambda phase, done, total: None)
    settings = match_settings_for(network)
    root = Office.objects.get(pk=settings.network_id)
    office_ids = network_office_ids([root.pk])
    run = DedupeRun.objects.create(
        network=root,
        import_batch_id=import_batch_id,
        started_by=actor if getattr(actor, "is_authenticated", False) else None,
        backend=backend,
    )
    started = time.monotonic()
    try:
        subset = set(person_ids) if person_ids is not None else None
        scope = _neighbours(subset, office_ids) if subset is not None else None
        total = (
            len(scope)
            if scope is not None
            else MatchProfile._base_manager.filter(office_id__in=office_ids).count()
        )
        offices: dict[int, int] = {}
        rows: list[tuple[int, Features]] = []
        for pid, oid, features in _profiles(office_ids, scope):
            offices[pid] = oid
            rows.append((pid, features))
            if len(rows) % 10_000 == 0:
                report("load", len(rows), total)
        report("load", len(rows), total)
        run.persons = len(rows)
        if len(rows) < 2:
            pairs: list[Any] = []
            clusters: dict[int, int] = {}
        else:
            report("predict", 0, 1)
            df = splink_model.frame(rows)
            del rows
            pairs_df, run.comparisons, clusters = splink_model.predict_with_clusters(
                df, model_path(), threshold=settings.review_threshold, backend=backend, threads=threads
            )
            pairs = list(splink_model.gamma_rows(pairs_df))
            report("predict", 1, 1)
        if subset is not None:
            pairs = [p for p in pairs if p[0] in subset or p[1] in subset]
        written = _store_pairs(run, pairs, offices, clusters, report)
        run.pairs_found = written
        run.clusters = len({clusters[p] for a, b, *_ in pairs for p in (a, b) if p in clusters})
        run.status = DedupeRun.Status.DONE
    except Exception as exc:
        run.status = DedupeRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        run.finished_at = timezone.now()
        run.seconds = round(time.monotonic() - started, 2)
        run.save()
        audit_record(
            actor=actor,
            action=Action.DEDUPE_RUN,
            office=root,
            obj=run,
            detail={
                "status": run.status,
                "persons": run.persons,
                "comparisons": run.comparisons,
                "pairs": run.pairs_found,
                "import_batch": import_batch_id,
                "seconds": run.seconds,
            },
        )
    return run


def _store_pairs(
    run: DedupeRun,
    pairs: list[tuple[int, int, float, float, tuple[int, ...]]],
    offices: dict[int, int],
    clusters: dict[int, int],
    report: Progress,
) -> int:
    """Insert new pairs, refresh undecided ones; decided pairs keep their decision."""
    written = 0
    for start in range(0, len(pairs), 2000):
        chunk = pairs[start : start + 2000]
        keys = [(min(a, b), max(a, b)) for a, b, *_ in chunk]
        existing = {
            (p.person_a_id, p.person_b_id): p
            for p in DuplicatePair.objects.filter(
                person_a_id__in={a for a, _ in keys}, person_b_id__in={b for _, b in keys}
            )
        }
        new: list[DuplicatePair] = []
        changed: list[DuplicatePair] = []
        for (a, b), (_, _, weight, prob, gammas) in zip(keys, chunk, strict=True):
            evidence = explain(gammas).as_json()
            cluster = clusters.get(a)
            pair = existing.get((a, b))
            if pair is None:
                new.append(
                    DuplicatePair(
                        person_a_id=a,
                        person_b_id=b,
                        office_a_id=offices[a],
                        office_b_id=offices[b],
                        run=run,
                        source=DuplicatePair.Source.BATCH,
                        match_weight=weight,
                        probability=prob,
                        fields=evidence,
                        cluster=cluster,
                    )
                )
            elif pair.decision in (DuplicatePair.Decision.PENDING, DuplicatePair.Decision.UNSURE):
                pair.run = run
                pair.match_weight, pair.probability, pair.fields, pair.cluster = (
                    weight,
                    prob,
                    evidence,
                    cluster,
                )
                changed.append(pair)
        with transaction.atomic():
            DuplicatePair.objects.bulk_create(new, batch_size=1000)
            DuplicatePair.objects.bulk_update(
                changed,
                ["run", "match_weight", "probability", "fields", "cluster", "updated_at"],
                batch_size=1000,
            )
        written += len(new) + len(changed)
        report("store", start + len(chunk), len(pairs))
    return written
