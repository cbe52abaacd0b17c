"""API routes of the imports app (mounted under /api/v1/).

``POST imports/`` uploads a file (multipart), maps its columns (given, or suggested from the headers) and
starts the import in the background; ``GET imports/<id>/`` follows its progress and counts;
``GET imports/<id>/errors/`` lists the rows that were not imported with the reason per field (audited like
the error report). Access as everywhere: another office's batch is 404, your own office without the
permission to import persons 403.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.imports.fields import TARGET_NAMES, suggest_mapping
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.selectors import batch_get, batch_queryset, batch_rows
from rumbo.imports.services import import_discard, import_set_mapping, import_start, import_upload
from rumbo.lib.api import (
    IdField,
    PageQuerySerializer,
    Pagination,
    django_validation_detail,
    error_responses,
    page_serializer,
)
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, member_office_ids, require, require_any

TAGS = ["imports"]
MAPPING_FORMAT = gettext_noop(
    'Send "auto", a JSON list with a field per column or a JSON object {"column": "field"}.'
)


class ImportBatchSerializer(serializers.ModelSerializer):
    """An import: its file, mapping, status, progress and counts."""

    office = serializers.IntegerField(source="office_id", read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None, help_text="Username."
    )
    percent = serializers.IntegerField(read_only=True, help_text="Rows processed, in percent.")
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "office",
            "created_by",
            "created_at",
            "file_name",
            "file_sha256",
            "file_kind",
            "file_size",
            "headers",
            "mapping",
            "status",
            "total_rows",
            "processed_rows",
            "percent",
            "created_count",
            "skipped_existing_count",
            "failed_count",
            "possible_duplicates_count",
            "started_at",
            "finished_at",
            "error",
            "errors_url",
        ]
        read_only_fields = fields

    def get_errors_url(self, obj: ImportBatch) -> str:
        return reverse("api-imports-errors", args=[obj.pk])


class ImportCreateSerializer(serializers.Serializer):
    """Multipart body of a new import."""

    office = IdField(help_text="Office the persons are registered in (one of yours).")
    file = serializers.FileField(help_text="The CSV or XLSX file (first row: column names).")
    mapping = serializers.CharField(
        required=False,
        default="auto",
        help_text='"auto" (suggested from the headers, the default), a JSON list with one field name (or "") '
        'per column, or a JSON object {"header": "field"}. Fields: ' + ", ".join(sorted(TARGET_NAMES)) + ".",
    )

    def validate_office(self, value: int) -> Office:
        office = Office.objects.filter(
            pk=value, pk__in=member_office_ids(self.context["request"].user)
        ).first()
        if office is None:
            raise serializers.ValidationError(_("Choose one of your offices."))
        return office


class ImportRowErrorSerializer(serializers.ModelSerializer):
    """A row that was not imported: its number, its errors per field and its original values."""

    values = serializers.ListField(
        source="raw",
        child=serializers.CharField(allow_blank=True),
        help_text="The row's cells, in file order.",
    )
    # A field named like Serializer.errors: DRF's metaclass moves it into _declared_fields, so it is safe.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Translated messages per import field (given_names, curp, phone2, …).",
    )

    class Meta:
        model = ImportRow
        fields = ["row_number", "errors", "values"]


def _mapping(raw: str, headers: list[str]) -> list[str]:
    """The mapping a client sent, as one field per column."""
    raw = (raw or "auto").strip()
    if raw == "auto":
        return suggest_mapping(headers)
    try:
        value: Any = json.loads(raw)
    except ValueError as exc:
        raise ValidationError({"mapping": [_(MAPPING_FORMAT)]}) from exc
    if isinstance(value, dict):
        return [str(value.get(h, "") or "") for h in headers]
    if isinstance(value, list):
        return [str(v or "") for v in value]
    raise ValidationError({"mapping": [_(MAPPING_FORMAT)]})


@extend_schema(
    methods=["GET"],
    operation_id="imports_list",
    tags=TAGS,
    summary="Imports of your offices",
    description="Imports of the offices where you may import persons, newest first. 403 when there are none.",
    parameters=[PageQuerySerializer],
    responses={200: page_serializer(ImportBatchSerializer, "ImportBatchPage"), **error_responses(400, 404)},
)
@extend_schema(
    methods=["POST"],
    operation_id="imports_create",
    tags=TAGS,
    summary="Import persons from a file",
    description="Uploads a CSV or XLSX file (multipart, at most 20 MB), maps its columns and starts the "
    "import in the background; follow it at `imports/{id}/`. Every row is validated; good rows are "
    "registered, bad rows are listed at `imports/{id}/errors/`, rows imported before create nothing, and "
    "new persons are checked for duplicates. 400 at `file` for a wrong type or size, at `mapping` for an "
    "unusable mapping (nothing is kept then); 403 without the permission to import persons in `office`.",
    request={"multipart/form-data": ImportCreateSerializer},
    responses={201: ImportBatchSerializer, **error_responses(400, 403, 415)},
)
@api_view(["GET", "POST"])
@parser_classes([MultiPartParser])
def import_list(request: Request) -> Response:
    if request.method == "POST":
        return _import_create(request)
    require_any(request.user, Perm.IMPORT_PERSONS)
    PageQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
    paginator = Pagination()
    page = paginator.paginate_queryset(batch_queryset(request.user).order_by("-created_at", "-id"), request)
    return paginator.get_paginated_response(ImportBatchSerializer(page, many=True).data)


def _import_create(request: Request) -> Response:
    require_any(request.user, Perm.IMPORT_PERSONS)
    serializer = ImportCreateSerializer(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    office: Office = serializer.validated_data["office"]
    require(request.user, Perm.IMPORT_PERSONS, office.pk)
    try:
        batch = import_upload(actor=request.user, office=office, upload=serializer.validated_data["file"])
    except DjangoValidationError as exc:
        raise ValidationError(django_validation_detail(exc)) from exc
    try:
        mapping = _mapping(serializer.validated_data.get("mapping", "auto"), batch.headers)
        with transaction.atomic():
            import_set_mapping(actor=request.user, batch=batch, mapping=mapping)
            import_start(actor=request.user, batch=batch)
    except (DjangoValidationError, ValidationError) as exc:
        import_discard(actor=request.user, batch=batch)
        if isinstance(exc, DjangoValidationError):
            raise ValidationError(django_validation_detail(exc)) from exc
        raise
    batch.refresh_from_db()
    response = Response(ImportBatchSerializer(batch).data, status=status.HTTP_201_CREATED)
    response["Location"] = reverse("api-imports-detail", args=[batch.pk])
    return response


@extend_schema(
    operation_id="imports_retrieve",
    tags=TAGS,
    summary="An import's status, progress and counts",
    responses={200: ImportBatchSerializer, **error_responses(404)},
)
@api_view(["GET"])
def import_detail(request: Request, pk: int) -> Response:
    return Response(ImportBatchSerializer(batch_get(request.user, pk)).data)


@extend_schema(
    operation_id="imports_errors",
    tags=TAGS,
    summary="Rows of an import that were not imported",
    description="Each row that was not imported with its errors per field and its original values, in "
    "file order. Every call is audited (it shows personal data).",
    parameters=[PageQuerySerializer],
    responses={
        200: page_serializer(ImportRowErrorSerializer, "ImportRowErrorPage"),
        **error_responses(400, 404),
    },
)
@api_view(["GET"])
def import_errors(request: Request, pk: int) -> Response:
    batch = batch_get(request.user, pk)
    PageQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
    paginator = Pagination()
    page = paginator.paginate_queryset(batch_rows(batch, [ImportRow.Status.INVALID]), request)
    audit_record(
        actor=request.user,
        action=Action.IMPORT_REPORT_DOWNLOAD,
        office=batch.office,
        obj=batch,
        detail={"rows": len(page or []), "via": "api"},
    )
    return paginator.get_paginated_response(ImportRowErrorSerializer(page, many=True).data)


urlpatterns = [
    path("imports/", import_list, name="api-imports-list"),
    path("imports/<int:pk>/", import_detail, name="api-imports-detail"),
    path("imports/<int:pk>/errors/", import_errors, name="api-imports-errors"),
]
