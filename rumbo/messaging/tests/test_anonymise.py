"""Anonymising a person removes what messaging keeps about them (address, text, replies); unsent messages
expire; counts and statuses stay."""

from __future__ import annotations

from django.utils import timezone
from django_scopes import scopes_disabled

from rumbo.messaging.models import Channel, Inbound, InboundKind, Message, MessageStatus
from rumbo.people.services import person_anonymise
from rumbo.people.tests.utils import make_person


def _channel(office) -> Channel:
    with scopes_disabled():
        return Channel.objects.create(office=office, kind="sms", name="SMS", sender="RUMBO")


def _message(person, channel, key: str, status: str) -> Message:
    with scopes_disabled():
        return Message.objects.create(
            office=person.office,
            person=person,
            channel=channel,
            idempotency_key=key,
            to="+524431234567",
            language="spa",
            body="Hola José, ¿está bien?",
            status=status,
            next_attempt_at=timezone.now(),
            lease_owner="worker-1" if status == MessageStatus.SENDING else "",
        )


def test_anonymising_a_person_clears_their_messages_and_replies(world):
    person = make_person(world.caseworker, world.michoacan)
    other = make_person(world.caseworker, world.michoacan, given_names="Pedro", documents=[], phones=[])
    channel = _channel(world.michoacan)
    sent = _message(person, channel, "a", MessageStatus.SENT)
    queued = _message(person, channel, "b", MessageStatus.QUEUED)
    sending = _message(person, channel, "c", MessageStatus.SENDING)
    kept = _message(other, channel, "d", MessageStatus.QUEUED)
    with scopes_disabled():
        reply = Inbound.objects.create(
            office=world.michoacan,
            channel=channel,
            kind=InboundKind.REPLY,
            sender="+524431234567",
            body="Estoy bien, en casa de mi tía en Zamora",
            person=person,
            message=sent,
            raw={"text": "Estoy bien"},
        )

    person_anonymise(actor=world.admin, person=person, reason="Asked to be forgotten")

    with scopes_disabled():
        for message in (sent, queued, sending):
            message.refresh_from_db()
            assert (message.to, message.body) == ("", "")
        assert sent.status == MessageStatus.SENT
        assert queued.status == sending.status == MessageStatus.EXPIRED
        assert sending.lease_owner == ""  # a worker holding it can no longer commit it as sent
        reply.refresh_from_db()
        assert (reply.sender, reply.body, reply.raw) == ("", "", {})
        kept.refresh_from_db()
        assert kept.body and kept.status == MessageStatus.QUEUED


def test_a_reply_stored_but_not_yet_applied_is_cleared_too(world):
    """Deferred ingest: a webhook call stored a second ago is applied before the person's replies are cleared,
    so nothing the person wrote escapes in the waiting calls."""
    from rumbo.messaging.adapters.base import InboundEvent
    from rumbo.messaging.adapters.base import InboundKind as EventKind
    from rumbo.messaging.models import InboundPending
    from rumbo.messaging.services.inbound import store_pending

    person = make_person(world.caseworker, world.michoacan)
    channel = _channel(world.michoacan)
    _message(person, channel, "a", MessageStatus.SENT)
    phone = person.phones.get().e164
    store_pending(
        channel=channel,
        events=[InboundEvent(kind=EventKind.REPLY, sender=phone, body="Estoy en el albergue de Zamora")],
    )

    person_anonymise(actor=world.admin, person=person, reason="Asked to be forgotten")

    with scopes_disabled():
        assert not InboundPending.objects.exists()
        reply = Inbound.objects.get()
        assert reply.person_id == person.pk
        assert (reply.sender, reply.body, reply.raw) == ("", "", {})
