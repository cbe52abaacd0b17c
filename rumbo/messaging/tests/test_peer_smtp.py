"""The local SMTP peer: records each accepted message durably, runs as a thread or as a process."""

from __future__ import annotations

import smtplib
import socket
import time
from pathlib import Path

from rumbo.messaging.peers.smtp import SmtpPeer, SmtpPeerProcess, deliveries, read_records


def _send(port: int, message_id: str, to: str = "persona@example.org") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(
            "avisos@rumbo.example", [to], f"Message-ID: {message_id}\r\nSubject: x\r\n\r\nHola\r\n"
        )


def test_the_thread_peer_records_each_accepted_message(tmp_path: Path) -> None:
    with SmtpPeer(out=tmp_path / "out.jsonl") as peer:
        _send(peer.port, "<a@rumbo>")
        _send(peer.port, "<b@rumbo>")
        _send(peer.port, "<a@rumbo>")
        records = peer.wait_for(3)

    assert [r["message_id"] for r in records] == ["<a@rumbo>", "<b@rumbo>", "<a@rumbo>"]
    assert records[0]["to"] == ["persona@example.org"]
    assert deliveries(tmp_path / "out.jsonl") == {"<a@rumbo>": 2, "<b@rumbo>": 1}


def test_the_peer_advertises_pipelining_and_refuses_bounce_addresses(tmp_path: Path) -> None:
    with SmtpPeer(out=tmp_path / "out.jsonl") as peer, smtplib.SMTP("127.0.0.1", peer.port) as client:
        client.ehlo()
        assert client.has_extn("pipelining")
        client.mail("avisos@rumbo.example")
        assert client.rcpt("bounce-1@example.org")[0] == 550
        assert client.rcpt("tempfail@example.org")[0] == 451
    assert read_records(tmp_path / "out.jsonl") == []


def test_the_process_peer_records_to_its_file_and_stops_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "process.jsonl"
    with SmtpPeerProcess(out=out) as peer:
        assert peer.port
        _send(peer.port, "<p@rumbo>")
        _send(peer.port, "<q@rumbo>")
        process = peer.process
    assert process is not None and process.returncode == 0
    assert deliveries(out) == {"<p@rumbo>": 1, "<q@rumbo>": 1}


def _raw_session(port: int, message_id: str, *, final_dot: bool) -> None:
    """MAIL, RCPT, DATA, the message, (the final dot), then the client vanishes without waiting for a reply."""
    with socket.create_connection(("127.0.0.1", port)) as sock, sock.makefile("rb") as replies:
        replies.readline()
        sock.sendall(b"EHLO worker\r\n")
        while replies.readline()[3:4] != b" ":
            pass
        sock.sendall(b"MAIL FROM:<a@rumbo.example>\r\nRCPT TO:<p@example.org>\r\nDATA\r\n")
        for _ in range(3):
            replies.readline()
        sock.sendall(f"Message-ID: {message_id}\r\n\r\nHola\r\n".encode() + (b".\r\n" if final_dot else b""))


def test_a_complete_message_from_a_client_that_vanished_is_accepted_an_incomplete_one_is_not(
    tmp_path: Path,
) -> None:
    """Like an MTA reading its input in order: a final dot received before the EOF completes the message."""
    with SmtpPeer(out=tmp_path / "out.jsonl") as peer:
        for n in range(10):
            _raw_session(peer.port, f"<complete-{n}@rumbo>", final_dot=True)
            _raw_session(peer.port, f"<cut-{n}@rumbo>", final_dot=False)
        time.sleep(0.5)
        accepted = peer.deliveries()

    assert accepted == {f"<complete-{n}@rumbo>": 1 for n in range(10)}
