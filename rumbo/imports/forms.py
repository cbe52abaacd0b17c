"""Forms of the import pages: the upload and the column mapping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rumbo.imports.fields import target_choices
from rumbo.imports.services.files import max_bytes
from rumbo.offices.models import Office


class UploadForm(forms.Form):
    """A CSV or XLSX file and, for someone who imports in several offices, the office it is for. The
    service checks the file (type, size, header row) and reports at "file"."""

    office = forms.ModelChoiceField(label=_("Office"), queryset=Office.objects.none(), empty_label=None)
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV or Excel (.xlsx), first row with the column names, at most %(max)s MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )

    def __init__(self, *args: Any, offices: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["office"]
        field.queryset = Office.objects.filter(pk__in=list(offices)).order_by("name")
        if len(offices) == 1:
            field.initial = offices[0]
            field.widget = forms.HiddenInput()
        file_field = self.fields["file"]
        file_field.help_text = str(file_field.help_text) % {"max": f"{max_bytes() / 1024 / 1024:g}"}


class MappingForm(forms.Form):
    """One select per column of the file: the field it is imported into, or none."""

    def __init__(self, *args: Any, headers: Sequence[str], mapping: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = list(headers)
        choices = target_choices()
        for i, header in enumerate(self.headers):
            self.fields[f"col_{i}"] = forms.ChoiceField(
                label=header,
                choices=choices,
                required=False,
                initial=mapping[i] if i < len(mapping) else "",
            )

    def mapping(self) -> list[str]:
        """The chosen field per column (from the cleaned data, or what was posted when invalid)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return [str(data.get(f"col_{i}", "") or "") for i in range(len(self.headers))]

    def columns(self) -> list[tuple[str, Any]]:
        return [(header, self[f"col_{i}"]) for i, header in enumerate(self.headers)]
