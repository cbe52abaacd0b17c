"""Pages of the messaging app: the operations page, channels, templates, campaigns, a person's messages.

Thin views: access check → form → one service → redirect or partial. Access as everywhere: anonymous users
log in; a user without the permission in any office gets 403; another office's channel, template, campaign or
person answers 404; one of the user's offices without the right role answers 403. Reading messages and
replies shows personal data, so each such page writes ``MESSAGES_VIEW`` to the audit trail.

A user with roles in several offices picks the office with ``?office=<id>`` (the first one by name
otherwise); every page and form carries it.
"""

from rumbo.messaging.views.campaigns import campaign_counts, campaign_create, campaign_detail, campaign_list
from rumbo.messaging.views.operations import (
    channel_create,
    channel_detail,
    channel_edit,
    channel_list,
    channel_pause,
    channel_resume,
    operations,
    operations_stats,
)
from rumbo.messaging.views.people import person_messages, person_preference, person_send
from rumbo.messaging.views.templates import segments, template_create, template_edit, template_list

__all__ = [
    "campaign_counts",
    "campaign_create",
    "campaign_detail",
    "campaign_list",
    "channel_create",
    "channel_detail",
    "channel_edit",
    "channel_list",
    "channel_pause",
    "channel_resume",
    "operations",
    "operations_stats",
    "person_messages",
    "person_preference",
    "person_send",
    "segments",
    "template_create",
    "template_edit",
    "template_list",
]
