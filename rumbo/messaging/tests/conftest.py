"""Fixtures for the messaging tests: the real local gateway peers.

- ``smtp_peer``: an aiosmtpd SMTP server in a thread, recording every accepted message (with its content).
- ``kannel``: a real Kannel (bearerbox + smsbox) with fakesmsc as the SMS centre, one per test process. It
  skips when Kannel is not installed — unless ``RUMBO_REQUIRE_KANNEL`` is set (``bin/test`` sets it), where a
  missing Kannel fails the run instead of hiding the gateway tests.
- ``whatsapp_peer``: the WhatsApp Cloud API stand-in in a thread.
- ``http_receiver``: a tiny HTTP server recording the calls it gets (a stand-in for Rumbo's webhook URL).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rumbo.messaging.peers.kannel import KannelPeer, binaries_present
from rumbo.messaging.peers.smtp import SmtpPeer
from rumbo.messaging.peers.whatsapp import WhatsAppPeer


@pytest.fixture
def smtp_peer(tmp_path: Path) -> Iterator[SmtpPeer]:
    with SmtpPeer(out=tmp_path / "smtp.jsonl", keep_content=True) as peer:
        yield peer


@pytest.fixture(scope="session")
def _kannel_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelPeer]:
    if not binaries_present():
        if os.environ.get("RUMBO_REQUIRE_KANNEL"):
            pytest.fail(
                "RUMBO_REQUIRE_KANNEL is set but Kannel is not installed (apt-get install kannel kannel-extras)"
            )
        pytest.skip("Kannel is not installed (apt-get install kannel kannel-extras)")
    peer = KannelPeer(workdir=tmp_path_factory.mktemp("kannel"))
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture
def kannel(_kannel_gateway: KannelPeer) -> Iterator[KannelPeer]:
    """The running Kannel; replies go nowhere until a test sets ``kannel.mo_target``."""
    _kannel_gateway.mo_target = ""
    yield _kannel_gateway
    _kannel_gateway.mo_target = ""


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA): (certificate file, key file)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture
def whatsapp_peer(tmp_path: Path) -> Iterator[WhatsAppPeer]:
    with WhatsAppPeer(out=tmp_path / "whatsapp.jsonl") as peer:
        yield peer


@dataclass
class Receiver:
    """What an ``http_receiver`` got: one entry per request (method, path with query, headers, body)."""

    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.02)
        with self._lock:
            return list(self.calls)


@pytest.fixture
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with receiver._lock:
                receiver.calls.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _record

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
