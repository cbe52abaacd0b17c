"""What the cases app removes when a person is anonymised (``people.services.person_anonymise`` calls it
through :meth:`rumbo.cases.apps.CasesConfig.anonymise_person`, in its transaction; that service checks the
permission and writes the audit event, with the counts returned here).

The free text of the cases the person holds goes: it is where workers write what happened to them. What
statistics count stays: statuses, dates, needs, kinds of procedure, outcomes as choices, the rows
themselves. Cases where the person is only a household member keep their text: it is about the holder and
the other members too (the member link shows the anonymised name, nothing else of the person).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q

from rumbo.cases.models import (
    ArrivalEvent,
    Attachment,
    Case,
    CaseAccess,
    CaseNeed,
    CaseNote,
    CaseStatusChange,
    CaseTransfer,
    FollowUpTask,
    ProcedureStep,
    Referral,
    ReferralEvent,
    ReturnEvent,
)
from rumbo.cases.services.attachments import stored_file
from rumbo.people.models import Person
from rumbo.people.services._common import REMOVED

#: Text fields of the case snapshot a past office keeps (``CaseAccess.snapshot``, see
#: ``transfers._case_as_it_leaves``); the rest of it is structured and stays.
_SNAPSHOT_TEXTS = ("summary", "status_reason")


def _blank(queryset: Any, *fields: str) -> int:
    """Blank ``fields`` on the rows of ``queryset`` that have text in one of them; how many rows changed."""
    has_text = Q()
    for name in fields:
        has_text |= ~Q(**{name: ""})
    return int(queryset.filter(has_text).update(**dict.fromkeys(fields, "")))


def _snapshot_without_text(snapshot: dict[str, Any]) -> dict[str, Any]:
    kept = {**snapshot, **{k: "" for k in _SNAPSHOT_TEXTS if k in snapshot}}
    if "needs" in snapshot:
        kept["needs"] = [{**need, "note": ""} for need in snapshot["needs"]]
    return kept


def case_data_anonymise(*, person: Person) -> dict[str, int]:
    """Remove the free text of the cases ``person`` holds (and of their notes, needs, status changes,
    referrals and their events, procedure steps, follow-up tasks, transfers and past offices' snapshots),
    delete their attachments (the stored files once the transaction commits) and blank the notes and
    identifying numbers of the person's returns and arrivals. Required texts (a note, a transfer's reason)
    become :data:`~rumbo.people.services._common.REMOVED`. Runs inside the caller's transaction, with no
    permission check or audit of its own (``person_anonymise`` does both). Returns counts of rows changed:
    ``case_texts``, ``attachments``, ``event_texts``."""
    # Every office's rows: a transferred case and the rows its past offices recorded are the person's too.
    cases = Case._base_manager.filter(person=person)
    texts = _blank(cases, "summary", "status_reason")
    texts += _blank(CaseNeed._base_manager.filter(case__in=cases), "note")
    texts += _blank(CaseStatusChange._base_manager.filter(case__in=cases), "reason")
    texts += CaseNote._base_manager.filter(case__in=cases).exclude(text=REMOVED).update(text=REMOVED)
    referrals = Referral._base_manager.filter(case__in=cases)
    texts += _blank(referrals, "reason", "outcome")
    texts += _blank(ReferralEvent._base_manager.filter(referral__in=referrals), "note")
    # A procedure's title and its steps' names and documents are copied from its kind (procedure_start):
    # not about the person. The steps' notes are.
    texts += _blank(ProcedureStep._base_manager.filter(procedure__case__in=cases), "note")
    texts += _blank(FollowUpTask._base_manager.filter(case__in=cases), "outcome_note")
    transfers = CaseTransfer._base_manager.filter(case__in=cases)
    texts += transfers.filter(~Q(reason=REMOVED) | ~Q(decision_note="")).update(
        reason=REMOVED, decision_note=""
    )
    for access in CaseAccess._base_manager.filter(case__in=cases).only("pk", "snapshot"):
        kept = _snapshot_without_text(access.snapshot or {})
        if kept != (access.snapshot or {}):
            access.snapshot = kept
            access.save(update_fields=["snapshot"])
            texts += 1

    attachments = Attachment._base_manager.filter(case__in=cases)
    files: list[Path] = []
    for attachment in attachments.only("pk", "stored_path"):
        try:
            files.append(stored_file(attachment))
        except ValueError:  # a stored path outside the attachments folder is never touched
            continue
    removed, _ = attachments.delete()

    def remove_files() -> None:
        for path in files:
            path.unlink(missing_ok=True)

    # Only once the rows are gone for good: a rolled-back anonymisation keeps working attachments.
    transaction.on_commit(remove_files)

    events = _blank(ReturnEvent._base_manager.filter(person=person), "notes", "inm_constancia")
    events += _blank(ArrivalEvent._base_manager.filter(person=person), "notes", "comar_file")
    return {"case_texts": texts, "attachments": removed, "event_texts": events}
