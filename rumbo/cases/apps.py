from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "rumbo.cases"
    label = "cases"
    verbose_name = _("Orientation cases")

    def anonymise_person(self, person: Any) -> dict[str, int]:
        """Called by ``people.services.person_anonymise`` in its transaction: the cases the person holds lose
        their free text (notes, summaries, reasons, outcomes, snapshots) and their attachments (files removed
        once it commits); the person's returns and arrivals lose their notes and certificate numbers.
        Statuses, dates and needs stay for statistics; cases where the person is only a member keep theirs.
        """
        from rumbo.cases.services.anonymise import case_data_anonymise

        return case_data_anonymise(person=person)
