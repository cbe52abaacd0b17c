from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "rumbo.audit"
    label = "audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from rumbo.audit.receivers import check_triggers_after_migrate

        post_migrate.connect(check_triggers_after_migrate, sender=self, dispatch_uid="audit_triggers_check")
