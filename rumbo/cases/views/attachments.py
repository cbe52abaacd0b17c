"""Attachments of a case: upload (type by content, size limit) and permission-checked, audited download."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from rumbo.cases.forms import AttachmentForm, add_service_errors
from rumbo.cases.selectors import attachment_get, case_get
from rumbo.cases.services import attachment_add, attachment_download_record
from rumbo.cases.services.attachments import download_name, stored_file
from rumbo.offices.permissions import Perm, require_any


@login_required
@require_http_methods(["GET", "POST"])
def attachment_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach a file to the case; a refused file is reported at the file field and nothing is kept."""
    require_any(request.user, Perm.CHANGE_CASE)
    case = case_get(request.user, pk, Perm.CHANGE_CASE)
    form = AttachmentForm(request.POST, request.FILES) if request.method == "POST" else AttachmentForm()
    if request.method == "POST" and form.is_valid():
        try:
            attachment_add(
                actor=request.user,
                case=case,
                upload=form.cleaned_data["file"],
                title=form.cleaned_data["title"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("File attached."))
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/attachment_form.html", {"form": form, "case": case})


@login_required
@require_GET
def attachment_download_view(request: HttpRequest, pk: int) -> FileResponse:
    """The file, as a download (never shown inline), to users who may read it; every download is audited."""
    require_any(request.user, Perm.VIEW_CASE)
    attachment, _view = attachment_get(request.user, pk)
    try:
        handle = stored_file(attachment).open("rb")
    except (OSError, ValueError) as exc:
        raise Http404 from exc
    attachment_download_record(actor=request.user, attachment=attachment)
    response = FileResponse(
        handle, as_attachment=True, filename=download_name(attachment), content_type=attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
