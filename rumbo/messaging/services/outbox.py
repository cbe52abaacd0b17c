"""Queueing: every message becomes an outbox row (``Message``) before anything is sent.

``queue_message`` queues one message (errors raised at the field: the form shows them); ``queue_campaign``
queues a campaign step for many people (per-recipient problems are *skip reasons* in the result, never an
error that stops the others). Both check the template first, then each recipient's address, and only then
write. Sending is done by workers (``services.dispatch``) through one task per batch of messages.

**Idempotency.** ``Message.idempotency_key`` is unique. A campaign step uses
``c{campaign}:s{step}:p{person}``, so queueing the same step again creates nothing new (the result counts
those as "already queued"); a single message uses ``o{office}:{key}`` when the caller gives a key (e.g. a form
nonce or ``safety:{event}:{person}``), otherwise a fresh random key.

**Channel choice.** The person's preferred channel kind (``ContactPreference``) first, then the office's
active channels by ``priority``, the first one on which the person has an address: email for email, a phone
that can receive SMS for SMS (not a landline; ``phonenumbers`` says mobile or "fixed line or mobile"), a phone
marked "uses WhatsApp" for WhatsApp. **Language**: the person's preferred language when the template has it,
else the template's fallback. **Consent**: a person whose latest "messages" consent is a withdrawal (e.g.
replied BAJA) gets no non-emergency message; emergency messages still go, unless the "emergency" consent was
withdrawn. A person with no consent record at all is messaged: contacting the people an office assists is part
of the assistance; the opt-out is what the law and the issue require us to honour.

**Bulk path.** A campaign is processed in chunks of :data:`CHUNK` recipients: a few queries load the persons,
phones, consents and preferences of a chunk, the compiled renderer fills the texts, and the rows are written
with the database's fastest insert (SQLite: multi-row ``INSERT OR IGNORE`` on the raw connection; PostgreSQL:
``COPY``, the campaign row locked so a concurrent queueing of the same step cannot collide). Each chunk is its
own transaction and enqueues its sending tasks when it commits, so workers start on the first chunk while the
rest is being queued; a failure halfway leaves a consistent prefix, and queueing again completes it.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.messaging.models import Campaign, Channel, ChannelKind, ContactPreference, Message, Template
from rumbo.messaging.rendering import VARIABLES, Renderer, compile_text, context_of
from rumbo.messaging.services._common import (
    AddressProblem,
    Contact,
    PhoneRow,
    SkipReason,
    active_channels,
    address_for,
    choose_channel,
    ordered_channels,
    reply_hint,
)
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require
from rumbo.people.models import ConsentPurpose, Person

#: Recipients per chunk (one transaction, a handful of queries).
CHUNK = 10_000
#: Skipped recipients listed by id in a result (the counts are always complete).
SKIPPED_LISTED = 1_000


@dataclass
class QueueResult:
    """What queueing a campaign step did."""

    campaign_id: int | None = None
    step: int = 0
    recipients: int = 0
    queued: int = 0
    already_queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # SkipReason value → count
    skipped_people: list[tuple[int, str]] = field(default_factory=list)  # (person id, reason), first ones
    by_channel: Counter[str] = field(default_factory=Counter)  # channel kind → queued
    by_language: Counter[str] = field(default_factory=Counter)
    tasks: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skipped_labels(self) -> list[tuple[str, int]]:
        """(translated reason, count), most frequent first."""
        return [(str(SkipReason(reason).label), count) for reason, count in self.skipped.most_common()]

    def as_detail(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id,
            "step": self.step,
            "recipients": self.recipients,
            "queued": self.queued,
            "already_queued": self.already_queued,
            "skipped": dict(self.skipped),
            "by_channel": dict(self.by_channel),
            "tasks": self.tasks,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class CompiledTemplate:
    """A template's texts compiled once per queueing: language → (subject renderer, body renderer)."""

    texts: dict[str, tuple[Renderer, Renderer]]
    fallback: str
    emergency: bool

    def language_for(self, preferred: str) -> str:
        return preferred if preferred in self.texts else self.fallback


def compile_template(template: Template) -> CompiledTemplate:
    """Compile every text of ``template``; a ValidationError at ``template`` lists what is wrong."""
    problems: list[str] = []
    texts: dict[str, tuple[Renderer, Renderer]] = {}
    for text in template.texts.all():
        try:
            texts[text.language] = (compile_text(text.subject), compile_text(text.body))
        except ValidationError as exc:
            problems.extend(f"[{text.language}] {m}" for m in exc.messages)
    if not texts and not problems:
        problems.append(str(_("The template has no text.")))
    if problems:
        raise ValidationError({"template": problems})
    fallback = template.fallback_language if template.fallback_language in texts else next(iter(texts))
    return CompiledTemplate(texts, fallback, template.emergency)


def _check_context(context: Mapping[str, Any] | None, field_name: str) -> dict[str, str]:
    values = {str(k): str(v) for k, v in (context or {}).items()}
    unknown = sorted(set(values) - set(VARIABLES))
    if unknown:
        raise ValidationError(
            {field_name: [_("Unknown variable “%(name)s”.") % {"name": name} for name in unknown]}
        )
    return values


# --- Loading recipients --------------------------------------------------------------------------------


def _in(column: str, values: Sequence[int]) -> tuple[str, list[Any]]:
    if connection.vendor == "postgresql":
        # One text literal cast to bigint[]: psycopg would build the array element by element, and an int4[]
        # against a bigint column makes PostgreSQL compare linearly instead of hashing.
        return f"{column} = ANY(%s::bigint[])", ["{" + ",".join(map(str, values)) + "}"]
    return f"{column} IN ({','.join(['%s'] * len(values))})", list(values)


def _id_filter(column: str, ids: Sequence[int]) -> tuple[str, list[Any], set[int] | None]:
    """SQL selecting ``column`` in ``ids``: a range when the ids are dense (the usual case: the persons of an
    office, or a selection of them, in id order — one index range scan instead of thousands of probes; rows
    outside ``ids`` are dropped by the caller with the returned set), else the list itself."""
    low, high = min(ids), max(ids)
    if high - low < 4 * len(ids):
        return f"{column} BETWEEN %s AND %s", [low, high], set(ids)
    where, params = _in(column, ids)
    return where, params, None


def load_contacts(person_ids: Sequence[int], office_id: int | None = None) -> dict[int, Contact]:
    """Everything needed to address the given persons, in four queries (raw SQL: the caller checked the
    office; ``office_id`` restricts the persons to one office)."""
    if not person_ids:
        return {}
    contacts: dict[int, Contact] = {}
    where, params, wanted = _id_filter("id", person_ids)
    if office_id is not None:
        where += " AND office_id = %s"
        params.append(office_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, office_id, given_names, first_surname, second_surname, email, preferred_language,"  # noqa: S608
            f" anonymised_at IS NOT NULL, merged_into_id IS NOT NULL FROM people_person WHERE {where}",
            params,
        )
        for pid, oid, given, first, second, email, language, anon, merged in cursor.fetchall():
            if wanted is not None and pid not in wanted:
                continue
            contacts[pid] = Contact(
                pid,
                oid,
                given,
                first,
                second,
                email.strip() if email else "",
                language or "",
                anon,
                merged,
                [],
            )
        if not contacts:
            return contacts
        where, params, _wanted = _id_filter("person_id", list(contacts))
        cursor.execute(
            f"SELECT person_id, e164, kind, whatsapp, is_primary FROM people_phone WHERE {where}"  # noqa: S608
            " ORDER BY person_id, is_primary DESC, id",
            params,
        )
        get = contacts.get
        for pid, e164, kind, whatsapp, primary in cursor.fetchall():
            contact = get(pid)
            if contact is not None:
                contact.phones.append(PhoneRow(e164, kind, bool(whatsapp), bool(primary)))
        cursor.execute(
            f"SELECT person_id, purpose, status FROM people_consentrecord WHERE {where}"  # noqa: S608
            " AND purpose IN (%s, %s) ORDER BY person_id, recorded_at, id",
            [*params, ConsentPurpose.MESSAGES.value, ConsentPurpose.EMERGENCY.value],
        )
        for pid, purpose, status in cursor.fetchall():  # later rows win: the latest is the current state
            contact = get(pid)
            if contact is None:
                continue
            if purpose == ConsentPurpose.MESSAGES:
                contact.messages_withdrawn = status == "withdrawn"
            else:
                contact.emergency_withdrawn = status == "withdrawn"
        cursor.execute(
            f"SELECT person_id, channel_kind FROM messaging_contactpreference WHERE {where}",  # noqa: S608
            params,
        )
        for pid, kind in cursor.fetchall():
            contact = get(pid)
            if contact is not None:
                contact.preferred_kind = kind
    return contacts


def person_context(
    contact: Contact, office_name: str, campaign_name: str, language: str, kind: str
) -> dict[str, str]:
    """The variables of one message."""
    return {
        "given_names": contact.given_names,
        "first_surname": contact.first_surname,
        "surnames": contact.surnames,
        "full_name": contact.full_name,
        "office_name": office_name,
        "campaign_name": campaign_name,
        "reply_hint": reply_hint(language, kind),
    }


# --- Writing rows -----------------------------------------------------------------------------------------

COLUMNS = (
    "id",
    "office_id",
    "person_id",
    "channel_id",
    "campaign_id",
    "step",
    "idempotency_key",
    "to",
    "language",
    "subject",
    "body",
    "emergency",
    "status",
    "attempts",
    "last_error",
    "provider_id",
    "next_attempt_at",
    "expires_at",
    "lease_owner",
    "lease_until",
    "fallback_of_id",
    "queued_at",
)


def _allocate_ids(count: int) -> list[int]:
    """SQLite: ``count`` new message ids; call inside the chunk's transaction (it holds the write lock)."""
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - constant table name
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        seq = cursor.fetchone()
        top = max(top, seq[0] if seq else 0)
    return list(range(top + 1, top + 1 + count))


def _existing_keys(keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    step = 5_000
    with connection.cursor() as cursor:
        for start in range(0, len(keys), step):
            part = keys[start : start + step]
            marks = ",".join(["%s"] * len(part))
            cursor.execute(
                f"SELECT idempotency_key FROM messaging_message WHERE idempotency_key IN ({marks})",  # noqa: S608
                list(part),
            )
            found.update(r[0] for r in cursor.fetchall())
    return found


_SQLITE_STATEMENTS: dict[int, str] = {}


def _sqlite_insert(rows: list[tuple[Any, ...]]) -> int:
    """``INSERT OR IGNORE`` of many rows per statement on the raw sqlite3 connection; returns the count
    inserted."""
    width = len(COLUMNS)
    per = max(1, 4000 // width)
    raw = connection.connection
    cursor = raw.cursor()
    before = raw.total_changes
    try:
        full = len(rows) // per * per
        if full:
            cursor.executemany(
                _sqlite_sql(per), [list(chain.from_iterable(rows[i : i + per])) for i in range(0, full, per)]
            )
        if full < len(rows):
            cursor.execute(_sqlite_sql(len(rows) - full), list(chain.from_iterable(rows[full:])))
    finally:
        cursor.close()
    return int(raw.total_changes - before)


def _sqlite_sql(count: int) -> str:
    sql = _SQLITE_STATEMENTS.get(count)
    if sql is None:
        group = "(" + ",".join("?" * len(COLUMNS)) + ")"
        names = ",".join(f'"{c}"' for c in COLUMNS)
        sql = f"INSERT OR IGNORE INTO messaging_message ({names}) VALUES " + ",".join([group] * count)  # noqa: S608
        _SQLITE_STATEMENTS[count] = sql
    return sql


def _write_sqlite(rows: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    ids = _allocate_ids(len(rows))
    rows = [(new_id, *row[1:]) for new_id, row in zip(ids, rows, strict=True)]
    inserted = _sqlite_insert(rows)
    if inserted != len(rows):
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM messaging_message WHERE id BETWEEN %s AND %s", [ids[0], ids[-1]])
            present = {r[0] for r in cursor.fetchall()}
        rows = [r for r in rows if r[0] in present]
    return [(r[0], r[3]) for r in rows]


# PostgreSQL: rows are copied (text format, no indexes, no WAL) into a temporary table, then moved with one
# INSERT … ON CONFLICT DO NOTHING RETURNING: the sequence numbers the new rows, the unique key drops those
# queued already (even by a concurrent call), and the ids come back for the sending tasks.
_STAGE = "rumbo_messaging_stage"
_PG_COLUMNS = COLUMNS[1:]
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_TEXT_COLUMNS = frozenset(
    i for i, c in enumerate(_PG_COLUMNS) if c in {"idempotency_key", "to", "subject", "body"}
)


def _copy_value(index: int, value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if index in _TEXT_COLUMNS:
        return str(value).translate(_COPY_ESCAPES)
    return str(value)


def _write_postgresql(rows: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    names = ",".join(f'"{c}"' for c in _PG_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS"  # noqa: S608
            f" AS SELECT {names} FROM messaging_message WITH NO DATA"
        )
    # Values repeated on every row (datetimes, campaign, office…) are converted once.
    constant: dict[tuple[int, Any], str] = {}
    lines: list[str] = []
    for row in rows:
        fields = []
        for index, value in enumerate(row[1:]):
            if index in _TEXT_COLUMNS:
                fields.append(str(value).translate(_COPY_ESCAPES))
                continue
            key = (index, value)
            text = constant.get(key)
            if text is None:
                text = constant[key] = _copy_value(index, value)
            fields.append(text)
        lines.append("\t".join(fields))
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {_STAGE} ({names}) FROM STDIN") as copy:
            copy.write("\n".join(lines) + "\n")
        cursor.execute(
            f"INSERT INTO messaging_message ({names}) SELECT {names} FROM {_STAGE}"  # noqa: S608
            " ON CONFLICT DO NOTHING RETURNING id, channel_id"
        )
        inserted = [(int(mid), int(cid)) for mid, cid in cursor.fetchall()]
        cursor.execute(f"TRUNCATE {_STAGE}")
    return inserted


def write_rows(rows: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    """Insert message rows (tuples in :data:`COLUMNS` order, the id ignored; datetimes already adapted with
    ``connection.ops.adapt_datetimefield_value``) and return ``(id, channel_id)`` of the rows inserted (a row
    whose idempotency key exists is left out). Call inside a transaction. SQLite and PostgreSQL, the
    databases Rumbo supports."""
    if not rows:
        return []
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        return _write_postgresql(rows)
    return _write_sqlite(rows)


def enqueue_batches(channel_id: int, message_ids: Sequence[int], run_after: datetime | None = None) -> int:
    """Enqueue one sending task per batch of ``RUMBO_MESSAGING_BATCH_SIZE`` messages; returns the number of
    tasks."""
    from rumbo.messaging.tasks import encode_ids, send_batch

    size = max(1, int(getattr(settings, "RUMBO_MESSAGING_BATCH_SIZE", 500)))
    task = send_batch if run_after is None else send_batch.using(run_after=run_after)
    count = 0
    for start in range(0, len(message_ids), size):
        # A compact string ("1-500" or "1,3,5-9"): the task backend serialises it in one step.
        task.enqueue(channel_id=channel_id, message_ids=encode_ids(message_ids[start : start + size]))
        count += 1
    return count


def enqueue_on_commit(by_channel: Mapping[int, list[int]]) -> int:
    """Enqueue the sending tasks of newly queued messages once the current transaction commits."""
    size = max(1, int(getattr(settings, "RUMBO_MESSAGING_BATCH_SIZE", 500)))
    planned = sum(-(-len(ids) // size) for ids in by_channel.values() if ids)
    batches = {cid: list(ids) for cid, ids in by_channel.items() if ids}

    def enqueue() -> None:
        for cid, ids in batches.items():
            enqueue_batches(cid, ids)

    if batches:
        transaction.on_commit(enqueue)
    return planned


# --- Single messages ---------------------------------------------------------------------------------------


def _address_error(problem: AddressProblem, field_name: str) -> ValidationError:
    message: Any
    if problem.reason == SkipReason.INVALID_EMAIL:
        message = _("The email address “%(address)s” is not valid: correct it in the person's record.") % {
            "address": problem.detail
        }
    elif problem.reason == SkipReason.NOT_MOBILE:
        message = _(
            "%(number)s cannot receive SMS: it is a landline or not a valid mobile number. "
            "Add a mobile number to the person's record or choose another channel."
        ) % {"number": problem.detail}
    else:
        message = _("This person has no address for the office's active channels (phone, WhatsApp or email).")
    return ValidationError({field_name: [message]})


def queue_message(
    *,
    actor: Any,
    office: Office,
    person: Person,
    template: Template,
    context: Mapping[str, Any] | None = None,
    channel_kind: str | None = None,
    key: str | None = None,
    expires_in: timedelta | None = None,
) -> Message:
    """Queue one message from ``template`` to ``person`` and enqueue its sending. Needs ``SEND_MESSAGES``.

    Errors (a ValidationError at the field, nothing queued): the template has an unknown variable or no text
    (``template``), ``context`` names an unknown variable (``context``), the person is not of the office, was
    anonymised or opted out (``person``), no active channel of ``channel_kind`` (``channel_kind``), the
    person's address for the chosen channel is unusable — an invalid email, a landline or invalid number for
    SMS — (at ``channel_kind`` when a kind was asked for, else ``person``). With ``key``, queueing again
    returns the message already queued; a key already used for another person or template is an error at
    ``key`` (a client's mistake that would otherwise send nothing, silently). Audits ``MESSAGES_QUEUE``.
    """
    require(actor, Perm.SEND_MESSAGES, office.pk)
    if person.office_id != office.pk:
        raise ValidationError({"person": [_("This person is not registered by this office.")]})
    if template.office_id != office.pk:
        raise ValidationError({"template": [_("Choose a template of this office.")]})
    compiled = compile_template(template)
    extra = _check_context(context, "context")
    address_field = "channel_kind" if channel_kind else "person"
    if channel_kind and channel_kind not in ChannelKind.values:
        raise ValidationError({"channel_kind": [_("Choose a valid channel type.")]})
    contact = load_contacts([person.pk]).get(person.pk)
    if contact is None or contact.anonymised or contact.merged:
        raise ValidationError({"person": [_("This record cannot receive messages (anonymised or merged).")]})
    if compiled.emergency and contact.emergency_withdrawn:
        raise ValidationError(
            {"person": [_("This person withdrew consent to be contacted in an emergency.")]}
        )
    if not compiled.emergency and contact.messages_withdrawn:
        raise ValidationError({"person": [_("This person opted out of messages (only emergency messages).")]})
    channels = active_channels(office.pk)
    if channel_kind:
        channels = [c for c in channels if c.kind == channel_kind]
        if not channels:
            raise ValidationError({"channel_kind": [_("The office has no active channel of this type.")]})
    elif not channels:
        raise ValidationError({"channel_kind": [_("The office has no active channel: add one first.")]})
    channel, to = _first_channel(contact, channels, address_field)
    language = compiled.language_for(contact.language)
    subject_renderer, body_renderer = compiled.texts[language]
    values = person_context(contact, office.name, "", language, channel.kind)
    values.update(extra)
    full_key = f"o{office.pk}:{key}" if key else f"o{office.pk}:m:{uuid.uuid4().hex}"
    if len(full_key) > 120:
        raise ValidationError({"key": [_("The idempotency key is too long (at most 100 characters).")]})
    now = timezone.now()
    with transaction.atomic():
        message, created = Message.objects.get_or_create(
            idempotency_key=full_key,
            defaults={
                "office": office,
                "person": person,
                "template": template,
                "channel": channel,
                "to": to,
                "language": language,
                "subject": subject_renderer(values)[:200] if channel.kind != ChannelKind.SMS else "",
                "body": body_renderer(values),
                "emergency": compiled.emergency,
                "next_attempt_at": now,
                "expires_at": now + expires_in if expires_in else None,
            },
        )
        if not created and (
            message.person_id != person.pk
            or (message.template_id is not None and message.template_id != template.pk)
        ):
            raise ValidationError({"key": [_("This key was already used for another person or template.")]})
        if created:
            audit_record(
                actor=actor,
                action=Action.MESSAGES_QUEUE,
                office=office,
                obj=message,
                detail={
                    "person": person.pk,
                    "template": template.pk,
                    "channel": channel.pk,
                    "kind": channel.kind,
                },
            )
            enqueue_on_commit({channel.pk: [message.pk]})
    return message


def _first_channel(contact: Contact, channels: Sequence[Channel], field_name: str) -> tuple[Channel, str]:
    try:
        return choose_channel(contact, channels, exact=True)
    except AddressProblem as problem:
        raise _address_error(problem, field_name) from None


# --- Campaigns ---------------------------------------------------------------------------------------------


def queue_campaign(
    *,
    actor: Any,
    campaign: Campaign,
    person_ids: Iterable[int],
    step: int = 0,
    expires_in: timedelta | None = None,
    extra_context: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> QueueResult:
    """Queue step ``step`` of ``campaign`` for ``person_ids`` and enqueue the sending, one task per batch.
    Needs ``SEND_MESSAGES``.

    The template is checked first (ValidationError at ``template``; nothing queued), then ``extra_context``
    (``extra_context``: only known variables, the same for everyone, e.g. ``link``). A recipient without a
    usable address (invalid email, landline for SMS …), opted out (non-emergency campaign), anonymised,
    merged or of another office is *skipped* with a reason; the result counts them and lists the first
    ones. A recipient already queued for this step is counted, not queued again. ``dry_run`` computes the
    same result without writing (a preview). Audits ``MESSAGES_QUEUE`` once, with the counts.
    """
    require(actor, Perm.SEND_MESSAGES, campaign.office_id)
    started = time.perf_counter()
    office = campaign.office
    compiled = compile_template(campaign.template)
    extra = _check_context(extra_context, "extra_context")
    if not 0 <= int(step) <= 32767:
        raise ValidationError({"step": [_("Enter a step from 0 to 32,767.")]})
    channels = active_channels(office.pk)
    if not channels:
        raise ValidationError({"campaign": [_("The office has no active channel: add one first.")]})
    emergency = bool(campaign.emergency or compiled.emergency)
    result = QueueResult(campaign_id=campaign.pk, step=int(step), dry_run=dry_run)
    ids = list(dict.fromkeys(int(p) for p in person_ids))
    result.recipients = len(ids)
    kinds = {c.pk: c.kind for c in channels}

    def store(rows: list[tuple[Any, ...]]) -> None:
        """Write one chunk in its own transaction; its sending tasks are enqueued when it commits."""
        with transaction.atomic():
            inserted = write_rows(rows)
            by_channel: dict[int, list[int]] = {}
            for message_id, channel_id in inserted:
                by_channel.setdefault(channel_id, []).append(message_id)
            result.tasks += enqueue_on_commit(by_channel)
        result.queued += len(inserted)
        result.already_queued += len(rows) - len(inserted)
        for cid, message_ids in by_channel.items():
            result.by_channel[kinds[cid]] += len(message_ids)

    chunks = (ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK))
    if dry_run:
        for chunk in chunks:
            _plan_chunk(chunk, campaign, compiled, channels, emergency, int(step), expires_in, extra, result)
    else:
        with _Writer(store, threaded=len(ids) > CHUNK and _can_write_in_a_thread()) as writer:
            for chunk in chunks:
                rows = _plan_chunk(
                    chunk, campaign, compiled, channels, emergency, int(step), expires_in, extra, result
                )
                if rows:
                    writer.submit(rows)
    result.seconds = time.perf_counter() - started
    if not dry_run:
        audit_record(
            actor=actor, action=Action.MESSAGES_QUEUE, office=office, obj=campaign, detail=result.as_detail()
        )
    return result


def _can_write_in_a_thread() -> bool:
    """A second connection sees what this one committed: not inside a transaction (a test, a caller's
    atomic block) and not an in-memory SQLite database."""
    if connection.in_atomic_block:
        return False
    if connection.vendor == "sqlite":
        in_memory: Callable[[], bool] = getattr(connection, "is_in_memory_db", lambda: True)
        return not in_memory()
    return connection.vendor == "postgresql"


class _Writer:
    """Writes chunks in a thread with its own database connection while the caller prepares the next chunk.

    Preparing a chunk is Python work; writing it is mostly database work (index updates, foreign-key checks
    at commit) done by the database server (PostgreSQL) or by SQLite's C code, both outside Python's global
    lock: overlapping them nearly halves the time of a large campaign on two cores. At most two chunks wait;
    an error in the thread stops the caller at its next ``submit`` or at the end. ``threaded=False`` writes
    in the caller's thread (the same result, sequentially).
    """

    def __init__(self, store: Callable[[list[tuple[Any, ...]]], None], *, threaded: bool) -> None:
        self.store = store
        self.threaded = threaded
        self.pending: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Writer:
        if self.threaded:
            self.thread = threading.Thread(target=self._run, name="rumbo-outbox-writer", daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        from django.db import connection as thread_connection

        try:
            while True:
                rows = self.pending.get()
                if rows is None:
                    return
                if self.error is None:
                    try:
                        self.store(rows)
                    except BaseException as exc:  # handed to the caller's thread
                        self.error = exc
        finally:
            thread_connection.close()

    def submit(self, rows: list[tuple[Any, ...]]) -> None:
        if not self.threaded:
            self.store(rows)
            return
        if self.error is not None:
            raise self.error
        self.pending.put(rows)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.thread is not None:
            self.pending.put(None)
            self.thread.join()
        if self.error is not None and exc is None:
            raise self.error


def _plan_chunk(
    chunk: list[int],
    campaign: Campaign,
    compiled: CompiledTemplate,
    channels: list[Channel],
    emergency: bool,
    step: int,
    expires_in: timedelta | None,
    extra: dict[str, str],
    result: QueueResult,
) -> list[tuple[Any, ...]]:
    """Decide channel, address, language and text for every recipient of a chunk; rows without ids."""
    contacts = load_contacts(chunk, office_id=campaign.office_id)
    orders: dict[str, list[tuple[int, str]]] = {}
    adapt = connection.ops.adapt_datetimefield_value
    moment = timezone.now()
    expires_at = adapt(moment + expires_in) if expires_in else None
    now = adapt(moment)
    office_id, campaign_id, office_name, campaign_name = (
        campaign.office_id,
        campaign.pk,
        campaign.office.name,
        campaign.name,
    )
    rows: list[tuple[Any, ...]] = []
    skipped = result.skipped
    listed = result.skipped_people
    languages: Counter[str] = Counter()
    # Per language: the compiled subject and body as format strings (one ``format_map`` call each).
    formats = {lang: (s.format_string, b.format_string) for lang, (s, b) in compiled.texts.items()}
    needed = {name for subject, body in compiled.texts.values() for name in (*subject.names, *body.names)}
    with_surnames = "surnames" in needed
    with_full_name = "full_name" in needed
    fallback = compiled.fallback
    hints: dict[tuple[str, str], str] = {}
    append = rows.append
    for pid in chunk:
        contact = contacts.get(pid)
        reason: str | None = None
        if contact is None:
            reason = SkipReason.NOT_IN_OFFICE
        elif contact.anonymised:
            reason = SkipReason.ANONYMISED
        elif contact.merged:
            reason = SkipReason.MERGED
        elif emergency and contact.emergency_withdrawn:
            reason = SkipReason.OPTED_OUT_EMERGENCY
        elif not emergency and contact.messages_withdrawn:
            reason = SkipReason.OPTED_OUT
        if reason is None and contact is not None:
            order = orders.get(contact.preferred_kind)
            if order is None:
                order = orders[contact.preferred_kind] = [
                    (c.pk, c.kind) for c in ordered_channels(channels, contact.preferred_kind)
                ]
            channel_id = 0
            kind = to = ""
            problem: AddressProblem | None = None
            for candidate_id, candidate_kind in order:
                try:
                    to = address_for(contact, candidate_kind)
                except AddressProblem as exc:
                    # The most telling reason wins: an invalid email or a landline says more than "none".
                    if problem is None or problem.reason == SkipReason.NO_CONTACT:
                        problem = exc
                    continue
                channel_id, kind = candidate_id, candidate_kind
                break
            if not channel_id:
                reason = problem.reason if problem else SkipReason.NO_CONTACT
            else:
                language = contact.language if contact.language in formats else fallback
                subject_format, body_format = formats[language]
                hint = hints.get((language, kind))
                if hint is None:
                    hint = hints[(language, kind)] = reply_hint(language, kind)
                values = context_of(extra)
                values["given_names"] = contact.given_names
                values["first_surname"] = contact.first_surname
                values["office_name"] = office_name
                values["campaign_name"] = campaign_name
                values["reply_hint"] = hint
                if with_surnames:
                    values["surnames"] = contact.surnames
                if with_full_name:
                    values["full_name"] = contact.full_name
                append(
                    (
                        0,
                        office_id,
                        pid,
                        channel_id,
                        campaign_id,
                        step,
                        f"c{campaign_id}:s{step}:p{pid}",
                        to,
                        language,
                        subject_format.format_map(values)[:200] if kind != "sms" else "",
                        body_format.format_map(values),
                        emergency,
                        "queued",
                        0,
                        "",
                        "",
                        now,
                        expires_at,
                        "",
                        None,
                        None,
                        now,
                    )
                )
                languages[language] += 1
                continue
        reason = reason or SkipReason.NO_CONTACT
        skipped[reason] += 1
        if len(listed) < SKIPPED_LISTED:
            listed.append((pid, str(reason)))
    result.by_language.update(languages)
    if result.dry_run:
        existing = _existing_keys([r[6] for r in rows])
        kinds = {c.pk: c.kind for c in channels}
        for row in rows:
            if row[6] in existing:
                result.already_queued += 1
            else:
                result.queued += 1
                result.by_channel[kinds[row[3]]] += 1
    return rows


# --- Contact preference -----------------------------------------------------------------------------------


def set_contact_preference(*, actor: Any, person: Person, channel_kind: str) -> ContactPreference | None:
    """Record the channel kind a person prefers ("" removes the preference). Needs ``CHANGE_PERSON``."""
    require(actor, Perm.CHANGE_PERSON, person.office_id)
    if channel_kind and channel_kind not in ChannelKind.values:
        raise ValidationError({"channel_kind": [_("Choose a valid channel type.")]})
    with transaction.atomic():
        if not channel_kind:
            ContactPreference.objects.filter(person=person).delete()
            preference = None
        else:
            preference, _created = ContactPreference.objects.update_or_create(
                person=person,
                defaults={
                    "office_id": person.office_id,
                    "channel_kind": channel_kind,
                    "updated_by": actor if getattr(actor, "is_authenticated", False) else None,
                },
            )
        audit_record(
            actor=actor,
            action=Action.PERSON_UPDATE,
            office=person.office,
            obj=person,
            changes={"contact_preference": {"old": None, "new": channel_kind or None}},
        )
    return preference
