"""Email through SMTP, with Django's email machinery and the exactly-once rule of ``base.py``.

Each message is built by ``django.core.mail.EmailMessage`` (From = the channel's sender, plain text, UTF-8, a
``Message-ID`` derived from the idempotency key, so the same outbox row always produces the same email) and
sent over one connection per batch opened by Django's SMTP backend (host, port, login, STARTTLS or implicit
TLS, timeout). The transfer itself goes one level below ``smtplib.sendmail``: MAIL, RCPT, DATA → 354, the
dot-stuffed body *without* the final ``.``, then ``commit()``, which sends the ``.`` right after the mark,
then the server's verdict.

Aborting an unfinished DATA: once the server said 354, every line up to ``<CRLF>.<CRLF>`` is message text (an
``RSET`` would become part of the body), so the only way to withdraw a message is to close the connection;
the server then discards the incomplete message (RFC 5321 §3.8). The batch continues on a new connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from functools import partial
from typing import ClassVar

from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from rumbo.messaging.adapters import GatewayUnavailable
from rumbo.messaging.adapters._config import ConfigField, config_bool, config_float, config_int, config_str
from rumbo.messaging.adapters._http import connection_unusable
from rumbo.messaging.adapters.base import (
    CommitHook,
    InboundEvent,
    LastPiece,
    OutboundMessage,
    SendResult,
    WebhookRejected,
)
from rumbo.messaging.models import ChannelKind

logger = logging.getLogger(__name__)

CRLF = b"\r\n"
_EOLS = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_SENDER_DOMAIN = re.compile(r"@([A-Za-z0-9.-]+)>?\s*$")
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_MAX_PROVIDER_ID = 120  # Message.provider_id max_length


def message_id_header(idempotency_key: str, sender: str) -> str:
    """The ``Message-ID`` of the email for an outbox row: the same key always gives the same id.

    Hashing keeps it a valid dot-atom whatever characters the key has; the domain is the sender's.
    """
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    match = _SENDER_DOMAIN.search(sender)
    domain = match.group(1).lower() if match else "rumbo.invalid"
    return f"<{digest}.rumbo@{domain}>"


def dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled (RFC 5321 §4.5.2), no final dot."""
    data = _LEADING_DOT.sub(b"..", _EOLS.sub(CRLF, data))
    return data if data.endswith(CRLF) else data + CRLF


class _Refused(Exception):
    """The server answered a command with an error code (per-message failure, before the commit)."""

    def __init__(self, command: str, code: int, reply: bytes) -> None:
        self.code = code
        self.in_data_mode = False  # the server said 354 to DATA all the same
        text = reply.decode("utf-8", "replace").strip()
        super().__init__(f"SMTP {command} refused: {code} {text}")


class BatchBackend(EmailBackend):
    """Django's SMTP backend, used to open (and close) the batch's connection with the channel settings."""

    ca_file: str = ""

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        # Django's default context, or one that also trusts the channel's own CA (a private mail relay).
        if self.ca_file and not (self.ssl_certfile or self.ssl_keyfile):
            return ssl.create_default_context(cafile=self.ca_file)
        context: ssl.SSLContext = super().ssl_context  # type: ignore[misc]  # not in django-stubs
        return context

    def open(self) -> bool | None:
        opened = super().open()
        if opened and self.connection is not None and self.connection.sock is not None:
            # The final "." goes out as its own small write after the commit: without TCP_NODELAY, Nagle's
            # algorithm holds it back until the server's delayed ACK (~40 ms per message).
            self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return opened

    def abort(self) -> None:
        """Drop the connection without QUIT (a QUIT in the middle of DATA would be message text)."""
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
        self.connection = None


class SmtpAdapter:
    """Sends email through an SMTP server, one connection per batch. Email has no inbound webhook."""

    kind: ClassVar[ChannelKind] = ChannelKind.EMAIL
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("host", _("SMTP server"), required=True),
        ConfigField("port", _("port"), default="587", number=int, minimum=1, maximum=65535),
        ConfigField("username", _("user name")),
        ConfigField("password", _("password"), secret=True),
        ConfigField("use_tls", _("STARTTLS (yes/no)"), default="yes"),
        ConfigField("use_ssl", _("implicit TLS (yes/no)"), default="no"),
        ConfigField("timeout", _("timeout (seconds)"), default="20", number=float, minimum=0.1, maximum=600),
        ConfigField("ca_file", _("CA certificate file (optional)")),
    )

    def __init__(self, config: Mapping[str, str], sender: str) -> None:
        self.sender = sender
        self.host = config_str(config, "host", "localhost")
        self.port = config_int(config, "port", 25)
        self.username = config_str(config, "username")
        self.password = config_str(config, "password")
        self.use_tls = config_bool(config, "use_tls")
        self.use_ssl = config_bool(config, "use_ssl")
        self.timeout = config_float(config, "timeout", 20.0)
        self.ca_file = config_str(config, "ca_file")
        self._envelope_from: str | None = None

    # --- building ---------------------------------------------------------------------------------
    def build(self, message: OutboundMessage) -> tuple[str, str, bytes, str]:
        """(envelope sender, recipient, DATA payload, Message-ID) for one message. Raises ValueError."""
        message_id = message_id_header(message.idempotency_key, self.sender)
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=self.sender,
            to=[message.to],
            headers={"Message-ID": message_id, "Content-Language": message.language},
        )
        email.encoding = "utf-8"
        if self._envelope_from is None:  # the same for every message: parsed once
            self._envelope_from = sanitize_address(self.sender, email.encoding)
        # A plain ASCII address needs no parsing (the common case, and the parser is slow).
        recipient = message.to
        if not _PLAIN_ADDRESS.fullmatch(recipient):
            recipient = sanitize_address(recipient, email.encoding)
        data = email.message().as_bytes(linesep="\r\n")
        return self._envelope_from, recipient, dot_stuffed(data), message_id

    def _backend(self) -> BatchBackend:
        backend = BatchBackend(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            use_ssl=self.use_ssl,
            timeout=self.timeout,
            fail_silently=False,
        )
        backend.ca_file = self.ca_file
        return backend

    # --- sending ----------------------------------------------------------------------------------
    def send_batch(self, messages: Sequence[OutboundMessage], commit: CommitHook) -> list[SendResult]:
        results: list[SendResult] = []
        if not messages:
            return results
        backend = self._backend()
        try:
            backend.open()
        except (OSError, smtplib.SMTPException) as exc:
            # Nothing was sent: the whole batch stays claimable and is retried later.
            raise GatewayUnavailable(f"SMTP {self.host}:{self.port}: {exc}") from exc
        try:
            for index, message in enumerate(messages):
                if backend.connection is None:
                    try:
                        backend.open()
                    except (OSError, smtplib.SMTPException) as exc:
                        results.extend(_temporary(messages[index:], f"SMTP connection failed: {exc}"))
                        break
                try:
                    results.append(self._send_one(backend, message, commit))
                except (OSError, smtplib.SMTPException) as exc:
                    # The connection broke before the commit: this message and the rest are retried later.
                    backend.abort()
                    results.extend(_temporary(messages[index:], f"SMTP connection lost: {exc}"))
                    break
        except BaseException:
            backend.abort()  # e.g. commit() raised: never leave a half message that could complete
            raise
        else:
            if backend.connection is not None:
                backend.close()
        return results

    def _send_one(self, backend: BatchBackend, message: OutboundMessage, commit: CommitHook) -> SendResult:
        connection = backend.connection
        assert connection is not None
        try:
            envelope_from, recipient, payload, message_id = self.build(message)
        except ValueError as exc:
            return SendResult(message.message_id, committed=False, error=str(exc), permanent=True)
        provider_id = message_id.strip("<>")[:_MAX_PROVIDER_ID]

        connection.ehlo_or_helo_if_needed()
        options: list[str] = []
        if connection.has_extn("8bitmime") and not payload.isascii():
            options.append("BODY=8BITMIME")
        refusal = self._envelope(connection, envelope_from, recipient, options)
        if refusal is not None:
            if refusal.in_data_mode:
                # DATA was accepted although MAIL or RCPT was refused (a pipelining server may do that):
                # the server is reading message text now, and only closing the connection gets out of it.
                backend.abort()
            elif refusal.code == 421:  # the server is closing the connection
                raise smtplib.SMTPServerDisconnected(str(refusal))
            else:
                connection.rset()
            return SendResult(
                message.message_id, committed=False, error=str(refusal), permanent=500 <= refusal.code < 600
            )

        connection.send(payload)  # everything but the final "."
        if not _still_open(connection):
            raise smtplib.SMTPServerDisconnected("the server closed the connection during DATA")
        final_dot = LastPiece(partial(connection.send, b"." + CRLF), (OSError, smtplib.SMTPException))
        if not commit(message, provider_id, final_dot):
            # Another worker owns the message now: withdraw this copy by closing mid-DATA.
            backend.abort()
            return SendResult(message.message_id, committed=False, error="taken over by another worker")

        # Committed: from here on the row says "sent" and a retry would risk a duplicate.
        if final_dot.error is not None:
            # The final dot never left: the server drops the incomplete message, so a retry is safe.
            backend.abort()
            error = f"SMTP connection lost before the final dot: {final_dot.error}"
            return SendResult(message.message_id, committed=True, provider_id=provider_id, error=error)
        try:
            code, reply = connection.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            backend.abort()
            logger.warning("SMTP outcome unknown for message %s after commit: %s", message.message_id, exc)
            return SendResult(message.message_id, committed=True, provider_id=provider_id)
        if code == 250:
            return SendResult(message.message_id, committed=True, provider_id=provider_id)
        # The server refused the complete message: nothing was accepted, the verdict is definite.
        text = reply.decode("utf-8", "replace").strip()
        return SendResult(
            message.message_id,
            committed=True,
            provider_id=provider_id,
            error=f"SMTP message refused: {code} {text}",
            permanent=500 <= code < 600,
        )

    @staticmethod
    def _envelope(
        connection: smtplib.SMTP, envelope_from: str, recipient: str, options: list[str]
    ) -> _Refused | None:
        """MAIL, RCPT and DATA; None once the server answered 354, else the first refusal.

        With PIPELINING (RFC 2920) the three commands go out in one write and their replies are read
        together: two round trips per message instead of four.
        """
        commands = [
            ("MAIL", f"MAIL FROM:{smtplib.quoteaddr(envelope_from)}" + "".join(f" {o}" for o in options)),
            ("RCPT", f"RCPT TO:{smtplib.quoteaddr(recipient)}"),
            ("DATA", "DATA"),
        ]
        expected = {"MAIL": (250,), "RCPT": (250, 251), "DATA": (354,)}
        if connection.has_extn("pipelining"):
            connection.send("".join(f"{line}\r\n" for _, line in commands))
            replies = [(name, *connection.getreply()) for name, _ in commands]
        else:
            replies = []
            for name, line in commands:
                connection.send(f"{line}\r\n")
                code, reply = connection.getreply()
                replies.append((name, code, reply))
                if code not in expected[name]:
                    break
        first_refusal = next(
            (_Refused(name, code, reply) for name, code, reply in replies if code not in expected[name]), None
        )
        if first_refusal is not None and replies[-1][0] == "DATA" and replies[-1][1] == 354:
            first_refusal.in_data_mode = True  # the caller must drop the connection
        return first_refusal

    def parse_webhook(self, request: HttpRequest) -> list[InboundEvent]:
        raise WebhookRejected("email channels receive no webhooks")


def _still_open(connection: smtplib.SMTP) -> bool:
    """False when the server closed, reset or answered early (a 421) during DATA; checked before commit."""
    return connection.sock is not None and not connection_unusable(connection.sock, connection.timeout)


def _temporary(messages: Sequence[OutboundMessage], error: str) -> list[SendResult]:
    return [SendResult(m.message_id, committed=False, error=error) for m in messages]
