"""Pages of the cases app owned here: the case, returns and arrivals, attachments, transfers. The directory,
referrals, procedures, follow-up tasks and the dashboard have their own view modules."""

from rumbo.cases.views.attachments import attachment_add_view, attachment_download_view
from rumbo.cases.views.cases import (
    case_detail_view,
    case_edit_view,
    case_list_view,
    case_note_view,
    case_open_view,
    case_status_view,
)
from rumbo.cases.views.returns import arrival_add_view, return_add_view, return_points_view
from rumbo.cases.views.transfers import (
    transfer_cancel_view,
    transfer_decide_view,
    transfer_list_view,
    transfer_request_view,
)

__all__ = [
    "arrival_add_view",
    "attachment_add_view",
    "attachment_download_view",
    "case_detail_view",
    "case_edit_view",
    "case_list_view",
    "case_note_view",
    "case_open_view",
    "case_status_view",
    "return_add_view",
    "return_points_view",
    "transfer_cancel_view",
    "transfer_decide_view",
    "transfer_list_view",
    "transfer_request_view",
]
