"""WhatsApp through Meta's WhatsApp Cloud API: the documented send request, answers, errors and webhooks.

Sending (Cloud API reference, "Send messages")::

    POST {base_url}/{api_version}/{phone_number_id}/messages
    Authorization: Bearer <access token>
    {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+5215512345678",
     "type": "text", "text": {"preview_url": false, "body": "..."},
     "biz_opaque_callback_data": "rumbo:<outbox id>"}

or, when the channel has a ``template_name`` (needed outside the 24-hour window after a person wrote to us),
``"type": "template"`` with the rendered text as the template's single body parameter ``{{1}}``. The answer is
``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}``;
errors are ``{"error": {"message", "type", "code", "error_data", "error_subcode", "fbtrace_id"}}``.
``biz_opaque_callback_data`` comes back in status webhooks, so receipts name our outbox id directly.

The request goes out over a raw HTTP/1.1 connection (TLS for https) with its last body byte held back until
``commit()`` (see ``_http``); the ``wamid`` is known only from the answer, after the commit, so it travels in
``SendResult.provider_id``.

Webhooks ("Webhooks > messages"): a GET to verify the subscription (``hub.mode=subscribe``,
``hub.verify_token``, ``hub.challenge`` echoed back: ``verify_subscription``), then POSTs signed with
``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the app secret>`` carrying
``entry[].changes[].value.messages[]`` (replies) and ``.statuses[]`` (sent, delivered, read, failed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pycountry
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from rumbo.messaging.adapters._config import ConfigField, config_bool, config_float, config_int, config_str
from rumbo.messaging.adapters._http import HttpGateway, HttpSender, Response
from rumbo.messaging.adapters.base import (
    CommitHook,
    InboundEvent,
    InboundKind,
    OutboundMessage,
    ReceiptStatus,
    SendResult,
    WebhookRejected,
    message_id_from,
)
from rumbo.messaging.models import ChannelKind

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v23.0"
MAX_TEXT = 4096  # documented limit of text.body
CALLBACK_PREFIX = "rumbo:"
_WA_NUMBER = re.compile(r"\+?[0-9]{6,20}")

# Error codes from the Cloud API's error code reference, by what retrying can do.
TEMPORARY_ERRORS = frozenset(
    {
        1,  # API unknown
        2,  # API service (temporarily unavailable)
        4,  # API too many calls (app rate limit)
        80007,  # rate limit issues (WhatsApp Business Account)
        130429,  # rate limit hit (Cloud API throughput)
        131000,  # something went wrong
        131016,  # service unavailable
        131048,  # spam rate limit hit
        131056,  # (business, consumer) pair rate limit hit
        133004,  # server temporarily unavailable
    }
)
# Everything else is permanent: e.g. 100 invalid parameter, 131008 required parameter missing, 131009
# parameter value not valid, 131021 recipient cannot be sender, 131026 message undeliverable, 131047
# re-engagement message (24-hour window closed: needs a template), 131051 unsupported message type,
# 132000-132069 template errors, 190 access token expired, 10 / 200 permission errors, 131031 account
# locked, 368 blocked for policy violations. Channel-wide problems (token, permissions) fail each message
# so the outbox falls back to the person's next channel instead of holding a crisis message back.

_STATUS = {
    "sent": ReceiptStatus.ACCEPTED,
    "delivered": ReceiptStatus.DELIVERED,
    "read": ReceiptStatus.DELIVERED,
    "played": ReceiptStatus.DELIVERED,
    "failed": ReceiptStatus.FAILED,
}


def signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with a webhook body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def is_temporary(code: int | None, http_status: int) -> bool:
    if code is not None and code in TEMPORARY_ERRORS:
        return True
    return http_status >= 500 or http_status == 429 or (code is None and http_status in {408, 425})


def template_language(iso639_3: str) -> str:
    """WhatsApp's template language for an ISO 639-3 code (``spa`` → ``es``); unknown codes pass through."""
    language = pycountry.languages.get(alpha_3=iso639_3)
    return getattr(language, "alpha_2", None) or iso639_3


class WhatsAppAdapter:
    """Sends through the WhatsApp Cloud API; verifies and parses its webhooks."""

    kind: ClassVar[ChannelKind] = ChannelKind.WHATSAPP
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("access_token", _("access token"), required=True, secret=True),
        ConfigField(
            "app_secret",
            _("app secret"),
            required=True,
            secret=True,
            help_text=_("Checks webhook signatures."),
        ),
        ConfigField("verify_token", _("webhook verify token"), required=True, secret=True),
        ConfigField("phone_number_id", _("phone number ID (if not the sending identity)")),
        ConfigField("base_url", _("API address"), default=DEFAULT_BASE_URL),
        ConfigField("api_version", _("API version"), default=DEFAULT_API_VERSION),
        ConfigField(
            "template_name",
            _("template name (optional)"),
            help_text=_("An approved template whose body is the single variable {{1}}."),
        ),
        ConfigField("template_language", _("template language code (optional)")),
        ConfigField("timeout", _("timeout (seconds)"), default="15", number=float, minimum=0.1, maximum=600),
        ConfigField(
            "connections", _("parallel connections"), default="4", number=int, minimum=1, maximum=100
        ),
    )

    def __init__(self, config: Mapping[str, str], sender: str) -> None:
        self.phone_number_id = config_str(config, "phone_number_id", sender)
        self.access_token = config_str(config, "access_token")
        self.app_secret = config_str(config, "app_secret")
        self.verify_token = config_str(config, "verify_token")
        self.base_url = config_str(config, "base_url", DEFAULT_BASE_URL).rstrip("/")
        self.api_version = config_str(config, "api_version", DEFAULT_API_VERSION).strip("/")
        self.template_name = config_str(config, "template_name")
        self.template_language = config_str(config, "template_language")
        self.timeout = config_float(config, "timeout", 15.0)
        self._sender: HttpSender | None = None
        self.connections = config_int(config, "connections", 4)
        self.verify_tls = config_bool(config, "verify_tls", True)
        self.ca_file = config_str(config, "ca_file")

    # --- sending ----------------------------------------------------------------------------------
    @property
    def messages_path(self) -> str:
        return f"/{self.api_version}/{self.phone_number_id}/messages"

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        """The documented JSON body for one message."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to,
        }
        if self.template_name:
            body["type"] = "template"
            body["template"] = {
                "name": self.template_name,
                "language": {"code": self.template_language or template_language(message.language)},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": message.body}]}],
            }
        else:
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": message.body}
        body["biz_opaque_callback_data"] = f"{CALLBACK_PREFIX}{message.message_id}"
        return body

    def send_batch(self, messages: Sequence[OutboundMessage], commit: CommitHook) -> list[SendResult]:
        if self._sender is None:
            gateway = HttpGateway(
                name="WhatsApp Cloud API",
                base_url=self.base_url,
                method="POST",
                prepare=self._prepare,
                provider_id=lambda message: "",  # the wamid comes with the answer, after the commit
                interpret=lambda message, provider_id, response: _result(message, response),
                timeout=self.timeout,
                connections=self.connections,
                verify_tls=self.verify_tls,
                ca_file=self.ca_file,
            )
            self._sender = HttpSender(gateway)
        return self._sender.send(messages, commit)

    def close(self) -> None:
        """Close the kept-alive connections (the outbox calls this when a worker is done with the channel)."""
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def _prepare(self, message: OutboundMessage) -> bytes | SendResult:
        if not message.body:
            return SendResult(message.message_id, committed=False, error="empty text", permanent=True)
        if len(message.body) > MAX_TEXT:
            error = f"text longer than {MAX_TEXT} characters"
            return SendResult(message.message_id, committed=False, error=error, permanent=True)
        if not _WA_NUMBER.fullmatch(message.to):
            error = f"not a phone number: {message.to!r}"
            return SendResult(message.message_id, committed=False, error=error, permanent=True)
        body = json.dumps(self.payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        assert self._sender is not None
        return self._sender.build(
            "POST",
            self.messages_path,
            headers={
                "Authorization": f"Bearer {self.access_token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=body,
        )

    # --- webhooks ---------------------------------------------------------------------------------
    def verify_subscription(self, request: HttpRequest) -> str:
        """The ``hub.challenge`` to answer Meta's GET verification with; raises WebhookRejected otherwise."""
        mode = request.GET.get("hub.mode", "")
        token = request.GET.get("hub.verify_token", "")
        if mode != "subscribe" or not self.verify_token:
            raise WebhookRejected("not a subscription request")
        if not hmac.compare_digest(token.encode(), self.verify_token.encode()):
            raise WebhookRejected("bad verify token")
        return request.GET.get("hub.challenge", "")

    def check_signature(self, request: HttpRequest) -> None:
        if not self.app_secret:
            raise WebhookRejected("no app secret configured: webhook signatures cannot be checked")
        given = request.headers.get("X-Hub-Signature-256", "")
        if not given or not hmac.compare_digest(
            given.encode(), signature(self.app_secret, request.body).encode()
        ):
            raise WebhookRejected("bad X-Hub-Signature-256")

    def parse_webhook(self, request: HttpRequest) -> list[InboundEvent]:
        if request.method != "POST":
            raise WebhookRejected("webhook events are POSTed (GET is the subscription check)")
        self.check_signature(request)
        try:
            payload = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WebhookRejected(f"not JSON: {exc}") from exc
        try:
            return self.parse_payload(payload) if isinstance(payload, dict) else []
        except (AttributeError, TypeError, ValueError, IndexError):
            # Signed by Meta but not in a shape we know: acknowledge it (no retries), keep nothing.
            logger.warning("WhatsApp webhook in an unknown shape ignored")
            return []

    def parse_payload(self, payload: Mapping[str, Any]) -> list[InboundEvent]:
        """Events from a (verified) webhook body; changes for another phone number are ignored."""
        events: list[InboundEvent] = []
        if payload.get("object") != "whatsapp_business_account":
            return events
        for entry in payload.get("entry") or []:
            for change in entry.get("changes") or []:
                if change.get("field", "messages") != "messages":
                    continue
                value = change.get("value") or {}
                number_id = str((value.get("metadata") or {}).get("phone_number_id", ""))
                if number_id and self.phone_number_id and number_id != self.phone_number_id:
                    continue
                names = {
                    str(c.get("wa_id", "")): (c.get("profile") or {}).get("name", "")
                    for c in value.get("contacts") or []
                }
                events.extend(_reply(item, names) for item in value.get("messages") or [])
                events.extend(e for e in (_receipt(item) for item in value.get("statuses") or []) if e)
        return events


def _result(message: OutboundMessage, response: Response) -> SendResult:
    try:
        data = json.loads(response.body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = {}
    if 200 <= response.status < 300:
        wamid = ""
        if isinstance(data, dict):
            wamid = str(((data.get("messages") or [{}])[0]).get("id", ""))
        return SendResult(message.message_id, committed=True, provider_id=wamid[:120])
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        details = (
            (error.get("error_data") or {}).get("details", "")
            if isinstance(error.get("error_data"), dict)
            else ""
        )
        text = f"WhatsApp error {code}: {error.get('message', '')}" + (f" ({details})" if details else "")
    else:
        code = None
        text = f"WhatsApp HTTP {response.status}: {response.body[:200].decode('utf-8', 'replace')}"
    return SendResult(
        message.message_id,
        committed=True,
        error=text[:500],
        permanent=not is_temporary(code, response.status),
    )


def _phone(wa_id: str) -> str:
    return wa_id if not wa_id or wa_id.startswith("+") else f"+{wa_id}"


def _when(timestamp: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _reply(item: Mapping[str, Any], names: Mapping[str, str]) -> InboundEvent:
    kind = item.get("type", "")
    body = ""
    if kind == "text":
        body = (item.get("text") or {}).get("body", "")
    elif kind == "interactive":
        interactive = item.get("interactive") or {}
        chosen = interactive.get(interactive.get("type", "")) or {}
        body = chosen.get("title", "") or chosen.get("id", "")
    elif kind == "button":  # a quick-reply button of a template message
        button = item.get("button") or {}
        body = button.get("text", "") or button.get("payload", "")
    elif kind in {"image", "video", "document"}:
        body = (item.get(kind) or {}).get("caption", "")
    raw = dict(item)
    sender = str(item.get("from", ""))
    if names.get(sender):
        raw["profile_name"] = names[sender]
    return InboundEvent(
        kind=InboundKind.REPLY,
        sender=_phone(sender),
        body=body,
        provider_id=str(item.get("id", ""))[:120],
        received_at=_when(item.get("timestamp")),
        raw=raw,  # raw["context"]["id"] is the wamid of the message this answers, when it is a reply
    )


def _receipt(item: Mapping[str, Any]) -> InboundEvent | None:
    status = _STATUS.get(str(item.get("status", "")))
    if status is None:
        return None
    opaque = str(item.get("biz_opaque_callback_data", ""))
    message_id = None
    if opaque.startswith(CALLBACK_PREFIX):
        message_id = message_id_from(opaque[len(CALLBACK_PREFIX) :])
    errors = item.get("errors") or []
    error = "; ".join(
        f"{e.get('code', '')} {e.get('title', '')}".strip()
        + (
            f": {(e.get('error_data') or {}).get('details')}"
            if (e.get("error_data") or {}).get("details")
            else ""
        )
        for e in errors
        if isinstance(e, dict)
    )
    return InboundEvent(
        kind=InboundKind.RECEIPT,
        sender=_phone(str(item.get("recipient_id", ""))),
        provider_id=str(item.get("id", ""))[:120],
        message_id=message_id,
        receipt_status=status,
        error=error[:500],
        received_at=_when(item.get("timestamp")),
        raw=dict(item),
    )
