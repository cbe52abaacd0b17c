"""Gateway adapters, one per channel kind, and the registry the outbox uses to find them.

    adapter = adapter_for(channel.kind, channel_config, channel.sender)
    results = adapter.send_batch(messages, commit)

The contract (and the exactly-once rule every adapter follows) is in ``base.py``. How to read a result:

- ``committed=False``: nothing was accepted by the gateway; ``permanent`` says whether retrying can help.
- ``committed=True`` and no ``error``: sent. This includes the rare case where the connection broke after the
  commit, before the gateway's answer: the outcome is unknown and, the row saying "sent", it is not retried
  (a retry could send it twice).
- ``committed=True`` with an ``error``: the gateway did not take the message — it received the whole message
  and refused it (an SMTP 5xx after the final dot, a Kannel 403, a WhatsApp error payload), or the
  connection failed before the final piece left. Nothing was delivered, so a retry cannot duplicate it: the
  outbox marks it failed when ``permanent``, otherwise queues it again.
- ``provider_id`` may differ from the one passed to ``commit()``: WhatsApp's message id is known only from its
  answer, after the commit; the outbox stores the result's value when it is not empty.

``send_batch`` raises ``GatewayUnavailable`` when the gateway cannot be reached at all (nothing was sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from rumbo.messaging.adapters._config import ConfigField
    from rumbo.messaging.adapters.base import Adapter


class GatewayUnavailable(Exception):
    """The gateway could not be reached at all (connection refused, TLS or login failure): nothing was sent,
    every message of the batch stays retryable."""


# Imported lazily: the adapter modules import this package (GatewayUnavailable) and the models.
_ADAPTERS: dict[str, str] = {
    "email": "rumbo.messaging.adapters.smtp.SmtpAdapter",
    "sms": "rumbo.messaging.adapters.kannel.KannelAdapter",
    "whatsapp": "rumbo.messaging.adapters.whatsapp.WhatsAppAdapter",
    "console": "rumbo.messaging.adapters.console.ConsoleAdapter",
}


def adapter_class(kind: str) -> type[Adapter]:
    """The adapter class for a channel kind (``ChannelKind`` value). Raises KeyError for an unknown kind."""
    cls: type[Adapter] = import_string(_ADAPTERS[str(kind)])
    return cls


def adapter_for(kind: str, config: Mapping[str, str], sender: str) -> Adapter:
    """An adapter for one channel: its kind, its decrypted ``config`` and its sending identity."""
    return adapter_class(kind)(config, sender)


def config_fields(kind: str) -> tuple[ConfigField, ...]:
    """The settings a channel of this kind reads from its ``config`` (for the channel form)."""
    fields: tuple[ConfigField, ...] = adapter_class(kind).config_fields  # type: ignore[attr-defined]
    return fields
