"""Shared by the messaging pages: which office a page is about, access to one record, the chart and
webhook helpers, the recipients of a campaign and the preview of one message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from rumbo.messaging import selectors
from rumbo.messaging.models import Campaign, Channel, ChannelKind, MessageStatus
from rumbo.messaging.segments import sms_segments
from rumbo.messaging.services._common import AddressProblem, active_channels, choose_channel
from rumbo.messaging.services.outbox import compile_template, load_contacts, person_context
from rumbo.offices.models import Office
from rumbo.offices.permissions import (
    Perm,
    has_perm,
    member_office_ids,
    offices_with_perm,
    require,
    require_any,
)
from rumbo.people.models import Language, Nationality, Person

PAGE_SIZE = 50


# --- Access helpers ---------------------------------------------------------------------------------------


def is_htmx(request: HttpRequest) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def office_for(request: HttpRequest, perm: Perm) -> tuple[Office, list[Office]]:
    """The office a page is about (``?office=``, else the first by name) and the offices to choose from.

    403 when the user has ``perm`` nowhere; 404 for an office where the user holds no role; 403 for one of
    the user's offices without ``perm``.
    """
    allowed = require_any(request.user, perm)
    offices = list(Office.objects.filter(pk__in=allowed).order_by("name", "pk"))
    raw = request.POST.get("office") or request.GET.get("office")
    if not raw:
        return offices[0], offices
    try:
        pk = int(raw)
    except (TypeError, ValueError):
        raise Http404 from None
    if pk not in member_office_ids(request.user):
        raise Http404
    require(request.user, perm, pk)
    return next(o for o in offices if o.pk == pk), offices


def owned(request: HttpRequest, queryset: QuerySet[Any], pk: int, perm: Perm) -> Any:
    """One office-owned row: 403 without ``perm`` anywhere, 404 outside the user's offices, 403 in one of them
    without ``perm``."""
    require_any(request.user, perm)
    obj = get_object_or_404(queryset, pk=pk, office_id__in=member_office_ids(request.user))
    require(request.user, perm, obj.office_id)
    return obj


def office_query_string(office: Office, offices: Sequence[Office]) -> str:
    """``?office=<id>`` for links when the user has several offices to choose from."""
    return f"?{urlencode({'office': office.pk})}" if len(offices) > 1 else ""


def with_office(url_name: str, office: Office, *args: Any) -> str:
    return f"{reverse(url_name, args=args)}?{urlencode({'office': office.pk})}"


def safe_next(request: HttpRequest, default: str) -> str:
    value = request.POST.get("next") or request.GET.get("next")
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


def page_number(request: HttpRequest, name: str = "page") -> int:
    try:
        return max(1, min(int(request.GET.get(name, "1")), 100_000))
    except ValueError:
        return 1


def no_store(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ["HX-Request"])
    response["Cache-Control"] = "no-store"
    return response


def messaging_offices(request: HttpRequest) -> list[Office]:
    """Every office where the user may do anything with messages (for links that keep the office)."""
    ids: set[int] = set()
    for perm in (Perm.VIEW_MESSAGES, Perm.SEND_MESSAGES, Perm.MANAGE_CHANNELS):
        ids |= offices_with_perm(request.user, perm)
    return list(Office.objects.filter(pk__in=ids).order_by("name", "pk"))


def base_context(
    request: HttpRequest,
    office: Office,
    offices: Sequence[Office] | None,
    section: str,
) -> dict[str, Any]:
    """What every messaging page shows: the office, the sub-navigation and what the user may do there.
    ``offices`` are the offices to pick from (list pages); None on a record's page (no picker)."""
    user = request.user
    linked = offices if offices is not None else messaging_offices(request)
    return {
        "office": office,
        "offices": offices or [],
        "office_query": office_query_string(office, linked),
        "section": section,
        "can_view": has_perm(user, Perm.VIEW_MESSAGES, office.pk),
        "can_send": has_perm(user, Perm.SEND_MESSAGES, office.pk),
        "can_manage": has_perm(user, Perm.MANAGE_CHANNELS, office.pk),
    }


# --- Page helpers -----------------------------------------------------------------------------------------


def console_allowed() -> bool:
    """The console channel (messages written to a file) exists for development only."""
    return bool(getattr(settings, "RUMBO_MESSAGING_ALLOW_CONSOLE", False))


CHART_WIDTH = 300
CHART_HEIGHT = 64
CHART_TOP = 12  # room above the highest bar


def throughput_chart(throughput: Sequence[tuple[datetime, int]]) -> dict[str, Any]:
    """A bar chart (server-drawn SVG) of messages sent per minute, oldest minute first."""
    count = max(len(throughput), 1)
    slot = CHART_WIDTH / count
    peak = max((n for _minute, n in throughput), default=0)
    bars = []
    for i, (minute, sent) in enumerate(throughput):
        height = round(sent / peak * (CHART_HEIGHT - CHART_TOP)) if peak else 0
        height = max(height, 2) if sent else 1
        bars.append(
            {
                "x": round(i * slot + 1, 1),
                "y": CHART_HEIGHT - height,
                "width": round(max(slot - 2, 1), 1),
                "height": height,
                "minute": minute,
                "sent": sent,
            }
        )
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "peak": peak,
        "total": sum(n for _minute, n in throughput),
        "minutes": len(throughput),
    }


def status_bar(counts: dict[str, int]) -> list[dict[str, Any]]:
    """One stacked bar of a campaign's messages by status (server-drawn SVG, widths in percent)."""
    total = sum(counts.values())
    segments: list[dict[str, Any]] = []
    start = 0.0
    for value, label in MessageStatus.choices:
        count = counts.get(value, 0)
        if not count or not total:
            continue
        width = count / total * 100
        segments.append(
            {"status": value, "label": label, "count": count, "x": round(start, 3), "width": round(width, 3)}
        )
        start += width
    return segments


def channel_card(stat: selectors.ChannelStats) -> dict[str, Any]:
    """What a channel's card on the operations page shows."""
    return {"stat": stat, "channel": stat.channel, "chart": throughput_chart(stat.throughput)}


def webhook_urls(request: HttpRequest, channel: Channel) -> list[tuple[str, str]]:
    """(what it is for, address) of the callbacks to configure at the channel's gateway. They contain the
    channel's secret webhook token: shown to channel managers only."""
    site = str(getattr(settings, "SITE_URL", "") or "").rstrip("/") or request.build_absolute_uri("/").rstrip(
        "/"
    )
    base = site + reverse("messaging_hooks:hook", args=[channel.webhook_token, channel.kind])
    if channel.kind == ChannelKind.SMS:
        from rumbo.messaging.adapters.kannel import MO_QUERY

        return [
            (_("Replies: the get-url of Kannel's sms-service"), f"{base}?{MO_QUERY}"),
            (_("Delivery reports: this channel's “Rumbo webhook URL” setting"), base),
        ]
    if channel.kind == ChannelKind.WHATSAPP:
        return [(_("Callback URL of the WhatsApp webhook (with this channel's verify token)"), base)]
    return []  # email and console channels receive no callbacks


def campaign_recipients(*, office: Office, nationality: str = "", language: str = "") -> list[int]:
    """Ids of the office's persons (not anonymised, not merged), optionally of one nationality (ISO 3166
    alpha-2) and speaking one language (ISO 639-3: a language they speak or their preferred one)."""
    persons = Person.objects.filter(office=office, anonymised_at__isnull=True, merged_into__isnull=True)
    if nationality:
        persons = persons.filter(
            pk__in=Nationality.objects.filter(person__office=office, country=nationality).values("person_id")
        )
    if language:
        speakers = Language.objects.filter(person__office=office, code=language).values("person_id")
        persons = persons.filter(Q(pk__in=speakers) | Q(preferred_language=language))
    return list(persons.order_by("pk").values_list("pk", flat=True))


def campaign_preview(
    *, office: Office, campaign: Campaign, person_ids: Sequence[int], extra: dict[str, str], tries: int = 50
) -> dict[str, Any] | None:
    """The message one recipient would get (the first of the first ``tries`` recipients who can be
    reached): person, channel, language, subject, text and its SMS cost. None when none can be reached."""
    if not person_ids:
        return None
    try:
        compiled = compile_template(campaign.template)
    except ValidationError:
        return None
    channels = active_channels(office.pk)
    contacts = load_contacts(list(person_ids[:tries]), office_id=office.pk)
    emergency = bool(campaign.emergency or compiled.emergency)
    for pid in person_ids[:tries]:
        contact = contacts.get(pid)
        if contact is None or contact.anonymised or contact.merged:
            continue
        if contact.emergency_withdrawn if emergency else contact.messages_withdrawn:
            continue
        try:
            channel, to = choose_channel(contact, channels)
        except AddressProblem:
            continue
        language = compiled.language_for(contact.language)
        subject_renderer, body_renderer = compiled.texts[language]
        values = person_context(contact, office.name, campaign.name, language, channel.kind)
        values.update(extra)
        body = body_renderer(values)
        return {
            "person_id": pid,
            "name": contact.full_name,
            "channel": channel,
            "to": to,
            "language": language,
            "subject": subject_renderer(values) if channel.kind != ChannelKind.SMS else "",
            "body": body,
            "segments": sms_segments(body),
        }
    return None
