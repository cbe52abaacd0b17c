"""API routes of the geo app (mounted under /api/v1/): reference data, readable by any authenticated user."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.geo.models import AdminArea
from rumbo.geo.serializers import AdminAreaDetailSerializer, AdminAreaSerializer, AreaQuerySerializer
from rumbo.lib.api import error_responses, page_serializer, paginate, query_params
from rumbo.lib.text import fold

TAGS = ["geo"]


def area_lookup(
    *, q: str = "", country: str = "", level: int | None = None, parent: int | None = None
) -> QuerySet[AdminArea]:
    """Areas matching the filters. Names match accent- and case-insensitively anywhere in the name, with
    names that start with the query first; a code (INEGI, ISO 3166-2) matches exactly."""
    areas = AdminArea.objects.select_related("parent")
    if country:
        areas = areas.filter(country=country.upper())
    if level is not None:
        areas = areas.filter(level=level)
    if parent is not None:
        areas = areas.filter(parent_id=parent)
    raw, folded = q.strip(), fold(q)
    if not raw:
        return areas.order_by("country", "level", "name", "id")
    match = Q(code__iexact=raw) | Q(iso_3166_2__iexact=raw)
    if folded:
        match |= Q(name_folded__contains=folded)
    rank = Case(
        When(Q(code__iexact=raw) | Q(iso_3166_2__iexact=raw), then=Value(0)),
        When(name_folded__startswith=folded or raw, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return areas.filter(match).annotate(rank=rank).order_by("rank", "country", "level", "name", "id")


@extend_schema(
    operation_id="areas_list",
    tags=TAGS,
    summary="Look up administrative areas",
    description="States/departments and municipalities of the countries Rumbo serves. Reference data: any "
    "authenticated user may read it.",
    parameters=[AreaQuerySerializer],
    responses={200: page_serializer(AdminAreaSerializer, "AdminAreaPage"), **error_responses(400, 404)},
)
@api_view(["GET"])
def area_list(request: Request) -> Response:
    params = query_params(request, AreaQuerySerializer)
    areas = area_lookup(
        q=params.get("q", ""),
        country=params.get("country", ""),
        level=params.get("level"),
        parent=params.get("parent"),
    )
    return paginate(request, areas, AdminAreaSerializer)


@extend_schema(
    operation_id="areas_retrieve",
    tags=TAGS,
    summary="One administrative area",
    responses={200: AdminAreaDetailSerializer, **error_responses(404)},
)
@api_view(["GET"])
def area_detail(request: Request, pk: int) -> Response:
    area = get_object_or_404(AdminArea.objects.select_related("parent"), pk=pk)
    return Response(AdminAreaDetailSerializer(area).data)


urlpatterns = [
    path("areas/", area_list, name="api-areas-list"),
    path("areas/<int:pk>/", area_detail, name="api-areas-detail"),
]
