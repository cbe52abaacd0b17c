"""Orientation cases API routes (mounted under /api/v1/): cases, their status, a person's returns, the points
of return; the referrals routes (``api_referrals``) are added at the end.

Access, as on the pages: a case of an office where you hold no role answers 404 — unless your office
transferred it away, then you may read it (``read_only``: true, only the rows your office recorded); your own
office without the permission answers 403; lists contain only cases of offices where you may view cases (403
when there are none). Every read of a case or of returns is audited (``CASE_API_READ``).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases import api_referrals
from rumbo.cases.forms import validate_filter_date
from rumbo.cases.models import ArrivalEvent, Case, CaseStatus, Need, Priority, ReturnEvent, ReturnPoint
from rumbo.cases.selectors import (
    case_get,
    case_list,
    case_view_get,
    is_case_number,
    person_returns,
    return_points,
)
from rumbo.cases.serializers import (
    CaseCreateSerializer,
    CaseSerializer,
    CaseStatusSerializer,
    CaseSummarySerializer,
    ReturnCreateSerializer,
    ReturnEventSerializer,
    ReturnPointSerializer,
)
from rumbo.cases.services import case_open, case_record_view, case_set_status, return_record
from rumbo.geo.models import AdminArea
from rumbo.lib.api import (
    PageQuerySerializer,
    Pagination,
    django_validation_detail,
    error_responses,
    page_serializer,
    paginate,
    query_params,
    search_page_response,
)
from rumbo.offices.permissions import Perm, member_office_ids, require, require_any
from rumbo.people.models import Person
from rumbo.people.selectors import person_get
from rumbo.people.services import person_search_record

TAGS = ["cases"]


def _service_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(django_validation_detail(exc))


def _user_person(request: Request, pk: int) -> Person | None:
    """A person of one of the user's offices, or None (ids in a request body answer 400, not 404)."""
    return Person._base_manager.filter(pk=pk, office_id__in=member_office_ids(request.user)).first()


# --- Cases -----------------------------------------------------------------------------------------------


class CaseListQuerySerializer(PageQuerySerializer):
    q = serializers.CharField(
        required=False,
        max_length=100,
        help_text="A case number (prefix) or the person's name, document, phone.",
    )
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    need = serializers.ChoiceField(choices=Need.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    mine = serializers.BooleanField(required=False, default=False, help_text="Only cases assigned to me.")
    opened_from = serializers.DateField(
        required=False, validators=[validate_filter_date], help_text="Between 1900 and 2100."
    )
    opened_to = serializers.DateField(
        required=False, validators=[validate_filter_date], help_text="Between 1900 and 2100."
    )


CasePageSerializer = page_serializer(CaseSummarySerializer, "CasePage", capped=True)


def _case_response(request: Request, case: Case, status_code: int = status.HTTP_200_OK) -> Response:
    view = case_view_get(request.user, case.pk)
    return Response(
        CaseSerializer(view.case, context={"request": request, "case_view": view}).data, status=status_code
    )


@extend_schema(
    methods=["GET"],
    operation_id="cases_list",
    tags=TAGS,
    summary="List cases",
    description="Cases of the offices where you may view cases, newest first, with filters. At most 1,000 "
    "are counted (`capped` says when there are more). A search by person is audited like a person search; "
    "every call is audited (`CASE_API_READ`). 403 when you may view cases in none of your offices.",
    parameters=[CaseListQuerySerializer],
    responses={200: CasePageSerializer, **error_responses(400, 403, 404)},
)
@extend_schema(
    methods=["POST"],
    operation_id="cases_create",
    tags=TAGS,
    summary="Open a case",
    description="Opens a case for `person` at the person's office, with the next case number of the office. "
    "403 without the right to change cases there; 400 at `person` when it is not a person of your offices; "
    "errors are reported at the field (`members`, `needs.<need>`, `assigned_to`, …) and nothing is saved.",
    request=CaseCreateSerializer,
    responses={201: CaseSerializer, **error_responses(400, 403, 415)},
)
@api_view(["GET", "POST"])
@parser_classes([JSONParser])
def case_list_api(request: Request) -> Response:
    if request.method == "POST":
        return _case_create(request)
    require_any(request.user, Perm.VIEW_CASE)
    params = query_params(request, CaseListQuerySerializer)
    number = params.get("page", 1)
    size = params.get("page_size", Pagination.page_size)
    query = params.get("q", "").strip()
    opened_from, opened_to = params.get("opened_from"), params.get("opened_to")
    found = case_list(
        user=request.user,
        status=params.get("status"),
        need=params.get("need"),
        priority=params.get("priority"),
        assigned_to=request.user if params.get("mine") else None,
        q=query or None,
        period=(opened_from, opened_to) if opened_from or opened_to else None,
        page=number,
        page_size=size,
    )
    if number > 1 and not found.cases:
        raise NotFound(_("Invalid page."))
    if query and not is_case_number(query):
        person_search_record(actor=request.user, query=query, result_count=found.total, via="api")
    audit_record(
        actor=request.user,
        action=Action.CASE_API_READ,
        object_type="cases.case",
        detail={"list": [c.pk for c in found.cases], "via": "api"},
    )
    return search_page_response(
        request,
        number=number,
        total=found.total,
        has_next=found.has_next,
        capped=found.capped,
        results=CaseSummarySerializer(found.cases, many=True).data,
    )


def _case_create(request: Request) -> Response:
    require_any(request.user, Perm.CHANGE_CASE)
    serializer = CaseCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    person = _user_person(request, data["person"])
    if person is None:
        raise ValidationError({"person": [_("No such person in your offices.")]})
    require(request.user, Perm.CHANGE_CASE, person.office_id)
    errors: dict[str, list[str]] = {}
    members = []
    for pk in data["members"]:
        member = _user_person(request, pk)
        if member is None:
            errors.setdefault("members", []).append(_("No such person in your offices: %(id)s.") % {"id": pk})
        else:
            members.append(member)
    return_event = None
    if data["return_event"] is not None:
        return_event = ReturnEvent._base_manager.filter(pk=data["return_event"], person=person).first()
        if return_event is None:
            errors["return_event"] = [_("This return is not the person's.")]
    arrival_event = None
    if data["arrival_event"] is not None:
        arrival_event = ArrivalEvent._base_manager.filter(pk=data["arrival_event"], person=person).first()
        if arrival_event is None:
            errors["arrival_event"] = [_("This arrival is not the person's.")]
    worker = None
    if data["assigned_to"] is not None:
        worker = get_user_model().objects.filter(pk=data["assigned_to"], is_active=True).first()
        if worker is None:
            errors["assigned_to"] = [_("Choose a caseworker of the case's office.")]
    if errors:
        raise ValidationError(errors)
    try:
        case = case_open(
            actor=request.user,
            person=person,
            members=members,
            needs=data["needs"],
            priority=data["priority"],
            vulnerable=data["vulnerable"],
            summary=data["summary"],
            assigned_to=worker,
            return_event=return_event,
            arrival_event=arrival_event,
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    response = _case_response(request, case, status.HTTP_201_CREATED)
    response["Location"] = reverse("api-cases-detail", args=[case.pk])
    return response


@extend_schema(
    operation_id="cases_retrieve",
    tags=TAGS,
    summary="A case",
    description="The whole case. Every read is audited. An office the case was transferred away from may "
    "read it (`read_only`: true) and sees only the status changes it recorded.",
    responses={200: CaseSerializer, **error_responses(403, 404)},
)
@api_view(["GET"])
def case_detail_api(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.VIEW_CASE)
    view = case_view_get(request.user, pk)
    case_record_view(actor=request.user, case=view.case, via="api", past_office_id=view.rows_office_id)
    return Response(CaseSerializer(view.case, context={"request": request, "case_view": view}).data)


@extend_schema(
    operation_id="cases_status",
    tags=TAGS,
    summary="Change the status of a case",
    description="open → follow_up → closed, closed → reopened, …; closing and reopening need a `reason`. "
    "400 at `status` for a change that is not allowed. Needs the right to change cases in the case's office.",
    request=CaseStatusSerializer,
    responses={200: CaseSerializer, **error_responses(400, 403, 404, 415)},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def case_status_api(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.CHANGE_CASE)
    case = case_get(request.user, pk, Perm.CHANGE_CASE)
    serializer = CaseStatusSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        case_set_status(
            actor=request.user,
            case=case,
            status=serializer.validated_data["status"],
            reason=serializer.validated_data["reason"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    return _case_response(request, case)


# --- Returns ---------------------------------------------------------------------------------------------

ReturnPageSerializer = page_serializer(ReturnEventSerializer, "ReturnPage")
ReturnPointPageSerializer = page_serializer(ReturnPointSerializer, "ReturnPointPage")


@extend_schema(
    methods=["GET"],
    operation_id="persons_returns_list",
    tags=TAGS,
    summary="A person's returns",
    description="The returns of a person of your offices, newest first (also those another office recorded "
    "before the person moved). Needs the right to view cases in the person's office. Audited.",
    parameters=[PageQuerySerializer],
    responses={200: ReturnPageSerializer, **error_responses(400, 403, 404)},
)
@extend_schema(
    methods=["POST"],
    operation_id="persons_returns_create",
    tags=TAGS,
    summary="Record a return",
    description="Records a return of the person at the person's office. The date cannot be in the future; "
    "`us_state` must be a US state; `companions` must be persons of the office linked to the person's "
    "household. Errors at the field; nothing is saved.",
    request=ReturnCreateSerializer,
    responses={201: ReturnEventSerializer, **error_responses(400, 403, 404, 415)},
)
@api_view(["GET", "POST"])
@parser_classes([JSONParser])
def person_returns_api(request: Request, pk: int) -> Response:
    if request.method == "POST":
        return _return_create(request, pk)
    require_any(request.user, Perm.VIEW_CASE)
    person = person_get(request.user, pk, Perm.VIEW_CASE)
    returns = person_returns(request.user, person)
    response = paginate(request, returns, ReturnEventSerializer)
    audit_record(
        actor=request.user,
        action=Action.CASE_API_READ,
        office=person.office,
        obj=person,
        detail={"returns": [r["id"] for r in response.data["results"]], "via": "api"},
    )
    return response


def _return_create(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.CHANGE_CASE)
    person = person_get(request.user, pk, Perm.CHANGE_CASE)
    serializer = ReturnCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    errors: dict[str, list[str]] = {}
    point = None
    if data["point"] is not None:
        point = ReturnPoint.objects.filter(pk=data["point"]).first()
        if point is None:
            errors["point"] = [_("No such point of return.")]
    us_state = None
    if data["us_state"] is not None:
        us_state = AdminArea.objects.filter(pk=data["us_state"]).first()
        if us_state is None:
            errors["us_state"] = [_("Choose a state of the United States.")]
    companions = []
    for companion_pk in data["companions"]:
        companion = _user_person(request, companion_pk)
        if companion is None:
            errors.setdefault("companions", []).append(
                _("No such person in your offices: %(id)s.") % {"id": companion_pk}
            )
        else:
            companions.append(companion)
    if errors:
        raise ValidationError(errors)
    try:
        event = return_record(
            actor=request.user,
            person=person,
            returned_on=data["returned_on"],
            how=data["how"],
            point=point,
            point_other=data["point_other"],
            country_from=data["country_from"],
            us_state=us_state,
            months_abroad=data["months_abroad"],
            english_level=data["english_level"],
            companions=companions,
            inm_constancia=data["inm_constancia"],
            notes=data["notes"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    return Response(ReturnEventSerializer(event).data, status=status.HTTP_201_CREATED)


@extend_schema(
    operation_id="return_points_list",
    tags=TAGS,
    summary="Points of return",
    description="INM repatriation modules and the airports and border crossings offices added (ids for "
    "`point` when recording a return). Needs the right to view cases in one of your offices.",
    parameters=[PageQuerySerializer],
    responses={200: ReturnPointPageSerializer, **error_responses(400, 403, 404)},
)
@api_view(["GET"])
def return_points_api(request: Request) -> Response:
    require_any(request.user, Perm.VIEW_CASE)
    return paginate(request, return_points(include_inactive=True), ReturnPointSerializer)


urlpatterns: list[URLPattern | URLResolver] = [
    path("cases/", case_list_api, name="api-cases-list"),
    path("cases/<int:pk>/", case_detail_api, name="api-cases-detail"),
    path("cases/<int:pk>/status/", case_status_api, name="api-cases-status"),
    path("persons/<int:pk>/returns/", person_returns_api, name="api-persons-returns"),
    path("return-points/", return_points_api, name="api-return-points"),
]

# The referrals routes.
urlpatterns += api_referrals.urlpatterns
