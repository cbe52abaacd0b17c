"""API shapes of the messaging app: channels with their figures (never their settings), outbox rows,
inbound replies and receipts, and the body of a single message to queue."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rumbo.lib.api import IdField
from rumbo.messaging.models import ChannelKind, Inbound, InboundKind, Message, MessageStatus
from rumbo.messaging.rendering import VARIABLES
from rumbo.messaging.selectors import ChannelStats


class ThroughputSerializer(serializers.Serializer):
    minute = serializers.DateTimeField(read_only=True, help_text="Start of the minute.")
    sent = serializers.IntegerField(read_only=True, help_text="Messages sent in that minute.")


class ChannelStatsSerializer(serializers.Serializer):
    """What the operations page shows of a channel."""

    queued = serializers.IntegerField(read_only=True)
    sending = serializers.IntegerField(read_only=True)
    sent = serializers.IntegerField(read_only=True)
    delivered = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    expired = serializers.IntegerField(read_only=True)
    replies = serializers.IntegerField(read_only=True)
    opt_outs = serializers.IntegerField(read_only=True)
    throughput = serializers.SerializerMethodField(
        help_text="Messages sent per minute over the last 15 minutes, oldest first (the last minute is "
        "still running)."
    )

    @extend_schema_field(ThroughputSerializer(many=True))
    def get_throughput(self, stat: ChannelStats) -> list[dict[str, Any]]:
        return [
            ThroughputSerializer({"minute": minute, "sent": sent}).data for minute, sent in stat.throughput
        ]


class ChannelSerializer(serializers.Serializer):
    """A channel with its figures. Its gateway settings and webhook token are never part of the API."""

    id = serializers.IntegerField(source="channel.pk", read_only=True)
    office = serializers.IntegerField(source="channel.office_id", read_only=True)
    kind = serializers.ChoiceField(source="channel.kind", choices=ChannelKind.choices, read_only=True)
    name = serializers.CharField(source="channel.name", read_only=True)
    sender = serializers.CharField(source="channel.sender", read_only=True, help_text="Sending identity.")
    rate_per_second = serializers.IntegerField(source="channel.rate_per_second", read_only=True)
    priority = serializers.IntegerField(
        source="channel.priority", read_only=True, help_text="Channels are tried in this order."
    )
    is_active = serializers.BooleanField(source="channel.is_active", read_only=True)
    paused = serializers.BooleanField(read_only=True)
    paused_at = serializers.DateTimeField(source="channel.paused_at", read_only=True, allow_null=True)
    stats = serializers.SerializerMethodField()

    @extend_schema_field(ChannelStatsSerializer)
    def get_stats(self, stat: ChannelStats) -> dict[str, Any]:
        return dict(ChannelStatsSerializer(stat).data)


class MessageSerializer(serializers.ModelSerializer):
    """One outbox row: to whom, on which channel, what, and where it stands."""

    office = serializers.IntegerField(source="office_id", read_only=True)
    person = serializers.IntegerField(source="person_id", read_only=True, allow_null=True)
    channel = serializers.IntegerField(source="channel_id", read_only=True)
    channel_kind = serializers.ChoiceField(source="channel.kind", choices=ChannelKind.choices, read_only=True)
    campaign = serializers.IntegerField(source="campaign_id", read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=MessageStatus.choices, read_only=True)
    fallback_of = serializers.IntegerField(
        source="fallback_of_id",
        read_only=True,
        allow_null=True,
        help_text="The message this one replaces on another channel after a permanent failure.",
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "office",
            "person",
            "channel",
            "channel_kind",
            "campaign",
            "step",
            "to",
            "language",
            "subject",
            "body",
            "emergency",
            "status",
            "attempts",
            "last_error",
            "provider_id",
            "queued_at",
            "next_attempt_at",
            "expires_at",
            "sent_at",
            "delivered_at",
            "failed_at",
            "fallback_of",
        ]
        read_only_fields = fields


class InboundSerializer(serializers.ModelSerializer):
    """A reply from a person or a delivery receipt, matched to the person, message and campaign."""

    office = serializers.IntegerField(source="office_id", read_only=True)
    channel = serializers.IntegerField(source="channel_id", read_only=True)
    kind = serializers.ChoiceField(choices=InboundKind.choices, read_only=True)
    person = serializers.IntegerField(source="person_id", read_only=True, allow_null=True)
    message = serializers.IntegerField(
        source="message_id", read_only=True, allow_null=True, help_text="The message it answers."
    )
    campaign = serializers.IntegerField(source="campaign_id", read_only=True, allow_null=True)

    class Meta:
        model = Inbound
        fields = [
            "id",
            "office",
            "channel",
            "kind",
            "sender",
            "body",
            "provider_id",
            "receipt_status",
            "person",
            "message",
            "campaign",
            "opt_out",
            "received_at",
        ]
        read_only_fields = fields


class MessageCreateSerializer(serializers.Serializer):
    """Body of a single message to queue."""

    person = IdField(help_text="The person (of one of your offices) to write to.")
    template = IdField(help_text="A template of the person's office.")
    channel_kind = serializers.ChoiceField(
        choices=ChannelKind.choices,
        required=False,
        help_text="Send on this kind of channel. Default: the person's preferred channel, else the office's "
        "channels in order, the first on which the person has an address.",
    )
    context = serializers.DictField(  # type: ignore[assignment]  # a field named like Field.context
        child=serializers.CharField(max_length=1000, allow_blank=True),
        required=False,
        help_text="Values of template variables that are not the person's (e.g. link). Variables: "
        + ", ".join(VARIABLES)
        + ".",
    )
    key = serializers.RegexField(
        r"^[A-Za-z0-9:._-]{1,100}$",
        required=False,
        help_text="Idempotency key (letters, digits, : . _ -). Sending the same key again returns the "
        "message already queued (200) instead of queueing another.",
    )
    expires_in_minutes = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=60 * 24 * 30,
        help_text="Drop the message if it could not be sent within this time.",
    )


class ChannelQuerySerializer(serializers.Serializer):
    office = IdField(required=False, help_text="Only this office's channels.")


class MessageQuerySerializer(ChannelQuerySerializer):
    status = serializers.ChoiceField(choices=MessageStatus.choices, required=False)
    campaign = IdField(required=False)
    person = IdField(required=False)
    channel = IdField(required=False)


class InboundQuerySerializer(ChannelQuerySerializer):
    kind = serializers.ChoiceField(choices=InboundKind.choices, required=False)
    campaign = IdField(required=False)
    person = IdField(required=False)
    channel = IdField(required=False)
    opt_out = serializers.BooleanField(required=False, allow_null=True, default=None)
