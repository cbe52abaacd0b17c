"""``rumbo messaging_sweep``: re-enqueue what a killed worker or a lost task left behind.

rumbo messaging_sweep             # once
rumbo messaging_sweep --every 30  # forever, every 30 seconds (``rumbo worker`` does this by itself)
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django.utils.translation import gettext as _

from rumbo.messaging.tasks import sweep


class Command(BaseCommand):
    help = "Expire outdated messages and enqueue sending for channels whose messages nobody is working on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="Repeat every N seconds (0: once).")
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="Seconds a due message may wait before it counts as stalled.",
        )

    def handle(self, *args: Any, every: float, grace: int | None, **options: Any) -> None:
        while True:
            outcome = sweep(grace_seconds=grace)
            self.stdout.write(
                _("%(expired)s messages expired; sending enqueued for channels %(drains)s.")
                % {"expired": outcome["expired"], "drains": outcome["drains"] or "—"}
            )
            if every <= 0:
                return
            close_old_connections()
            time.sleep(every)
