"""A real Kannel on free local ports: bearerbox + smsbox, with Kannel's ``fakesmsc`` as the SMS centre.

What runs (Debian packages ``kannel`` and ``kannel-extras``)::

    KannelAdapter ──HTTP sendsms──▶ smsbox ──▶ bearerbox ──smsc "mt"──▶ fakesmsc (prints every SMS it gets)
    Rumbo webhook ◀──get-url (MO)── smsbox ◀── bearerbox ◀──smsc "mo"── fakesmsc (MO lines typed on stdin)
    Rumbo webhook ◀──dlr-url (DLR)─ smsbox ◀── bearerbox (the fake SMSC reports success at once)

Two fake SMSC connections keep the roles apart: the ``mt`` one receives every outgoing message (its fakesmsc
runs with ``-m 0``: it sends nothing and blocks on the socket, so it keeps up with thousands of messages a
second); the ``mo`` one only injects replies (``allowed-smsc-id = mo`` keeps outgoing traffic off it).

Every SMS the SMS centre received is a ``Got message N: <from to text …>`` line in ``fakesmsc-mt.log``;
``read_received(path)`` turns the file into ``ReceivedSms`` records (UCS-2 decoded, message parts joined).

The ``sms-service`` ``get-url`` goes to ``mo_url`` when given; otherwise to a small relay in this process
that forwards each call to ``peer.mo_target`` (settable while Kannel runs, so one Kannel serves many tests).

As a process (crash tests, benchmarks; prints ``READY {json}`` and stops on SIGTERM)::

    python -m rumbo.messaging.peers.kannel --workdir /tmp/kannel --mo-url http://127.0.0.1:8000/hooks/…

This module imports no Django.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote, unquote_to_bytes

BEARERBOX = os.environ.get("RUMBO_KANNEL_BEARERBOX", "/usr/sbin/bearerbox")
SMSBOX = os.environ.get("RUMBO_KANNEL_SMSBOX", "/usr/sbin/smsbox")
FAKESMSC = os.environ.get("RUMBO_KANNEL_FAKESMSC", "/usr/lib/kannel/test/fakesmsc")

# The same query string as ``rumbo.messaging.adapters.kannel.MO_QUERY`` (repeated: this module has no Django).
MO_QUERY = "type=mo&from=%p&to=%P&text=%b&coding=%c&charset=%C&smsc=%i&id=%I&ts=%T"

_GOT = re.compile(rb"Got message \d+: <(.*)>\s*$")
_SMS_LINE = re.compile(r"^(\S+) (\S+) (text|data|ucs-2|udh) (.*)$", re.DOTALL)
FAKESMSC_LINE_MAX = 255  # fakesmsc reads stdin into a 256-byte buffer


def binaries_present() -> bool:
    """Whether bearerbox, smsbox and fakesmsc are installed (Debian: kannel, kannel-extras)."""
    return all(os.access(path, os.X_OK) for path in (BEARERBOX, SMSBOX, FAKESMSC))


def free_port() -> int:
    """A port nothing listens on, below Linux's ephemeral range (32768+) where outgoing connections take
    their local ports: a port picked there can be taken by a client socket before the gateway binds it."""
    for _ in range(50):
        port = random.randrange(20000, 32000)  # noqa: S311 - not a secret
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        fallback: int = sock.getsockname()[1]
        return fallback


def _wait_port(port: int, deadline: float, process: subprocess.Popen[bytes] | None = None) -> None:
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass(frozen=True)
class ReceivedSms:
    """One SMS as the SMS centre received it (parts of a concatenated message already joined)."""

    sender: str
    receiver: str
    text: str
    coding: str  # "text" (GSM / internal UTF-8), "ucs-2", "data" (8-bit)
    parts: int = 1


def _unquote(value: str) -> bytes:
    # Kannel's octstr_url_encode writes a space as "+".
    return unquote_to_bytes(value.replace("+", " "))


def _decode_udh(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, total, sequence) from a concatenation UDH (IEI 0x00 or 0x08), else None."""
    index = 1  # udh[0] is the UDH length
    while index + 1 < len(udh):
        iei, length = udh[index], udh[index + 1]
        value = udh[index + 2 : index + 2 + length]
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        index += 2 + length
    return None


def _join_text(data: bytes) -> tuple[str, str]:
    # A concatenated UCS-2 message is UTF-16BE; GSM text travels as Kannel's internal UTF-8, which never
    # contains NUL bytes while UTF-16BE Latin text is full of them.
    if b"\x00" in data and len(data) % 2 == 0:
        return data.decode("utf-16-be", "replace"), "ucs-2"
    return data.decode("utf-8", "replace"), "text"


def read_received(path: Path) -> list[ReceivedSms]:
    """Every SMS fakesmsc printed in ``path``, in arrival order."""
    path = Path(path)
    if not path.exists():
        return []
    lines: list[str] = []
    with path.open("rb") as fh:
        for raw in fh:
            got = _GOT.search(raw.rstrip(b"\r\n"))
            if got is None:
                continue
            content = got.group(1).decode("utf-8", "replace")
            # A GSM text with a line break arrives as several lines; only the first has "from to type".
            if _SMS_LINE.match(content) or not lines:
                lines.append(content)
            else:
                lines[-1] += "\n" + content
    messages: list[ReceivedSms] = []
    pending: dict[tuple[str, str, int], dict[int, bytes]] = {}
    for content in lines:
        sms = _SMS_LINE.match(content)
        if sms is None:
            continue
        sender, receiver, kind, rest = sms.groups()
        if kind == "text":
            messages.append(ReceivedSms(sender, receiver, rest, "text"))
        elif kind == "ucs-2":
            text = _unquote(rest).decode("utf-16-be", "replace")
            messages.append(ReceivedSms(sender, receiver, text, "ucs-2"))
        elif kind == "data":
            messages.append(ReceivedSms(sender, receiver, _unquote(rest).decode("utf-8", "replace"), "data"))
        else:  # "udh <udh> data <msgdata>": one part of a concatenated message
            udh_field, _, data_field = rest.partition(" data ")
            udh = _unquote(udh_field)
            data = _unquote(data_field)
            concat = _decode_udh(udh)
            if concat is None:
                text, coding = _join_text(data)
                messages.append(ReceivedSms(sender, receiver, text, coding))
                continue
            reference, total, sequence = concat
            parts = pending.setdefault((sender, receiver, reference), {})
            parts[sequence] = data
            if len(parts) == total:
                del pending[(sender, receiver, reference)]
                text, coding = _join_text(b"".join(parts[i] for i in sorted(parts)))
                messages.append(ReceivedSms(sender, receiver, text, coding, parts=total))
    return messages


class _Relay(ThreadingHTTPServer):
    daemon_threads = True
    target: str = ""
    calls: list[str]


class _RelayHandler(BaseHTTPRequestHandler):
    server: _Relay

    def do_GET(self) -> None:
        self.server.calls.append(self.path)
        status, body = 200, b""
        target = self.server.target
        if target:
            query = self.path.partition("?")[2]
            url = target + ("&" if "?" in target else "?") + query
            try:
                with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a local test URL
                    status, body = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            except OSError:
                status = 502
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class KannelPeer:
    """Kannel + fakesmsc in a temporary folder; ``with KannelPeer() as kannel: ...``."""

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        mo_url: str = "",
        username: str = "rumbo",
        password: str = "",
    ) -> None:
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rumbo-kannel-"))
        self._own_workdir = workdir is None
        self.mo_url = mo_url
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.admin_password = secrets.token_urlsafe(12)
        self.ports: dict[str, int] = {}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._relay: _Relay | None = None
        self._inject_lock = threading.Lock()
        self._injected = 0

    # --- what tests use -----------------------------------------------------------------------------
    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}"

    @property
    def received_path(self) -> Path:
        return self.workdir / "fakesmsc-mt.log"

    @property
    def mo_target(self) -> str:
        return self._relay.target if self._relay else self.mo_url

    @mo_target.setter
    def mo_target(self, url: str) -> None:
        if self._relay is None:
            raise RuntimeError("this Kannel calls a fixed mo_url; start it without one to use the relay")
        self._relay.target = url

    def pids(self) -> list[int]:
        """Process ids of bearerbox, smsbox and the two fakesmsc (for measurements)."""
        return [process.pid for process in self._processes.values()]

    def mo_calls(self) -> list[str]:
        """The get-url calls smsbox made to the relay (path and query), in order."""
        return list(self._relay.calls) if self._relay else []

    def channel_config(self, *, webhook_url: str = "") -> dict[str, str]:
        """A KannelAdapter ``config`` for this gateway."""
        config = {"url": self.sendsms_url, "username": self.username, "password": self.password}
        if webhook_url:
            config["webhook_url"] = webhook_url
        return config

    def received(self) -> list[ReceivedSms]:
        return read_received(self.received_path)

    def wait_for_received(self, count: int, timeout: float = 15.0) -> list[ReceivedSms]:
        """The received messages once there are at least ``count`` (or what arrived by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.received()
            if len(messages) >= count or time.monotonic() > deadline:
                return messages
            time.sleep(0.05)

    def inject_mo(self, sender: str, receiver: str, text: str) -> None:
        """Make the SMS centre deliver a reply from ``sender`` (a handset) to ``receiver`` (our number)."""
        process = self._processes.get("fakesmsc-mo")
        if process is None or process.stdin is None:
            raise RuntimeError("Kannel is not running")
        if text.isprintable() and "\n" not in text:
            line = f"{sender} {receiver} text {text}\n".encode()
        else:  # line breaks or unusual characters: url-encoded UCS-2
            line = f"{sender} {receiver} ucs2 {quote(text.encode('utf-16-be'))}\n".encode()
        if len(line) > FAKESMSC_LINE_MAX:
            raise ValueError(f"fakesmsc takes lines of at most {FAKESMSC_LINE_MAX} bytes")
        with self._inject_lock:
            # fakesmsc reads stdin with fgets() after select(): a second line already sitting in its stdio
            # buffer would wait for the next write. So one line at a time, each confirmed in its log
            # ("fakesmsc: sent message N") before the next.
            self._injected += 1
            process.stdin.write(line)
            process.stdin.flush()
            deadline = time.monotonic() + 10
            marker = f"sent message {self._injected}".encode()
            log = self.workdir / "fakesmsc-mo.log"
            while marker not in log.read_bytes():
                if time.monotonic() > deadline:
                    raise TimeoutError("fakesmsc did not take the injected message")
                time.sleep(0.01)

    # --- life cycle ---------------------------------------------------------------------------------
    def config_text(self, get_url: str) -> str:
        p, d = self.ports, self.workdir
        return f"""# Written by rumbo.messaging.peers.kannel for a local test gateway.
group = core
admin-port = {p["admin"]}
admin-interface = 127.0.0.1
admin-password = "{self.admin_password}"
status-password = "{self.admin_password}"
smsbox-port = {p["smsbox"]}
box-allow-ip = 127.0.0.1
log-file = "{d}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = mt
port = {p["fake_mt"]}
connect-allow-ip = 127.0.0.1

group = smsc
smsc = fake
smsc-id = mo
port = {p["fake_mo"]}
connect-allow-ip = 127.0.0.1
allowed-smsc-id = mo

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {p["smsbox"]}
sendsms-port = {p["sendsms"]}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 1
mo-recode = true
# A reply or delivery report Rumbo could not take (a restart, a 5xx) is tried again, not dropped.
http-request-retry = 5
http-queue-delay = 1

group = sendsms-user
username = "{self.username}"
password = "{self.password}"
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
omit-empty = true
max-messages = 0
get-url = "{get_url}"
"""

    def start(self, timeout: float = 30.0, attempts: int = 3) -> KannelPeer:
        """Start everything and wait until messages can flow; on a port clash, again on other ports."""
        if not binaries_present():
            raise RuntimeError("Kannel is not installed (apt-get install kannel kannel-extras)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except (RuntimeError, TimeoutError):
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> KannelPeer:
        names = ("admin", "smsbox", "sendsms", "fake_mt", "fake_mo")
        ports: set[int] = set()
        while len(ports) < len(names):
            ports.add(free_port())
        self.ports = dict(zip(names, ports, strict=True))
        self._injected = 0
        if self.mo_url:
            get_url = self.mo_url + ("&" if "?" in self.mo_url else "?") + MO_QUERY
        else:
            relay = _Relay(("127.0.0.1", 0), _RelayHandler)
            relay.calls = []
            threading.Thread(target=relay.serve_forever, name="kannel-mo-relay", daemon=True).start()
            self._relay = relay
            get_url = f"http://127.0.0.1:{relay.server_address[1]}/mo?{MO_QUERY}"
        config = self.workdir / "kannel.conf"
        config.write_text(self.config_text(get_url))
        deadline = time.monotonic() + timeout
        try:
            bearerbox = self._spawn("bearerbox", [BEARERBOX, "-v", "1", str(config)])
            _wait_port(self.ports["admin"], deadline, bearerbox)
            _wait_port(self.ports["smsbox"], deadline, bearerbox)
            smsbox = self._spawn("smsbox", [SMSBOX, "-v", "1", str(config)])
            _wait_port(self.ports["sendsms"], deadline, smsbox)
            _wait_port(self.ports["fake_mt"], deadline, bearerbox)
            _wait_port(self.ports["fake_mo"], deadline, bearerbox)
            fake = [FAKESMSC, "-H", "127.0.0.1", "-v", "0"]
            # -m 0: never generate messages, only print what arrives ("Got message N: <...>").
            self._spawn("fakesmsc-mt", [*fake, "-r", str(self.ports["fake_mt"]), "-m", "0", "0 0 text -"])
            # No message arguments: interactive mode, MO lines come from stdin.
            self._spawn("fakesmsc-mo", [*fake, "-r", str(self.ports["fake_mo"])], stdin=True)
            self._wait_ready(deadline)
        except BaseException:
            self.stop()
            raise
        (self.workdir / "peer.json").write_text(json.dumps(self.describe()))
        return self

    def describe(self) -> dict[str, Any]:
        return {
            "sendsms_url": self.sendsms_url,
            "username": self.username,
            "password": self.password,
            "received_path": str(self.received_path),
            "ports": self.ports,
            "workdir": str(self.workdir),
        }

    def status(self) -> str:
        url = f"http://127.0.0.1:{self.ports['admin']}/status.txt?password={quote(self.admin_password)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode("utf-8", "replace")
            return text

    def _wait_ready(self, deadline: float) -> None:
        """Both fake SMSC links online and the smsbox connected: then messages flow both ways."""
        last = ""
        while time.monotonic() < deadline:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode} (logs in {self.workdir})")
            with contextlib.suppress(OSError):
                last = self.status()
                links = re.findall(r"^\s*(mt|mo)\[\w+\]\s+FAKE:\d+ \((\w+)", last, re.MULTILINE)
                online = {name for name, state in links if state.startswith("online")}
                if {"mt", "mo"} <= online and re.search(r"smsbox:\S*,\s*IP 127\.0\.0\.1", last):
                    return
            time.sleep(0.1)
        raise TimeoutError(f"Kannel did not become ready; last status:\n{last}")

    def _spawn(self, name: str, command: list[str], *, stdin: bool = False) -> subprocess.Popen[bytes]:
        # Appended to (a restarted gateway keeps its history), except the MO side's log, whose
        # "sent message N" counter starts again with each fakesmsc.
        log = (self.workdir / f"{name}.log").open("wb" if name == "fakesmsc-mo" else "ab")
        self._logs.append(log)
        process = subprocess.Popen(  # noqa: S603 - fixed local binaries
            command,
            cwd=self.workdir,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the test run is not delivered to the gateway twice
        )
        self._processes[name] = process
        return process

    def stop(self) -> None:
        # The SMS centre first, then smsbox, then bearerbox (which waits for its boxes to go).
        for name in ("fakesmsc-mo", "fakesmsc-mt", "smsbox", "bearerbox"):
            process = self._processes.pop(name, None)
            if process is None:
                continue
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._relay is not None:
            self._relay.shutdown()
            self._relay.server_close()
            self._relay = None

    def cleanup(self) -> None:
        """Stop and remove the temporary folder (when this peer created it)."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KannelPeer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local Kannel with fakesmsc as the SMS centre.")
    parser.add_argument("--workdir", required=True, help="configuration, logs and fakesmsc output go here")
    parser.add_argument(
        "--mo-url", default="", help="Rumbo's inbound URL for replies (Kannel adds the fields)"
    )
    parser.add_argument("--username", default="rumbo")
    parser.add_argument("--password", default="")
    args = parser.parse_args(argv)
    peer = KannelPeer(
        workdir=Path(args.workdir), mo_url=args.mo_url, username=args.username, password=args.password
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    peer.start()
    print("READY " + json.dumps(peer.describe()), flush=True)
    try:
        while not stop.wait(0.5):
            # Replies typed on our stdin are not supported here; use inject files instead.
            inject = peer.workdir / "inject.jsonl"
            if inject.exists():
                consumed = inject.with_suffix(".done")
                inject.rename(consumed)
                for line in consumed.read_text().splitlines():
                    item = json.loads(line)
                    peer.inject_mo(item["from"], item["to"], item["text"])
    finally:
        peer.stop()
        print("STOPPED " + json.dumps({"received": len(peer.received())}), flush=True)


def received_as_dicts(path: Path) -> list[dict[str, Any]]:
    return [asdict(message) for message in read_received(path)]


if __name__ == "__main__":
    main()
