"""The contract between the outbox and a gateway: one adapter class per channel kind.

The outbox (``rumbo.messaging.services``) owns state; an adapter only speaks a gateway's protocol.
Adapters never touch the database. Exactly-once sending relies on one rule every adapter follows:

    the adapter calls ``commit(message, provider_id, last_piece)`` after the gateway has received everything
    except the last piece it needs to accept the message (SMTP: the DATA body without the final ``.``; HTTP:
    the request without its last byte); ``commit()`` sends that last piece itself, right after the mark.

``commit()`` marks the message as sent in the database (fenced by the worker's lease), makes the mark durable
and calls ``last_piece()`` at once: the two writes follow each other within microseconds, with no Python
frame unwinding or bookkeeping between them. If the worker dies before, the gateway never got a complete
message and drops it, and the message is still claimable; if it dies after, the row already says "sent" and
the gateway has (or is about to get, from the kernel) the complete message. A ``commit()`` returning False
means another worker took the message over: the adapter aborts the transfer (closes the connection: SMTP or
HTTP) without completing it.

Two kinds of failure, never confused:

- **retryable**: the whole gateway is out of reach (connection refused, TLS or login failure, timeout before
  anything was sent). ``send_batch`` raises :class:`GatewayUnavailable`; every message of the batch goes back
  to the queue with backoff, and the attempt never counts as a permanent failure. A temporary refusal of one
  message (SMTP 4xx, throttling) is a ``SendResult`` with ``permanent=False``.
- **permanent**: retrying cannot help (an invalid address, a number that cannot receive SMS): a
  ``SendResult`` with ``permanent=True``; the outbox marks the message failed and tries the next channel.

An adapter may keep a connection open across the messages of a batch (an SMTP session, an HTTP keep-alive
connection). It then has a ``close()`` method, optional in the contract: the dispatcher calls it once when it
is done with the adapter, after the last batch it sent, even when sending failed (:func:`close_adapter`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from django.http import HttpRequest

from rumbo.messaging.adapters import GatewayUnavailable
from rumbo.messaging.models import ChannelKind

__all__ = [
    "Adapter",
    "ClosableAdapter",
    "CommitHook",
    "GatewayUnavailable",  # defined in the package (the adapter modules import it from there); same class
    "InboundEvent",
    "InboundKind",
    "LastPiece",
    "OutboundMessage",
    "ReceiptStatus",
    "SendResult",
    "WebhookRejected",
    "close_adapter",
    "message_id_from",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboundMessage:
    """One message as the adapter sees it (already rendered; the outbox row id travels as ``message_id``)."""

    message_id: int
    idempotency_key: str
    to: str  # an email address, or a phone number in E.164 form
    body: str
    subject: str = ""  # email only
    language: str = "spa"


@dataclass(frozen=True)
class SendResult:
    """What happened to one message.

    ``committed`` is True when the adapter called ``commit()`` and it returned True (the row says "sent").
    On failure, ``permanent`` says whether retrying can help (bad address, number that cannot receive SMS)
    or not (gateway down, timeout, throttled: retry with backoff).
    """

    message_id: int
    committed: bool
    provider_id: str = ""
    error: str = ""
    permanent: bool = False


class InboundKind(enum.StrEnum):
    REPLY = "reply"  # a person wrote to us
    RECEIPT = "receipt"  # a delivery report about a message we sent


class ReceiptStatus(enum.StrEnum):
    ACCEPTED = "accepted"  # the gateway/SMSC took it (Kannel DLR 8, WhatsApp "sent")
    DELIVERED = "delivered"  # reached the handset / was delivered (Kannel DLR 1, WhatsApp "delivered"/"read")
    FAILED = "failed"  # Kannel DLR 2/16, WhatsApp "failed"


@dataclass(frozen=True)
class InboundEvent:
    """A reply or a delivery receipt parsed from a webhook call or a gateway callback."""

    kind: InboundKind
    sender: str = ""  # E.164 phone or email address of the person (replies)
    body: str = ""  # reply text
    provider_id: str = ""  # gateway id of the reply, or of the message a receipt is about
    message_id: int | None = None  # our outbox id when the gateway echoes it back (Kannel dlr-url)
    receipt_status: ReceiptStatus | None = None
    error: str = ""
    received_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


class LastPiece:
    """What completes a message at the gateway — SMTP's final ``.``, an HTTP request's last byte — handed to
    ``commit()``, which sends it right after the "sent" mark is durable, with nothing in between.

    A failure to send it (``OSError``, or one of ``errors``) is kept in ``error`` rather than raised: the mark
    is already written, and the adapter decides what an incomplete transfer means (nothing was received
    complete, so a retry cannot duplicate the message).
    """

    __slots__ = ("_errors", "_send", "error", "sent")

    def __init__(
        self, send: Callable[[], object], errors: tuple[type[BaseException], ...] = (OSError,)
    ) -> None:
        self._send = send
        self._errors = errors
        self.sent = False
        self.error: BaseException | None = None

    def __call__(self) -> None:
        try:
            self._send()
        except self._errors as exc:
            self.error = exc
        else:
            self.sent = True


CommitHook = Callable[[OutboundMessage, str, LastPiece], bool]
"""``commit(message, provider_id, last_piece)`` → True if this worker still holds the message: the row now
says sent and ``last_piece()`` was called the moment that mark became durable. False: another worker holds
the message; nothing was written and ``last_piece`` was not called."""


class WebhookRejected(Exception):
    """The webhook call is not authentic (bad signature or token); the view answers 403."""


def message_id_from(value: str) -> int | None:
    """The outbox id a gateway echoes back in a callback, or None when ``value`` is not one.

    ASCII digits only (``"²".isdigit()`` is true and ``int("²")`` fails) and a value the database's 64-bit ids
    can hold: a bigger number passes a digit check and then breaks every query it is used in."""
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number < 2**63 else None


class Adapter(Protocol):
    """A gateway adapter. ``config`` holds the channel's decrypted settings (URL, user, password, token …)."""

    kind: ClassVar[ChannelKind]

    def __init__(self, config: Mapping[str, str], sender: str) -> None: ...

    def send_batch(self, messages: Sequence[OutboundMessage], commit: CommitHook) -> list[SendResult]:
        """Send every message, in order, calling ``commit`` once per message as described above.

        Never raises for a per-message failure: returns a SendResult with ``error`` instead. Raises
        :class:`GatewayUnavailable` only when the gateway cannot be reached at all (every message of the
        batch stays retryable).
        """
        ...

    def parse_webhook(self, request: HttpRequest) -> list[InboundEvent]:
        """Check the call is authentic (raise WebhookRejected otherwise) and turn it into events."""
        ...


@runtime_checkable
class ClosableAdapter(Protocol):
    """An adapter that keeps something open across a batch (a connection) and releases it in ``close()``."""

    def close(self) -> None: ...


def close_adapter(adapter: object) -> None:
    """Call the adapter's optional ``close()``; the dispatcher does when it is done with the adapter. A
    failure to close is logged, not raised: every message of the batch is already settled, and an error here
    must not turn them into retries."""
    if not isinstance(adapter, ClosableAdapter):
        return
    try:
        adapter.close()
    except Exception:
        logger.exception("closing the %s adapter failed", type(adapter).__name__)
