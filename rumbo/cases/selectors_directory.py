"""Reads of the service catalogue and directory (services, institutions, offerings, procedure types), always
for an acting user: everyone who may view cases in an office sees its directory; changing it is for those
with ``MANAGE_DIRECTORY``. Another office's entry answers 404; your own office without the right role, 403.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.urls import reverse

from rumbo.cases.models import Case, CaseNeed, Institution, Offering, ProcedureKind, Service
from rumbo.geo.maps import MapPlace, MexicoMap, mexico_map
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require


def directory_offices(user: Any, perm: Perm = Perm.VIEW_CASE) -> list[Office]:
    """The offices whose directory the user may read (or, with ``perm``, change), by name."""
    return list(Office.objects.filter(pk__in=list(offices_with_perm(user, perm))).order_by("name"))


def _office_filter(user: Any, office_id: int | None) -> list[int]:
    offices = offices_with_perm(user, Perm.VIEW_CASE)
    if office_id is not None:
        return [office_id] if office_id in offices else []
    return sorted(offices)


def _get_owned(qs: QuerySet[Any], user: Any, pk: int, perm: Perm, office_field: str = "office_id") -> Any:
    """One row of ``qs``: 404 unless its office is one of the user's, 403 there without ``perm``."""
    obj = qs.filter(pk=pk, **{f"{office_field}__in": list(member_office_ids(user))}).first()
    if obj is None:
        raise Http404
    office_id = obj
    for part in office_field.split("__"):
        office_id = getattr(office_id, part)
    require(user, perm, office_id)
    return obj


# --- Services -----------------------------------------------------------------------------------------


def service_queryset(
    user: Any, *, office_id: int | None = None, query: str = "", active: bool | None = None
) -> QuerySet[Service]:
    """Services of the offices whose directory the user may read; ``query`` matches name or code."""
    qs = Service._base_manager.filter(office_id__in=_office_filter(user, office_id)).select_related("office")
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(code__icontains=query) | Q(description__icontains=query))
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.annotate(offering_count=Count("offerings")).order_by("office__name", "category", "name")


def service_get(user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> Service:
    return _get_owned(Service._base_manager.select_related("office"), user, pk, perm)


# --- Institutions -------------------------------------------------------------------------------------


def institution_queryset(
    user: Any,
    *,
    office_id: int | None = None,
    query: str = "",
    service_id: int | None = None,
    active: bool | None = None,
) -> QuerySet[Institution]:
    """Institutions of the offices whose directory the user may read; ``query`` matches the name, address
    or municipality; ``service_id`` keeps those that offer that service."""
    qs = Institution._base_manager.filter(office_id__in=_office_filter(user, office_id)).select_related(
        "office", "admin_area", "admin_area__parent"
    )
    if query:
        qs = qs.filter(
            Q(name__icontains=query) | Q(address__icontains=query) | Q(admin_area__name__icontains=query)
        )
    if service_id is not None:
        qs = qs.filter(offerings__service_id=service_id).distinct()
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("office__name", "name")


#: Institutions drawn on the directory's map at most (the list below it pages through all of them).
MAP_LIMIT = 2000


def institutions_map(qs: QuerySet[Institution]) -> MexicoMap:
    """The institutions of ``qs`` on a map of Mexico: at their own coordinates, else at their municipality's
    seat (or their state's); institutions at the same place share one marker sized by their number, titled
    with their names. The states they are in are shaded."""
    grouped: dict[tuple[float, float], list[Institution]] = {}
    states: set[str] = set()
    for inst in qs[:MAP_LIMIT]:
        area = inst.admin_area
        lat, lon = inst.lat, inst.lon
        if (lat is None or lon is None) and area is not None:
            lat, lon = area.lat, area.lon
        if area is not None:
            state = area.parent if area.parent_id and area.level != area.Level.STATE else area
            if state is not None and state.country == "MX":
                states.add(state.code)
        if lat is None or lon is None:
            continue
        grouped.setdefault((round(lat, 3), round(lon, 3)), []).append(inst)
    places = []
    for (lat, lon), here in grouped.items():
        names = [i.name for i in here]
        label = "; ".join(names[:8]) + (" …" if len(names) > 8 else "")
        url = reverse("cases:directory_institution", args=[here[0].pk]) if len(here) == 1 else ""
        kind = "" if any(i.is_active for i in here) else "inactive"
        places.append(MapPlace(lat=lat, lon=lon, label=label, url=url, count=len(here), kind=kind))
    return mexico_map(places, highlight=states, max_radius=16, zoom=True)


def institution_get(user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> Institution:
    return _get_owned(
        Institution._base_manager.select_related("office", "admin_area", "admin_area__parent"), user, pk, perm
    )


def institution_offerings(institution: Institution) -> list[Offering]:
    """Every offering of an institution, current and past, by service and newest first."""
    return list(
        Offering.objects.filter(institution=institution)
        .select_related("service")
        .annotate(referral_count=Count("referrals"))
        .order_by("service__name", "-valid_from", "-id")
    )


def offering_get(user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> Offering:
    return _get_owned(
        Offering.objects.select_related("service", "institution", "institution__office"),
        user,
        pk,
        perm,
        office_field="institution__office_id",
    )


# --- Offerings for a new referral ---------------------------------------------------------------------


@dataclass
class ServiceOfferings:
    """The current offerings of one service, for the referral form."""

    service: Service
    offerings: list[Offering] = field(default_factory=list)
    answers_need: bool = False


def current_offerings(office_id: int, day: datetime.date) -> QuerySet[Offering]:
    """Offerings of the office that may be chosen for a new referral on ``day``."""
    return (
        Offering.objects.filter(
            institution__office_id=office_id,
            institution__is_active=True,
            service__is_active=True,
            valid_from__lte=day,
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        .select_related("service", "institution")
        .order_by("service__name", "institution__name", "-valid_from")
    )


def offerings_for_case(case: Case, day: datetime.date) -> list[ServiceOfferings]:
    """Current offerings of the case's office grouped by service: the services that answer one of the
    case's needs first, then the others, each by name."""
    needs = set(CaseNeed.objects.filter(case_id=case.pk).values_list("need", flat=True))
    groups: dict[int, ServiceOfferings] = {}
    for offering in current_offerings(case.office_id, day):
        group = groups.get(offering.service_id)
        if group is None:
            group = ServiceOfferings(service=offering.service, answers_need=offering.service.need in needs)
            groups[offering.service_id] = group
        group.offerings.append(offering)
    return sorted(groups.values(), key=lambda g: (not g.answers_need, g.service.name.lower()))


# --- Procedure types ----------------------------------------------------------------------------------


def procedure_kind_queryset(user: Any, *, office_id: int | None = None) -> QuerySet[ProcedureKind]:
    return (
        ProcedureKind._base_manager.filter(office_id__in=_office_filter(user, office_id))
        .select_related("office")
        .order_by("office__name", "name")
    )


def procedure_kind_get(user: Any, pk: int, perm: Perm = Perm.VIEW_CASE) -> ProcedureKind:
    return _get_owned(ProcedureKind._base_manager.select_related("office"), user, pk, perm)


def services_with_offerings(institutions: list[Institution]) -> dict[int, list[Offering]]:
    """Current and past offerings of each institution of a page (one query), by institution id."""
    out: dict[int, list[Offering]] = {i.pk: [] for i in institutions}
    for offering in Offering.objects.filter(institution__in=institutions).select_related("service"):
        out[offering.institution_id].append(offering)
    return out
