"""Pages of the adjudication side of matching: the queue of possible duplicates, a pair side by side with
its evidence and the decision, the matching settings of an office network, and requests to the office
that owns a possible match.

Thin views: access check → form → one service → redirect. Another office's pair or request answers 404;
one of your offices without the right role answers 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from rumbo.matching.forms import (
    DECISION_CHOICES,
    AccessDecisionForm,
    AccessRequestForm,
    BulkDecisionForm,
    DecisionForm,
    MatchSettingsForm,
    QueueFilterForm,
)
from rumbo.matching.models import AccessRequest, DuplicatePair
from rumbo.matching.queue_selectors import (
    access_request_get,
    access_requests_received,
    access_requests_sent,
    dedupe_runs,
    hidden_candidate_office,
    manageable_networks,
    network_get,
    pair_get,
    pair_queue,
    pair_view,
    pairs_for_decision,
    queue_rows,
    request_offices_for,
    request_persons,
    settings_for,
)
from rumbo.matching.services import (
    access_request_create,
    access_request_decide,
    match_settings_update,
    pair_compare_record,
    pair_decide,
    pairs_decide_bulk,
)
from rumbo.offices.permissions import Perm, has_perm, require_any
from rumbo.people.services import person_list_record

PAGE_SIZE = 25


def _page_number(request: HttpRequest, param: str = "page") -> int:
    try:
        return max(1, min(int(request.GET.get(param, "1")), 100000))
    except ValueError:
        return 1


def _safe_next(request: HttpRequest, value: str | None, default: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


def merge_url(survivor_id: int, merged_id: int) -> str:
    """The merge page of two persons (built by the people app); its path when the route is not there."""
    try:
        return reverse("people:merge", args=(survivor_id, merged_id))
    except NoReverseMatch:
        return f"/people/{survivor_id}/merge/{merged_id}/"


# --- Queue --------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def queue(request: HttpRequest) -> HttpResponse:
    """Possible duplicates to review, filtered and sorted; tick pairs and decide them with one POST."""
    require_any(request.user, Perm.ADJUDICATE_DUPLICATES)
    if request.method == "POST":
        return _bulk_decide(request)
    filter_form = QueueFilterForm(request.GET or None)
    filters = filter_form.filters()
    paginator = Paginator(pair_queue(request.user, filters), PAGE_SIZE)
    page = paginator.get_page(_page_number(request))
    rows = queue_rows(request.user, page.object_list)
    person_list_record(
        actor=request.user, persons=[p for row in rows for p in row.shown], shown_in="duplicate_queue"
    )
    params = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(
        request,
        "matching/queue.html",
        {
            "filter_form": filter_form,
            "filters": filters,
            "page": page,
            "rows": rows,
            "count": paginator.count,
            "any_decidable": any(row.decidable for row in rows),
            "query": urlencode(params),
            "here": request.get_full_path(),
            "decisions": DECISION_CHOICES,
        },
    )


def _bulk_decide(request: HttpRequest) -> HttpResponse:
    form = BulkDecisionForm(request.POST)
    back = _safe_next(request, request.POST.get("next"), reverse("matching:queue"))
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
        return redirect(back)
    ids = form.cleaned_data["pair"]
    pairs = pairs_for_decision(request.user, ids)
    result = pairs_decide_bulk(actor=request.user, pairs=pairs, decision=form.cleaned_data["decision"])
    unseen = len(set(ids) - {p.pk for p in pairs})
    if result.decided:
        messages.success(
            request,
            ngettext("%(count)d pair decided.", "%(count)d pairs decided.", len(result.decided))
            % {"count": len(result.decided)},
        )
    skipped = len(result.skipped) + unseen
    if skipped:
        messages.warning(
            request,
            ngettext(
                "%(count)d pair skipped: you may not decide it, or it changed meanwhile.",
                "%(count)d pairs skipped: you may not decide them, or they changed meanwhile.",
                skipped,
            )
            % {"count": skipped},
        )
    return redirect(back)


# --- Compare and decide ----------------------------------------------------------------------------------


@login_required
def compare(request: HttpRequest, pk: int) -> HttpResponse:
    """The two persons side by side with the model's evidence, and the decision. Audited."""
    require_any(request.user, Perm.ADJUDICATE_DUPLICATES)
    pair = pair_get(request.user, pk)
    view = pair_view(request.user, pair)
    shown = [side.person for side in (view.a, view.b) if side.person is not None]
    pair_compare_record(actor=request.user, pair=pair, persons=shown)
    can_merge = (
        pair.decision == DuplicatePair.Decision.SAME
        and not view.masked
        and has_perm(request.user, Perm.MERGE_PERSON, pair.office_a_id)
        and has_perm(request.user, Perm.MERGE_PERSON, pair.office_b_id)
    )
    hidden = next((side for side in (view.a, view.b) if not side.visible), None)
    back = _safe_next(request, request.GET.get("next"), reverse("matching:queue"))
    return render(
        request,
        "matching/compare.html",
        {
            "view": view,
            "pair": pair,
            "form": DecisionForm(initial={"decision": pair.decision}),
            "merge_url": merge_url(pair.person_a_id, pair.person_b_id) if can_merge else "",
            "hidden": hidden,
            "back": back,
        },
    )


@login_required
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a decision on one pair (same / different / unsure, with an optional note)."""
    require_any(request.user, Perm.ADJUDICATE_DUPLICATES)
    pair = pair_get(request.user, pk)
    form = DecisionForm(request.POST)
    compare_url = reverse("matching:compare", args=[pair.pk])
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
        return redirect(compare_url)
    try:
        pair = pair_decide(
            actor=request.user,
            pair=pair,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(compare_url)
    messages.success(
        request, _("Decision recorded: %(decision)s.") % {"decision": pair.get_decision_display()}
    )
    if pair.decision == DuplicatePair.Decision.SAME:
        return redirect(compare_url)  # where the merge link is
    return redirect(_safe_next(request, request.POST.get("next"), reverse("matching:queue")))


# --- Settings -------------------------------------------------------------------------------------------


@login_required
def settings_index(request: HttpRequest) -> HttpResponse:
    """The networks whose thresholds the user may change (straight to it when there is one)."""
    require_any(request.user, Perm.MANAGE_MATCHING)
    networks = manageable_networks(request.user)
    if not networks:
        raise PermissionDenied  # managing matching is done at the top office of a network
    if len(networks) == 1:
        return redirect("matching:settings", pk=networks[0].pk)
    return render(request, "matching/settings_index.html", {"networks": networks})


@login_required
@require_http_methods(["GET", "POST"])
def network_settings(request: HttpRequest, pk: int) -> HttpResponse:
    """The thresholds of one office network, and its batch runs."""
    require_any(request.user, Perm.MANAGE_MATCHING)
    network = network_get(request.user, pk)
    current = settings_for(network)
    form = MatchSettingsForm(
        request.POST or None,
        initial={
            "intake_threshold": current.intake_threshold,
            "review_threshold": current.review_threshold,
            "likely_threshold": current.likely_threshold,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            match_settings_update(actor=request.user, network=network, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Thresholds saved."))
            return redirect("matching:settings", pk=network.pk)
    return render(
        request,
        "matching/settings.html",
        {"network": network, "form": form, "runs": dedupe_runs(network)},
    )


# --- Requests about a possible match ------------------------------------------------------------------


@login_required
def requests_received(request: HttpRequest) -> HttpResponse:
    """Requests from other offices about this office's records: pending ones first (oldest first), then the
    answered (newest first); each list paged on its own ("page", "answered")."""
    require_any(request.user, Perm.CHANGE_PERSON)
    qs = access_requests_received(request.user)
    pending = Paginator(
        qs.filter(status=AccessRequest.Status.PENDING).order_by("requested_at", "pk"), PAGE_SIZE
    ).get_page(_page_number(request))
    answered = Paginator(
        qs.exclude(status=AccessRequest.Status.PENDING).order_by("-requested_at", "-pk"), PAGE_SIZE
    ).get_page(_page_number(request, "answered"))
    persons = request_persons(request.user, pending.object_list)
    return render(
        request,
        "matching/requests_received.html",
        {
            "pending": [(r, persons.get(r.person_id)) for r in pending.object_list],
            "pending_page": pending,
            "answered": answered.object_list,
            "answered_page": answered,
            "form": AccessDecisionForm(),
        },
    )


@login_required
def requests_sent(request: HttpRequest) -> HttpResponse:
    """Requests made by the user's offices, newest first, with their status and the owner's answer (and the
    record, once the user may see it)."""
    require_any(request.user, Perm.ADD_PERSON)
    paginator = Paginator(access_requests_sent(request.user).order_by("-requested_at", "-pk"), PAGE_SIZE)
    page = paginator.get_page(_page_number(request))
    persons = request_persons(request.user, page.object_list)
    rows = [(r, persons.get(r.person_id)) for r in page.object_list]
    return render(request, "matching/requests_sent.html", {"rows": rows, "page": page})


def _person_param(request: HttpRequest) -> int | None:
    raw = request.POST.get("person") if request.method == "POST" else request.GET.get("person")
    try:
        value = int(raw or "")
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest) -> HttpResponse:
    """Ask the office that owns a hidden possible match for access to the record or its transfer.

    The page says only which office holds the possible match. An id that is not a genuine candidate answers
    404, whatever the reason."""
    require_any(request.user, Perm.ADD_PERSON)
    person_id = _person_param(request)
    owner = hidden_candidate_office(request.user, person_id) if person_id is not None else None
    if owner is None:
        raise Http404
    offices = request_offices_for(request.user, owner)
    if not offices:
        raise Http404
    initial = {"person": person_id, "kind": request.GET.get("kind") or AccessRequest.Kind.ACCESS}
    initial["next"] = request.GET.get("next", "")
    form = AccessRequestForm(request.POST or None, initial=initial, offices=offices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            access_request_create(
                actor=request.user,
                candidate_person_id=data["person"],
                requesting_office=data["requesting_office"],
                kind=data["kind"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Your request was sent to %(office)s.") % {"office": owner.name})
            return redirect(_safe_next(request, data.get("next"), reverse("matching:requests_sent")))
    return render(request, "matching/request_form.html", {"form": form, "owner": owner})


@login_required
@require_http_methods(["GET", "POST"])
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Grant or refuse a request about one of the office's records."""
    require_any(request.user, Perm.CHANGE_PERSON)
    access = access_request_get(request.user, pk)
    form = AccessDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            access = access_request_decide(
                actor=request.user,
                request=access,
                grant=form.cleaned_data["grant"],
                answer=form.cleaned_data["answer"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            if access.status == AccessRequest.Status.GRANTED and access.kind == AccessRequest.Kind.TRANSFER:
                text = _("Request granted: the record now belongs to %(office)s.")
            elif access.status == AccessRequest.Status.GRANTED:
                text = _("Request granted. %(office)s has been told.")
            else:
                text = _("Request refused. %(office)s has been told.")
            messages.success(request, text % {"office": access.requesting_office.name})
            return redirect("matching:requests")
    # After a transfer the record belongs to the requester: this office sees only its id.
    person = request_persons(request.user, [access]).get(access.person_id)
    context: dict[str, Any] = {"access": access, "person": person, "form": form}
    return render(request, "matching/request_decide.html", context)
