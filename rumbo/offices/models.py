"""Offices of the network (OFAM, CONOFAM, consulates, ministries, programmes, partners) and who works
in them."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not a known time zone."), params={"value": value})


class Office(models.Model):
    """An office that owns records. Offices form a tree: CONOFAM above the state OFAMs, a foreign ministry
    above its consulates. ``jurisdiction`` lists the areas it serves (for a consulate: its consular
    district)."""

    class Kind(models.TextChoices):
        OFAM = "ofam", _("State migrant-assistance office (OFAM)")
        CONOFAM = "conofam", _("National coordination (CONOFAM)")
        CONSULATE = "consulate", _("Consulate")
        MINISTRY = "ministry", _("Foreign ministry")
        IOM_PROGRAMME = "iom", _("IOM programme")
        PARTNER = "partner", _("Partner organisation")

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(
        _("code"), max_length=50, unique=True, help_text=_("Short unique code, e.g. ofam-mich.")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent office"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    country = models.CharField(_("country"), max_length=2, default="MX", help_text=_("Where the office is."))
    represents_country = models.CharField(
        _("country represented"),
        max_length=2,
        blank=True,
        help_text=_("For a consulate or ministry: the country whose nationals it protects."),
    )
    location = models.ForeignKey(
        "geo.AdminArea",
        verbose_name=_("location"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    jurisdiction = models.ManyToManyField(
        "geo.AdminArea",
        verbose_name=_("jurisdiction"),
        blank=True,
        related_name="serving_offices",
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="America/Mexico_City", validators=[validate_timezone]
    )
    require_two_factor = models.BooleanField(
        _("require two-factor authentication for everyone"),
        default=False,
        help_text=_("Administrators always need it; this extends it to every member."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("office")
        verbose_name_plural = _("offices")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OFFICE_ADMIN = "office_admin", _("Office administrator")
    CASEWORKER = "caseworker", _("Caseworker")
    LABOUR_OFFICER = "labour_officer", _("Labour officer")
    CONSULAR_OFFICER = "consular_officer", _("Consular officer")
    COORDINATOR = "coordinator", _("Coordinator")
    AUDITOR = "auditor", _("Auditor")
    TRAINER = "trainer", _("Trainer")


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self) -> MembershipQuerySet:
        now = timezone.now()
        return self.filter(office__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class Membership(models.Model):
    """A user's role in an office, optionally until a date. Permissions follow from roles (permissions.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="memberships"
    )
    office = models.ForeignKey(
        Office, verbose_name=_("office"), on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "office", "role"], name="offices_membership_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} — {self.office}"

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()
