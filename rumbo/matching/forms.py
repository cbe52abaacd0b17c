"""Forms of the adjudication pages. They only type the input; the services validate and decide."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rumbo.matching.models import AccessRequest, DuplicatePair
from rumbo.matching.queue_selectors import QueueFilters
from rumbo.offices.models import Office

DECISION_CHOICES = [
    (DuplicatePair.Decision.SAME, DuplicatePair.Decision.SAME.label),
    (DuplicatePair.Decision.DIFFERENT, DuplicatePair.Decision.DIFFERENT.label),
    (DuplicatePair.Decision.UNSURE, DuplicatePair.Decision.UNSURE.label),
]
BAND_CHOICES = [("", _("Any likelihood")), ("likely", _("Likely duplicates")), ("possible", _("Possible"))]
ORDER_CHOICES = [("", _("Most probable first")), ("asc", _("Least probable first"))]


class QueueFilterForm(forms.Form):
    """The queue's filters (GET); anything invalid falls back to the default."""

    decision = forms.ChoiceField(
        label=_("Decision"),
        required=False,
        choices=[*DuplicatePair.Decision.choices, ("all", _("Any decision"))],
    )
    band = forms.ChoiceField(label=_("Likelihood"), required=False, choices=BAND_CHOICES)
    source = forms.ChoiceField(
        label=_("Found by"), required=False, choices=[("", _("Any")), *DuplicatePair.Source.choices]
    )
    cluster = forms.IntegerField(label=_("Cluster"), required=False, min_value=0, max_value=2**31 - 1)
    order = forms.ChoiceField(label=_("Order"), required=False, choices=ORDER_CHOICES)

    def filters(self) -> QueueFilters:
        data = self.cleaned_data if self.is_valid() else {}
        decision = data.get("decision") or DuplicatePair.Decision.PENDING
        return QueueFilters(
            decision="" if decision == "all" else decision,
            band=data.get("band") or "",
            source=data.get("source") or "",
            cluster=data.get("cluster"),
            ascending=data.get("order") == "asc",
        )


class IdListField(forms.Field):
    """A list of database ids (e.g. the ticked pairs)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        try:
            ids = [int(v) for v in value]
        except (TypeError, ValueError) as exc:
            raise ValidationError(_("Choose from the list."), code="invalid") from exc
        if any(not 0 < i < 2**63 for i in ids) or len(ids) > 500:
            raise ValidationError(_("Choose from the list."), code="invalid")
        return ids


class BulkDecisionForm(forms.Form):
    """One decision for every ticked pair of the queue."""

    pair = IdListField(label=_("Pairs"), error_messages={"required": _("Tick at least one pair.")})
    decision = forms.ChoiceField(label=_("Decision"), choices=DECISION_CHOICES)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=DECISION_CHOICES)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional: what decided it (kept in the audit trail)."),
    )


class MatchSettingsForm(forms.Form):
    """The thresholds of an office network, as probabilities between 0 and 1."""

    intake_threshold = forms.FloatField(
        label=_("Intake threshold"),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
        help_text=_("Candidates at or above this probability are shown when registering a person."),
    )
    review_threshold = forms.FloatField(
        label=_("Review threshold"),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
        help_text=_("Pairs at or above this probability go to the adjudication queue."),
    )
    likely_threshold = forms.FloatField(
        label=_("Likely-duplicate threshold"),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
        help_text=_("Pairs at or above this probability are shown as likely duplicates."),
    )

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            self.add_error(key if key in self.fields else None, messages)


class AccessRequestForm(forms.Form):
    """A request to the office that owns a possible match."""

    person = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**63 - 1)
    kind = forms.ChoiceField(
        label=_("What do you ask for?"),
        choices=AccessRequest.Kind.choices,
        widget=forms.RadioSelect,
        initial=AccessRequest.Kind.ACCESS,
    )
    reason = forms.CharField(
        label=_("Why does your office need it?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The other office reads this. Do not write the person's data here."),
    )
    requesting_office = forms.ModelChoiceField(label=_("On behalf of"), queryset=Office.objects.none())
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)

    def __init__(self, *args: Any, offices: Sequence[Office] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["requesting_office"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Office.objects.filter(pk__in=[o.pk for o in offices]).order_by("name")
        if len(offices) == 1:
            field.initial = offices[0].pk
            field.widget = forms.HiddenInput()

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            # A bad candidate is reported for the whole form: "person" is a hidden field.
            self.add_error(key if key in self.fields and key != "person" else None, messages)


class AccessDecisionForm(forms.Form):
    """The owner's answer to a request."""

    grant = forms.TypedChoiceField(
        label=_("Answer"),
        choices=[("yes", _("Grant")), ("no", _("Refuse"))],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    answer = forms.CharField(
        label=_("Message to the requesting office"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Needed when refusing."),
    )

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            self.add_error(key if key in self.fields else None, messages)
