"""Sending: claims, the fenced commit, retries with backoff, permanent failures and fallback, expiry, pause,
lease takeover after a worker "dies", and the rate limit — against the scriptable fake gateway."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from rumbo.messaging.adapters.base import InboundEvent, InboundKind
from rumbo.messaging.crypto import encrypt_config
from rumbo.messaging.models import Campaign, Channel, Message
from rumbo.messaging.services import (
    create_channel,
    pause_channel,
    queue_campaign,
    record_events,
    resume_channel,
    send_messages,
)
from rumbo.messaging.services.dispatch import claim, new_owner
from rumbo.messaging.tests import test_engine_support as support
from rumbo.messaging.tests.test_engine_support import (
    make_channel,
    make_person,
    make_template,
    statuses,
    tasks_enqueued,
)
from rumbo.people.models import ConsentPurpose, ConsentRecord
from rumbo.people.services.consent import consent_record

gateway = support.gateway  # the fixture


@pytest.fixture
def office(world, gateway):
    sms = make_channel(world.admin, world.michoacan, "sms", priority=10)
    email = make_channel(world.admin, world.michoacan, "email", priority=20)
    template = make_template(world.admin, world.michoacan)
    campaign = Campaign.objects.create(office=world.michoacan, name="Aviso", template=template)
    return world, sms, email, campaign


def queue(world, campaign, persons, **kwargs):
    return queue_campaign(
        actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons], **kwargs
    )


def ids(channel):
    return list(Message.objects.filter(channel=channel).order_by("id").values_list("id", flat=True))


def test_batch_is_sent_once_and_marked_sent(office, gateway):
    world, sms, _email, campaign = office
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(5)]
    queue(world, campaign, persons)
    result = send_messages(channel_id=sms.pk, message_ids=ids(sms))
    assert (result.claimed, result.sent) == (5, 5)
    assert statuses() == {"sent": 5}
    message = Message.objects.order_by("id").first()
    assert message.provider_id == f"fake-{message.pk}" and message.sent_at and message.attempts == 1
    assert sorted(gateway.keys()) == sorted(Message.objects.values_list("idempotency_key", flat=True))
    again = send_messages(channel_id=sms.pk, message_ids=ids(sms))
    assert again.claimed == 0 and len(gateway.accepted) == 5


def test_gateway_down_leaves_messages_queued_with_error_and_retries_later(office, gateway):
    world, sms, _email, campaign = office
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(3)]
    queue(world, campaign, persons)
    gateway.down = True
    before = timezone.now()
    result = send_messages(channel_id=sms.pk, message_ids=ids(sms))
    assert (result.claimed, result.retried, result.sent) == (3, 3, 0)
    for message in Message.objects.all():
        assert message.status == "queued" and message.attempts == 1
        assert "connection refused" in message.last_error
        assert before + timedelta(seconds=20) < message.next_attempt_at < before + timedelta(seconds=40)
        assert message.lease_owner == ""
    deferred = tasks_enqueued()
    assert deferred and deferred[-1].run_after is not None  # a retry task waits for the backoff
    assert send_messages(channel_id=sms.pk).claimed == 0  # not due yet
    gateway.down = False
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        assert send_messages(channel_id=sms.pk).sent == 3
    assert statuses() == {"sent": 3} and len(gateway.accepted) == 3


@override_settings(RUMBO_MESSAGING_MAX_ATTEMPTS=3, RUMBO_MESSAGING_RETRY_SECONDS=1)
def test_temporary_failures_stop_after_max_attempts_then_fall_back(office, gateway):
    world, sms, email, campaign = office
    person = make_person(world.caseworker, world.michoacan, email="ana@example.com")
    queue(world, campaign, [person])
    gateway.temporary.add(person.phones.get().e164)
    now = timezone.now()
    for attempt in range(3):
        with time_machine.travel(now + timedelta(minutes=attempt)):
            send_messages(channel_id=sms.pk)
    original = Message.objects.get(channel=sms)
    assert (original.status, original.attempts) == ("failed", 3)
    assert "451" in original.last_error
    fallback = Message.objects.get(channel=email)
    assert fallback.fallback_of == original
    assert fallback.idempotency_key == f"{original.idempotency_key}:fb{email.pk}"
    assert (fallback.to, fallback.body, fallback.status) == ("ana@example.com", original.body, "queued")
    assert fallback.subject  # email needs a subject: the campaign name
    with time_machine.travel(now + timedelta(minutes=3)):
        send_messages(channel_id=email.pk)
    assert statuses(channel=email) == {"sent": 1}


@override_settings(RUMBO_MESSAGING_MAX_ATTEMPTS=3)
def test_a_message_out_of_attempts_is_failed_at_pick_up_and_falls_back(office, gateway):
    world, sms, email, campaign = office
    person = make_person(world.caseworker, world.michoacan, email="ana@example.com")
    queue(world, campaign, [person])
    # Its three attempts ended before their outcome was recorded (e.g. the adapter could not be built).
    Message.objects.update(attempts=3, last_error="ValueError: could not convert string to float: 'ten'")
    result = send_messages(channel_id=sms.pk)
    assert (result.sent, result.failed, result.fallbacks) == (0, 1, 1) and not gateway.accepted
    original = Message.objects.get(channel=sms)
    assert (original.status, original.attempts) == ("failed", 4)
    assert original.failure_label == "Too many failed attempts" and "'ten'" in original.failure_detail
    assert Message.objects.get(channel=email).fallback_of == original


def test_an_opt_out_stops_a_message_a_dead_worker_held_but_not_an_emergency(office, gateway):
    world, sms, _email, campaign = office
    ana = make_person(world.caseworker, world.michoacan)
    queue(world, campaign, [ana])
    alert = make_template(world.admin, world.michoacan, key="sismo", emergency=True)
    quake = Campaign.objects.create(office=world.michoacan, name="Sismo", template=alert, emergency=True)
    queue(world, quake, [ana])
    claim(channel_id=sms.pk, owner=new_owner(), limit=10, lease_seconds=30)  # then the worker "dies"
    reply = InboundEvent(kind=InboundKind.REPLY, sender=ana.phones.get().e164, body="BAJA")
    assert record_events(channel=sms, events=[reply]).opt_outs == 1
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        result = send_messages(channel_id=sms.pk)
    assert (result.claimed, result.sent, result.failed) == (2, 1, 1)
    assert gateway.keys() == [Message.objects.get(campaign=quake).idempotency_key]
    held = Message.objects.get(campaign=campaign)
    assert held.status == "failed" and held.failure_label == "The person withdrew consent to messages"


def test_a_withdrawal_recorded_after_queueing_stops_the_queued_message(office, gateway):
    world, sms, _email, campaign = office
    ana = make_person(world.caseworker, world.michoacan)
    queue(world, campaign, [ana])
    consent_record(
        actor=world.caseworker,
        person=ana,
        purpose=ConsentPurpose.MESSAGES,
        status=ConsentRecord.Status.WITHDRAWN,
        method=ConsentRecord.Method.VERBAL,
        text="¿Quiere recibir mensajes de la oficina?",
        text_version="v1",
    )
    assert send_messages(channel_id=sms.pk).sent == 0 and not gateway.accepted
    assert statuses() == {"failed": 1}


@override_settings(RUMBO_MESSAGING_MAX_ATTEMPTS=2)
def test_settings_that_break_the_adapter_are_a_gateway_outage_retried_then_failed_over(world):
    """No fake gateway: the real Kannel adapter, built from settings saved before they were checked."""
    sms = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="sms",
        name="Kannel",
        sender="31313",
        config={"url": "http://127.0.0.1:9", "username": "u", "password": "p"},
    )
    email = create_channel(
        actor=world.admin,
        office=world.michoacan,
        kind="email",
        name="Correo",
        sender="avisos@ofam.example",
        config={"host": "127.0.0.1", "port": "9"},
        priority=20,
    )
    broken = {"url": "http://127.0.0.1:9", "username": "u", "password": "p", "timeout": "ten"}
    Channel.objects.filter(pk=sms.pk).update(config_encrypted=encrypt_config(broken))
    campaign = Campaign.objects.create(
        office=world.michoacan, name="Aviso", template=make_template(world.admin, world.michoacan)
    )
    queue(world, campaign, [make_person(world.caseworker, world.michoacan, email="ana@example.com")])
    result = send_messages(channel_id=sms.pk)
    message = Message.objects.get(channel=sms)
    assert (result.retried, message.status, message.attempts) == (1, "queued", 1)
    assert "ValueError" in message.last_error
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        result = send_messages(channel_id=sms.pk)
    message.refresh_from_db()
    assert (result.failed, result.fallbacks, message.status, message.attempts) == (1, 1, "failed", 2)
    assert Message.objects.get(channel=email).fallback_of == message


def test_permanent_failure_fails_at_once_and_without_another_channel_stays_failed(office, gateway):
    world, sms, _email, campaign = office
    person = make_person(world.caseworker, world.michoacan)
    queue(world, campaign, [person])
    gateway.permanent.add(person.phones.get().e164)
    result = send_messages(channel_id=sms.pk)
    assert (result.failed, result.fallbacks) == (1, 0)
    message = Message.objects.get()
    assert (message.status, message.attempts) == ("failed", 1) and "550" in message.last_error


def test_refused_after_commit_is_not_left_as_sent(office, gateway):
    world, sms, _email, campaign = office
    person = make_person(world.caseworker, world.michoacan)
    queue(world, campaign, [person])
    gateway.refuse_after_commit.add(person.phones.get().e164)
    send_messages(channel_id=sms.pk)
    message = Message.objects.get()
    assert (message.status, message.sent_at) == ("failed", None) and "554" in message.last_error


def test_expired_messages_are_never_sent(office, gateway):
    world, sms, _email, campaign = office
    queue(world, campaign, [make_person(world.caseworker, world.michoacan)], expires_in=timedelta(minutes=5))
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        result = send_messages(channel_id=sms.pk)
    assert (result.expired, result.sent) == (1, 0)
    assert statuses() == {"expired": 1} and not gateway.accepted


def test_paused_channel_waits_and_resume_sends(office, gateway):
    world, sms, _email, campaign = office
    queue(world, campaign, [make_person(world.caseworker, world.michoacan) for _ in range(2)])
    pause_channel(actor=world.admin, channel=sms)
    assert send_messages(channel_id=sms.pk).paused
    assert statuses() == {"queued": 2}
    resume_channel(actor=world.admin, channel=sms)
    assert send_messages(channel_id=sms.pk).sent == 2


def test_a_dead_workers_claim_is_taken_over_after_its_lease_exactly_once(office, gateway):
    world, sms, _email, campaign = office
    queue(world, campaign, [make_person(world.caseworker, world.michoacan) for _ in range(4)])
    dead = new_owner()
    claimed = claim(channel_id=sms.pk, owner=dead, limit=10, lease_seconds=30)
    assert len(claimed) == 4 and statuses() == {"sending": 4}
    # While the lease lasts, nobody else takes them.
    assert send_messages(channel_id=sms.pk).claimed == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        result = send_messages(channel_id=sms.pk)
    assert result.sent == 4 and len(gateway.accepted) == 4
    assert all(m.attempts == 2 for m in Message.objects.all())
    # The "dead" worker wakes up and tries to commit: the fence refuses, it would abort its transfer.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET status = 'sent' WHERE id = %s AND lease_owner = %s AND status = 'sending'",
            [claimed[0].id, dead],
        )
        assert cursor.rowcount == 0


def test_a_worker_killed_after_commit_leaves_the_message_sent(office, gateway):
    world, sms, _email, campaign = office
    queue(world, campaign, [make_person(world.caseworker, world.michoacan) for _ in range(3)])

    class Killed(BaseException):
        pass

    def die(message):
        raise Killed

    gateway.after_commit = die
    with pytest.raises(Killed):
        send_messages(channel_id=sms.pk)
    # The first message was committed (the gateway would complete it); the others are still claimed.
    assert statuses() == {"sent": 1, "sending": 2}
    gateway.after_commit = None
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        result = send_messages(channel_id=sms.pk)
    assert result.sent == 2 and statuses() == {"sent": 3}


@pytest.mark.django_db(transaction=True)
def test_a_workers_commit_sends_the_last_piece_only_once_the_mark_is_committed(world, gateway):
    """The worker's path (no surrounding transaction): the fence is checked, the mark committed, and only
    then — straight away — the last piece goes; a fenced-out commit sends nothing and writes nothing."""
    from django.db import connection

    from rumbo.messaging.adapters.base import LastPiece, OutboundMessage
    from rumbo.messaging.services import dispatch

    if connection.vendor == "postgresql":
        import socket

        import psycopg
        from psycopg import pq

    sms = make_channel(world.admin, world.michoacan, "sms")
    campaign = Campaign.objects.create(
        office=world.michoacan, name="Aviso", template=make_template(world.admin, world.michoacan)
    )
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(2)]
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons])
    mine, stolen = claim(channel_id=sms.pk, owner="me", limit=2, lease_seconds=60)
    Message.objects.filter(pk=stolen.id).update(lease_owner="someone-else")
    assert not connection.in_atomic_block

    seen: list[tuple[str, bool]] = []

    def send() -> None:
        # What the database says at the moment the gateway gets the last piece. (On PostgreSQL the COMMIT's
        # answer is still unread: the connection cannot be queried yet.)
        if connection.vendor == "sqlite":
            seen.append((Message.objects.get(pk=mine.id).status, connection.connection.in_transaction))
        else:
            # ACTIVE: the COMMIT was written (INTRANS would mean it was not yet); corked: it is held in the
            # kernel, so the server has not committed — another connection still reads "sending".
            pgconn = connection.connection.pgconn
            sock = socket.fromfd(pgconn.socket, socket.AF_INET, socket.SOCK_STREAM)
            with sock:
                corked = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
            (status,) = other.execute(
                "SELECT status FROM messaging_message WHERE id = %s", [mine.id]
            ).fetchone()
            seen.append((status, pgconn.transaction_status == pq.TransactionStatus.ACTIVE and corked))

    if connection.vendor == "postgresql":  # a second session, to see what is committed
        other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    commit = dispatch._Committer("me")
    assert commit.pipelined == (connection.vendor == "postgresql")
    assert commit.sqlite_worker == (connection.vendor == "sqlite")
    last = LastPiece(send)
    assert commit(OutboundMessage(mine.id, "k1", "+5215500000001", "Hola"), "prov-1", last) is True
    commit.finish()
    if connection.vendor == "sqlite":
        assert seen == [("sent", False)]  # committed, transaction closed, before the last piece left
    else:
        assert seen == [("sending", True)]  # the COMMIT was written, held until the piece joined it
        sock = socket.fromfd(connection.connection.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM)
        with sock:
            assert not sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)  # uncorked: the COMMIT left
        other.close()
    assert last.sent and last.error is None
    assert commit.committed == {mine.id: "prov-1"}

    refused = LastPiece(send)
    assert commit(OutboundMessage(stolen.id, "k2", "+5215500000002", "Hola"), "prov-2", refused) is False
    commit.finish()
    assert len(seen) == 1 and not refused.sent
    assert Message.objects.get(pk=stolen.id).status == "sending"
    assert Message.objects.get(pk=mine.id).status == "sent"

    def broken() -> None:
        raise ConnectionResetError("peer gone")

    Message.objects.filter(pk=stolen.id).update(lease_owner="me")
    failed = LastPiece(broken)
    assert commit(OutboundMessage(stolen.id, "k2", "+5215500000002", "Hola"), "prov-2", failed) is True
    commit.finish()
    assert isinstance(failed.error, ConnectionResetError) and not failed.sent
    assert Message.objects.get(pk=stolen.id).status == "sent"  # the adapter decides what the failure means


def test_another_worker_holding_the_message_makes_commit_abort(office, gateway):
    world, sms, _email, campaign = office
    queue(world, campaign, [make_person(world.caseworker, world.michoacan)])
    message = Message.objects.get()

    def steal(outbound):
        Message.objects.filter(pk=message.pk).update(lease_owner="someone-else")

    class Stealer:
        def __call__(self, messages, commit):
            steal(None)
            return original(messages, commit)

    from rumbo.messaging.tests import test_engine_support as support

    original = support.FakeAdapter.send_batch.__get__(support.FakeAdapter({}, ""))
    adapter = support.FakeAdapter({}, "")
    adapter.send_batch = Stealer()
    from rumbo.messaging.services import dispatch

    claimed = dispatch.claim(channel_id=sms.pk, owner="me", limit=1, lease_seconds=60)
    result = dispatch.DispatchResult()
    dispatch._send_and_settle(adapter, sms, claimed, "me", result)
    assert gateway.aborted == [message.pk] and not gateway.accepted
    assert result.sent == 0
    message.refresh_from_db()
    assert (message.status, message.lease_owner) == ("sending", "someone-else")


def test_rate_limit_paces_sub_batches(office, gateway):
    world, sms, _email, campaign = office
    sms.rate_per_second = 20
    sms.save()
    queue(world, campaign, [make_person(world.caseworker, world.michoacan) for _ in range(30)])
    started = time.monotonic()
    result = send_messages(channel_id=sms.pk, message_ids=ids(sms))
    elapsed = time.monotonic() - started
    assert result.sent == 30
    assert elapsed >= 0.9, f"30 messages at 20/s took {elapsed:.2f}s"


def _wal_database(path):
    import sqlite3

    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, status TEXT, lease_owner TEXT)")
    raw.executemany("INSERT INTO message VALUES (?, 'sending', 'me')", [(i,) for i in range(1, 301)])
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.execute("PRAGMA wal_autocheckpoint = 1")  # any commit would now copy the WAL into the database file
    return raw


def test_sqlite_commit_then_send_keeps_the_wal_checkpoint_out_of_the_window(tmp_path, monkeypatch):
    """Between the durable mark and the last piece nothing slow may run: with SQLite's automatic checkpoint
    the COMMIT would copy the WAL into the database file (with fsyncs) after the mark is visible and before
    it returns. At the moment the piece leaves, the mark is visible to another process and the database
    file is untouched; the checkpoint follows the piece, every ``_CHECKPOINT_EVERY`` marks."""
    import hashlib
    import sqlite3

    from rumbo.messaging.adapters.base import LastPiece
    from rumbo.messaging.services import dispatch

    db = tmp_path / "outbox.sqlite3"
    raw = _wal_database(db)
    reader = sqlite3.connect(db, isolation_level=None)
    sql = "UPDATE message SET status = 'sent' WHERE id = ? AND lease_owner = ? AND status = 'sending'"

    def file_digest() -> str:
        return hashlib.sha256(db.read_bytes()).hexdigest()

    seen: list[tuple[str, bool]] = []
    digest = file_digest()
    monkeypatch.setattr(dispatch, "_marks_since_checkpoint", 0)  # a count of this test's own marks
    for message_id in range(1, dispatch._CHECKPOINT_EVERY + 1):

        def piece(message_id: int = message_id) -> None:
            (status,) = reader.execute("SELECT status FROM message WHERE id = ?", (message_id,)).fetchone()
            seen.append((status, file_digest() == digest))

        last = LastPiece(piece)
        assert dispatch.commit_then_send(raw, sql, (message_id, "me"), last) is True
        assert last.sent
    assert seen == [("sent", True)] * dispatch._CHECKPOINT_EVERY
    assert file_digest() != digest  # the checkpoint ran, after the last piece of the batch
    assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (1,)  # the setting is given back

    refused = LastPiece(lambda: seen.append(("refused", False)))
    assert dispatch.commit_then_send(raw, sql, (1, "me"), refused) is False  # already sent: the fence holds
    assert not refused.sent and len(seen) == dispatch._CHECKPOINT_EVERY
    assert not raw.in_transaction


def test_a_killed_process_still_delivers_what_it_corked():
    """What the PostgreSQL commit path relies on: data written into a corked TCP socket reaches the peer even
    if the process is killed (SIGKILL) before uncorking — the kernel sends it before closing the
    connection."""
    import os
    import signal
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        pid = os.fork()
        if pid == 0:  # the "worker": corks, writes, dies
            client = socket.create_connection(server.getsockname())
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            client.sendall(b"COMMIT")
            os.kill(os.getpid(), signal.SIGKILL)
        peer, _ = server.accept()
        os.waitpid(pid, 0)
        peer.settimeout(5)
        received = b""
        with peer:
            while chunk := peer.recv(64):
                received += chunk
    assert received == b"COMMIT"
