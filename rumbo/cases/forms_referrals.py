"""Forms of referrals and procedures: send a referral, change its status, start a procedure, mark a step.
The services validate; their errors come back at the field that caused them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rumbo.cases.models import ProcedureKind, ProcedureStep, Referral, ReferralStatus
from rumbo.cases.selectors_directory import ServiceOfferings
from rumbo.cases.services.referrals import TRANSITIONS
from rumbo.people.models import Person


def offering_label(offering: Any) -> str:
    """How an offering reads in the referral form: the institution, and the ages or cost when set."""
    parts = [offering.institution.name]
    if offering.min_age is not None or offering.max_age is not None:
        parts.append(
            str(_("ages %(min)s–%(max)s"))
            % {"min": offering.min_age if offering.min_age is not None else 0, "max": offering.max_age or "…"}
        )
    if offering.cost:
        parts.append(offering.cost)
    return " · ".join(parts)


class ReferralSendForm(forms.Form):
    """Who is referred (the case's person or a household member), where, and why."""

    person = forms.TypedChoiceField(label=_("Person referred"), coerce=int)
    offering = forms.TypedChoiceField(
        label=_("Service and institution"),
        coerce=int,
        help_text=_(
            "Services that answer the case's needs come first. Only offerings valid today are listed."
        ),
    )
    reason = forms.CharField(
        label=_("Reason for the referral"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Printed on the referral letter."),
    )
    override_reason = forms.CharField(
        label=_("Send without consent: why"),
        max_length=300,
        required=False,
        help_text=_(
            "Only when the person cannot give consent now and the referral cannot wait (e.g. an urgent "
            "medical need). Recorded in the audit trail."
        ),
    )

    def __init__(
        self,
        *args: Any,
        persons: Sequence[tuple[Person, str]],
        groups: Sequence[ServiceOfferings],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        person: Any = self.fields["person"]
        person.choices = [(p.pk, f"{p.full_name} ({role})") for p, role in persons]
        offering: Any = self.fields["offering"]
        choices: list[Any] = [("", _("Choose…"))]
        for group in groups:
            label = str(group.service.name)
            if group.answers_need:
                label = f"{label} — {_('answers a need of the case')}"
            choices.append((label, [(o.pk, offering_label(o)) for o in group.offerings]))
        offering.choices = choices


class ReferralStatusForm(forms.Form):
    """The next status of a referral, a note for its history and the outcome."""

    status = forms.ChoiceField(label=_("New status"))
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
    outcome = forms.CharField(
        label=_("Outcome"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text=_("What came of it: e.g. the person was affiliated, NSS 12345678901."),
    )

    def __init__(self, *args: Any, referral: Referral, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        allowed = TRANSITIONS.get(referral.status, frozenset())
        status: Any = self.fields["status"]
        status.choices = [(value, label) for value, label in ReferralStatus.choices if value in allowed]
        if not self.is_bound:
            self.initial.setdefault("outcome", referral.outcome)


class ProcedureStartForm(forms.Form):
    kind = forms.ModelChoiceField(label=_("Procedure"), queryset=ProcedureKind._base_manager.none())

    def __init__(self, *args: Any, office_id: int, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        kind: Any = self.fields["kind"]
        kind.queryset = ProcedureKind._base_manager.filter(office_id=office_id, is_active=True).order_by(
            "name"
        )


class ProcedureStepForm(forms.Form):
    done_on = forms.DateField(
        label=_("Done on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty if not done yet."),
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args: Any, step: ProcedureStep | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        if step is not None:
            kwargs.setdefault("initial", {"done_on": step.done_on, "note": step.note})
            kwargs.setdefault("prefix", f"step-{step.pk}")
        super().__init__(*args, **kwargs)
