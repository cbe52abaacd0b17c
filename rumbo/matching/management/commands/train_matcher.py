"""``rumbo train_matcher``: train the person model with Splink and save it as Splink model JSON.

rumbo train_matcher --synthetic 20000 --out rumbo/matching/data/person_model.json   the bundled model
rumbo train_matcher --network ofam-mich --out /srv/rumbo/person_model.json         from a registry + labels

Trained from a registry, the model learns u from random pairs of that registry, m by expectation
maximisation, and then m again from the adjudication decisions ("same" pairs) when there are any. Point
``RUMBO_MATCH_MODEL`` at the file to use it for intake and batch alike.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from rumbo.matching import splink_model
from rumbo.matching.dedupe import _profiles
from rumbo.matching.features import features_from_values
from rumbo.matching.models import DuplicatePair
from rumbo.matching.selectors import network_office_ids
from rumbo.offices.models import Office


class Command(BaseCommand):
    help = "Train the duplicate-detection model with Splink."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--synthetic", type=int, metavar="N", help="N synthetic entities (see synthetic.py)."
        )
        source.add_argument("--network", help="Code or id of an office: train on its network's registry.")
        parser.add_argument("--seed", type=int, default=11)
        parser.add_argument("--out", required=True, help="Where to write the model JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        import pandas as pd

        with scopes_disabled():
            if options["synthetic"]:
                from rumbo.matching.synthetic import generate, true_pairs

                records = list(generate(options["synthetic"], seed=options["seed"]))
                df = splink_model.frame(((r.unique_id, r.features()) for r in records), with_keys=False)
                labels = pd.DataFrame(
                    [(a, b, 1.0) for a, b in sorted(true_pairs(records))],
                    columns=["unique_id_l", "unique_id_r", "clerical_match_score"],
                )
            else:
                value = options["network"]
                office = Office.objects.filter(code=value).first() or (
                    Office.objects.filter(pk=int(value)).first() if value.isdigit() else None
                )
                if office is None:
                    raise CommandError(_("No office %(office)s.") % {"office": value})
                offices = network_office_ids([office.pk])
                df = splink_model.frame(
                    ((pid, features_from_values(*v)) for pid, _o, v in _profiles(offices, None)),
                    with_keys=False,
                )
                if len(df) < 1000:
                    raise CommandError(_("Too few persons to train a model (at least 1,000)."))
                decided = DuplicatePair.objects.filter(
                    office_a_id__in=offices,
                    office_b_id__in=offices,
                    decision__in=[DuplicatePair.Decision.SAME, DuplicatePair.Decision.DIFFERENT],
                ).values_list("person_a_id", "person_b_id", "decision")
                labels = pd.DataFrame(
                    [(a, b, 1.0 if d == DuplicatePair.Decision.SAME else 0.0) for a, b, d in decided],
                    columns=["unique_id_l", "unique_id_r", "clerical_match_score"],
                )
                present = set(df["unique_id"])
                labels = labels[labels["unique_id_l"].isin(present) & labels["unique_id_r"].isin(present)]
            model = splink_model.train(df, labels=labels if len(labels) else None)
            splink_model.save(model, options["out"])
            self.stdout.write(
                _("Model trained on %(persons)s records and %(labels)s labelled pairs: %(out)s")
                % {"persons": f"{len(df):,}", "labels": f"{len(labels):,}", "out": options["out"]}
            )
