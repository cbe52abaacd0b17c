"""Forms of case transfers: the request and the answer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rumbo.offices.models import Office


class TransferRequestForm(forms.Form):
    to_office = forms.ModelChoiceField(
        label=_("Office that takes over the case"), queryset=Office.objects.none(), empty_label="—"
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text=_("E.g. the family moved to another state. The receiving office reads it."),
    )

    def __init__(self, *args: Any, from_office_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["to_office"]
        field.queryset = (
            Office.objects.filter(kind=Office.Kind.OFAM, is_active=True)
            .exclude(pk=from_office_id)
            .order_by("name")
        )


class TransferDecideForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Answer"),
        choices=[("accept", _("Accept the case")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note for the sending office"),
        required=False,
        max_length=300,
        help_text=_("Required when rejecting."),
    )
