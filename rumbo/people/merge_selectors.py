"""Reads about merged records, always for an acting user: where an old id leads, a record's merges.

``PersonMerge`` uses a scoped manager through the survivor's office; these selectors filter explicitly by
the user's offices as well, so they answer the same inside and outside a request scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.shortcuts import get_object_or_404

from rumbo.offices.permissions import Perm, has_perm, member_office_ids, offices_with_perm, require
from rumbo.people.models import Person, PersonMerge


def final_survivor_id(person: Person) -> int | None:
    """The id of the record at the end of ``person``'s merge chain (``None`` for a live record)."""
    survivor_id = person.merged_into_id
    seen = {person.pk}
    while survivor_id is not None and survivor_id not in seen:
        seen.add(survivor_id)
        following = (
            Person._base_manager.filter(pk=survivor_id).values_list("merged_into_id", flat=True).first()
        )
        if following is None:
            break
        survivor_id = following
    return survivor_id


def visible_survivor_id(user: Any, person: Person) -> int | None:
    """Where an old (merged) id leads for ``user``: the final survivor's id when the user may view it,
    else ``None`` (the caller answers 404, as for any record of another office)."""
    survivor_id = final_survivor_id(person)
    if survivor_id is None:
        return None
    office_id = Person._base_manager.filter(pk=survivor_id).values_list("office_id", flat=True).first()
    if office_id is None or office_id not in offices_with_perm(user, Perm.VIEW_PERSON):
        return None
    return survivor_id


@dataclass(frozen=True)
class MergeEntry:
    """A merge into a record, as its detail page lists it."""

    merge: PersonMerge
    can_undo: bool
    can_view_history: bool  # the merged record's audit trail (who saw or changed it, the merge included)


def person_merges(user: Any, person: Person) -> list[MergeEntry]:
    """The merges into ``person`` (newest first, undone ones included) and whether ``user`` may undo each
    (``MERGE_PERSON`` in both offices, merge not undone yet). The caller has checked the user may view
    ``person``."""
    merges = PersonMerge._base_manager.filter(
        survivor=person, survivor__office_id__in=member_office_ids(user)
    ).select_related("merged", "merged_by", "unmerged_by")
    merge_offices = offices_with_perm(user, Perm.MERGE_PERSON)
    audit_offices = offices_with_perm(user, Perm.VIEW_AUDIT)
    return [
        MergeEntry(
            merge=m,
            can_undo=m.is_active
            and m.survivor.office_id in merge_offices
            and m.merged.office_id in merge_offices,
            can_view_history=m.merged.office_id in audit_offices,
        )
        for m in merges.order_by("-merged_at", "-id")
    ]


def merge_context(user: Any, person: Person) -> dict[str, Any]:
    """What the detail page shows about merges: the merges into this record, and whether the user may
    start one (``MERGE_PERSON`` in the record's office, record live)."""
    live = person.merged_into_id is None and not person.is_anonymised
    return {
        "merges": person_merges(user, person),
        "can_merge": live and has_perm(user, Perm.MERGE_PERSON, person.office_id),
    }


def merge_get(user: Any, pk: int, perm: Perm = Perm.MERGE_PERSON) -> PersonMerge:
    """One merge: 404 unless the survivor belongs to one of the user's offices; 403 without ``perm``
    there. (Undoing also needs the right in the merged record's office; the service checks it.)"""
    merge = get_object_or_404(
        PersonMerge._base_manager.select_related(
            "survivor", "survivor__office", "merged", "merged__office", "merged_by", "unmerged_by"
        ),
        pk=pk,
        survivor__office_id__in=member_office_ids(user),
    )
    require(user, perm, merge.survivor.office_id)
    return merge
