"""Area autocomplete (htmx partial or JSON) and boundary GeoJSON for maps."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from rumbo.geo import selectors

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,60}$")
_CVE_ENT = re.compile(r"^\d{2}$")
BOUNDARY_MAX_AGE = 7 * 24 * 3600  # shipped data changes only with a Rumbo release; the ETag covers it


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_GET
@login_required
def areas(request: HttpRequest) -> HttpResponse:
    """Areas matching ``q`` (optionally ``country``, ``level``, ``limit``).

    An htmx request gets the result list of ``geo/area_picker.html``; anything else gets JSON
    ``{"results": [{"id", "country", "level", "code", "name", "label", "parent"}]}``. The picker's search
    box is named ``<field>_search``, so the query may also come from there (``field`` says which).
    """
    field = request.GET.get("field", "")
    if not _FIELD_NAME.match(field):
        field = ""
    query = request.GET.get("q") or (request.GET.get(f"{field}_search", "") if field else "")
    results = selectors.area_lookup(
        query,
        country=(request.GET.get("country") or "")[:2] or None,
        level=_int_or_none(request.GET.get("level")),
        limit=_int_or_none(request.GET.get("limit")) or 20,
    )
    if getattr(request, "htmx", False):
        return render(
            request, "geo/_area_results.html", {"results": results, "query": query.strip(), "field": field}
        )
    return JsonResponse(
        {
            "results": [
                {
                    "id": a.pk,
                    "country": a.country,
                    "level": a.level,
                    "code": a.code,
                    "name": a.name,
                    "label": a.label,
                    "parent": a.parent_id,
                }
                for a in results
            ]
        }
    )


def _geojson_response(request: HttpRequest, doc: selectors.GeoJSONDocument) -> HttpResponse:
    """Send ``doc`` with validators and long public caching; gzip when the client accepts it."""
    response: HttpResponse
    if request.headers.get("If-None-Match", "") == doc.etag:
        response = HttpResponseNotModified()
    else:
        accepts_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
        response = HttpResponse(
            doc.gzipped if accepts_gzip else doc.body, content_type="application/geo+json"
        )
        if accepts_gzip:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = doc.etag
    response["Cache-Control"] = f"public, max-age={BOUNDARY_MAX_AGE}"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


@require_GET
def state_boundaries(request: HttpRequest) -> HttpResponse:
    """Mexico's state boundaries as GeoJSON. Public reference data: no login, cacheable by anyone."""
    return _geojson_response(request, selectors.mx_state_boundaries())


@require_GET
def municipality_boundaries(request: HttpRequest, cve_ent: str) -> HttpResponse:
    """The municipal boundaries of one Mexican state (INEGI state code, e.g. ``07``) as GeoJSON."""
    doc = selectors.mx_municipality_boundaries(cve_ent) if _CVE_ENT.match(cve_ent) else None
    if doc is None:
        raise Http404
    return _geojson_response(request, doc)
