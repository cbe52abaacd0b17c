"""A local stand-in for the WhatsApp Cloud API: its send endpoint, its answers and its signed webhooks.

``POST /{version}/{phone_number_id}/messages`` checks the bearer token and the documented JSON shape, records
each accepted request durably (a JSON line, written and flushed before the answer) and answers with the
documented success payload — or with a documented error payload on demand (``fail_next(code)``, or always
for a recipient in ``errors_for``). ``post_webhook`` sends a payload to a URL signed the way Meta signs it
(``X-Hub-Signature-256``); ``reply_payload`` and ``status_payload`` build the documented webhook bodies.

    with WhatsAppPeer(out=tmp_path / "wa.jsonl") as peer:
        config = {"base_url": peer.base_url, "access_token": peer.token, ...}

This module imports no Django.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any

# Documented error payloads (Cloud API "Error codes"), by code: (HTTP status, type, message, details).
ERRORS: dict[int, tuple[int, str, str, str]] = {
    100: (400, "OAuthException", "(#100) Invalid parameter", "Invalid parameter"),
    190: (401, "OAuthException", "Error validating access token: Session has expired", ""),
    130429: (
        400,
        "OAuthException",
        "(#130429) Rate limit hit",
        "Cloud API message throughput has been reached.",
    ),
    131000: (500, "OAuthException", "(#131000) Something went wrong", "Something went wrong"),
    131026: (
        400,
        "OAuthException",
        "(#131026) Message Undeliverable",
        "Message failed to send because of an unknown error with the recipient's phone number.",
    ),
    131030: (
        400,
        "OAuthException",
        "(#131030) Recipient phone number not in allowed list",
        "Recipient phone number not in allowed list: "
        "Add recipient phone number to recipient list and try again.",
    ),
    131047: (
        400,
        "OAuthException",
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied.",
    ),
}

_PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)/messages$")


def error_payload(code: int, *, fbtrace_id: str = "AbCdEfGhIjKlMnOpQrStUvW") -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of the documented error answer for ``code``."""
    status, kind, message, details = ERRORS[code]
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": fbtrace_id}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if code == 190:
        error["error_subcode"] = 463
    return status, {"error": error}


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _wrap(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def reply_payload(
    *,
    phone_number_id: str,
    sender: str,
    text: str,
    wamid: str,
    name: str = "",
    context_id: str = "",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A documented "messages" webhook for a text a person sent (``context_id``: the wamid it answers)."""
    wa_id = sender.lstrip("+")
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(timestamp or int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    if context_id:
        message["context"] = {"from": "15550783881", "id": context_id}
    contacts = [{"profile": {"name": name or "WhatsApp user"}, "wa_id": wa_id}]
    return _wrap(phone_number_id, {"contacts": contacts, "messages": [message]})


def status_payload(
    *,
    phone_number_id: str,
    wamid: str,
    status: str,
    recipient: str,
    callback_data: str = "",
    error_code: int | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A documented status webhook (sent, delivered, read, failed) about a message we sent."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp or int(time.time())),
        "recipient_id": recipient.lstrip("+"),
    }
    if callback_data:
        item["biz_opaque_callback_data"] = callback_data
    if error_code is not None:
        _, _, message, details = ERRORS.get(error_code, (0, "", f"({error_code})", ""))
        title = message.split(") ", 1)[-1]
        item["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": details or title},
            }
        ]
    return _wrap(phone_number_id, {"statuses": [item]})


def post_webhook(
    url: str, payload: dict[str, Any] | bytes, *, app_secret: str, signature_value: str | None = None
) -> tuple[int, bytes]:
    """POST a webhook body to ``url`` signed with ``app_secret`` (or with ``signature_value`` as given)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    headers["X-Hub-Signature-256"] = (
        signature(app_secret, body) if signature_value is None else signature_value
    )
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local test URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    peer: WhatsAppPeer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the adapter expects
    server: _Server

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        peer = self.server.peer
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        match = _PATH.match(self.path)
        if match is None:
            self._answer(400, error_payload(100)[1])
            return
        if self.headers.get("Authorization", "") != f"Bearer {peer.token}":
            status, payload = error_payload(190)
            self._answer(status, payload)
            return
        try:
            data = json.loads(raw)
        except ValueError:
            self._answer(400, error_payload(100)[1])
            return
        problem = _shape_problem(data)
        if problem:
            status, payload = error_payload(100)
            payload["error"]["error_data"] = {"messaging_product": "whatsapp", "details": problem}
            self._answer(status, payload)
            return
        code = peer.forced_error(str(data["to"]))
        if code is not None:
            status, payload = error_payload(code)
            self._answer(status, payload)
            return
        wamid = peer.record(match.group(1), match.group(2), data)
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": data["to"], "wa_id": str(data["to"]).lstrip("+")}],
            "messages": [{"id": wamid}],
        }
        if data.get("type") == "template":
            answer["messages"][0]["message_status"] = "accepted"
        self._answer(200, answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _shape_problem(data: Any) -> str:
    """What is wrong with a send request's JSON (empty when it has the documented shape)."""
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    if data.get("messaging_product") != "whatsapp":
        return "messaging_product must be 'whatsapp'"
    if data.get("recipient_type", "individual") != "individual":
        return "recipient_type must be 'individual'"
    if not isinstance(data.get("to"), str) or not data["to"]:
        return "to is required"
    kind = data.get("type", "text")
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
            return "text.body is required"
        if len(text["body"]) > 4096:
            return "text.body is longer than 4096 characters"
    elif kind == "template":
        template = data.get("template")
        if not isinstance(template, dict) or not template.get("name"):
            return "template.name is required"
        if not isinstance(template.get("language"), dict) or not template["language"].get("code"):
            return "template.language.code is required"
    else:
        return f"type {kind!r} is not supported by this peer"
    return ""


class WhatsAppPeer:
    """The Cloud API stand-in, served from a thread: ``base_url``, ``token``, ``records()``."""

    def __init__(
        self,
        *,
        out: Path | None = None,
        token: str = "peer-access-token",  # noqa: S107 - a local test server
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.out = Path(out) if out else Path(tempfile.mkdtemp(prefix="rumbo-wa-")) / "whatsapp.jsonl"
        self.token = token
        self.host = host
        self.requested_port = port
        self.errors_for: dict[str, int] = {}
        self._forced: deque[int] = deque()
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._file: IO[bytes] | None = None
        self._server: _Server | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def fail_next(self, code: int, times: int = 1) -> None:
        """Answer the next ``times`` send requests with the documented error ``code``."""
        with self._lock:
            self._forced.extend([code] * times)

    def forced_error(self, to: str) -> int | None:
        with self._lock:
            if self._forced:
                return self._forced.popleft()
        return self.errors_for.get(to)

    def record(self, version: str, phone_number_id: str, data: dict[str, Any]) -> str:
        """Store an accepted request (flushed before the answer) and return its new wamid."""
        with self._lock:
            number = next(self._counter)
            wamid = "wamid." + base64.b64encode(f"rumbo-peer-{phone_number_id}-{number}".encode()).decode()
            line = {"wamid": wamid, "version": version, "phone_number_id": phone_number_id, "request": data}
            assert self._file is not None
            self._file.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
            self._file.flush()
        return wamid

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        with self.out.open("rb") as fh:
            return [json.loads(line) for line in fh if line.endswith(b"\n")]

    def start(self) -> WhatsAppPeer:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.out.open("ab")
        server = _Server((self.host, self.requested_port), _Handler)
        server.peer = self
        self._server = server
        threading.Thread(target=server.serve_forever, name="whatsapp-peer", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> WhatsAppPeer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
