"""``rumbo messaging_send``: send the due messages of a channel now, in this process (development,
operations, benchmarks). Workers normally do this through tasks.

rumbo messaging_send --channel 3 --seconds 60
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from rumbo.messaging.models import Channel
from rumbo.messaging.services.dispatch import DispatchResult, send_messages


class Command(BaseCommand):
    help = "Send the due messages of one channel (or of all channels) until none is left or time runs out."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel", type=int, action="append", help="Channel id (repeatable; default all)."
        )
        parser.add_argument("--seconds", type=float, default=300, help="Stop after this many seconds.")

    def handle(self, *args: Any, channel: list[int] | None, seconds: float, **options: Any) -> None:
        with scopes_disabled():
            ids = channel or list(Channel.objects.filter(is_active=True).values_list("pk", flat=True))
        deadline = time.monotonic() + seconds
        total = DispatchResult()
        for channel_id in ids:
            total.add(send_messages(channel_id=channel_id, deadline=deadline))
        self.stdout.write(
            _(
                "%(claimed)s claimed, %(sent)s sent, %(retried)s to retry, %(failed)s failed, %(expired)s "
                "expired, %(fallbacks)s fallbacks queued, in %(seconds)s s."
            )
            % total.as_dict()
        )
