"""Reads for duplicate detection: candidates for a person being registered or imported, and settings.

Candidates are looked up by blocking key in the (key, office, person) index, then scored in Python with the
same trained model batch deduplication uses (:mod:`rumbo.matching.model`). The lookup spans the whole office
network, so a likely match registered at an office the user may not see is reported — by office only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count

from rumbo.matching.features import PROFILE_FIELDS, Features, features_from_data, features_from_values
from rumbo.matching.keys import blocking_keys
from rumbo.matching.model import current_model
from rumbo.matching.models import MatchKey, MatchProfile, MatchSettings
from rumbo.matching.scoring import Comparison, compare_features, match_weight_only, min_weight, weight_bounds
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm

MAX_CANDIDATES = 200  # persons scored per lookup (those sharing the most keys first)
_SQL_CHUNK = 900  # parameters per IN list (SQLite's limit is far above; keeps plans simple)


@dataclass(frozen=True)
class Candidate:
    person_id: int
    office_id: int
    office_name: str
    comparison: Comparison
    person: Any = None  # None when the user may not see that office

    @property
    def visible(self) -> bool:
        return self.person is not None

    @property
    def probability(self) -> float:
        return self.comparison.probability


def _parents() -> dict[int, int | None]:
    return dict(Office.objects.values_list("id", "parent_id"))


def _root(office_id: int, parents: dict[int, int | None]) -> int:
    seen = set()
    while parents.get(office_id) is not None and office_id not in seen:
        seen.add(office_id)
        office_id = parents[office_id]  # type: ignore[assignment]
    return office_id


def network_root_id(office_id: int, parents: dict[int, int | None] | None = None) -> int:
    """The root office of ``office_id``'s network."""
    return _root(office_id, parents if parents is not None else _parents())


def network_office_ids(office_ids: Collection[int], parents: dict[int, int | None] | None = None) -> set[int]:
    """Every office in the networks of ``office_ids`` (the trees under their roots)."""
    parents = parents if parents is not None else _parents()
    roots = {_root(o, parents) for o in office_ids}
    return {o for o in parents if _root(o, parents) in roots}


def match_settings_for(office: Office | int, parents: dict[int, int | None] | None = None) -> MatchSettings:
    """The thresholds of the office's network (defaults until someone saves them)."""
    office_id = office if isinstance(office, int) else office.pk
    root = network_root_id(office_id, parents)
    found = MatchSettings.objects.filter(network_id=root).first()
    return found or MatchSettings(network_id=root)


def _lookup(keys: Sequence[int], office_ids: Collection[int], cap: int) -> list[int]:
    """Persons sharing the most keys with ``keys`` (at most ``cap``)."""
    if not keys or not office_ids:
        return []
    rows = (
        MatchKey._base_manager.filter(key__in=list(keys), office_id__in=list(office_ids))
        .values("person_id")
        .annotate(n=Count("key"))
        .order_by("-n", "person_id")
        .values_list("person_id", flat=True)[:cap]
    )
    if connection.vendor == "postgresql":
        # A short query over a few thousand index entries: compiling it (JIT) or starting parallel workers
        # costs more than running it, and PostgreSQL's estimates for IN lists of keys invite both.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            return list(rows)
    return list(rows)


_PROFILE_COLUMNS = ("person_id", "office_id", *PROFILE_FIELDS)


def _profiles(person_ids: Collection[int]) -> dict[int, tuple[int, Features]]:
    """(office id, features) per person, read as plain tuples (no model instances: this is the hot path)."""
    out: dict[int, tuple[int, Features]] = {}
    ids = list(person_ids)
    for start in range(0, len(ids), _SQL_CHUNK):
        rows = MatchProfile._base_manager.filter(person_id__in=ids[start : start + _SQL_CHUNK]).values_list(
            *_PROFILE_COLUMNS
        )
        for pid, office_id, *values in rows:
            out[pid] = (office_id, features_from_values(*values))
    return out


def score_features(
    query: Features, person_ids: Collection[int], *, min_probability: float, limit: int
) -> list[tuple[int, int, Comparison]]:
    """(person_id, office_id, comparison) of the best-scoring persons at or above ``min_probability``."""
    model = current_model()
    bounds = weight_bounds(query, model)
    floor = min_weight(min_probability)
    scored = []
    for pid, (office_id, features) in _profiles(person_ids).items():
        weight = match_weight_only(query, features, model, min_weight=floor, bounds=bounds)
        if weight >= floor:
            scored.append((weight, pid, office_id, features))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(pid, office_id, compare_features(query, f, model)) for _, pid, office_id, f in scored[:limit]]


def intake_candidates(
    user: Any,
    data: Any,
    *,
    exclude_ids: Collection[int] = (),
    limit: int = 10,
    min_probability: float | None = None,
    office: Office | int | None = None,
) -> list[Candidate]:
    """Persons who may already be the person in ``data``, best first, with the evidence per field.

    Candidates in offices where the user may see persons come with the person; a candidate registered at
    another office of the network appears with ``person=None`` (office only) and only when likely (at or
    above the network's likely-duplicate threshold). Merged and anonymised records are never candidates.
    The thresholds are those of the network of ``office`` (where the person is being registered), or of the
    user's first office when it is not known.
    """
    member = member_office_ids(user)
    if not member:
        return []
    visible = offices_with_perm(user, Perm.VIEW_PERSON)
    parents = _parents()
    network = network_office_ids(member, parents)
    settings = match_settings_for(office if office is not None else min(member), parents)
    query = features_from_data(data)
    ids = [
        p for p in _lookup(blocking_keys(query, query=True), network, MAX_CANDIDATES) if p not in exclude_ids
    ]
    if min_probability is None:
        min_probability = settings.intake_threshold
    scored = score_features(query, ids, min_probability=min_probability, limit=limit * 3)
    return _candidates(scored, visible, settings.likely_threshold, limit)


def _candidates(
    scored: list[tuple[int, int, Comparison]], visible: Collection[int], hidden_threshold: float, limit: int
) -> list[Candidate]:
    from rumbo.people.models import Person

    kept = [(pid, oid, c) for pid, oid, c in scored if oid in visible or c.probability >= hidden_threshold][
        :limit
    ]
    persons = (
        Person._base_manager.filter(pk__in=[pid for pid, oid, _ in kept if oid in visible])
        .select_related("office")
        .in_bulk()
    )
    names = dict(Office.objects.filter(pk__in={oid for _, oid, _ in kept}).values_list("id", "name"))
    return [
        Candidate(pid, oid, names.get(oid, ""), c, persons.get(pid) if oid in visible else None)
        for pid, oid, c in kept
    ]


def candidates_bulk(
    office_ids: Collection[int],
    datas: Sequence[Any],
    *,
    limit: int = 5,
    min_probability: float | None = None,
) -> list[list[Candidate]]:
    """Candidates in ``office_ids`` for many rows at once (imports): one key query per chunk of rows."""
    if not datas or not office_ids:
        return [[] for _ in datas]
    if min_probability is None:
        min_probability = match_settings_for(next(iter(sorted(office_ids)))).intake_threshold
    queries = [features_from_data(d) for d in datas]
    row_keys = [blocking_keys(q, query=True) for q in queries]
    by_key: dict[int, list[int]] = defaultdict(list)
    all_keys = sorted({k for keys in row_keys for k in keys})
    offices = list(office_ids)
    for start in range(0, len(all_keys), _SQL_CHUNK):
        for key, pid in MatchKey._base_manager.filter(
            key__in=all_keys[start : start + _SQL_CHUNK], office_id__in=offices
        ).values_list("key", "person_id"):
            by_key[key].append(pid)
    wanted: list[list[int]] = []
    for keys in row_keys:
        counts: Counter[int] = Counter()
        for k in keys:
            counts.update(by_key.get(k, ()))
        wanted.append([pid for pid, _ in counts.most_common(MAX_CANDIDATES)])
    profiles = _profiles({pid for ids in wanted for pid in ids})
    model = current_model()
    floor = min_weight(min_probability)
    results: list[list[tuple[int, int, Comparison]]] = []
    for query, ids in zip(queries, wanted, strict=True):
        bounds = weight_bounds(query, model)
        scored = []
        for pid in ids:
            if pid not in profiles:
                continue
            office_id, features = profiles[pid]
            weight = match_weight_only(query, features, model, min_weight=floor, bounds=bounds)
            if weight >= floor:
                scored.append((weight, pid, office_id, features))
        scored.sort(key=lambda s: (-s[0], s[1]))
        results.append([(pid, oid, compare_features(query, f, model)) for _, pid, oid, f in scored[:limit]])
    from rumbo.people.models import Person

    persons = Person._base_manager.filter(pk__in={pid for r in results for pid, _, _ in r}).in_bulk()
    names = dict(Office.objects.values_list("id", "name"))
    return [
        [Candidate(pid, oid, names.get(oid, ""), c, persons.get(pid)) for pid, oid, c in r] for r in results
    ]


def name_query_data(query: str) -> Any:
    """A ``PersonData`` read from a name typed in the search box ("José Luis García López"): the last two
    words as surnames when there are three or more, else given name + surname. The model tolerates the
    wrong guess (a surname read as a given name is the "US paperwork" variation). None if not a name."""
    from rumbo.people.data import PersonData

    words = query.split()
    if len(words) < 2 or any(ch.isdigit() for ch in query):
        return None
    if len(words) == 2:
        return PersonData(given_names=words[0], first_surname=words[1])
    return PersonData(given_names=" ".join(words[:-2]), first_surname=words[-2], second_surname=words[-1])


def similar_names(
    user: Any, query: str, *, exclude_ids: Collection[int] = (), limit: int = 10
) -> list[Candidate]:
    """Persons the user may see whose names sound like ``query`` (nicknames, spellings, surname order), ranked
    by the match model: the fuzzy complement of the prefix search."""
    data = name_query_data(query)
    if data is None:
        return []
    found = intake_candidates(user, data, exclude_ids=exclude_ids, limit=limit * 3, min_probability=0.0)
    # A name alone cannot reach a registration's probability (no date, no document): keep the persons whose
    # given names and surnames both agree at least in part, best first.
    named = {"given_names", "surnames"}
    return [
        c
        for c in found
        if c.visible
        and all(f.agreement in ("agree", "partial") for f in c.comparison.fields if f.field in named)
    ][:limit]
