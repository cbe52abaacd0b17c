"""Pages to merge two records of the same person and to undo a merge. Thin views: access check → form →
one service (:func:`rumbo.people.services.person_merge` / ``person_unmerge``) → redirect.

Access: ``MERGE_PERSON`` (office administrators) in the offices of both records. A record of an office where
the user holds no role is 404; a role there without the right is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from rumbo.offices.permissions import Perm, offices_with_perm, require, require_any
from rumbo.people.merge_selectors import merge_get
from rumbo.people.models import (
    Address,
    Alias,
    ConsentRecord,
    Document,
    HouseholdRelation,
    Language,
    Nationality,
    Person,
    Phone,
    VulnerabilityFlag,
)
from rumbo.people.search import relaxed_query
from rumbo.people.selectors import person_get, person_search
from rumbo.people.services import (
    person_merge,
    person_record_view,
    person_search_record,
    person_unmerge,
)
from rumbo.people.services.merge import (
    MERGE_FIELDS,
    MERGED,
    SURVIVOR,
    default_choices,
    merge_problems,
    unmerge_problems,
)
from rumbo.people.templatetags.people_tags import birth_date, country_name, language_name, phone

FIELD_LABELS: dict[str, Any] = {
    "given_names": gettext_lazy("Given names"),
    "first_surname": gettext_lazy("First surname"),
    "second_surname": gettext_lazy("Second surname"),
    "sex": gettext_lazy("Sex"),
    "birth_date": gettext_lazy("Date of birth"),
    "birth_country": gettext_lazy("Country of birth"),
    "birth_place": gettext_lazy("Place of birth"),
    "email": gettext_lazy("Email"),
    "preferred_language": gettext_lazy("Preferred language"),
}


class ReasonForm(forms.Form):
    """The reason of a merge or an unmerge, kept in the audit trail (optional)."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Kept in the audit trail, e.g. the adjudication that found the duplicate."),
    )


@dataclass(frozen=True)
class FieldRow:
    """One scalar field of the comparison table."""

    key: str
    label: Any
    survivor: str
    merged: str
    differs: bool
    choice: str
    errors: list[str]


@dataclass(frozen=True)
class ListRow:
    """One list of child rows (documents, phones…) of the comparison table: all of them move."""

    label: Any
    survivor: list[str]
    merged: list[str]
    differs: bool


def _display(person: Person, key: str) -> str:
    if key == "sex":
        return str(person.get_sex_display())
    if key == "birth_date":
        return birth_date(person) if person.birth_date else ""
    if key == "birth_country":
        return country_name(person.birth_country)
    if key == "birth_place":
        return str(person.birth_place) if person.birth_place_id else ""
    if key == "preferred_language":
        return language_name(person.preferred_language)
    return str(getattr(person, key) or "")


def _lists(person: Person, visible: frozenset[int]) -> dict[str, list[str]]:
    """The person's child rows as short texts, for the side-by-side table."""
    relations = HouseholdRelation.objects.filter(person=person).select_related("relative").order_by("pk")
    return {
        "documents": [str(d) for d in Document.objects.filter(person=person).order_by("kind", "pk")],
        "phones": [phone(p.e164) for p in Phone.objects.filter(person=person).order_by("-is_primary", "pk")],
        "addresses": [
            str(a) or str(country_name(a.country))
            for a in Address.objects.filter(person=person).select_related("admin_area").order_by("pk")
        ],
        "aliases": [str(a) for a in Alias.objects.filter(person=person).order_by("pk")],
        "nationalities": [
            country_name(n.country) for n in Nationality.objects.filter(person=person).order_by("pk")
        ],
        "languages": [
            language_name(lang.code) for lang in Language.objects.filter(person=person).order_by("pk")
        ],
        "vulnerabilities": [
            str(v.get_flag_display()) for v in VulnerabilityFlag.objects.filter(person=person).order_by("pk")
        ],
        "household": [
            _("%(relation)s of %(name)s")
            % {
                "relation": r.get_relation_display(),
                "name": r.relative.full_name
                if r.relative.office_id in visible
                else _("a person registered by another office"),
            }
            for r in relations
        ],
        "consents": [
            _("%(count)s consent records") % {"count": ConsentRecord.objects.filter(person=person).count()}
        ],
    }


LIST_LABELS: dict[str, Any] = {
    "documents": gettext_lazy("Identity documents"),
    "phones": gettext_lazy("Phones"),
    "addresses": gettext_lazy("Addresses"),
    "aliases": gettext_lazy("Also known as"),
    "nationalities": gettext_lazy("Nationalities"),
    "languages": gettext_lazy("Languages"),
    "vulnerabilities": gettext_lazy("Vulnerabilities"),
    "household": gettext_lazy("Household"),
    "consents": gettext_lazy("Consent"),
}


def _comparison(
    user: Any, survivor: Person, merged: Person, chosen: dict[str, str], errors: dict[str, list[str]]
) -> tuple[list[FieldRow], list[ListRow]]:
    fields = []
    for key in MERGE_FIELDS:
        left, right = _display(survivor, key), _display(merged, key)
        fields.append(
            FieldRow(
                key=key,
                label=FIELD_LABELS[key],
                survivor=left,
                merged=right,
                differs=left != right,
                choice=chosen.get(key, SURVIVOR),
                errors=errors.get(f"choices.{key}", []),
            )
        )
    visible = offices_with_perm(user, Perm.VIEW_PERSON)
    left_lists, right_lists = _lists(survivor, visible), _lists(merged, visible)
    lists = [
        ListRow(
            label=LIST_LABELS[name],
            survivor=left_lists[name],
            merged=right_lists[name],
            differs=left_lists[name] != right_lists[name],
        )
        for name in LIST_LABELS
    ]
    return fields, lists


def _merge_pair(request: HttpRequest, pk: int, other: int) -> tuple[Person, Person]:
    require_any(request.user, Perm.MERGE_PERSON)
    return person_get(request.user, pk, Perm.MERGE_PERSON), person_get(request.user, other, Perm.MERGE_PERSON)


@login_required
def merge_start(request: HttpRequest, pk: int) -> HttpResponse:
    """Find the duplicate to merge into this record (search by name, document or phone)."""
    require_any(request.user, Perm.MERGE_PERSON)
    person = person_get(request.user, pk, Perm.MERGE_PERSON)
    if person.merged_into_id is not None or person.is_anonymised:
        messages.error(request, _("This record can no longer be changed."))
        return redirect("people:detail", pk=person.pk)
    query = request.GET.get("q", "").strip()[:100]
    result = person_search(request.user, query, page=1, page_size=10) if query else None
    if result is not None and result.total == 0 and (relaxed := relaxed_query(query)):
        result = person_search(request.user, relaxed, page=1, page_size=10)
    if result is not None:
        person_search_record(actor=request.user, query=query, result_count=result.total)
    mergeable = offices_with_perm(request.user, Perm.MERGE_PERSON)
    candidates = [
        p for p in (result.persons if result else []) if p.pk != person.pk and p.office_id in mergeable
    ]
    return render(
        request,
        "people/merge_start.html",
        {"person": person, "query": query, "result": result, "candidates": candidates},
    )


@login_required
@require_http_methods(["GET", "POST"])
def merge(request: HttpRequest, pk: int, other: int) -> HttpResponse:
    """Both records side by side, a choice of surviving value per field, then the merge of ``other`` into
    ``pk``. Showing the comparison is an access to both records (audited as views)."""
    survivor, merged = _merge_pair(request, pk, other)
    problems = merge_problems(survivor, merged)
    chosen = default_choices(survivor, merged)
    form = ReasonForm(request.POST or None)
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and not problems and form.is_valid():
        choices = {
            key: str(request.POST[f"choice_{key}"]) for key in MERGE_FIELDS if f"choice_{key}" in request.POST
        }
        chosen.update({k: v for k, v in choices.items() if v in (SURVIVOR, MERGED)})
        try:
            person_merge(
                actor=request.user,
                survivor=survivor,
                merged=merged,
                choices=choices,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            errors = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
            for message in errors.pop("reason", []):
                form.add_error("reason", message)
        else:
            messages.success(
                request,
                _("Record %(merged)s was merged into this record. It can be undone from this page.")
                % {"merged": merged.pk},
            )
            return redirect("people:detail", pk=survivor.pk)
    for person in {survivor.pk: survivor, merged.pk: merged}.values():
        person_record_view(actor=request.user, person=person)
    fields, lists = _comparison(request.user, survivor, merged, chosen, errors)
    page_errors = [m for k, v in errors.items() if not k.startswith("choices.") for m in v]
    page_errors += [str(m) for v in problems.values() for m in v]
    return render(
        request,
        "people/merge_compare.html",
        {
            "survivor": survivor,
            "merged": merged,
            "fields": fields,
            "lists": lists,
            "form": form,
            "page_errors": page_errors,
            "can_merge": not problems,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def unmerge(request: HttpRequest, merge_id: int) -> HttpResponse:
    """Confirmation page, then the undoing of one merge: both records live again with their own data."""
    require_any(request.user, Perm.MERGE_PERSON)
    record = merge_get(request.user, merge_id)
    require(request.user, Perm.MERGE_PERSON, record.merged.office_id)
    problems = [str(p) for p in unmerge_problems(record, record.survivor, record.merged)]
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and not problems and form.is_valid():
        try:
            person_unmerge(actor=request.user, merge=record, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            problems = [str(m) for m in exc.messages]
        else:
            messages.success(request, _("The merge was undone: both records are separate again."))
            return redirect("people:detail", pk=record.survivor_id)
    return render(
        request,
        "people/merge_undo.html",
        {"merge": record, "form": form, "problems": problems},
    )
