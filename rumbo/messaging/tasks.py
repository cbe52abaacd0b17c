"""Background work of the messaging app (django-tasks, queue "messaging").

- ``send_batch(channel_id, message_ids)``: one task per batch of queued messages
  (``RUMBO_MESSAGING_BATCH_SIZE``, 500 by default), enqueued when the queueing transaction commits; never one
  task per message.
- ``send_due(channel_id)``: sends any due message of a channel for up to a minute (a drain). The sweeper
  enqueues it for channels whose messages have nobody working on them.
- ``sweep()``: the recovery pass. A worker killed mid-batch leaves its claimed messages ``sending`` with a
  lease and, with django-tasks-db, its task RUNNING forever; a task can also be lost before it ran (Redis
  flushed, a process killed between the commit and the enqueue). The sweep expires what is past its expiry
  and, per channel, enqueues a drain when a lease has run out or due messages have waited longer than the
  sweep interval with no live lease on the channel. Duplicate drains are harmless: claims are exclusive.
  ``rumbo worker`` runs the sweep when it starts and then every ``RUMBO_MESSAGING_SWEEP_SECONDS`` (see
  :func:`sweep_in_worker`); ``rumbo messaging_sweep`` runs it by hand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_scopes import scopes_disabled
from django_tasks import task

from rumbo.messaging.models import Channel, Message, MessageStatus
from rumbo.messaging.services.dispatch import expire_due, send_messages
from rumbo.messaging.services.inbound import ingest_pending, purge_set_aside

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 60


def encode_ids(ids: Sequence[int]) -> str:
    """Ids as ranges, ``"1-500"`` or ``"1,3,5-9"``: one JSON string per task instead of a list of numbers."""
    parts: list[str] = []
    ordered = sorted(set(ids))
    start = previous = None
    for value in ordered:
        if previous is not None and value == previous + 1:
            previous = value
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = value
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def decode_ids(value: str | Sequence[int]) -> list[int]:
    """The ids of :func:`encode_ids` (a plain list is accepted too)."""
    if not isinstance(value, str):
        return [int(i) for i in value]
    ids: list[int] = []
    for part in filter(None, value.split(",")):
        first, _dash, last = part.partition("-")
        ids.extend(range(int(first), int(last or first) + 1))
    return ids


@task(queue_name="messaging")
def send_batch(channel_id: int, message_ids: str | list[int]) -> dict[str, Any]:
    """Send one batch of messages of a channel (those still due: a message sent meanwhile is skipped).
    ``message_ids``: a list or the compact form of :func:`encode_ids`."""
    return send_messages(channel_id=channel_id, message_ids=decode_ids(message_ids)).as_dict()


@task(queue_name="messaging")
def send_due(channel_id: int, seconds: int = DRAIN_SECONDS) -> dict[str, Any]:
    """Send any due message of a channel, batch after batch, for at most ``seconds``."""
    deadline = time.monotonic() + max(1, int(seconds))
    return send_messages(channel_id=channel_id, deadline=deadline).as_dict()


@task(queue_name="messaging")
def ingest_inbound() -> dict[str, Any]:
    """Apply the webhook calls stored by the deferred ingest (``services.inbound.ingest_pending``)."""
    return {"calls": ingest_pending()}


#: At most one ``ingest_inbound`` is enqueued per process and per this many seconds; it runs that long
#: after it was enqueued, so the calls stored meanwhile have committed when it runs.
INGEST_DELAY_SECONDS = 0.5
_ingest_lock = threading.Lock()
_ingest_enqueued_at = 0.0


def enqueue_ingest() -> None:
    """Make sure a drain of the stored webhook calls runs soon: enqueue one (delayed by
    :data:`INGEST_DELAY_SECONDS`) unless this process did so less than that long ago — that one runs after
    this call's row committed, so every stored call is covered by a drain that starts after it, whatever the
    rate. The sweep also drains what is left (a task lost with Redis, a process killed before enqueueing)."""
    global _ingest_enqueued_at
    now = time.monotonic()
    with _ingest_lock:
        if now - _ingest_enqueued_at < INGEST_DELAY_SECONDS:
            return
        _ingest_enqueued_at = now
    run_after = timezone.now() + timedelta(seconds=INGEST_DELAY_SECONDS)
    try:
        ingest_inbound.using(run_after=run_after).enqueue()
    except Exception:  # a backend without deferred tasks (immediate): run it now
        ingest_inbound.enqueue()


def stalled_channels(*, grace_seconds: int | None = None) -> list[int]:
    """Active, unpaused channels that need a drain: an expired lease (a dead worker's claim), or due messages
    older than ``grace_seconds`` while no worker holds a live lease on the channel."""
    grace = int(grace_seconds if grace_seconds is not None else settings.RUMBO_MESSAGING_SWEEP_SECONDS)
    now = timezone.now()
    stalled: list[int] = []
    with scopes_disabled():
        channel_ids = list(
            Channel.objects.filter(is_active=True, paused_at__isnull=True).values_list("pk", flat=True)
        )
        for channel_id in channel_ids:
            waiting = Message.objects.filter(channel_id=channel_id)
            dead_lease = waiting.filter(status=MessageStatus.SENDING, lease_until__lt=now).exists()
            if dead_lease:
                stalled.append(channel_id)
                continue
            overdue = waiting.filter(
                status=MessageStatus.QUEUED, next_attempt_at__lte=now - timedelta(seconds=grace)
            ).exists()
            if overdue and not waiting.filter(status=MessageStatus.SENDING, lease_until__gte=now).exists():
                stalled.append(channel_id)
    return stalled


def sweep(*, grace_seconds: int | None = None) -> dict[str, Any]:
    """Expire what is past its expiry and enqueue a drain for every stalled channel (see the module doc)."""
    expired = expire_due()
    try:
        ingested = ingest_pending()  # webhook calls whose drain was lost
    except Exception:  # logged: the recovery of stalled channels below must run whatever happened here
        logger.exception("messaging sweep: applying the stored webhook calls failed")
        ingested = 0
    channels = stalled_channels(grace_seconds=grace_seconds)
    for channel_id in channels:
        send_due.enqueue(channel_id=channel_id)
    purged = purge_set_aside()
    if expired or channels or ingested or purged:
        logger.info(
            "messaging sweep: %s expired, %s webhook calls applied, drains enqueued for channels %s,"
            " %s set-aside calls deleted",
            expired,
            ingested,
            channels,
            purged,
        )
    return {"expired": expired, "drains": channels, "ingested": ingested, "purged": purged}


def sweep_interval() -> float:
    """Seconds between two sweeps of a worker (``RUMBO_MESSAGING_SWEEP_SECONDS``; 0 or less: none)."""
    return float(getattr(settings, "RUMBO_MESSAGING_SWEEP_SECONDS", 30))


def sweep_in_worker() -> dict[str, Any] | None:
    """One sweep inside a long-running worker: a failure is logged, not raised (a database or Redis hiccup
    must not end recovery for good, nor the worker), and the calling thread's database connections are
    released afterwards as after a request (``CONN_MAX_AGE`` honoured), so a worker idle for hours holds
    no stale connection. Returns what :func:`sweep` did, ``None`` when it failed."""
    try:
        return sweep()
    except Exception:
        logger.exception("messaging sweep failed")
        return None
    finally:
        close_old_connections()


@task(queue_name="messaging")
def sweep_task() -> dict[str, Any]:
    """The sweep as a task (for deployments that schedule it instead of running ``rumbo worker``)."""
    return sweep()
