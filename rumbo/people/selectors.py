"""Reads of the person registry, always for an acting user and scoped to the offices that user may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.shortcuts import get_object_or_404

from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require
from rumbo.people.models import Person, SearchToken
from rumbo.people.search import prefix_q, query_tokens, word_mask

SEARCH_CAP = 1000
_ESTIMATE_CAP = 2000
_SAMPLE_PERSONS = 1000  # recent persons whose tokens rank common words by frequency


@dataclass(frozen=True)
class SearchPage:
    persons: list[Person]
    total: int
    capped: bool  # True when there are more than ``total`` matches
    page: int
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def person_queryset(user: Any, perm: Perm = Perm.VIEW_PERSON) -> QuerySet[Person]:
    """Persons the user may act on with ``perm`` (merged tombstones excluded)."""
    return Person.objects.filter(office_id__in=offices_with_perm(user, perm), merged_into__isnull=True)


def person_get(user: Any, pk: int, perm: Perm = Perm.VIEW_PERSON) -> Person:
    """One person: 404 outside the user's offices, 403 inside them without ``perm``."""
    person = get_object_or_404(
        Person.objects.select_related("office", "birth_place", "birth_place__parent"),
        pk=pk,
        office_id__in=member_office_ids(user),
    )
    require(user, perm, person.office_id)
    return person


def _capped_count(qs: QuerySet[SearchToken], cap: int) -> int:
    return qs.values_list("person_id")[:cap].count()


def _word_estimates(base: QuerySet[SearchToken], words: list[str]) -> list[tuple[float, str]]:
    """(estimated number of matching tokens, word), rarest first.

    Rare words are counted exactly (up to ``_ESTIMATE_CAP``, a short index range scan). Common words are
    ranked by how often they occur among the tokens of the most recently registered persons: exact
    counts of common words would cost a scan of tens of thousands of index entries each, and only the
    order matters here.
    """
    estimates: list[tuple[float, str]] = []
    common: list[str] = []
    for word in words:
        count = _capped_count(base.filter(prefix_q("token", word)), _ESTIMATE_CAP)
        if count < _ESTIMATE_CAP:
            estimates.append((count, word))
        else:
            common.append(word)
    if len(common) == 1:
        estimates.append((_ESTIMATE_CAP, common[0]))
    elif common:
        newest = SearchToken._base_manager.aggregate(top=Max("person_id"))["top"] or 0
        # One pass over the tokens of the newest persons, through the (person, token) index, counts every
        # common word at once (``startswith`` here is only a filter on rows already read).
        counts = base.filter(person_id__gt=newest - _SAMPLE_PERSONS).aggregate(
            **{f"w{i}": Count("person_id", filter=Q(token__startswith=w)) for i, w in enumerate(common)}
        )
        for i, word in enumerate(common):
            estimates.append((_ESTIMATE_CAP * (1 + counts[f"w{i}"]), word))
    # Ties (equally frequent words): the longer word is usually the more specific.
    return sorted(estimates, key=lambda e: (e[0], -len(e[1]), e[1]))


def person_search(user: Any, query: str, *, page: int = 1, page_size: int = 25) -> SearchPage:
    """Persons whose names, documents or phones start with every word of ``query``.

    The rarest word drives a range scan of the (token, office, person) index, in index order; each other
    word is checked per candidate with EXISTS on the (person, token) index, rarest first. Because the
    rows come in index order, the scan stops as soon as ``SEARCH_CAP`` persons are found, so common names
    cost no more than a page of results; a query whose words are all common but rarely found together
    scans the rarest word's candidates once. Results are ordered by the matched token (then, as stored in
    the index, by office and id).
    """
    offices = sorted(offices_with_perm(user, Perm.VIEW_PERSON))
    words = query_tokens(query)
    if not offices or not words:
        return SearchPage([], 0, False, page, page_size)
    base = SearchToken.objects.filter(office_id__in=offices)
    if len(words) == 1:
        driver, others = words[0], []
    else:
        estimates = _word_estimates(base, words)
        if estimates[0][0] == 0:
            return SearchPage([], 0, False, page, page_size)
        driver, others = estimates[0][1], [w for _, w in estimates[1:]]
    # The offices are filtered as an expression (office_id + 0), not a column: PostgreSQL would otherwise
    # use "office_id = ANY(...)" inside the index scan, which (before PostgreSQL 17) gives up the index
    # order, so it sorts every candidate instead of stopping at ``limit``. The explicit office filter
    # replaces the scope's: this query reads no other rows.
    qs = (
        SearchToken._base_manager.alias(office_key=F("office_id") + 0)
        .filter(office_key__in=offices)
        .filter(prefix_q("token", driver))
    )
    mask = 0
    for word in others:
        mask |= word_mask(word)
    if mask:
        # Candidates whose signature lacks another word are dropped inside the index scan, before any
        # probe; rows without a signature (0) are kept. The EXISTS probes below confirm the rest.
        # (BigIntegerField: with Django's default IntegerField output, masks above 2**31 would be judged
        # out of range on PostgreSQL and the test silently dropped.)
        big_mask = Value(mask, output_field=BigIntegerField())
        hit = ExpressionWrapper(F("sig").bitand(big_mask), output_field=BigIntegerField())  # type: ignore[arg-type]
        qs = qs.alias(sig_hit=hit).filter(Q(sig_hit=mask) | Q(sig=0))
    for i, word in enumerate(others):
        # The base manager (no office scope) keeps the EXISTS probe inside the (person, token) index: the
        # outer query is scoped already, and a person's tokens all belong to the person's office.
        probe = Exists(
            SearchToken._base_manager.filter(prefix_q("token", word), person_id=OuterRef("person_id"))
        )
        # Inside CASE the probe stays a per-candidate check. A bare EXISTS lets PostgreSQL turn it into a
        # join and, when it underestimates a prefix range (e.g. 1 row for 'rios' instead of 7,500), drive
        # the search from that word and rescan the driver's range for each of its rows: seconds, not ms.
        qs = qs.alias(
            **{f"has_{i}": Case(When(probe, then=True), default=False, output_field=BooleanField())}
        )
        qs = qs.filter(**{f"has_{i}": True})
    limit = SEARCH_CAP + SEARCH_CAP // 5 + 1  # a person may match through several tokens
    # ORDER BY token alone: the (token, office, person) index delivers it as is, so the scan can stop at
    # ``limit``; naming office and person too makes SQLite sort each token's rows first (its planner does
    # not see that the index order already satisfies them once office is filtered with IN). Within one
    # token, rows come in index order (office, person), the same on every run.
    ordered = qs.order_by("token").values_list("person_id", flat=True)[:limit]
    if connection.vendor == "postgresql":
        # A parallel plan makes every worker probe its own candidates and merge them in order: on a small
        # server that is several times the work for a query that stops after ``limit`` rows. (Not on
        # SQLite, where a transaction would take the write lock: settings use BEGIN IMMEDIATE.)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cursor.execute("SET LOCAL jit = off")  # compiling costs more than this short query
            rows = list(ordered)
    else:
        rows = list(ordered)
    ids = list(dict.fromkeys(rows))
    capped = len(ids) > SEARCH_CAP or len(rows) == limit
    ids = ids[:SEARCH_CAP]
    start = (page - 1) * page_size
    page_ids = ids[start : start + page_size]
    by_id = (
        Person.objects.filter(pk__in=page_ids, merged_into__isnull=True).select_related("office").in_bulk()
    )
    persons = [by_id[i] for i in page_ids if i in by_id]
    return SearchPage(persons, len(ids), capped, page, page_size)
