"""Duplicate detection: the match index kept beside each person, batch runs, the adjudication queue and
requests to another office about a possible match.

``MatchProfile`` and ``MatchKey`` are derived data (rebuilt from the person by ``matching.index``);
``DuplicatePair`` rows are the adjudication queue *and* the labels that later train the model.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rumbo.people.models import OfficeScopedManager


class MatchProfile(models.Model):
    """The comparison features of one live person (not merged, not anonymised), as the model compares them.

    Space-separated lists keep one row per person and load straight into DuckDB for batch runs.
    """

    # A derived index, rebuilt from the person, like ``MatchKey``: no database-level foreign keys (Django
    # still cascades a deletion).
    person = models.OneToOneField(
        "people.Person",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="match_profile",
        db_constraint=False,
    )
    office = models.ForeignKey(
        "offices.Office", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    given = models.CharField(max_length=200, blank=True)  # folded given names, abbreviations expanded
    given_keys = models.CharField(max_length=400, blank=True)  # phonetic keys of every given-name form
    surnames = models.CharField(max_length=200, blank=True)  # folded surname words, particles removed
    surname_keys = models.CharField(max_length=400, blank=True)  # phonetic keys of every surname form
    first_surname_key = models.CharField(max_length=60, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    birth_precision = models.CharField(max_length=10, blank=True)
    sex = models.CharField(max_length=1, blank=True)  # "" when not recorded
    curp = models.CharField(max_length=18, blank=True)
    documents = models.CharField(max_length=400, blank=True)  # other document numbers, folded
    phones = models.CharField(max_length=200, blank=True)  # national significant numbers
    email = models.CharField(max_length=254, blank=True)

    objects = OfficeScopedManager()

    def __str__(self) -> str:
        return f"{self.given} {self.surnames}"


class MatchKey(models.Model):
    """A blocking key of a person (a 62-bit hash of e.g. "given form | surname form | birth year").

    Intake looks candidates up by key through the (key, office, person) index, so finding them costs a few
    index probes whatever the size of the registry.
    """

    key = models.BigIntegerField()
    # A derived index, rebuilt from the person: no database-level foreign keys (Django still cascades a
    # deletion). With them, PostgreSQL checked ~10 keys per person at each commit: a fifth of an import.
    office = models.ForeignKey(
        "offices.Office", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    person = models.ForeignKey(
        "people.Person",
        on_delete=models.CASCADE,
        related_name="match_keys",
        db_index=False,
        db_constraint=False,
    )

    objects = OfficeScopedManager()

    class Meta:
        indexes = [
            models.Index(fields=["key", "office", "person"], name="matching_key_lookup"),
            models.Index(fields=["person"], name="matching_key_person"),
        ]

    def __str__(self) -> str:
        return str(self.key)


class MatchSettings(models.Model):
    """Thresholds of one office network (a root office and everything below it)."""

    network = models.OneToOneField(
        "offices.Office", verbose_name=_("office network"), on_delete=models.CASCADE, related_name="+"
    )
    review_threshold = models.FloatField(
        _("review threshold"),
        default=0.5,
        help_text=_("Pairs at or above this match probability go to the adjudication queue."),
    )
    likely_threshold = models.FloatField(
        _("likely-duplicate threshold"),
        default=0.95,
        help_text=_("Pairs at or above this probability are shown as likely duplicates."),
    )
    intake_threshold = models.FloatField(
        _("intake threshold"),
        default=0.1,
        help_text=_("Candidates at or above this probability are shown when registering a person."),
    )

    class Meta:
        verbose_name = _("matching settings")
        verbose_name_plural = _("matching settings")

    def __str__(self) -> str:
        return str(self.network)


class DedupeRun(models.Model):
    """One batch deduplication (``rumbo dedupe``): the whole registry of a network, or one import batch."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")

    network = models.ForeignKey(
        "offices.Office", verbose_name=_("office network"), on_delete=models.PROTECT, related_name="+"
    )
    import_batch_id = models.IntegerField(_("import batch"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    backend = models.CharField(_("backend"), max_length=20, default="duckdb")
    persons = models.IntegerField(_("persons compared"), default=0)
    comparisons = models.BigIntegerField(_("pairs compared"), default=0)
    pairs_found = models.IntegerField(_("possible duplicates"), default=0)
    clusters = models.IntegerField(_("clusters"), default=0)
    seconds = models.FloatField(_("duration (s)"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("deduplication run")
        verbose_name_plural = _("deduplication runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.network} {self.started_at:%Y-%m-%d %H:%M}"


class DuplicatePair(models.Model):
    """Two persons who may be the same, with the model's evidence and the human decision.

    ``person_a`` always has the lower id. The decision is a label: later runs keep it (a pair decided
    "different" is never queued again) and ``rumbo train_matcher`` learns from it. Persons of different
    offices are never merged automatically; such pairs need a decision from someone who may see both.
    """

    class Decision(models.TextChoices):
        PENDING = "pending", _("To review")
        SAME = "same", _("Same person")
        DIFFERENT = "different", _("Different persons")
        UNSURE = "unsure", _("Unsure")

    class Source(models.TextChoices):
        BATCH = "batch", _("Batch deduplication")
        INTAKE = "intake", _("Registration")
        IMPORT = "import", _("Import")

    person_a = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    person_b = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    office_a = models.ForeignKey("offices.Office", on_delete=models.CASCADE, related_name="+")
    office_b = models.ForeignKey("offices.Office", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(DedupeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs")
    source = models.CharField(_("found by"), max_length=10, choices=Source.choices, default=Source.BATCH)
    match_weight = models.FloatField(_("match weight"))
    probability = models.FloatField(_("match probability"))
    fields = models.JSONField(_("evidence"), default=list)  # [{"field", "level", "agreement", "weight"}]
    cluster = models.IntegerField(_("cluster"), null=True, blank=True, db_index=True)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    created_at = models.DateTimeField(_("found"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = models.Manager()  # scoped explicitly by selectors: a pair may span two offices

    class Meta:
        verbose_name = _("possible duplicate")
        verbose_name_plural = _("possible duplicates")
        constraints = [
            models.UniqueConstraint(fields=["person_a", "person_b"], name="matching_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(person_a__lt=models.F("person_b")), name="matching_pair_order"
            ),
        ]
        indexes = [
            models.Index(fields=["office_a", "decision", "-probability"], name="matching_pair_queue_a"),
            models.Index(fields=["office_b", "decision", "-probability"], name="matching_pair_queue_b"),
        ]

    def __str__(self) -> str:
        return f"{self.person_a_id} ~ {self.person_b_id} ({self.probability:.2f})"


class AccessRequest(models.Model):
    """A request to the office that owns a possible match, from an office that may not see it: for access
    to the record or for its transfer. The requester learns only that a possible match exists there."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access to the record")
        TRANSFER = "transfer", _("Transfer of the record")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        GRANTED = "granted", _("Granted")
        REFUSED = "refused", _("Refused")

    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    owner_office = models.ForeignKey("offices.Office", on_delete=models.CASCADE, related_name="+")
    requesting_office = models.ForeignKey("offices.Office", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("request"), max_length=10, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=500)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    answer = models.CharField(_("answer"), max_length=500, blank=True)

    objects = models.Manager()  # scoped explicitly by selectors: requester and owner are different offices

    class Meta:
        verbose_name = _("request about a possible match")
        verbose_name_plural = _("requests about possible matches")
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.person_id}"
