"""Tasks and recovery: batches encoded compactly, the sweeper re-enqueues what a dead worker or a lost task left,
expires what is too old, and the command runs it; the bulk writer thread (a separate connection) on
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from rumbo.messaging.models import Campaign, Message
from rumbo.messaging.services import outbox, queue_campaign, send_messages
from rumbo.messaging.services.dispatch import claim, new_owner
from rumbo.messaging.tasks import decode_ids, encode_ids, send_batch, stalled_channels, sweep
from rumbo.messaging.tests import test_engine_support as support
from rumbo.messaging.tests.test_engine_support import (
    make_channel,
    make_person,
    make_template,
    statuses,
    tasks_enqueued,
)

gateway = support.gateway  # the fixture


@pytest.mark.parametrize(
    ("ids", "text"),
    [([], ""), ([7], "7"), ([1, 2, 3, 4], "1-4"), ([9, 1, 2, 3, 5, 7, 8], "1-3,5,7-9"), ([3, 3, 4], "3-4")],
)
def test_ids_are_encoded_as_ranges(ids, text):
    assert encode_ids(ids) == text
    assert decode_ids(text) == sorted(set(ids))
    assert decode_ids(ids) == list(ids)  # a plain list is accepted too


@pytest.fixture
def waiting(world, gateway):
    sms = make_channel(world.admin, world.michoacan, "sms")
    campaign = Campaign.objects.create(
        office=world.michoacan, name="Aviso", template=make_template(world.admin, world.michoacan)
    )
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(3)]
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons])
    return sms, campaign


def test_a_batch_task_sends_its_messages(waiting, gateway):
    sms, _campaign = waiting
    ids = list(Message.objects.values_list("id", flat=True))
    outcome = send_batch.call(channel_id=sms.pk, message_ids=encode_ids(ids))
    assert outcome["sent"] == 3 and len(gateway.accepted) == 3


def test_sweep_enqueues_a_drain_for_a_dead_workers_claim(waiting, gateway):
    sms, _campaign = waiting
    claim(channel_id=sms.pk, owner=new_owner(), limit=10, lease_seconds=30)  # then the worker "dies"
    assert stalled_channels() == []  # the lease still runs
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert stalled_channels() == [sms.pk]
        assert sweep()["drains"] == [sms.pk]
        (task,) = tasks_enqueued("send_due")
        assert task.args_kwargs["kwargs"] == {"channel_id": sms.pk}
        assert send_messages(channel_id=sms.pk).sent == 3
    assert statuses() == {"sent": 3} and len(gateway.accepted) == 3


def test_sweep_enqueues_a_drain_for_messages_whose_task_was_lost(waiting, gateway):
    sms, _campaign = waiting
    assert stalled_channels(grace_seconds=30) == []  # just queued: their task is on its way
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert stalled_channels(grace_seconds=30) == [sms.pk]


def test_sweep_expires_old_messages_even_on_a_paused_channel(world, gateway):
    sms = make_channel(world.admin, world.michoacan, "sms")
    campaign = Campaign.objects.create(
        office=world.michoacan, name="Aviso", template=make_template(world.admin, world.michoacan)
    )
    person = make_person(world.caseworker, world.michoacan)
    queue_campaign(
        actor=world.caseworker, campaign=campaign, person_ids=[person.pk], expires_in=timedelta(minutes=1)
    )
    sms.paused_at = timezone.now()
    sms.save()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        call_command("messaging_sweep")
    assert statuses() == {"expired": 1}


@pytest.mark.django_db(transaction=True)
def test_large_campaign_written_in_chunks_by_the_writer_thread(world, gateway, monkeypatch):
    """Several chunks: on PostgreSQL they are written by a second connection in a thread."""
    monkeypatch.setattr(outbox, "CHUNK", 4)
    threaded_calls: list[bool] = []
    original = outbox._Writer.__init__

    def spy(self, store, *, threaded):
        original(self, store, threaded=threaded)
        threaded_calls.append(threaded)

    monkeypatch.setattr(outbox._Writer, "__init__", spy)
    sms = make_channel(world.admin, world.michoacan, "sms")
    campaign = Campaign.objects.create(
        office=world.michoacan, name="Aviso", template=make_template(world.admin, world.michoacan)
    )
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(10)]
    result = queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons])
    assert result.queued == 10 and result.tasks == 3  # one task per chunk of 4 (batches of 500)
    assert threaded_calls == [connection.vendor == "postgresql"]
    assert Message.objects.count() == 10 and len(tasks_enqueued()) == 3
    again = queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons])
    assert (again.queued, again.already_queued) == (0, 10)
    assert send_messages(channel_id=sms.pk).sent == 10
