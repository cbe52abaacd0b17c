from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "rumbo.messaging"
    verbose_name = _("Messaging")

    def before_anonymise_person(self, person: Any) -> None:
        """Called by ``people.services.person_anonymise`` in its transaction while the person's phones and
        email are still there: webhook calls stored but not applied yet (deferred ingest, normally under a
        second's worth) are applied, so a reply of the person that has just arrived is matched to them and
        then cleared by :meth:`anonymise_person` with the others."""
        from rumbo.messaging.services.inbound import ingest_pending

        ingest_pending()

    def anonymise_person(self, person: Any) -> dict[str, int]:
        """Called by ``people.services.person_anonymise`` in its transaction: messages to the person and their
        replies lose address and text (counts and statuses stay for statistics); unsent ones expire."""
        from django.db.models import Q

        from rumbo.messaging.models import Inbound, Message, MessageStatus

        messages = Message._base_manager.filter(person=person)
        messages.filter(status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]).update(
            status=MessageStatus.EXPIRED, lease_owner="", lease_until=None
        )
        cleared = messages.filter(~Q(to="") | ~Q(body="")).update(to="", subject="", body="", last_error="")
        replies = Inbound._base_manager.filter(person=person).update(sender="", body="", raw={})
        return {"messages": cleared, "replies": replies}
