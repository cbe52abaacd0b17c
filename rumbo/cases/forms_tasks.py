"""Forms of the follow-up pages and the office dashboard. They type the input; the services validate
again and decide."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from rumbo.cases.forms.cases import validate_filter_date
from rumbo.cases.models import TaskOutcome
from rumbo.cases.selectors_tasks import (
    ASSIGNED_ANY,
    ASSIGNED_ME,
    ASSIGNED_NOBODY,
    WHEN_ALL,
    WHEN_DONE,
    WHEN_OVERDUE,
    WHEN_TODAY,
    WHEN_WEEK,
)
from rumbo.offices.models import Membership
from rumbo.offices.permissions import ROLE_PERMS, Perm

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
#: The longest custom period of the dashboard.
MAX_PERIOD_DAYS = 366 * 5


def case_workers(office_id: int) -> QuerySet[Any]:
    """Users who may work on cases in the office (active memberships with ``CHANGE_CASE``), by name."""
    roles = [role for role, perms in ROLE_PERMS.items() if Perm.CHANGE_CASE in perms]
    user_ids = Membership.objects.active().filter(office_id=office_id, role__in=roles).values("user_id")
    return (
        get_user_model()
        ._default_manager.filter(pk__in=user_ids, is_active=True)
        .order_by("first_name", "last_name", "username")
    )


class WorkerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class TaskCompleteForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("", _("— choose —")), *[(c.value, c.label) for c in TaskOutcome if c.value]],
        error_messages={"required": _("Choose the outcome of this follow-up.")},
    )
    note = forms.CharField(
        label=_("What was found"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when the outcome is “Other”."),
    )


class TaskRescheduleForm(forms.Form):
    due_on = forms.DateField(label=_("New date"), widget=DATE_WIDGET)


class TaskCreateForm(forms.Form):
    title = forms.CharField(label=_("What is to be done"), max_length=200)
    due_on = forms.DateField(label=_("Due"), widget=DATE_WIDGET)
    assigned_to = WorkerChoiceField(
        label=_("Assigned to"), queryset=get_user_model()._default_manager.none(), required=False
    )

    def __init__(self, *args: Any, office_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].queryset = case_workers(office_id)  # type: ignore[attr-defined]
        self.fields["assigned_to"].empty_label = _("— nobody yet —")  # type: ignore[attr-defined]


WHEN_CHOICES = [
    (WHEN_ALL, _("All open")),
    (WHEN_OVERDUE, _("Overdue")),
    (WHEN_TODAY, _("Due today")),
    (WHEN_WEEK, _("Due within 7 days")),
    (WHEN_DONE, _("Done")),
]
ASSIGNED_CHOICES = [(ASSIGNED_ANY, _("Anyone")), (ASSIGNED_ME, _("Me")), (ASSIGNED_NOBODY, _("Nobody"))]


class TaskFilterForm(forms.Form):
    """Filters of "my tasks" (``when``) and of the office's list (``when`` limited to overdue and
    ``assigned``). Invalid values fall back to the defaults instead of failing the page."""

    when = forms.ChoiceField(label=_("Show"), choices=WHEN_CHOICES, required=False)
    assigned = forms.ChoiceField(label=_("Assigned to"), choices=ASSIGNED_CHOICES, required=False)

    def value(self, name: str, default: str) -> str:
        if self.is_valid():
            return self.cleaned_data.get(name) or default
        return default


# --- Dashboard ----------------------------------------------------------------------------------------

PERIOD_WEEK = "week"
PERIOD_MONTH = "month"
PERIOD_QUARTER = "quarter"
PERIOD_YEAR = "year"
PERIOD_CUSTOM = "custom"
PERIOD_CHOICES = [
    (PERIOD_WEEK, _("This week")),
    (PERIOD_MONTH, _("This month")),
    (PERIOD_QUARTER, _("This quarter")),
    (PERIOD_YEAR, _("This year")),
    (PERIOD_CUSTOM, _("Dates…")),
]


def period_bounds(period: str, today: date) -> tuple[date, date]:
    """First and last day (today) of the current week (from Monday), month, quarter or year."""
    if period == PERIOD_WEEK:
        return today - timedelta(days=today.weekday()), today
    if period == PERIOD_QUARTER:
        return date(today.year, (today.month - 1) // 3 * 3 + 1, 1), today
    if period == PERIOD_YEAR:
        return date(today.year, 1, 1), today
    return today.replace(day=1), today


class DashboardFilterForm(forms.Form):
    """The dashboard's period: this week, month, quarter, year, or two dates (both included)."""

    period = forms.ChoiceField(label=_("Period"), choices=PERIOD_CHOICES, required=False)
    start = forms.DateField(
        label=_("From"), required=False, widget=DATE_WIDGET, validators=[validate_filter_date]
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=DATE_WIDGET, validators=[validate_filter_date]
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") == PERIOD_CUSTOM:
            start, end = data.get("start"), data.get("end")
            if start is None and "start" not in self.errors:
                self.add_error("start", _("Enter the first day."))
            if end is None and "end" not in self.errors:
                self.add_error("end", _("Enter the last day."))
            if start and end:
                if end < start:
                    self.add_error("end", _("The last day cannot be before the first."))
                elif (end - start).days > MAX_PERIOD_DAYS:
                    self.add_error("end", _("Choose at most five years."))
        return data

    def bounds(self, today: date) -> tuple[str, date, date]:
        """(period, first day, last day); the current month when the input is missing or invalid."""
        if not self.is_valid():
            return PERIOD_MONTH, *period_bounds(PERIOD_MONTH, today)
        period = self.cleaned_data.get("period") or PERIOD_MONTH
        if period == PERIOD_CUSTOM:
            return period, self.cleaned_data["start"], self.cleaned_data["end"]
        return period, *period_bounds(period, today)
