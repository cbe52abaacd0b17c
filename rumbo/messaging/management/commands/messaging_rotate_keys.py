"""``rumbo messaging_rotate_keys``: re-encrypt every channel's credentials with the first configured key.

Rotation: put the new key first in RUMBO_CREDENTIALS_KEYS (keep the old one after it), run this command, then
remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import ngettext
from django_scopes import scopes_disabled

from rumbo.messaging.crypto import reencrypt
from rumbo.messaging.models import Channel


class Command(BaseCommand):
    help = (
        "Re-encrypt the credentials of every messaging channel with the first key of RUMBO_CREDENTIALS_KEYS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with scopes_disabled(), transaction.atomic():
            for channel in Channel.objects.select_for_update().exclude(config_encrypted=""):
                channel.config_encrypted = reencrypt(channel.config_encrypted)
                channel.save(update_fields=["config_encrypted"])
                count += 1
        self.stdout.write(
            ngettext("%(count)d channel re-encrypted.", "%(count)d channels re-encrypted.", count)
            % {"count": count}
        )
