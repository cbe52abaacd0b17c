"""The engine with the real peers: a campaign goes out through the local SMTP server and through Kannel to
fakesmsc exactly once, delivery reports and replies injected at fakesmsc come back to Rumbo's webhook (a live
server) and reach the right person and campaign; a gateway that is down leaves messages retryable."""

from __future__ import annotations

import socket
import time
from collections import Counter

import pytest
from django_scopes import scopes_disabled

from rumbo.messaging.models import Campaign, Inbound, Message
from rumbo.messaging.peers.kannel import KannelPeer
from rumbo.messaging.services import create_channel, queue_campaign, save_template, send_messages
from rumbo.messaging.services.dispatch import webhook_url
from rumbo.messaging.tests.test_engine_support import make_person
from rumbo.people.models import ConsentRecord

pytestmark = pytest.mark.xdist_group("kannel")

OUR_NUMBER = "31313"


def _template(world, key="check"):
    return save_template(
        actor=world.admin,
        office=world.michoacan,
        key=key,
        name="¿Estás bien?",
        texts={"spa": ("Aviso {{ office_name }}", "{{ given_names }}, ¿estás bien? Responde SI o AYUDA.")},
    )


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def _sms_channel(world, kannel: KannelPeer, live_server=None):
    channel = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="sms",
        name="Kannel",
        sender=OUR_NUMBER,
        config=kannel.channel_config(),
        rate_per_second=1000,
        priority=1,
    )
    if live_server is not None:
        from rumbo.messaging.services import update_channel

        # Only the final "delivered" report (dlr-mask 1): one callback per message.
        update_channel(
            actor=world.admin,
            channel=channel,
            config={"webhook_url": webhook_url(channel, live_server.url), "dlr_mask": "1"},
        )
    return channel


def test_campaign_through_smtp_and_kannel_arrives_exactly_once(world, smtp_peer, kannel):
    email = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="email",
        name="Correo",
        sender="avisos@ofam-mich.example",
        config={"host": "127.0.0.1", "port": str(smtp_peer.port), "use_tls": "no"},
        rate_per_second=1000,
        priority=2,
    )
    sms = _sms_channel(world, kannel)
    mobiles = [
        make_person(world.caseworker, world.michoacan, phone=f"+52443{n:07d}") for n in range(910, 915)
    ]
    mailed = [
        make_person(world.caseworker, world.michoacan, phone=None, email=f"p{n}@example.org")
        for n in range(5)
    ]
    campaign = Campaign.objects.create(office=world.michoacan, name="Sismo", template=_template(world))
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in mobiles + mailed])

    assert send_messages(channel_id=sms.pk).sent == 5
    assert send_messages(channel_id=email.pk).sent == 5
    assert Counter(Message.objects.values_list("status", flat=True)) == {"sent": 10}

    numbers = {p.phones.get().e164 for p in mobiles}
    _wait(lambda: len([m for m in kannel.received() if m.receiver in numbers]) >= 5)
    time.sleep(0.3)  # a duplicate would arrive now
    received = [m for m in kannel.received() if m.receiver in numbers]
    assert sorted(m.receiver for m in received) == sorted(numbers)  # each number once
    assert all("¿estás bien?" in m.text for m in received)
    smtp_peer.wait_for(5)
    time.sleep(0.3)
    deliveries = smtp_peer.deliveries()
    ids = {m.provider_id for m in Message.objects.filter(channel=email)}
    assert len(ids) == 5 and all(deliveries[f"<{i}>"] == 1 for i in ids), deliveries


def test_reply_injected_at_fakesmsc_reaches_the_person_and_campaign(world, kannel, live_server):
    with scopes_disabled():
        sms = _sms_channel(world, kannel, live_server)
        luz = make_person(world.caseworker, world.michoacan, given="Luz", phone="+524430000921")
        other = make_person(world.caseworker, world.michoacan, given="Otro", phone="+524430000922")
        first = Campaign.objects.create(office=world.michoacan, name="Primera", template=_template(world))
        second = Campaign.objects.create(
            office=world.michoacan, name="Segunda", template=_template(world, "b")
        )
        queue_campaign(actor=world.caseworker, campaign=first, person_ids=[luz.pk, other.pk])
        queue_campaign(actor=world.caseworker, campaign=second, person_ids=[luz.pk])
        to_luz = Message.objects.get(person=luz, campaign=second)
        # One message at a time, each delivery report received before the next message: the live server's
        # SQLite test database is one connection shared by its threads, so calls must not overlap.
        for number, message in enumerate(Message.objects.order_by("id"), start=1):
            assert send_messages(channel_id=sms.pk, message_ids=[message.pk]).sent == 1
            assert _wait(lambda n=number: Message.objects.filter(status="delivered").count() == n)
        time.sleep(0.3)
    receipt = Inbound.objects.filter(kind="receipt", message=to_luz, receipt_status="delivered").get()
    assert (receipt.person_id, receipt.campaign_id) == (luz.pk, second.pk)

    # … and a reply typed at the SMS centre goes bearerbox → smsbox get-url → Rumbo.
    kannel.mo_target = webhook_url(sms, live_server.url)
    kannel.inject_mo("+524430000921", OUR_NUMBER, "SI estoy bien, en el albergue")
    reply = _wait(lambda: Inbound.objects.filter(kind="reply").first())
    assert reply is not None, kannel.mo_calls()
    assert (reply.person_id, reply.campaign_id, reply.message_id) == (luz.pk, second.pk, to_luz.pk)
    assert reply.body == "SI estoy bien, en el albergue" and not reply.opt_out

    # An opt-out by SMS withdraws the "messages" consent.
    kannel.inject_mo("+524430000922", OUR_NUMBER, "Baja")
    opt_out = _wait(lambda: Inbound.objects.filter(kind="reply", opt_out=True).first())
    assert opt_out is not None and opt_out.person_id == other.pk and opt_out.campaign_id == first.pk
    # The webhook's request writes the reply, then the consent: the test, sharing the live server's SQLite
    # connection, can see the first before the second is written.
    consent = _wait(lambda: ConsentRecord.objects.filter(person=other).first())
    assert consent is not None
    assert (consent.status, consent.text_version) == ("withdrawn", "sms-reply:BAJA")
    _drain_callbacks(kannel)


def _drain_callbacks(kannel) -> None:
    """Let Kannel's late callbacks (delivery reports, retries) reach the live server before the test ends:
    the live server shares the test's SQLite connection, and a request still in a transaction when the test
    database is emptied would make that flush fail."""
    kannel.mo_target = ""
    seen = -1
    for _ in range(50):
        count = Inbound.objects.count()
        if count == seen:
            return
        seen = count
        time.sleep(0.5)


def test_smtp_server_down_leaves_messages_queued_with_the_error(world):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    email = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="email",
        name="Correo",
        sender="avisos@ofam-mich.example",
        config={"host": "127.0.0.1", "port": str(closed_port), "use_tls": "no", "timeout": "2"},
    )
    person = make_person(world.caseworker, world.michoacan, phone=None, email="ana@example.org")
    campaign = Campaign.objects.create(office=world.michoacan, name="Sismo", template=_template(world))
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[person.pk])
    result = send_messages(channel_id=email.pk)
    assert (result.sent, result.retried) == (0, 1)
    message = Message.objects.get()
    assert message.status == "queued" and message.attempts == 1
    assert str(closed_port) in message.last_error


def test_kannel_down_leaves_messages_queued_with_the_error(world):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sms = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="sms",
        name="Kannel",
        sender=OUR_NUMBER,
        config={"url": f"http://127.0.0.1:{closed_port}", "username": "u", "password": "p", "timeout": "2"},
    )
    person = make_person(world.caseworker, world.michoacan)
    campaign = Campaign.objects.create(office=world.michoacan, name="Sismo", template=_template(world))
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[person.pk])
    result = send_messages(channel_id=sms.pk)
    assert (result.sent, result.retried) == (0, 1)
    message = Message.objects.get()
    assert (message.status, message.attempts) == ("queued", 1) and "Kannel" in message.last_error
