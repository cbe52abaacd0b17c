"""The adapter contract's failure kinds and its optional ``close()``, as the dispatcher applies them: a gateway
out of reach (``GatewayUnavailable``) is retried and never permanent; ``close()`` is called once per sending
call, also after a failure, and a failing ``close()`` changes no outcome."""

from __future__ import annotations

import pytest

from rumbo.messaging.adapters import GatewayUnavailable as PackageGatewayUnavailable
from rumbo.messaging.adapters.base import ClosableAdapter, GatewayUnavailable, close_adapter
from rumbo.messaging.models import Campaign, Message
from rumbo.messaging.services import queue_campaign, send_messages
from rumbo.messaging.tests import test_engine_support as support
from rumbo.messaging.tests.test_engine_support import make_channel, make_person, make_template, statuses

gateway = support.gateway  # the fixture


@pytest.fixture
def sms_batch(world, gateway):
    sms = make_channel(world.admin, world.michoacan, "sms")
    campaign = Campaign.objects.create(
        office=world.michoacan, name="Aviso", template=make_template(world.admin, world.michoacan)
    )
    persons = [make_person(world.caseworker, world.michoacan) for _ in range(3)]
    queue_campaign(actor=world.caseworker, campaign=campaign, person_ids=[p.pk for p in persons])
    return sms, list(Message.objects.order_by("id").values_list("id", flat=True))


def test_gateway_unavailable_is_the_packages_exception():
    assert GatewayUnavailable is PackageGatewayUnavailable


def test_close_is_called_once_after_a_batch(sms_batch, gateway):
    sms, message_ids = sms_batch
    result = send_messages(channel_id=sms.pk, message_ids=message_ids)
    assert result.sent == 3 and gateway.closes == 1


def test_an_unreachable_gateway_is_retried_not_failed_and_still_closed(sms_batch, gateway):
    sms, message_ids = sms_batch
    gateway.down = True
    result = send_messages(channel_id=sms.pk, message_ids=message_ids)
    assert (result.retried, result.failed) == (3, 0)
    assert statuses() == {"queued": 3}
    assert "GatewayUnavailable" in Message.objects.first().last_error
    assert gateway.closes == 1


def test_an_adapter_crash_is_retried_and_logged_with_its_traceback(sms_batch, gateway, caplog):
    sms, message_ids = sms_batch
    gateway.crash = RuntimeError("adapter bug")
    result = send_messages(channel_id=sms.pk, message_ids=message_ids)
    assert (result.retried, result.failed) == (3, 0)
    assert gateway.closes == 1
    assert any(r.exc_info and "the adapter failed" in r.getMessage() for r in caplog.records)


def test_a_failing_close_changes_no_outcome(sms_batch, gateway, caplog):
    sms, message_ids = sms_batch
    gateway.close_error = OSError("socket already gone")
    result = send_messages(channel_id=sms.pk, message_ids=message_ids)
    assert result.sent == 3 and statuses() == {"sent": 3}
    assert any("closing the FakeAdapter adapter failed" in r.getMessage() for r in caplog.records)


def test_close_is_optional():
    class NoClose:
        pass

    class WithClose:
        closed = False

        def close(self) -> None:
            self.closed = True

    close_adapter(NoClose())  # nothing to call, no error
    with_close = WithClose()
    assert isinstance(with_close, ClosableAdapter) and not isinstance(NoClose(), ClosableAdapter)
    close_adapter(with_close)
    assert with_close.closed
