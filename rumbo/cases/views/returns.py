"""Pages of returns and arrivals (reached from the person's page) and of the points of return."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from rumbo.cases.forms import ArrivalForm, ReturnForm, ReturnPointForm, add_service_errors
from rumbo.cases.selectors import return_points
from rumbo.cases.selectors.returns import return_points_map
from rumbo.cases.services import arrival_record, return_point_add, return_record
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, offices_with_perm, require, require_any
from rumbo.people.models import Person
from rumbo.people.selectors import person_get


def _person_for_casework(request: HttpRequest, pk: int) -> Person | HttpResponse:
    """The person to record a return or arrival for: 404 outside the user's offices, 403 without
    ``CHANGE_CASE`` there; a merged or anonymised record sends back to its page."""
    require_any(request.user, Perm.CHANGE_CASE)
    person = person_get(request.user, pk)
    require(request.user, Perm.CHANGE_CASE, person.office_id)
    if person.is_anonymised or person.merged_into_id is not None:
        messages.error(request, _("This record can no longer be changed."))
        return redirect("people:detail", pk=person.merged_into_id or person.pk)
    return person


@login_required
@require_http_methods(["GET", "POST"])
def return_add_view(request: HttpRequest, person_pk: int) -> HttpResponse:
    """Record a return of the person (one person, many returns)."""
    person = _person_for_casework(request, person_pk)
    if isinstance(person, HttpResponse):
        return person
    form = ReturnForm(request.POST if request.method == "POST" else None, person=person)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            return_record(
                actor=request.user,
                person=person,
                returned_on=data["returned_on"],
                how=data["how"],
                point=data.get("point"),
                point_other=data.get("point_other", ""),
                country_from=data.get("country_from") or "US",
                us_state=data.get("us_state"),
                months_abroad=data.get("months_abroad"),
                english_level=data.get("english_level", ""),
                companions=form.companion_persons(),
                inm_constancia=data.get("inm_constancia", ""),
                notes=data.get("notes", ""),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Return recorded."))
            return redirect("people:detail", pk=person.pk)
    return render(request, "cases/return_form.html", {"form": form, "person": person})


@login_required
@require_http_methods(["GET", "POST"])
def arrival_add_view(request: HttpRequest, person_pk: int) -> HttpResponse:
    """Record an immigrant's arrival (every field optional)."""
    person = _person_for_casework(request, person_pk)
    if isinstance(person, HttpResponse):
        return person
    form = ArrivalForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            arrival_record(
                actor=request.user,
                person=person,
                country_of_origin=data.get("country_of_origin", ""),
                entered_on=data.get("entered_on"),
                migration_status=data.get("migration_status", ""),
                comar_status=data.get("comar_status", ""),
                comar_file=data.get("comar_file", ""),
                notes=data.get("notes", ""),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Arrival recorded."))
            return redirect("people:detail", pk=person.pk)
    return render(request, "cases/arrival_form.html", {"form": form, "person": person})


@login_required
@require_http_methods(["GET", "POST"])
def return_points_view(request: HttpRequest) -> HttpResponse:
    """The points of return (INM modules and those offices added); office administrators add airports and
    border crossings."""
    require_any(request.user, Perm.VIEW_CASE)
    managed = sorted(offices_with_perm(request.user, Perm.MANAGE_DIRECTORY))
    form = ReturnPointForm(request.POST if request.method == "POST" else None) if managed else None
    if request.method == "POST":
        if form is None:
            require_any(request.user, Perm.MANAGE_DIRECTORY)  # 403
        elif form.is_valid():
            data = form.cleaned_data
            try:
                return_point_add(
                    actor=request.user,
                    office=Office.objects.get(pk=managed[0]),
                    name=data["name"],
                    kind=data["kind"],
                    municipality=data.get("municipality"),
                    lat=data.get("lat"),
                    lon=data.get("lon"),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Point of return added."))
                return redirect("cases:return_points")
    points = list(return_points(include_inactive=True))
    return render(
        request,
        "cases/return_points.html",
        {"points": points, "map": return_points_map(points), "form": form},
    )
