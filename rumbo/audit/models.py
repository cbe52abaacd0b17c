"""The append-only audit trail: who did what to which record, from where, when."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    """Every kind of audited event. New domains add theirs here, so the trail has one vocabulary."""

    PERSON_CREATE = "person.create", _("Person registered")
    PERSON_UPDATE = "person.update", _("Person updated")
    PERSON_VIEW = "person.view", _("Person record viewed")
    PERSON_SEARCH = "person.search", _("Person search")
    PERSON_EXPORT = "person.export", _("Persons exported")
    PERSON_ANONYMISE = "person.anonymise", _("Person anonymised")
    PERSON_API_READ = "person.api_read", _("Person read through the API")
    DOCUMENT_ADD = "document.add", _("Document added")
    DOCUMENT_REMOVE = "document.remove", _("Document removed")
    CONSENT_RECORD = "consent.record", _("Consent recorded")
    AUDIT_VIEW = "audit.view", _("Audit trail viewed")
    LOGIN = "auth.login", _("Logged in")
    LOGIN_FAILED = "auth.login_failed", _("Failed login")
    LOCKOUT = "auth.lockout", _("Account locked out")
    LOGOUT = "auth.logout", _("Logged out")
    TWO_FACTOR_ENROL = "auth.2fa_enrol", _("Two-factor authentication enrolled")
    TWO_FACTOR_VERIFY = "auth.2fa_verify", _("Two-factor code verified")
    TOKEN_CREATE = "auth.token_create", _("API token created")
    TOKEN_REVOKE = "auth.token_revoke", _("API token revoked")
    TWO_FACTOR_DISABLE = "auth.2fa_disable", _("Two-factor authentication disabled")
    TWO_FACTOR_BACKUP_CODES = "auth.2fa_backup_codes", _("Two-factor backup codes generated")
    PASSWORD_CHANGE = "auth.password_change", _("Password changed")
    ADMIN_CREATE = "auth.admin_create", _("Platform administrator created")
    OFFICE_CREATE = "office.create", _("Office created")
    OFFICE_UPDATE = "office.update", _("Office updated")
    MEMBERSHIP_GRANT = "membership.grant", _("Role granted")
    MEMBERSHIP_REVOKE = "membership.revoke", _("Role revoked")
    DEMO_GENERATE = "demo.generate", _("Demo data generated")
    PERSON_MERGE = "person.merge", _("Persons merged")
    PERSON_UNMERGE = "person.unmerge", _("Merge undone")
    PERSON_IMPORT = "person.import", _("Persons imported")
    IMPORT_REPORT_DOWNLOAD = "import.report_download", _("Import error report downloaded")
    DEDUPE_RUN = "matching.dedupe_run", _("Duplicate detection run")
    DUPLICATE_DECIDE = "matching.decide", _("Possible duplicate decided")
    DUPLICATE_COMPARE = "matching.compare", _("Possible duplicates compared")
    MATCH_ACCESS_REQUEST = "matching.access_request", _("Access or transfer requested for a possible match")
    MATCH_ACCESS_DECIDE = "matching.access_decide", _("Request about a possible match answered")
    MATCHING_SETTINGS = "matching.settings", _("Matching thresholds changed")
    CHANNEL_CREATE = "messaging.channel_create", _("Messaging channel created")
    CHANNEL_UPDATE = "messaging.channel_update", _("Messaging channel changed")
    CHANNEL_PAUSE = "messaging.channel_pause", _("Messaging channel paused")
    CHANNEL_RESUME = "messaging.channel_resume", _("Messaging channel resumed")
    TEMPLATE_SAVE = "messaging.template_save", _("Message template saved")
    CAMPAIGN_CREATE = "messaging.campaign_create", _("Campaign created")
    MESSAGES_QUEUE = "messaging.queue", _("Messages queued")
    MESSAGES_VIEW = "messaging.view", _("Messages or replies viewed")
    OPT_OUT = "messaging.opt_out", _("Opt-out received")
    RETURN_RECORD = "cases.return_record", _("Return recorded")
    ARRIVAL_RECORD = "cases.arrival_record", _("Arrival recorded")
    CASE_OPEN = "cases.open", _("Case opened")
    CASE_UPDATE = "cases.update", _("Case updated")
    CASE_VIEW = "cases.view", _("Case viewed")
    CASE_STATUS = "cases.status", _("Case status changed")
    CASE_NOTE = "cases.note", _("Case note written")
    CASE_EXPORT = "cases.export", _("Cases exported")
    CASE_API_READ = "cases.api_read", _("Case read through the API")
    ATTACHMENT_ADD = "cases.attachment_add", _("Attachment added")
    ATTACHMENT_DOWNLOAD = "cases.attachment_download", _("Attachment downloaded")
    REFERRAL_SEND = "cases.referral_send", _("Referral sent")
    REFERRAL_UPDATE = "cases.referral_update", _("Referral updated")
    REFERRAL_CONSENT_OVERRIDE = "cases.referral_consent_override", _("Referral sent without consent")
    REFERRAL_LETTER = "cases.referral_letter", _("Referral letter printed")
    PROCEDURE_UPDATE = "cases.procedure_update", _("Procedure updated")
    TASK_UPDATE = "cases.task_update", _("Follow-up task updated")
    CASE_TRANSFER_REQUEST = "cases.transfer_request", _("Case transfer requested")
    CASE_TRANSFER_DECIDE = "cases.transfer_decide", _("Case transfer answered")
    DIRECTORY_CHANGE = "cases.directory_change", _("Service directory changed")


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise PermissionError("Audit events are append-only.")

    def delete(self) -> NoReturn:
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One audited action. Rows are only ever inserted: the model, its queryset and database triggers refuse
    updates and deletes (see migration 0002).

    ``actor`` and ``office`` are references without database constraints and with ``DO_NOTHING``: deleting a
    user or an office must neither cascade into the trail nor try to null the reference (an UPDATE that the
    triggers refuse). ``actor_label`` keeps the username as it was.
    """

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,  # audit_actor_idx (actor, at) serves every lookup by actor
    )
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)
    office = models.ForeignKey(
        "offices.Office",
        verbose_name=_("office"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,  # audit_office_idx (office, at) serves every lookup by office
    )
    # No ``choices`` on the column: the vocabulary grows with every domain, and a label change must not need
    # a migration of the audit table. ``get_action_display`` reads the label from ``Action``.
    action = models.CharField(_("action"), max_length=40)  # indexed by audit_action_idx (action, at)
    object_type = models.CharField(_("object type"), max_length=60, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"], name="audit_object_idx"),
            models.Index(fields=["office", "at"], name="audit_office_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
            # Not ``db_index`` on the column: on PostgreSQL that adds a second, pattern-matching index that no
            # query uses. Every import writes an event per person: each index costs at that scale.
            models.Index(fields=["action", "at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("Audit events are append-only.")

    def get_action_display(self) -> str:
        try:
            return str(Action(self.action).label)
        except ValueError:
            return self.action
