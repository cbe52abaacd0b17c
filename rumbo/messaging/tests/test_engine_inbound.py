"""Inbound: receipts move messages, replies find their person and campaign, opt-out words withdraw consent,
duplicates are stored once; the webhook endpoint authenticates per channel; a batch ingests fast."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rumbo.audit.models import Action, AuditEvent
from rumbo.messaging.adapters.base import InboundEvent, InboundKind, ReceiptStatus
from rumbo.messaging.models import Campaign, Inbound, Message
from rumbo.messaging.services import queue_campaign, record_events, send_messages
from rumbo.messaging.services.inbound import opt_out_word
from rumbo.messaging.tests import test_engine_support as support
from rumbo.messaging.tests.test_engine_support import (
    make_channel,
    make_person,
    make_template,
    statuses,
)
from rumbo.people.models import ConsentRecord

gateway = support.gateway  # the fixture


@pytest.fixture
def sent(world, gateway):
    """Two campaigns sent by SMS to Ana (the second one last) and one to Beto; an email channel too."""
    sms = make_channel(world.admin, world.michoacan, "sms", priority=10)
    email = make_channel(world.admin, world.michoacan, "email", priority=20)
    template = make_template(world.admin, world.michoacan)
    ana = make_person(world.caseworker, world.michoacan, given="Ana", email="ana@example.com")
    beto = make_person(world.caseworker, world.michoacan, given="Beto")
    first = Campaign.objects.create(office=world.michoacan, name="Primera", template=template)
    second = Campaign.objects.create(office=world.michoacan, name="Segunda", template=template)
    queue_campaign(actor=world.caseworker, campaign=first, person_ids=[ana.pk, beto.pk])
    send_messages(channel_id=sms.pk)
    queue_campaign(actor=world.caseworker, campaign=second, person_ids=[ana.pk])
    send_messages(channel_id=sms.pk)
    return world, sms, email, ana, beto, first, second


def reply(sender, body, provider_id=""):
    return InboundEvent(kind=InboundKind.REPLY, sender=sender, body=body, provider_id=provider_id)


def test_reply_matches_person_and_last_campaign(sent):
    _world, sms, _email, ana, beto, first, second = sent
    result = record_events(channel=sms, events=[reply(ana.phones.get().e164, "Estoy bien")])
    assert (result.stored, result.matched) == (1, 1)
    row = Inbound.objects.get()
    assert (row.person, row.campaign, row.kind, row.opt_out) == (ana, second, "reply", False)
    assert row.message == Message.objects.get(person=ana, campaign=second)
    record_events(channel=sms, events=[reply(beto.phones.get().e164.removeprefix("+"), "Bien")])
    assert Inbound.objects.get(person=beto).campaign == first  # "52443…" without "+" is the same number


def test_unknown_sender_is_stored_unmatched(sent):
    _world, sms, *_ = sent
    result = record_events(channel=sms, events=[reply("+15555550123", "hola")])
    assert (result.stored, result.matched) == (1, 0)
    assert Inbound.objects.get().person is None


def test_other_office_numbers_do_not_match(sent, gateway):
    world, _sms, _email, ana, *_ = sent
    jalisco_sms = make_channel(world.admin, world.michoacan, "sms", name="otro")
    jalisco_sms.office = world.jalisco
    jalisco_sms.save()
    record_events(channel=jalisco_sms, events=[reply(ana.phones.get().e164, "hola")])
    assert Inbound.objects.get().person is None


@pytest.mark.parametrize("text", ["BAJA", "baja", " Baja. ", "BÁJA", "b a j a", "¡ALTO!", "stop"])
def test_opt_out_words_tolerate_case_accents_spaces(text):
    assert opt_out_word(text)


@pytest.mark.parametrize("text", ["no me den de baja", "bajar", "estoy bien", ""])
def test_other_texts_are_not_opt_outs(text):
    assert not opt_out_word(text)


def test_opt_out_withdraws_consent_audits_and_skips_later_non_emergency(sent, gateway):
    world, sms, _email, ana, _beto, first, second = sent
    queue_campaign(
        actor=world.caseworker, campaign=first, person_ids=[ana.pk], step=1
    )  # waiting in the outbox
    result = record_events(channel=sms, events=[reply(ana.phones.get().e164, " baja ", "mo-1")])
    assert result.opt_outs == 1
    consent = ConsentRecord.objects.get(person=ana)
    assert (consent.purpose, consent.status, consent.method) == ("messages", "withdrawn", "online")
    assert consent.text_version == "sms-reply:BAJA" and consent.recorded_by is None
    event = AuditEvent.objects.get(action=Action.OPT_OUT)
    assert event.object_id == str(ana.pk) and event.detail["campaign"] == second.pk
    assert Inbound.objects.get(provider_id="mo-1").opt_out
    waiting = Message.objects.get(person=ana, step=1)
    assert (waiting.status, waiting.last_error) == ("failed", "opted out by reply")
    # A second BAJA records nothing new; later campaigns skip her, emergencies still reach her.
    record_events(channel=sms, events=[reply(ana.phones.get().e164, "BAJA", "mo-2")])
    assert ConsentRecord.objects.filter(person=ana).count() == 1
    later = queue_campaign(actor=world.caseworker, campaign=second, person_ids=[ana.pk], step=5)
    assert dict(later.skipped) == {"opted_out": 1}
    alert = make_template(world.admin, world.michoacan, key="sismo", emergency=True)
    quake = Campaign.objects.create(office=world.michoacan, name="Sismo", template=alert, emergency=True)
    assert queue_campaign(actor=world.caseworker, campaign=quake, person_ids=[ana.pk]).queued == 1


def test_receipts_delivered_and_failed_with_fallback(sent, gateway):
    _world, sms, _email, ana, beto, _first, second = sent
    to_ana = Message.objects.get(person=ana, campaign=second)
    to_beto = Message.objects.get(person=beto)
    events = [
        InboundEvent(
            kind=InboundKind.RECEIPT, provider_id=to_ana.provider_id, receipt_status=ReceiptStatus.ACCEPTED
        ),
        InboundEvent(kind=InboundKind.RECEIPT, message_id=to_ana.pk, receipt_status=ReceiptStatus.DELIVERED),
        InboundEvent(
            kind=InboundKind.RECEIPT,
            provider_id=to_beto.provider_id,
            receipt_status=ReceiptStatus.FAILED,
            error="absent subscriber",
        ),
    ]
    result = record_events(channel=sms, events=events)
    assert (result.receipts, result.delivered, result.failed) == (3, 1, 1)
    to_ana.refresh_from_db()
    to_beto.refresh_from_db()
    assert to_ana.status == "delivered" and to_ana.delivered_at
    assert to_beto.status == "failed" and to_beto.last_error == "absent subscriber"
    assert result.fallbacks == 0  # Beto has no email: nothing to fall back to
    receipt = Inbound.objects.get(receipt_status="delivered")
    assert (receipt.person, receipt.campaign, receipt.message) == (ana, second, to_ana)
    # The same receipt again is stored once.
    again = record_events(channel=sms, events=events[:1])
    assert again.duplicates == 1 and Inbound.objects.count() == 3


def test_failed_receipt_falls_back_to_email(sent, gateway):
    _world, sms, email, ana, _beto, _first, second = sent
    to_ana = Message.objects.get(person=ana, campaign=second)
    result = record_events(
        channel=sms,
        events=[
            InboundEvent(kind=InboundKind.RECEIPT, message_id=to_ana.pk, receipt_status=ReceiptStatus.FAILED)
        ],
    )
    assert result.fallbacks == 1
    fallback = Message.objects.get(fallback_of=to_ana)
    assert (fallback.channel, fallback.to, fallback.campaign) == (email, "ana@example.com", second)


def test_webhook_authenticates_and_records(sent, gateway):
    _world, sms, _email, ana, *_ = sent
    client = Client()
    url = f"/hooks/messaging/{sms.webhook_token}/sms/mo"
    payload = {
        "token": "s3cret",
        "events": [{"kind": "reply", "sender": ana.phones.get().e164, "body": "ok"}],
    }
    response = client.post(url, json.dumps(payload), content_type="application/json")
    assert response.status_code == 200 and response.content == b""  # Kannel: an empty body sends no SMS back
    assert Inbound.objects.get().person == ana
    bad = client.post(url, json.dumps({**payload, "token": "nope"}), content_type="application/json")
    assert bad.status_code == 403
    assert (
        client.post("/hooks/messaging/not-a-token/sms/", "{}", content_type="application/json").status_code
        == 404
    )
    wrong_kind = f"/hooks/messaging/{sms.webhook_token}/whatsapp/"
    assert client.post(wrong_kind, "{}", content_type="application/json").status_code == 404
    assert Inbound.objects.count() == 1


@pytest.mark.parametrize(
    "message_id", ["%C2%B2", "99999999999999999999999", "1" * 5000], ids=["²", "huge", "long"]
)
@pytest.mark.parametrize("deferred", [False, True])
def test_a_kannel_report_with_an_impossible_id_is_ignored(world, settings, deferred, message_id):
    """A superscript digit passes ``isdigit()`` and breaks ``int()``; a huge number breaks the database."""
    settings.RUMBO_MESSAGING_DEFERRED_INGEST = deferred
    from rumbo.messaging.services import create_channel
    from rumbo.messaging.services.inbound import ingest_pending

    kannel = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="sms",
        name="Kannel",
        sender="31313",
        config={"url": "http://127.0.0.1:9", "username": "u", "password": "p"},
    )
    url = f"/hooks/messaging/{kannel.webhook_token}/kannel/?type=dlr&id={message_id}&status=1"
    response = Client().get(url)
    assert (response.status_code, response.content) == (200, b"")
    assert ingest_pending() == 0 and not Inbound.objects.exists()


def test_a_webhook_of_a_channel_whose_settings_are_unusable_is_refused_for_now(world):
    from rumbo.messaging.crypto import encrypt_config
    from rumbo.messaging.models import Channel
    from rumbo.messaging.services import create_channel

    config = {"url": "http://127.0.0.1:9", "username": "u", "password": "p"}
    kannel = create_channel(
        actor=world.admin, office=world.michoacan, kind="sms", name="Kannel", sender="31313", config=config
    )
    # Saved before the settings were checked: a timeout the adapter cannot read.
    Channel.objects.filter(pk=kannel.pk).update(config_encrypted=encrypt_config({**config, "timeout": "ten"}))
    response = Client().get(
        f"/hooks/messaging/{kannel.webhook_token}/kannel/?type=mo&from=%2B5214431234567&text=hola"
    )
    assert response.status_code == 503  # Kannel calls again later (http-request-retry)
    assert not Inbound.objects.exists()


def test_whatsapp_subscription_check(world, gateway):
    channel = make_channel(world.admin, world.michoacan, "whatsapp", config={"path": "/x", "token": "t"})
    from rumbo.messaging.crypto import encrypt_config

    channel.config_encrypted = encrypt_config({"path": "/x", "verify_token": "vt-123"})
    channel.save()
    url = f"/hooks/messaging/{channel.webhook_token}/whatsapp/"
    ok = Client().get(
        url, {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"}
    )
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    bad = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"})
    assert bad.status_code == 403


def test_a_thousand_replies_ingest_in_bulk(world, gateway):
    """Replies are stored and matched a batch at a time: ten times the replies make no more reads, and rows
    are inserted many per statement. (Speed itself is measured by ``benchmarks/messaging/bench_inbound.py``,
    not here: these machines are too noisy for timed assertions.)"""
    sms = make_channel(world.admin, world.michoacan, "sms")
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(50)]
    numbers = [p.phones.get().e164 for p in persons]
    reads = []
    for size, prefix in ((100, "a"), (1000, "b")):
        events = [reply(numbers[i % 50], "Estoy bien", f"mo-{prefix}{i}") for i in range(size)]
        with CaptureQueriesContext(connection) as captured:
            result = record_events(channel=sms, events=events)
        assert (result.stored, result.matched) == (size, size)
        statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
        reads.append(statements.count("SELECT"))
        assert statements.count("INSERT") <= size // 50 + 1, statements  # SQLite: ~70 rows a statement
    assert reads[0] == reads[1] > 0
    assert statuses() == {}
