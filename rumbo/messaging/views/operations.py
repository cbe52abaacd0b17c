"""The operations page (one card per channel, refreshed by htmx; pause and resume) and the channels
(list, create, settings and webhook addresses, edit)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rumbo.messaging import selectors
from rumbo.messaging.adapters import config_fields
from rumbo.messaging.crypto import CredentialsError, decrypt_config
from rumbo.messaging.forms import ChannelForm, add_service_errors
from rumbo.messaging.models import Campaign, Channel, ChannelKind
from rumbo.messaging.services import (
    create_channel,
    masked_config,
    pause_channel,
    resume_channel,
    update_channel,
)
from rumbo.messaging.views._base import (
    base_context,
    channel_card,
    console_allowed,
    no_store,
    office_for,
    office_query_string,
    owned,
    safe_next,
    webhook_urls,
    with_office,
)
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm

# --- Operations page --------------------------------------------------------------------------------------


def _operations_context(request: HttpRequest, office: Office, offices: Sequence[Office]) -> dict[str, Any]:
    context = base_context(request, office, offices, "operations")
    context["cards"] = [channel_card(stat) for stat in selectors.channel_stats(office=office)]
    context["refreshed_at"] = timezone.now()
    context["here"] = request.get_full_path()
    return context


@login_required
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    """Per channel: queued, sending, sent, delivered, failed, replies and the last 15 minutes' throughput;
    pause and resume. The cards refresh themselves every few seconds (htmx)."""
    office, offices = office_for(request, Perm.VIEW_MESSAGES)
    context = _operations_context(request, office, offices)
    context["campaigns"] = list(Campaign.objects.filter(office=office).select_related("template")[:5])
    return no_store(render(request, "messaging/operations.html", context))


@login_required
@require_GET
def operations_stats(request: HttpRequest) -> HttpResponse:
    """The channel cards alone (polled by the operations page)."""
    office, offices = office_for(request, Perm.VIEW_MESSAGES)
    context = _operations_context(request, office, offices)
    context["here"] = reverse("messaging:operations") + office_query_string(office, offices)
    return no_store(render(request, "messaging/_stats.html", context))


def _channel_action(request: HttpRequest, pk: int, *, pause: bool) -> HttpResponse:
    channel: Channel = owned(request, Channel.objects.select_related("office"), pk, Perm.MANAGE_CHANNELS)
    if pause:
        pause_channel(actor=request.user, channel=channel)
        messages.success(request, _("Channel “%(name)s” paused: its messages wait.") % {"name": channel.name})
    else:
        resume_channel(actor=request.user, channel=channel)
        messages.success(request, _("Channel “%(name)s” resumed.") % {"name": channel.name})
    return redirect(safe_next(request, with_office("messaging:operations", channel.office)))


@login_required
@require_POST
def channel_pause(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop sending on a channel (queued messages wait)."""
    return _channel_action(request, pk, pause=True)


@login_required
@require_POST
def channel_resume(request: HttpRequest, pk: int) -> HttpResponse:
    """Send again on a paused channel."""
    return _channel_action(request, pk, pause=False)


# --- Channels ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def channel_list(request: HttpRequest) -> HttpResponse:
    """The office's channels in the order they are tried."""
    office, offices = office_for(request, Perm.MANAGE_CHANNELS)
    context = base_context(request, office, offices, "channels")
    context["channels"] = list(Channel.objects.filter(office=office).order_by("priority", "id"))
    return render(request, "messaging/channel_list.html", context)


def _kinds() -> list[tuple[str, str]]:
    return [
        (k, str(label)) for k, label in ChannelKind.choices if k != ChannelKind.CONSOLE or console_allowed()
    ]


@login_required
@require_http_methods(["GET", "POST"])
def channel_create(request: HttpRequest, kind: str = "") -> HttpResponse:
    """Choose the kind of channel, then its settings."""
    office, offices = office_for(request, Perm.MANAGE_CHANNELS)
    context = base_context(request, office, offices, "channels")
    if not kind:
        context["kinds"] = _kinds()
        return render(request, "messaging/channel_kind.html", context)
    if kind not in dict(_kinds()):
        raise Http404
    form = ChannelForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            channel = create_channel(
                actor=request.user,
                office=office,
                kind=kind,
                name=form.cleaned_data["name"],
                sender=form.cleaned_data["sender"],
                config=form.config(),
                rate_per_second=form.cleaned_data["rate_per_second"],
                priority=form.cleaned_data["priority"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Channel created. Give the gateway the addresses below."))
            return redirect("messaging:channel_detail", pk=channel.pk)
    context.update({"form": form, "kind": kind, "kind_label": ChannelKind(kind).label})
    return render(request, "messaging/channel_form.html", context)


@login_required
@require_GET
def channel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A channel's settings (secrets never shown) and the webhook addresses to give its gateway."""
    channel: Channel = owned(
        request, Channel.objects.select_related("office", "paused_by"), pk, Perm.MANAGE_CHANNELS
    )
    context = base_context(request, channel.office, None, "channels")
    try:
        stored = decrypt_config(channel.config_encrypted)
        credentials_ok = True
    except CredentialsError:
        stored, credentials_ok = {}, False
    settings_rows = []
    for spec in config_fields(channel.kind):
        value = stored.get(spec.name, "")
        settings_rows.append(
            {
                "label": spec.label,
                "secret": spec.secret,
                "set": bool(value),
                "value": value,
                "default": spec.default,
            }
        )
    context.update(
        {
            "channel": channel,
            "settings_rows": settings_rows,
            "credentials_ok": credentials_ok,
            "webhooks": webhook_urls(request, channel),
            # Kannel is asked for delivery reports only when it knows where to send them.
            "receipts_off": channel.kind == ChannelKind.SMS
            and credentials_ok
            and not stored.get("webhook_url"),
        }
    )
    return render(request, "messaging/channel_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a channel; secrets left blank keep their stored value."""
    channel: Channel = owned(request, Channel.objects.select_related("office"), pk, Perm.MANAGE_CHANNELS)
    try:
        current = masked_config(channel)
    except CredentialsError:
        current = {}
    initial = {
        "name": channel.name,
        "sender": channel.sender,
        "rate_per_second": channel.rate_per_second,
        "priority": channel.priority,
        "is_active": channel.is_active,
    }
    form = ChannelForm(
        request.POST or None, kind=channel.kind, current_config=current, editing=True, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_channel(
                actor=request.user,
                channel=channel,
                name=form.cleaned_data["name"],
                sender=form.cleaned_data["sender"],
                rate_per_second=form.cleaned_data["rate_per_second"],
                priority=form.cleaned_data["priority"],
                is_active=form.cleaned_data["is_active"],
                config=form.config(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Channel saved."))
            return redirect("messaging:channel_detail", pk=channel.pk)
    context = base_context(request, channel.office, None, "channels")
    context.update(
        {"form": form, "channel": channel, "kind": channel.kind, "kind_label": channel.get_kind_display()}
    )
    return render(request, "messaging/channel_form.html", context)
