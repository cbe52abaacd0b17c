"""API views shared by every app. Kept apart from ``rumbo.lib.api``, which DRF imports while it initialises
(pagination, exception handler) and so must not define views itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csp.decorators import csp_update
from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([AllowAny])
@authentication_classes([])
def not_found(request: Request, *args: Any, **kwargs: Any) -> Response:
    """Any URL under /api/v1/ that no route matches: a JSON 404 in the error shape, not an HTML page.

    Mounted last in ``rumbo.urls.api_v1``; it also answers ids that are not numbers (``/persons/abc/``).
    """
    raise exceptions.NotFound()


class ApiDocsView(SpectacularSwaggerSplitView):
    """Interactive API docs (Swagger UI) that work under Rumbo's Content-Security-Policy and offline.

    The UI's files come from Rumbo's static files (drf-spectacular-sidecar) and its start-up script from
    this same URL (``?script``), so no CDN and no inline script is needed. Use "Authorize" with
    ``Token <key>`` to try requests.
    """

    url_name = "api-schema"


# Swagger UI's page carries a small inline <style>; allowed on this page only.
api_docs: Callable[..., HttpResponseBase] = csp_update({"style-src": ["'self'", "'unsafe-inline'"]})(
    ApiDocsView.as_view()
)
