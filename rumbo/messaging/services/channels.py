"""Channels: create, change, pause and resume the ways an office sends messages.

A channel's ``config`` (gateway URL, user, password, token …) is validated against the fields its adapter
declares (``adapters.config_fields``), stored encrypted (``crypto.encrypt_config``) and never written to the
audit trail: events list which settings changed, not their values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.lib.validation import FieldErrors
from rumbo.messaging.adapters import config_fields
from rumbo.messaging.adapters._config import ConfigField
from rumbo.messaging.crypto import decrypt_config, encrypt_config
from rumbo.messaging.models import Channel, ChannelKind
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require

_AUDITED = ("name", "sender", "rate_per_second", "priority", "is_active")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SHORT_CODE = re.compile(r"^\d{3,8}$")
_ALPHANUMERIC = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
_DIGITS = re.compile(r"^\d{5,20}$")
MAX_RATE = 100_000


def secret_names(kind: str) -> frozenset[str]:
    """Names of the settings of this kind that are secrets (never shown back, blank = keep)."""
    return frozenset(f.name for f in config_fields(kind) if f.secret)


def masked_config(channel: Channel) -> dict[str, str]:
    """The channel's settings for a form: secrets replaced by "" (the form shows "unchanged if blank")."""
    secrets = secret_names(channel.kind)
    return {k: ("" if k in secrets else v) for k, v in decrypt_config(channel.config_encrypted).items()}


def _clean_kind(kind: str, errors: FieldErrors) -> str:
    if kind not in ChannelKind.values:
        errors.add("kind", _("Choose a valid channel type."))
        return ""
    if kind == ChannelKind.CONSOLE and not getattr(settings, "RUMBO_MESSAGING_ALLOW_CONSOLE", False):
        errors.add(
            "kind",
            _("The console channel only writes messages to a file; it is available in development only."),
        )
    return kind


def _clean_sender(kind: str, sender: str, errors: FieldErrors) -> str:
    sender = (sender or "").strip()
    if not sender:
        errors.add("sender", _("Enter the sending identity."))
        return sender
    if kind == ChannelKind.EMAIL:
        address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
        try:
            validate_email(address)
        except ValidationError:
            errors.add("sender", _("Enter an email address, e.g. avisos@ofam.gob.mx or Name <avisos@…>."))
    elif kind == ChannelKind.SMS and not (
        _E164.match(sender) or _SHORT_CODE.match(sender) or _ALPHANUMERIC.match(sender)
    ):
        errors.add(
            "sender",
            _("Enter a number in international form (+52…), a short code or a name of at most 11 letters."),
        )
    elif kind == ChannelKind.WHATSAPP and not _DIGITS.match(sender):
        errors.add(
            "sender", _("Enter the WhatsApp phone number ID (digits, from the Meta developer console).")
        )
    return sender


def _clean_numbers(rate: Any, priority: Any, errors: FieldErrors) -> tuple[int, int]:
    try:
        rate_value = int(rate)
        if not 1 <= rate_value <= MAX_RATE:
            raise ValueError
    except (TypeError, ValueError):
        errors.add("rate_per_second", _("Enter a whole number from 1 to 100,000."))
        rate_value = 0
    try:
        priority_value = int(priority)
        if not 0 <= priority_value <= 32767:
            raise ValueError
    except (TypeError, ValueError):
        errors.add("priority", _("Enter a whole number from 0 to 32,767."))
        priority_value = 0
    return rate_value, priority_value


def _clean_config(kind: str, config: Mapping[str, Any], errors: FieldErrors) -> dict[str, str]:
    """Known settings only, stripped; every required one present (errors at ``config.<name>``)."""
    if not kind:
        return {}
    fields = config_fields(kind)
    known = {f.name for f in fields}
    cleaned = {str(k): str(v if v is not None else "").strip() for k, v in config.items() if str(k) in known}
    for unknown in sorted(set(map(str, config)) - known):
        errors.add(f"config.{unknown}", _("Unknown setting for this channel type."))
    for field in fields:
        if field.required and not cleaned.get(field.name):
            errors.add(f"config.{field.name}", _("This setting is required."))
        elif cleaned.get(field.name) and not _in_range(field, cleaned[field.name]):
            # Checked here: the adapter reads it as a number, and a word would break every send and callback.
            message = (
                _("Enter a whole number from %(minimum)s to %(maximum)s.")
                if field.number is int
                else _("Enter a number from %(minimum)s to %(maximum)s.")
            )
            errors.add(
                f"config.{field.name}",
                message % {"minimum": f"{field.minimum:g}", "maximum": f"{field.maximum:g}"},
            )
    return {k: v for k, v in cleaned.items() if v}


def _in_range(field: ConfigField, value: str) -> bool:
    """Whether ``value`` reads as the field's number type (if it has one) and lies in its range."""
    if field.number is None:
        return True
    try:
        number = field.number(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return field.minimum <= number <= field.maximum


def _name_taken(office: Office, name: str, exclude: int | None = None) -> bool:
    query = Channel.objects.filter(office=office, name__iexact=name)
    if exclude is not None:
        query = query.exclude(pk=exclude)
    return query.exists()


def create_channel(
    *,
    actor: Any,
    office: Office,
    kind: str,
    name: str,
    sender: str,
    config: Mapping[str, Any],
    rate_per_second: int = 50,
    priority: int = 10,
) -> Channel:
    """Add a channel to ``office``. Needs ``MANAGE_CHANNELS``. Validates the type, the sending identity for
    that type, the rate limit and order, and the settings its adapter requires; stores the settings encrypted.
    Audits ``CHANNEL_CREATE`` with the names of the settings (never their values)."""
    require(actor, Perm.MANAGE_CHANNELS, office.pk)
    errors = FieldErrors()
    kind = _clean_kind(kind, errors)
    name = (name or "").strip()
    if not name:
        errors.add("name", _("Enter a name."))
    elif len(name) > 100:
        errors.add("name", _("At most 100 characters."))
    elif _name_taken(office, name):
        errors.add("name", _("This office already has a channel with this name."))
    sender = _clean_sender(kind, sender, errors)
    rate, order = _clean_numbers(rate_per_second, priority, errors)
    cleaned = _clean_config(kind, config, errors)
    errors.raise_if_any()
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                office=office,
                kind=kind,
                name=name,
                sender=sender,
                config_encrypted=encrypt_config(cleaned),
                rate_per_second=rate,
                priority=order,
            )
            audit_record(
                actor=actor,
                action=Action.CHANNEL_CREATE,
                office=office,
                obj=channel,
                changes={k: {"old": None, "new": v} for k, v in snapshot(channel, _AUDITED).items()},
                detail={"kind": kind, "config_keys": sorted(cleaned)},
            )
    except IntegrityError as exc:  # a concurrent create with the same name
        raise ValidationError({"name": [_("This office already has a channel with this name.")]}) from exc
    return channel


def update_channel(*, actor: Any, channel: Channel, **fields: Any) -> Channel:
    """Change a channel: any of ``name``, ``sender``, ``rate_per_second``, ``priority``, ``is_active`` and
    ``config``. ``config`` is merged into the stored settings; a blank secret keeps the stored one (forms
    never show secrets back), a blank non-secret setting removes it. Needs ``MANAGE_CHANNELS``. The type
    cannot change. Audits ``CHANNEL_UPDATE`` (changed fields, and the names of changed settings)."""
    require(actor, Perm.MANAGE_CHANNELS, channel.office_id)
    allowed = {"name", "sender", "rate_per_second", "priority", "is_active", "config"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"update_channel() got unexpected fields: {', '.join(sorted(unknown))}")
    errors = FieldErrors()
    before = snapshot(channel, _AUDITED)
    name = str(fields.get("name", channel.name) or "").strip()
    if not name:
        errors.add("name", _("Enter a name."))
    elif len(name) > 100:
        errors.add("name", _("At most 100 characters."))
    elif name.lower() != channel.name.lower() and _name_taken(channel.office, name, exclude=channel.pk):
        errors.add("name", _("This office already has a channel with this name."))
    sender = _clean_sender(channel.kind, str(fields.get("sender", channel.sender) or ""), errors)
    rate, order = _clean_numbers(
        fields.get("rate_per_second", channel.rate_per_second),
        fields.get("priority", channel.priority),
        errors,
    )
    stored = decrypt_config(channel.config_encrypted)
    changed_keys: list[str] = []
    merged = dict(stored)
    if "config" in fields and fields["config"] is not None:
        secrets = secret_names(channel.kind)
        for key, value in dict(fields["config"]).items():
            key, text = str(key), str(value if value is not None else "").strip()
            if key in secrets and not text:
                continue  # blank secret: keep the stored one
            if merged.get(key, "") != text:
                changed_keys.append(key)
            merged[key] = text
    cleaned = _clean_config(channel.kind, merged, errors)
    errors.raise_if_any()
    with transaction.atomic():
        channel.name = name
        channel.sender = sender
        channel.rate_per_second = rate
        channel.priority = order
        if "is_active" in fields:
            channel.is_active = bool(fields["is_active"])
        if changed_keys:
            channel.config_encrypted = encrypt_config(cleaned)
        channel.save()
        changes = diff(before, snapshot(channel, _AUDITED))
        audit_record(
            actor=actor,
            action=Action.CHANNEL_UPDATE,
            office=channel.office,
            obj=channel,
            changes=changes,
            detail={"config_keys_changed": sorted(changed_keys)},
        )
    if channel.is_active and not before.get("is_active"):
        _kick_on_commit(channel.pk)
    return channel


def pause_channel(*, actor: Any, channel: Channel) -> Channel:
    """Stop sending on a channel: queued messages wait (they are not failed). Needs ``MANAGE_CHANNELS``.
    Audits ``CHANNEL_PAUSE``. Pausing a paused channel changes nothing."""
    require(actor, Perm.MANAGE_CHANNELS, channel.office_id)
    if channel.paused_at is not None:
        return channel
    with transaction.atomic():
        channel.paused_at = timezone.now()
        channel.paused_by = actor if getattr(actor, "is_authenticated", False) else None
        channel.save(update_fields=["paused_at", "paused_by"])
        audit_record(actor=actor, action=Action.CHANNEL_PAUSE, office=channel.office, obj=channel)
    return channel


def resume_channel(*, actor: Any, channel: Channel) -> Channel:
    """Send again on a paused channel; its waiting messages are picked up at once. Needs
    ``MANAGE_CHANNELS``. Audits ``CHANNEL_RESUME`` with how long it was paused."""
    require(actor, Perm.MANAGE_CHANNELS, channel.office_id)
    if channel.paused_at is None:
        return channel
    paused_for = (timezone.now() - channel.paused_at).total_seconds()
    with transaction.atomic():
        channel.paused_at = None
        channel.paused_by = None
        channel.save(update_fields=["paused_at", "paused_by"])
        audit_record(
            actor=actor,
            action=Action.CHANNEL_RESUME,
            office=channel.office,
            obj=channel,
            detail={"paused_seconds": round(paused_for)},
        )
    _kick_on_commit(channel.pk)
    return channel


def _kick_on_commit(channel_id: int) -> None:
    """Enqueue a drain of the channel once the transaction commits (resume, reactivation)."""

    def enqueue() -> None:
        from rumbo.messaging.tasks import send_due

        send_due.enqueue(channel_id=channel_id)

    transaction.on_commit(enqueue)
