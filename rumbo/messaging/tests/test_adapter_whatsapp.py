"""The WhatsApp adapter against the local Cloud API peer and the documented payloads (``data/whatsapp``)."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import RequestFactory

from rumbo.messaging.adapters import GatewayUnavailable, adapter_for
from rumbo.messaging.adapters._http import Response
from rumbo.messaging.adapters.base import (
    InboundKind,
    LastPiece,
    OutboundMessage,
    ReceiptStatus,
    WebhookRejected,
)
from rumbo.messaging.adapters.whatsapp import WhatsAppAdapter, _result, signature, template_language
from rumbo.messaging.peers.kannel import free_port
from rumbo.messaging.peers.whatsapp import WhatsAppPeer, _Handler, _Server

DATA = Path(__file__).parent / "data" / "whatsapp"
PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "app-secret-for-tests"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def _adapter(peer: WhatsAppPeer | None = None, **extra: str) -> WhatsAppAdapter:
    config = {
        "base_url": peer.base_url if peer else "https://graph.facebook.com",
        "access_token": peer.token if peer else "token",
        "app_secret": APP_SECRET,
        "verify_token": "verify-me",
        **extra,
    }
    adapter = adapter_for("whatsapp", config, PHONE_NUMBER_ID)
    assert isinstance(adapter, WhatsAppAdapter)
    return adapter


def _message(
    number: int, to: str = "+5215512345678", body: str = "¿Estás a salvo? Responde SÍ o NO."
) -> OutboundMessage:
    return OutboundMessage(number, f"k{number}", to, body, language="spa")


class Recorder:
    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.refuse = refuse
        self.calls: list[tuple[int, str]] = []

    def __call__(self, message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
        self.calls.append((message.message_id, provider_id))
        if message.message_id in self.refuse:
            return False
        last_piece()
        return True


# --- sending ----------------------------------------------------------------------------------------


def test_a_text_message_is_sent_as_documented_and_its_wamid_comes_back(whatsapp_peer: WhatsAppPeer) -> None:
    commit = Recorder()
    [result] = _adapter(whatsapp_peer).send_batch([_message(7)], commit)

    [record] = whatsapp_peer.records()
    assert record["phone_number_id"] == PHONE_NUMBER_ID
    assert record["version"] == "v23.0"
    assert record["request"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+5215512345678",
        "type": "text",
        "text": {"preview_url": False, "body": "¿Estás a salvo? Responde SÍ o NO."},
        "biz_opaque_callback_data": "rumbo:7",
    }
    assert commit.calls == [(7, "")]  # the wamid is not known before the answer
    assert result.committed and not result.error
    assert result.provider_id == record["wamid"]
    assert result.provider_id.startswith("wamid.")


def test_the_request_body_has_the_documented_shape() -> None:
    documented = load("send_text_request.json")
    ours = _adapter().payload(OutboundMessage(1, "k", documented["to"], documented["text"]["body"]))
    assert set(ours) - set(documented) == {"biz_opaque_callback_data"}
    assert {k: ours[k] for k in documented} == documented


def test_a_template_channel_sends_the_text_as_the_templates_parameter(whatsapp_peer: WhatsAppPeer) -> None:
    adapter = _adapter(whatsapp_peer, template_name="rumbo_aviso")
    [result] = adapter.send_batch([_message(3)], Recorder())

    [record] = whatsapp_peer.records()
    documented = load("send_template_request.json")
    request = record["request"]
    assert set(request) - {"biz_opaque_callback_data"} == set(documented)
    assert request["type"] == "template"
    assert request["template"] == {
        "name": "rumbo_aviso",
        "language": {"code": "es"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "¿Estás a salvo? Responde SÍ o NO."}]}
        ],
    }
    assert result.committed and not result.error


def test_template_languages_come_from_iso_639_3() -> None:
    assert template_language("spa") == "es"
    assert template_language("eng") == "en"
    assert template_language("xyz") == "xyz"


@pytest.mark.parametrize(
    ("code", "permanent"),
    [(131026, True), (131030, True), (131047, True), (100, True), (130429, False), (131000, False)],
)
def test_error_answers_are_classified(whatsapp_peer: WhatsAppPeer, code: int, permanent: bool) -> None:
    whatsapp_peer.fail_next(code)
    [result] = _adapter(whatsapp_peer).send_batch([_message(1)], Recorder())

    assert result.committed is True  # the request was complete when the error came
    assert result.permanent is permanent
    assert f"WhatsApp error {code}" in result.error
    assert whatsapp_peer.records() == []


def test_a_bad_token_is_refused(whatsapp_peer: WhatsAppPeer) -> None:
    adapter = adapter_for(
        "whatsapp", {"base_url": whatsapp_peer.base_url, "access_token": "wrong"}, PHONE_NUMBER_ID
    )
    [result] = adapter.send_batch([_message(1)], Recorder())
    assert "190" in result.error
    assert result.permanent is True


@pytest.mark.parametrize(
    ("name", "status", "permanent", "code"),
    [
        ("error_131030.json", 400, True, "131030"),
        ("error_130429.json", 400, False, "130429"),
        ("error_131000.json", 500, False, "131000"),
        ("error_190.json", 401, True, "190"),
    ],
)
def test_documented_error_payloads_are_classified(name: str, status: int, permanent: bool, code: str) -> None:
    body = (DATA / name).read_bytes()
    result = _result(_message(1), Response(status=status, headers={}, body=body))
    assert result.permanent is permanent
    assert code in result.error


def test_the_documented_answer_gives_the_wamid() -> None:
    body = (DATA / "send_response.json").read_bytes()
    result = _result(_message(1), Response(status=200, headers={}, body=body))
    assert result.provider_id == "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    assert not result.error


def test_a_5xx_without_json_is_temporary() -> None:
    result = _result(_message(1), Response(status=502, headers={}, body=b"<html>Bad gateway</html>"))
    assert result.error
    assert result.permanent is False


def test_an_unreachable_api_raises_gateway_unavailable() -> None:
    adapter = adapter_for(
        "whatsapp", {"base_url": f"http://127.0.0.1:{free_port()}", "access_token": "t"}, PHONE_NUMBER_ID
    )
    with pytest.raises(GatewayUnavailable):
        adapter.send_batch([_message(1)], Recorder())


def test_when_commit_says_no_nothing_is_sent(whatsapp_peer: WhatsAppPeer) -> None:
    messages = [_message(n, to=f"+52155000000{n}") for n in (1, 2, 3)]
    results = _adapter(whatsapp_peer).send_batch(messages, Recorder(refuse=frozenset({2})))

    assert results[1].committed is False
    assert [r["request"]["to"] for r in whatsapp_peer.records()] == ["+521550000001", "+521550000003"]


def test_messages_that_cannot_be_sent_fail_before_the_commit(whatsapp_peer: WhatsAppPeer) -> None:
    commit = Recorder()
    results = _adapter(whatsapp_peer).send_batch(
        [_message(1, body=""), _message(2, body="x" * 4097), _message(3, to="correo@example.org")], commit
    )
    assert [(r.committed, r.permanent) for r in results] == [(False, True)] * 3
    assert commit.calls == []


def test_a_batch_over_several_connections_sends_each_once_and_reports_in_order(
    whatsapp_peer: WhatsAppPeer,
) -> None:
    messages = [_message(n, to=f"+5215500{n:06d}") for n in range(1, 41)]
    results = _adapter(whatsapp_peer, connections="3").send_batch(messages, Recorder())

    assert [r.message_id for r in results] == list(range(1, 41))
    assert all(r.committed and r.provider_id for r in results)
    # Several connections: the gateway may finish them in any order, each exactly once.
    assert sorted(r["request"]["to"] for r in whatsapp_peer.records()) == [m.to for m in messages]
    assert len({r.provider_id for r in results}) == 40


@pytest.fixture
def tls_peer(tls_cert: tuple[Path, Path], whatsapp_peer: WhatsAppPeer) -> Iterator[tuple[str, str]]:
    """The peer's handler behind TLS with a self-signed certificate for 127.0.0.1: (base URL, CA file)."""
    cert_file, key_file = tls_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.peer = whatsapp_peer
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(cert_file)
    server.shutdown()
    server.server_close()


def test_https_is_spoken_with_certificate_checks(
    whatsapp_peer: WhatsAppPeer, tls_peer: tuple[str, str]
) -> None:
    base_url, ca_file = tls_peer
    config = {"base_url": base_url, "access_token": whatsapp_peer.token, "ca_file": ca_file}
    adapter = adapter_for("whatsapp", config, PHONE_NUMBER_ID)

    results = adapter.send_batch([_message(1), _message(2)], Recorder())

    assert all(r.committed and r.provider_id for r in results)
    assert len(whatsapp_peer.records()) == 2
    untrusted = adapter_for("whatsapp", {"base_url": base_url, "access_token": "t"}, PHONE_NUMBER_ID)
    with pytest.raises(GatewayUnavailable):
        untrusted.send_batch([_message(3)], Recorder())


# --- webhooks ----------------------------------------------------------------------------------------


def _post(payload: dict[str, Any] | bytes, signature_value: str | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return RequestFactory().post(
        "/hooks/messaging/tok/whatsapp/",
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature_value or signature(APP_SECRET, body)},
    )


def test_a_signed_text_reply_is_parsed() -> None:
    [event] = _adapter().parse_webhook(_post(load("webhook_text_message.json")))

    assert event.kind == InboundKind.REPLY
    assert event.sender == "+16505551234"
    assert event.body == "Does it come in another color?"
    assert event.provider_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert event.received_at == dt.datetime.fromtimestamp(1749416383, tz=dt.UTC)
    assert event.raw["profile_name"] == "Sheena Nelson"


@pytest.mark.parametrize(
    ("name", "body", "context"),
    [
        (
            "webhook_interactive_button_reply.json",
            "Change",
            "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNjZFNTlFNjNBQ0U3RTlGQjgA",
        ),
        (
            "webhook_interactive_list_reply.json",
            "Express Shipping",
            "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJCMjM4RDQ3MEI1QjA2RjU1RjEA",
        ),
        (
            "webhook_template_quick_reply_button.json",
            "Unsubscribe from Promos",
            "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI3MTE0MzAxMTdCRTcwQTNCMTIA",
        ),
    ],
)
def test_button_and_list_replies_are_parsed_with_the_message_they_answer(
    name: str, body: str, context: str
) -> None:
    [event] = _adapter().parse_webhook(_post(load(name)))
    assert event.kind == InboundKind.REPLY
    assert event.body == body
    assert event.raw["context"]["id"] == context


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("webhook_status_sent.json", ReceiptStatus.ACCEPTED),
        ("webhook_status_delivered.json", ReceiptStatus.DELIVERED),
        ("webhook_status_read.json", ReceiptStatus.DELIVERED),
        ("webhook_status_failed.json", ReceiptStatus.FAILED),
    ],
)
def test_statuses_are_parsed_into_receipts_for_our_message(name: str, status: ReceiptStatus) -> None:
    [event] = _adapter().parse_webhook(_post(load(name)))

    assert event.kind == InboundKind.RECEIPT
    assert event.receipt_status == status
    assert event.provider_id == "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    assert event.message_id == 4211
    assert event.sender == "+16505551234"
    assert (event.error == "131026 Message undeliverable: Message Undeliverable.") is (
        status == ReceiptStatus.FAILED
    )


def test_events_for_another_phone_number_are_ignored() -> None:
    adapter = adapter_for("whatsapp", {"access_token": "t", "app_secret": APP_SECRET}, "999999")
    assert adapter.parse_webhook(_post(load("webhook_text_message.json"))) == []


@pytest.mark.parametrize("bad", ["sha256=" + "0" * 64, "", "sha1=abc"])
def test_a_bad_signature_is_rejected(bad: str) -> None:
    body = json.dumps(load("webhook_text_message.json")).encode()
    request = RequestFactory().post(
        "/hooks/", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=bad
    )
    with pytest.raises(WebhookRejected):
        _adapter().parse_webhook(request)


def test_a_missing_signature_or_app_secret_is_rejected() -> None:
    body = json.dumps(load("webhook_text_message.json")).encode()
    unsigned = RequestFactory().post("/hooks/", data=body, content_type="application/json")
    with pytest.raises(WebhookRejected):
        _adapter().parse_webhook(unsigned)
    no_secret = adapter_for("whatsapp", {"access_token": "t"}, PHONE_NUMBER_ID)
    with pytest.raises(WebhookRejected):
        no_secret.parse_webhook(_post(load("webhook_text_message.json")))


def test_a_body_changed_after_signing_is_rejected() -> None:
    payload = load("webhook_text_message.json")
    good = signature(APP_SECRET, json.dumps(payload).encode())
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "BAJA"
    with pytest.raises(WebhookRejected):
        _adapter().parse_webhook(_post(payload, signature_value=good))


def test_the_subscription_check_echoes_the_challenge_for_the_right_token() -> None:
    adapter = _adapter()
    good = RequestFactory().get(
        "/hooks/", {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    assert adapter.verify_subscription(good) == "1158201444"
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ):
        with pytest.raises(WebhookRejected):
            adapter.verify_subscription(RequestFactory().get("/hooks/", params))


def test_a_get_is_not_an_event() -> None:
    with pytest.raises(WebhookRejected):
        _adapter().parse_webhook(RequestFactory().get("/hooks/"))


def test_other_objects_and_fields_give_no_events() -> None:
    assert _adapter().parse_webhook(_post({"object": "page", "entry": []})) == []
    payload = load("webhook_text_message.json")
    payload["entry"][0]["changes"][0]["field"] = "account_update"
    assert _adapter().parse_webhook(_post(payload)) == []


def test_connections_are_kept_between_batches_and_closed_on_request(whatsapp_peer: WhatsAppPeer) -> None:
    adapter = _adapter(whatsapp_peer, connections="2")
    adapter.send_batch([_message(1), _message(2)], Recorder())
    sender = adapter._sender
    assert sender is not None
    sockets = [connection._sock for connection in sender.ring]
    assert all(sockets)

    adapter.send_batch([_message(3), _message(4)], Recorder())

    assert [connection._sock for connection in sender.ring] == sockets  # the same connections
    adapter.close()
    assert adapter._sender is None
    assert len(whatsapp_peer.records()) == 4


class _RudeHandler(_Handler):
    """Closes every connection after its answer without saying so (as servers with short keep-alive do)."""

    def do_POST(self) -> None:
        super().do_POST()
        self.close_connection = True


def test_a_connection_the_server_dropped_between_batches_is_replaced(whatsapp_peer: WhatsAppPeer) -> None:
    server = _Server(("127.0.0.1", 0), _RudeHandler)
    server.peer = whatsapp_peer
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {
            "base_url": f"http://127.0.0.1:{server.server_address[1]}",
            "access_token": whatsapp_peer.token,
        }
        adapter = adapter_for("whatsapp", {**config, "connections": "1"}, PHONE_NUMBER_ID)
        results = []
        for number in (1, 2, 3):
            results += adapter.send_batch([_message(number)], Recorder())
            time.sleep(0.2)  # the server has closed the kept-alive connection by now
    finally:
        server.shutdown()
        server.server_close()

    assert all(r.committed and r.provider_id and not r.error for r in results)
    assert len(whatsapp_peer.records()) == 3


def test_a_signed_body_of_an_unknown_shape_gives_no_events() -> None:
    assert _adapter().parse_webhook(_post({"object": "whatsapp_business_account", "entry": ["odd"]})) == []
    assert _adapter().parse_webhook(_post(b"[1, 2]")) == []
