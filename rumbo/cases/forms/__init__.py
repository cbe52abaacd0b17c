"""Forms of the cases app (the case, returns, attachments, transfers); import them from here."""

from rumbo.cases.forms.attachments import AttachmentForm
from rumbo.cases.forms.cases import (
    DATE_WIDGET,
    FILTER_YEARS,
    CaseFilterForm,
    CaseForm,
    NoteForm,
    StatusForm,
    add_service_errors,
    office_workers,
    validate_filter_date,
)
from rumbo.cases.forms.returns import ArrivalForm, ReturnForm, ReturnPointForm
from rumbo.cases.forms.transfers import TransferDecideForm, TransferRequestForm

__all__ = [
    "DATE_WIDGET",
    "FILTER_YEARS",
    "ArrivalForm",
    "AttachmentForm",
    "CaseFilterForm",
    "CaseForm",
    "NoteForm",
    "ReturnForm",
    "ReturnPointForm",
    "StatusForm",
    "TransferDecideForm",
    "TransferRequestForm",
    "add_service_errors",
    "office_workers",
    "validate_filter_date",
]
