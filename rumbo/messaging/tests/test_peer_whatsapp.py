"""The WhatsApp Cloud API stand-in: shape checks, documented answers, signed webhooks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from rumbo.messaging.adapters.whatsapp import signature
from rumbo.messaging.peers.whatsapp import WhatsAppPeer, post_webhook, reply_payload, status_payload

from .conftest import Receiver


def _call(peer: WhatsAppPeer, body: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - the local peer
        f"{peer.base_url}/v23.0/123/messages",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token or peer.token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the local peer
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_well_formed_request_gets_the_documented_answer(whatsapp_peer: WhatsAppPeer) -> None:
    body = {"messaging_product": "whatsapp", "to": "+521", "type": "text", "text": {"body": "hola"}}
    status, answer = _call(whatsapp_peer, body)

    assert status == 200
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "+521", "wa_id": "521"}]
    assert answer["messages"][0]["id"].startswith("wamid.")
    assert whatsapp_peer.records()[0]["request"] == body


def test_bad_shapes_and_tokens_get_documented_errors(whatsapp_peer: WhatsAppPeer) -> None:
    status, answer = _call(whatsapp_peer, {"to": "+521", "type": "text", "text": {"body": "x"}})
    assert (status, answer["error"]["code"]) == (400, 100)
    status, answer = _call(whatsapp_peer, {"messaging_product": "whatsapp", "to": "+521", "type": "text"})
    assert (status, answer["error"]["code"]) == (400, 100)
    status, answer = _call(whatsapp_peer, {"messaging_product": "whatsapp"}, token="nope")
    assert (status, answer["error"]["code"]) == (401, 190)
    whatsapp_peer.errors_for["+529"] = 131026
    status, answer = _call(
        whatsapp_peer, {"messaging_product": "whatsapp", "to": "+529", "text": {"body": "x"}}
    )
    assert (status, answer["error"]["code"]) == (400, 131026)
    assert whatsapp_peer.records() == []


def test_webhooks_are_posted_signed(http_receiver: Receiver) -> None:
    payload = reply_payload(
        phone_number_id="123", sender="+5215512345678", text="SI", wamid="wamid.X", context_id="wamid.Y"
    )
    status, _ = post_webhook(f"{http_receiver.url}/hook", payload, app_secret="s")

    [call] = http_receiver.calls
    assert status == 200
    assert call["headers"]["X-Hub-Signature-256"] == signature("s", call["body"])
    message = json.loads(call["body"])["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["from"] == "5215512345678"
    assert message["context"]["id"] == "wamid.Y"


def test_status_payloads_carry_errors_and_callback_data() -> None:
    payload = status_payload(
        phone_number_id="123",
        wamid="wamid.Z",
        status="failed",
        recipient="+521",
        callback_data="rumbo:9",
        error_code=131026,
    )
    item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert item["biz_opaque_callback_data"] == "rumbo:9"
    assert item["errors"][0]["code"] == 131026
