"""SMS through the Kannel gateway: smsbox's HTTP ``sendsms`` interface out, ``get-url`` and ``dlr-url`` in.

Sending is one ``GET /cgi-bin/sendsms?user=…&pass=…&from=…&to=…&text=…`` per message over a keep-alive
connection, written with the last byte of the request held back until ``commit()`` said yes (see ``_http``).
Text that GSM-7 cannot carry is sent with ``coding=2`` (UCS-2); ``charset=UTF-8`` tells Kannel how the text is
encoded. Delivery reports are requested with ``dlr-mask=31`` (delivered, failed, buffered, SMSC accepted,
SMSC rejected) and a ``dlr-url`` that points at this channel's webhook with our outbox id in it.

Kannel's answers: ``202 0: Accepted for delivery`` and ``202 3: Queued for later delivery`` are success;
403 ("Authorization failed for sendsms") and 400 (bad or denied number, missing field) are permanent; 5xx is
temporary. Those answers arrive after the commit (the request is complete only then): see the package
docstring for how the outbox reads them.

Inbound, configure the smsbox's ``sms-service`` like this (``MO_QUERY`` below lists the fields)::

    group = sms-service
    keyword = default
    catch-all = true
    omit-empty = true
    max-messages = 0
    get-url = "https://rumbo.example/hooks/messaging/<token>/kannel?type=mo&from=%p&to=%P&text=%b&..."

and in the ``smsbox`` group set ``mo-recode = true`` so UCS-2 replies arrive as UTF-8 (they are decoded
either way: the request carries the coding and charset), and ``http-request-retry`` / ``http-queue-delay``
so a reply or delivery report that Rumbo could not take at that moment is tried again instead of dropped.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from rumbo.messaging.adapters._config import ConfigField, config_float, config_int, config_str
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

# The query string of the sms-service get-url (Kannel escape codes: %p sender, %P receiver, %b text (raw),
# %c coding, %C charset, %i SMSC id, %I Kannel's message id, %T unix time).
MO_QUERY = "type=mo&from=%p&to=%P&text=%b&coding=%c&charset=%C&smsc=%i&id=%I&ts=%T"
# Appended to the channel's webhook URL in every message's dlr-url (%d DLR type, %A SMSC answer, %T time,
# %p the handset's number).
DLR_QUERY = "type=dlr&id={message_id}&status=%d&answer=%A&ts=%T&phone=%p"

# Kannel DLR types (dlr-mask bits).
DLR_DELIVERED, DLR_FAILED, DLR_BUFFERED, DLR_SMSC_ACCEPTED, DLR_SMSC_REJECTED = 1, 2, 4, 8, 16
_DLR_STATUS = {
    DLR_DELIVERED: ReceiptStatus.DELIVERED,
    DLR_FAILED: ReceiptStatus.FAILED,
    DLR_BUFFERED: ReceiptStatus.ACCEPTED,
    DLR_SMSC_ACCEPTED: ReceiptStatus.ACCEPTED,
    DLR_SMSC_REJECTED: ReceiptStatus.FAILED,
}

# GSM 03.38 default alphabet and its extension table (the extension characters take two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
_PHONE = re.compile(r"\+?[0-9]{3,20}")


def is_gsm7(text: str) -> bool:
    """True when every character fits the GSM 7-bit alphabet (basic table or extension table)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def provider_id_for(message_id: int) -> str:
    """Kannel gives no message id in its answer: the outbox id stands in for it (and comes back in DLRs)."""
    return f"kannel:{message_id}"


def normalise_number(number: str) -> str:
    """A number as Kannel reports it (``+52…``, ``0052…``, ``52…``), E.164 if it looks international."""
    number = re.sub(r"[\s\-()]", "", number)
    if number.startswith("00"):
        return "+" + number[2:]
    if number.isdigit() and len(number) > 10:
        return "+" + number
    return number


class KannelAdapter:
    """Sends SMS through a Kannel smsbox; parses its MO (get-url) and DLR (dlr-url) callbacks."""

    kind: ClassVar[ChannelKind] = ChannelKind.SMS
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "url",
            _("sendsms URL"),
            required=True,
            help_text=_("The smsbox address, e.g. http://kannel:13013"),
        ),
        ConfigField("username", _("sendsms user"), required=True),
        ConfigField("password", _("sendsms password"), required=True, secret=True),
        ConfigField(
            "webhook_url",
            _("Rumbo webhook URL (as Kannel reaches it)"),
            help_text=_("Delivery reports are requested only when this is set."),
        ),
        ConfigField("dlr_mask", _("delivery report mask"), default="31", number=int, minimum=0, maximum=255),
        ConfigField("smsc", _("SMSC id (optional routing)")),
        ConfigField(
            "webhook_secret",
            _("webhook shared secret (optional)"),
            secret=True,
            help_text=_("When set, Kannel's callbacks must carry it as the 'secret' parameter."),
        ),
        ConfigField("timeout", _("timeout (seconds)"), default="10", number=float, minimum=0.1, maximum=600),
        ConfigField(
            "connections", _("parallel connections"), default="8", number=int, minimum=1, maximum=100
        ),
    )

    def __init__(self, config: Mapping[str, str], sender: str) -> None:
        self.sender = sender
        self.url = config_str(config, "url", "http://127.0.0.1:13013")
        self.path = config_str(config, "path", "/cgi-bin/sendsms")
        self.username = config_str(config, "username")
        self.password = config_str(config, "password")
        self.webhook_url = config_str(config, "webhook_url")
        self.dlr_mask = config_int(config, "dlr_mask", 31)
        self.smsc = config_str(config, "smsc")
        self.secret = config_str(config, "webhook_secret")
        self.timeout = config_float(config, "timeout", 10.0)
        self._sender: HttpSender | None = None
        self.connections = config_int(config, "connections", 8)

    # --- sending ----------------------------------------------------------------------------------
    def dlr_url(self, message_id: int) -> str:
        separator = "&" if "?" in self.webhook_url else "?"
        url = self.webhook_url + separator + DLR_QUERY.format(message_id=message_id)
        if self.secret:
            url += "&" + urlencode({"secret": self.secret})
        return url

    def query(self, message: OutboundMessage) -> dict[str, str]:
        params = {
            "username": self.username,
            "password": self.password,
            "from": self.sender,
            "to": message.to,
            "text": message.body,
            "charset": "UTF-8",
        }
        if not is_gsm7(message.body):
            params["coding"] = "2"
        if self.webhook_url and self.dlr_mask:
            params["dlr-mask"] = str(self.dlr_mask)
            params["dlr-url"] = self.dlr_url(message.message_id)
        if self.smsc:
            params["smsc"] = self.smsc
        return params

    def send_batch(self, messages: Sequence[OutboundMessage], commit: CommitHook) -> list[SendResult]:
        if self._sender is None:
            gateway = HttpGateway(
                name="Kannel",
                base_url=self.url,
                method="GET",
                prepare=self._prepare,
                provider_id=lambda message: provider_id_for(message.message_id),
                interpret=_result,
                timeout=self.timeout,
                connections=self.connections,
            )
            self._sender = HttpSender(gateway)
        return self._sender.send(messages, commit)

    def close(self) -> None:
        """Close the kept-alive connections (the outbox calls this when a worker is done with the channel)."""
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def _prepare(self, message: OutboundMessage) -> bytes | SendResult:
        if not _PHONE.fullmatch(message.to):
            error = f"not a phone number: {message.to!r}"
            return SendResult(message.message_id, committed=False, error=error, permanent=True)
        if not message.body:
            return SendResult(message.message_id, committed=False, error="empty text", permanent=True)
        path = f"{self.path}?{urlencode(self.query(message))}"
        assert self._sender is not None
        return self._sender.build("GET", path)

    # --- inbound ----------------------------------------------------------------------------------
    def parse_webhook(self, request: HttpRequest) -> list[InboundEvent]:
        # Kannel url-encodes the raw bytes of the text; decode them with the coding and charset it reports
        # rather than trusting Django's UTF-8 decoding of the query string.
        query = request.META.get("QUERY_STRING", "")
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            query = request.body.decode("latin-1")
        raw = dict(parse_qsl(query, keep_blank_values=True, encoding="latin-1"))
        if self.secret and not hmac.compare_digest(
            raw.get("secret", "").encode("latin-1"), self.secret.encode()
        ):
            raise WebhookRejected("bad or missing webhook secret")
        kind = raw.get("type") or ("dlr" if request.path.rstrip("/").endswith("dlr") else "mo")
        fields = {key: value.encode("latin-1").decode("utf-8", "replace") for key, value in raw.items()}
        fields.pop("secret", None)
        if kind == "dlr":
            return self._dlr(fields)
        fields["text"] = _decode_text(raw.get("text", ""), raw.get("coding", ""), raw.get("charset", ""))
        return self._mo(fields)

    @staticmethod
    def _dlr(fields: dict[str, str]) -> list[InboundEvent]:
        try:
            dlr_type = int(fields.get("status", ""))
        except ValueError:
            return []
        status = _DLR_STATUS.get(dlr_type)
        message_id = message_id_from(fields.get("id", ""))
        if status is None or message_id is None:
            return []
        return [
            InboundEvent(
                kind=InboundKind.RECEIPT,
                sender=normalise_number(fields.get("phone", "")),
                provider_id=provider_id_for(message_id),
                message_id=message_id,
                receipt_status=status,
                error=fields.get("answer", "") if status is ReceiptStatus.FAILED else "",
                received_at=_timestamp(fields.get("ts", "")),
                raw=fields,
            )
        ]

    @staticmethod
    def _mo(fields: dict[str, str]) -> list[InboundEvent]:
        sender = normalise_number(fields.get("from", ""))
        if not sender:
            return []
        return [
            InboundEvent(
                kind=InboundKind.REPLY,
                sender=sender,
                body=fields.get("text", ""),
                provider_id=fields.get("id", "")[:120],
                received_at=_timestamp(fields.get("ts", "")),
                raw=fields,
            )
        ]


def _result(message: OutboundMessage, provider_id: str, response: Response) -> SendResult:
    text = response.body.decode("utf-8", "replace").strip()
    if 200 <= response.status < 300 and text[:2] in {"0:", "3:"}:
        return SendResult(message.message_id, committed=True, provider_id=provider_id)
    return SendResult(
        message.message_id,
        committed=True,
        provider_id=provider_id,
        error=f"Kannel refused the message: {response.status} {text}"[:500],
        # 5xx: the gateway is struggling (retry later); 4xx and odd answers: retrying will not help.
        permanent=not 500 <= response.status < 600,
    )


def _decode_text(raw: str, coding: str, charset: str) -> str:
    data = raw.encode("latin-1")  # the bytes exactly as Kannel url-encoded them
    if coding == "2" or charset.upper().replace("-", "") in {"UCS2", "UTF16BE", "UTF16"}:
        return data.decode("utf-16-be", "replace")
    try:
        return data.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", "replace")


def _timestamp(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
