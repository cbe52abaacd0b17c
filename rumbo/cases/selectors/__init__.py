"""Reads of the cases app, for an acting user; import them from here.

Access helpers other parts of the app use: :func:`case_get` (a case to act on: 404 outside the user's
offices, 403 without the permission) and :func:`case_view_get` (a case to read, including a past office's
read-only view; :class:`CaseView` says which rows to show).
"""

from rumbo.cases.selectors.cases import (
    COUNT_CAP,
    CaseDetail,
    CasePage,
    CaseView,
    attachment_get,
    case_detail,
    case_get,
    case_list,
    case_queryset,
    case_view_get,
    is_case_number,
    show_as_it_left,
    transfer_get,
    transfer_inbox,
    transfers_of_offices,
)
from rumbo.cases.selectors.returns import (
    PersonCasework,
    household_of,
    person_arrivals,
    person_casework,
    person_returns,
    return_points,
    us_states,
)

__all__ = [
    "COUNT_CAP",
    "CaseDetail",
    "CasePage",
    "CaseView",
    "PersonCasework",
    "attachment_get",
    "case_detail",
    "case_get",
    "case_list",
    "case_queryset",
    "case_view_get",
    "household_of",
    "is_case_number",
    "person_arrivals",
    "person_casework",
    "person_returns",
    "return_points",
    "show_as_it_left",
    "transfer_get",
    "transfer_inbox",
    "transfers_of_offices",
    "us_states",
]
