"""The SMTP adapter against a real local SMTP server (aiosmtpd): delivery, failures, the exactly-once rule."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rumbo.messaging.adapters import GatewayUnavailable, adapter_for
from rumbo.messaging.adapters.base import LastPiece, OutboundMessage
from rumbo.messaging.adapters.smtp import SmtpAdapter, dot_stuffed, message_id_header
from rumbo.messaging.peers.kannel import free_port
from rumbo.messaging.peers.smtp import SmtpPeer, deliveries

SENDER = "Rumbo OFAM Michoacán <avisos@ofam-mich.example>"


def _adapter(port: int) -> SmtpAdapter:
    adapter = adapter_for("email", {"host": "127.0.0.1", "port": str(port), "use_tls": "no"}, SENDER)
    assert isinstance(adapter, SmtpAdapter)
    return adapter


def _message(number: int, to: str = "", body: str = "") -> OutboundMessage:
    return OutboundMessage(
        message_id=number,
        idempotency_key=f"campaign-7:step-0:person-{number}",
        to=to or f"persona{number}@example.org",
        body=body or f"Hola {number}, ¿estás bien? Responde SÍ o NO.",
        subject="¿Estás a salvo?",
        language="spa",
    )


class Recorder:
    """A commit hook that says yes (or no, for the ids in ``refuse``) and remembers what it was asked."""

    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.refuse = refuse
        self.calls: list[tuple[int, str]] = []

    def __call__(self, message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
        self.calls.append((message.message_id, provider_id))
        if message.message_id in self.refuse:
            return False
        last_piece()
        return True


def test_each_message_is_delivered_once_with_a_message_id_from_its_key(smtp_peer: SmtpPeer) -> None:
    messages = [_message(n) for n in (1, 2, 3)]
    commit = Recorder()

    results = _adapter(smtp_peer.port).send_batch(messages, commit)

    assert [r.message_id for r in results] == [1, 2, 3]
    assert all(r.committed and not r.error for r in results)
    expected = {m.message_id: message_id_header(m.idempotency_key, SENDER) for m in messages}
    assert commit.calls == [(n, expected[n].strip("<>")) for n in (1, 2, 3)]
    assert [r.provider_id for r in results] == [expected[n].strip("<>") for n in (1, 2, 3)]
    assert smtp_peer.deliveries() == {expected[n]: 1 for n in (1, 2, 3)}
    assert expected[1].endswith("@ofam-mich.example>")


def test_the_email_is_plain_utf8_text_from_the_channel_sender(smtp_peer: SmtpPeer) -> None:
    body = "Hola Lucía,\n.una línea que empieza con punto\n..y otra con dos\nFin."
    _adapter(smtp_peer.port).send_batch([_message(1, body=body)], Recorder())

    [record] = smtp_peer.records()
    parsed = email.message_from_bytes(
        record["content"].encode("utf-8", "surrogateescape"), policy=email.policy.default
    )
    assert record["to"] == ["persona1@example.org"]
    assert record["from"] == "avisos@ofam-mich.example"
    assert parsed["From"] == SENDER
    assert parsed["To"] == "persona1@example.org"
    assert parsed["Subject"] == "¿Estás a salvo?"
    assert parsed["Content-Language"] == "spa"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    # On the wire lines end in CRLF; the leading dots survive the dot-stuffing.
    assert parsed.get_content().replace("\r\n", "\n").rstrip("\n") == body


def test_the_same_outbox_row_always_gets_the_same_message_id() -> None:
    first = message_id_header("campaign-7:step-0:person-1", SENDER)
    assert first == message_id_header("campaign-7:step-0:person-1", SENDER)
    assert first != message_id_header("campaign-7:step-1:person-1", SENDER)
    assert message_id_header("k", "no domain").endswith("@rumbo.invalid>")


def test_dot_stuffing_doubles_leading_dots_and_ends_in_crlf() -> None:
    assert dot_stuffed(b"a\n.b\r\n..c\rd") == b"a\r\n..b\r\n...c\r\nd\r\n"


def test_a_refused_recipient_is_a_permanent_failure_and_the_batch_goes_on(smtp_peer: SmtpPeer) -> None:
    messages = [_message(1), _message(2, to="bounce-nobody@example.org"), _message(3)]
    commit = Recorder()

    results = _adapter(smtp_peer.port).send_batch(messages, commit)

    assert results[1].committed is False
    assert results[1].permanent is True
    assert "550" in results[1].error
    assert [c[0] for c in commit.calls] == [1, 3]  # never committed
    assert results[0].committed and results[2].committed
    assert sorted(r["to"][0] for r in smtp_peer.records()) == ["persona1@example.org", "persona3@example.org"]


def test_a_temporary_refusal_is_retryable(smtp_peer: SmtpPeer) -> None:
    [result] = _adapter(smtp_peer.port).send_batch([_message(1, to="tempfail@example.org")], Recorder())

    assert result.committed is False
    assert result.permanent is False
    assert "451" in result.error
    assert smtp_peer.records() == []


def test_an_invalid_address_fails_permanently_before_anything_is_sent(smtp_peer: SmtpPeer) -> None:
    commit = Recorder()
    [result] = _adapter(smtp_peer.port).send_batch([_message(1, to="no es un correo <@>")], commit)

    assert result.committed is False
    assert result.permanent is True
    assert commit.calls == []
    assert smtp_peer.records() == []


def test_a_server_that_is_down_raises_gateway_unavailable() -> None:
    with pytest.raises(GatewayUnavailable):
        _adapter(free_port()).send_batch([_message(1)], Recorder())


def test_a_server_that_goes_away_mid_batch_leaves_the_rest_retryable(smtp_peer: SmtpPeer) -> None:
    messages = [_message(1), _message(2, to="disconnect@example.org"), _message(3), _message(4)]
    commit = Recorder()

    results = _adapter(smtp_peer.port).send_batch(messages, commit)

    assert results[0].committed and not results[0].error
    for result in results[1:]:
        assert result.committed is False
        assert result.permanent is False
        assert result.error
    assert [c[0] for c in commit.calls] == [1]
    assert len(smtp_peer.records()) == 1


def test_when_commit_says_no_the_message_is_withdrawn_and_the_batch_goes_on(smtp_peer: SmtpPeer) -> None:
    messages = [_message(1), _message(2), _message(3)]

    results = _adapter(smtp_peer.port).send_batch(messages, Recorder(refuse=frozenset({2})))

    assert results[1].committed is False
    assert results[1].error == "taken over by another worker"
    assert results[0].committed and results[2].committed
    delivered = smtp_peer.wait_for(2)
    assert sorted(r["to"][0] for r in delivered) == ["persona1@example.org", "persona3@example.org"]


def test_a_worker_killed_before_the_final_dot_delivers_nothing_of_that_message(
    smtp_peer: SmtpPeer, tmp_path: Path
) -> None:
    """SIGKILL inside commit() (the row may or may not say sent): the server got DATA without its final dot."""
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, signal, django
            django.setup()
            from rumbo.messaging.adapters import adapter_for
            from rumbo.messaging.adapters.base import LastPiece, OutboundMessage

            adapter = adapter_for("email", {{"host": "127.0.0.1", "port": "{smtp_peer.port}"}}, "avisos@rumbo.example")
            messages = [OutboundMessage(n, f"key-{{n}}", f"persona{{n}}@example.org", "Hola") for n in (1, 2, 3)]

            def commit(message, provider_id, last_piece):
                if message.message_id == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
                last_piece()
                return True

            adapter.send_batch(messages, commit)
            """
        )
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rumbo.settings_test"}
    completed = subprocess.run([sys.executable, str(script)], env=env, timeout=60, capture_output=True)

    assert completed.returncode == -9, completed.stderr.decode()
    delivered = deliveries(smtp_peer.out)
    assert delivered == {message_id_header("key-1", "avisos@rumbo.example"): 1}


def test_starttls_is_used_and_the_certificate_checked(tmp_path: Path, tls_cert: tuple[Path, Path]) -> None:
    with SmtpPeer(out=tmp_path / "tls.jsonl", tls_cert=tls_cert) as peer:
        config = {"host": "127.0.0.1", "port": str(peer.port), "use_tls": "yes", "ca_file": str(tls_cert[0])}
        [result] = adapter_for("email", config, SENDER).send_batch([_message(1)], Recorder())
        assert result.committed and not result.error
        assert len(peer.records()) == 1

        untrusted = {**config, "ca_file": ""}
        with pytest.raises(GatewayUnavailable):
            adapter_for("email", untrusted, SENDER).send_batch([_message(2)], Recorder())
        assert len(peer.records()) == 1
