"""Messaging: channels per office, templates per language, the durable outbox, inbound replies and receipts.

Every outgoing message is a ``Message`` row before anything is sent (the outbox). Its ``idempotency_key`` is
unique (one message per recipient per campaign step), so queueing twice or retrying never creates a second
message; its ``status`` moves queued → sending → sent → delivered / failed / expired. A worker *claims*
rows by writing its ``lease_owner`` and ``lease_until``; the "sent" update is fenced by that lease (see
``rumbo.messaging.adapters.base`` for the exactly-once rule the adapters follow).

Inbound traffic (replies and delivery receipts) is stored as ``Inbound`` rows, matched to the person and to
the message and campaign they answer.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from rumbo.people.models import OfficeScopedManager


def _webhook_token() -> str:
    return secrets.token_urlsafe(32)


class ChannelKind(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    CONSOLE = "console", _("Console file (development only)")


class Channel(models.Model):
    """A way an office sends messages: an SMTP account, a Kannel gateway, a WhatsApp Business number.

    ``config`` holds the gateway settings (URL, user, password, token) encrypted at rest with the key in
    ``settings.RUMBO_CREDENTIALS_KEYS`` (see ``rumbo.messaging.crypto``); it is never shown back in full.
    """

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="channels"
    )
    kind = models.CharField(_("type"), max_length=10, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=100)
    sender = models.CharField(
        _("sending identity"),
        max_length=200,
        help_text=_(
            "The From address for email, the sender number or name for SMS, the phone number ID for WhatsApp."
        ),
    )
    config_encrypted = models.TextField(editable=False, default="")
    rate_per_second = models.PositiveIntegerField(
        _("rate limit (messages per second)"), default=50, help_text=_("The gateway's contracted throughput.")
    )
    priority = models.PositiveSmallIntegerField(
        _("order"),
        default=10,
        help_text=_("Channels are tried in this order when a person has no preference."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("paused by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Authenticates the gateway's callbacks (replies, receipts): part of the webhook URL given to the gateway.
    webhook_token = models.CharField(max_length=64, unique=True, default=_webhook_token, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["office", "priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["office", "name"], name="messaging_channel_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Template(models.Model):
    """A message with variables (``{{ given_names }}``), written once per language."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="message_templates"
    )
    key = models.SlugField(_("key"), max_length=60, help_text=_("A short name used by plans and campaigns."))
    name = models.CharField(_("name"), max_length=150)
    emergency = models.BooleanField(
        _("emergency message"),
        default=False,
        help_text=_("Emergency messages are sent even to people who opted out of other messages."),
    )
    fallback_language = models.CharField(
        _("fallback language"), max_length=3, default="spa", help_text=_("ISO 639-3 code, e.g. spa, eng.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(fields=["office", "key"], name="messaging_template_key_unique")
        ]

    def __str__(self) -> str:
        return self.name


class TemplateText(models.Model):
    """The text of a template in one language (ISO 639-3)."""

    template = models.ForeignKey(
        Template, verbose_name=_("template"), on_delete=models.CASCADE, related_name="texts"
    )
    language = models.CharField(_("language"), max_length=3)
    subject = models.CharField(_("subject (email)"), max_length=200, blank=True)
    body = models.TextField(_("text"))

    class Meta:
        verbose_name = _("template text")
        verbose_name_plural = _("template texts")
        constraints = [
            models.UniqueConstraint(fields=["template", "language"], name="messaging_templatetext_unique")
        ]

    def __str__(self) -> str:
        return f"{self.template} [{self.language}]"


class Campaign(models.Model):
    """A sending to many people (an "are you safe?" check, an alert, a reminder), in one or more steps."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="campaigns"
    )
    name = models.CharField(_("name"), max_length=200)
    template = models.ForeignKey(
        Template, verbose_name=_("template"), on_delete=models.PROTECT, related_name="campaigns"
    )
    emergency = models.BooleanField(_("emergency"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The preview that was confirmed (its token): confirming the same preview again finds this campaign
    # instead of creating (and sending) a second one.
    idempotency_key = models.CharField(max_length=64, blank=True, editable=False)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["office", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="messaging_campaign_key_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


class FailureReason(models.TextChoices):
    """Why a message failed, as its ``last_error`` starts: a stable code (the English text the services and
    adapters write, also in rows stored already) and the label officers see. The rest of the error, and any
    error not listed here, is the gateway's own text: shown as a technical detail, never translated."""

    OPTED_OUT = "opted out by reply", _("The person replied with a stop word")
    CONSENT_WITHDRAWN = "messages consent withdrawn", _("The person withdrew consent to messages")
    TOO_MANY_ATTEMPTS = "too many attempts", _("Too many failed attempts")
    DELIVERY_FAILED = "delivery failed", _("The gateway reported that it could not deliver the message")
    NOT_A_PHONE = "not a phone number", _("The address is not a phone number")
    EMPTY_TEXT = "empty text", _("The message has no text")
    TEXT_TOO_LONG = "text longer than", _("The text is too long for this channel")
    KANNEL_REFUSED = "Kannel refused the message", _("The SMS gateway refused the message")
    SMTP_REFUSED = "SMTP message refused", _("The email server refused the message")


class Message(models.Model):
    """One outgoing message to one recipient on one channel: the outbox row."""

    # The outbox takes a million rows per campaign, so what each row costs to insert matters:
    # - no single-column indexes on person, channel and campaign: the composite indexes below start with them
    #   and serve every lookup;
    # - no database constraints on office, person, channel and campaign: PostgreSQL checks a foreign key row
    #   by row at commit (locking the parent row each time), a third of its work when queueing (measured: 9.1
    #   → 6.0 CPU seconds per 200,000 messages). The services take these ids from rows they just read; those
    #   rows are never deleted (persons are anonymised, offices and channels deactivated) and PROTECT still
    #   guards deletes made through Django.
    office = models.ForeignKey(
        "offices.Office",
        verbose_name=_("office"),
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    person = models.ForeignKey(
        "people.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    channel = models.ForeignKey(
        Channel,
        verbose_name=_("channel"),
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    # A single message's template (``queue_message``): a repeated idempotency key must name the same one.
    # Campaign messages leave it empty (their campaign says which).
    template = models.ForeignKey(
        Template,
        verbose_name=_("template"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    step = models.PositiveSmallIntegerField(_("campaign step"), default=0)
    # One message per recipient per campaign step (or per purpose for a single message): no double send.
    # Unique through Meta.constraints: unique=True would add a second (LIKE pattern) index on PostgreSQL.
    idempotency_key = models.CharField(_("idempotency key"), max_length=120)
    to = models.CharField(_("to"), max_length=254)
    language = models.CharField(_("language"), max_length=3)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    emergency = models.BooleanField(_("emergency"), default=False)

    status = models.CharField(
        _("status"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    provider_id = models.CharField(_("gateway id"), max_length=120, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The message this one replaces on the next channel after a permanent failure (fallback).
    fallback_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fallbacks",
        editable=False,
        db_index=False,  # a partial index below: only fallbacks are indexed
    )

    queued_at = models.DateTimeField(_("queued"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # What a worker claims: due messages of a channel.
            models.Index(
                fields=["channel", "next_attempt_at"],
                name="messaging_msg_due",
                condition=Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["channel", "status"], name="messaging_msg_channel_status"),
            models.Index(fields=["campaign", "status"], name="messaging_msg_campaign_status"),
            # Partial: a queued message has neither a gateway id nor a sending time yet.
            models.Index(fields=["provider_id"], name="messaging_msg_provider", condition=~Q(provider_id="")),
            models.Index(fields=["person", "queued_at"], name="messaging_msg_person"),
            models.Index(
                fields=["sent_at"], name="messaging_msg_sent_at", condition=Q(sent_at__isnull=False)
            ),
            models.Index(
                fields=["fallback_of"], name="messaging_msg_fallback", condition=Q(fallback_of__isnull=False)
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="messaging_message_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} → {self.to} [{self.status}]"

    def _failure(self) -> tuple[str, str]:
        error = self.last_error.strip()
        for reason in FailureReason:
            if error.startswith(reason.value):
                return str(reason.label), error[len(reason.value) :].lstrip(" :")
        return str(_("Sending failed")), error

    @property
    def failure_label(self) -> str:
        """Why the message failed, translated (see :class:`FailureReason`)."""
        return self._failure()[0]

    @property
    def failure_detail(self) -> str:
        """The gateway's own words about the failure, if any: a technical detail, untranslated."""
        return self._failure()[1]


class InboundKind(models.TextChoices):
    REPLY = "reply", _("Reply")
    RECEIPT = "receipt", _("Delivery receipt")


class Inbound(models.Model):
    """A reply from a person or a delivery receipt from a gateway, as received (raw payload kept)."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    channel = models.ForeignKey(
        Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="inbound"
    )
    kind = models.CharField(_("type"), max_length=10, choices=InboundKind.choices)
    sender = models.CharField(_("from"), max_length=254, blank=True)
    body = models.TextField(_("text"), blank=True)
    provider_id = models.CharField(_("gateway id"), max_length=120, blank=True)
    receipt_status = models.CharField(_("receipt"), max_length=10, blank=True)
    person = models.ForeignKey(
        "people.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inbound_messages",
    )
    message = models.ForeignKey(
        Message,
        verbose_name=_("in answer to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inbound",
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inbound",
    )
    opt_out = models.BooleanField(_("opt-out"), default=False)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    raw = models.JSONField(default=dict, blank=True, editable=False)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "received_at"], name="messaging_in_channel"),
            models.Index(fields=["campaign", "kind"], name="messaging_in_campaign"),
        ]
        constraints = [
            # A gateway that calls the webhook twice for the same event stores it once.
            models.UniqueConstraint(
                fields=["channel", "kind", "provider_id", "receipt_status"],
                condition=~Q(provider_id=""),
                name="messaging_inbound_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.sender}"


class ContactPreference(models.Model):
    """The channel a person asked to be reached on; tried first, before the office's channel order.

    Kept in the messaging app rather than on ``Person``: the people bulk writers insert persons with explicit
    column lists. ``office`` is the person's office, repeated so the scope filter needs no join.
    """

    person = models.OneToOneField(
        "people.Person",
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="contact_preference",
    )
    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    channel_kind = models.CharField(_("preferred channel"), max_length=10, choices=ChannelKind.choices)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("contact preference")
        verbose_name_plural = _("contact preferences")

    def __str__(self) -> str:
        return f"{self.person_id}: {self.channel_kind}"


class InboundPending(models.Model):
    """The events of one webhook call, stored as received and not yet applied (deferred ingest).

    With ``RUMBO_MESSAGING_DEFERRED_INGEST`` the webhook authenticates and parses the call, writes this one
    row and answers at once; a worker applies the stored events in batches (``services.inbound.
    ingest_pending``: matched, stored as ``Inbound`` and the row deleted, in one transaction), so a burst of
    replies costs the web tier one insert each. No foreign key is checked by the database: the row lives
    seconds, and its channel is read again when it is applied. A call that cannot be applied stays, with
    ``failed_at`` and ``error`` set, and is skipped by later drains.
    """

    channel = models.ForeignKey(
        Channel, verbose_name=_("channel"), on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    events = models.JSONField(_("events"))
    received_at = models.DateTimeField(_("received"))
    # Set when applying the call failed (a value the database refused …): the call is kept for inspection,
    # out of the way of the others, instead of failing every drain.
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("inbound call waiting")
        verbose_name_plural = _("inbound calls waiting")

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.pk}"
