"""The Kannel adapter against a real bearerbox + smsbox with fakesmsc as the SMS centre.

Outgoing SMS must reach fakesmsc exactly once (Unicode intact), delivery reports and replies injected at
fakesmsc must reach a local HTTP receiver, and ``parse_webhook`` must read the calls Kannel really makes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.test import RequestFactory

from rumbo.messaging.adapters import GatewayUnavailable, adapter_for
from rumbo.messaging.adapters._http import Response
from rumbo.messaging.adapters.base import (
    CommitHook,
    InboundKind,
    LastPiece,
    OutboundMessage,
    ReceiptStatus,
    WebhookRejected,
)
from rumbo.messaging.adapters.kannel import MO_QUERY, KannelAdapter, _result, is_gsm7, normalise_number
from rumbo.messaging.peers import kannel as kannel_peer
from rumbo.messaging.peers.kannel import KannelPeer, free_port

from .conftest import Receiver

pytestmark = pytest.mark.xdist_group("kannel")

OUR_NUMBER = "31313"


def _adapter(config: dict[str, str]) -> KannelAdapter:
    adapter = adapter_for("sms", config, OUR_NUMBER)
    assert isinstance(adapter, KannelAdapter)
    return adapter


def _unique(prefix: str) -> str:
    return f"{prefix}{time.monotonic_ns() % 10**8}"


def _commit_all(message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
    last_piece()
    return True


def _commit_all_but(refused: int) -> CommitHook:
    def commit(message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
        if message.message_id == refused:
            return False
        last_piece()
        return True

    return commit


def _received_for(kannel: KannelPeer, receivers: set[str], count: int) -> list[kannel_peer.ReceivedSms]:
    deadline = time.monotonic() + 15
    while True:
        got = [m for m in kannel.received() if m.receiver in receivers]
        if len(got) >= count or time.monotonic() > deadline:
            time.sleep(0.3)  # anything extra (a duplicate) would arrive now
            return [m for m in kannel.received() if m.receiver in receivers]
        time.sleep(0.05)


def test_an_sms_reaches_the_sms_centre_exactly_once(kannel: KannelPeer) -> None:
    base = _unique("+52155")
    messages = [OutboundMessage(n, f"k{n}", f"{base}{n}", f"Alerta {n}: busca refugio.") for n in (1, 2, 3)]

    results = _adapter(kannel.channel_config()).send_batch(messages, _commit_all)

    assert [(r.committed, r.error, r.provider_id) for r in results] == [
        (True, "", f"kannel:{n}") for n in (1, 2, 3)
    ]
    got = _received_for(kannel, {m.to for m in messages}, 3)
    assert sorted((m.receiver, m.text, m.sender) for m in got) == [
        (f"{base}{n}", f"Alerta {n}: busca refugio.", OUR_NUMBER) for n in (1, 2, 3)
    ]


def test_unicode_text_arrives_intact(kannel: KannelPeer) -> None:
    base = _unique("+52144")
    texts = {
        f"{base}1": "Привет! Ты в безопасности? 😀",  # not GSM-7: UCS-2
        f"{base}2": "¿Estás bien? Responde SÍ o NO — Cónsul",  # Í, ó, — are not GSM-7 either
        f"{base}3": "Hola Ñoño, ¿todo bien? Costo: 5 €",  # GSM-7 (with the € extension)
        f"{base}4": "línea uno\nlínea dos",
    }
    messages = [OutboundMessage(n, f"u{n}", to, text) for n, (to, text) in enumerate(texts.items(), start=1)]

    results = _adapter(kannel.channel_config()).send_batch(messages, _commit_all)

    assert all(r.committed and not r.error for r in results)
    got = {m.receiver: m for m in _received_for(kannel, set(texts), 4)}
    assert {to: m.text for to, m in got.items()} == texts
    assert got[f"{base}1"].coding == "ucs-2"
    assert got[f"{base}3"].coding == "text"


def test_a_long_message_is_sent_in_parts_and_arrives_whole(kannel: KannelPeer) -> None:
    to = _unique("+52133")
    text = "Aviso del consulado: " + "manténgase en un lugar seguro y atento a las indicaciones. " * 5

    [result] = _adapter(kannel.channel_config()).send_batch([OutboundMessage(1, "l1", to, text)], _commit_all)

    assert result.committed and not result.error
    [got] = _received_for(kannel, {to}, 1)
    assert got.text == text
    assert got.parts >= 2


def test_delivery_reports_reach_rumbo_and_parse_into_receipts(
    kannel: KannelPeer, http_receiver: Receiver
) -> None:
    to = _unique("+52122")
    webhook = f"{http_receiver.url}/hooks/messaging/tok/sms/"
    adapter = _adapter(kannel.channel_config(webhook_url=webhook))

    [result] = adapter.send_batch([OutboundMessage(41, "d41", to, "¿Llegó este mensaje?")], _commit_all)

    assert result.committed and not result.error
    calls = http_receiver.wait_for(2)
    assert len(calls) == 2
    events = []
    for call in calls:
        assert call["path"].startswith("/hooks/messaging/tok/sms/?type=dlr&id=41&")
        events += adapter.parse_webhook(RequestFactory().get(call["path"]))
    assert {e.receipt_status for e in events} == {ReceiptStatus.ACCEPTED, ReceiptStatus.DELIVERED}
    for event in events:
        assert event.kind == InboundKind.RECEIPT
        assert event.message_id == 41
        assert event.provider_id == "kannel:41"
        assert event.sender == to
        assert event.received_at is not None


def test_a_reply_injected_at_the_sms_centre_reaches_rumbo(
    kannel: KannelPeer, http_receiver: Receiver
) -> None:
    kannel.mo_target = f"{http_receiver.url}/hooks/messaging/tok/sms/"
    sender = _unique("+52111")
    adapter = _adapter(kannel.channel_config())

    kannel.inject_mo(sender, OUR_NUMBER, "SI estoy bien, en el albergue ñ")
    kannel.inject_mo(sender, OUR_NUMBER, "Да, всё хорошо 😀\nsegunda línea")

    calls = http_receiver.wait_for(2)
    assert len(calls) == 2
    events = [e for call in calls for e in adapter.parse_webhook(RequestFactory().get(call["path"]))]
    assert [(e.kind, e.sender, e.body) for e in events] == [
        (InboundKind.REPLY, sender, "SI estoy bien, en el albergue ñ"),
        (InboundKind.REPLY, sender, "Да, всё хорошо 😀\nsegunda línea"),
    ]
    assert all(e.provider_id and e.received_at for e in events)
    assert calls[0]["path"].startswith("/hooks/messaging/tok/sms/?type=mo&")


def test_wrong_credentials_are_a_permanent_refusal_after_the_commit(kannel: KannelPeer) -> None:
    config = {**kannel.channel_config(), "password": "wrong"}
    [result] = _adapter(config).send_batch([OutboundMessage(1, "c1", "+5215500000001", "x")], _commit_all)

    assert result.committed is True  # the request was complete: the verdict comes after the commit
    assert result.permanent is True
    assert "403" in result.error
    assert "Authorization failed" in result.error


def test_a_number_that_cannot_receive_sms_fails_before_anything_is_sent(kannel: KannelPeer) -> None:
    calls: list[int] = []

    def commit(message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
        calls.append(message.message_id)
        last_piece()
        return True

    results = _adapter(kannel.channel_config()).send_batch(
        [OutboundMessage(1, "n1", "abc", "x"), OutboundMessage(2, "n2", "", "x")], commit
    )

    assert [(r.committed, r.permanent) for r in results] == [(False, True), (False, True)]
    assert calls == []


def test_a_gateway_that_is_down_raises_gateway_unavailable() -> None:
    adapter = _adapter({"url": f"http://127.0.0.1:{free_port()}", "username": "u", "password": "p"})
    with pytest.raises(GatewayUnavailable):
        adapter.send_batch([OutboundMessage(1, "g1", "+5215500000001", "x")], _commit_all)


def test_when_commit_says_no_the_sms_is_never_sent(kannel: KannelPeer) -> None:
    base = _unique("+52100")
    messages = [OutboundMessage(n, f"w{n}", f"{base}{n}", f"Mensaje {n}") for n in (1, 2, 3)]

    results = _adapter(kannel.channel_config()).send_batch(messages, _commit_all_but(2))

    assert results[1].committed is False
    assert results[1].error == "taken over by another worker"
    got = _received_for(kannel, {m.to for m in messages}, 2)
    assert sorted(m.receiver for m in got) == [f"{base}1", f"{base}3"]


def test_a_worker_killed_before_the_last_byte_sends_nothing(kannel: KannelPeer, tmp_path: Path) -> None:
    """SIGKILL inside commit() for message 2: Kannel got its request without the last byte and drops it.

    One connection, so message 1's answer is read before message 2 starts: Kannel has taken message 1 by
    then (smsbox drops a *complete* request whose client is gone before smsbox read it, which would make
    this test depend on timing).
    """
    base = _unique("+52199")
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, signal, django
            django.setup()
            from rumbo.messaging.adapters import adapter_for
            from rumbo.messaging.adapters.base import OutboundMessage

            config = {{**{kannel.channel_config()!r}, "connections": "1"}}
            adapter = adapter_for("sms", config, "{OUR_NUMBER}")
            messages = [OutboundMessage(n, f"x{{n}}", f"{base}{{n}}", f"Mensaje {{n}}") for n in (1, 2, 3)]

            def commit(message, provider_id, last_piece):
                if message.message_id == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
                last_piece()
                return True

            adapter.send_batch(messages, commit)
            """
        )
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rumbo.settings_test"}
    completed = subprocess.run([sys.executable, str(script)], env=env, timeout=60, capture_output=True)

    assert completed.returncode == -9, completed.stderr.decode()
    got = _received_for(kannel, {f"{base}{n}" for n in (1, 2, 3)}, 1)
    time.sleep(1)
    got = [m for m in kannel.received() if m.receiver.startswith(base)]
    assert [m.receiver for m in got] == [f"{base}1"]


# --- parse_webhook on the calls Kannel makes (no gateway needed) ---------------------------------------


def _parse(adapter: KannelAdapter, query: str, path: str = "/hooks/messaging/tok/sms/") -> list:
    return adapter.parse_webhook(RequestFactory().get(f"{path}?{query}"))


@pytest.mark.parametrize(
    ("dlr", "status"),
    [
        (1, ReceiptStatus.DELIVERED),
        (2, ReceiptStatus.FAILED),
        (4, ReceiptStatus.ACCEPTED),
        (8, ReceiptStatus.ACCEPTED),
        (16, ReceiptStatus.FAILED),
    ],
)
def test_dlr_types_map_to_receipt_statuses(dlr: int, status: ReceiptStatus) -> None:
    adapter = _adapter({"url": "http://kannel:13013"})
    answer = "NACK%2F0x0000000b%2FInvalid+Destination+Address"
    [event] = _parse(
        adapter, f"type=dlr&id=7&status={dlr}&answer={answer}&ts=1750000000&phone=%2B5215512345678"
    )

    assert event.kind == InboundKind.RECEIPT
    assert event.receipt_status == status
    assert event.message_id == 7
    assert event.provider_id == "kannel:7"
    assert event.received_at.timestamp() == 1750000000
    assert (event.error == "NACK/0x0000000b/Invalid Destination Address") is (status == ReceiptStatus.FAILED)


def test_a_ucs2_reply_that_was_not_recoded_is_decoded() -> None:
    adapter = _adapter({"url": "http://kannel:13013"})
    text = "%04%14%04%30%00+%D8%3D%DE%00"  # "Да 😀" in UTF-16BE, as Kannel url-encodes it
    [event] = _parse(
        adapter, f"type=mo&from=5215512345678&to=31313&text={text}&coding=2&charset=UTF-16BE&id=u1"
    )

    assert event.body == "Да 😀"
    assert event.sender == "+5215512345678"


def test_a_latin1_reply_is_decoded_with_its_charset() -> None:
    adapter = _adapter({"url": "http://kannel:13013"})
    [event] = _parse(adapter, "type=mo&from=%2B5215512345678&text=S%ED+se%F1or&coding=0&charset=ISO-8859-1")
    assert event.body == "Sí señor"


def test_without_type_the_path_tells_a_report_from_a_reply() -> None:
    adapter = _adapter({"url": "http://kannel:13013"})
    [event] = _parse(adapter, "id=3&status=1", path="/hooks/messaging/tok/sms/dlr")
    assert event.kind == InboundKind.RECEIPT
    [event] = _parse(adapter, "from=0052155&text=hola", path="/hooks/messaging/tok/sms/")
    assert event.kind == InboundKind.REPLY
    assert event.sender == "+52155"


@pytest.mark.parametrize("value", ["%C2%B2", "%D9%A3", "99999999999999999999999", "9223372036854775808", "0"])
def test_a_report_whose_id_is_no_outbox_id_is_ignored(value: str) -> None:
    adapter = _adapter({"url": "http://kannel:13013"})
    assert _parse(adapter, f"type=dlr&id={value}&status=1") == []
    [event] = _parse(adapter, "type=dlr&id=9223372036854775807&status=1")  # the largest id there can be
    assert event.message_id == 2**63 - 1


def test_a_shared_secret_is_required_when_configured() -> None:
    adapter = _adapter(
        {"url": "http://kannel:13013", "webhook_secret": "s3cret", "webhook_url": "https://r/h/"}
    )
    assert "secret=s3cret" in adapter.dlr_url(5)
    with pytest.raises(WebhookRejected):
        _parse(adapter, "type=dlr&id=3&status=1")
    with pytest.raises(WebhookRejected):
        _parse(adapter, "type=dlr&id=3&status=1&secret=nope")
    [event] = _parse(adapter, "type=dlr&id=3&status=1&secret=s3cret")
    assert "secret" not in event.raw


def test_the_sendsms_request_asks_for_ucs2_only_when_needed_and_for_delivery_reports() -> None:
    adapter = _adapter(
        {"url": "http://kannel:13013", "webhook_url": "https://rumbo.example/hooks/messaging/t/sms/"}
    )
    gsm = adapter.query(OutboundMessage(9, "q", "+521", "Hola [1] {2} €"))
    ucs = adapter.query(OutboundMessage(9, "q", "+521", "Olá, você"))

    assert "coding" not in gsm
    assert ucs["coding"] == "2"
    assert gsm["charset"] == "UTF-8"
    assert gsm["dlr-mask"] == "31"
    assert gsm["dlr-url"] == (
        "https://rumbo.example/hooks/messaging/t/sms/?type=dlr&id=9&status=%d&answer=%A&ts=%T&phone=%p"
    )


def test_without_a_webhook_no_delivery_reports_are_requested() -> None:
    params = _adapter({"url": "http://kannel:13013"}).query(OutboundMessage(9, "q", "+521", "x"))
    assert "dlr-mask" not in params
    assert "dlr-url" not in params


@pytest.mark.parametrize(
    ("status", "body", "error", "permanent"),
    [
        (202, b"0: Accepted for delivery", False, False),
        (202, b"3: Queued for later delivery", False, False),
        (403, b"Authorization failed for sendsms", True, True),
        (400, b"Number(s) has/have been denied by white- and/or black-lists.", True, True),
        (503, b"Sending failed.", True, False),
    ],
)
def test_kannel_answers_are_classified(status: int, body: bytes, error: bool, permanent: bool) -> None:
    message = OutboundMessage(1, "a", "+521", "x")
    result = _result(message, "kannel:1", Response(status=status, headers={}, body=body))
    assert result.committed is True
    assert bool(result.error) is error
    assert result.permanent is permanent


def test_gsm7_detection() -> None:
    assert is_gsm7("Hola, ¿qué tal? ñ Ñ ü ä ö è é ù ì ò Ç € [ ] { } ~ ^ | \\")
    assert not is_gsm7("á")
    assert not is_gsm7("😀")


def test_numbers_as_kannel_reports_them_become_e164() -> None:
    assert normalise_number("+52 155 1234 5678") == "+5215512345678"
    assert normalise_number("005215512345678") == "+5215512345678"
    assert normalise_number("5215512345678") == "+5215512345678"
    assert normalise_number("31313") == "31313"


def test_the_peer_uses_the_adapters_reply_fields() -> None:
    assert kannel_peer.MO_QUERY == MO_QUERY
