"""``rumbo dedupe``: batch duplicate detection with Splink over a network's registry or one import batch.

rumbo dedupe                         every network (each root office and everything below it)
rumbo dedupe --network ofam-mich     the network of that office
rumbo dedupe --persons 12,15,99      only pairs involving these persons (e.g. an import batch)
rumbo dedupe --backend spark         Splink's Spark backend (needs pyspark), for registries beyond one machine
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from tqdm import tqdm

from rumbo.accounts.models import User
from rumbo.matching.dedupe import dedupe_run
from rumbo.offices.models import Office


class Command(BaseCommand):
    help = "Find possible duplicate persons with Splink and put them in the adjudication queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--network", help="Code or id of an office: its whole network is deduplicated.")
        parser.add_argument("--persons", help="Comma-separated person ids: only pairs involving them.")
        parser.add_argument("--import-batch", type=int, default=None, help="Import batch id (its persons).")
        parser.add_argument("--backend", choices=["duckdb", "spark"], default="duckdb")
        parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores).")
        parser.add_argument("--as", dest="username", default=None, help="User recorded as running it.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        with scopes_disabled():
            actor = None
            if options["username"]:
                actor = User.objects.filter(username=options["username"]).first()
                if actor is None:
                    raise CommandError(_("No user %(name)s.") % {"name": options["username"]})
            if options["network"]:
                value = options["network"]
                office = Office.objects.filter(code=value).first() or (
                    Office.objects.filter(pk=int(value)).first() if value.isdigit() else None
                )
                if office is None:
                    raise CommandError(_("No office %(office)s.") % {"office": value})
                networks = [office]
            else:
                networks = list(Office.objects.filter(parent__isnull=True).order_by("pk"))
            person_ids = None
            if options["persons"]:
                try:
                    person_ids = {int(p) for p in options["persons"].split(",") if p.strip()}
                except ValueError as exc:
                    raise CommandError(_("--persons takes person ids separated by commas.")) from exc
            if options["import_batch"] is not None:
                person_ids = (person_ids or set()) | _import_batch_persons(options["import_batch"])
            for network in networks:
                self._run(network, actor, person_ids, options)

    def _run(self, network: Office, actor: Any, person_ids: set[int] | None, options: dict[str, Any]) -> None:
        quiet = options["no_progress"] or options["verbosity"] == 0
        bars: dict[str, tqdm[Any]] = {}
        names = {
            "load": _("reading profiles"),
            "predict": _("comparing (Splink)"),
            "store": _("writing pairs"),
        }

        def progress(phase: str, done: int, total: int) -> None:
            if quiet:
                return
            bar = bars.get(phase)
            if bar is None:
                bar = bars[phase] = tqdm(total=total, desc=names.get(phase, phase), unit_scale=True)
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            run = dedupe_run(
                actor=actor,
                network=network,
                person_ids=person_ids,
                import_batch_id=options["import_batch"],
                backend=options["backend"],
                threads=options["threads"],
                progress=progress,
            )
        finally:
            for bar in bars.values():
                bar.close()
        self.stdout.write(
            _(
                "%(network)s: %(persons)s persons, %(comparisons)s pairs compared, %(pairs)s possible "
                "duplicates in %(clusters)s clusters, %(seconds).1f s."
            )
            % {
                "network": run.network,
                "persons": f"{run.persons:,}",
                "comparisons": f"{run.comparisons:,}",
                "pairs": f"{run.pairs_found:,}",
                "clusters": f"{run.clusters:,}",
                "seconds": run.seconds,
            }
        )


def _import_batch_persons(batch_id: int) -> set[int]:
    from django.apps import apps

    if not apps.is_installed("rumbo.imports"):
        raise CommandError(_("Imports are not installed."))
    row_model = apps.get_model("imports", "ImportRow")
    ids = set(
        row_model._base_manager.filter(batch_id=batch_id, person__isnull=False).values_list(
            "person_id", flat=True
        )
    )
    if not ids:
        raise CommandError(_("Import batch %(id)s created no persons.") % {"id": batch_id})
    return ids
