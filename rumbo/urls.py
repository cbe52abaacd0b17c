"""Root URLs. Each app owns its UI routes (``<app>/urls.py``) and API routes (``<app>/api.py``)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView

from rumbo.lib.api_views import api_docs
from rumbo.lib.api_views import not_found as api_not_found
from rumbo.offices import views as office_views


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


api_v1: list[URLPattern | URLResolver] = [
    path("", include("rumbo.offices.api")),
    path("", include("rumbo.geo.api")),
    path("", include("rumbo.people.api")),
    path("", include("rumbo.imports.api")),
    path("", include("rumbo.matching.api")),
    path("", include("rumbo.messaging.api")),
    path("", include("rumbo.cases.api")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", api_docs, name="api-docs"),
    re_path(r"", api_not_found, name="api-not-found"),  # last: unknown API URLs answer a JSON 404
]

urlpatterns = [
    path("", office_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("accounts/", include("rumbo.accounts.urls")),
    path("offices/", include("rumbo.offices.urls")),
    path("people/", include("rumbo.people.urls")),
    path("imports/", include("rumbo.imports.urls")),
    path("matching/", include("rumbo.matching.urls")),
    path("messaging/", include("rumbo.messaging.urls")),
    path("cases/", include("rumbo.cases.urls")),
    path("hooks/messaging/", include("rumbo.messaging.webhook_urls")),
    path("audit/", include("rumbo.audit.urls")),
    path("geo/", include("rumbo.geo.urls")),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
]
