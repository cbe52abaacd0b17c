"""Pages of the imports app: upload → column mapping with a preview → progress → results.

Access: anonymous users log in; users who may import persons in no office get 403; another office's batch is
404; the batch's office without ``IMPORT_PERSONS`` is 403 (``selectors.batch_get``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rumbo.imports.fields import target_label
from rumbo.imports.forms import MappingForm, UploadForm
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.rows import validate_mapping
from rumbo.imports.selectors import batch_get, batch_preview, batch_queryset, batch_rows
from rumbo.imports.services import import_error_report, import_set_mapping, import_start, import_upload
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, offices_with_perm, require_any

ROWS_PER_PAGE = 50


def _form_errors(form: Any, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for key, messages_ in errors.items():
        form.add_error(key if key in form.fields else None, messages_)


@login_required
@require_http_methods(["GET", "POST"])
def batch_list(request: HttpRequest) -> HttpResponse:
    """Past imports of the user's offices and the upload form."""
    offices = sorted(require_any(request.user, Perm.IMPORT_PERSONS))
    form = UploadForm(request.POST or None, request.FILES or None, offices=offices)
    if request.method == "POST" and form.is_valid():
        office = Office.objects.get(pk=form.cleaned_data["office"].pk)
        try:
            batch = import_upload(actor=request.user, office=office, upload=form.cleaned_data["file"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("imports:mapping", pk=batch.pk)
    page = Paginator(batch_queryset(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "imports/list.html", {"form": form, "page": page})


@login_required
@require_http_methods(["GET", "POST"])
def batch_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the field of each column, see the first rows as they would be imported, then start."""
    batch = batch_get(request.user, pk)
    if batch.status not in (ImportBatch.Status.UPLOADED, ImportBatch.Status.MAPPED):
        return redirect("imports:detail", pk=batch.pk)
    form = MappingForm(request.POST or None, headers=batch.headers, mapping=batch.mapping)
    if request.method == "POST" and form.is_valid():
        try:
            import_set_mapping(actor=request.user, batch=batch, mapping=form.mapping())
            import_start(actor=request.user, batch=batch)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The import has started."))
            return redirect("imports:detail", pk=batch.pk)
    mapping = form.mapping() if form.is_bound and form.is_valid() else list(batch.mapping)
    rows, file_error = batch_preview(batch, mapping)
    return render(
        request,
        "imports/mapping.html",
        {"batch": batch, "form": form, "rows": rows, "file_error": file_error, "mapping_error": ""},
    )


@login_required
@require_POST
def batch_preview_rows(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview table for the mapping being edited (htmx partial)."""
    batch = batch_get(request.user, pk)
    form = MappingForm(request.POST, headers=batch.headers, mapping=batch.mapping)
    form.is_valid()
    mapping = form.mapping()
    mapping_error = ""
    try:
        validate_mapping(mapping, batch.headers)
    except ValidationError as exc:
        mapping_error = " ".join(exc.messages)
    rows, file_error = batch_preview(batch, mapping)
    return render(
        request,
        "imports/_preview.html",
        {"batch": batch, "rows": rows, "file_error": file_error, "mapping_error": mapping_error},
    )


def _visible_candidates(request: HttpRequest, rows: Any) -> list[tuple[ImportRow, list[dict[str, Any]]]]:
    """Each possible-duplicate row with its candidates: whether the user may see the candidate's office,
    the office's name, and the queued pair (for the side-by-side comparison)."""
    from rumbo.matching.models import DuplicatePair

    rows = list(rows)
    visible = offices_with_perm(request.user, Perm.VIEW_PERSON)
    wanted = {
        tuple(sorted((row.person_id, c["person_id"])))
        for row in rows
        for c in row.candidates
        if row.person_id
    }
    ids = {pid for pair in wanted for pid in pair}
    pairs = {
        (a, b): pk
        for pk, a, b in DuplicatePair.objects.filter(person_a_id__in=ids, person_b_id__in=ids).values_list(
            "pk", "person_a_id", "person_b_id"
        )
    }
    names = dict(Office.objects.values_list("pk", "name"))
    out = []
    for row in rows:
        candidates = [
            {
                **c,
                "visible": c.get("office_id") in visible,
                "office_name": names.get(c.get("office_id"), ""),
                "pair_id": pairs.get(tuple(sorted((row.person_id or 0, c["person_id"])))),
            }
            for c in row.candidates
        ]
        out.append((row, candidates))
    return out


def _results(request: HttpRequest, batch: ImportBatch) -> dict[str, Any]:
    invalid = Paginator(batch_rows(batch, [ImportRow.Status.INVALID]), ROWS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    duplicates = Paginator(batch_rows(batch, [ImportRow.Status.DUPLICATE_SUSPECTED]), ROWS_PER_PAGE).get_page(
        request.GET.get("dpage")
    )
    return {
        "invalid": invalid,
        "invalid_rows": [
            (row, [(target_label(k), v) for k, v in row.errors.items()]) for row in invalid.object_list
        ],
        "duplicates": duplicates,
        "duplicate_rows": _visible_candidates(request, duplicates.object_list),
    }


@login_required
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress while the import runs, then its results: counts, rows with errors, possible duplicates."""
    batch = batch_get(request.user, pk)
    if batch.status in (ImportBatch.Status.UPLOADED, ImportBatch.Status.MAPPED):
        return redirect("imports:mapping", pk=batch.pk)
    context: dict[str, Any] = {"batch": batch}
    if batch.is_finished:
        context.update(_results(request, batch))
    return render(request, "imports/detail.html", context)


@login_required
@require_GET
def batch_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress block (polled by htmx every second); once finished, the whole results."""
    batch = batch_get(request.user, pk)
    context: dict[str, Any] = {"batch": batch}
    if batch.is_finished:
        context.update(_results(request, batch))
    response = render(request, "imports/_status.html", context)
    patch_vary_headers(response, ["HX-Request"])
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def batch_report(request: HttpRequest, pk: int) -> HttpResponse:
    """CSV of the rows that were not imported: original columns plus the reasons (audited)."""
    batch = batch_get(request.user, pk)
    rows = import_error_report(actor=request.user, batch=batch)
    buffer = io.StringIO()
    buffer.write("\ufeff")  # BOM: spreadsheet programs then read the accents right
    csv.writer(buffer).writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="rumbo-import-{batch.pk}-errores.csv"'
    response["Cache-Control"] = "no-store"
    return response
