"""Bulk imports of persons from CSV and XLSX files: one ``ImportBatch`` per uploaded file, one ``ImportRow``
per data row with what became of it.

The uploaded file is kept under ``settings.DATA_DIR / "imports"`` (outside every web-served folder) until its
import is done, or one of the persons it imported is anonymised; rows keep their outcome, their errors per
field and, for rows that were not imported, their original values (the error report is built from them).
A row's ``row_sha256`` (of its normalised mapped values) makes a second import of the same data create
nothing: rows already imported in the office point to that person.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rumbo.people.models import OfficeScopedManager


class ImportBatch(models.Model):
    """One uploaded file, its column mapping and the progress and outcome of its import."""

    class Kind(models.TextChoices):
        CSV = "csv", _("CSV")
        XLSX = "xlsx", _("Excel (XLSX)")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        MAPPED = "mapped", _("Columns mapped")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    file_name = models.CharField(_("file name"), max_length=255)
    file_sha256 = models.CharField(_("file hash (SHA-256)"), max_length=64, db_index=True)
    file_kind = models.CharField(_("file type"), max_length=4, choices=Kind.choices)
    file_size = models.PositiveBigIntegerField(_("file size (bytes)"), default=0)
    # Relative to settings.DATA_DIR / "imports"; never under a web-served folder.
    stored_path = models.CharField(max_length=300, editable=False)
    language = models.CharField(
        _("language of the messages"), max_length=10, blank=True, help_text=_("Errors are written in it.")
    )
    headers = models.JSONField(_("column headers"), default=list, blank=True)
    mapping = models.JSONField(
        _("column mapping"), default=list, blank=True, help_text=_("Target field per column, in order.")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.UPLOADED)
    task_id = models.CharField(max_length=64, blank=True, editable=False)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("persons created"), default=0)
    skipped_existing_count = models.PositiveIntegerField(_("rows already imported"), default=0)
    failed_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    possible_duplicates_count = models.PositiveIntegerField(_("possible duplicates"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    timings = models.JSONField(default=dict, blank=True, editable=False)  # seconds per phase

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["office", "-created_at"], name="imports_batch_office")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.is_finished else 0
        return min(100, self.processed_rows * 100 // self.total_rows)


class ImportRow(models.Model):
    """What became of one data row of an imported file."""

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        INVALID = "invalid", _("Not imported: errors")
        ALREADY_IMPORTED = "already_imported", _("Already imported")
        DUPLICATE_SUSPECTED = "duplicate_suspected", _("Created, possible duplicate")

    # The row report is written by the hundred thousand with the persons it creates, and every reference in
    # it is known good when it is written (its batch, the batch's office, a person created in the same
    # transaction or found by the "already imported" lookup): no database-level foreign keys, whose checks
    # PostgreSQL ran at every commit of an import (300,000 a 100,000-row file). Django still cascades a
    # deletion. The batch needs no index of its own: ``imports_row_batch`` starts with it.
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.CASCADE, related_name="rows", db_index=False, db_constraint=False
    )
    # Denormalised from the batch: the scope filter and the "already imported in this office?" lookup
    # need no join.
    office = models.ForeignKey(
        "offices.Office", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    row_number = models.PositiveIntegerField(_("row"))  # as a spreadsheet numbers it: the header is row 1
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    row_sha256 = models.CharField(max_length=64)
    errors = models.JSONField(_("errors"), default=dict, blank=True)  # {target field: [messages]}
    raw = models.JSONField(_("original values"), default=list, blank=True)  # rows not created only
    person = models.ForeignKey(
        "people.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    candidates = models.JSONField(default=list, blank=True)  # [{person_id, office_id, probability}]

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("imported row")
        verbose_name_plural = _("imported rows")
        ordering = ["batch", "row_number"]
        indexes = [
            models.Index(fields=["office", "row_sha256"], name="imports_row_hash"),
            models.Index(fields=["batch", "status", "row_number"], name="imports_row_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.row_number} {self.status}"
