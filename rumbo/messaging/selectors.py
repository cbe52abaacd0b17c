"""Reads of the messaging app: the operations page figures, the outbox, inbound messages, campaign summaries.

Queries go through the office-scoped managers: callers run inside ``scope(office=…)`` (views: the office
middleware) and check the permission (``VIEW_MESSAGES``) first. Counting uses the indexes on
``(channel, status)`` and ``sent_at``, so the operations page stays fast with millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from rumbo.messaging.models import (
    Campaign,
    Channel,
    Inbound,
    InboundKind,
    Message,
    MessageStatus,
)
from rumbo.offices.models import Office
from rumbo.people.models import Person

STATUSES = [s.value for s in MessageStatus]


@dataclass
class ChannelStats:
    """The operations page row of one channel."""

    channel: Channel
    counts: dict[str, int] = field(default_factory=dict)  # status → messages
    replies: int = 0
    opt_outs: int = 0
    throughput: list[tuple[datetime, int]] = field(default_factory=list)  # (minute start, sent), oldest first

    @property
    def paused(self) -> bool:
        return self.channel.paused_at is not None

    @property
    def queued(self) -> int:
        return self.counts.get(MessageStatus.QUEUED, 0)

    @property
    def sending(self) -> int:
        return self.counts.get(MessageStatus.SENDING, 0)

    @property
    def sent(self) -> int:
        return self.counts.get(MessageStatus.SENT, 0)

    @property
    def delivered(self) -> int:
        return self.counts.get(MessageStatus.DELIVERED, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(MessageStatus.FAILED, 0)

    @property
    def expired(self) -> int:
        return self.counts.get(MessageStatus.EXPIRED, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def last_minute_per_second(self) -> float:
        """Messages sent per second over the last complete minute."""
        if len(self.throughput) < 2:
            return 0.0
        return round(self.throughput[-2][1] / 60, 1)

    @property
    def peak_per_minute(self) -> int:
        return max((n for _m, n in self.throughput), default=0)


def _minutes(now: datetime, minutes: int) -> list[datetime]:
    """Start of each of the last ``minutes`` minutes, the current (incomplete) one last."""
    current = now.replace(second=0, microsecond=0)
    return [current - timedelta(minutes=minutes - 1 - i) for i in range(minutes)]


def channel_stats(*, office: Office, minutes: int = 15, now: datetime | None = None) -> list[ChannelStats]:
    """Per channel of ``office`` (by priority): messages per status, replies and opt-outs received, and
    messages sent per minute over the last ``minutes`` minutes (for the chart); paused or not."""
    now = now or timezone.now()
    channels = list(Channel.objects.filter(office=office).order_by("priority", "id"))
    stats = {c.pk: ChannelStats(channel=c) for c in channels}
    if not channels:
        return []
    ids = list(stats)
    for channel_id, status, count in (
        Message.objects.filter(channel_id__in=ids)
        .values("channel_id", "status")
        .annotate(n=Count("id"))
        .values_list("channel_id", "status", "n")
        .order_by()
    ):
        stats[channel_id].counts[status] = count
    for channel_id, replies, opt_outs in (
        Inbound.objects.filter(channel_id__in=ids, kind=InboundKind.REPLY)
        .values("channel_id")
        .annotate(n=Count("id"), o=Count("id", filter=Q(opt_out=True)))
        .values_list("channel_id", "n", "o")
        .order_by()
    ):
        stats[channel_id].replies = replies
        stats[channel_id].opt_outs = opt_outs
    starts = _minutes(now, minutes)
    bounds = [*starts, starts[-1] + timedelta(minutes=1)]
    per_minute = {
        f"m{i}": Count("id", filter=Q(sent_at__gte=bounds[i], sent_at__lt=bounds[i + 1]))
        for i in range(minutes)
    }
    found: dict[int, list[int]] = {}
    for row in (
        Message.objects.filter(channel_id__in=ids, sent_at__gte=bounds[0], sent_at__lt=bounds[-1])
        .values("channel_id")
        .annotate(**per_minute)
        .order_by()
    ):
        found[row["channel_id"]] = [row[f"m{i}"] for i in range(minutes)]
    for channel_id, item in stats.items():
        counts = found.get(channel_id, [0] * minutes)
        item.throughput = list(zip(starts, counts, strict=True))
    return [stats[c.pk] for c in channels]


def messages_for(
    *,
    office: Office,
    person: Person | None = None,
    campaign: Campaign | None = None,
    status: str | None = None,
    channel: Channel | None = None,
) -> QuerySet[Message]:
    """The outbox of ``office``, newest first, optionally for one person, campaign, status or channel."""
    query = Message.objects.filter(office=office)
    if person is not None:
        query = query.filter(person=person)
    if campaign is not None:
        query = query.filter(campaign=campaign)
    if status:
        query = query.filter(status=status)
    if channel is not None:
        query = query.filter(channel=channel)
    return query.select_related("channel", "person", "campaign").order_by("-id")


def inbound_for(
    *,
    office: Office,
    channel: Channel | None = None,
    person: Person | None = None,
    campaign: Campaign | None = None,
    kind: str | None = None,
    opt_out: bool | None = None,
) -> QuerySet[Inbound]:
    """Replies and receipts received by ``office``'s channels, newest first, optionally filtered."""
    query = Inbound.objects.filter(office=office)
    if channel is not None:
        query = query.filter(channel=channel)
    if person is not None:
        query = query.filter(person=person)
    if campaign is not None:
        query = query.filter(campaign=campaign)
    if kind:
        query = query.filter(kind=kind)
    if opt_out is not None:
        query = query.filter(opt_out=opt_out)
    return query.select_related("channel", "person", "message", "campaign").order_by("-received_at", "-id")


@dataclass
class CampaignSummary:
    """Where a campaign stands: messages per status and per channel kind, replies, opt-outs."""

    campaign: Campaign
    counts: dict[str, int] = field(default_factory=dict)  # status → messages
    by_kind: dict[str, int] = field(default_factory=dict)  # channel kind → messages
    steps: list[int] = field(default_factory=list)
    recipients: int = 0  # distinct persons
    fallbacks: int = 0
    replies: int = 0
    replied_persons: int = 0
    opt_outs: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def waiting(self) -> int:
        return self.counts.get(MessageStatus.QUEUED, 0) + self.counts.get(MessageStatus.SENDING, 0)

    @property
    def reached(self) -> int:
        return self.counts.get(MessageStatus.SENT, 0) + self.counts.get(MessageStatus.DELIVERED, 0)


def campaign_by_key(*, office: Office, key: str) -> Campaign | None:
    """The office's campaign created by confirming the preview whose token is ``key``, if there is one."""
    if not key:
        return None
    return Campaign.objects.filter(office=office, idempotency_key=key).first()


def campaign_summary(*, campaign: Campaign) -> CampaignSummary:
    """Counts of one campaign (all steps)."""
    summary = CampaignSummary(campaign=campaign)
    messages = Message.objects.filter(campaign=campaign)
    for status, count in (
        messages.values("status").annotate(n=Count("id")).values_list("status", "n").order_by()
    ):
        summary.counts[status] = count
    for kind, count in (
        messages.values("channel__kind").annotate(n=Count("id")).values_list("channel__kind", "n").order_by()
    ):
        summary.by_kind[kind] = count
    summary.steps = sorted(set(messages.values_list("step", flat=True).distinct().order_by()))
    summary.recipients = messages.filter(person__isnull=False).values("person_id").distinct().count()
    summary.fallbacks = messages.filter(fallback_of__isnull=False).count()
    replies = Inbound.objects.filter(campaign=campaign, kind=InboundKind.REPLY)
    summary.replies = replies.count()
    summary.replied_persons = replies.filter(person__isnull=False).values("person_id").distinct().count()
    summary.opt_outs = replies.filter(opt_out=True).count()
    return summary
