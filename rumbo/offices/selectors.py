"""Reads of offices and memberships, always for an acting user.

An office is *visible* to a user who holds any role in it, and to a coordinator (or office administrator)
of an office above it: tree permissions (``TREE_PERMS``) reach down the office tree. Seeing an office is
not seeing its people; that still needs Perm.VIEW_PERSON in that very office.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from rumbo.audit.selectors import audit_events_for_user
from rumbo.offices.models import Membership, Office
from rumbo.offices.permissions import Perm, active_memberships, member_office_ids, offices_with_perm, require
from rumbo.people.selectors import person_queryset


def visible_office_ids(user: Any) -> frozenset[int]:
    """Offices where the user holds a role, plus every office below one where they see aggregates."""
    return member_office_ids(user) | offices_with_perm(user, Perm.VIEW_AGGREGATES)


def office_queryset(user: Any) -> QuerySet[Office]:
    """Offices the user may see (active or not), with parent and location loaded."""
    return Office.objects.filter(pk__in=visible_office_ids(user)).select_related(
        "parent", "location", "location__parent"
    )


def office_get(user: Any, pk: int) -> Office:
    """One visible office; 404 for any other (its existence is not revealed)."""
    office = office_queryset(user).filter(pk=pk).first()
    if office is None:
        raise Http404
    return office


def office_get_for(user: Any, pk: int, perm: Perm) -> Office:
    """One office the user may act on with ``perm``: 404 when invisible, 403 when visible without ``perm``."""
    office = office_get(user, pk)
    require(user, perm, office.pk)
    return office


@dataclass
class OfficeNode:
    """An office in the tree of offices a user sees, with the visible offices directly below it."""

    office: Office
    depth: int = 0
    children: list[OfficeNode] = field(default_factory=list)


def office_tree(user: Any) -> list[OfficeNode]:
    """The visible offices as a forest: roots are visible offices whose parent the user does not see."""
    offices = list(office_queryset(user).order_by("name"))
    nodes = {o.pk: OfficeNode(o) for o in offices}
    roots: list[OfficeNode] = []
    for office in offices:
        node = nodes[office.pk]
        parent = nodes.get(office.parent_id) if office.parent_id is not None else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)

    def set_depth(node: OfficeNode, depth: int) -> None:
        node.depth = depth
        for child in node.children:
            set_depth(child, depth + 1)

    for root in roots:
        set_depth(root, 0)
    return roots


def flatten_tree(roots: list[OfficeNode]) -> list[OfficeNode]:
    """Depth-first list of a forest, for rendering as an indented table."""
    out: list[OfficeNode] = []

    def walk(node: OfficeNode) -> None:
        out.append(node)
        for child in node.children:
            walk(child)

    for root in roots:
        walk(root)
    return out


def office_members(user: Any, office: Office, *, include_ended: bool = True) -> QuerySet[Membership]:
    """Memberships of ``office`` (ended ones too, unless ``include_ended`` is false), by name.

    For the office's administrators only (403 otherwise)."""
    require(user, Perm.MANAGE_MEMBERS, office.pk)
    base = Membership.objects.all() if include_ended else Membership.objects.active()
    qs = base.filter(office=office).select_related("user")
    return qs.order_by("user__last_name", "user__first_name", "user__username", "role")


def office_membership_get(user: Any, office: Office, pk: int) -> Membership:
    """One membership of ``office`` that ``user`` may manage; 404 when it belongs to another office."""
    membership = office_members(user, office).filter(pk=pk).first()
    if membership is None:
        raise Http404
    return membership


HOME_COUNT_CAP = 10_000


@dataclass
class HomeSummary:
    """What the landing page shows a user, by role. Counts are capped so the page stays fast at any size."""

    memberships: list[Membership]
    person_count: int | None = None  # None: the user may see no persons
    person_count_capped: bool = False
    offices_visible: int = 0
    offices_below: int = 0  # offices seen only through a coordinator role (figures, never people)
    audit_events_week: int | None = None  # None: the user may not read the audit trail
    audit_count_capped: bool = False
    managed_offices: list[Office] = field(default_factory=list)
    can_search_people: bool = False


def home_summary(user: Any) -> HomeSummary:
    """The landing-page figures for ``user``; each block appears only for the roles that grant it."""
    memberships = sorted(active_memberships(user), key=lambda m: (m.office.name, m.role))
    summary = HomeSummary(memberships=memberships)
    visible = visible_office_ids(user)
    summary.offices_visible = len(visible)
    summary.offices_below = len(visible - member_office_ids(user))
    if offices_with_perm(user, Perm.VIEW_PERSON):
        summary.can_search_people = True
        # A capped count (COUNT over LIMIT) costs the same on a thousand or a million persons.
        count = person_queryset(user)[: HOME_COUNT_CAP + 1].count()
        summary.person_count = min(count, HOME_COUNT_CAP)
        summary.person_count_capped = count > HOME_COUNT_CAP
    if offices_with_perm(user, Perm.VIEW_AUDIT):
        week_ago = timezone.now() - dt.timedelta(days=7)
        count = audit_events_for_user(user).filter(at__gte=week_ago)[: HOME_COUNT_CAP + 1].count()
        summary.audit_events_week = min(count, HOME_COUNT_CAP)
        summary.audit_count_capped = count > HOME_COUNT_CAP
    manage = offices_with_perm(user, Perm.MANAGE_MEMBERS)
    summary.managed_offices = list(Office.objects.filter(pk__in=manage).order_by("name"))
    return summary
