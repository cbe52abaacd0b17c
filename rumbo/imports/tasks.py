"""Background work of the imports app (django-tasks, queue "imports")."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from django_tasks import task

from rumbo.imports.models import ImportBatch
from rumbo.imports.services import import_run


@task(queue_name="imports")
def import_persons(batch_id: int) -> dict[str, int | str]:
    """Run the import of a batch as the user who uploaded it; progress is kept on the batch."""
    with scopes_disabled():
        batch = ImportBatch.objects.select_related("office", "created_by").get(pk=batch_id)
        try:
            batch = import_run(actor=batch.created_by, batch=batch)
        except PermissionDenied:
            # The uploader lost the right to import (or the account is gone) before the task ran.
            with translation.override(batch.language or None):
                error = _("The person who uploaded this file may no longer import persons.")
            ImportBatch.objects.filter(pk=batch_id).update(
                status=ImportBatch.Status.FAILED, error=error, finished_at=timezone.now()
            )
            return {"status": ImportBatch.Status.FAILED}
    return {
        "status": batch.status,
        "rows": batch.total_rows,
        "created": batch.created_count,
        "already_imported": batch.skipped_existing_count,
        "invalid": batch.failed_count,
        "possible_duplicates": batch.possible_duplicates_count,
    }
