"""API routes of the offices app (mounted under /api/v1/).

A user sees the offices where they hold an active role and, where a role reaches down the office tree
(coordinators, office administrators), every office below (``offices.selectors``). Any other office answers
404. A user without any role gets an empty list: the route lists the user's own offices, so there is nothing
to forbid.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.lib.api import PageQuerySerializer, error_responses, page_serializer, paginate
from rumbo.offices.selectors import office_get, office_queryset, visible_office_ids
from rumbo.offices.serializers import OfficeDetailSerializer, OfficeSerializer

TAGS = ["offices"]


@extend_schema(
    operation_id="offices_list",
    tags=TAGS,
    summary="Offices you can see",
    description="Offices where you hold a role, and those below an office where your role reaches down "
    "the tree (coordinators). Empty when you hold no role.",
    parameters=[PageQuerySerializer],
    responses={200: page_serializer(OfficeSerializer, "OfficePage"), **error_responses(400, 404)},
)
@api_view(["GET"])
def office_list(request: Request) -> Response:
    return paginate(request, office_queryset(request.user).order_by("name", "id"), OfficeSerializer)


@extend_schema(
    operation_id="offices_retrieve",
    tags=TAGS,
    summary="One office",
    responses={200: OfficeDetailSerializer, **error_responses(404)},
)
@api_view(["GET"])
def office_detail(request: Request, pk: int) -> Response:
    office = office_get(request.user, pk)
    context = {"request": request, "visible_office_ids": visible_office_ids(request.user)}
    return Response(OfficeDetailSerializer(office, context=context).data)


urlpatterns = [
    path("offices/", office_list, name="api-offices-list"),
    path("offices/<int:pk>/", office_detail, name="api-offices-detail"),
]
