"""API plumbing shared by every app: one JSON error shape, one pagination, their OpenAPI components.

Every error answers ``{"error": {"code": ..., "message": ..., "fields": {"field": ["message", ...]}}}``.
Nested fields are dotted (``documents.0.number``), so a client can show each message at the field that caused
it. Lists answer ``{"count", "next", "previous", "results"}`` (search lists add ``capped``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

#: Largest database id (64-bit signed): bigger numbers in a request are rejected before any query.
ID_MAX = 2**63 - 1


# --- Pagination -------------------------------------------------------------------------------------


class Pagination(pagination.PageNumberPagination):
    """``?page=`` (from 1) and ``?page_size=`` (at most 200). A page past the end answers 404."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_paginated_response(self, data: Any) -> Response:
        return Response(self.envelope(data))

    def envelope(self, data: Any, **extra: Any) -> dict[str, Any]:
        assert self.page is not None  # only called after paginate_queryset
        return {
            "count": self.page.paginator.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
            **extra,
        }


class IdField(serializers.IntegerField):
    """A database id in a request (bounded, so no request can overflow a database integer)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=ID_MAX, **kwargs)


class PageQuerySerializer(serializers.Serializer):
    """The paging query parameters, documented once and validated (a non-number is a 400 at the field)."""

    page = serializers.IntegerField(required=False, min_value=1, help_text="Page number, from 1.")
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=Pagination.max_page_size, help_text="Results per page."
    )


def paginate(request: Request, queryset: Any, serializer_class: type[serializers.Serializer]) -> Response:
    """One page of ``queryset`` (already ordered) serialised with ``serializer_class``."""
    PageQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request)
    data = serializer_class(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)


def search_page_response(
    request: Request, *, number: int, total: int, has_next: bool, capped: bool, results: Any
) -> Response:
    """Page ``number`` of a search that pages itself (person and case search): the list envelope with
    ``capped``, its ``next``/``previous`` links built from the request's own URL."""
    url = request.build_absolute_uri()
    previous = None
    if number > 1:
        previous = (
            replace_query_param(url, "page", number - 1) if number > 2 else remove_query_param(url, "page")
        )
    return Response(
        {
            "count": total,
            "next": replace_query_param(url, "page", number + 1) if has_next else None,
            "previous": previous,
            "results": results,
            "capped": capped,
        }
    )


def page_serializer(item: type[serializers.Serializer], name: str, *, capped: bool = False) -> type:
    """A serializer class documenting one page of ``item`` (used only for the OpenAPI schema)."""
    fields: dict[str, Any] = {
        "count": serializers.IntegerField(
            help_text="Number of results (capped searches count at most the cap)."
        ),
        "next": serializers.URLField(allow_null=True, help_text="Next page, or null."),
        "previous": serializers.URLField(allow_null=True, help_text="Previous page, or null."),
        "results": item(many=True),
    }
    if capped:
        fields["capped"] = serializers.BooleanField(
            help_text="True when the search found more matches than it counts; refine the query."
        )
    return type(name, (serializers.Serializer,), fields)


# --- Errors -------------------------------------------------------------------------------------------


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine-readable code: invalid, not_authenticated, authentication_failed, "
        "permission_denied, not_found, method_not_allowed, unsupported_media_type, gone, server_error…"
    )
    message = serializers.CharField(help_text="Translated, human-readable summary.")
    # A field named like Serializer.fields: DRF's metaclass moves it into _declared_fields, so it is safe.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Translated messages per field; nested fields are dotted (documents.0.number). "
        "Errors of the whole request are under non_field_errors.",
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    error = ErrorBodySerializer()


class Gone(exceptions.APIException):
    """410: the record is gone for good; ``extra`` adds members to the error body (e.g. ``merged_into``)."""

    status_code = status.HTTP_410_GONE
    default_code = "gone"
    default_detail = gettext_lazy("This record no longer exists.")

    def __init__(self, detail: str | None = None, code: str | None = None, *, extra: dict[str, Any]) -> None:
        super().__init__(detail, code)
        self.extra = extra


_ERROR_DESCRIPTIONS = {
    400: "The request is not valid; `fields` says which field and why. Nothing was saved.",
    401: "No valid credentials: send `Authorization: Token <key>` or a session cookie.",
    403: "Authenticated, but your role in the office does not allow this (or, with a session cookie, "
    "two-factor authentication is still pending).",
    404: "Not found, or owned by an office you do not belong to.",
    405: "Method not allowed on this route.",
    406: "The requested response format is not available.",
    410: "Gone.",
    415: "Unsupported request body format; send application/json.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error status codes, all with the shared ``Error`` component.

    401, 403, 405 and 406 are added to every route: any route can answer them (403 when a session still
    owes its second factor).
    """
    wanted = sorted({*codes, 401, 403, 405, 406})
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_ERROR_DESCRIPTIONS.get(code, ""))
        for code in wanted
    }


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"field": ["message", ...]}`` (nested fields dotted)."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).extend(
                str(item) for item in detail
            )
        else:
            for index, item in enumerate(detail):
                for k, v in _flatten(item, f"{prefix}.{index}" if prefix else str(index)).items():
                    out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(detail))
    return out


def django_validation_detail(exc: DjangoValidationError) -> Any:
    """DRF-style detail of a Django ``ValidationError`` (``__all__`` becomes ``non_field_errors``)."""
    if hasattr(exc, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if key == "__all__" else key): messages
            for key, messages in exc.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}


def _error_response(status_code: int, code: str, message: str, fields: dict[str, list[str]]) -> Response:
    return Response({"error": {"code": code, "message": message, "fields": fields}}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error answers ``{"error": {"code", "message", "fields"}}``.

    ``fields`` maps each field name to its translated messages, so a client can show them at the field.
    A Django ``ValidationError`` raised by a service is a 400 like a serializer's. An unexpected exception is
    logged and answered as a JSON 500 (re-raised under DEBUG, for the debug page).
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(django_validation_detail(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        if settings.DEBUG:
            return None
        logger.error("Unhandled API error", exc_info=exc)
        set_rollback()
        return _error_response(
            status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error", _("Something went wrong on our side."), {}
        )
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        message = _("Some fields are not valid.")
        fields = _flatten(exc.detail)
    else:
        detail = getattr(exc, "detail", None)
        code = getattr(exc, "default_code", "error")
        if isinstance(detail, exceptions.ErrorDetail):
            code = detail.code or code
        message = str(detail) if detail is not None else str(exc)
        fields = {}
    response.data = {
        "error": {"code": code, "message": message, "fields": fields, **getattr(exc, "extra", {})}
    }
    return response


def query_params(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    """Validated query parameters (400 at the parameter when one is malformed)."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
