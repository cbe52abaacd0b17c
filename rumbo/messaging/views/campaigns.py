"""Campaigns: choose a template and recipients, preview, confirm; counts per status and the replies."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.messaging import selectors
from rumbo.messaging.forms import CampaignForm, add_service_errors
from rumbo.messaging.models import Campaign, Channel, ChannelKind, InboundKind, MessageStatus, Template
from rumbo.messaging.services import campaign_create as create_campaign_record
from rumbo.messaging.services import queue_campaign
from rumbo.messaging.views._base import (
    PAGE_SIZE,
    base_context,
    campaign_preview,
    campaign_recipients,
    no_store,
    office_for,
    owned,
    page_number,
    status_bar,
)
from rumbo.offices.permissions import Perm

# --- Campaigns --------------------------------------------------------------------------------------------


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    """The office's campaigns, newest first."""
    office, offices = office_for(request, Perm.VIEW_MESSAGES)
    context = base_context(request, office, offices, "campaigns")
    page = Paginator(
        Campaign.objects.filter(office=office)
        .select_related("template", "created_by")
        .order_by("-created_at", "-id"),
        PAGE_SIZE,
    ).get_page(page_number(request))
    context["page"] = page
    return render(request, "messaging/campaign_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    """Choose a template and recipients, preview (text for one recipient, SMS segments, who is reached on
    which channel and who is skipped and why), then confirm: the messages are queued."""
    office, offices = office_for(request, Perm.SEND_MESSAGES)
    templates = Template.objects.filter(office=office).order_by("name", "pk")
    form = CampaignForm(request.POST or None, templates=templates)
    context = base_context(request, office, offices, "campaigns")
    context.update({"form": form, "has_templates": templates.exists()})
    context["has_channels"] = Channel.objects.filter(office=office, is_active=True).exists()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        template: Template = data["template"]
        person_ids = campaign_recipients(
            office=office, nationality=data["nationality"], language=data["language"]
        )
        extra = {"link": data["link"]} if data.get("link") else {}
        expires_in = timedelta(hours=data["expires_in_hours"]) if data.get("expires_in_hours") else None
        # Unsaved: the preview (a dry run) needs the campaign's office and template, not a row.
        draft = Campaign(office=office, name=data["name"], template=template, emergency=template.emergency)
        posted = request.POST.get("preview_token", "")
        confirming = request.POST.get("action") == "confirm"
        # The random part of the token: drawn for each preview, kept when that preview is confirmed.
        nonce = posted.partition(".")[0][:16] if confirming and "." in posted else secrets.token_hex(8)
        token = _preview_token(data, template, person_ids, nonce)
        confirmed = confirming and posted == token
        if confirming and not confirmed:
            messages.warning(
                request, _("The selection changed since the preview: check it again, then confirm.")
            )
        done = selectors.campaign_by_key(office=office, key=token) if confirmed else None
        if done is not None:  # this preview was confirmed already (a second click, the back button)
            messages.info(request, _("This campaign was already confirmed; nothing more was queued."))
            return redirect("messaging:campaign_detail", pk=done.pk)
        try:
            if confirmed:
                # Not one transaction with the queueing: that commits chunk by chunk, so workers start
                # sending while a large campaign is still being queued.
                campaign = create_campaign_record(
                    actor=request.user,
                    office=office,
                    name=data["name"],
                    template=template,
                    idempotency_key=token,
                )
                result = queue_campaign(
                    actor=request.user,
                    campaign=campaign,
                    person_ids=person_ids,
                    expires_in=expires_in,
                    extra_context=extra,
                )
                messages.success(
                    request,
                    _("%(queued)s messages queued, %(skipped)s people skipped.")
                    % {"queued": result.queued, "skipped": result.skipped_total},
                )
                return redirect("messaging:campaign_detail", pk=campaign.pk)
            preview = queue_campaign(
                actor=request.user,
                campaign=draft,
                person_ids=person_ids,
                expires_in=expires_in,
                extra_context=extra,
                dry_run=True,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            sample = campaign_preview(office=office, campaign=draft, person_ids=person_ids, extra=extra)
            if sample is not None:  # one person's name, address and message are shown: a read of their data
                audit_record(
                    actor=request.user,
                    action=Action.MESSAGES_VIEW,
                    office=office,
                    object_type="people.person",
                    object_id=sample["person_id"],
                    detail={"campaign_preview": True, "template": template.pk},
                )
            context.update(
                {
                    "preview": preview,
                    "preview_token": token,
                    "sample": sample,
                    "by_channel": [
                        (str(ChannelKind(kind).label), count)
                        for kind, count in preview.by_channel.most_common()
                    ],
                }
            )
    return render(request, "messaging/campaign_form.html", context)


def _preview_token(data: dict[str, Any], template: Template, person_ids: Sequence[int], nonce: str) -> str:
    """``nonce`` and a fingerprint of what was previewed: confirming queues only what the user saw, and only
    once (the token is the campaign's idempotency key); a new preview of the same selection gets a new
    ``nonce``, so the same campaign can be sent again later on purpose."""
    parts = [
        nonce,
        data["name"],
        template.pk,
        template.updated_at.isoformat(),
        data["nationality"],
        data["language"],
        data.get("link") or "",
        data.get("expires_in_hours") or "",
        len(person_ids),
        person_ids[-1] if person_ids else 0,
    ]
    return f"{nonce}.{hashlib.sha256('|'.join(map(str, parts)).encode()).hexdigest()[:32]}"


def _campaign_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    summary = selectors.campaign_summary(campaign=campaign)
    kinds = dict(ChannelKind.choices)
    return {
        "campaign": campaign,
        "summary": summary,
        "status_rows": [
            (value, label, summary.counts.get(value, 0)) for value, label in MessageStatus.choices
        ],
        "kind_rows": [(kinds.get(kind, kind), count) for kind, count in sorted(summary.by_kind.items())],
        "status_bar": status_bar(summary.counts),
    }


@login_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Counts per status and the replies received (reading replies is audited)."""
    campaign: Campaign = owned(
        request, Campaign.objects.select_related("office", "template", "created_by"), pk, Perm.VIEW_MESSAGES
    )
    context = base_context(request, campaign.office, None, "campaigns")
    context.update(_campaign_context(request, campaign))
    replies = Paginator(
        selectors.inbound_for(office=campaign.office, campaign=campaign, kind=InboundKind.REPLY), PAGE_SIZE
    ).get_page(page_number(request))
    context["replies"] = replies
    audit_record(
        actor=request.user,
        action=Action.MESSAGES_VIEW,
        office=campaign.office,
        obj=campaign,
        detail={"replies_shown": len(replies.object_list), "page": replies.number},
    )
    return no_store(render(request, "messaging/campaign_detail.html", context))


@login_required
@require_GET
def campaign_counts(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign's counts per status alone (polled by its page; no personal data)."""
    campaign: Campaign = owned(request, Campaign.objects.select_related("office"), pk, Perm.VIEW_MESSAGES)
    return no_store(render(request, "messaging/_campaign_counts.html", _campaign_context(request, campaign)))
