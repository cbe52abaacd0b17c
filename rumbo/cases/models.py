"""OFAM orientation cases: returns and arrivals, the case with its needs, the service directory, referrals,
procedures, follow-up tasks, notes, attachments and transfers between offices.

An OFAM mostly *refers and follows up*: it receives a returned Mexican (or an immigrant), finds out what they
need, refers them to the institution that provides it and makes sure it happened. Every office-owned row has
an ``office`` and a django-scopes manager: an unscoped query raises instead of leaking another office's cases.
Rows recorded by an office keep that office in ``office`` even after the case moves (transfers), so the
sending office keeps read access to what it recorded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from rumbo.people.models import OfficeScopedManager

_USER = settings.AUTH_USER_MODEL


# --- Returns and arrivals -----------------------------------------------------------------------------


class ReturnPoint(models.Model):
    """Where returned Mexicans are received: INM repatriation modules (shipped reference data, see
    ``cases/data/SOURCES.md``), airports of interior repatriation flights, border crossings. Offices add the
    points the reference data lacks."""

    class Kind(models.TextChoices):
        INM_MODULE = "inm_module", _("INM repatriation module")
        AIRPORT = "airport", _("Airport")
        BORDER_CROSSING = "border_crossing", _("Border crossing")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    municipality = models.ForeignKey(
        "geo.AdminArea",
        verbose_name=_("municipality"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=300, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("point of return")
        verbose_name_plural = _("points of return")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReturnHow(models.TextChoices):
    DEPORTATION = "deportation", _("Deportation (removal)")
    VOLUNTARY = "voluntary", _("Voluntary return")
    ASSISTED = "assisted", _("Assisted return")
    OTHER = "other", _("Other")


class EnglishLevel(models.TextChoices):
    UNKNOWN = "", _("Not asked")
    NONE = "none", _("None")
    BASIC = "basic", _("Basic")
    INTERMEDIATE = "intermediate", _("Intermediate")
    FLUENT = "fluent", _("Fluent")


class ReturnEvent(models.Model):
    """One return of a Mexican to Mexico (a person can have many repatriations)."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    person = models.ForeignKey(
        "people.Person", verbose_name=_("person"), on_delete=models.PROTECT, related_name="returns"
    )
    returned_on = models.DateField(_("date of return"))
    how = models.CharField(_("how"), max_length=12, choices=ReturnHow.choices)
    point = models.ForeignKey(
        ReturnPoint,
        verbose_name=_("point of return"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="returns",
    )
    point_other = models.CharField(_("other point of return"), max_length=200, blank=True)
    country_from = models.CharField(
        _("returned from (country)"), max_length=2, default="US", help_text=_("ISO 3166-1 alpha-2 code.")
    )
    us_state = models.ForeignKey(
        "geo.AdminArea",
        verbose_name=_("US state returned from"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    months_abroad = models.PositiveIntegerField(_("time abroad (months)"), null=True, blank=True)
    english_level = models.CharField(
        _("English level"), max_length=12, choices=EnglishLevel.choices, blank=True, default=""
    )
    companions = models.ManyToManyField(
        "people.Person",
        verbose_name=_("accompanying family members"),
        blank=True,
        related_name="accompanied_returns",
    )
    inm_constancia = models.CharField(_("INM repatriation certificate number"), max_length=60, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    created_by = models.ForeignKey(
        _USER,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        ordering = ["-returned_on", "-id"]
        indexes = [
            # The point is in the index so that the dashboard's count of returns by point of return
            # over a period reads the index alone (41,000 returns in a year of one office).
            models.Index(fields=["office", "returned_on", "point"], name="cases_return_office_point"),
            models.Index(fields=["point", "returned_on"], name="cases_return_point"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.returned_on}"


class MigrationStatus(models.TextChoices):
    UNKNOWN = "", _("Not asked")
    REGULAR = "regular", _("Regular (visa or residence card)")
    HUMANITARIAN = "humanitarian", _("Visitor for humanitarian reasons")
    ASYLUM_SEEKER = "asylum_seeker", _("Asylum seeker")
    REFUGEE = "refugee", _("Recognised refugee")
    COMPLEMENTARY = "complementary", _("Complementary protection")
    IRREGULAR = "irregular", _("Irregular")
    OTHER = "other", _("Other")


class ComarStatus(models.TextChoices):
    NONE = "", _("No application")
    APPLIED = "applied", _("Applied")
    IN_PROCESS = "in_process", _("In process")
    RECOGNISED = "recognised", _("Recognised")
    COMPLEMENTARY = "complementary", _("Complementary protection granted")
    REJECTED = "rejected", _("Rejected")
    APPEAL = "appeal", _("Appealed")
    ABANDONED = "abandoned", _("Abandoned")


class ArrivalEvent(models.Model):
    """An immigrant's arrival in Mexico: every field optional, never required."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    person = models.ForeignKey(
        "people.Person", verbose_name=_("person"), on_delete=models.PROTECT, related_name="arrivals"
    )
    country_of_origin = models.CharField(_("country of origin"), max_length=2, blank=True)
    entered_on = models.DateField(_("date of entry"), null=True, blank=True)
    migration_status = models.CharField(
        _("migration status"), max_length=16, choices=MigrationStatus.choices, blank=True, default=""
    )
    comar_status = models.CharField(
        _("asylum application (COMAR)"), max_length=16, choices=ComarStatus.choices, blank=True, default=""
    )
    comar_file = models.CharField(_("COMAR file number"), max_length=60, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    created_by = models.ForeignKey(
        _USER,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("arrival")
        verbose_name_plural = _("arrivals")
        ordering = ["-entered_on", "-id"]

    def __str__(self) -> str:
        return f"{self.person_id} {self.country_of_origin}"


# --- The case ---------------------------------------------------------------------------------------------


class Need(models.TextChoices):
    DOCUMENTS = "documents", _("Identity documents")
    HEALTH = "health", _("Health")
    SCHOOLING = "schooling", _("Schooling of children")
    WORK = "work", _("Work")
    HOUSING = "housing", _("Housing or shelter")
    LEGAL = "legal", _("Legal advice")
    PSYCHOSOCIAL = "psychosocial", _("Psychosocial support")
    FAMILY_SEARCH = "family_search", _("Search for relatives")
    REMAINS = "remains", _("Repatriation of remains")
    FINANCIAL = "financial", _("Financial support")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    FOLLOW_UP = "follow_up", _("In follow-up")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")


class Case(models.Model):
    """An orientation case opened for a person (and optionally household members) at an office."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="cases"
    )
    number = models.CharField(
        _("case number"), max_length=30, help_text=_("Given by the office, e.g. MICH-2026-00042.")
    )
    person = models.ForeignKey(
        "people.Person", verbose_name=_("person"), on_delete=models.PROTECT, related_name="cases"
    )
    members = models.ManyToManyField(
        "people.Person", verbose_name=_("household members"), blank=True, related_name="member_of_cases"
    )
    return_event = models.ForeignKey(
        ReturnEvent,
        verbose_name=_("return"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
    )
    arrival_event = models.ForeignKey(
        ArrivalEvent,
        verbose_name=_("arrival"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
    )
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    vulnerable = models.BooleanField(
        _("in a situation of vulnerability"),
        default=False,
        help_text=_("The person's vulnerability flags are on the person's record."),
    )
    summary = models.TextField(_("summary"), blank=True)
    assigned_to = models.ForeignKey(
        _USER,
        verbose_name=_("assigned worker"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    status_reason = models.CharField(_("reason for the status"), max_length=300, blank=True)
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    created_by = models.ForeignKey(
        _USER, verbose_name=_("opened by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-opened_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["office", "number"], name="cases_case_number_unique")]
        indexes = [
            models.Index(fields=["office", "status", "opened_at"], name="cases_case_office_status"),
            models.Index(fields=["office", "opened_at"], name="cases_case_office_opened"),
            models.Index(fields=["assigned_to", "status"], name="cases_case_assigned"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_closed(self) -> bool:
        return self.status == CaseStatus.CLOSED


class CaseNeed(models.Model):
    """A need found at intake (or later), with a note.

    ``office`` and ``opened_at`` are copies of the case's, kept equal to them by the services that write
    cases (opening, changing the needs, transfers): the dashboard counts the needs of the cases opened in
    a period over one range of the (office, need, opened_at) index per need, instead of looking up the needs
    of each of the period's cases (65,000 needs in a year of one office)."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="needs")
    need = models.CharField(_("need"), max_length=16, choices=Need.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    met_at = models.DateTimeField(_("met"), null=True, blank=True)
    office = models.ForeignKey(
        "offices.Office",
        verbose_name=_("office"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the (office, need, opened_at) index serves it
        editable=False,
    )
    opened_at = models.DateTimeField(_("case opened"), editable=False)

    class Meta:
        verbose_name = _("need")
        verbose_name_plural = _("needs")
        constraints = [models.UniqueConstraint(fields=["case", "need"], name="cases_need_unique")]
        indexes = [
            models.Index(fields=["need"], name="cases_need_need"),
            models.Index(fields=["office", "need", "opened_at"], name="cases_need_office_need"),
        ]

    def __str__(self) -> str:
        return self.get_need_display()


class CaseStatusChange(models.Model):
    """The history of a case's status, with the reason given."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="status_changes"
    )
    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(_("from"), max_length=10, choices=CaseStatus.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=10, choices=CaseStatus.choices)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True)
    by = models.ForeignKey(
        _USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class CaseNote(models.Model):
    """A note on a case. ``office`` is the office that wrote it (it keeps read access after a transfer)."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="notes")
    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(_("written"), auto_now_add=True)
    created_by = models.ForeignKey(
        _USER,
        verbose_name=_("written by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text[:50]


class Attachment(models.Model):
    """A file attached to a case, stored under ``settings.DATA_DIR / "attachments"`` (outside every web-served
    folder) and served only to permitted users, each download audited."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="attachments"
    )
    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    original_name = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("hash (SHA-256)"), max_length=64)
    stored_path = models.CharField(max_length=300, editable=False)  # relative to DATA_DIR / "attachments"
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    uploaded_by = models.ForeignKey(
        _USER,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.title


# --- Service catalogue and directory ----------------------------------------------------------------------


class ServiceCategory(models.TextChoices):
    IDENTITY = "identity", _("Identity and civil registry")
    HEALTH = "health", _("Health")
    EDUCATION = "education", _("Education")
    WORK = "work", _("Work and income")
    LEGAL = "legal", _("Legal")
    PSYCHOSOCIAL = "psychosocial", _("Psychosocial")
    SHELTER = "shelter", _("Shelter and housing")
    FAMILY = "family", _("Family and search")
    REMAINS = "remains", _("Remains")
    PROGRAMMES = "programmes", _("State and federal programmes")


class Service(models.Model):
    """A service an office refers people to (CURP, birth record, apostille, INE, IMSS cover, school enrolment,
    job placement, …). Each state office keeps its own catalogue; no code change is needed to add one."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="services"
    )
    code = models.SlugField(_("code"), max_length=60)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=16, choices=ServiceCategory.choices)
    need = models.CharField(
        _("need it answers"),
        max_length=16,
        choices=Need.choices,
        blank=True,
        help_text=_("Used to suggest services."),
    )
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("offered"), default=True)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["category", "name"]
        constraints = [models.UniqueConstraint(fields=["office", "code"], name="cases_service_code_unique")]

    def __str__(self) -> str:
        return self.name


class Institution(models.Model):
    """An institution that provides services (IMSS, SEP, Registro Civil, a shelter, a legal clinic…)."""

    class Sector(models.TextChoices):
        FEDERAL = "federal", _("Federal government")
        STATE = "state", _("State government")
        MUNICIPAL = "municipal", _("Municipal government")
        CIVIL_SOCIETY = "civil_society", _("Civil society")
        INTERNATIONAL = "international", _("International organisation")
        PRIVATE = "private", _("Private")

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="institutions"
    )
    name = models.CharField(_("name"), max_length=200)
    sector = models.CharField(_("sector"), max_length=16, choices=Sector.choices)
    address = models.CharField(_("address"), max_length=300, blank=True)
    admin_area = models.ForeignKey(
        "geo.AdminArea",
        verbose_name=_("municipality"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=150, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("E.164, e.g. +524431234567."))
    email = models.EmailField(_("email"), blank=True)
    website = models.URLField(_("website"), blank=True)
    hours = models.CharField(_("opening hours"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["office", "name"], name="cases_institution_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Offering(models.Model):
    """A service as one institution provides it: requirements and eligibility rules, valid between two dates
    (programmes change: a rule that ended stays for the history of the referrals made under it)."""

    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.CASCADE, related_name="offerings"
    )
    service = models.ForeignKey(
        Service, verbose_name=_("service"), on_delete=models.PROTECT, related_name="offerings"
    )
    requirements = models.TextField(
        _("requirements"), blank=True, help_text=_("Documents to bring, appointments…")
    )
    eligibility = models.TextField(_("who is eligible"), blank=True)
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    cost = models.CharField(_("cost"), max_length=100, blank=True, help_text=_("Free, or the fee."))

    class Meta:
        verbose_name = _("offering")
        verbose_name_plural = _("offerings")
        ordering = ["service__name", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="cases_offering_dates",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service} — {self.institution}"


# --- Referrals --------------------------------------------------------------------------------------------


class ReferralStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    DELIVERED = "delivered", _("Service delivered")
    REJECTED = "rejected", _("Rejected")
    NO_SHOW = "no_show", _("Did not attend")
    CANCELLED = "cancelled", _("Cancelled")


class Referral(models.Model):
    """A referral of a case's person (or a household member) to an institution for a service.

    It needs the person's consent to share data with institutions (``people.ConsentRecord`` purpose
    "referral"); without it, only a user with the override permission can send it, giving a reason (both
    audited)."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.PROTECT, related_name="referrals")
    person = models.ForeignKey(
        "people.Person", verbose_name=_("person referred"), on_delete=models.PROTECT, related_name="referrals"
    )
    offering = models.ForeignKey(
        Offering,
        verbose_name=_("service and institution"),
        on_delete=models.PROTECT,
        related_name="referrals",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.SENT
    )
    reason = models.TextField(_("reason for the referral"), blank=True)
    consent = models.ForeignKey(
        "people.ConsentRecord",
        verbose_name=_("consent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    consent_override_reason = models.CharField(_("why without consent"), max_length=300, blank=True)
    consent_override_by = models.ForeignKey(
        _USER,
        verbose_name=_("sent without consent by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sent_at = models.DateTimeField(_("sent"), auto_now_add=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    created_by = models.ForeignKey(
        _USER, verbose_name=_("sent by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-sent_at", "-id"]
        indexes = [
            # The offering is in the index so that the dashboard's count of a period's referrals by status
            # and offering reads the index alone; lists by status use its first columns.
            models.Index(
                fields=["office", "status", "sent_at", "offering"], name="cases_referral_office_offering"
            ),
            models.Index(fields=["offering", "status"], name="cases_referral_offering"),
        ]

    def __str__(self) -> str:
        return f"{self.offering} ({self.get_status_display()})"


class ReferralEvent(models.Model):
    """The history of a referral's status, with dates and notes."""

    referral = models.ForeignKey(
        Referral, verbose_name=_("referral"), on_delete=models.CASCADE, related_name="events"
    )
    status = models.CharField(_("status"), max_length=10, choices=ReferralStatus.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True)
    by = models.ForeignKey(
        _USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("referral event")
        verbose_name_plural = _("referral events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return self.get_status_display()


# --- Procedures -------------------------------------------------------------------------------------------


class ProcedureKind(models.Model):
    """A long procedure an office helps with, as a checklist template (e.g. apostille and registration of a
    US-born child's birth certificate)."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    steps = models.JSONField(
        _("steps"), default=list, help_text=_('[{"name": "…", "documents": "…", "days": 30}, …] in order.')
    )
    is_active = models.BooleanField(_("in use"), default=True)

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("procedure type")
        verbose_name_plural = _("procedure types")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["office", "name"], name="cases_procedurekind_unique")]

    def __str__(self) -> str:
        return self.name


class Procedure(models.Model):
    """One procedure under way for a case's person: its steps, documents and dates."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")
        ABANDONED = "abandoned", _("Abandoned")

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="procedures"
    )
    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.ForeignKey(
        ProcedureKind,
        verbose_name=_("type"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    started_on = models.DateField(_("started"))
    finished_on = models.DateField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")
        ordering = ["-started_on", "-id"]

    def __str__(self) -> str:
        return self.title


class ProcedureStep(models.Model):
    procedure = models.ForeignKey(
        Procedure, verbose_name=_("procedure"), on_delete=models.CASCADE, related_name="steps"
    )
    order = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("step"), max_length=200)
    documents = models.CharField(_("documents"), max_length=300, blank=True)
    due_on = models.DateField(_("due"), null=True, blank=True)
    done_on = models.DateField(_("done"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["procedure", "order"], name="cases_step_order_unique")]

    def __str__(self) -> str:
        return self.name


# --- Follow-up --------------------------------------------------------------------------------------------


class TaskOutcome(models.TextChoices):
    PENDING = "", _("Not done yet")
    OK = "ok", _("Doing well")
    NEEDS_MORE = "needs_more", _("Needs more support")
    NOT_REACHED = "not_reached", _("Could not be reached")
    MOVED = "moved", _("Moved away")
    OTHER = "other", _("Other")


class FollowUpTask(models.Model):
    """A follow-up to do by a date (by default at 1, 3 and 6 months), with its outcome."""

    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="tasks")
    referral = models.ForeignKey(
        Referral,
        verbose_name=_("referral"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    title = models.CharField(_("task"), max_length=200)
    due_on = models.DateField(_("due"))
    assigned_to = models.ForeignKey(
        _USER,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=12, choices=TaskOutcome.choices, blank=True, default=""
    )
    outcome_note = models.TextField(_("what was found"), blank=True)
    reminded_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        _USER,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = OfficeScopedManager()

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(
                fields=["office", "due_on"], name="cases_task_open_due", condition=Q(done_at__isnull=True)
            ),
            models.Index(
                fields=["assigned_to", "due_on"],
                name="cases_task_assigned",
                condition=Q(done_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.title


# --- Transfers --------------------------------------------------------------------------------------------


class CaseTransfer(models.Model):
    """A request to move a case (and its person) to another office — the person moved states."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="transfers")
    from_office = models.ForeignKey(
        "offices.Office", verbose_name=_("from"), on_delete=models.PROTECT, related_name="+"
    )
    to_office = models.ForeignKey(
        "offices.Office", verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("reason"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    requested_by = models.ForeignKey(
        _USER,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        _USER,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decision_note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("case transfer")
        verbose_name_plural = _("case transfers")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="requested"), name="cases_one_open_transfer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.case} → {self.to_office}"


class CaseAccess(models.Model):
    """Read access an office keeps to a case it no longer owns (the sending office after a transfer): it sees
    the rows it recorded itself, and the case as it was when it left (``snapshot``: its summary, status and
    reason, priority, worker, members and needs at the acceptance; what the receiving office writes later
    is not the sending office's to read). An empty snapshot (transfers accepted before it was kept) shows
    none of those."""

    case = models.ForeignKey(
        Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="past_offices"
    )
    office = models.ForeignKey(
        "offices.Office", verbose_name=_("office"), on_delete=models.PROTECT, related_name="+"
    )
    since = models.DateTimeField(_("since"), auto_now_add=True)
    transfer = models.ForeignKey(CaseTransfer, on_delete=models.PROTECT, related_name="+")
    snapshot = models.JSONField(_("the case as it left"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("past office of a case")
        verbose_name_plural = _("past offices of cases")
        constraints = [models.UniqueConstraint(fields=["case", "office"], name="cases_access_unique")]

    def __str__(self) -> str:
        return f"{self.case} / {self.office}"
