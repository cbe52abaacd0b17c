"""Reads: the operations page figures per channel, the outbox and inbound lists, campaign summaries."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_scopes import scope

from rumbo.messaging.adapters.base import InboundEvent, InboundKind
from rumbo.messaging.models import Campaign, Message
from rumbo.messaging.selectors import campaign_summary, channel_stats, inbound_for, messages_for
from rumbo.messaging.services import pause_channel, queue_campaign, record_events, send_messages
from rumbo.messaging.tests import test_engine_support as support
from rumbo.messaging.tests.test_engine_support import (
    make_channel,
    make_person,
    make_template,
)

gateway = support.gateway  # the fixture


@pytest.fixture
def busy(world, gateway):
    sms = make_channel(world.admin, world.michoacan, "sms", priority=1)
    email = make_channel(world.admin, world.michoacan, "email", priority=2)
    template = make_template(world.admin, world.michoacan)
    campaign = Campaign.objects.create(office=world.michoacan, name="C", template=template)
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(6)]
    now = timezone.now().replace(second=30)
    with time_machine.travel(now - timedelta(minutes=3), tick=False):
        queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons[:4]])
        send_messages(channel_id=sms.pk)
    with time_machine.travel(now - timedelta(minutes=1), tick=False):
        queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons], step=1)
        step1 = Message.objects.filter(step=1, person__in=persons[2:5]).values_list("id", flat=True)
        send_messages(channel_id=sms.pk, message_ids=list(step1))
    record_events(
        channel=sms,
        events=[
            InboundEvent(kind=InboundKind.REPLY, sender=persons[0].phones.get().e164, body="ok"),
            InboundEvent(kind=InboundKind.REPLY, sender=persons[1].phones.get().e164, body="BAJA"),
        ],
    )
    pause_channel(actor=world.admin, channel=email)
    return world, sms, email, campaign, persons, now


def test_channel_stats_counts_replies_and_throughput(busy):
    world, sms, email, _campaign, _persons, now = busy
    with scope(office=world.michoacan):
        first, second = channel_stats(office=world.michoacan, now=now)
    assert first.channel == sms and second.channel == email
    # 4 + 3 sent; 2 waiting; the one waiting for the person who answered BAJA failed.
    assert (first.sent, first.queued, first.failed) == (7, 2, 1)
    assert first.replies == 2 and first.opt_outs == 1
    assert not first.paused and second.paused and second.total == 0
    assert len(first.throughput) == 15
    by_minute = [n for _m, n in first.throughput]
    assert by_minute[-4] == 4 and by_minute[-2] == 3 and sum(by_minute) == 7
    assert first.peak_per_minute == 4


def test_messages_inbound_and_campaign_summary(busy):
    world, _sms, _email, campaign, persons, _now = busy
    with scope(office=world.michoacan):
        assert messages_for(office=world.michoacan).count() == Message.objects.count() == 10
        assert messages_for(office=world.michoacan, person=persons[0]).count() == 2
        assert messages_for(office=world.michoacan, status="sent", campaign=campaign).count() == 7
        assert inbound_for(office=world.michoacan, opt_out=True).get().person == persons[1]
        summary = campaign_summary(campaign=campaign)
    assert summary.total == 10 and summary.recipients == 6 and summary.steps == [0, 1]
    assert summary.reached == 7 and summary.replies == 2 and summary.opt_outs == 1
    assert summary.by_kind == {"sms": 10}
    with scope(office=world.jalisco):
        assert messages_for(office=world.michoacan).count() == 0  # another office's scope sees nothing
