"""Reads of returns, arrivals and a person's cases, for an acting user.

A person's returns and arrivals are shown to the office that holds the person now (``VIEW_CASE`` there),
including those another office recorded before the person moved: they are the person's history, which the
receiving office needs. They are read through ``_base_manager`` with that explicit check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from rumbo.cases.models import ArrivalEvent, Case, ReturnEvent, ReturnPoint
from rumbo.geo.maps import MapPlace, MexicoMap, mexico_map
from rumbo.geo.models import AdminArea
from rumbo.offices.permissions import Perm, has_perm, require
from rumbo.people.models import INVERSE_RELATION, HouseholdRelation, Person, Relation


def return_points(*, include_inactive: bool = False) -> QuerySet[ReturnPoint]:
    """Points of return, INM modules first, then by name."""
    qs = ReturnPoint.objects.select_related("municipality", "municipality__parent")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    return qs.order_by("kind", "name")


def us_states() -> QuerySet[AdminArea]:
    return AdminArea.objects.filter(country="US", level=AdminArea.Level.STATE).order_by("name")


def person_returns(user: Any, person: Person) -> QuerySet[ReturnEvent]:
    """The person's returns, newest first (403 without ``VIEW_CASE`` in the person's office)."""
    require(user, Perm.VIEW_CASE, person.office_id)
    return (
        ReturnEvent._base_manager.filter(person=person)
        .select_related("point", "us_state", "office", "created_by")
        .prefetch_related(Prefetch("companions", queryset=Person._base_manager.order_by("given_names")))
        .order_by("-returned_on", "-pk")
    )


def person_arrivals(user: Any, person: Person) -> QuerySet[ArrivalEvent]:
    """The person's arrivals, newest first (403 without ``VIEW_CASE`` in the person's office)."""
    require(user, Perm.VIEW_CASE, person.office_id)
    return (
        ArrivalEvent._base_manager.filter(person=person)
        .select_related("office", "created_by")
        .order_by("-entered_on", "-pk")
    )


def household_of(person: Person) -> list[tuple[Person, str]]:
    """(relative, relation label) for the person's household members registered by the same office: the
    persons that may accompany a return or be members of a case."""
    relations = (
        HouseholdRelation.objects.filter(person=person, relative__office_id=person.office_id)
        .filter(relative__merged_into__isnull=True, relative__anonymised_at__isnull=True)
        .select_related("relative")
        .order_by("relative__given_names", "relative_id")
    )
    # ``relation`` says what ``person`` is to the relative; show what the relative is to the person.
    labels = dict(Relation.choices)
    return [
        (r.relative, str(labels.get(INVERSE_RELATION.get(r.relation, r.relation), ""))) for r in relations
    ]


@dataclass(frozen=True)
class PersonCasework:
    """What the person page shows about casework: returns, arrivals and cases, and what the user may add."""

    returns: list[ReturnEvent]
    arrivals: list[ArrivalEvent]
    cases: list[Case]
    can_change: bool


def person_casework(user: Any, person: Person) -> PersonCasework | None:
    """The person's returns, arrivals and cases, or None when the user may not view cases in the person's
    office (the panel is then not shown)."""
    if not has_perm(user, Perm.VIEW_CASE, person.office_id):
        return None
    cases = list(
        Case._base_manager.filter(person=person, office_id=person.office_id)
        .select_related("assigned_to")
        .order_by("-opened_at", "-pk")
    )
    member_cases = list(
        Case._base_manager.filter(members=person, office_id=person.office_id)
        .exclude(person=person)
        .select_related("person")
        .order_by("-opened_at", "-pk")
    )
    live = person.anonymised_at is None and person.merged_into_id is None
    return PersonCasework(
        returns=list(person_returns(user, person)),
        arrivals=list(person_arrivals(user, person)),
        cases=cases + member_cases,
        can_change=live and has_perm(user, Perm.CHANGE_CASE, person.office_id),
    )


def return_points_map(points: Iterable[ReturnPoint]) -> MexicoMap:
    """The points of return on a map of Mexico (their own coordinates, else their municipality's seat);
    the states that hold one are shaded."""
    places = []
    states = set()
    for point in points:
        lat, lon = point.lat, point.lon
        if (lat is None or lon is None) and point.municipality is not None:
            lat, lon = point.municipality.lat, point.municipality.lon
        if point.municipality is not None and point.municipality.parent is not None:
            states.add(point.municipality.parent.code)
        if lat is None or lon is None:
            continue
        kind = point.kind if point.is_active else "inactive"
        label = f"{point.name} · {point.get_kind_display()}"
        places.append(MapPlace(lat=lat, lon=lon, label=label, kind=kind))
    return mexico_map(places, highlight=states, max_radius=7)
