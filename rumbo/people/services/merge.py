"""Merging two records of the same person into one, and undoing it.

**What moves.** Every row of any installed app that points to the merged person through a foreign key or
one-to-one field moves to the survivor: documents, phones, addresses, aliases, consent, household links —
and the cases, referrals… of apps added later, without changes here, because the relations are found at
run time (:func:`person_relations`). Left where they are: data rebuilt from the person (search tokens, the
match index), the merge records themselves, the ``merged_into`` pointer, and the matching app's
adjudication pairs and access requests (they are about the records as they were; the pair between the
two merged records is marked "same").

**Unique collisions.** When the survivor already has the same unique row (a nationality, a language, a
vulnerability, a household link to the same relative) the survivor's row is kept and the merged person's
is deleted after its every field is stored in ``PersonMerge.dropped``; so is a link between the two
records, which would become a link of the survivor to itself. An unmerge recreates those rows with their
original ids.

**The merged record** becomes a tombstone: ``merged_into`` points to the survivor and its own fields are
left untouched (an unmerge restores the record from them); it has no search tokens and no match index.
Its audit history is not rewritten (the trail is append-only).

**Unmerge rule for the survivor's fields.** A field that took the merged record's value is restored to
the survivor's value from before the merge — unless it was edited after the merge (its current value is
no longer the one the merge gave it): a later edit is a newer, audited decision and is kept. Rows added to
the survivor after the merge stay with the survivor; moved rows deleted after the merge are not
recreated (their deletion was a later decision too; the audit event counts them as "missing").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record, diff, snapshot
from rumbo.geo.models import AdminArea
from rumbo.offices.permissions import Perm, require
from rumbo.people.models import Person, PersonMerge
from rumbo.people.search import reindex_person
from rumbo.people.services._common import PERSON_FIELDS, FieldErrors, clean_text
from rumbo.people.services.rows import person_snapshot, refresh_curp_flags

SURVIVOR = "survivor"
MERGED = "merged"

#: The scalar fields whose surviving value is chosen, each with the model fields it covers (the precision
#: of the date of birth goes with the date).
MERGE_FIELDS: dict[str, tuple[str, ...]] = {
    "given_names": ("given_names",),
    "first_surname": ("first_surname",),
    "second_surname": ("second_surname",),
    "sex": ("sex",),
    "birth_date": ("birth_date", "birth_date_precision"),
    "birth_country": ("birth_country",),
    "birth_place": ("birth_place",),
    "email": ("email",),
    "preferred_language": ("preferred_language",),
}

#: Models whose rows stay where they are (``app_label.model``): data rebuilt from the person by
#: ``reindex_person``, the merge records, and the matching app's pairs and requests.
NOT_MOVED = frozenset(
    {
        "people.searchtoken",
        "people.personmerge",
        "matching.matchprofile",
        "matching.matchkey",
        "matching.duplicatepair",
        "matching.accessrequest",
    }
)


@dataclass(frozen=True)
class Relation:
    """A foreign key (or one-to-one) to ``Person`` whose rows follow a merge."""

    model: type[models.Model]
    field: str

    @property
    def key(self) -> str:
        """``app_label.model.field``: how ``PersonMerge.moved`` names the relation."""
        return f"{self.model._meta.label_lower}.{self.field}"

    @property
    def manager(self) -> models.Manager[Any]:
        # The base manager: the merge has checked access to both persons; an office scope (or another app's
        # scope dimension) must not hide rows that have to move.
        return self.model._base_manager


def person_relations() -> list[Relation]:
    """Every relation to ``Person`` whose rows move in a merge, found among all installed models.

    Read from the models rather than ``Person._meta.related_objects`` because that list leaves out
    relations declared with ``related_name="+"``, whose rows must move too. Skips :data:`NOT_MOVED`,
    ``Person.merged_into`` and multi-table inheritance parent links.
    """
    out: list[Relation] = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or model is Person or model._meta.label_lower in NOT_MOVED:
            continue
        for field in model._meta.local_concrete_fields:
            remote = getattr(field, "remote_field", None)
            if (
                remote is not None
                and (field.many_to_one or field.one_to_one)
                and field.related_model is Person
                and not getattr(remote, "parent_link", False)
            ):
                out.append(Relation(model, field.name))
    return sorted(out, key=lambda r: r.key)


def _relation_by_key(key: str) -> Relation:
    app_label, model_name, field = key.split(".")
    return Relation(apps.get_model(app_label, model_name), field)


def _person_fk_names(model: type[models.Model]) -> list[str]:
    return [
        f.name
        for f in model._meta.local_concrete_fields
        if getattr(f, "remote_field", None) is not None and f.is_relation and f.related_model is Person
    ]


def _unique_sets(relation: Relation) -> list[tuple[str, ...]]:
    """The unique field sets of the relation's model that include its person field."""
    meta = relation.model._meta
    sets: list[tuple[str, ...]] = [tuple(c.fields) for c in meta.total_unique_constraints]
    sets += [tuple(fields) for fields in meta.unique_together]
    field = meta.get_field(relation.field)
    if getattr(field, "unique", False):
        sets.append((relation.field,))
    return [s for s in sets if relation.field in s]


def _collides(relation: Relation, row: models.Model, survivor: Person, person_fks: list[str]) -> bool:
    """Whether ``row``, moved to ``survivor``, would break a unique constraint or link the survivor to
    itself (a second person field that already points to the survivor)."""
    for other in person_fks:
        if other != relation.field and getattr(row, f"{other}_id") == survivor.pk:
            return True
    for fields in _unique_sets(relation):
        lookup = {
            f"{name}__exact": survivor.pk if name == relation.field else getattr(row, _attname(row, name))
            for name in fields
        }
        if any(value is None for value in lookup.values()):
            continue  # NULLs are never equal in a unique constraint
        if relation.manager.filter(**lookup).exclude(pk=row.pk).exists():
            return True
    return False


def _attname(row: models.Model, name: str) -> str:
    return str(getattr(row._meta.get_field(name), "attname", name))


def _row_record(row: models.Model) -> dict[str, Any]:
    """Every stored value of ``row`` as JSON-able text (``None`` kept), to recreate it on unmerge."""
    values: dict[str, Any] = {}
    for field in row._meta.concrete_fields:
        value = field.value_from_object(row)
        values[field.attname] = None if value is None else field.value_to_string(row)
    return {"model": row._meta.label_lower, "fields": values}


def _recreate(record: dict[str, Any]) -> models.Model | None:
    """Insert a row stored by :func:`_row_record` again, with its id when that id is free (ids are never
    reused by the databases' sequences). Rows that link to a person anonymised since are not recreated."""
    model = apps.get_model(record["model"])
    kwargs: dict[str, Any] = {}
    stamps: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.attname not in record["fields"]:
            continue
        raw = record["fields"][field.attname]
        value = None if raw is None else field.to_python(raw)
        kwargs[field.attname] = value
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            stamps[field.attname] = value
    linked = [kwargs.get(f"{name}_id") for name in _person_fk_names(model)]
    if Person._base_manager.filter(pk__in=[p for p in linked if p], anonymised_at__isnull=False).exists():
        return None
    pk_name = model._meta.pk.attname
    if kwargs.get(pk_name) is not None and model._base_manager.filter(pk=kwargs[pk_name]).exists():
        kwargs.pop(pk_name)
    row = model(**kwargs)
    row.save(force_insert=True)
    if stamps:
        # auto_now(_add) fields take the current time on insert; put the stored times back.
        model._base_manager.filter(pk=row.pk).update(**stamps)
    return row


def _values(person: Person, key: str) -> list[Any]:
    """The JSON-able values of one merge field (see :data:`MERGE_FIELDS`) of ``person``."""
    return list(snapshot(person, MERGE_FIELDS[key]).values())


def _is_empty(person: Person, key: str) -> bool:
    if key == "sex":
        return person.sex in ("", "U")
    return _values(person, key)[0] in (None, "")


def default_choices(survivor: Person, merged: Person) -> dict[str, str]:
    """The survivor's value of every field unless it is empty and the merged record's is not."""
    return {
        key: MERGED if _is_empty(survivor, key) and not _is_empty(merged, key) else SURVIVOR
        for key in MERGE_FIELDS
    }


def merge_problems(survivor: Person, merged: Person) -> dict[str, list[Any]]:
    """Why these two records cannot be merged (``{"survivor"|"merged": [messages]}``), or ``{}``."""
    errors = FieldErrors()
    if survivor.pk == merged.pk:
        errors.add("merged", _("A record cannot be merged into itself."))
    for key, person in (("survivor", survivor), ("merged", merged)):
        if person.merged_into_id is not None:
            errors.add(key, _("This record was already merged into another one."))
        elif person.anonymised_at is not None:
            errors.add(key, _("Anonymised records cannot be merged."))
    return errors.errors


def _clean_choices(choices: Any, survivor: Person, merged: Person) -> dict[str, str]:
    """Every merge field with "survivor" or "merged"; missing fields take :func:`default_choices`."""
    errors = FieldErrors()
    if not isinstance(choices, dict):
        errors.add("choices", _('Send an object of field names, each with "survivor" or "merged".'))
        errors.raise_if_any()
    out = default_choices(survivor, merged)
    for key, value in choices.items():
        if key not in MERGE_FIELDS:
            errors.add(f"choices.{key}", _("This field cannot be chosen in a merge."))
        elif value not in (SURVIVOR, MERGED):
            errors.add(f"choices.{key}", _('Choose "survivor" or "merged".'))
        else:
            out[key] = value
    errors.raise_if_any()
    pick = {key: survivor if value == SURVIVOR else merged for key, value in out.items()}
    country = pick["birth_country"].birth_country
    place_id = pick["birth_place"].birth_place_id
    if country and place_id is not None:
        place_country = AdminArea.objects.filter(pk=place_id).values_list("country", flat=True).first()
        if place_country != country:
            errors.add("choices.birth_place", _("This place of birth is not in the country of birth chosen."))
    errors.raise_if_any()
    return out


def _lock(*pks: int) -> dict[int, Person]:
    """The persons, re-read and locked in id order (two merges of the same records cannot deadlock)."""
    rows = (
        Person.objects.select_for_update(of=("self",))
        .select_related("office", "birth_place")
        .filter(pk__in=sorted(set(pks)))
        .order_by("pk")
    )
    return {p.pk: p for p in rows}


def _apply(person: Person, values: dict[str, Any]) -> None:
    """Set fields of ``person`` from JSON-able snapshot values."""
    for name, value in values.items():
        field = Person._meta.get_field(name)
        assert isinstance(field, models.Field)
        setattr(person, field.attname, None if value is None else field.to_python(value))


def _pair_model() -> type[models.Model] | None:
    try:
        return apps.get_model("matching", "DuplicatePair")
    except LookupError:
        return None


def _pair_between(a: Person, b: Person) -> Any:
    model = _pair_model()
    if model is None:
        return None
    low, high = sorted((a.pk, b.pk))
    return model._base_manager.select_for_update().filter(person_a_id=low, person_b_id=high).first()


def _move(rows_by_relation: Iterable[tuple[Relation, list[int]]], target: Person) -> None:
    for relation, ids in rows_by_relation:
        if ids:
            relation.manager.filter(pk__in=ids).update(**{relation.field: target})


def _clean_reason(reason: str) -> str:
    errors = FieldErrors()
    cleaned = errors.check("reason", lambda: clean_text(reason, 500)) or ""
    errors.raise_if_any()
    return str(cleaned)


def person_merge(
    *, actor: Any, survivor: Person, merged: Person, choices: dict[str, str], reason: str = ""
) -> PersonMerge:
    """Merge ``merged`` into ``survivor``: chosen field values, every related row, one surviving record.

    Needs ``MERGE_PERSON`` in both persons' offices (records of different offices are merged only by
    someone with that right in both; never automatically). Refuses merging a record into itself, merged
    records and anonymised ones (ValidationError at "survivor" or "merged"). ``choices`` maps fields of
    :data:`MERGE_FIELDS` to "survivor" or "merged"; fields left out keep the survivor's value unless it is
    empty (:func:`default_choices`); an unknown field or value is an error at ``choices.<field>`` and
    nothing changes. In one transaction: applies the values, moves every related row (see the module
    docstring), turns ``merged`` into a tombstone, marks their adjudication pair "same", reindexes both
    and audits ``PERSON_MERGE`` on both records. Returns the merge record, which :func:`person_unmerge`
    undoes.
    """
    require(actor, Perm.MERGE_PERSON, survivor.office_id)
    require(actor, Perm.MERGE_PERSON, merged.office_id)
    reason = _clean_reason(reason)
    with transaction.atomic():
        locked = _lock(survivor.pk, merged.pk)
        survivor, merged = locked[survivor.pk], locked[merged.pk]
        problems = merge_problems(survivor, merged)
        if problems:
            raise ValidationError(problems)
        chosen = _clean_choices(choices, survivor, merged)

        before = person_snapshot(survivor)
        survivor_before = snapshot(survivor, PERSON_FIELDS)
        for key, choice in chosen.items():
            if choice == MERGED:
                _apply(survivor, snapshot(merged, MERGE_FIELDS[key]))
        survivor.save()

        moved: dict[str, list[int]] = {}
        dropped: list[dict[str, Any]] = []
        try:
            for relation in person_relations():
                rows = list(relation.manager.filter(**{relation.field: merged}).order_by("pk"))
                if not rows:
                    continue
                person_fks = _person_fk_names(relation.model)
                keep: list[int] = []
                for row in rows:
                    if _collides(relation, row, survivor, person_fks):
                        dropped.append(_row_record(row))
                        relation.manager.filter(pk=row.pk).delete()
                    else:
                        keep.append(row.pk)
                _move([(relation, keep)], survivor)
                if keep:
                    moved[relation.key] = keep
        except (ProtectedError, RestrictedError) as exc:
            raise ValidationError(
                _("A duplicate row of the merged record is still in use; these records cannot be merged."),
                code="protected",
            ) from exc

        Person.objects.filter(pk=merged.pk).update(merged_into=survivor)
        merged.merged_into = survivor
        refresh_curp_flags(survivor)

        pair_before = None
        pair = _pair_between(survivor, merged)
        if pair is not None:
            pair_before = {
                "id": pair.pk,
                "decision": pair.decision,
                "decided_by_id": pair.decided_by_id,
                "decided_at": pair.decided_at.isoformat() if pair.decided_at else None,
            }
            pair.decision = "same"
            pair.decided_by = actor if getattr(actor, "is_authenticated", False) else None
            pair.decided_at = timezone.now()
            pair.save(update_fields=["decision", "decided_by", "decided_at", "updated_at"])

        record = PersonMerge.objects.create(
            survivor=survivor,
            merged=merged,
            merged_by=actor if getattr(actor, "is_authenticated", False) else None,
            reason=reason,
            choices=chosen,
            survivor_before=survivor_before,
            moved=moved,
            dropped=dropped,
            pair_before=pair_before,
        )
        reindex_person(survivor)
        reindex_person(merged)
        detail = {
            "merge_id": record.pk,
            "survivor": survivor.pk,
            "merged": merged.pk,
            "moved": {key: len(ids) for key, ids in moved.items()},
            "dropped": len(dropped),
            "reason": reason,
        }
        audit_record(
            actor=actor,
            action=Action.PERSON_MERGE,
            office=survivor.office,
            obj=survivor,
            changes=diff(before, person_snapshot(survivor)),
            detail=detail,
        )
        audit_record(
            actor=actor,
            action=Action.PERSON_MERGE,
            office=merged.office,
            obj=merged,
            changes={"merged_into": {"old": None, "new": survivor.pk}},
            detail=detail,
        )
    return record


def unmerge_problems(merge: PersonMerge, survivor: Person, merged: Person) -> list[Any]:
    """Why ``merge`` cannot be undone now (messages), or ``[]``."""
    if merge.unmerged_at is not None:
        return [_("This merge was already undone.")]
    if survivor.merged_into_id is not None:
        return [
            _("The surviving record was itself merged into record %(id)s later: undo that merge first.")
            % {"id": survivor.merged_into_id}
        ]
    later = (
        PersonMerge._base_manager.filter(unmerged_at__isnull=True, pk__gt=merge.pk)
        .filter(
            models.Q(survivor__in=[survivor.pk, merged.pk]) | models.Q(merged__in=[survivor.pk, merged.pk])
        )
        .order_by("pk")
        .first()
    )
    if later is not None:
        return [
            _(
                "A later merge (record %(merged)s into record %(survivor)s) depends on this one: "
                "undo it first."
            )
            % {"merged": later.merged_id, "survivor": later.survivor_id}
        ]
    if merged.merged_into_id != survivor.pk:
        return [_("The merged record no longer points to the surviving record; it cannot be restored.")]
    if survivor.anonymised_at is not None or merged.anonymised_at is not None:
        return [_("One of the records was anonymised after the merge; it cannot be undone.")]
    return []


def person_unmerge(*, actor: Any, merge: PersonMerge, reason: str = "") -> None:
    """Undo ``merge``: both records live again, each with its own rows and values.

    Needs ``MERGE_PERSON`` in both persons' offices. Refuses a merge already undone, and one that a later
    merge depends on (the survivor merged into another record since, or a later merge into either record
    not undone yet: undo the latest first). Moves every recorded row back, recreates the rows dropped as
    duplicates, restores the survivor's fields (rule in the module docstring), clears ``merged_into``,
    restores the adjudication pair's decision, reindexes both and audits ``PERSON_UNMERGE`` on both.
    """
    require(actor, Perm.MERGE_PERSON, merge.survivor.office_id)
    require(actor, Perm.MERGE_PERSON, merge.merged.office_id)
    reason = _clean_reason(reason)
    with transaction.atomic():
        merge = PersonMerge._base_manager.select_for_update().get(pk=merge.pk)
        locked = _lock(merge.survivor_id, merge.merged_id)
        survivor, merged = locked[merge.survivor_id], locked[merge.merged_id]
        problems = unmerge_problems(merge, survivor, merged)
        if problems:
            raise ValidationError(problems)

        before = person_snapshot(survivor)
        restored: list[str] = []
        for key, choice in merge.choices.items():
            if choice != MERGED or key not in MERGE_FIELDS:
                continue
            if _values(survivor, key) == _values(merged, key):  # not edited since the merge
                _apply(survivor, {f: merge.survivor_before[f] for f in MERGE_FIELDS[key]})
                restored.append(key)
        survivor.save()

        moved_back: dict[str, int] = {}
        missing = 0
        for key, ids in merge.moved.items():
            try:
                relation = _relation_by_key(key)
            except LookupError:  # an app removed since: nothing left to move back
                missing += len(ids)
                continue
            count = relation.manager.filter(pk__in=ids, **{relation.field: survivor}).update(
                **{relation.field: merged}
            )
            moved_back[key] = count
            missing += len(ids) - count
        recreated = sum(1 for record in merge.dropped if _recreate(record) is not None)

        Person.objects.filter(pk=merged.pk).update(merged_into=None)
        merged.merged_into = None
        refresh_curp_flags(survivor)
        refresh_curp_flags(merged)

        pair_model = _pair_model()
        if merge.pair_before and pair_model is not None:
            pair_model._base_manager.filter(pk=merge.pair_before["id"]).update(
                decision=merge.pair_before["decision"],
                decided_by_id=merge.pair_before["decided_by_id"],
                decided_at=merge.pair_before["decided_at"],
            )

        merge.unmerged_at = timezone.now()
        merge.unmerged_by = actor if getattr(actor, "is_authenticated", False) else None
        merge.unmerge_reason = reason
        merge.save(update_fields=["unmerged_at", "unmerged_by", "unmerge_reason"])
        reindex_person(survivor)
        reindex_person(merged)
        detail = {
            "merge_id": merge.pk,
            "survivor": survivor.pk,
            "merged": merged.pk,
            "moved_back": moved_back,
            "recreated": recreated,
            "missing": missing,
            "fields_restored": restored,
            "reason": reason,
        }
        audit_record(
            actor=actor,
            action=Action.PERSON_UNMERGE,
            office=survivor.office,
            obj=survivor,
            changes=diff(before, person_snapshot(survivor)),
            detail=detail,
        )
        audit_record(
            actor=actor,
            action=Action.PERSON_UNMERGE,
            office=merged.office,
            obj=merged,
            changes={"merged_into": {"old": survivor.pk, "new": None}},
            detail=detail,
        )
