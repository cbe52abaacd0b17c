"""A local SMTP server (aiosmtpd) recording every message it accepts: for tests, crash tests, benchmarks.

Each accepted message is appended to ``out`` as one JSON line — ``{"message_id": ..., "to": [...], "from":
..., "bytes": n, "t": unix_time}`` — written and flushed *before* the server answers 250, so the file is the
truth about what was accepted, even if the sending worker is killed. Count deliveries per Message-ID with
``deliveries(path)``.

Recipients whose local part starts with ``bounce`` are refused with 550 (no such mailbox), those starting
with ``tempfail`` with 451, those starting with ``flaky`` with 451 the first time only (accepted when
retried), and ``disconnect…`` makes the server answer 421 and close the connection, so tests can exercise
each kind of failure.

In a test (a thread)::

    with SmtpPeer(out=tmp_path / "smtp.jsonl") as peer:
        ... send to 127.0.0.1:peer.port ...
        assert peer.deliveries()[message_id] == 1

As a process (crash tests and benchmarks; prints ``READY <host> <port>`` once listening, stops on SIGTERM)::

    python -m rumbo.messaging.peers.smtp --port 2525 --out /tmp/smtp.jsonl

This module imports no Django: it runs on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


def _message_id(content: bytes) -> str:
    header_end = content.find(b"\r\n\r\n")
    headers = content if header_end < 0 else content[:header_end]
    match = _MESSAGE_ID.search(headers)
    return match.group(1).decode("ascii", "replace").strip() if match else ""


class RecordingHandler:
    """aiosmtpd handler: refuses ``bounce*``/``tempfail*`` recipients (``flaky*`` once), records every
    accepted message."""

    def __init__(self, out: Path, *, fsync: bool = False, keep_content: bool = False) -> None:
        self.out = Path(out)
        self._keep_content = keep_content
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(self.out, "ab")  # noqa: SIM115 - kept open for the server's life
        self._fsync = fsync
        self.accepted = 0
        self._refused_once: set[str] = set()  # the ``flaky*`` addresses already answered 451

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads commands one line at a time, so pipelined commands (RFC 2920) are safe; saying so
        # lets clients send MAIL, RCPT and DATA in one write, as they do with Postfix or Exim.
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local = address.split("@", 1)[0].lower()
        if local.startswith("bounce"):
            return f"550 5.1.1 <{address}>: recipient address rejected: no such mailbox"
        if local.startswith("tempfail"):
            return "451 4.3.0 temporary failure, try again later"
        if local.startswith("flaky") and address.lower() not in self._refused_once:
            self._refused_once.add(address.lower())
            return "451 4.3.0 temporary failure, try again later"
        if local.startswith("disconnect"):
            # The server goes away in the middle of a session (a restart, a crash).
            assert server.transport is not None
            server.loop.call_soon(server.transport.close)
            return "421 4.3.2 service shutting down"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        record = {
            "message_id": _message_id(content),
            "to": envelope.rcpt_tos,
            "from": envelope.mail_from,
            "bytes": len(content),
            "t": round(time.time(), 4),
        }
        if self._keep_content:
            record["content"] = content.decode("utf-8", "surrogateescape")
        # Recorded before the 250: a message counted here is one the client was told was accepted.
        self._file.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self.accepted += 1
        return "250 2.0.0 OK: queued"

    def close(self) -> None:
        self._file.close()


def read_records(out: Path) -> list[dict[str, Any]]:
    """Every message the peer accepted, in order."""
    path = Path(out)
    if not path.exists():
        return []
    with path.open("rb") as fh:
        return [json.loads(line) for line in fh if line.endswith(b"\n")]


def deliveries(out: Path) -> Counter[str]:
    """How many times each Message-ID was accepted (a correct sender never reaches 2)."""
    return Counter(record["message_id"] for record in read_records(out))


def _quiet() -> None:
    # aiosmtpd logs every command at INFO: at thousands of messages a second that is most of the work.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


class DrainingSMTP(SMTP):
    """aiosmtpd's session, except that it reads what the client sent before noticing it went away.

    aiosmtpd cancels the session the moment the client's EOF (or reset) arrives, even when the complete
    message — final dot included — is already in its buffer. An MTA such as Postfix reads its input in order
    and queues a complete message before it would notice the client is gone; a worker killed right after
    sending the final dot must find its message delivered, as it would be by such an MTA. So the session
    here drains its buffer first and ends when it runs out of input.
    """

    def eof_received(self) -> bool | None:
        self._reader.feed_eof()
        return False  # the transport closes; connection_lost follows

    def connection_lost(self, error: Exception | None) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        if self._original_transport is not None:
            self._original_transport.close()
        # As StreamReaderProtocol, but a reset only ends the input: the buffered lines are still read.
        asyncio.StreamReaderProtocol.connection_lost(self, None)

    async def _handle_client(self) -> None:
        try:
            await super()._handle_client()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client is gone and everything it sent has been read
        finally:
            self.transport = None

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, asyncio.IncompleteReadError | ConnectionError):
            return "421 4.4.2 connection lost"  # push() then finds the client gone and ends the session
        status: str = await super().handle_exception(error)
        return status

    async def push(self, status: AnyStr) -> None:
        if self._reader.at_eof() and not self._reader._buffer:  # type: ignore[attr-defined]
            raise ConnectionResetError("the client is gone")
        await super().push(status)


def _server_factory(
    handler: RecordingHandler, loop: asyncio.AbstractEventLoop, tls: ssl.SSLContext | None = None
) -> SMTP:
    # No per-session command limit: one connection carries a whole batch (thousands of MAIL commands).
    return DrainingSMTP(
        handler, hostname="rumbo-peer.local", loop=loop, command_call_limit=None, tls_context=tls
    )


class SmtpPeer:
    """The SMTP peer running in a thread of the current process (tests). ``port=0`` picks a free port."""

    def __init__(
        self,
        *,
        out: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_content: bool = False,
        tls_cert: tuple[Path, Path] | None = None,
    ) -> None:
        """``tls_cert`` (certificate file, key file) offers STARTTLS with that certificate."""
        self.host = host
        self.tls: ssl.SSLContext | None = None
        if tls_cert is not None:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*tls_cert)
        self.requested_port = port
        self.keep_content = keep_content
        self.port = 0
        self.out = Path(out)
        self.handler: RecordingHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SmtpPeer:
        _quiet()
        self.handler = RecordingHandler(self.out, keep_content=self.keep_content)
        loop = asyncio.new_event_loop()
        self._loop = loop
        handler, tls = self.handler, self.tls
        server = loop.run_until_complete(
            loop.create_server(lambda: _server_factory(handler, loop, tls), self.host, self.requested_port)
        )
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=loop.run_forever, name="smtp-peer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def _shutdown() -> None:
            server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)

        asyncio.run_coroutine_threadsafe(_shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()
        if self.handler is not None:
            self.handler.close()
        self._loop = self._server = None

    def deliveries(self) -> Counter[str]:
        return deliveries(self.out)

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.out)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The records once at least ``count`` messages were accepted (or whatever arrived by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.02)

    def __enter__(self) -> SmtpPeer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SmtpPeerProcess:
    """The SMTP peer as a separate process (crash tests, benchmarks): ``with SmtpPeerProcess(out=…) as p``."""

    def __init__(self, *, out: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.out = Path(out)
        self.host = host
        self.port = port
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 10.0) -> SmtpPeerProcess:
        command = [sys.executable, "-m", "rumbo.messaging.peers.smtp", "--host", self.host]
        command += ["--port", str(self.port), "--out", str(self.out)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("READY"):
                self.port = int(line.split()[2])
                return self
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise RuntimeError("the SMTP peer did not start")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def deliveries(self) -> Counter[str]:
        return deliveries(self.out)

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.out)

    def __enter__(self) -> SmtpPeerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running(out: Path, *, port: int = 0) -> Iterator[SmtpPeer]:
    """Context manager form of ``SmtpPeer`` (a thread)."""
    peer = SmtpPeer(out=out, port=port).start()
    try:
        yield peer
    finally:
        peer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local SMTP peer that records every accepted message.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525, help="0 picks a free port (printed on READY)")
    parser.add_argument("--out", required=True, help="JSON-lines file, one line per accepted message")
    parser.add_argument("--fsync", action="store_true", help="fsync every record (slower)")
    args = parser.parse_args(argv)

    _quiet()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = RecordingHandler(Path(args.out), fsync=args.fsync)
    server = loop.run_until_complete(
        loop.create_server(lambda: _server_factory(handler, loop), args.host, args.port)
    )
    port = server.sockets[0].getsockname()[1]
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, loop.stop)
    print(f"READY {args.host} {port}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        handler.close()
        print(f"STOPPED accepted={handler.accepted}", flush=True)


if __name__ == "__main__":
    main()
