"""Reads of the person registry, always for an acting user and scoped to the offices that user may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404

from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require
from rumbo.people.models import Person, SearchToken
from rumbo.people.search import prefix_q, query_tokens

SEARCH_CAP = 1000
_ESTIMATE_CAP = 5000


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
    return qs[:cap].count()


def person_search(user: Any, query: str, *, page: int = 1, page_size: int = 25) -> SearchPage:
    """Persons whose names, documents or phones start with every word of ``query``.

    The rarest word drives an index range scan; the others are checked per candidate with EXISTS on the
    (person, token) index. At most ``SEARCH_CAP`` matches are counted.
    """
    offices = sorted(offices_with_perm(user, Perm.VIEW_PERSON))
    words = query_tokens(query)
    if not offices or not words:
        return SearchPage([], 0, False, page, page_size)
    base = SearchToken.objects.filter(office_id__in=offices)
    estimates = sorted((_capped_count(base.filter(prefix_q("token", w)), _ESTIMATE_CAP), w) for w in words)
    if estimates[0][0] == 0:
        return SearchPage([], 0, False, page, page_size)
    driver, others = estimates[0][1], [w for _, w in estimates[1:]]
    qs = base.filter(prefix_q("token", driver))
    for word in others:
        qs = qs.filter(
            Exists(SearchToken.objects.filter(prefix_q("token", word), person_id=OuterRef("person_id")))
        )
    rows = qs.order_by("token", "person_id").values_list("person_id", flat=True)[: SEARCH_CAP * 3]
    ids = list(dict.fromkeys(rows))
    capped = len(ids) > SEARCH_CAP
    ids = ids[:SEARCH_CAP]
    start = (page - 1) * page_size
    page_ids = ids[start : start + page_size]
    by_id = (
        Person.objects.filter(pk__in=page_ids, merged_into__isnull=True).select_related("office").in_bulk()
    )
    persons = [by_id[i] for i in page_ids if i in by_id]
    return SearchPage(persons, len(ids), capped, page, page_size)
