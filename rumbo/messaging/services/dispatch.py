"""Sending: a worker claims due messages of a channel, hands them to the channel's adapter, records the
outcome.

**Claim.** Due messages (``queued``, or ``sending`` whose lease ran out because its worker died, with
``next_attempt_at`` reached) are set to ``sending`` with this worker's ``lease_owner`` and ``lease_until`` and
``attempts + 1``, in one statement: on PostgreSQL ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)``, so two
workers never claim the same row and never wait for each other; on SQLite ``UPDATE … WHERE id IN (SELECT …
LIMIT n) RETURNING`` inside the write lock (``BEGIN IMMEDIATE``).

**Exactly once.** The adapter calls ``commit(message, provider_id, last_piece)`` when the gateway holds
everything but the last piece of the message (see ``adapters/base.py``). ``commit`` runs one *fenced*
update — ``status = sent`` only ``WHERE id = … AND lease_owner = me AND status = 'sending'`` — committed at
once in its own transaction (on PostgreSQL with ``synchronous_commit = off``: durable against a crash of the
worker, which is what this protects against; see ``RUMBO_MESSAGING_ASYNC_COMMIT``), and, only if exactly one
row changed, sends the last piece straight after the commit (``_Committer`` keeps the two together). So:

- a worker killed before ``commit`` leaves the row ``sending`` with a lease; the gateway got an incomplete
  transfer and dropped it; when the lease ends another worker claims the row and sends it;
- a worker killed after ``commit`` leaves the row ``sent``; nobody sends it again;
- a worker that was merely slow and lost its lease gets ``False`` from ``commit`` and aborts the transfer.

**Pick-up.** A claimed message is failed instead of sent when it is past ``RUMBO_MESSAGING_MAX_ATTEMPTS`` (an
attempt that ended before its outcome was recorded still counts) or, unless it is an emergency, when its
person's latest "messages" consent is a withdrawal. Settings the adapter cannot be built from count as a
gateway outage.

**Outcome.** A temporary failure (gateway down, timeout, throttled) puts the message back to ``queued`` with
exponential backoff and jitter in ``next_attempt_at`` and the error in ``last_error``; a permanent one
(invalid address, number that cannot receive SMS) or the last allowed attempt marks it ``failed`` and queues a
**fallback**: the same content on the next channel the person has (``fallback_of`` set, key suffixed
``:fb<channel>``). A message whose ``expires_at`` has passed is marked ``expired`` and never sent.

**Rate limit.** ``Channel.rate_per_second`` is shared by the workers sending on the channel: each worker
counts the workers holding live leases on it and sends its share, in sub-batches of about one second, sleeping
what is left of each second.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_scopes import scopes_disabled

from rumbo.messaging.adapters import adapter_for
from rumbo.messaging.adapters.base import (
    Adapter,
    GatewayUnavailable,
    LastPiece,
    OutboundMessage,
    SendResult,
    close_adapter,
)
from rumbo.messaging.crypto import decrypt_config
from rumbo.messaging.models import Campaign, Channel, ChannelKind, FailureReason, Message, MessageStatus
from rumbo.messaging.services._common import (
    AddressProblem,
    active_channels,
    choose_channel,
    fallback_key,
)

logger = logging.getLogger(__name__)

MAX_ERROR = 2000


@dataclass
class DispatchResult:
    """What one call of :func:`send_messages` did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    released: int = 0  # claimed, then handed back untouched (channel paused meanwhile, adapter skipped them)
    lost: int = 0  # another worker took them over (this worker's lease had ended)
    fallbacks: int = 0
    paused: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchResult) -> None:
        for name in ("claimed", "sent", "retried", "failed", "expired", "released", "lost", "fallbacks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors[: 10 - len(self.errors)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "retried": self.retried,
            "failed": self.failed,
            "expired": self.expired,
            "released": self.released,
            "lost": self.lost,
            "fallbacks": self.fallbacks,
            "paused": self.paused,
            "seconds": round(self.seconds, 3),
        }


class Claimed(NamedTuple):
    id: int
    idempotency_key: str
    to: str
    subject: str
    body: str
    language: str
    attempts: int
    expired: bool
    person_id: int | None = None
    emergency: bool = False


_RETURNING = (
    'id, idempotency_key, "to", subject, body, language, attempts,'
    " CASE WHEN expires_at IS NOT NULL AND expires_at <= %s THEN 1 ELSE 0 END, person_id, emergency"
)


def new_owner() -> str:
    """A lease owner id unique to this worker process and call: host, pid and a random part."""
    host = socket.gethostname()[:30]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:16]}"[:64]


def _marks(values: Sequence[Any]) -> str:
    """``%s, %s, …`` for an ``IN (…)`` list of ``values``."""
    return ",".join(["%s"] * len(values))


def _db_datetime(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def lease_seconds_for(count: int, rate: int) -> int:
    """A lease long enough to send ``count`` messages at ``rate`` per second, with margin."""
    return max(_setting("RUMBO_MESSAGING_LEASE_SECONDS", 120), int(2 * count / max(rate, 1)) + 30)


def claim(
    *, channel_id: int, owner: str, limit: int, lease_seconds: int, message_ids: Sequence[int] | None = None
) -> list[Claimed]:
    """Claim up to ``limit`` due messages of the channel (only among ``message_ids`` when given)."""
    now = timezone.now()
    db_now = _db_datetime(now)
    until = _db_datetime(now + timedelta(seconds=lease_seconds))
    id_filter = ""
    id_params: list[Any] = []
    if message_ids is not None:
        if not message_ids:
            return []
        if connection.vendor == "postgresql":
            id_filter, id_params = " AND id = ANY(%s::bigint[])", [list(message_ids)]
        else:
            id_filter = f" AND id IN ({_marks(message_ids)})"
            id_params = list(message_ids)
    due = (
        "SELECT id FROM messaging_message WHERE channel_id = %s"  # noqa: S608 - no user input in the SQL
        f"{id_filter} AND status IN ('queued', 'sending') AND next_attempt_at <= %s"
        " AND (status = 'queued' OR lease_until < %s) ORDER BY next_attempt_at, id LIMIT %s"
    )
    due_params = [channel_id, *id_params, db_now, db_now, limit]
    if connection.vendor == "postgresql":
        sql = (
            f"WITH due AS ({due} FOR UPDATE SKIP LOCKED) UPDATE messaging_message m SET status = 'sending',"  # noqa: S608
            " lease_owner = %s, lease_until = %s, attempts = m.attempts + 1 FROM due WHERE m.id = due.id"
            ' RETURNING m.id, m.idempotency_key, m."to", m.subject, m.body, m.language, m.attempts,'
            " CASE WHEN m.expires_at IS NOT NULL AND m.expires_at <= %s THEN 1 ELSE 0 END, m.person_id,"
            " m.emergency"
        )
        params = [*due_params, owner, until, db_now]
    else:
        sql = (
            "UPDATE messaging_message SET status = 'sending', lease_owner = %s, lease_until = %s,"  # noqa: S608
            f" attempts = attempts + 1 WHERE id IN ({due}) RETURNING {_RETURNING}"
        )
        params = [owner, until, *due_params, db_now]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    claimed = [Claimed(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], bool(r[9])) for r in rows]
    claimed.sort(key=lambda c: c.id)
    return claimed


def live_workers(channel_id: int) -> int:
    """How many workers hold live leases on the channel (at least 1: the caller)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(DISTINCT lease_owner) FROM messaging_message"
            " WHERE channel_id = %s AND status = 'sending' AND lease_until > %s",
            [channel_id, _db_datetime(timezone.now())],
        )
        row = cursor.fetchone()
    return max(1, int(row[0] if row else 0))


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt: base × 2^(attempts−1), capped, ±25 % jitter (so retries spread out)."""
    base = _setting("RUMBO_MESSAGING_RETRY_SECONDS", 30)
    cap = _setting("RUMBO_MESSAGING_RETRY_MAX_SECONDS", 3600)
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * random.uniform(0.75, 1.25))  # noqa: S311 - jitter, not security


_MARK_SENT = (
    "UPDATE messaging_message SET status = 'sent', sent_at = %s, provider_id = %s, last_error = ''"
    " WHERE id = %s AND lease_owner = %s AND status = 'sending'"
)
_MARK_SENT_QMARK = _MARK_SENT.replace("%s", "?")  # the same, for the sqlite3 module's own cursor


_CHECKPOINT_EVERY = 200  # marks between two WAL checkpoints of a SQLite worker (~ SQLite's 1,000 pages)
_marks_since_checkpoint = 0


def commit_then_send(raw: sqlite3.Connection, sql: str, params: Sequence[Any], last_piece: LastPiece) -> bool:
    """SQLite: run the fenced UPDATE ``sql`` in its own ``BEGIN IMMEDIATE`` transaction, commit it, and — if
    it changed its row — send the last piece the moment the COMMIT returns. False (nothing written, nothing
    sent) if the fence refused.

    The COMMIT runs with ``wal_autocheckpoint`` off. Otherwise the COMMIT that crosses SQLite's WAL threshold
    copies the WAL into the database file, with its fsyncs, *after* the mark is durable and visible but
    before the COMMIT returns: milliseconds in which a killed worker leaves a row marked "sent" whose message
    never left (a crash test caught exactly that). The checkpoint is made instead after the piece has left,
    every ``_CHECKPOINT_EVERY`` marks.
    """
    global _marks_since_checkpoint
    (autocheckpoint,) = raw.execute("PRAGMA wal_autocheckpoint").fetchone()
    raw.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        try:
            raw.execute("BEGIN IMMEDIATE")
            if raw.execute(sql, params).rowcount != 1:
                raw.execute("ROLLBACK")
                return False
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        last_piece()
    finally:
        raw.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint)}")
    _marks_since_checkpoint += 1
    if _marks_since_checkpoint >= _CHECKPOINT_EVERY and autocheckpoint > 0:
        _marks_since_checkpoint = 0
        raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return True


class _Cork:
    """``TCP_CORK`` on the database connection's socket while the COMMIT and the last piece are written.

    Sending the COMMIT wakes the database server's process, and the scheduler may run it at once on this
    worker's core: the worker then waits, between the COMMIT and the last piece, for as long as the server
    takes to commit — long enough for a kill to land there (a crash test killing workers mid-batch caught
    it). Corked, the COMMIT stays in this machine's kernel, waking nobody, until the piece is written too;
    from then on both are in the kernel's hands, and a process that dies still has its socket's pending
    data sent before the connection closes. Uncorking sends the COMMIT.

    Not a TCP connection (a Unix socket): nothing to cork, the COMMIT leaves at once.
    """

    __slots__ = ("_fd", "_sock")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._sock: socket.socket | None = None

    def __enter__(self) -> _Cork:
        sock = socket.socket(fileno=self._fd)  # the same socket as psycopg's: detached, never closed here
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        except OSError:
            sock.detach()
        else:
            self._sock = sock
        return self

    def __exit__(self, *exc: object) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)  # sends the COMMIT
        finally:
            sock.detach()


class _Committer:
    """The ``commit(message, provider_id, last_piece)`` hook given to the adapter: the fenced "sent" mark,
    made durable, and the message's last piece sent the moment it is.

    Each path first checks the fence inside a transaction (the row is then locked), then makes the mark
    durable and calls ``last_piece()`` straight after, with nothing in between — no cursor clean-up, no
    bookkeeping, no return through the adapter. A worker killed at any moment leaves either neither write or
    both (each is in the kernel's hands the moment its system call returns), except within the few
    microseconds between the two calls.

    - SQLite, a worker (no surrounding transaction): ``BEGIN IMMEDIATE; UPDATE …`` on the raw connection, then
      ``COMMIT`` — SQLite commits in this process, so when it returns the mark is in the WAL — then the last
      piece (:func:`commit_then_send`, which also keeps SQLite's WAL checkpoint out of that window).
    - PostgreSQL, a worker: ``BEGIN; UPDATE …`` in one round trip, then ``COMMIT`` is *sent without waiting
      for its answer* — into a corked socket (:class:`_Cork`) that lets it go once the last piece is written
      too — and the last piece follows at once; waiting for the answer first would widen the window to a
      network round trip. The answer is read before the next statement; if the COMMIT failed, the mark is
      written again. ``synchronous_commit = off``: the mark survives a worker crash, which is what this
      protects against.
    - Inside a surrounding transaction (tests): the UPDATE, then the last piece.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.committed: dict[int, str] = {}
        in_transaction = connection.in_atomic_block
        self.pipelined = connection.vendor == "postgresql" and not in_transaction
        self.sqlite_worker = connection.vendor == "sqlite" and not in_transaction
        self.async_commit = bool(getattr(settings, "RUMBO_MESSAGING_ASYNC_COMMIT", True))
        self._pending: tuple[int, str, Any] | None = None

    def __call__(self, message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
        provider_id = provider_id[:120]
        params = [_db_datetime(timezone.now()), provider_id, message.message_id, self.owner]
        if self.pipelined:
            changed = self._pipelined(params, last_piece)
        elif self.sqlite_worker:
            changed = self._sqlite(params, last_piece)
        else:
            with connection.cursor() as cursor:
                cursor.execute(_MARK_SENT, params)
                changed = cursor.rowcount == 1
            if changed:
                last_piece()
        if changed:
            self.committed[message.message_id] = provider_id
        return changed

    def _sqlite(self, params: list[Any], last_piece: LastPiece) -> bool:
        connection.ensure_connection()
        return commit_then_send(connection.connection, _MARK_SENT_QMARK, params, last_piece)

    def _pipelined(self, params: list[Any], last_piece: LastPiece) -> bool:
        self.finish()
        connection.ensure_connection()
        raw = connection.connection
        prefix = "BEGIN; SET LOCAL synchronous_commit = off; " if self.async_commit else "BEGIN; "
        with raw.cursor() as cursor:
            cursor.execute(prefix + _MARK_SENT, params)
            while cursor.nextset():
                pass
            changed = cursor.rowcount == 1
            if not changed:
                cursor.execute("ROLLBACK")
                return False
        pgconn = raw.pgconn
        with _Cork(pgconn.socket):  # the COMMIT waits in the kernel until the piece has joined it there
            pgconn.send_query(b"COMMIT")
            pgconn.flush()
            self._pending = (params[2], params[1], params)  # the answer is read by finish(), whatever happens
            last_piece()
        return True

    def finish(self) -> None:
        """Read the answer of the COMMIT sent last (PostgreSQL); write the mark again if it failed."""
        if self._pending is None:
            return
        message_id, _provider_id, params = self._pending
        self._pending = None
        raw = connection.connection
        failed = ""
        while (answer := raw.pgconn.get_result()) is not None:
            if answer.error_message:
                failed = answer.error_message.decode("utf-8", "replace")
        if failed:
            logger.error(
                "message %s: COMMIT of the sent mark failed (%s); writing it again", message_id, failed
            )
            with connection.cursor() as cursor:
                cursor.execute(_MARK_SENT, params)


def channel_adapter(channel: Channel) -> Adapter:
    """The adapter of a channel, with its decrypted settings."""
    return adapter_for(channel.kind, decrypt_config(channel.config_encrypted), channel.sender)


def webhook_url(channel: Channel, base: str = "") -> str:
    """The address to give the gateway for this channel's callbacks (replies, delivery reports)."""
    root = (base or str(getattr(settings, "SITE_URL", ""))).rstrip("/")
    return f"{root}/hooks/messaging/{channel.webhook_token}/{channel.kind}/"


def _load_channel(channel_id: int) -> Channel | None:
    with scopes_disabled():
        return Channel.objects.filter(pk=channel_id).first()


def _is_paused(channel_id: int) -> bool:
    with scopes_disabled():
        row = Channel.objects.filter(pk=channel_id).values_list("paused_at", "is_active").first()
    return row is None or row[0] is not None or not row[1]


def send_messages(
    *,
    channel_id: int,
    message_ids: Sequence[int] | None = None,
    limit: int | None = None,
    owner: str | None = None,
    deadline: float | None = None,
) -> DispatchResult:
    """Send due messages of a channel: those among ``message_ids`` (a task's batch), or any due ones until
    none is left or ``deadline`` (a ``time.monotonic()`` value) passes. Returns what happened; never raises
    for a gateway problem (messages stay retryable)."""
    started = time.monotonic()
    result = DispatchResult()
    channel = _load_channel(channel_id)
    if channel is None or channel.paused_at is not None or not channel.is_active:
        result.paused = True
        return result
    owner = owner or new_owner()
    batch = max(1, limit or _setting("RUMBO_MESSAGING_BATCH_SIZE", 500))
    adapter: Adapter | None = None
    try:
        while True:
            size = len(message_ids) if message_ids is not None else batch
            lease = lease_seconds_for(size, channel.rate_per_second)
            claimed = claim(
                channel_id=channel_id, owner=owner, limit=size, lease_seconds=lease, message_ids=message_ids
            )
            if not claimed:
                break
            result.claimed += len(claimed)
            expired = [c for c in claimed if c.expired]
            if expired:
                result.expired += _mark_expired([c.id for c in expired], owner)
            to_send = _drop_unsendable([c for c in claimed if not c.expired], owner, result)
            if to_send:
                if adapter is None:
                    try:
                        adapter = channel_adapter(channel)
                    except Exception as exc:  # settings it cannot use ("ten" seconds): a gateway outage
                        logger.exception("channel %s: its adapter cannot be built", channel.pk)
                        _settle(channel, to_send, [], {}, owner, result, exc)
                        to_send = []
                if adapter is not None and to_send:
                    _send_paced(adapter, channel, to_send, owner, result, lease)
            if message_ids is not None or result.paused:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        if adapter is not None:
            close_adapter(adapter)  # the optional close() of the contract, once per call
    result.seconds = time.monotonic() - started
    return result


def _drop_unsendable(claimed: list[Claimed], owner: str, result: DispatchResult) -> list[Claimed]:
    """The claimed messages that may be sent; the others are failed now, before anything is sent:

    - past the allowed attempts (an attempt that ended before its outcome was recorded still counted);
      their fallback is queued, as after a last failed attempt;
    - non-emergency messages to persons whose latest "messages" consent is a withdrawal — recorded after
      the message was queued (an opt-out fails the queued ones, not those a worker held then, nor a
      withdrawal recorded at the office). The same check as queueing (``load_contacts``); emergency
      messages keep their rules (checked when queued)."""
    from rumbo.messaging.services.outbox import load_contacts

    max_attempts = _setting("RUMBO_MESSAGING_MAX_ATTEMPTS", 6)
    exhausted = [c.id for c in claimed if c.attempts > max_attempts]
    persons = {c.person_id for c in claimed if c.person_id is not None and not c.emergency}
    contacts = load_contacts(sorted(persons)) if persons else {}
    withdrawn = [
        c.id
        for c in claimed
        if c.id not in exhausted
        and c.person_id in contacts
        and not c.emergency
        and contacts[c.person_id].messages_withdrawn
    ]
    if not exhausted and not withdrawn:
        return claimed
    failed = _fail_claimed(exhausted, owner, FailureReason.TOO_MANY_ATTEMPTS, keep_error=True)
    result.failed += len(failed) + len(_fail_claimed(withdrawn, owner, FailureReason.CONSENT_WITHDRAWN))
    if failed:
        result.fallbacks += queue_fallbacks(failed)
    dropped = {*exhausted, *withdrawn}
    return [c for c in claimed if c.id not in dropped]


def _fail_claimed(message_ids: list[int], owner: str, reason: str, *, keep_error: bool = False) -> list[int]:
    """Mark claimed messages failed with ``reason`` (after it, the last error when ``keep_error``); fenced by
    the lease. Returns the ids marked."""
    if not message_ids:
        return []
    error = "%s || last_error" if keep_error else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE messaging_message SET status = 'failed', failed_at = %s, last_error = {error},"  # noqa: S608
            f" lease_until = NULL WHERE id IN ({_marks(message_ids)}) AND lease_owner = %s"
            " AND status = 'sending' RETURNING id",
            [_db_datetime(timezone.now()), f"{reason}: " if keep_error else str(reason), *message_ids, owner],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def _send_paced(
    adapter: Adapter, channel: Channel, claimed: list[Claimed], owner: str, result: DispatchResult, lease: int
) -> None:
    share = channel.rate_per_second / live_workers(channel.pk)
    step = max(1, int(share))
    lease_ends = time.monotonic() + lease
    for start in range(0, len(claimed), step):
        part = claimed[start : start + step]
        tick = time.monotonic()
        if start and _is_paused(channel.pk):
            result.paused = True
            result.released += _release([c.id for c in claimed[start:]], owner)
            return
        if lease_ends - tick < lease / 2:
            _extend_lease([c.id for c in claimed[start:]], owner, lease)
            lease_ends = tick + lease
        _send_and_settle(adapter, channel, part, owner, result)
        spent = time.monotonic() - tick
        wanted = len(part) / share if share > 0 else 0
        if wanted > spent and start + step < len(claimed):
            time.sleep(wanted - spent)


def _send_and_settle(
    adapter: Adapter, channel: Channel, claimed: list[Claimed], owner: str, result: DispatchResult
) -> None:
    outbound = [
        OutboundMessage(
            message_id=c.id,
            idempotency_key=c.idempotency_key,
            to=c.to,
            body=c.body,
            subject=c.subject,
            language=c.language,
        )
        for c in claimed
    ]
    results: list[SendResult] = []
    crash: BaseException | None = None
    commit = _Committer(owner)
    try:
        results = list(adapter.send_batch(outbound, commit))
    except GatewayUnavailable as exc:  # the gateway could not be reached: every message is retryable
        crash = exc
        logger.warning("channel %s: gateway unavailable: %s", channel.pk, exc)
    except Exception as exc:  # an adapter that broke its contract: retryable too, but worth a traceback
        crash = exc
        logger.exception("channel %s: the adapter failed", channel.pk)
    finally:
        commit.finish()
    _settle(channel, claimed, results, commit.committed, owner, result, crash)


def _settle(
    channel: Channel,
    claimed: list[Claimed],
    results: list[SendResult],
    committed: dict[int, str],
    owner: str,
    result: DispatchResult,
    crash: BaseException | None,
) -> None:
    by_id = {r.message_id: r for r in results}
    max_attempts = _setting("RUMBO_MESSAGING_MAX_ATTEMPTS", 6)
    now = timezone.now()
    release: list[int] = []
    retry: list[tuple[int, str, int]] = []  # id, error, attempts
    fail: list[tuple[int, str]] = []
    refused_retry: list[tuple[int, str, int]] = []
    refused_fail: list[tuple[int, str]] = []
    provider_updates: list[tuple[str, int]] = []
    for c in claimed:
        r = by_id.get(c.id)
        if c.id in committed:
            if r is not None and r.error:
                if r.permanent or c.attempts >= max_attempts:
                    refused_fail.append((c.id, r.error))
                else:
                    refused_retry.append((c.id, r.error, c.attempts))
            else:
                result.sent += 1
                if r is not None and r.provider_id and r.provider_id[:120] != committed[c.id]:
                    provider_updates.append((r.provider_id[:120], c.id))
            continue
        if r is None:
            if crash is not None:
                error = f"{type(crash).__name__}: {crash}"
                if c.attempts >= max_attempts:
                    fail.append((c.id, error))
                else:
                    retry.append((c.id, error, c.attempts))
            else:
                release.append(c.id)
        elif not r.error:
            release.append(c.id)  # commit() said another worker has it: the fenced update changes nothing
        elif r.permanent or c.attempts >= max_attempts:
            fail.append((c.id, r.error))
        else:
            retry.append((c.id, r.error, c.attempts))
    if release:
        released = _release(release, owner)
        result.released += released
        result.lost += len(release) - released
    db_now = _db_datetime(now)
    with connection.cursor() as cursor:
        if provider_updates:
            cursor.executemany(
                "UPDATE messaging_message SET provider_id = %s WHERE id = %s AND lease_owner = %s",
                [(pid, mid, owner) for pid, mid in provider_updates],
            )
        retry_at: list[datetime] = []
        for retry_rows, status in ((retry, "sending"), (refused_retry, "sent")):
            params = []
            for mid, error, attempts in retry_rows:
                when = now + backoff(attempts)
                retry_at.append(when)
                params.append((_db_datetime(when), error[:MAX_ERROR], mid, owner, status))
            for row in params:
                cursor.execute(
                    "UPDATE messaging_message SET status = 'queued', next_attempt_at = %s, last_error = %s,"
                    " lease_owner = '', lease_until = NULL, sent_at = NULL"
                    " WHERE id = %s AND lease_owner = %s AND status = %s",
                    row,
                )
                if cursor.rowcount == 1:
                    result.retried += 1
                else:
                    result.lost += 1
        failed_ids: list[int] = []
        for fail_rows, status in ((fail, "sending"), (refused_fail, "sent")):
            for mid, error in fail_rows:
                cursor.execute(
                    "UPDATE messaging_message SET status = 'failed', failed_at = %s, last_error = %s,"
                    " lease_until = NULL, sent_at = NULL WHERE id = %s AND lease_owner = %s AND status = %s",
                    [db_now, error[:MAX_ERROR], mid, owner, status],
                )
                if cursor.rowcount == 1:
                    failed_ids.append(mid)
    result.failed += len(failed_ids)
    if crash is not None and len(result.errors) < 10:
        result.errors.append(f"{type(crash).__name__}: {crash}")
    if failed_ids:
        result.fallbacks += queue_fallbacks(failed_ids)
    if retry_at:
        _enqueue_retry(channel.pk, [m for m, _e, _a in retry + refused_retry], max(retry_at))


def _enqueue_retry(channel_id: int, message_ids: list[int], when: datetime) -> None:
    """A deferred task for the retried messages (the sweeper catches them too if the backend cannot defer)."""
    from rumbo.messaging.services.outbox import enqueue_batches
    from rumbo.messaging.tasks import send_batch

    try:
        if send_batch.get_backend().supports_defer:
            enqueue_batches(channel_id, message_ids, run_after=when + timedelta(seconds=1))
    except Exception:  # pragma: no cover - the sweeper re-enqueues them anyway
        logger.exception("could not enqueue the retry of %s messages", len(message_ids))


def _release(message_ids: list[int], owner: str) -> int:
    """Hand claimed messages back untouched (the attempt is not counted); fenced by the lease."""
    if not message_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET status = 'queued', attempts = attempts - 1, lease_owner = '',"  # noqa: S608
            f" lease_until = NULL WHERE id IN ({_marks(message_ids)})"
            " AND lease_owner = %s AND status = 'sending'",
            [*message_ids, owner],
        )
        return int(cursor.rowcount)


def _extend_lease(message_ids: list[int], owner: str, seconds: int) -> None:
    if not message_ids:
        return
    until = _db_datetime(timezone.now() + timedelta(seconds=seconds))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE messaging_message SET lease_until = %s WHERE id IN ({_marks(message_ids)})"  # noqa: S608
            " AND lease_owner = %s AND status = 'sending'",
            [until, *message_ids, owner],
        )


def _mark_expired(message_ids: list[int], owner: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET status = 'expired', lease_until = NULL, failed_at = %s"  # noqa: S608
            f" WHERE id IN ({_marks(message_ids)}) AND lease_owner = %s AND status = 'sending'",
            [_db_datetime(timezone.now()), *message_ids, owner],
        )
        return int(cursor.rowcount)


def expire_due(channel_id: int | None = None) -> int:
    """Mark ``expired`` every waiting message whose ``expires_at`` has passed (never sent). For the sweeper:
    messages of a paused channel expire too."""
    now = timezone.now()
    with scopes_disabled():
        query = Message.objects.filter(
            Q(status=MessageStatus.QUEUED) | Q(status=MessageStatus.SENDING, lease_until__lt=now),
            expires_at__lte=now,
        )
        if channel_id is not None:
            query = query.filter(channel_id=channel_id)
        return query.update(status=MessageStatus.EXPIRED, lease_until=None, failed_at=now)


# --- Fallback --------------------------------------------------------------------------------------------


def queue_fallbacks(failed_ids: Sequence[int]) -> int:
    """For each permanently failed message, queue the same content on the next channel the person has (not one
    tried already for this message). Skips expired messages, anonymised or merged persons, and non-emergency
    messages to persons who opted out. Returns how many fallbacks were queued; their sending is enqueued."""
    from rumbo.messaging.services.outbox import enqueue_batches, load_contacts

    if not failed_ids:
        return 0
    now = timezone.now()
    with scopes_disabled():
        failed = list(
            Message.objects.filter(pk__in=failed_ids, person__isnull=False).values(
                "id",
                "office_id",
                "person_id",
                "channel_id",
                "campaign_id",
                "step",
                "idempotency_key",
                "language",
                "subject",
                "body",
                "emergency",
                "expires_at",
                "fallback_of_id",
            )
        )
        if not failed:
            return 0
        tried = _tried_channels(failed)
        contacts = load_contacts([m["person_id"] for m in failed])
        channels_by_office = {oid: active_channels(oid) for oid in {m["office_id"] for m in failed}}
        names = dict(
            Campaign.objects.filter(
                pk__in={m["campaign_id"] for m in failed if m["campaign_id"]}
            ).values_list("pk", "name")
        )
        new: list[Message] = []
        for m in failed:
            if m["expires_at"] is not None and m["expires_at"] <= now:
                continue
            contact = contacts.get(m["person_id"])
            if contact is None or contact.anonymised or contact.merged:
                continue
            if (m["emergency"] and contact.emergency_withdrawn) or (
                not m["emergency"] and contact.messages_withdrawn
            ):
                continue
            try:
                channel, to = choose_channel(
                    contact, channels_by_office[m["office_id"]], exclude=tried[m["id"]]
                )
            except AddressProblem:
                continue
            subject = m["subject"]
            if channel.kind != ChannelKind.SMS and not subject:
                subject = names.get(m["campaign_id"], "") or contact.full_name
            new.append(
                Message(
                    office_id=m["office_id"],
                    person_id=m["person_id"],
                    channel=channel,
                    campaign_id=m["campaign_id"],
                    step=m["step"],
                    idempotency_key=fallback_key(m["idempotency_key"], channel.pk),
                    to=to,
                    language=m["language"],
                    subject=subject if channel.kind != ChannelKind.SMS else "",
                    body=m["body"],
                    emergency=m["emergency"],
                    next_attempt_at=now,
                    expires_at=m["expires_at"],
                    fallback_of_id=m["id"],
                )
            )
        if not new:
            return 0
        keys = [n.idempotency_key for n in new]
        Message.objects.bulk_create(new, ignore_conflicts=True)
        created = Message.objects.filter(
            idempotency_key__in=keys,
            fallback_of_id__in=[m["id"] for m in failed],
            status=MessageStatus.QUEUED,
        )
        by_channel: dict[int, list[int]] = {}
        for mid, cid in created.values_list("id", "channel_id"):
            by_channel.setdefault(cid, []).append(mid)
    for cid, ids in by_channel.items():
        transaction.on_commit(partial(enqueue_batches, cid, ids))
    return sum(len(ids) for ids in by_channel.values())


def _tried_channels(failed: list[dict[str, Any]]) -> dict[int, set[int]]:
    """Per failed message: the channels its chain of fallbacks (and the original) used."""
    tried: dict[int, set[int]] = {}
    parent: dict[int, int | None] = {}
    channel_of: dict[int, int] = {}
    for m in failed:
        parent[m["id"]] = m["fallback_of_id"]
        channel_of[m["id"]] = m["channel_id"]
    missing = {p for p in parent.values() if p is not None and p not in parent}
    while missing:
        rows = list(Message.objects.filter(pk__in=missing).values_list("id", "fallback_of_id", "channel_id"))
        for mid, up, cid in rows:
            parent[mid] = up
            channel_of[mid] = cid
        missing = {p for p in parent.values() if p is not None and p not in parent}
        if not rows:
            break
    for m in failed:
        seen: set[int] = set()
        visited: set[int] = set()
        node: int | None = m["id"]
        while node is not None and node in channel_of and node not in visited:
            visited.add(node)
            seen.add(channel_of[node])
            node = parent.get(node)
        tried[m["id"]] = seen
    return tried
