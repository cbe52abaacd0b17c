"""API routes of referrals (mounted under /api/v1/ with the cases API): list, read, send, change status.

Access, as on the pages: a referral is visible to the office that owns its case and to the office that
recorded it (which keeps read access after a transfer); anything else answers 404. Reading needs
``VIEW_CASE``; sending and changing the status need ``REFER`` in the case's current office (403). A
referral without the person's consent is refused (400 at ``consent``) unless ``override_reason`` is given by
someone with ``REFER_WITHOUT_CONSENT``. Every read is audited (``CASE_API_READ``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.models import Case, Offering, Referral, ReferralStatus
from rumbo.cases.selectors_referrals import referral_events, referral_get, referral_list
from rumbo.cases.services.referrals import referral_send, referral_update_status
from rumbo.lib.api import (
    IdField,
    PageQuerySerializer,
    Pagination,
    django_validation_detail,
    error_responses,
    page_serializer,
    query_params,
)
from rumbo.offices.permissions import Perm, has_perm, member_office_ids, require_any
from rumbo.people.models import Person

TAGS = ["referrals"]


class _NamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ReferralEventSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReferralStatus.choices)
    note = serializers.CharField()
    at = serializers.DateTimeField()
    by = serializers.CharField(source="by.username", allow_null=True, default=None, help_text="Username.")


class ReferralSerializer(serializers.ModelSerializer):
    """A referral with its service, institution, consent, dates and outcome."""

    service = _NamedSerializer(source="offering.service", read_only=True)
    institution = _NamedSerializer(source="offering.institution", read_only=True)
    sent_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None, help_text="Username."
    )

    class Meta:
        model = Referral
        fields = [
            "id",
            "office",
            "case",
            "person",
            "offering",
            "service",
            "institution",
            "status",
            "reason",
            "consent",
            "consent_override_reason",
            "sent_at",
            "sent_by",
            "accepted_at",
            "delivered_at",
            "closed_at",
            "outcome",
        ]
        read_only_fields = fields


class ReferralDetailSerializer(ReferralSerializer):
    events = serializers.SerializerMethodField(help_text="The status history, oldest first.")

    class Meta(ReferralSerializer.Meta):
        fields = [*ReferralSerializer.Meta.fields, "events"]
        read_only_fields = fields

    def get_events(self, referral: Referral) -> list[dict[str, Any]]:
        return list(ReferralEventSerializer(referral_events(referral), many=True).data)


class ReferralQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=ReferralStatus.choices, required=False)
    case = IdField(required=False, help_text="Only the referrals of this case.")
    institution = IdField(required=False)
    service = IdField(required=False)
    office = IdField(required=False, help_text="Only this office's cases and records.")


class ReferralCreateSerializer(serializers.Serializer):
    case = IdField(help_text="The case (of one of your offices).")
    person = IdField(help_text="The case's person or a household member of the case.")
    offering = IdField(help_text="A service at an institution of the case office's directory, valid today.")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=300,
        help_text="Only without the person's consent, and only for those allowed to override it: why.",
    )


class ReferralStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ReferralStatus.choices,
        help_text="sent → accepted | rejected | cancelled; accepted → delivered | rejected | no_show.",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    outcome = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


ReferralPageSerializer = page_serializer(ReferralSerializer, "ReferralPage")


def _service_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(django_validation_detail(exc))


def _detail_response(request: Request, referral: Referral, code: int = status.HTTP_200_OK) -> Response:
    fresh = referral_get(request.user, referral.pk)
    return Response(ReferralDetailSerializer(fresh, context={"request": request}).data, status=code)


@extend_schema(
    methods=["GET"],
    operation_id="referrals_list",
    tags=TAGS,
    summary="List referrals",
    description="Referrals of the cases your offices own and those your offices recorded, newest first. "
    "403 when you may view cases in none of your offices. Audited.",
    parameters=[ReferralQuerySerializer],
    responses={200: ReferralPageSerializer, **error_responses(400, 403, 404)},
)
@extend_schema(
    methods=["POST"],
    operation_id="referrals_create",
    tags=TAGS,
    summary="Send a referral",
    description="Refers the case's person (or a household member) to an institution for a service. 400 at "
    "`consent` when the person has not agreed to share data with institutions (send `override_reason` "
    "if you may override it; otherwise 400 at `override_reason`), at `offering` when it is not valid "
    "today, at `person` when the person is not in the case. 403 without the right to refer.",
    request=ReferralCreateSerializer,
    responses={201: ReferralDetailSerializer, **error_responses(400, 403, 415)},
)
@api_view(["GET", "POST"])
@parser_classes([JSONParser])
def referral_list_api(request: Request) -> Response:
    if request.method == "POST":
        return _referral_create(request)
    require_any(request.user, Perm.VIEW_CASE)
    params = query_params(request, ReferralQuerySerializer)
    qs = referral_list(
        request.user,
        office_id=params.get("office"),
        status=params.get("status", ""),
        institution_id=params.get("institution"),
        service_id=params.get("service"),
        case_id=params.get("case"),
    ).select_related("created_by")
    paginator = Pagination()
    page = paginator.paginate_queryset(qs, request)
    data = ReferralSerializer(page, many=True).data
    assert paginator.page is not None
    audit_record(
        actor=request.user,
        action=Action.CASE_API_READ,
        object_type="cases.referral",
        detail={"list": True, "count": paginator.page.paginator.count, "ids": [r.pk for r in page or []]},
    )
    return paginator.get_paginated_response(data)


def _referral_create(request: Request) -> Response:
    require_any(request.user, Perm.REFER)
    serializer = ReferralCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    case = (
        Case._base_manager.filter(pk=data["case"], office_id__in=list(member_office_ids(request.user)))
        .select_related("office")
        .first()
    )
    if case is None:
        raise ValidationError({"case": [_("No such case in your offices.")]})
    if not has_perm(request.user, Perm.REFER, case.office_id):
        raise PermissionDenied
    person = Person._base_manager.filter(pk=data["person"]).first()
    if person is None:
        raise ValidationError(
            {"person": [_("Choose the person of the case or a household member of the case.")]}
        )
    offering = Offering.objects.filter(pk=data["offering"], institution__office_id=case.office_id).first()
    if offering is None:
        raise ValidationError({"offering": [_("Choose a service of this office's directory.")]})
    try:
        referral = referral_send(
            actor=request.user,
            case=case,
            person=person,
            offering=offering,
            reason=data["reason"],
            override_reason=data["override_reason"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    response = _detail_response(request, referral, status.HTTP_201_CREATED)
    response["Location"] = reverse("api-referrals-detail", args=[referral.pk])
    return response


@extend_schema(
    operation_id="referrals_retrieve",
    tags=TAGS,
    summary="A referral",
    description="The referral with its status history. Audited.",
    responses={200: ReferralDetailSerializer, **error_responses(403, 404)},
)
@api_view(["GET"])
def referral_detail_api(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.VIEW_CASE)
    referral = referral_get(request.user, pk)
    audit_record(
        actor=request.user,
        action=Action.CASE_API_READ,
        office=referral.case.office,
        obj=referral,
        detail={"case": referral.case_id},
    )
    return Response(ReferralDetailSerializer(referral, context={"request": request}).data)


@extend_schema(
    operation_id="referrals_status",
    tags=TAGS,
    summary="Change a referral's status",
    description="Records the next status with its date, a note and the outcome. 400 at `status` for a "
    "move that is not allowed (e.g. from a closed referral). Marking it delivered plans a follow-up at one "
    "month. Needs the right to refer in the case's office.",
    request=ReferralStatusSerializer,
    responses={200: ReferralDetailSerializer, **error_responses(400, 403, 404, 415)},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def referral_status_api(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.REFER)
    referral = referral_get(request.user, pk, Perm.REFER)
    serializer = ReferralStatusSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        referral_update_status(
            actor=request.user,
            referral=referral,
            status=data["status"],
            note=data["note"],
            outcome=data["outcome"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    return _detail_response(request, referral)


urlpatterns = [
    path("referrals/", referral_list_api, name="api-referrals-list"),
    path("referrals/<int:pk>/", referral_detail_api, name="api-referrals-detail"),
    path("referrals/<int:pk>/status/", referral_status_api, name="api-referrals-status"),
]
