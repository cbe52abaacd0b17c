"""Writes of the cases app; import them from here. Every function takes the acting user, checks its
permission, validates before saving (``ValidationError`` keyed by field), runs in one transaction and audits.

Returns and arrivals (``returns``), the case itself (``cases``), attachments (``attachments``) and transfers
(``transfers``) are here; the directory, referrals, procedures and follow-up tasks have their own modules in
this package.
"""

from rumbo.cases.services.attachments import attachment_add, attachment_download_record
from rumbo.cases.services.cases import (
    allowed_statuses,
    case_assign,
    case_note_add,
    case_open,
    case_record_view,
    case_set_status,
    case_update,
    next_case_number,
)
from rumbo.cases.services.returns import arrival_record, return_point_add, return_record
from rumbo.cases.services.transfers import case_transfer_cancel, case_transfer_decide, case_transfer_request

__all__ = [
    "allowed_statuses",
    "arrival_record",
    "attachment_add",
    "attachment_download_record",
    "case_assign",
    "case_note_add",
    "case_open",
    "case_record_view",
    "case_set_status",
    "case_transfer_cancel",
    "case_transfer_decide",
    "case_transfer_request",
    "case_update",
    "next_case_number",
    "return_point_add",
    "return_record",
]
