"""A development channel: every message becomes one JSON line in a file. Never a production default.

The same commit rule as the real gateways: ``commit()`` marks the message, then writes and flushes its line,
so the file never shows a message the outbox does not consider sent. Replies can be simulated by POSTing
``from=<number or address>&text=<reply>`` (or JSON with the same keys) to the channel's webhook; receipts with
``id=<outbox id>&status=delivered|failed``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, ClassVar

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from rumbo.messaging.adapters import GatewayUnavailable
from rumbo.messaging.adapters._config import ConfigField, config_str
from rumbo.messaging.adapters.base import (
    CommitHook,
    InboundEvent,
    InboundKind,
    LastPiece,
    OutboundMessage,
    ReceiptStatus,
    SendResult,
    message_id_from,
)
from rumbo.messaging.models import ChannelKind

_RECEIPTS = {
    "accepted": ReceiptStatus.ACCEPTED,
    "delivered": ReceiptStatus.DELIVERED,
    "failed": ReceiptStatus.FAILED,
}


class ConsoleAdapter:
    """Appends messages to a JSON-lines file (config ``path``); for development and demonstrations."""

    kind: ClassVar[ChannelKind] = ChannelKind.CONSOLE
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("path", _("file"), required=True, help_text=_("Messages are appended to this file.")),
    )

    def __init__(self, config: Mapping[str, str], sender: str) -> None:
        self.sender = sender
        self.path = Path(config_str(config, "path", "messages.jsonl"))

    def send_batch(self, messages: Sequence[OutboundMessage], commit: CommitHook) -> list[SendResult]:
        results: list[SendResult] = []
        if not messages:
            return results
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            out = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise GatewayUnavailable(f"console file {self.path}: {exc}") from exc
        with out:
            for message in messages:
                provider_id = f"console:{message.message_id}"
                line = {
                    "id": message.message_id,
                    "key": message.idempotency_key,
                    "from": self.sender,
                    "to": message.to,
                    "subject": message.subject,
                    "body": message.body,
                    "language": message.language,
                    "at": datetime.now(tz=UTC).isoformat(),
                }
                written = LastPiece(partial(_append, out, json.dumps(line, ensure_ascii=False) + "\n"))
                if not commit(message, provider_id, written):
                    results.append(
                        SendResult(message.message_id, committed=False, error="taken over by another worker")
                    )
                    continue
                if written.error is not None:
                    error = f"console file {self.path}: {written.error}"
                    results.append(
                        SendResult(message.message_id, committed=True, provider_id=provider_id, error=error)
                    )
                    continue
                results.append(SendResult(message.message_id, committed=True, provider_id=provider_id))
            os.fsync(out.fileno())
        return results

    def parse_webhook(self, request: HttpRequest) -> list[InboundEvent]:
        if request.content_type == "application/json":
            try:
                data = {k: str(v) for k, v in json.loads(request.body or b"{}").items()}
            except (ValueError, AttributeError):
                return []
        else:
            data = {k: str(v) for k, v in (request.POST or request.GET).items()}
        status = _RECEIPTS.get(data.get("status", ""))
        message_id = message_id_from(data.get("id", ""))
        if status is not None and message_id is not None:
            return [
                InboundEvent(
                    kind=InboundKind.RECEIPT,
                    provider_id=f"console:{message_id}",
                    message_id=message_id,
                    receipt_status=status,
                    raw=data,
                )
            ]
        if data.get("from"):
            return [
                InboundEvent(
                    kind=InboundKind.REPLY,
                    sender=data["from"],
                    body=data.get("text", ""),
                    provider_id=data.get("reply_id", "")[:120],
                    raw=data,
                )
            ]
        return []


def _append(out: IO[str], line: str) -> None:
    out.write(line)
    out.flush()
