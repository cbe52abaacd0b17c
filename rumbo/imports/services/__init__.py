"""Writes of the imports app; import them from here.

``import_upload`` → ``import_set_mapping`` → ``import_start`` (enqueues the ``import_persons`` task) →
``import_run`` (the bulk path: validation, duplicate checks and writes in chunks, one transaction each).
``import_error_report`` gives the rows that were not imported as CSV (audited).
"""

from __future__ import annotations

from rumbo.imports.services.batches import (
    import_discard,
    import_error_report,
    import_set_mapping,
    import_start,
    import_upload,
)
from rumbo.imports.services.engine import ImportFailed, import_run

__all__ = [
    "ImportFailed",
    "import_discard",
    "import_error_report",
    "import_run",
    "import_set_mapping",
    "import_start",
    "import_upload",
]
