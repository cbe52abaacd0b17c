"""Follow-up tasks: the default follow-ups of a case (1, 3 and 6 months), the follow-up of a delivered
referral, tasks written by hand, their completion with an outcome, and the daily reminder e-mails.

Dates are the office's: a case opened at 23:30 in Tijuana on the 31st is followed up from the 31st, not
from the next day in UTC. Months are calendar months (31 January + 1 month = 28 or 29 February).
"""

from __future__ import annotations

import calendar
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.cases.models import Case, CaseStatus, FollowUpTask, Referral, ReferralStatus, TaskOutcome
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, require

logger = logging.getLogger(__name__)

DEFAULT_FOLLOWUP_MONTHS = (1, 3, 6)
REFERRAL_FOLLOWUP_MONTHS = 1
TITLE_MAX = FollowUpTask._meta.get_field("title").max_length or 200
NOTE_MAX = 4000
#: A reminder e-mail lists at most this many tasks (the rest is counted, and all of them are marked).
REMINDER_LIST_MAX = 50


# --- Dates --------------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clipped to the end of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def office_zone(office: Office) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(office.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def office_today(office: Office, now: datetime | None = None) -> date:
    """Today's date where the office is."""
    return timezone.localtime(now or timezone.now(), office_zone(office)).date()


def local_date(moment: datetime, office: Office) -> date:
    return timezone.localtime(moment, office_zone(office)).date()


def followup_months() -> tuple[int, ...]:
    """The default follow-up offsets in months (``settings.RUMBO_FOLLOWUP_MONTHS``, default 1, 3 and 6)."""
    months = getattr(settings, "RUMBO_FOLLOWUP_MONTHS", DEFAULT_FOLLOWUP_MONTHS)
    return tuple(sorted({int(m) for m in months if int(m) > 0}))


# --- Validation helpers -------------------------------------------------------------------------------


def stored_text_language() -> str:
    # Task titles are stored text, read by everyone in the office: they are written in the site's language,
    # not in the language of whoever happened to trigger them.
    return settings.LANGUAGE_CODE


def _require_case_here(task: FollowUpTask) -> None:
    """Tasks are worked on by the office that holds the case; after a transfer, the old office's open tasks
    are read-only history there (see :func:`tasks_move_with_case`)."""
    if task.case.office_id != task.office_id:
        raise ValidationError(_("This case has moved to another office: its follow-up continues there."))


def _check_assignee(user: Any, office_id: int, key: str = "assigned_to") -> None:
    if user is not None and not has_perm(user, Perm.CHANGE_CASE, office_id):
        raise ValidationError({key: _("Choose someone who works on cases in this office.")})


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise ValidationError({"title": _("Write what is to be done.")})
    if len(title) > TITLE_MAX:
        raise ValidationError(
            {"title": _("At most %(max)d characters (this has %(n)d).") % {"max": TITLE_MAX, "n": len(title)}}
        )
    return title


def _clean_due(due_on: Any, case: Case, *, key: str = "due_on") -> date:
    if not isinstance(due_on, date) or isinstance(due_on, datetime):
        raise ValidationError({key: _("Enter a valid date.")})
    opened = local_date(case.opened_at, case.office)
    if due_on < opened:
        raise ValidationError(
            {
                key: _("The date cannot be before the case was opened (%(date)s).")
                % {"date": opened.isoformat()}
            }
        )
    if due_on > add_months(opened, 60):
        raise ValidationError(
            {key: _("The date is too far ahead: at most five years after the case opened.")}
        )
    return due_on


def _require_open_case(case: Case) -> None:
    if case.status == CaseStatus.CLOSED:
        raise ValidationError(_("The case is closed: reopen it to plan a follow-up."))


def _audit(actor: Any, task: FollowUpTask, event: str, **detail: Any) -> None:
    audit_record(
        actor=actor,
        action=Action.TASK_UPDATE,
        office=task.office,
        obj=task,
        detail={"event": event, "case": task.case_id, **detail},
    )


# --- Creating tasks -----------------------------------------------------------------------------------


def default_followup_title(months: int) -> str:
    """The title of the default follow-up at ``months`` months (stored text, in the site's language)."""
    with translation.override(stored_text_language()):
        return ngettext("Follow-up at %(months)d month", "Follow-up at %(months)d months", months) % {
            "months": months
        }


def referral_followup_title(service: str, institution: str) -> str:
    """The title of the follow-up of a delivered referral."""
    with translation.override(stored_text_language()):
        title = gettext("Did they receive the service “%(service)s” at %(institution)s? How did it go?") % {
            "service": service,
            "institution": institution,
        }
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def case_closed_note() -> str:
    """The note of the follow-ups closed with their case."""
    with translation.override(stored_text_language()):
        return gettext("Not needed: the case was closed.")


def followup_schedule_defaults(*, actor: Any, case: Case) -> list[FollowUpTask]:
    """Create the default follow-ups of a newly opened case: one task at each of
    ``settings.RUMBO_FOLLOWUP_MONTHS`` (1, 3, 6) months after the day it opened, assigned to the case's
    worker (or to whoever opened it while nobody is assigned).

    Idempotent: a default date that already has a task of the case (not tied to a referral) is skipped, so
    calling it twice (a retried request) adds nothing. Needs ``CHANGE_CASE``; audits ``TASK_UPDATE`` per
    task. Returns the tasks created.
    """
    require(actor, Perm.CHANGE_CASE, case.office_id)
    assignee = case.assigned_to if case.assigned_to_id else actor
    if assignee is not None and not has_perm(assignee, Perm.CHANGE_CASE, case.office_id):
        assignee = None
    opened = local_date(case.opened_at, case.office)
    with transaction.atomic():
        taken = set(
            FollowUpTask._base_manager.filter(case=case, referral__isnull=True).values_list(
                "due_on", flat=True
            )
        )
        created: list[FollowUpTask] = []
        for months in followup_months():
            due = add_months(opened, months)
            if due in taken:
                continue
            task = FollowUpTask.objects.create(
                office_id=case.office_id,
                case=case,
                title=default_followup_title(months),
                due_on=due,
                assigned_to=assignee,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            task.office = case.office
            _audit(actor, task, "create", due_on=due, default_months=months)
            created.append(task)
    return created


def followup_for_referral(*, actor: Any, referral: Referral) -> FollowUpTask:
    """The follow-up of a delivered referral: a task one month after the delivery ("Did they receive the
    service …? How did it go?"), in the office that holds the case now, assigned to the case's worker (else
    to ``actor``).

    Called by the referral service when a referral becomes *delivered*. Idempotent: a referral has one such
    task; calling again returns it. Needs ``REFER`` or ``CHANGE_CASE`` in the case's office; audits
    ``TASK_UPDATE``.
    """
    case = Case._base_manager.select_related("office").get(pk=referral.case_id)
    office = case.office
    if not (has_perm(actor, Perm.REFER, office.pk) or has_perm(actor, Perm.CHANGE_CASE, office.pk)):
        raise PermissionDenied
    if referral.status != ReferralStatus.DELIVERED or referral.delivered_at is None:
        raise ValidationError(_("Only a delivered referral is followed up."))
    with transaction.atomic():
        existing = FollowUpTask._base_manager.filter(referral=referral).order_by("id").first()
        if existing is not None:
            return existing
        assignee = case.assigned_to if case.assigned_to_id else actor
        if assignee is not None and not has_perm(assignee, Perm.CHANGE_CASE, office.pk):
            assignee = None
        due = add_months(local_date(referral.delivered_at, office), REFERRAL_FOLLOWUP_MONTHS)
        task = FollowUpTask.objects.create(
            office=office,
            case=case,
            referral=referral,
            title=referral_followup_title(referral.offering.service.name, referral.offering.institution.name),
            due_on=due,
            assigned_to=assignee,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        _audit(actor, task, "create", due_on=due, referral=referral.pk)
    return task


def task_create(*, actor: Any, case: Case, title: str, due_on: date, assigned_to: Any = None) -> FollowUpTask:
    """A follow-up task written by hand on an open case. ``assigned_to`` must work on cases in the office
    (default: nobody — it then shows in the office's lists, not in anyone's "my tasks"). Needs
    ``CHANGE_CASE``; audits ``TASK_UPDATE``."""
    require(actor, Perm.CHANGE_CASE, case.office_id)
    _require_open_case(case)
    title = _clean_title(title)
    due_on = _clean_due(due_on, case)
    _check_assignee(assigned_to, case.office_id)
    with transaction.atomic():
        task = FollowUpTask.objects.create(
            office_id=case.office_id,
            case=case,
            title=title,
            due_on=due_on,
            assigned_to=assigned_to,
            created_by=actor,
        )
        task.office = case.office
        _audit(actor, task, "create", due_on=due_on, assigned_to=getattr(assigned_to, "pk", None))
    return task


# --- Working on tasks ---------------------------------------------------------------------------------


def _locked(task: FollowUpTask) -> FollowUpTask:
    return FollowUpTask._base_manager.select_for_update().select_related("case", "office").get(pk=task.pk)


def task_complete(*, actor: Any, task: FollowUpTask, outcome: str, note: str = "") -> FollowUpTask:
    """Mark a follow-up done with what was found: ``outcome`` is required (one of ``TaskOutcome`` except
    "not done yet"); ``note`` is required when the outcome is "other". Needs ``CHANGE_CASE``; audits
    ``TASK_UPDATE``."""
    require(actor, Perm.CHANGE_CASE, task.office_id)
    errors: dict[str, Any] = {}
    valid = {choice.value for choice in TaskOutcome if choice.value}
    if not outcome:
        errors["outcome"] = _("Choose the outcome of this follow-up.")
    elif outcome not in valid:
        errors["outcome"] = _("Choose a valid outcome.")
    note = (note or "").strip()
    if outcome == TaskOutcome.OTHER and not note:
        errors["note"] = _("Say what happened.")
    if len(note) > NOTE_MAX:
        errors["note"] = _("At most %(max)d characters.") % {"max": NOTE_MAX}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = _locked(task)
        if current.done_at is not None:
            raise ValidationError(_("This follow-up is already done."))
        _require_case_here(current)
        current.done_at = timezone.now()
        current.outcome = outcome
        current.outcome_note = note
        current.save(update_fields=["done_at", "outcome", "outcome_note"])
        _audit(actor, current, "complete", outcome=outcome)
    return current


def task_reschedule(*, actor: Any, task: FollowUpTask, due_on: date) -> FollowUpTask:
    """Move an open task to another date (a new reminder will be sent for it). Needs ``CHANGE_CASE``;
    audits ``TASK_UPDATE`` with the old and new dates."""
    require(actor, Perm.CHANGE_CASE, task.office_id)
    with transaction.atomic():
        current = _locked(task)
        if current.done_at is not None:
            raise ValidationError(_("This follow-up is already done."))
        _require_case_here(current)
        _require_open_case(current.case)
        due_on = _clean_due(due_on, current.case)
        old = current.due_on
        if due_on == old:
            return current
        current.due_on = due_on
        current.reminded_at = None
        current.save(update_fields=["due_on", "reminded_at"])
        audit_record(
            actor=actor,
            action=Action.TASK_UPDATE,
            office=current.office,
            obj=current,
            changes={"due_on": {"old": old, "new": due_on}},
            detail={"event": "reschedule", "case": current.case_id},
        )
    return current


def task_assign(*, actor: Any, task: FollowUpTask, assigned_to: Any) -> FollowUpTask:
    """Give an open task to someone else in the office (``None``: nobody). Needs ``CHANGE_CASE``; audits
    ``TASK_UPDATE``."""
    require(actor, Perm.CHANGE_CASE, task.office_id)
    _check_assignee(assigned_to, task.office_id)
    with transaction.atomic():
        current = _locked(task)
        if current.done_at is not None:
            raise ValidationError(_("This follow-up is already done."))
        _require_case_here(current)
        old = current.assigned_to_id
        new = getattr(assigned_to, "pk", None)
        if old == new:
            return current
        current.assigned_to = assigned_to
        current.reminded_at = None
        current.save(update_fields=["assigned_to", "reminded_at"])
        audit_record(
            actor=actor,
            action=Action.TASK_UPDATE,
            office=current.office,
            obj=current,
            changes={"assigned_to": {"old": old, "new": new}},
            detail={"event": "assign", "case": current.case_id},
        )
    return current


def tasks_follow_assignment(*, actor: Any, case: Case, previous: Any) -> int:
    """After a case changes worker: its open tasks that were the previous worker's (or nobody's) go to the
    new worker. For ``case_assign`` to call. Returns how many moved; audits one ``TASK_UPDATE`` each."""
    require(actor, Perm.CHANGE_CASE, case.office_id)
    previous_id = getattr(previous, "pk", previous)
    with transaction.atomic():
        tasks = list(
            FollowUpTask._base_manager.select_for_update()
            .filter(case=case, office_id=case.office_id, done_at__isnull=True)
            .filter(Q(assigned_to__isnull=True) | Q(assigned_to_id=previous_id))
        )
        for task in tasks:
            old = task.assigned_to_id
            task.assigned_to_id = case.assigned_to_id
            task.reminded_at = None
            task.save(update_fields=["assigned_to", "reminded_at"])
            audit_record(
                actor=actor,
                action=Action.TASK_UPDATE,
                office=case.office,
                obj=task,
                changes={"assigned_to": {"old": old, "new": case.assigned_to_id}},
                detail={"event": "assign", "case": case.pk, "because": "case_assigned"},
            )
    return len(tasks)


def tasks_close_for_case(*, actor: Any, case: Case) -> int:
    """When a case closes, its open follow-ups are no longer needed: each is marked done with the outcome
    "other" and a note saying so (audited ``TASK_UPDATE``), so it leaves every to-do list, count and
    reminder without a query having to look at the case. For ``case_set_status`` to call on closing.
    Reopening does not bring them back: the worker plans what the reopened case needs. Returns how many
    were closed."""
    require(actor, Perm.CHANGE_CASE, case.office_id)
    with transaction.atomic():
        tasks = list(FollowUpTask._base_manager.select_for_update().filter(case=case, done_at__isnull=True))
        if not tasks:
            return 0
        now = timezone.now()
        note = case_closed_note()
        for task in tasks:
            task.done_at = now
            task.outcome = TaskOutcome.OTHER
            task.outcome_note = note
            task.save(update_fields=["done_at", "outcome", "outcome_note"])
            _audit(actor, task, "case_closed", outcome=TaskOutcome.OTHER)
    return len(tasks)


# --- Reminders ----------------------------------------------------------------------------------------


@dataclass
class ReminderRun:
    """What one reminder run did."""

    emails: int = 0
    tasks: int = 0
    failed: int = 0
    workers: list[int] = field(default_factory=list)


def _tasks_url(name: str) -> str:
    try:
        path = reverse(name)
    except NoReverseMatch:
        path = "/cases/tasks/"
    return settings.SITE_URL.rstrip("/") + path


def _zones(offices: Iterable[Office]) -> dict[str, list[int]]:
    by_zone: dict[str, list[int]] = defaultdict(list)
    for office in offices:
        by_zone[office_zone(office).key].append(office.pk)
    return by_zone


def task_reminders_send(*, now: datetime | None = None, batch: int = 2000) -> ReminderRun:
    """E-mail each worker one digest of their open follow-ups due tomorrow, today or earlier.

    A task is reminded at most once a day (the office's day): ``reminded_at`` is set when the e-mail went
    out, and tasks reminded since the office's midnight are skipped, so running this twice a day sends
    nothing new. Tasks of closed cases, tasks nobody is assigned to and workers without an e-mail address
    are skipped. The e-mail lists case numbers, task titles and dates — no names of persons — in the
    worker's language. A failed e-mail leaves its tasks unmarked (they are tried again on the next run).
    """
    now = now or timezone.now()
    run = ReminderRun()
    offices = list(Office.objects.filter(is_active=True).only("id", "time_zone"))
    due: dict[int, list[FollowUpTask]] = defaultdict(list)
    for zone_key, office_ids in _zones(offices).items():
        zone = zoneinfo.ZoneInfo(zone_key)
        today = timezone.localtime(now, zone).date()
        day_start = datetime.combine(today, time.min, tzinfo=zone)
        candidates = (
            FollowUpTask._base_manager.filter(
                office_id__in=office_ids,
                done_at__isnull=True,
                assigned_to__isnull=False,
                due_on__lte=today + timedelta(days=1),
            )
            .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lt=day_start))
            .exclude(case__status=CaseStatus.CLOSED)
            .exclude(assigned_to__email="")
            .filter(assigned_to__is_active=True)
            .select_related("case", "office")
            .order_by("assigned_to_id", "due_on", "id")
        )
        for task in candidates.iterator(chunk_size=batch):
            if task.assigned_to_id is not None:
                due[task.assigned_to_id].append(task)
    users = get_user_model()._default_manager.in_bulk(list(due))
    for user_id, found in due.items():
        user = users.get(user_id)
        if user is None:
            continue
        # Only someone who still works on cases in the task's office is reminded of it.
        tasks = [t for t in found if has_perm(user, Perm.CHANGE_CASE, t.office_id)]
        if not tasks:
            continue
        try:
            _send_digest(user, tasks, now)
        except Exception:  # one bad address or server hiccup must not stop the others' reminders
            logger.exception("follow-up reminder to user %s failed", user_id)
            run.failed += 1
            continue
        ids = [t.pk for t in tasks]
        for start in range(0, len(ids), 500):
            FollowUpTask._base_manager.filter(pk__in=ids[start : start + 500]).update(reminded_at=now)
        run.emails += 1
        run.tasks += len(tasks)
        run.workers.append(user_id)
    return run


def _send_digest(user: Any, tasks: Sequence[FollowUpTask], now: datetime) -> None:
    language = getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE
    with translation.override(language):
        rows = []
        overdue = today_count = tomorrow = 0
        for task in tasks:
            today = office_today(task.office, now)
            if task.due_on < today:
                overdue += 1
                when = gettext("overdue")
            elif task.due_on == today:
                today_count += 1
                when = gettext("today")
            else:
                tomorrow += 1
                when = gettext("tomorrow")
            rows.append({"task": task, "when": when})
        context = {
            "user": user,
            "rows": rows[:REMINDER_LIST_MAX],
            "more": max(0, len(rows) - REMINDER_LIST_MAX),
            "overdue": overdue,
            "today": today_count,
            "tomorrow": tomorrow,
            "mine_url": _tasks_url("cases:task_mine"),
        }
        subject = ngettext(
            "Rumbo: %(count)d follow-up to do", "Rumbo: %(count)d follow-ups to do", len(tasks)
        ) % {"count": len(tasks)}
        body = render_to_string("cases/tasks/reminder_email.txt", context)
    send_mail(subject, body, None, [user.email], fail_silently=False)
