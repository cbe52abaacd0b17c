"""``rumbo send_task_reminders``: the daily e-mail of follow-ups due (tomorrow, today, overdue).

Run it once a day, e.g. at 07:00 with cron on the machine that runs Rumbo::

    0 7 * * *  cd /srv/rumbo && .venv/bin/rumbo send_task_reminders

By default it enqueues the ``send_task_reminders`` task on the "default" queue, which ``rumbo worker``
(or ``rumbo serve``) runs; ``--now`` sends in this process instead (no worker needed). Running it more than
once a day is harmless: a task is reminded at most once per day. E-mail goes through Django's e-mail
settings (``EMAIL_HOST`` …).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from rumbo.cases.services.tasks import task_reminders_send
from rumbo.cases.tasks import send_task_reminders


class Command(BaseCommand):
    help = "E-mail each worker the follow-ups due tomorrow, today or overdue (once a day at most per task)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now", action="store_true", help="Send in this process instead of enqueueing the task."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["now"]:
            run = task_reminders_send()
            self.stdout.write(
                _("%(emails)d e-mails sent about %(tasks)d follow-ups; %(failed)d failed.")
                % {"emails": run.emails, "tasks": run.tasks, "failed": run.failed}
            )
            return
        result = send_task_reminders.enqueue()
        self.stdout.write(_("Reminders queued (task %(id)s).") % {"id": result.id})
