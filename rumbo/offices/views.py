"""Office pages and the home page of the UI shell."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rumbo.offices.permissions import active_memberships


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "offices/home.html", {"memberships": active_memberships(request.user)})


@login_required
def list(request: HttpRequest) -> HttpResponse:  # noqa: A001  (placeholder, replaced by the offices work)
    return HttpResponse("")
