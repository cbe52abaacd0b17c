"""Writes of the messaging app; import them from here.

- ``channels``: create, update, pause, resume channels (credentials encrypted at rest);
- ``templates``: save a template with its texts per language;
- ``campaigns``: create a campaign (its steps are queued by ``outbox``);
- ``outbox``: queue one message or a campaign step (rows first, then one sending task per batch);
- ``dispatch``: what a worker does with a batch (claim, send through the adapter, settle, fall back);
- ``inbound``: replies and delivery receipts from webhooks (matching, opt-outs).
"""

from __future__ import annotations

from rumbo.messaging.services._common import SkipReason
from rumbo.messaging.services.campaigns import campaign_create
from rumbo.messaging.services.channels import (
    create_channel,
    masked_config,
    pause_channel,
    resume_channel,
    update_channel,
)
from rumbo.messaging.services.dispatch import DispatchResult, send_messages
from rumbo.messaging.services.inbound import InboundResult, opt_out_word, record_events
from rumbo.messaging.services.outbox import QueueResult, queue_campaign, queue_message, set_contact_preference
from rumbo.messaging.services.templates import save_template

__all__ = [
    "DispatchResult",
    "InboundResult",
    "QueueResult",
    "SkipReason",
    "campaign_create",
    "create_channel",
    "masked_config",
    "opt_out_word",
    "pause_channel",
    "queue_campaign",
    "queue_message",
    "record_events",
    "resume_channel",
    "save_template",
    "send_messages",
    "set_contact_preference",
    "update_channel",
]
