"""Writing audit events. Every service that touches personal data calls :func:`audit_record`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from rumbo.audit.models import Action, AuditEvent
from rumbo.lib import context


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` (foreign keys as ids), for a later :func:`diff`."""
    out: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name)
        out[name] = _jsonable(getattr(instance, attname))
    return out


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field-level diff ``{"field": {"old": ..., "new": ...}}`` of two snapshots (only changed fields)."""
    keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
    return {k: {"old": before.get(k), "new": after.get(k)} for k in keys if before.get(k) != after.get(k)}


def audit_record(
    *,
    actor: Any,
    action: Action,
    office: Any = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    changes: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event, with the request id and IP of the current request when there is one."""
    ctx = context.current()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_label=(actor.get_username() if is_user else "")[:150],
        office=office,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        changes=_jsonable(dict(changes or {})),
        detail=_jsonable(dict(detail or {})),
        request_id=ctx.request_id if ctx else "",
        ip=ctx.ip if ctx else None,
    )


_EACH_COLUMNS = (
    "at",
    "actor_id",
    "actor_label",
    "office_id",
    "action",
    "object_type",
    "object_id",
    "changes",
    "detail",
    "request_id",
    "ip",
)


def audit_record_each(
    *,
    actor: Any,
    action: Action,
    objects: Iterable[models.Model],
    detail: Mapping[str, Any] | None = None,
    writer: Any = None,
) -> int:
    """Append one event per object (e.g. one per exported person, so each record's access log shows it),
    in one bulk insert. Each event's office is the object's ``office_id``.

    ``writer`` (a ``rumbo.demo.writers.Writer``): insert the rows through it, without building model
    instances — for bulk jobs writing tens of thousands of events (imports); see also
    :func:`audit_record_refs`."""
    ctx = context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    payload = _jsonable(dict(detail or {}))
    if writer is not None:
        objects = list(objects)
        if not objects:
            return 0
        return audit_record_refs(
            actor=actor,
            action=action,
            model=type(objects[0]),
            refs=[(getattr(obj, "office_id", None), obj.pk) for obj in objects],
            detail=detail,
            writer=writer,
        )
    events = [
        AuditEvent(
            actor=actor if is_user else None,
            actor_label=(actor.get_username() if is_user else "")[:150],
            office_id=getattr(obj, "office_id", None),
            action=action,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            detail=payload,
            request_id=ctx.request_id if ctx else "",
            ip=ctx.ip if ctx else None,
        )
        for obj in objects
    ]
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    return len(events)


def audit_record_refs(
    *,
    actor: Any,
    action: Action,
    model: type[models.Model],
    refs: Iterable[tuple[int | None, Any]],
    writer: Any,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """One event per ``(office id, primary key)`` of ``model``, written through ``writer`` (a
    ``rumbo.demo.writers.Writer``) in one bulk insert: :func:`audit_record_each` for bulk jobs that hold
    ids, not model instances (an import writes a hundred thousand persons)."""
    from django.utils import timezone

    ctx = context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    payload = _jsonable(dict(detail or {}))
    head = (
        writer.datetime(timezone.now()),
        actor.pk if is_user else None,
        (actor.get_username() if is_user else "")[:150],
    )
    tail = (writer.json({}), writer.json(payload), ctx.request_id if ctx else "", ctx.ip if ctx else None)
    label = model._meta.label_lower
    rows = [(*head, office_id, action, label, str(pk), *tail) for office_id, pk in refs]
    writer.write(AuditEvent, _EACH_COLUMNS, rows)
    return len(rows)
