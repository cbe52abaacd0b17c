"""The local Kannel peer: reading what fakesmsc received, and injecting replies (see also test_adapter_kannel)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from rumbo.messaging.peers.kannel import KannelPeer, read_received

from .conftest import Receiver

pytestmark = pytest.mark.xdist_group("kannel")


def _log(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "fakesmsc-mt.log"
    text = "".join(
        f"2026-01-01 10:00:00 [1] [0] DEBUG: Got message {n}: <{line}>\n" for n, line in enumerate(lines, 1)
    )
    path.write_bytes(b"2026-01-01 10:00:00 [1] [0] INFO: fakesmsc starting\n" + text.encode())
    return path


def test_fakesmsc_output_is_read_back_into_messages(tmp_path: Path) -> None:
    ucs2 = quote("Да 😀".encode("utf-16-be")).replace("%20", "+")
    path = _log(
        tmp_path, "31313 +521 text Hola señor €", "31313 +522 ucs-2 " + ucs2, "31313 +523 text uno", "dos"
    )

    got = read_received(path)

    assert [(m.sender, m.receiver, m.text, m.coding) for m in got] == [
        ("31313", "+521", "Hola señor €", "text"),
        ("31313", "+522", "Да 😀", "ucs-2"),
        ("31313", "+523", "uno\ndos", "text"),  # a GSM line break splits fakesmsc's line
    ]


def test_concatenated_parts_are_joined(tmp_path: Path) -> None:
    part = "31313 +524 udh %05%00%03%2A%02%0{n} data {data}"
    path = _log(
        tmp_path,
        part.format(n=2, data=quote("segunda parte")).replace("%20", "+"),
        part.format(n=1, data=quote("primera ")).replace("%20", "+"),
    )
    [message] = read_received(path)
    assert (message.text, message.parts) == ("primera segunda parte", 2)


def test_a_missing_log_means_nothing_received(tmp_path: Path) -> None:
    assert read_received(tmp_path / "none.log") == []


def test_a_reply_is_injected_through_the_relay(kannel: KannelPeer, http_receiver: Receiver) -> None:
    kannel.mo_target = f"{http_receiver.url}/inbound/"
    sender = f"+5299{time.monotonic_ns() % 10**8}"

    kannel.inject_mo(sender, "31313", "hola")

    [call] = http_receiver.wait_for(1)
    assert call["path"].startswith("/inbound/?type=mo&from=" + quote(sender, safe=""))
    assert any("type=mo" in path for path in kannel.mo_calls())


def test_too_long_a_reply_for_fakesmsc_is_refused(kannel: KannelPeer) -> None:
    with pytest.raises(ValueError):
        kannel.inject_mo("+521", "31313", "x" * 300)
