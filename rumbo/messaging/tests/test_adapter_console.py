"""The development channel: a JSON line per message, written only after the commit; simulated replies."""

from __future__ import annotations

import json
from pathlib import Path

from django.test import RequestFactory

from rumbo.messaging.adapters import adapter_class, adapter_for, config_fields
from rumbo.messaging.adapters.base import InboundKind, LastPiece, OutboundMessage, ReceiptStatus
from rumbo.messaging.adapters.console import ConsoleAdapter
from rumbo.messaging.adapters.kannel import KannelAdapter
from rumbo.messaging.adapters.smtp import SmtpAdapter
from rumbo.messaging.adapters.whatsapp import WhatsAppAdapter
from rumbo.messaging.models import ChannelKind


def test_each_channel_kind_has_its_adapter() -> None:
    assert adapter_class(ChannelKind.EMAIL) is SmtpAdapter
    assert adapter_class(ChannelKind.SMS) is KannelAdapter
    assert adapter_class(ChannelKind.WHATSAPP) is WhatsAppAdapter
    assert adapter_class(ChannelKind.CONSOLE) is ConsoleAdapter
    for kind in ChannelKind:
        assert adapter_class(kind).kind == kind
        fields = config_fields(kind)
        assert fields
        assert len({f.name for f in fields}) == len(fields)


def test_secrets_are_marked_so_they_are_never_shown_back() -> None:
    secret = {(kind.value, f.name) for kind in ChannelKind for f in config_fields(kind) if f.secret}
    assert {
        ("email", "password"),
        ("sms", "password"),
        ("whatsapp", "access_token"),
        ("whatsapp", "app_secret"),
    } <= secret


def test_messages_are_appended_after_their_commit(tmp_path: Path) -> None:
    out = tmp_path / "dev" / "messages.jsonl"
    adapter = adapter_for("console", {"path": str(out)}, "Rumbo dev")
    messages = [OutboundMessage(n, f"k{n}", f"+52155{n}", f"Hola {n} ñ") for n in (1, 2, 3)]

    def commit(message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
        written = out.read_text() if out.exists() else ""
        assert f'"id": {message.message_id},' not in written  # nothing written before the commit
        if message.message_id == 2:
            return False
        last_piece()
        return True

    results = adapter.send_batch(messages, commit)

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == [1, 3]
    assert lines[0]["body"] == "Hola 1 ñ"
    assert lines[0]["from"] == "Rumbo dev"
    assert [(r.committed, r.provider_id) for r in results] == [
        (True, "console:1"),
        (False, ""),
        (True, "console:3"),
    ]


def test_replies_and_receipts_can_be_simulated() -> None:
    adapter = adapter_for("console", {"path": "/dev/null"}, "dev")
    [reply] = adapter.parse_webhook(RequestFactory().post("/h/", {"from": "+5215512345678", "text": "BAJA"}))
    assert (reply.kind, reply.sender, reply.body) == (InboundKind.REPLY, "+5215512345678", "BAJA")
    [receipt] = adapter.parse_webhook(
        RequestFactory().post(
            "/h/", data=json.dumps({"id": 12, "status": "delivered"}), content_type="application/json"
        )
    )
    assert (receipt.kind, receipt.message_id, receipt.receipt_status) == (
        InboundKind.RECEIPT,
        12,
        ReceiptStatus.DELIVERED,
    )
    assert adapter.parse_webhook(RequestFactory().post("/h/", {})) == []


def test_a_receipt_whose_id_is_no_outbox_id_is_not_a_receipt() -> None:
    adapter = adapter_for("console", {"path": "/dev/null"}, "dev")
    for value in ("²", "99999999999999999999999", "0"):
        request = RequestFactory().post("/h/", {"id": value, "status": "delivered"})
        assert adapter.parse_webhook(request) == []
