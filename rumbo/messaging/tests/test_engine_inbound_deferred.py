"""Deferred ingest: a webhook call is stored in one insert and answered; ``ingest_pending`` applies the stored
calls in batches, once each, in order; the sweep applies what a lost drain left. Also ``rumbo.wsgi``: the
short middleware stack of ``/hooks/``."""

from __future__ import annotations

import io
import json
import sys
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from rumbo.messaging import tasks as messaging_tasks
from rumbo.messaging.adapters.base import InboundEvent, InboundKind, ReceiptStatus
from rumbo.messaging.models import Inbound, InboundPending, Message, MessageStatus
from rumbo.messaging.services import inbound as inbound_services
from rumbo.messaging.services.inbound import event_from_json, event_to_json, ingest_pending
from rumbo.messaging.tests.test_engine_inbound import gateway, sent  # noqa: F401  (fixtures)


@pytest.fixture
def deferred(settings):
    settings.RUMBO_MESSAGING_DEFERRED_INGEST = True
    messaging_tasks._ingest_enqueued_at = 0.0


def _call(sms, events):
    url = f"/hooks/messaging/{sms.webhook_token}/sms/mo"
    payload = {"token": "s3cret", "events": events}
    return Client().post(url, json.dumps(payload), content_type="application/json")


def test_a_call_is_stored_answered_then_applied_once(sent, deferred):  # noqa: F811
    _world, sms, _email, ana, _beto, _first, second = sent
    response = _call(sms, [{"kind": "reply", "sender": ana.phones.get().e164, "body": "Estoy bien"}])
    assert response.status_code == 200 and response.content == b""
    assert InboundPending.objects.count() == 1 and not Inbound.objects.exists()  # stored, not applied yet
    assert ingest_pending() == 1
    row = Inbound.objects.get()
    assert (row.person, row.campaign, row.body) == (ana, second, "Estoy bien")
    assert not InboundPending.objects.exists()
    assert ingest_pending() == 0  # nothing is applied twice
    assert Inbound.objects.count() == 1


def test_the_view_enqueues_a_drain_after_its_commit(sent, deferred, django_capture_on_commit_callbacks):  # noqa: F811
    _world, sms, _email, ana, *_ = sent
    with mock.patch("rumbo.messaging.webhooks.enqueue_ingest") as enqueue:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            _call(sms, [{"kind": "reply", "sender": ana.phones.get().e164, "body": "ok"}])
        assert len(callbacks) == 1 and enqueue.call_count == 1
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            _call(sms, [])  # a call without events stores nothing and enqueues nothing
        assert callbacks == [] and enqueue.call_count == 1
    assert InboundPending.objects.count() == 1


def test_drains_are_throttled_per_process_and_delayed(deferred):
    with mock.patch.object(messaging_tasks, "ingest_inbound") as task:
        messaging_tasks.enqueue_ingest()
        messaging_tasks.enqueue_ingest()  # within the delay: the first drain, which runs later, covers it
    assert task.using.call_count == 1 and task.using.return_value.enqueue.call_count == 1
    run_after = task.using.call_args.kwargs["run_after"]
    from django.utils import timezone

    assert 0 < (run_after - timezone.now()).total_seconds() <= messaging_tasks.INGEST_DELAY_SECONDS


def test_repeated_gateway_ids_and_receipts_are_applied_once(sent, deferred):  # noqa: F811
    _world, sms, _email, ana, *_ = sent
    to_ana = Message.objects.filter(person=ana, channel=sms).order_by("-pk").first()
    reply = {"kind": "reply", "sender": ana.phones.get().e164, "body": "Bien", "provider_id": "mo-1"}
    _call(sms, [reply])
    _call(sms, [reply])  # the gateway called twice
    _call(sms, [{"kind": "receipt", "message_id": to_ana.pk, "status": "delivered"}])
    assert InboundPending.objects.count() == 3
    assert ingest_pending(batch=2) == 3  # two batches
    assert Inbound.objects.filter(kind="reply").count() == 1
    to_ana.refresh_from_db()
    assert to_ana.status == MessageStatus.DELIVERED


def test_a_failing_batch_is_rolled_back_whole_and_applied_by_the_next_drain(sent, deferred):  # noqa: F811
    _world, sms, _email, ana, beto, *_ = sent
    _call(sms, [{"kind": "reply", "sender": ana.phones.get().e164, "body": "uno"}])
    _call(sms, [{"kind": "reply", "sender": beto.phones.get().e164, "body": "dos"}])
    gone = OperationalError("database gone")
    failing = mock.patch.object(inbound_services, "record_events", side_effect=gone)
    with failing, pytest.raises(OperationalError):
        ingest_pending()
    assert InboundPending.objects.count() == 2 and not Inbound.objects.exists()
    assert ingest_pending() == 2
    assert sorted(Inbound.objects.values_list("body", flat=True)) == ["dos", "uno"]


def test_a_call_that_cannot_be_applied_is_set_aside_and_the_others_are_applied(sent, deferred):  # noqa: F811
    _world, sms, _email, ana, beto, *_ = sent
    _call(sms, [{"kind": "reply", "sender": ana.phones.get().e164, "body": "antes"}])
    # Stored before the adapters checked ids: a receipt whose id no database integer can hold. SQLite's
    # driver refuses it (OverflowError), PostgreSQL's compares it as a numeric: the failure is made the same
    # on both, raised by whatever applies the call holding it.
    big = InboundEvent(kind=InboundKind.RECEIPT, message_id=10**22, receipt_status=ReceiptStatus.DELIVERED)
    inbound_services.store_pending(channel=sms, events=[big])
    _call(sms, [{"kind": "reply", "sender": beto.phones.get().e164, "body": "después"}])
    apply = inbound_services.record_events

    def refusing(*, channel, events):
        if any(e.message_id == 10**22 for e in events):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return apply(channel=channel, events=events)

    with mock.patch.object(inbound_services, "record_events", side_effect=refusing):
        assert ingest_pending() == 2
    assert sorted(Inbound.objects.values_list("body", flat=True)) == ["antes", "después"]
    poisoned = InboundPending.objects.get()  # kept for inspection, out of the way of later drains
    assert poisoned.failed_at is not None and poisoned.error
    assert poisoned.events[0]["message_id"] == 10**22
    _call(sms, [{"kind": "reply", "sender": ana.phones.get().e164, "body": "BAJA"}])
    assert ingest_pending() == 1
    assert Inbound.objects.filter(opt_out=True).count() == 1


def test_the_sweep_recovers_stalled_channels_even_when_applying_calls_fails(sent, deferred):  # noqa: F811
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from rumbo.messaging.services import queue_campaign
    from rumbo.messaging.services.dispatch import claim, new_owner

    world, sms, _email, ana, _beto, first, _second = sent
    queue_campaign(actor=world.caseworker, campaign=first, person_ids=[ana.pk], step=1)
    claim(channel_id=sms.pk, owner=new_owner(), limit=10, lease_seconds=30)  # then the worker "dies"
    failing = mock.patch.object(messaging_tasks, "ingest_pending", side_effect=RuntimeError("bad call"))
    with failing, time_machine.travel(timezone.now() + timedelta(seconds=31)):
        outcome = messaging_tasks.sweep()
    assert outcome["drains"] == [sms.pk] and outcome["ingested"] == 0


def test_the_sweep_applies_what_a_lost_drain_left(sent, deferred):  # noqa: F811
    _world, sms, _email, ana, *_ = sent
    _call(sms, [{"kind": "reply", "sender": ana.phones.get().e164, "body": "sigo aquí"}])
    assert messaging_tasks.sweep()["ingested"] == 1
    assert Inbound.objects.get().person == ana


def test_events_survive_the_json_round_trip():
    from datetime import UTC, datetime

    event = InboundEvent(
        kind=InboundKind.RECEIPT,
        provider_id="abc",
        message_id=7,
        receipt_status=ReceiptStatus.FAILED,
        error="absent subscriber",
        received_at=datetime(2026, 11, 29, 18, 0, tzinfo=UTC),
        raw={"status": "16"},
    )
    assert event_from_json(json.loads(json.dumps(event_to_json(event)))) == event


def _wsgi(path):
    from rumbo.wsgi import application

    status: list[str] = []
    headers: list[tuple[str, str]] = []

    def start_response(s, h, exc_info=None):
        status.append(s)
        headers.extend(h)

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "REMOTE_ADDR": "127.0.0.1",
    }
    # As Django's test client does: the handler must not close the test's connection around the request.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        body = application(environ, start_response)
        b"".join(body)
        body.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return status[0], {k.lower(): v for k, v in headers}


@pytest.mark.django_db
def test_hooks_get_the_short_middleware_stack():
    status, headers = _wsgi("/hooks/messaging/not-a-token/sms/")
    assert status.startswith("404")
    assert "content-security-policy" not in headers and "x-request-id" in headers
    status, headers = _wsgi("/accounts/login/")
    assert status.startswith("200") and "content-security-policy" in headers


def test_the_drain_is_a_delayed_task_of_the_database_backend(deferred):
    from django_tasks_db.models import DBTaskResult

    messaging_tasks.enqueue_ingest()
    task = DBTaskResult.objects.get()
    assert task.task_path.endswith("ingest_inbound") and task.queue_name == "messaging"
    assert task.run_after is not None


def test_calls_set_aside_are_deleted_by_the_sweep_after_the_retention(sent, deferred, settings):  # noqa: F811
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    settings.RUMBO_MESSAGING_SET_ASIDE_DAYS = 30
    _world, sms, *_ = sent
    for body in ("uno", "dos"):
        _call(sms, [{"kind": "reply", "sender": "+5215550000000", "body": body}])
    old, recent = InboundPending.objects.order_by("pk")
    now = timezone.now()
    InboundPending.objects.filter(pk=old.pk).update(failed_at=now - timedelta(days=31), error="X")
    InboundPending.objects.filter(pk=recent.pk).update(failed_at=now - timedelta(days=29), error="Y")
    with time_machine.travel(now, tick=False):
        assert messaging_tasks.sweep()["purged"] == 1
    assert list(InboundPending.objects.values_list("pk", flat=True)) == [recent.pk]
