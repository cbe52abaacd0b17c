from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "rumbo.imports"
    label = "imports"
    verbose_name = _("Imports")

    def anonymise_person(self, person: Any) -> dict[str, int]:
        """Called by ``people.services.person_anonymise`` in its transaction: the import rows of the person
        lose their original values and candidates, and the stored files of the batches that imported the
        person (a failed batch keeps its file; so did every batch before files were removed when done) are
        removed once the transaction commits."""
        from django.db import transaction

        from rumbo.imports.models import ImportBatch, ImportRow
        from rumbo.imports.services.files import stored_path

        rows = ImportRow._base_manager.filter(person=person)
        batches = ImportBatch._base_manager.filter(pk__in=rows.values("batch_id"))
        files = [stored_path(p) for p in batches.values_list("stored_path", flat=True)]
        files = [path for path in files if path.exists()]
        cleared = rows.update(raw=[], candidates=[])

        def remove() -> None:
            for path in files:
                path.unlink(missing_ok=True)

        transaction.on_commit(remove)
        return {"import_rows": cleared, "import_files": len(files)}
