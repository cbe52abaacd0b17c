"""A keep-alive HTTP/1.1 client that can hold back a request's last byte (the exactly-once rule over HTTP).

``urllib``/``requests`` send a request in one go; the exactly-once rule (see ``base.py``) needs the gateway
to have everything *except* the last byte when the outbox row is marked sent. An HTTP server only acts on a
request once it is complete (the blank line ending the header block, then ``Content-Length`` bytes of body),
so a request missing its last byte is harmless: if the worker dies, the kernel closes the socket and the
gateway drops the half request. Responses are parsed by the standard library's ``http.client.HTTPResponse``
(status line, headers, ``Content-Length`` or chunked bodies).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import select
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from rumbo.messaging.adapters import GatewayUnavailable
from rumbo.messaging.adapters.base import CommitHook, LastPiece, OutboundMessage, SendResult

logger = logging.getLogger(__name__)


def connection_unusable(sock: socket.socket, timeout: float | None) -> bool:
    """True when the peer has closed, reset or spoken on a connection where it should be silent.

    Checked before reusing an idle keep-alive connection and again just before ``commit()``: bytes written
    into a connection the server already closed would be lost *after* the row says sent.
    """
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
        return False
    # Something arrived: EOF, a reset, an early reply, or (TLS 1.3) a session ticket, which the TLS layer
    # consumes without yielding data. Read without blocking to tell them apart.
    sock.setblocking(False)
    try:
        if isinstance(sock, ssl.SSLSocket):
            sock.recv(1)
        else:
            sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)
    # EOF, or bytes the server should not have sent at this point: either way, do not use it.
    return True


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


class HeldBackConnection:
    """One HTTP/1.1 connection to ``base_url``'s host, reused for a batch while the server keeps it open."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, verify_tls: bool = True, ca_file: str = ""
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.base_path = parts.path.rstrip("/")
        default_port = 443 if self.tls else 80
        self.host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.ca_file = ca_file
        self._sock: socket.socket | None = None
        self._pending_last: bytes = b""

    # --- connection ------------------------------------------------------------------------------
    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            context = ssl.create_default_context(cafile=self.ca_file or None)
            if not self.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=self.host)
        return sock

    def _peer_closed(self, sock: socket.socket) -> bool:
        return connection_unusable(sock, self.timeout)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._pending_last = b""

    # --- one request -----------------------------------------------------------------------------
    def begin(self, request: bytes) -> None:
        """Send ``request`` except its last byte (connecting or reconnecting as needed). Raises OSError."""
        if self._sock is not None and self._peer_closed(self._sock):
            self.close()
        if self._sock is None:
            self._sock = self._connect()
        self._sock.sendall(request[:-1])
        self._pending_last = request[-1:]

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def still_open(self) -> bool:
        """Whether the connection still looks usable (checked just before ``commit()``)."""
        return self._sock is not None and not self._peer_closed(self._sock)

    def send_last(self) -> None:
        """Send the held-back byte: the request is complete and the gateway acts on it. Raises OSError."""
        assert self._sock is not None
        self._sock.sendall(self._pending_last)
        self._pending_last = b""

    def read_response(self, method: str) -> Response:
        """Read the answer to the completed request. Raises OSError / http.client.HTTPException."""
        assert self._sock is not None
        response = http.client.HTTPResponse(self._sock, method=method)
        try:
            response.begin()
            body = response.read()
        finally:
            response.close()
        headers = {name.lower(): value for name, value in response.getheaders()}
        if response.will_close:
            self.close()
        return Response(status=response.status, headers=headers, body=body)

    def abort(self) -> None:
        """Drop the half-sent request: closing the connection is the only way to withdraw it."""
        self.close()

    # --- building requests -----------------------------------------------------------------------
    def build(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> bytes:
        lines = [f"{method} {self.base_path}{path} HTTP/1.1", f"Host: {self.host_header}"]
        all_headers = {"User-Agent": "Rumbo", "Connection": "keep-alive", **(headers or {})}
        if body or method in {"POST", "PUT"}:
            all_headers["Content-Length"] = str(len(body))
        lines.extend(f"{name}: {value}" for name, value in all_headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class HttpGateway:
    """What an HTTP adapter supplies to ``HttpSender``."""

    name: str  # for error messages and logs, e.g. "Kannel"
    base_url: str
    method: str
    # The request for a message, or a SendResult when the message cannot be sent at all (bad number …).
    prepare: Callable[[OutboundMessage], bytes | SendResult]
    # The provider id passed to commit() (known before the answer, or "").
    provider_id: Callable[[OutboundMessage], str]
    # The result from the gateway's answer (called only for committed messages).
    interpret: Callable[[OutboundMessage, str, Response], SendResult]
    timeout: float = 10.0
    connections: int = 4
    verify_tls: bool = True
    ca_file: str = ""


class HttpSender:
    """Sends over a few keep-alive connections kept open between batches (closed by ``close()``).

    For each message: the request minus its last byte, then ``commit()``, which sends the last byte the moment
    the mark is durable — then on to the
    next message on the next connection, reading a connection's answer only when it is needed again (or at
    the end of the batch). The gap between the commit and the final byte, where a crash would lose the
    message, stays as short as in a one-connection loop, while the gateway's answer time is spread over
    several connections (Kannel answers sendsms only after its bearerbox acknowledged the message, and that
    acknowledgement can wait ~40 ms behind delivery reports on the box connection; the Cloud API answers
    from the other side of the internet).
    """

    def __init__(self, gateway: HttpGateway) -> None:
        self.gateway = gateway
        self.ring = [
            HeldBackConnection(
                gateway.base_url,
                timeout=gateway.timeout,
                verify_tls=gateway.verify_tls,
                ca_file=gateway.ca_file,
            )
            for _ in range(max(1, gateway.connections))
        ]

    def close(self) -> None:
        for connection in self.ring:
            connection.close()

    def build(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> bytes:
        """A request for this gateway (same host for every connection of the ring)."""
        return self.ring[0].build(method, path, headers=headers, body=body)

    def send(self, messages: Sequence[OutboundMessage], commit: CommitHook) -> list[SendResult]:
        gateway, ring = self.gateway, self.ring
        count = len(ring)
        awaiting: list[tuple[int, OutboundMessage, str] | None] = [None] * count
        results: dict[int, SendResult] = {}
        reached = False

        def collect(slot: int) -> None:
            entry = awaiting[slot]
            if entry is None:
                return
            awaiting[slot] = None
            index, message, provider_id = entry
            try:
                response = ring[slot].read_response(gateway.method)
            except (OSError, http.client.HTTPException) as exc:
                ring[slot].abort()
                # Committed and complete: the gateway may have it. The row says sent; a retry could duplicate.
                logger.warning("%s outcome unknown for message %s: %s", gateway.name, message.message_id, exc)
                results[index] = SendResult(message.message_id, committed=True, provider_id=provider_id)
            else:
                results[index] = gateway.interpret(message, provider_id, response)

        try:
            for index, message in enumerate(messages):
                slot = index % count
                collect(slot)
                prepared = gateway.prepare(message)
                if isinstance(prepared, SendResult):
                    results[index] = prepared
                    continue
                connection = ring[slot]
                try:
                    _begin(connection, prepared)
                except OSError as exc:
                    connection.abort()
                    if not reached:
                        raise GatewayUnavailable(f"{gateway.name} {gateway.base_url}: {exc}") from exc
                    error = f"{gateway.name} connection failed: {exc}"
                    for later in range(index, len(messages)):
                        results[later] = SendResult(messages[later].message_id, committed=False, error=error)
                    break
                reached = True
                provider_id = gateway.provider_id(message)
                last_byte = LastPiece(connection.send_last)
                if not commit(message, provider_id, last_byte):
                    connection.abort()
                    results[index] = SendResult(
                        message.message_id, committed=False, error="taken over by another worker"
                    )
                    continue
                if last_byte.error is not None:
                    # The last byte did not leave: the gateway holds an incomplete request it will drop, so
                    # the whole request can go again on a new connection without risk of a duplicate.
                    connection.abort()
                    try:
                        connection.begin(prepared)
                        connection.send_last()
                    except OSError as exc:
                        connection.abort()
                        # Committed, yet certainly not received complete: retryable without a duplicate.
                        error = f"{gateway.name} connection failed before the request was complete: {exc}"
                        results[index] = SendResult(
                            message.message_id, committed=True, provider_id=provider_id, error=error
                        )
                        continue
                awaiting[slot] = (index, message, provider_id)
            for slot in range(count):
                collect(slot)
        except BaseException:
            for connection in ring:
                connection.abort()
            raise
        return [results[index] for index in range(len(messages))]


def _begin(connection: HeldBackConnection, request: bytes) -> None:
    """All of ``request`` but its last byte, on a connection known to be alive just before the commit.

    A kept-alive connection the server has meanwhile closed is replaced by a fresh one (once); a fresh
    connection that fails raises OSError.
    """
    reused = connection.is_open
    try:
        connection.begin(request)
    except OSError:
        if not reused:
            raise
        connection.abort()
        connection.begin(request)
    if not connection.still_open():
        connection.abort()
        connection.begin(request)
