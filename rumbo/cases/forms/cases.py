"""Forms of the case pages: open and edit a case, change its status, write a note."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rumbo.cases.models import ArrivalEvent, Case, CaseStatus, Need, Priority, ReturnEvent
from rumbo.cases.selectors import household_of
from rumbo.offices.forms import apply_service_errors
from rumbo.offices.models import Membership
from rumbo.offices.permissions import ROLE_PERMS, Perm
from rumbo.people.models import Person

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
#: Years a filter date may fall in. A day near the end of the calendar (9999-12-31) cannot be turned into
#: the range [day, day + 1) that the lists and the dashboard query: such input is an error at the field.
FILTER_YEARS = (1900, 2100)


def validate_filter_date(value: datetime.date) -> None:
    """Refuse a filter date outside :data:`FILTER_YEARS` (forms and API query parameters alike)."""
    first, last = FILTER_YEARS
    if not first <= value.year <= last:
        raise ValidationError(
            _("Enter a date between %(first)d and %(last)d."),
            code="date_range",
            params={"first": first, "last": last},
        )


def add_service_errors(
    form: forms.Form, error: ValidationError, rename: Mapping[str, str] | None = None
) -> None:
    """Show a service's ValidationError at the form field it names (``rename`` maps service keys to form
    fields); errors of keys the form lacks go to the top of the form. The same as
    ``offices.forms.apply_service_errors``, under the name the cases views use."""
    apply_service_errors(form, error, rename)


def office_workers(office_id: int) -> Any:
    """Users who may work on cases in the office (active memberships whose role has ``CHANGE_CASE``)."""
    roles = [role for role, perms in ROLE_PERMS.items() if Perm.CHANGE_CASE in perms]
    ids = Membership.objects.active().filter(office_id=office_id, role__in=roles).values("user_id")
    return get_user_model().objects.filter(pk__in=ids, is_active=True).order_by("first_name", "username")


class WorkerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


def _need_field(need: str) -> str:
    return f"need_{need}"


def _need_note_field(need: str) -> str:
    return f"need_{need}_note"


def _return_label(event: ReturnEvent) -> str:
    where = event.point.name if event.point else event.point_other
    return f"{event.returned_on:%Y-%m-%d} · {event.get_how_display()}" + (f" · {where}" if where else "")


def _arrival_label(event: ArrivalEvent) -> str:
    when = f"{event.entered_on:%Y-%m-%d}" if event.entered_on else "—"
    return f"{when} · {event.country_of_origin or '—'}"


class CaseForm(forms.Form):
    """Intake of a case: household members, needs with notes, priority, vulnerability, summary, the worker
    and the return or arrival it follows. The same form edits a case (``case``)."""

    members = forms.MultipleChoiceField(
        label=_("Household members in the case"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Relatives linked to the person's household. Link them on the person's page first."),
    )
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL)
    vulnerable = forms.BooleanField(label=_("In a situation of vulnerability"), required=False)
    summary = forms.CharField(
        label=_("Summary"), required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=5000
    )
    assigned_to = WorkerChoiceField(
        label=_("Assigned worker"), queryset=get_user_model().objects.none(), required=False, empty_label="—"
    )
    return_event = forms.TypedChoiceField(label=_("Return"), required=False, coerce=int, empty_value=None)
    arrival_event = forms.TypedChoiceField(label=_("Arrival"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, person: Person, case: Case | None = None, **kwargs: Any) -> None:
        if case is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(case)
        super().__init__(*args, **kwargs)
        self.person = person
        members: Any = self.fields["members"]
        members.choices = [(str(p.pk), f"{p.full_name} ({label})") for p, label in household_of(person)]
        worker: Any = self.fields["assigned_to"]
        worker.queryset = office_workers(person.office_id)
        returns = list(ReturnEvent._base_manager.filter(person=person).select_related("point"))
        arrivals = list(ArrivalEvent._base_manager.filter(person=person))
        ret: Any = self.fields["return_event"]
        ret.choices = [("", "—"), *[(e.pk, _return_label(e)) for e in returns]]
        arr: Any = self.fields["arrival_event"]
        arr.choices = [("", "—"), *[(e.pk, _arrival_label(e)) for e in arrivals]]
        if not returns:
            del self.fields["return_event"]
        if not arrivals:
            del self.fields["arrival_event"]
        for value, label in Need.choices:
            self.fields[_need_field(value)] = forms.BooleanField(label=label, required=False)
            self.fields[_need_note_field(value)] = forms.CharField(
                label=_("Note on “%(need)s”") % {"need": label}, required=False, max_length=300
            )

    @staticmethod
    def initial_for(case: Case) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "members": [str(pk) for pk in case.members.values_list("pk", flat=True)],
            "priority": case.priority,
            "vulnerable": case.vulnerable,
            "summary": case.summary,
            "assigned_to": case.assigned_to_id,
            "return_event": case.return_event_id,
            "arrival_event": case.arrival_event_id,
        }
        for need in case.needs.all():
            initial[_need_field(need.need)] = True
            initial[_need_note_field(need.need)] = need.note
        return initial

    def need_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """(checkbox, note) bound fields per need, for the template."""
        return [(self[_need_field(v)], self[_need_note_field(v)]) for v in Need.values]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for value in Need.values:
            if data.get(_need_note_field(value)) and not data.get(_need_field(value)):
                data[_need_field(value)] = True  # a note implies the need
        return data

    def needs(self) -> dict[str, str]:
        data = self.cleaned_data
        return {v: data.get(_need_note_field(v), "") for v in Need.values if data.get(_need_field(v))}

    def member_persons(self) -> list[Person]:
        ids = [int(pk) for pk in self.cleaned_data.get("members", [])]
        found = Person._base_manager.in_bulk(ids)
        return [found[i] for i in ids if i in found]

    def return_event_obj(self) -> ReturnEvent | None:
        pk = self.cleaned_data.get("return_event")
        return ReturnEvent._base_manager.filter(pk=pk, person=self.person).first() if pk else None

    def arrival_event_obj(self) -> ArrivalEvent | None:
        pk = self.cleaned_data.get("arrival_event")
        return ArrivalEvent._base_manager.filter(pk=pk, person=self.person).first() if pk else None

    def add_service_errors(self, error: ValidationError) -> None:
        rename = {f"needs.{v}": _need_note_field(v) for v in Need.values}
        rename["needs"] = "__all__"
        add_service_errors(self, error, rename)


class StatusForm(forms.Form):
    """Change the status of a case, with the reason (required to close or reopen)."""

    status = forms.ChoiceField(label=_("New status"), widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=300,
        help_text=_("Required to close or reopen the case."),
    )

    def __init__(self, *args: Any, allowed: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(CaseStatus.choices)
        field: Any = self.fields["status"]
        field.choices = [(value, labels[value]) for value in allowed]


class NoteForm(forms.Form):
    text = forms.CharField(label=_("New note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=10000)


class CaseFilterForm(forms.Form):
    """The filters of the case list (all optional; a bad value is ignored, not an error page)."""

    q = forms.CharField(label=_("Case number or person"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[
            ("", _("Any status")),
            *CaseStatus.choices,
            ("transferred", _("Transferred to another office")),
        ],
    )
    need = forms.ChoiceField(label=_("Need"), required=False, choices=[("", _("Any need")), *Need.choices])
    priority = forms.ChoiceField(
        label=_("Priority"), required=False, choices=[("", _("Any priority")), *Priority.choices]
    )
    mine = forms.BooleanField(label=_("Assigned to me"), required=False)
    opened_from = forms.DateField(
        label=_("Opened from"), required=False, widget=DATE_WIDGET, validators=[validate_filter_date]
    )
    opened_to = forms.DateField(
        label=_("Opened until"), required=False, widget=DATE_WIDGET, validators=[validate_filter_date]
    )
