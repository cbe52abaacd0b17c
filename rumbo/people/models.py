"""The person registry: who a person is, how to reach them, their documents, household and consent.

Every person belongs to one office (``office``); queries go through django-scopes managers, so a query
outside an office scope raises instead of leaking another office's people.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

# django-scopes builds its manager classes inside a function; named module-level subclasses let Django's
# migrations and django-stubs' mypy plugin resolve them.
_OfficeScoped: Any = type(ScopedManager(office="office"))
_PersonScoped: Any = type(ScopedManager(office="person__office"))


class OfficeScopedManager(_OfficeScoped):
    """Default manager of models with an ``office`` field: queries need an active office scope."""


class PersonScopedManager(_PersonScoped):
    """Default manager of a person's child rows: scoped through the person's office."""


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "X", _("Other / non-binary")
    UNKNOWN = "U", _("Not recorded")


class DatePrecision(models.TextChoices):
    """How much of a birth date is known. The stored date keeps the known parts; unknown parts are 1."""

    EXACT = "day", _("Exact date")
    MONTH = "month", _("Month and year")
    YEAR = "year", _("Year only")
    ESTIMATED = "estimated", _("Estimated from age")


class Person(models.Model):
    """A migrant, returnee or national registered by an office. "Deleting" anonymises (see services)."""

    # No index of its own: people_person_office_name starts with it.
    office = models.ForeignKey(
        "offices.Office",
        verbose_name=_("office"),
        on_delete=models.PROTECT,
        related_name="persons",
        db_index=False,
    )
    given_names = models.CharField(_("given names"), max_length=100)
    first_surname = models.CharField(_("first surname"), max_length=100)
    second_surname = models.CharField(_("second surname"), max_length=100, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    birth_date_precision = models.CharField(
        _("precision of the date of birth"),
        max_length=10,
        choices=DatePrecision.choices,
        default=DatePrecision.EXACT,
    )
    birth_country = models.CharField(_("country of birth"), max_length=2, blank=True)
    birth_place = models.ForeignKey(
        "geo.AdminArea",
        verbose_name=_("place of birth"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    email = models.EmailField(_("email"), blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=3, blank=True, help_text=_("ISO 639-3 code, e.g. spa, eng, tzo.")
    )
    created_at = models.DateTimeField(_("registered"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("registered by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
    )

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        indexes = [
            models.Index(
                fields=["office", "first_surname", "second_surname"], name="people_person_office_name"
            ),
            models.Index(fields=["birth_date"], name="people_person_birth"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def surnames(self) -> str:
        return " ".join(s for s in (self.first_surname, self.second_surname) if s)

    @property
    def full_name(self) -> str:
        return " ".join(s for s in (self.given_names, self.first_surname, self.second_surname) if s)

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None


class PersonChild(models.Model):
    """Base for rows that belong to a person: scoped through the person's office."""

    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE)

    objects = PersonScopedManager()

    class Meta:
        abstract = True


class Alias(PersonChild):
    """Another name the person is or was known by (US paperwork, nicknames, previous surnames)."""

    given_names = models.CharField(_("given names"), max_length=100, blank=True)
    surnames = models.CharField(_("surnames"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")
        default_related_name = "aliases"

    def __str__(self) -> str:
        return f"{self.given_names} {self.surnames}".strip()


class Nationality(PersonChild):
    """One nationality (ISO 3166-1 alpha-2)."""

    # No index of its own: the unique (person, country) index serves every lookup by person.
    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, db_index=False)
    country = models.CharField(_("country"), max_length=2)

    class Meta:
        verbose_name = _("nationality")
        verbose_name_plural = _("nationalities")
        default_related_name = "nationalities"
        constraints = [
            models.UniqueConstraint(fields=["person", "country"], name="people_nationality_unique")
        ]
        indexes = [models.Index(fields=["country"], name="people_nationality_country")]

    def __str__(self) -> str:
        return self.country


class Language(PersonChild):
    """A language the person speaks (ISO 639-3, Indigenous languages included)."""

    # No index of its own: the unique (person, code) index serves every lookup by person.
    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, db_index=False)
    code = models.CharField(_("language"), max_length=3)

    class Meta:
        verbose_name = _("language")
        verbose_name_plural = _("languages")
        default_related_name = "languages"
        constraints = [models.UniqueConstraint(fields=["person", "code"], name="people_language_unique")]

    def __str__(self) -> str:
        return self.code


class DocumentKind(models.TextChoices):
    CURP = "curp", _("CURP")
    PASSPORT = "passport", _("Passport")
    MATRICULA = "matricula", _("Matrícula consular")
    INM_CONSTANCIA = "inm_constancia", _("INM repatriation certificate (constancia de repatriación)")
    HN_DNI = "hn_dni", _("Honduran national identity document (DNI)")
    OTHER = "other", _("Other")


class Document(PersonChild):
    """An identity document. ``flags`` lists checks that disagree with the person (CURP vs birth date…)."""

    kind = models.CharField(_("document type"), max_length=20, choices=DocumentKind.choices)
    number = models.CharField(_("number"), max_length=40)
    number_normalized = models.CharField(max_length=40, editable=False)  # indexed: people_document_number
    issuing_country = models.CharField(_("issuing country"), max_length=2, blank=True)
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    flags = models.JSONField(_("inconsistencies"), default=list, blank=True)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        default_related_name = "documents"
        # A plain index (``db_index`` would add a pattern-matching one on PostgreSQL that no query uses).
        indexes = [models.Index(fields=["number_normalized"], name="people_document_number")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}"


class Phone(PersonChild):
    """A phone number in E.164 form."""

    class Kind(models.TextChoices):
        MOBILE = "mobile", _("Mobile")
        LANDLINE = "landline", _("Landline")
        OTHER = "other", _("Other")

    e164 = models.CharField(_("phone number"), max_length=20)  # indexed: people_phone_e164
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.MOBILE)
    whatsapp = models.BooleanField(_("uses WhatsApp"), default=False)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        default_related_name = "phones"
        # A plain index (``db_index`` would add a pattern-matching one on PostgreSQL that no query uses).
        indexes = [models.Index(fields=["e164"], name="people_phone_e164")]

    def __str__(self) -> str:
        return self.e164


class Address(PersonChild):
    """Where the person lives or lived."""

    country = models.CharField(_("country"), max_length=2, default="MX")
    admin_area = models.ForeignKey(
        "geo.AdminArea",
        verbose_name=_("municipality or state"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    text = models.CharField(_("address"), max_length=300, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    is_current = models.BooleanField(_("current"), default=True)
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        default_related_name = "addresses"

    def __str__(self) -> str:
        return ", ".join(str(p) for p in (self.text, self.admin_area) if p)


class Relation(models.TextChoices):
    SPOUSE = "spouse", _("Spouse or partner")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    SIBLING = "sibling", _("Sibling")
    GRANDPARENT = "grandparent", _("Grandparent")
    GRANDCHILD = "grandchild", _("Grandchild")
    GUARDIAN = "guardian", _("Legal guardian")
    WARD = "ward", _("Under guardianship")
    OTHER = "other", _("Other relative")


INVERSE_RELATION: dict[str, str] = {
    Relation.SPOUSE: Relation.SPOUSE,
    Relation.CHILD: Relation.PARENT,
    Relation.PARENT: Relation.CHILD,
    Relation.SIBLING: Relation.SIBLING,
    Relation.GRANDPARENT: Relation.GRANDCHILD,
    Relation.GRANDCHILD: Relation.GRANDPARENT,
    Relation.GUARDIAN: Relation.WARD,
    Relation.WARD: Relation.GUARDIAN,
    Relation.OTHER: Relation.OTHER,
}


class HouseholdRelation(PersonChild):
    """``person`` is the ``relation`` of ``relative`` (stored in both directions by the service)."""

    relative = models.ForeignKey(
        Person, verbose_name=_("relative"), on_delete=models.CASCADE, related_name="relatives_of"
    )
    relation = models.CharField(_("relation"), max_length=20, choices=Relation.choices)

    class Meta:
        verbose_name = _("household relation")
        verbose_name_plural = _("household relations")
        default_related_name = "relations"
        constraints = [
            models.UniqueConstraint(fields=["person", "relative"], name="people_relation_unique"),
            models.CheckConstraint(
                condition=~models.Q(person=models.F("relative")), name="people_relation_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.relation} {self.relative_id}"


class Vulnerability(models.TextChoices):
    CHILD = "child", _("Child")
    UNACCOMPANIED_CHILD = "unaccompanied_child", _("Unaccompanied or separated child")
    ELDERLY = "elderly", _("Older person")
    DISABILITY = "disability", _("Disability")
    MEDICAL = "medical", _("Serious medical condition")
    PREGNANT = "pregnant", _("Pregnant or breastfeeding")
    VIOLENCE = "violence", _("Survivor of violence")
    TRAFFICKING = "trafficking", _("Victim of trafficking")
    ASYLUM = "asylum", _("Asylum seeker or refugee")
    DETAINED = "detained", _("Detained")
    INDIGENOUS = "indigenous", _("Indigenous person")
    LGBTIQ = "lgbtiq", _("LGBTIQ+ person at risk")
    SINGLE_PARENT = "single_parent", _("Single parent")


class VulnerabilityFlag(PersonChild):
    """A vulnerability recorded for the person, with when and by whom."""

    flag = models.CharField(_("vulnerability"), max_length=30, choices=Vulnerability.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("vulnerability")
        verbose_name_plural = _("vulnerabilities")
        default_related_name = "vulnerabilities"
        constraints = [models.UniqueConstraint(fields=["person", "flag"], name="people_vulnerability_unique")]

    def __str__(self) -> str:
        return self.get_flag_display()


class ConsentPurpose(models.TextChoices):
    REGISTRY = "registry", _("Keep my data in the registry")
    REFERRAL = "referral", _("Share my data with institutions I am referred to")
    MESSAGES = "messages", _("Send me messages and alerts")
    EMERGENCY = "emergency", _("Contact me or my family in an emergency")
    DATA_SHARING = "data_sharing", _("Share my data with another office")


class ConsentRecord(PersonChild):
    """Consent as data: what was agreed or withdrawn, when, by whom, against which exact text.

    Rows are never edited: a withdrawal is a new row; the latest row per purpose is the current state.
    """

    class Status(models.TextChoices):
        GIVEN = "given", _("Given")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Method(models.TextChoices):
        WRITTEN = "written", _("Signed form")
        VERBAL = "verbal", _("Verbal, recorded by staff")
        ONLINE = "online", _("Online, by the person")
        PROXY = "proxy", _("By a guardian or proxy")

    purpose = models.CharField(_("purpose"), max_length=20, choices=ConsentPurpose.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    method = models.CharField(_("how"), max_length=10, choices=Method.choices, default=Method.VERBAL)
    given_by = models.CharField(_("given by"), max_length=200, blank=True, help_text=_("If not the person."))
    text_version = models.CharField(_("text version"), max_length=40, blank=True)
    text_sha256 = models.CharField(_("hash of the text shown"), max_length=64)
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        default_related_name = "consents"
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()}: {self.get_status_display()}"


class SearchTokenField(models.CharField):
    """A folded search token, compared byte by byte on every database.

    On PostgreSQL the column uses the "C" collation whatever the database locale, so one plain B-tree index
    serves both prefix ranges (``token >= 'hern' AND token < 'hero'``) and ``ORDER BY token``: search can
    then stream matches in index order and stop at the first page (see ``selectors.person_search``).
    SQLite compares text bytewise (BINARY) already.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params


class SearchToken(models.Model):
    """Folded words of a person's names, document numbers and phone digits, for indexed prefix search.

    One row per (person, token). Maintained by ``people.search.reindex_person`` inside every write service.
    ``office`` is denormalised so the scope filter needs no join.
    """

    class Kind(models.TextChoices):
        NAME = "n", _("Name")
        DOCUMENT = "d", _("Document")
        PHONE = "p", _("Phone")

    # No separate foreign-key indexes: people_token_person (person, token) serves every lookup by person, and
    # nothing looks tokens up by office alone; at millions of rows each extra index costs space and load time.
    # A derived index, rebuilt from the person: no database-level foreign keys either (Django still cascades a
    # deletion); with them, PostgreSQL checked ~6 tokens per person at each commit of an import.
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="search_tokens", db_index=False, db_constraint=False
    )
    office = models.ForeignKey(
        "offices.Office", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    token = SearchTokenField(max_length=40)
    kind = models.CharField(max_length=1, choices=Kind.choices)
    # A 62-bit Bloom filter of the first 3 and 4 characters of ALL the person's tokens (the same on each of
    # the person's rows; ``search.token_signature``). Search rejects most candidates that lack another query
    # word from the index entry alone, before probing. 0 means "not computed" and never rejects.
    sig = models.BigIntegerField(default=0)

    objects = OfficeScopedManager()

    class Meta:
        indexes = [
            # Prefix ranges on token, in (token, office, person) order: the order search results stream in.
            models.Index(fields=["token", "office", "person", "sig"], name="people_token_prefix"),
            models.Index(fields=["person", "token"], name="people_token_person"),
        ]

    def __str__(self) -> str:
        return self.token


_MergeScoped: Any = type(ScopedManager(office="survivor__office"))


class PersonMergeScopedManager(_MergeScoped):
    """Default manager of merges: scoped through the surviving person's office."""


class PersonMerge(models.Model):
    """One merge of a duplicate record (``merged``) into another (``survivor``), with what undoing it needs.

    The merged person stays as a tombstone (``merged_into``) with its own fields untouched. This row records
    the survivor's fields before the merge, which rows of other tables were moved from the merged person to
    the survivor (``moved``: ``{"app_label.model.fk_field": [ids]}``) and which were deleted because the
    survivor already had the same unique row (``dropped``: every field value, so an unmerge recreates them).
    Rows are scoped through the survivor's office; changing both persons needs rights in both offices.
    """

    survivor = models.ForeignKey(
        Person, verbose_name=_("surviving record"), on_delete=models.PROTECT, related_name="merges_absorbed"
    )
    merged = models.ForeignKey(
        Person, verbose_name=_("merged record"), on_delete=models.PROTECT, related_name="merges_as_merged"
    )
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("merged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    merged_at = models.DateTimeField(_("merged"), auto_now_add=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # field → "survivor" | "merged": whose value the survivor kept, for every scalar field.
    choices = models.JSONField(_("values chosen"), default=dict)
    survivor_before = models.JSONField(_("surviving record before the merge"), default=dict)
    moved = models.JSONField(_("rows moved"), default=dict)
    # [{"model": "people.language", "fields": {"id": 7, "person_id": 3, "code": "spa"}}, ...]
    dropped = models.JSONField(_("rows removed as duplicates"), default=list)
    # The adjudication decision of the pair before the merge marked it "same" (restored by an unmerge).
    pair_before = models.JSONField(null=True, blank=True)
    unmerged_at = models.DateTimeField(_("undone"), null=True, blank=True)
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("undone by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    unmerge_reason = models.CharField(_("reason for undoing"), max_length=500, blank=True)

    objects = PersonMergeScopedManager()

    class Meta:
        verbose_name = _("merge of records")
        verbose_name_plural = _("merges of records")
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"

    @property
    def is_active(self) -> bool:
        """True until the merge is undone."""
        return self.unmerged_at is None
