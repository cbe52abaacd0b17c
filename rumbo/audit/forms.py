"""The filter form of the audit trail."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.offices.models import Office


class AuditFilterForm(forms.Form):
    """Narrow the audit trail by action, actor, office, object and date range (all optional)."""

    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("Any action")), *Action.choices], required=False
    )
    actor = forms.CharField(label=_("Actor (username)"), max_length=150, required=False)
    # An integer, not a choice: an office outside the list is answered 404/403 by the selector, like any
    # other office the user may not audit, instead of a form error that would confirm it exists.
    office_id = forms.IntegerField(label=_("Office"), required=False, widget=forms.Select)
    object_type = forms.CharField(
        label=_("Object type"), max_length=60, required=False, help_text=_("For example people.person.")
    )
    object_id = forms.CharField(label=_("Object id"), max_length=64, required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, offices: list[Office], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        widget = self.fields["office_id"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [("", _("All my offices")), *((o.pk, o.name) for o in offices)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data
