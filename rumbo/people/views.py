"""Pages of the person registry: search, search-first registration, detail, edit, consent, household,
anonymisation. Thin views: access check → form → one service → redirect or partial.

Access: anonymous users are sent to log in; a user without the permission in any office gets 403; a
person outside the user's offices is 404 (``person_get``); inside them without the right role, 403.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from rumbo.geo.models import AdminArea
from rumbo.matching.selectors import intake_candidates, similar_names
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, offices_with_perm, require_any
from rumbo.people.consent import consent_text, consent_text_version
from rumbo.people.forms import (
    AnonymiseForm,
    ConsentForm,
    HouseholdLinkForm,
    PersonEditor,
    confirmation_token,
    municipality_options,
)
from rumbo.people.merge_selectors import merge_context, visible_survivor_id
from rumbo.people.models import (
    Address,
    Alias,
    ConsentPurpose,
    ConsentRecord,
    Document,
    DocumentKind,
    HouseholdRelation,
    Language,
    Nationality,
    Person,
    Phone,
    VulnerabilityFlag,
)
from rumbo.people.search import relaxed_query
from rumbo.people.selectors import (
    person_get,
    person_search,
)
from rumbo.people.services import (
    consent_record,
    household_link,
    household_unlink,
    person_anonymise,
    person_create,
    person_data_clean,
    person_data_curp_flags,
    person_data_from,
    person_export,
    person_list_record,
    person_record_view,
    person_search_record,
    person_update,
)
from rumbo.people.validators import curp_flag_labels

PAGE_SIZE = 25


def _is_htmx(request: HttpRequest) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 1000))
    except ValueError:
        return 1


def _main_documents(persons: list[Person]) -> dict[int, Document]:
    """The document to show for each person in a list: the CURP if any, else the first recorded."""
    out: dict[int, Document] = {}
    docs = Document.objects.filter(person_id__in=[p.pk for p in persons]).order_by("person_id", "pk")
    for doc in docs:
        current = out.get(doc.person_id)
        if current is None or (doc.kind == DocumentKind.CURP and current.kind != DocumentKind.CURP):
            out[doc.person_id] = doc
    return out


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Find persons by name, document or phone (accent- and case-insensitive prefixes); audits each search."""
    require_any(request.user, Perm.VIEW_PERSON)
    query = request.GET.get("q", "").strip()[:100]
    page = _page_number(request)
    result = person_search(request.user, query, page=page, page_size=PAGE_SIZE) if query else None
    relaxed = relaxed_query(query) if result is not None and result.total == 0 else None
    if relaxed:
        result = person_search(request.user, relaxed, page=page, page_size=PAGE_SIZE)
    if result is not None:
        person_search_record(actor=request.user, query=query, result_count=result.total)
    documents = _main_documents(result.persons) if result else {}
    rows = [(p, documents.get(p.pk)) for p in result.persons] if result else []
    similar = (
        similar_names(request.user, query, exclude_ids={p.pk for p in result.persons})
        if result is not None and page == 1
        else []
    )
    context = {
        "similar": similar,
        "query": query,
        "relaxed": relaxed if result is not None and result.total else None,
        "result": result,
        "rows": rows,
        "can_add": bool(offices_with_perm(request.user, Perm.ADD_PERSON)),
        "can_export": bool(offices_with_perm(request.user, Perm.EXPORT_PERSON)),
    }
    template = "people/_results.html" if _is_htmx(request) else "people/search.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def export(request: HttpRequest) -> HttpResponse:
    """CSV of the persons the user may export (all, or those matching ``q``); every row is audited. Too many
    persons: back to the search with the error (an export is never cut short)."""
    query = request.GET.get("q", "").strip()[:100]
    try:
        rows = person_export(actor=request.user, query=query)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(reverse("people:search") + (f"?{urlencode({'q': query})}" if query else ""))
    buffer = io.StringIO()
    buffer.write("\ufeff")  # BOM: spreadsheet programs then read the accents right
    csv.writer(buffer).writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"rumbo-personas-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _region(office_ids: Any) -> str:
    office = Office.objects.filter(pk__in=list(office_ids)).order_by("pk").first()
    return office.country if office is not None else "MX"


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    """Search-first registration: possible existing matches (and CURP warnings) are shown before a new
    person is created; the user confirms "none of these" to register anyway."""
    offices = sorted(require_any(request.user, Perm.ADD_PERSON))
    editor = PersonEditor(request.POST or None, offices=offices, region=_region(offices))
    matches: list[Any] = []
    curp_flags: dict[str, list[str]] = {}
    token = ""
    if request.method == "POST" and editor.is_valid():
        data = editor.person_data()
        try:
            clean = person_data_clean(data)
        except ValidationError as exc:
            editor.add_service_errors(exc)
        else:
            matches = intake_candidates(request.user, clean, office=editor.form.cleaned_data.get("office"))
            curp_flags = person_data_curp_flags(clean)
            token = confirmation_token([m.person_id for m in matches], curp_flags)
            if not (matches or curp_flags) or editor.confirm_token == token:
                office = Office.objects.get(pk=editor.form.cleaned_data["office"].pk)
                try:
                    person = person_create(actor=request.user, office=office, data=clean)
                except ValidationError as exc:
                    editor.add_service_errors(exc)
                else:
                    if curp_flags:
                        messages.warning(
                            request, _("Registered. The CURP disagrees with the data: check it.")
                        )
                    else:
                        messages.success(request, _("Person registered."))
                    return redirect("people:detail", pk=person.pk)
    # The possible matches shown give names, birth dates and offices: each is an access to the record.
    person_list_record(
        actor=request.user, persons=[m.person for m in matches if m.person is not None], shown_in="intake"
    )
    return render(
        request,
        "people/form.html",
        {
            "editor": editor,
            "form": editor.form,
            "matches": matches,
            "curp_flags": curp_flags,
            "confirm_token": token,
            "is_create": True,
        },
    )


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything recorded about a person; every view writes an access event. Merged records redirect to
    the surviving record."""
    require_any(request.user, Perm.VIEW_PERSON)
    person = person_get(request.user, pk)
    if person.merged_into_id is not None:
        # An old id leads to the surviving record (following later merges) when the user may see it.
        survivor_id = visible_survivor_id(request.user, person)
        if survivor_id is None:
            raise Http404
        messages.info(
            request,
            _("Record %(old)s was merged into this record (%(new)s).") % {"old": pk, "new": survivor_id},
        )
        return redirect("people:detail", pk=survivor_id)
    person_record_view(actor=request.user, person=person)
    visible = offices_with_perm(request.user, Perm.VIEW_PERSON)
    relations = [
        (rel, rel.relative if rel.relative.office_id in visible else None)
        for rel in HouseholdRelation.objects.filter(person=person).select_related("relative").order_by("pk")
    ]
    documents = list(Document.objects.filter(person=person).order_by("kind", "pk"))
    live = not person.is_anonymised
    latest: dict[str, ConsentRecord] = {}
    consents = list(ConsentRecord.objects.filter(person=person).select_related("recorded_by"))
    for record in consents:
        latest.setdefault(record.purpose, record)
    context = {
        "person": person,
        "documents": [(doc, curp_flag_labels(doc.flags)) for doc in documents],
        "phones": Phone.objects.filter(person=person).order_by("-is_primary", "pk"),
        "nationalities": Nationality.objects.filter(person=person).order_by("pk"),
        "languages": Language.objects.filter(person=person).order_by("pk"),
        "aliases": Alias.objects.filter(person=person).order_by("pk"),
        "addresses": Address.objects.filter(person=person)
        .select_related("admin_area", "admin_area__parent")
        .order_by("-is_current", "pk"),
        "vulnerabilities": VulnerabilityFlag.objects.filter(person=person).order_by("pk"),
        "consents": consents,
        "current_consents": [latest[p] for p in ConsentPurpose.values if p in latest],
        "relations": relations,
        "can_change": live and has_perm(request.user, Perm.CHANGE_PERSON, person.office_id),
        "can_anonymise": live and has_perm(request.user, Perm.ANONYMISE_PERSON, person.office_id),
        **merge_context(request.user, person),
    }
    return render(request, "people/detail.html", context)


def _live_person(request: HttpRequest, pk: int, perm: Perm) -> Person | HttpResponse:
    """The person for a write page, or a redirect to its detail when it can no longer be changed."""
    require_any(request.user, perm)
    person = person_get(request.user, pk, perm)
    if person.merged_into_id is not None or person.is_anonymised:
        messages.error(request, _("This record can no longer be changed."))
        return redirect("people:detail", pk=person.merged_into_id or person.pk)
    return person


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a person's data; a CURP that disagrees is shown as a warning to confirm before saving."""
    person = _live_person(request, pk, Perm.CHANGE_PERSON)
    if isinstance(person, HttpResponse):
        return person
    editor = PersonEditor(
        request.POST or None, initial=person_data_from(person), region=person.office.country
    )
    curp_flags: dict[str, list[str]] = {}
    token = ""
    if request.method == "POST" and editor.is_valid():
        try:
            clean = person_data_clean(editor.person_data())
        except ValidationError as exc:
            editor.add_service_errors(exc)
        else:
            curp_flags = person_data_curp_flags(clean)
            token = confirmation_token([], curp_flags)
            if not curp_flags or editor.confirm_token == token:
                try:
                    person_update(actor=request.user, person=person, data=clean)
                except ValidationError as exc:
                    editor.add_service_errors(exc)
                else:
                    messages.success(request, _("Changes saved."))
                    return redirect("people:detail", pk=person.pk)
    return render(
        request,
        "people/form.html",
        {
            "editor": editor,
            "form": editor.form,
            "person": person,
            "matches": [],
            "curp_flags": curp_flags,
            "confirm_token": token,
            "is_create": False,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def anonymise(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirmation page, then the anonymisation ("deletion") of a person; office admins only."""
    person = _live_person(request, pk, Perm.ANONYMISE_PERSON)
    if isinstance(person, HttpResponse):
        return person
    form = AnonymiseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person_anonymise(actor=request.user, person=person, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error("reason" if "reason" in getattr(exc, "error_dict", {}) else None, exc.messages)
        else:
            messages.success(request, _("The person's data was removed. The audit trail is kept."))
            return redirect("people:detail", pk=person.pk)
    return render(request, "people/anonymise.html", {"person": person, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, pk: int) -> HttpResponse:
    """Record consent given or withdrawn against the standard text shown on this page."""
    person = _live_person(request, pk, Perm.CHANGE_PERSON)
    if isinstance(person, HttpResponse):
        return person
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        c = form.cleaned_data
        try:
            consent_record(
                actor=request.user,
                person=person,
                purpose=c["purpose"],
                status=c["status"],
                method=c["method"],
                text=consent_text(c["purpose"]),
                text_version=consent_text_version(),
                given_by=c["given_by"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Consent recorded."))
            return redirect("people:detail", pk=person.pk)
    texts = [(value, label, consent_text(value)) for value, label in ConsentPurpose.choices]
    return render(
        request,
        "people/consent.html",
        {"person": person, "form": form, "texts": texts, "version": consent_text_version()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def household(request: HttpRequest, pk: int) -> HttpResponse:
    """Find a relative by search and link them (both directions); or remove a link."""
    person = _live_person(request, pk, Perm.CHANGE_PERSON)
    if isinstance(person, HttpResponse):
        return person
    form = HouseholdLinkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        relative = person_get(request.user, form.cleaned_data["relative"])
        try:
            if request.POST.get("action") == "unlink":
                household_unlink(actor=request.user, person=person, relative=relative)
                messages.success(request, _("Link removed."))
            else:
                household_link(
                    actor=request.user,
                    person=person,
                    relative=relative,
                    relation=form.cleaned_data["relation"],
                )
                messages.success(request, _("Relative linked."))
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        return redirect("people:household", pk=person.pk)
    query = request.GET.get("q", "").strip()[:100]
    result = person_search(request.user, query, page=1, page_size=10) if query else None
    if result is not None:
        person_search_record(actor=request.user, query=query, result_count=result.total)
    candidates = [p for p in result.persons if p.pk != person.pk] if result else []
    relations = list(
        HouseholdRelation.objects.filter(person=person).select_related("relative").order_by("pk")
    )
    visible = offices_with_perm(request.user, Perm.VIEW_PERSON)
    return render(
        request,
        "people/household.html",
        {
            "person": person,
            "form": form,
            "query": query,
            "result": result,
            "candidates": candidates,
            "relations": [(r, r.relative if r.relative.office_id in visible else None) for r in relations],
        },
    )


@login_required
def municipalities(request: HttpRequest) -> HttpResponse:
    """``<option>``s of the municipalities of a Mexican state, for the state → municipality selects (htmx).

    The state comes in whichever parameter ends in "state" (the selects live in prefixed formsets)."""
    require_any(request.user, Perm.VIEW_PERSON)
    raw = next((str(v) for k, v in request.GET.items() if k.endswith("state") and v), "")
    state = (
        AdminArea.objects.filter(country="MX", level=AdminArea.Level.STATE, pk=raw).first()
        if raw.isdigit()
        else None
    )
    return render(request, "people/_municipality_options.html", {"options": municipality_options(state)})
