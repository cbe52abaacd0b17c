"""Gateway callbacks: replies and delivery receipts, at ``/hooks/messaging/<token>/<kind>/…``.

The channel's secret ``webhook_token`` in the URL says which channel (and office) a call is for: an unknown
token or a kind that does not match answers 404. The adapter then checks what its gateway signs (WhatsApp: the
``X-Hub-Signature-256`` HMAC with the app secret; Kannel: the token, optionally a shared secret) — a call it
rejects answers 403 — and turns the call into events, which ``record_events`` stores and applies. With
``RUMBO_MESSAGING_DEFERRED_INGEST`` (the default outside tests) the events are only stored, in one insert,
and a worker applies them in batches a moment later (``services.inbound.ingest_pending``): a gateway that
calls once per reply (Kannel) is answered in about a millisecond of database time. No session, no CSRF
token: gateways are not browsers, and ``rumbo.wsgi`` serves ``/hooks/`` through a short middleware stack.

Answers are what each gateway expects: Kannel gets an empty ``200 text/plain`` (a non-empty body would be sent
back to the person as an SMS), WhatsApp's subscription check (``GET`` with ``hub.mode=subscribe``) gets
``hub.challenge`` back when ``hub.verify_token`` matches the channel's ``verify_token``.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_scopes import scopes_disabled

from rumbo.messaging.adapters.base import WebhookRejected
from rumbo.messaging.crypto import CredentialsError, decrypt_config
from rumbo.messaging.models import Channel, ChannelKind
from rumbo.messaging.services.dispatch import channel_adapter
from rumbo.messaging.services.inbound import record_events, store_pending
from rumbo.messaging.tasks import enqueue_ingest

logger = logging.getLogger(__name__)


# The URL segment after the token: the channel kind, or the gateway's name.
_KIND_ALIASES = {"kannel": ChannelKind.SMS, "wa": ChannelKind.WHATSAPP}


#: Channels found by their webhook token are kept ``RUMBO_MESSAGING_WEBHOOK_CACHE_SECONDS`` (10) per process:
#: a burst of replies does not look the channel up once per call. A changed token or setting of the channel
#: takes effect within that time.
_channels: dict[str, tuple[float, Channel | None]] = {}


def _channel(token: str, kind: str) -> Channel:
    now = time.monotonic()
    cached = _channels.get(token)
    keep = float(getattr(settings, "RUMBO_MESSAGING_WEBHOOK_CACHE_SECONDS", 10))
    if cached is not None and now - cached[0] < keep:
        channel = cached[1]
    else:
        with scopes_disabled():
            channel = Channel.objects.filter(webhook_token=token).select_related("office").first()
        if len(_channels) > 1000:
            _channels.clear()
        _channels[token] = (now, channel)
    kind = _KIND_ALIASES.get(kind, kind)
    if channel is None or channel.kind != kind or not hmac.compare_digest(channel.webhook_token, token):
        raise Http404
    return channel


def _verify_subscription(request: HttpRequest, channel: Channel, adapter: Any) -> HttpResponse:
    """WhatsApp's webhook set-up check: echo ``hub.challenge`` when the verify token is the channel's."""
    verify = getattr(adapter, "verify_subscription", None)
    if callable(verify):
        return HttpResponse(verify(request), content_type="text/plain")  # WebhookRejected → 403
    mode = request.GET.get("hub.mode", "")
    given = request.GET.get("hub.verify_token", "")
    expected = decrypt_config(channel.config_encrypted).get("verify_token", "")
    if mode != "subscribe" or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise WebhookRejected("bad verify token")
    return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def hook(request: HttpRequest, token: str, kind: str, rest: str = "") -> HttpResponse:
    """Receive one gateway callback for the channel named by ``token``."""
    channel = _channel(token, kind)
    try:
        adapter = channel_adapter(channel)
    except CredentialsError:
        logger.error("channel %s: credentials cannot be decrypted; webhook refused", channel.pk)
        return HttpResponse(status=503)
    except (TypeError, ValueError):  # settings saved before they were checked (a timeout of "ten")
        logger.exception("channel %s: its settings cannot be used; webhook refused", channel.pk)
        return HttpResponse(status=503)
    try:
        if channel.kind == ChannelKind.WHATSAPP and request.method == "GET" and "hub.mode" in request.GET:
            return _verify_subscription(request, channel, adapter)
        events = adapter.parse_webhook(request)
    except WebhookRejected:
        return HttpResponse(status=403)
    if getattr(settings, "RUMBO_MESSAGING_DEFERRED_INGEST", False):
        # Store the call (one insert) and answer; a worker applies it within about a second.
        store_pending(channel=channel, events=events)
        if events:
            transaction.on_commit(enqueue_ingest)
        received, stored = len(events), len(events)
    else:
        outcome = record_events(channel=channel, events=events)
        received, stored = outcome.received, outcome.stored
    if channel.kind == ChannelKind.SMS:
        return HttpResponse("", content_type="text/plain")
    return JsonResponse({"received": received, "stored": stored})
