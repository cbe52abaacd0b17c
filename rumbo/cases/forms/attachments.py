"""The attachment upload form. The service checks the file's type by its content and its size."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rumbo.cases.services.attachments import max_bytes


class AttachmentForm(forms.Form):
    title = forms.CharField(
        label=_("Title"), required=False, max_length=200, help_text=_("Empty: the file's name.")
    )
    file = forms.FileField(
        label=_("File"),
        help_text=_("PDF, JPEG, PNG, Word (.docx) or OpenDocument (.odt), at most %(max)s MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,.docx,.odt"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["file"]
        field.help_text = str(field.help_text) % {"max": f"{max_bytes() / 1024 / 1024:g}"}
