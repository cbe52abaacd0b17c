"""Inbound traffic: replies from people and delivery receipts from gateways, stored and matched.

``record_events`` takes the events an adapter parsed from a webhook call (or a batch of them) and, in one
transaction and a handful of queries whatever the batch size:

- drops events already stored (a gateway that calls twice: same channel, kind, gateway id and receipt status);
- **receipts** move the message they are about: "accepted" leaves it sent, "delivered" marks it delivered,
  "failed" marks it failed and queues the fallback on the person's next channel (as a permanent failure);
- **replies** are matched to the person of the channel's office with that phone (E.164) or email and to the
  last message sent to that person on that channel (hence its campaign);
- a reply that is an **opt-out word** (BAJA, ALTO, STOP — any case, accents, spaces or punctuation around)
  records a withdrawal of the person's "messages" consent (method "online, by the person", text version naming
  the channel, hash of the reply as the text), audits ``OPT_OUT`` and fails the person's queued non-emergency
  messages; emergency messages are still sent.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django_scopes import scopes_disabled

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib import context as request_context
from rumbo.messaging.adapters.base import InboundEvent, ReceiptStatus
from rumbo.messaging.adapters.base import InboundKind as EventKind
from rumbo.messaging.models import (
    Channel,
    FailureReason,
    Inbound,
    InboundKind,
    InboundPending,
    Message,
    MessageStatus,
)
from rumbo.messaging.services.dispatch import queue_fallbacks
from rumbo.people.models import ConsentPurpose, ConsentRecord, Person, Phone

logger = logging.getLogger(__name__)

MAX_BODY = 5000
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


@dataclass
class InboundResult:
    """What one call of :func:`record_events` did."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    replies: int = 0
    matched: int = 0
    opt_outs: int = 0
    receipts: int = 0
    delivered: int = 0
    failed: int = 0
    fallbacks: int = 0
    unknown_message: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def opt_out_word(text: str) -> str:
    """The opt-out word ``text`` consists of ("BAJA"), or "" when it is anything else.

    Case, accents, spaces and punctuation are ignored (" baja. ", "Bája", "B A J A", "¡ALTO!"); a longer text
    that merely contains the word ("no me den de baja") is not an opt-out.
    """
    if not text or len(text) > 40:
        return ""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    word = _NON_WORD.sub("", folded).upper()
    words = {w.upper() for w in getattr(settings, "RUMBO_MESSAGING_OPT_OUT_WORDS", ["BAJA", "ALTO", "STOP"])}
    return word if word in words else ""


def _event_key(channel_id: int, event: InboundEvent) -> tuple[str, str, str]:
    return (str(event.kind), event.provider_id, str(event.receipt_status or ""))


def _normal_sender(channel: Channel, sender: str) -> str:
    sender = (sender or "").strip()
    if channel.kind == "email" or "@" in sender:
        return sender.lower()
    digits = re.sub(r"[^\d+]", "", sender)
    if digits and not digits.startswith("+"):
        digits = "+" + digits.lstrip("0")
    return digits


def record_events(*, channel: Channel, events: Sequence[InboundEvent]) -> InboundResult:
    """Store and apply a batch of inbound events of one channel (see the module docstring). Runs without a
    user (webhooks, workers): the channel decides the office. Returns the counts."""
    result = InboundResult(received=len(events))
    if not events:
        return result
    now = timezone.now()
    with scopes_disabled(), transaction.atomic():
        fresh = _drop_duplicates(channel, events, result)
        if not fresh:
            return result
        receipts = [e for e in fresh if e.kind == EventKind.RECEIPT]
        replies = [e for e in fresh if e.kind == EventKind.REPLY]
        rows: list[Inbound] = []
        failed_ids: list[int] = []
        if receipts:
            rows.extend(_apply_receipts(channel, receipts, now, result, failed_ids))
        opt_outs: list[tuple[Inbound, str]] = []
        if replies:
            reply_rows = _match_replies(channel, replies, result)
            for row in reply_rows:
                word = opt_out_word(row.body)
                if word and row.person_id is not None:
                    row.opt_out = True
                    opt_outs.append((row, word))
            rows.extend(reply_rows)
        Inbound.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        result.stored = len(rows)
        if opt_outs:
            _record_opt_outs(channel, opt_outs, now, result)
        if failed_ids:
            result.fallbacks = queue_fallbacks(failed_ids)
    return result


def _drop_duplicates(
    channel: Channel, events: Sequence[InboundEvent], result: InboundResult
) -> list[InboundEvent]:
    keyed = [e for e in events if e.provider_id]
    seen: set[tuple[str, str, str]] = set()
    if keyed:
        provider_ids = list({e.provider_id for e in keyed})
        # Shaped for the dedupe constraint's index (channel, kind, provider_id, …) WHERE provider_id <> '':
        # with the kinds and the exclude(), SQLite seeks each gateway id instead of scanning the channel.
        kinds = sorted({str(e.kind) for e in keyed})
        existing = (
            Inbound.objects.filter(channel=channel, kind__in=kinds, provider_id__in=provider_ids)
            .exclude(provider_id="")
            .order_by()  # the model's default order would make SQLite walk the (channel, received_at) index
            .values_list("kind", "provider_id", "receipt_status")
        )
        seen = {(k, p, s) for k, p, s in existing}
    fresh: list[InboundEvent] = []
    for event in events:
        if event.provider_id:
            key = _event_key(channel.pk, event)
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
        fresh.append(event)
    return fresh


def _apply_receipts(
    channel: Channel,
    receipts: list[InboundEvent],
    now: Any,
    result: InboundResult,
    failed_ids: list[int],
) -> list[Inbound]:
    result.receipts += len(receipts)
    by_id: dict[int, dict[str, Any]] = {}
    by_provider: dict[str, dict[str, Any]] = {}
    fields = ("id", "person_id", "campaign_id", "status", "provider_id")
    ids = {e.message_id for e in receipts if e.message_id}
    provider_ids = {e.provider_id for e in receipts if e.provider_id and not e.message_id}
    if ids:
        for m in Message.objects.filter(channel=channel, pk__in=ids).values(*fields):
            by_id[m["id"]] = m
    if provider_ids:
        query = Message.objects.filter(channel=channel, provider_id__in=provider_ids).exclude(provider_id="")
        for m in query.values(*fields):  # the exclude() lets SQLite use the partial provider index
            by_provider[m["provider_id"]] = m
    delivered: dict[int, Any] = {}
    failed: dict[int, str] = {}
    rows: list[Inbound] = []
    for event in receipts:
        message = by_id.get(event.message_id or 0) or by_provider.get(event.provider_id)
        if message is None:
            result.unknown_message += 1
        else:
            if event.receipt_status == ReceiptStatus.DELIVERED:
                delivered[message["id"]] = event.received_at or now
            elif event.receipt_status == ReceiptStatus.FAILED:
                failed[message["id"]] = event.error or FailureReason.DELIVERY_FAILED
        rows.append(
            Inbound(
                office_id=channel.office_id,
                channel=channel,
                kind=InboundKind.RECEIPT,
                sender=event.sender[:254],
                body=event.body[:MAX_BODY],
                provider_id=(event.provider_id or (message or {}).get("provider_id") or "")[:120],
                receipt_status=str(event.receipt_status or "")[:10],
                person_id=(message or {}).get("person_id"),
                message_id=(message or {}).get("id"),
                campaign_id=(message or {}).get("campaign_id"),
                raw=dict(event.raw),
            )
        )
    # A late "delivered" after a "failed" (or the reverse) keeps the first final state.
    for message_id, when in delivered.items():
        changed = Message.objects.filter(
            pk=message_id, status__in=[MessageStatus.SENT, MessageStatus.SENDING]
        ).update(status=MessageStatus.DELIVERED, delivered_at=when)
        result.delivered += changed
    for message_id, error in failed.items():
        if message_id in delivered:
            continue
        changed = Message.objects.filter(pk=message_id, status=MessageStatus.SENT).update(
            status=MessageStatus.FAILED, failed_at=now, last_error=error[:2000]
        )
        if changed:
            result.failed += 1
            failed_ids.append(message_id)
    return rows


def _match_replies(channel: Channel, replies: list[InboundEvent], result: InboundResult) -> list[Inbound]:
    result.replies += len(replies)
    senders = {_normal_sender(channel, e.sender) for e in replies}
    senders.discard("")
    persons_by_sender: dict[str, list[int]] = {}
    phones = {s for s in senders if "@" not in s}
    emails = {s for s in senders if "@" in s}
    if phones:
        # Phones first, then their persons: two index lookups whatever the planner's statistics say (a join
        # can start from the persons of the office and probe phones for each of them).
        by_person: dict[int, list[str]] = {}
        for pid, e164 in Phone.objects.filter(e164__in=phones).values_list("person_id", "e164"):
            by_person.setdefault(pid, []).append(e164)
        live = Person.objects.filter(
            pk__in=list(by_person),
            office_id=channel.office_id,
            anonymised_at__isnull=True,
            merged_into__isnull=True,
        ).values_list("id", flat=True)
        for pid in live:
            for e164 in by_person[pid]:
                persons_by_sender.setdefault(e164, []).append(pid)
    if emails:
        for pid, email in (
            Person.objects.filter(
                office_id=channel.office_id, anonymised_at__isnull=True, merged_into__isnull=True
            )
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .values_list("id", "email_lower")
        ):
            persons_by_sender.setdefault(email, []).append(pid)
    candidates = {pid for pids in persons_by_sender.values() for pid in pids}
    last_message: dict[int, int] = {}
    campaigns: dict[int, int | None] = {}
    if candidates:
        # Every message of these persons (a few each), filtered here: the query can only use the (person, …)
        # index, which keeps it fast without planner statistics too.
        sent = Message.objects.filter(person_id__in=candidates).values_list(
            "person_id", "id", "channel_id", "sent_at", "campaign_id"
        )
        for pid, mid, cid, sent_at, of_campaign in sent:
            if cid == channel.pk and sent_at is not None and mid > last_message.get(pid, 0):
                last_message[pid] = mid
                campaigns[mid] = of_campaign
    explicit = {e.message_id for e in replies if e.message_id}
    explicit_rows = {}
    if explicit:
        explicit_rows = {
            m["id"]: m
            for m in Message.objects.filter(channel=channel, pk__in=explicit).values(
                "id", "person_id", "campaign_id"
            )
        }
    rows: list[Inbound] = []
    for event in replies:
        sender = _normal_sender(channel, event.sender)
        person_id: int | None = None
        message_id: int | None = None
        campaign_id: int | None = None
        answered = explicit_rows.get(event.message_id or 0)
        if answered is not None:
            person_id, message_id, campaign_id = (
                answered["person_id"],
                answered["id"],
                answered["campaign_id"],
            )
        else:
            pids = persons_by_sender.get(sender, [])
            if pids:
                # Several records with the same number (a family phone): the one we wrote to last.
                messaged = [p for p in pids if p in last_message]
                person_id = max(messaged, key=lambda p: last_message[p]) if messaged else min(pids)
                message_id = last_message.get(person_id)
                campaign_id = campaigns.get(message_id) if message_id else None
        if person_id is not None:
            result.matched += 1
        rows.append(
            Inbound(
                office_id=channel.office_id,
                channel=channel,
                kind=InboundKind.REPLY,
                sender=sender[:254],
                body=event.body[:MAX_BODY],
                provider_id=event.provider_id[:120],
                receipt_status="",
                person_id=person_id,
                message_id=message_id,
                campaign_id=campaign_id,
                raw=dict(event.raw),
            )
        )
    return rows


def _record_opt_outs(
    channel: Channel, opt_outs: list[tuple[Inbound, str]], now: Any, result: InboundResult
) -> None:
    """Withdraw the "messages" consent of each person who sent an opt-out word (once per person)."""
    person_ids = list({row.person_id for row, _word in opt_outs if row.person_id is not None})
    latest: dict[int, str] = {}
    for pid, status in (
        ConsentRecord.objects.filter(person_id__in=person_ids, purpose=ConsentPurpose.MESSAGES)
        .order_by("person_id", "recorded_at", "id")
        .values_list("person_id", "status")
    ):
        latest[pid] = status
    done: set[int] = set()
    records: list[ConsentRecord] = []
    events: list[AuditEvent] = []
    ctx = request_context.current()
    for row, word in opt_outs:
        pid = row.person_id
        if pid is None or pid in done:
            continue
        done.add(pid)
        if latest.get(pid) == ConsentRecord.Status.WITHDRAWN:
            continue
        records.append(
            ConsentRecord(
                person_id=pid,
                purpose=ConsentPurpose.MESSAGES,
                status=ConsentRecord.Status.WITHDRAWN,
                method=ConsentRecord.Method.ONLINE,
                given_by="",
                text_version=f"{channel.kind}-reply:{word}"[:40],
                text_sha256=hashlib.sha256(row.body.encode("utf-8")).hexdigest(),
                recorded_by=None,
            )
        )
        events.append(
            AuditEvent(
                actor=None,
                actor_label="",
                office_id=channel.office_id,
                action=Action.OPT_OUT,
                object_type="people.person",
                object_id=str(pid),
                changes={f"consent.{ConsentPurpose.MESSAGES}": {"old": latest.get(pid), "new": "withdrawn"}},
                detail={
                    "channel": channel.pk,
                    "kind": channel.kind,
                    "word": word,
                    "sender": row.sender,
                    "campaign": row.campaign_id,
                    "message": row.message_id,
                },
                request_id=ctx.request_id if ctx else "",
                ip=ctx.ip if ctx else None,
            )
        )
    if not records:
        return
    ConsentRecord.objects.bulk_create(records, batch_size=1000)
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    result.opt_outs += len(records)
    # What was queued for them and is not an emergency will not be sent.
    Message.objects.filter(
        person_id__in=[r.person_id for r in records], status=MessageStatus.QUEUED, emergency=False
    ).update(status=MessageStatus.FAILED, failed_at=now, last_error=FailureReason.OPTED_OUT)


# --- Deferred ingest: store the call now, apply it in a batch -------------------------------------------


def event_to_json(event: InboundEvent) -> dict[str, Any]:
    """An event as JSON for :class:`InboundPending` (:func:`event_from_json` reads it back unchanged)."""
    return {
        "kind": str(event.kind),
        "sender": event.sender,
        "body": event.body,
        "provider_id": event.provider_id,
        "message_id": event.message_id,
        "receipt_status": str(event.receipt_status) if event.receipt_status else None,
        "error": event.error,
        "received_at": event.received_at.isoformat() if event.received_at else None,
        "raw": dict(event.raw),
    }


def event_from_json(data: dict[str, Any]) -> InboundEvent:
    received = data.get("received_at")
    return InboundEvent(
        kind=EventKind(data["kind"]),
        sender=data.get("sender", ""),
        body=data.get("body", ""),
        provider_id=data.get("provider_id", ""),
        message_id=data.get("message_id"),
        receipt_status=ReceiptStatus(data["receipt_status"]) if data.get("receipt_status") else None,
        error=data.get("error", ""),
        received_at=datetime.datetime.fromisoformat(received) if received else None,
        raw=data.get("raw") or {},
    )


def store_pending(*, channel: Channel, events: Sequence[InboundEvent]) -> None:
    """Keep a webhook call's events for :func:`ingest_pending` (one insert). Each event carries the moment
    it arrived, so the delivery time a receipt records is the gateway's call, not the batch's."""
    if not events:
        return
    now = timezone.now()
    InboundPending.objects.create(
        channel_id=channel.pk,
        received_at=now,
        events=[event_to_json(e if e.received_at else replace(e, received_at=now)) for e in events],
    )


def ingest_pending(*, batch: int = 1000, limit: int | None = None) -> int:
    """Apply the stored webhook calls, oldest first, ``batch`` calls per transaction, until none is left
    (or ``limit`` calls were handled); returns how many calls were applied.

    Each batch is claimed, applied with :func:`record_events` (per channel) and deleted in one transaction:
    a worker that dies halfway leaves the whole batch to the next drain, and nothing is applied twice
    (the rows are gone once applied; ``record_events`` also drops a repeated gateway id). Concurrent drains
    skip each other's rows on PostgreSQL (``SKIP LOCKED``) and run one after the other on SQLite.

    A call that cannot be applied (a value the database refuses, say) is set aside, not re-raised: it keeps
    its row, with ``failed_at`` and ``error``, for inspection, and later drains skip it. Otherwise it would
    roll back its whole batch on every drain, and the replies and opt-outs behind it would wait forever.
    A failure of the database itself (connection lost, database locked) is raised: the batch waits."""
    done = handled = 0
    while limit is None or handled < limit:
        with scopes_disabled(), transaction.atomic():
            rows = list(
                InboundPending.objects.select_for_update(skip_locked=True)
                .filter(failed_at__isnull=True)
                .order_by("id")[:batch]
            )
            if not rows:
                break
            by_channel: dict[int, list[InboundPending]] = {}
            for row in rows:
                by_channel.setdefault(row.channel_id, []).append(row)
            channels = Channel.objects.in_bulk(list(by_channel))
            failed: dict[int, str] = {}
            for channel_id, calls in by_channel.items():
                channel = channels.get(channel_id)
                if channel is not None:  # a channel deleted meanwhile: its calls are dropped
                    failed.update(_apply_calls(channel, calls))
            InboundPending.objects.filter(pk__in=[r.pk for r in rows if r.pk not in failed]).delete()
            now = timezone.now()
            for pk, error in failed.items():
                InboundPending.objects.filter(pk=pk).update(failed_at=now, error=error)
        done += len(rows) - len(failed)
        handled += len(rows)
    return done


def _apply_calls(channel: Channel, calls: list[InboundPending]) -> dict[int, str]:
    """Apply stored calls of one channel: together (a handful of queries whatever their number), or, when
    that fails, each in its own savepoint. Returns the calls that could not be applied (id → error)."""
    if len(calls) > 1:
        try:
            with transaction.atomic():
                events = [event_from_json(e) for call in calls for e in call.events]
                record_events(channel=channel, events=events)
            return {}
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # noqa: S110 - one of them is bad: found (and logged) one by one below
            pass
    failed: dict[int, str] = {}
    for call in calls:
        try:
            with transaction.atomic():
                record_events(channel=channel, events=[event_from_json(e) for e in call.events])
        except (OperationalError, InterfaceError):
            raise  # the database itself (gone, locked): the whole batch waits for the next drain
        except Exception as exc:
            logger.exception("inbound call %s (channel %s) cannot be applied; set aside", call.pk, channel.pk)
            failed[call.pk] = f"{type(exc).__name__}: {exc}"[:2000]
    return failed


def purge_set_aside(*, now: datetime.datetime | None = None) -> int:
    """Delete the webhook calls set aside (see :func:`ingest_pending`) more than
    ``RUMBO_MESSAGING_SET_ASIDE_DAYS`` ago: they hold senders' numbers and texts, kept for inspection, not
    for ever. Returns how many were deleted."""
    days = int(getattr(settings, "RUMBO_MESSAGING_SET_ASIDE_DAYS", 30))
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    with scopes_disabled():
        deleted, _ = InboundPending.objects.filter(failed_at__lt=cutoff).delete()
    return deleted


def pending_count() -> int:
    return InboundPending.objects.count()
