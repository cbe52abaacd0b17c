"""Shared helpers of the engine tests: a scriptable in-process gateway that follows ``adapters/base.py``
(commit before the last piece, abort when ``commit`` says no), persons made through the people services, and
a channel/template set-up. The integration tests use the real peers (SMTP server, Kannel) instead."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from django.http import HttpRequest
from django_tasks_db.models import DBTaskResult

from rumbo.messaging import adapters
from rumbo.messaging.adapters import GatewayUnavailable
from rumbo.messaging.adapters._config import ConfigField
from rumbo.messaging.adapters.base import (
    CommitHook,
    InboundEvent,
    InboundKind,
    LastPiece,
    OutboundMessage,
    ReceiptStatus,
    SendResult,
    WebhookRejected,
)
from rumbo.messaging.models import Channel, ChannelKind, Message
from rumbo.messaging.services import create_channel, save_template
from rumbo.people.data import PersonData, PhoneData
from rumbo.people.models import Person
from rumbo.people.services import person_create


@dataclass
class FakeGateway:
    """What the fake gateway accepted, and how it should behave (per recipient address)."""

    accepted: list[OutboundMessage] = field(default_factory=list)
    aborted: list[int] = field(default_factory=list)
    temporary: set[str] = field(default_factory=set)  # addresses answered "try later"
    permanent: set[str] = field(default_factory=set)  # addresses refused for good
    refuse_after_commit: set[str] = field(default_factory=set)  # whole message received, then refused
    down: bool = False
    crash: BaseException | None = None  # raised by send_batch (an adapter breaking the contract)
    closes: int = 0  # how many times the dispatcher called the adapter's close()
    close_error: BaseException | None = None  # raised by close()
    # Called after commit() returned True, before the last piece: lets a test "kill" the worker there.
    after_commit: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self) -> list[str]:
        return [m.idempotency_key for m in self.accepted]


GATEWAY = FakeGateway()


class FakeAdapter:
    """A gateway adapter that keeps what it "sends" in ``GATEWAY`` (a test double of ``adapters/base.py``)."""

    kind: ClassVar[ChannelKind] = ChannelKind.CONSOLE
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("path", "path", required=True),
        ConfigField("token", "token", secret=True),
    )

    def __init__(self, config: Mapping[str, str], sender: str) -> None:
        self.config = dict(config)
        self.sender = sender

    def send_batch(self, messages: Sequence[OutboundMessage], commit: CommitHook) -> list[SendResult]:
        if GATEWAY.down:
            raise GatewayUnavailable("connection refused (fake gateway down)")
        if GATEWAY.crash is not None:
            raise GATEWAY.crash
        results: list[SendResult] = []
        for message in messages:
            if message.to in GATEWAY.temporary:
                results.append(SendResult(message.message_id, committed=False, error="451 try again later"))
                continue
            if message.to in GATEWAY.permanent:
                results.append(
                    SendResult(message.message_id, committed=False, error="550 no such user", permanent=True)
                )
                continue
            provider_id = f"fake-{message.message_id}"
            if not commit(message, provider_id, LastPiece(lambda: None)):
                GATEWAY.aborted.append(message.message_id)
                results.append(SendResult(message.message_id, committed=False, error="taken over"))
                continue
            if GATEWAY.after_commit is not None:
                GATEWAY.after_commit(message)
            if message.to in GATEWAY.refuse_after_commit:
                results.append(
                    SendResult(
                        message.message_id,
                        committed=True,
                        provider_id=provider_id,
                        error="554 refused",
                        permanent=True,
                    )
                )
                continue
            with GATEWAY.lock:
                GATEWAY.accepted.append(message)
            results.append(SendResult(message.message_id, committed=True, provider_id=provider_id))
        return results

    def close(self) -> None:
        GATEWAY.closes += 1
        if GATEWAY.close_error is not None:
            raise GATEWAY.close_error

    def parse_webhook(self, request: HttpRequest) -> list[InboundEvent]:
        """JSON body ``{"token": …, "events": [{"kind": "reply", "sender": …, "body": …}, …]}``."""
        payload = json.loads(request.body or b"{}")
        if payload.get("token") != self.config.get("token"):
            raise WebhookRejected("bad token")
        events = []
        for item in payload.get("events", []):
            events.append(
                InboundEvent(
                    kind=InboundKind(item["kind"]),
                    sender=item.get("sender", ""),
                    body=item.get("body", ""),
                    provider_id=item.get("provider_id", ""),
                    message_id=item.get("message_id"),
                    receipt_status=ReceiptStatus(item["status"]) if item.get("status") else None,
                    error=item.get("error", ""),
                    raw=item,
                )
            )
        return events


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGateway]:
    """The fake gateway, registered as the adapter of every channel kind for the test."""
    global GATEWAY
    GATEWAY = FakeGateway()
    for kind in ("console", "email", "sms", "whatsapp"):
        monkeypatch.setitem(adapters._ADAPTERS, kind, f"{__name__}.FakeAdapter")
    yield GATEWAY


def fake() -> FakeGateway:
    return GATEWAY


def make_channel(actor: Any, office: Any, kind: str = "sms", name: str = "", **extra: Any) -> Channel:
    """A channel through the service; the config is the fake adapter's (``path`` required)."""
    senders = {
        "sms": "+524431000000",
        "email": "avisos@ofam.example",
        "whatsapp": "123456789",
        "console": "dev",
    }
    return create_channel(
        actor=actor,
        office=office,
        kind=kind,
        name=name or f"{kind} channel",
        sender=extra.pop("sender", senders[kind]),
        config=extra.pop("config", {"path": "fake-gateway", "token": "s3cret"}),
        rate_per_second=extra.pop("rate_per_second", 1000),
        priority=extra.pop("priority", 10),
    )


def make_template(actor: Any, office: Any, key: str = "aviso", **extra: Any) -> Any:
    texts = extra.pop(
        "texts",
        {
            "spa": ("Aviso de {{ office_name }}", "Hola {{ given_names }}, {{ office_name }} te saluda."),
            "eng": (
                "Notice from {{ office_name }}",
                "Hello {{ given_names }}, greetings from {{ office_name }}.",
            ),
        },
    )
    return save_template(
        actor=actor,
        office=office,
        key=key,
        name=extra.pop("name", key.title()),
        emergency=extra.pop("emergency", False),
        fallback_language=extra.pop("fallback_language", "spa"),
        texts=texts,
    )


_counter = iter(range(1, 10_000_000))


def make_person(
    actor: Any,
    office: Any,
    *,
    given: str = "María",
    phone: str | None = "auto",
    kind: str = "mobile",
    whatsapp: bool = False,
    email: str = "",
    language: str = "",
) -> Person:
    """A person through the people service, with one phone (a fresh valid Morelia mobile by default)."""
    n = next(_counter)
    phones = []
    if phone == "auto":
        phone = f"+52443{n:07d}"
    if phone:
        phones = [PhoneData(number=phone, kind=kind, whatsapp=whatsapp, is_primary=True)]
    return person_create(
        actor=actor,
        office=office,
        data=PersonData(
            given_names=given,
            first_surname="López",
            email=email,
            preferred_language=language,
            phones=phones,
        ),
    )


def tasks_enqueued(task_name: str = "send_batch") -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path__endswith=f".{task_name}").order_by("enqueued_at"))


def statuses(**filters: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in Message.objects.filter(**filters).values_list("status", flat=True):
        out[status] = out.get(status, 0) + 1
    return out
