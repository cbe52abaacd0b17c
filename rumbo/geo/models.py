"""Administrative areas (states, departments, municipalities) loaded from shipped reference data."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AdminArea(models.Model):
    """One administrative unit of a country: level 1 (state, department) or level 2 (municipality).

    ``code`` is the national statistical code (INEGI CVEGEO for Mexico, INE for Honduras and Guatemala,
    FIPS for US states; the ISO 3166-2 suffix where no national code was found).
    Provenance: geo/data/SOURCES.md.
    """

    class Level(models.IntegerChoices):
        STATE = 1, _("State / department")
        MUNICIPALITY = 2, _("Municipality")

    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code."))
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    code = models.CharField(_("code"), max_length=10)
    iso_3166_2 = models.CharField(_("ISO 3166-2 code"), max_length=10, blank=True)
    name = models.CharField(_("name"), max_length=150)
    name_folded = models.CharField(max_length=150, editable=False, db_index=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent area"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    population = models.PositiveIntegerField(_("population (2020)"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("administrative area")
        verbose_name_plural = _("administrative areas")
        ordering = ["country", "level", "name"]
        constraints = [
            models.UniqueConstraint(fields=["country", "level", "code"], name="geo_area_unique_code"),
        ]
        indexes = [models.Index(fields=["country", "level", "name_folded"], name="geo_area_lookup")]

    def __str__(self) -> str:
        if self.level == self.Level.MUNICIPALITY and self.parent is not None:
            return f"{self.name}, {self.parent.name}"
        return self.name

    @property
    def label(self) -> str:
        """Name with its state/department and country, for pickers."""
        return f"{self} ({self.country})"
