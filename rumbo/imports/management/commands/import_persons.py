"""``rumbo import_persons``: import persons from a CSV or XLSX file now, with a progress bar.

rumbo import_persons personas.xlsx --office ofam-mich --as admin-mich
rumbo import_persons personas.csv --office 3 --as admin-mich --mapping '{"Nombre": "given_names", ...}'
rumbo import_persons personas.csv --office ofam-mich --as admin-mich --dry-run    # check only, keep nothing
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from tqdm import tqdm

from rumbo.imports.fields import suggest_mapping, target_label
from rumbo.imports.models import ImportBatch, ImportRow
from rumbo.imports.services import import_discard, import_run, import_set_mapping, import_upload
from rumbo.imports.services.engine import CHUNK_SIZE
from rumbo.offices.models import Office


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Import persons from a CSV or XLSX file into an office, validating every row."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The .csv or .xlsx file (first row: column names).")
        parser.add_argument("--office", required=True, help="Office code (slug) or id.")
        parser.add_argument("--as", dest="username", required=True, help="User the import is done as.")
        parser.add_argument(
            "--mapping",
            default="auto",
            help='"auto" (from the column names), or JSON: a list with a field per column or an object '
            '{"column": "field"}; or the path of a file holding that JSON.',
        )
        parser.add_argument("--dry-run", action="store_true", help="Check every row, keep nothing.")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="Rows per transaction.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        with scopes_disabled():
            office = self._office(options["office"])
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(_("There is no user %(name)s.") % {"name": options["username"]})
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(_("There is no file %(path)s.") % {"path": path})
            try:
                batch = self._prepare(path, office, user, options["mapping"])
            except PermissionDenied as exc:
                raise CommandError(
                    _("%(user)s may not import persons in %(office)s.")
                    % {"user": user.get_username(), "office": office.name}
                ) from exc
            except ValidationError as exc:
                raise CommandError(_messages(exc)) from exc
            self._show_mapping(batch, options["verbosity"])
            with tqdm(
                total=None,
                unit=" rows",
                unit_scale=True,
                disable=options["no_progress"] or options["verbosity"] == 0,
            ) as bar:

                def progress(n: int) -> None:
                    if bar.total is None:
                        bar.total = batch.total_rows
                        bar.refresh()
                    bar.update(n)

                batch = import_run(
                    actor=user,
                    batch=batch,
                    progress=progress,
                    chunk_size=options["chunk_size"],
                    dry_run=options["dry_run"],
                )
            self._summary(batch, options["dry_run"])
            if options["dry_run"]:
                import_discard(actor=user, batch=ImportBatch.objects.get(pk=batch.pk))
            if batch.status == ImportBatch.Status.FAILED:
                raise CommandError(batch.error)

    def _office(self, value: str) -> Office:
        office = Office.objects.filter(code=value).first()
        if office is None and value.isdigit():
            office = Office.objects.filter(pk=int(value)).first()
        if office is None:
            raise CommandError(_("There is no office %(office)s.") % {"office": value})
        return office

    def _prepare(self, path: Path, office: Office, user: Any, raw_mapping: str) -> ImportBatch:
        with path.open("rb") as fh:
            batch = import_upload(actor=user, office=office, upload=File(fh, name=path.name))
        try:
            mapping = self._mapping(raw_mapping, batch.headers)
            import_set_mapping(actor=user, batch=batch, mapping=mapping)
        except (ValidationError, CommandError):
            import_discard(actor=user, batch=batch)
            raise
        batch.refresh_from_db()
        return batch

    def _mapping(self, raw: str, headers: list[str]) -> list[str]:
        raw = raw.strip()
        if raw == "auto":
            return suggest_mapping(headers)
        if not raw.startswith(("[", "{")) and Path(raw).is_file():
            raw = Path(raw).read_text(encoding="utf-8")
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise CommandError(_("--mapping must be auto, JSON or a JSON file.")) from exc
        if isinstance(value, dict):
            return [str(value.get(h, "") or "") for h in headers]
        if isinstance(value, list):
            return [str(v or "") for v in value]
        raise CommandError(_("--mapping must be auto, JSON or a JSON file."))

    def _show_mapping(self, batch: ImportBatch, verbosity: int) -> None:
        if verbosity < 1:
            return
        self.stdout.write(_("Columns:"))
        for header, target in zip(batch.headers, batch.mapping, strict=False):
            shown = target_label(target) if target else _("(not imported)")
            self.stdout.write(f"  {header} → {shown}")

    def _summary(self, batch: ImportBatch, dry_run: bool) -> None:
        if dry_run:
            self.stdout.write(_("Dry run: nothing was kept."))
        lines = [
            (_("Rows in the file"), batch.total_rows),
            (_("Persons registered"), batch.created_count + batch.possible_duplicates_count),
            (_("…of which possible duplicates"), batch.possible_duplicates_count),
            (_("Rows already imported (skipped)"), batch.skipped_existing_count),
            (_("Rows with errors (not imported)"), batch.failed_count),
        ]
        width = max(len(str(label)) for label, _n in lines)
        for label, value in lines:
            self.stdout.write(f"{str(label).ljust(width)}  {value:>10,}")
        seconds = batch.timings.get("total", 0.0)
        if seconds and batch.total_rows:
            self.stdout.write(
                _("%(rows)s rows in %(seconds).1f s: %(rate)s rows/s.")
                % {
                    "rows": f"{batch.total_rows:,}",
                    "seconds": seconds,
                    "rate": f"{batch.total_rows / seconds:,.0f}",
                }
            )
        if not dry_run and batch.failed_count:
            self.stdout.write(_("Rows with errors:"))
            shown = ImportRow.objects.filter(batch_id=batch.pk, status=ImportRow.Status.INVALID).order_by(
                "row_number"
            )[:20]
            for row in shown:
                reasons = "; ".join(f"{target_label(k)}: {' '.join(v)}" for k, v in row.errors.items())
                self.stdout.write(f"  {row.row_number}: {reasons}")
            if batch.failed_count > 20:
                self.stdout.write(
                    _("… and %(more)s more: download the error report from the import page.")
                    % {"more": batch.failed_count - 20}
                )
