"""Pages of the service catalogue and directory: services, institutions with their offerings, procedure
types. Everyone who may view cases in an office reads its directory; office administrators
(``MANAGE_DIRECTORY``) change it. Thin views: access → form → one service → redirect.

Access: anonymous users log in; a user who may view cases in no office gets 403; another office's entry is
404; the entry's office without the needed role is 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from rumbo.cases.forms_directory import InstitutionForm, OfferingForm, ProcedureKindForm, ServiceForm
from rumbo.cases.models import Institution
from rumbo.cases.selectors_directory import (
    directory_offices,
    institution_get,
    institution_offerings,
    institution_queryset,
    institutions_map,
    offering_get,
    procedure_kind_get,
    procedure_kind_queryset,
    service_get,
    service_queryset,
    services_with_offerings,
)
from rumbo.cases.services.directory import (
    institution_create,
    institution_update,
    offering_create,
    offering_update,
    service_create,
    service_update,
)
from rumbo.cases.services.procedures import procedure_kind_create, procedure_kind_update
from rumbo.cases.services.referrals import offering_is_current
from rumbo.cases.services.tasks import office_today
from rumbo.offices.forms import apply_service_errors
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, offices_with_perm, require_any

PAGE_SIZE = 25


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _filters(request: HttpRequest) -> dict[str, Any]:
    offices = directory_offices(request.user)
    office_id = _int(request.GET.get("office"))
    params = request.GET.copy()
    params.pop("page", None)
    return {
        "query_string": params.urlencode(),
        "offices": offices,
        "office_id": office_id if office_id in {o.pk for o in offices} else None,
        "query": request.GET.get("q", "").strip()[:100],
        "can_manage": bool(offices_with_perm(request.user, Perm.MANAGE_DIRECTORY)),
    }


def _chosen_office(form: Any) -> Office:
    """The office picked in a create form (one of those the user manages: the form's choices)."""
    return Office.objects.get(pk=form.cleaned_data["office"].pk)


def _kind_fields(form: Any) -> dict[str, Any]:
    c = form.cleaned_data
    return {
        "name": c["name"],
        "description": c["description"],
        "steps": c["steps"],
        "is_active": c["is_active"],
    }


def _submit(
    request: HttpRequest, form: Any, write: Callable[[], Any], done: str, then: Callable[[Any], HttpResponse]
) -> HttpResponse | None:
    """A directory form posted and valid: run the service ``write``; on success say ``done`` and answer
    ``then(result)``; a refusal goes to the form's fields (None: show the form again)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        result = write()
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return None
    messages.success(request, done)
    return then(result)


@login_required
@require_GET
def services(request: HttpRequest) -> HttpResponse:
    """The service catalogue of the user's offices, searchable, with how many institutions offer each."""
    require_any(request.user, Perm.VIEW_CASE)
    f = _filters(request)
    qs = service_queryset(request.user, office_id=f["office_id"], query=f["query"])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cases/directory/services.html", {**f, "page": page, "tab": "services"})


@login_required
@require_GET
def institutions(request: HttpRequest) -> HttpResponse:
    """The institutions of the user's offices (search by name, address or municipality; by service)."""
    require_any(request.user, Perm.VIEW_CASE)
    f = _filters(request)
    service_id = _int(request.GET.get("service"))
    qs = institution_queryset(request.user, office_id=f["office_id"], query=f["query"], service_id=service_id)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    offerings = services_with_offerings(list(page.object_list))
    rows = [(i, sorted({o.service.name for o in offerings[i.pk]})) for i in page.object_list]
    service_choices = service_queryset(request.user, office_id=f["office_id"])
    return render(
        request,
        "cases/directory/institutions.html",
        {
            **f,
            "page": page,
            "rows": rows,
            "service_id": service_id,
            "service_choices": service_choices,
            "map": institutions_map(qs) if page.paginator.count else None,
            "tab": "institutions",
        },
    )


@login_required
@require_GET
def institution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An institution with every offering, current and past."""
    require_any(request.user, Perm.VIEW_CASE)
    institution = institution_get(request.user, pk)
    today = office_today(institution.office)
    offerings = [
        (o, offering_is_current(o, today) if institution.is_active else False)
        for o in institution_offerings(institution)
    ]
    return render(
        request,
        "cases/directory/institution_detail.html",
        {
            "institution": institution,
            "offerings": offerings,
            "can_manage": has_perm(request.user, Perm.MANAGE_DIRECTORY, institution.office_id),
            "tab": "institutions",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def service_create_view(request: HttpRequest) -> HttpResponse:
    offices = sorted(require_any(request.user, Perm.MANAGE_DIRECTORY))
    form = ServiceForm(request.POST or None, offices=offices)
    done = _submit(
        request,
        form,
        lambda: service_create(actor=request.user, office=_chosen_office(form), data=form.to_data()),
        _("Service added."),
        lambda _service: redirect("cases:directory_services"),
    )
    return done or render(request, "cases/directory/service_form.html", {"form": form, "tab": "services"})


@login_required
@require_http_methods(["GET", "POST"])
def service_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_any(request.user, Perm.MANAGE_DIRECTORY)
    service = service_get(request.user, pk, Perm.MANAGE_DIRECTORY)
    form = ServiceForm(request.POST or None, initial=ServiceForm.initial_for(service))
    done = _submit(
        request,
        form,
        lambda: service_update(actor=request.user, service=service, data=form.to_data()),
        _("Changes saved."),
        lambda _service: redirect("cases:directory_services"),
    )
    return done or render(
        request, "cases/directory/service_form.html", {"form": form, "service": service, "tab": "services"}
    )


def _institution_page(
    request: HttpRequest, form: InstitutionForm, institution: Institution | None
) -> HttpResponse:
    country = institution.office.country if institution is not None else "MX"
    return render(
        request,
        "cases/directory/institution_form.html",
        {
            "form": form,
            "institution": institution,
            "area": form.area(),
            "country": country,
            "tab": "institutions",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def institution_create_view(request: HttpRequest) -> HttpResponse:
    offices = sorted(require_any(request.user, Perm.MANAGE_DIRECTORY))
    form = InstitutionForm(request.POST or None, offices=offices)
    done = _submit(
        request,
        form,
        lambda: institution_create(actor=request.user, office=_chosen_office(form), data=form.to_data()),
        _("Institution added. Now add the services it offers."),
        lambda institution: redirect("cases:directory_institution", pk=institution.pk),
    )
    return done or _institution_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def institution_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_any(request.user, Perm.MANAGE_DIRECTORY)
    institution = institution_get(request.user, pk, Perm.MANAGE_DIRECTORY)
    form = InstitutionForm(request.POST or None, initial=InstitutionForm.initial_for(institution))
    done = _submit(
        request,
        form,
        lambda: institution_update(actor=request.user, institution=institution, data=form.to_data()),
        _("Changes saved."),
        lambda _result: redirect("cases:directory_institution", pk=institution.pk),
    )
    return done or _institution_page(request, form, institution)


@login_required
@require_http_methods(["GET", "POST"])
def offering_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a service offered by the institution ``pk``."""
    require_any(request.user, Perm.MANAGE_DIRECTORY)
    institution = institution_get(request.user, pk, Perm.MANAGE_DIRECTORY)
    today = office_today(institution.office)
    form = OfferingForm(request.POST or None, office_id=institution.office_id, initial={"valid_from": today})
    done = _submit(
        request,
        form,
        lambda: offering_create(actor=request.user, institution=institution, data=form.to_data()),
        _("Offering added."),
        lambda _result: redirect("cases:directory_institution", pk=institution.pk),
    )
    return done or render(
        request,
        "cases/directory/offering_form.html",
        {"form": form, "institution": institution, "tab": "institutions"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def offering_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_any(request.user, Perm.MANAGE_DIRECTORY)
    offering = offering_get(request.user, pk, Perm.MANAGE_DIRECTORY)
    institution = offering.institution
    form = OfferingForm(
        request.POST or None, office_id=institution.office_id, initial=OfferingForm.initial_for(offering)
    )
    done = _submit(
        request,
        form,
        lambda: offering_update(actor=request.user, offering=offering, data=form.to_data()),
        _("Changes saved."),
        lambda _result: redirect("cases:directory_institution", pk=institution.pk),
    )
    return done or render(
        request,
        "cases/directory/offering_form.html",
        {"form": form, "institution": institution, "offering": offering, "tab": "institutions"},
    )


# --- Procedure types ----------------------------------------------------------------------------------


@login_required
@require_GET
def procedure_kinds(request: HttpRequest) -> HttpResponse:
    """The procedure types (checklist templates) of the user's offices."""
    require_any(request.user, Perm.VIEW_CASE)
    f = _filters(request)
    kinds = list(procedure_kind_queryset(request.user, office_id=f["office_id"]))
    return render(request, "cases/directory/procedure_kinds.html", {**f, "kinds": kinds, "tab": "procedures"})


@login_required
@require_http_methods(["GET", "POST"])
def procedure_kind_create_view(request: HttpRequest) -> HttpResponse:
    offices = sorted(require_any(request.user, Perm.MANAGE_DIRECTORY))
    form = ProcedureKindForm(request.POST or None, offices=offices)
    done = _submit(
        request,
        form,
        lambda: procedure_kind_create(actor=request.user, office=_chosen_office(form), **_kind_fields(form)),
        _("Procedure type added."),
        lambda _kind: redirect("cases:directory_procedure_kinds"),
    )
    return done or render(
        request, "cases/directory/procedure_kind_form.html", {"form": form, "tab": "procedures"}
    )


@login_required
@require_http_methods(["GET", "POST"])
def procedure_kind_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_any(request.user, Perm.MANAGE_DIRECTORY)
    kind = procedure_kind_get(request.user, pk, Perm.MANAGE_DIRECTORY)
    form = ProcedureKindForm(request.POST or None, initial=ProcedureKindForm.initial_for(kind))
    done = _submit(
        request,
        form,
        lambda: procedure_kind_update(actor=request.user, kind=kind, **_kind_fields(form)),
        _("Changes saved."),
        lambda _kind: redirect("cases:directory_procedure_kinds"),
    )
    return done or render(
        request, "cases/directory/procedure_kind_form.html", {"form": form, "kind": kind, "tab": "procedures"}
    )
