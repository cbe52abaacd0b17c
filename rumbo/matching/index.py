"""Keeping the match index (``MatchProfile`` + ``MatchKey``) equal to the registry.

``index_person`` runs inside every people write service (through ``people.search.reindex_person``);
``index_persons_bulk`` serves imports and generators. Merged and anonymised persons have no index rows, so
they are never proposed as candidates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rumbo.matching.features import Features, features_from_person, profile_values
from rumbo.matching.keys import blocking_keys
from rumbo.matching.models import MatchKey, MatchProfile


def _live(person: Any) -> bool:
    return person.anonymised_at is None and person.merged_into_id is None


def index_person(person: Any) -> None:
    """Rebuild the match profile and keys of one person (remove them if merged or anonymised)."""
    MatchKey._base_manager.filter(person_id=person.pk).delete()
    if not _live(person):
        MatchProfile._base_manager.filter(person_id=person.pk).delete()
        return
    features = features_from_person(person)
    MatchProfile._base_manager.update_or_create(
        person_id=person.pk, defaults={"office_id": person.office_id, **profile_values(features)}
    )
    MatchKey._base_manager.bulk_create(
        [MatchKey(key=k, office_id=person.office_id, person_id=person.pk) for k in blocking_keys(features)]
    )


def rows_for(person_id: int, office_id: int, features: Features) -> tuple[MatchProfile, list[MatchKey]]:
    """Unsaved index rows for one person (bulk writers insert them)."""
    profile = MatchProfile(person_id=person_id, office_id=office_id, **profile_values(features))
    keys = [MatchKey(key=k, office_id=office_id, person_id=person_id) for k in blocking_keys(features)]
    return profile, keys


def index_persons_bulk(persons: Sequence[Any], *, batch_size: int = 2000) -> int:
    """Index freshly written persons (child rows already stored): one query per child table, bulk inserts.
    Returns the number of keys written."""
    from rumbo.people.models import Alias, Document, Phone

    live = [p for p in persons if _live(p)]
    if not live:
        return 0
    ids = [p.pk for p in live]
    aliases: dict[int, list[tuple[str, str]]] = defaultdict(list)
    documents: dict[int, list[tuple[str, str]]] = defaultdict(list)
    phones: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for pid, given, surnames in Alias._base_manager.filter(person_id__in=chunk).values_list(
            "person_id", "given_names", "surnames"
        ):
            aliases[pid].append((given, surnames))
        for pid, kind, number in Document._base_manager.filter(person_id__in=chunk).values_list(
            "person_id", "kind", "number"
        ):
            documents[pid].append((kind, number))
        for pid, e164 in Phone._base_manager.filter(person_id__in=chunk).values_list("person_id", "e164"):
            phones[pid].append(e164)
    profiles: list[MatchProfile] = []
    keys: list[MatchKey] = []
    for p in live:
        features = features_from_person(
            p, aliases=aliases.get(p.pk, []), documents=documents.get(p.pk, []), phones=phones.get(p.pk, [])
        )
        profile, person_keys = rows_for(p.pk, p.office_id, features)
        profiles.append(profile)
        keys.extend(person_keys)
    MatchProfile._base_manager.bulk_create(profiles, batch_size=batch_size)
    MatchKey._base_manager.bulk_create(keys, batch_size=batch_size)
    return len(keys)


def rebuild_keys(
    *, office_ids: Sequence[int] | None = None, chunk: int = 20_000, progress: Any = None
) -> int:
    """Recompute every blocking key from the stored profiles (after an upgrade changes the key design).
    Returns the number of keys written."""
    from django.db import transaction

    from rumbo.matching.features import PROFILE_FIELDS, features_from_values

    profiles = MatchProfile._base_manager.order_by("person_id")
    keys = MatchKey._base_manager.all()
    if office_ids is not None:
        profiles = profiles.filter(office_id__in=list(office_ids))
        keys = keys.filter(office_id__in=list(office_ids))
    keys.delete()
    written = 0
    last = 0
    while True:
        rows = list(
            profiles.filter(person_id__gt=last).values_list("person_id", "office_id", *PROFILE_FIELDS)[:chunk]
        )
        if not rows:
            return written
        batch = [
            MatchKey(key=k, office_id=oid, person_id=pid)
            for pid, oid, *values in rows
            for k in blocking_keys(features_from_values(*values))
        ]
        with transaction.atomic():
            MatchKey._base_manager.bulk_create(batch, batch_size=5000)
        written += len(batch)
        last = rows[-1][0]
        if progress is not None:
            progress(len(rows))
