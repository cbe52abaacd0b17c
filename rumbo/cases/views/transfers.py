"""Transfers of cases between offices: the request, the receiving office's inbox, the answer."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from rumbo.cases.forms import TransferDecideForm, TransferRequestForm, add_service_errors
from rumbo.cases.models import CaseNeed, CaseTransfer
from rumbo.cases.selectors import case_get, transfer_get, transfer_inbox, transfers_of_offices
from rumbo.cases.services import (
    case_record_view,
    case_transfer_cancel,
    case_transfer_decide,
    case_transfer_request,
)
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, member_office_ids, offices_with_perm, require, require_any
from rumbo.people.models import Person

PAGE_SIZE = 25


@login_required
@require_http_methods(["GET", "POST"])
def transfer_request_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask another office to take over the case."""
    require_any(request.user, Perm.TRANSFER_CASE)
    case = case_get(request.user, pk, Perm.TRANSFER_CASE)
    form = TransferRequestForm(
        request.POST if request.method == "POST" else None, from_office_id=case.office_id
    )
    if request.method == "POST" and form.is_valid():
        try:
            case_transfer_request(
                actor=request.user,
                case=case,
                to_office=Office.objects.get(pk=form.cleaned_data["to_office"].pk),
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Transfer requested. The other office will accept or reject it."))
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/transfer_request.html", {"form": form, "case": case})


@login_required
def transfer_list_view(request: HttpRequest) -> HttpResponse:
    """Transfers waiting for the user's offices to answer (oldest first), and the history of transfers to
    and from them (newest first): each list in pages of its own (``inbox_page``, ``page``)."""
    require_any(request.user, Perm.VIEW_CASE)
    inbox = Paginator(transfer_inbox(request.user), PAGE_SIZE).get_page(request.GET.get("inbox_page"))
    history = Paginator(transfers_of_offices(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "cases/transfers.html",
        {
            "inbox": inbox,
            "can_decide": bool(offices_with_perm(request.user, Perm.TRANSFER_CASE)),
            "history": history,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def transfer_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept or reject a transfer sent to the user's office. The receiving office sees the case's summary,
    needs and reason before deciding."""
    require_any(request.user, Perm.TRANSFER_CASE)
    transfer = transfer_get(request.user, pk)
    form = TransferDecideForm(request.POST if request.method == "POST" else None)
    if transfer.status != CaseTransfer.Status.REQUESTED:
        messages.info(request, _("This transfer was already answered."))
        return redirect("cases:transfers")
    if request.method == "POST" and form.is_valid():
        accept = form.cleaned_data["decision"] == "accept"
        try:
            case_transfer_decide(
                actor=request.user, transfer=transfer, accept=accept, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if accept:
                messages.success(request, _("Case accepted: it now belongs to your office."))
                return redirect("cases:detail", pk=transfer.case_id)
            messages.success(request, _("Transfer rejected."))
            return redirect("cases:transfers")
    case = transfer.case
    # The receiving office reads the case before it owns it: audited as its read.
    case_record_view(
        actor=request.user, case=case, office=transfer.to_office, detail={"transfer": transfer.pk}
    )
    return render(
        request,
        "cases/transfer_decide.html",
        {
            "form": form,
            "transfer": transfer,
            "case": case,
            "needs": list(CaseNeed.objects.filter(case=case).order_by("need")),
            "members": list(Person._base_manager.filter(member_of_cases=case).order_by("given_names", "pk")),
        },
    )


@login_required
@require_POST
def transfer_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw a request the user's office sent (still waiting)."""
    require_any(request.user, Perm.TRANSFER_CASE)
    transfer = get_object_or_404(CaseTransfer, pk=pk, from_office_id__in=member_office_ids(request.user))
    require(request.user, Perm.TRANSFER_CASE, transfer.from_office_id)
    try:
        case_transfer_cancel(actor=request.user, transfer=transfer)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Transfer request withdrawn."))
    return redirect("cases:detail", pk=transfer.case_id)
