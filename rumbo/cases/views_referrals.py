"""Pages of referrals: send one from a case, follow its status, print the letter, list the office's.

Access: anonymous users log in; a user who may view cases (or refer) in no office gets 403; a referral or
case outside the user's offices is 404; the right office without the needed role is 403. An office that
transferred a case away keeps reading the referrals it recorded.

The case page shows ``cases/referrals/_case_panel.html`` (its data come from :func:`referral_panel_context`
through the ``cases_referrals`` template tags).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.forms_referrals import ReferralSendForm, ReferralStatusForm
from rumbo.cases.models import Case, Offering, ReferralStatus
from rumbo.cases.selectors_directory import directory_offices, institution_queryset, offerings_for_case
from rumbo.cases.selectors_directory import service_queryset as directory_services
from rumbo.cases.selectors_referrals import (
    CaseReadAccess,
    case_for_change,
    case_for_read,
    open_referral_count,
    referral_events,
    referral_get,
    referral_list,
    referrals_for_case,
)
from rumbo.cases.services.referrals import (
    NO_LETTER,
    TRANSITIONS,
    case_person_ids,
    referral_consent,
    referral_letter,
    referral_send,
    referral_update_status,
)
from rumbo.cases.services.tasks import office_today
from rumbo.offices.forms import apply_service_errors
from rumbo.offices.permissions import Perm, has_perm, require_any
from rumbo.people.models import Person

PAGE_SIZE = 25
#: Names the case page may have (the casework pages); the first that exists is used for links back.
CASE_URL_NAMES = ("cases:detail", "cases:case_detail")


def case_url(case: Case) -> str:
    """The case's page, or this app's referrals-and-procedures page of the case when there is none."""
    for name in CASE_URL_NAMES:
        try:
            return reverse(name, args=[case.pk])
        except NoReverseMatch:
            continue
    return reverse("cases:referral_case", args=[case.pk])


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def referral_panel_context(user: Any, access: CaseReadAccess) -> dict[str, Any]:
    """What ``cases/referrals/_case_panel.html`` needs, under ``referral_panel``."""
    case = access.case
    referrals = referrals_for_case(access)
    can_refer = access.full and not case.is_closed and has_perm(user, Perm.REFER, case.office_id)
    return {
        "referral_panel": {
            "case": case,
            "referrals": referrals,
            "open_count": open_referral_count(referrals),
            "can_refer": can_refer,
            "can_update": access.full and has_perm(user, Perm.REFER, case.office_id),
            "no_letter": NO_LETTER,
            "partial": not access.full,
        }
    }


@login_required
@require_GET
def referral_case(request: HttpRequest, case_pk: int) -> HttpResponse:
    """The referrals and procedures of one case (the panels of the case page, on their own)."""
    require_any(request.user, Perm.VIEW_CASE)
    access = case_for_read(request.user, case_pk)
    audit_record(
        actor=request.user,
        action=Action.CASE_VIEW,
        office=access.case.office,
        obj=access.case,
        detail={"page": "referrals_procedures"},
    )
    context = {
        "case": access.case,
        "case_access": access,
        "case_url": case_url(access.case),
    }
    return render(request, "cases/referrals/case.html", context)


def _case_persons(case: Case) -> list[tuple[Person, str]]:
    ids = case_person_ids(case)
    persons = Person._base_manager.filter(
        pk__in=list(ids), anonymised_at__isnull=True, merged_into__isnull=True
    )
    by_id = {p.pk: p for p in persons}
    rows: list[tuple[Person, str]] = []
    if case.person_id in by_id:
        rows.append((by_id.pop(case.person_id), _("holder of the case")))
    for person in sorted(by_id.values(), key=lambda p: p.full_name):
        rows.append((person, _("household member")))
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def referral_send_view(request: HttpRequest, case_pk: int) -> HttpResponse:
    """Refer the case's person (or a household member) to an institution for a service; consent is
    checked by the service, and shown for each person beforehand."""
    require_any(request.user, Perm.REFER)
    case = case_for_change(request.user, case_pk, Perm.REFER)
    if case.is_closed:
        messages.error(request, _("This case is closed: reopen it first."))
        return redirect(case_url(case))
    persons = _case_persons(case)
    groups = offerings_for_case(case, office_today(case.office))
    form = ReferralSendForm(request.POST or None, persons=persons, groups=groups)
    can_override = has_perm(request.user, Perm.REFER_WITHOUT_CONSENT, case.office_id)
    if request.method == "POST" and form.is_valid():
        c = form.cleaned_data
        person = Person._base_manager.get(pk=c["person"])
        offering = Offering.objects.get(pk=c["offering"])
        try:
            referral = referral_send(
                actor=request.user,
                case=case,
                person=person,
                offering=offering,
                reason=c["reason"],
                override_reason=c["override_reason"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Referral sent. Print the letter for the person to take."))
            return redirect("cases:referral_detail", pk=referral.pk)
    consents = [(p, role, referral_consent(p)) for p, role in persons]
    return render(
        request,
        "cases/referrals/send.html",
        {
            "case": case,
            "case_url": case_url(case),
            "form": form,
            "consents": consents,
            "groups": groups,
            "can_override": can_override,
            "can_record_consent": has_perm(request.user, Perm.CHANGE_PERSON, case.person.office_id),
        },
    )


@login_required
@require_GET
def referral_list_view(request: HttpRequest) -> HttpResponse:
    """The referrals of the user's offices, filtered by status, institution, service; newest first."""
    require_any(request.user, Perm.VIEW_CASE)
    offices = directory_offices(request.user)
    office_id = _int(request.GET.get("office"))
    office_id = office_id if office_id in {o.pk for o in offices} else None
    status = request.GET.get("status", "")
    status = status if status in ReferralStatus.values else ""
    institution_id = _int(request.GET.get("institution"))
    service_id = _int(request.GET.get("service"))
    qs = referral_list(
        request.user,
        office_id=office_id,
        status=status,
        institution_id=institution_id,
        service_id=service_id,
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "cases/referrals/list.html",
        {
            "page": page,
            "offices": offices,
            "office_id": office_id,
            "status": status,
            "statuses": ReferralStatus.choices,
            "institution_id": institution_id,
            "service_id": service_id,
            "institutions": institution_queryset(request.user, office_id=office_id),
            "services": directory_services(request.user, office_id=office_id),
            "query_string": params.urlencode(),
        },
    )


def _detail(request: HttpRequest, referral: Any, form: ReferralStatusForm | None) -> HttpResponse:
    can_refer = has_perm(request.user, Perm.REFER, referral.case.office_id)
    can_update = can_refer and bool(TRANSITIONS.get(referral.status))
    return render(
        request,
        "cases/referrals/detail.html",
        {
            "referral": referral,
            "events": referral_events(referral),
            "form": form
            if form is not None
            else (ReferralStatusForm(referral=referral) if can_update else None),
            "can_update": can_update,
            "can_print": can_refer and referral.status not in NO_LETTER,
            "case_url": case_url(referral.case),
        },
    )


@login_required
@require_GET
def referral_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A referral: where, for whom, consent, its history; the status form for those who may refer."""
    require_any(request.user, Perm.VIEW_CASE)
    referral = referral_get(request.user, pk)
    audit_record(
        actor=request.user,
        action=Action.CASE_VIEW,
        office=referral.case.office,
        obj=referral,
        detail={"case": referral.case_id},
    )
    return _detail(request, referral, None)


@login_required
@require_POST
def referral_status_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the next status of a referral (accepted, delivered, rejected, no-show, cancelled)."""
    require_any(request.user, Perm.REFER)
    referral = referral_get(request.user, pk, Perm.REFER)
    form = ReferralStatusForm(request.POST, referral=referral)
    if form.is_valid():
        c = form.cleaned_data
        try:
            referral_update_status(
                actor=request.user,
                referral=referral,
                status=c["status"],
                note=c["note"],
                outcome=c["outcome"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if c["status"] == ReferralStatus.DELIVERED:
                messages.success(request, _("Service delivered. A follow-up is planned in one month."))
            else:
                messages.success(request, _("Referral updated."))
            return redirect("cases:referral_detail", pk=referral.pk)
    return _detail(request, referral, form)


@login_required
@require_GET
def referral_letter_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The referral letter as a PDF in Spanish, shown in the browser (every print is audited). Printing it
    is referring (``REFER`` in the case's office); a letter that may not be printed (cancelled or rejected
    referral, consent no longer given) sends back to the referral with the reason."""
    require_any(request.user, Perm.REFER)
    referral = referral_get(request.user, pk, Perm.REFER)
    try:
        pdf = referral_letter(actor=request.user, referral=referral)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("cases:referral_detail", pk=referral.pk)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="canalizacion-{referral.pk:06d}.pdf"'
    response["Cache-Control"] = "no-store"
    return response
