"""The rows of one generated case and what hangs from it: distributions, columns, the generator itself."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from rumbo.cases.demo.kit import CONSENT_TEXT_SHA256, CONSENT_VERSION, OfficeKit
from rumbo.cases.models import (
    ArrivalEvent,
    Case,
    CaseNeed,
    CaseStatusChange,
    FollowUpTask,
    Referral,
    ReferralEvent,
    ReturnEvent,
    ReturnPoint,
)
from rumbo.cases.services.tasks import (
    REFERRAL_FOLLOWUP_MONTHS,
    add_months,
    case_closed_note,
    default_followup_title,
    followup_months,
)
from rumbo.demo.writers import Row, Writer
from rumbo.geo.models import AdminArea
from rumbo.people.models import ConsentRecord

# --- Distributions (illustrative, after ../shared/research/ofam-mecal-map.md §1.4) -------------------------

HOW = [("deportation", 0.82), ("voluntary", 0.10), ("assisted", 0.05), ("other", 0.03)]
# Repatriation by border state of the INM module (2024: Sonora 34 %, Tamaulipas 24 %, Baja California 21 %).
POINT_STATES = {"26": 0.34, "28": 0.24, "02": 0.21, "08": 0.11, "05": 0.10}
# fmt: off
US_STATES = [
    ("06", 0.30), ("48", 0.22), ("17", 0.06), ("04", 0.05), ("13", 0.04), ("37", 0.04), ("12", 0.04),
    ("53", 0.03), ("08", 0.03), ("32", 0.03), ("36", 0.03), ("41", 0.03), ("40", 0.03), ("34", 0.02),
    ("49", 0.02), ("45", 0.02), ("47", 0.01),
]
ENGLISH = [("", 0.15), ("none", 0.15), ("basic", 0.30), ("intermediate", 0.25), ("fluent", 0.15)]
MONTHS_ABROAD = [(6, 0.10), (18, 0.15), (48, 0.25), (96, 0.25), (180, 0.20), (300, 0.05)]
MIGRATION_STATUS = [
    ("", 0.15), ("regular", 0.20), ("humanitarian", 0.20), ("asylum_seeker", 0.30), ("refugee", 0.08),
    ("complementary", 0.02), ("irregular", 0.05),
]
COMAR_FOR_STATUS = {"asylum_seeker": ["applied", "in_process", "appeal"], "refugee": ["recognised"]}
NEEDS = [
    ("documents", 0.62), ("work", 0.48), ("health", 0.36), ("schooling", 0.18), ("housing", 0.12),
    ("legal", 0.10), ("psychosocial", 0.10), ("financial", 0.14), ("family_search", 0.03), ("remains", 0.01),
]
PRIORITY = [("low", 0.15), ("normal", 0.65), ("high", 0.15), ("urgent", 0.05)]
OUTCOMES = [("ok", 0.55), ("needs_more", 0.20), ("not_reached", 0.18), ("moved", 0.04), ("other", 0.03)]
OUTCOME_NOTES = {
    "ok": ["Trabaja y los hijos van a la escuela.", "Ya tiene su CURP y está afiliado.", ""],
    "needs_more": ["Sigue sin empleo; pide otra canalización.", "Le falta el acta apostillada.", ""],
    "not_reached": ["No contesta el teléfono.", "Número equivocado.", ""],
    "moved": ["Se mudó a otro estado.", "Regresó a la frontera."],
    "other": ["Falleció un familiar; se reprograma.", "Está hospitalizado."],
}
CLOSING_REASONS = [
    "Atención concluida.", "Se perdió el contacto.", "Se mudó a otro estado.", "Lo pidió la persona.",
]
DELIVERED_OUTCOMES = [
    "Servicio recibido.", "Trámite concluido.", "Documento entregado.", "Afiliación concluida.",
]
REJECTED_OUTCOMES = ["No cumplía los requisitos.", "Sin cupo.", "Faltaban documentos."]
NEED_WORDS = {
    "documents": "documentos", "work": "empleo", "health": "salud", "schooling": "escuela de los hijos",
    "housing": "vivienda", "legal": "asesoría jurídica", "psychosocial": "apoyo psicosocial",
    "financial": "apoyo económico", "family_search": "búsqueda de familiares",
    "remains": "traslado de restos",
}
# fmt: on


def _table(pairs: list[tuple[Any, float]], size: int = 1024) -> list[Any]:
    """A lookup table for weighted choice: ``table[rng.randrange(size)]``."""
    total = sum(w for _, w in pairs)
    table: list[Any] = []
    for value, weight in pairs:
        table.extend([value] * max(1, round(size * weight / total)))
    return table


# --- Columns ---------------------------------------------------------------------------------------------

# fmt: off
RETURN_COLUMNS = (
    "id", "office_id", "person_id", "returned_on", "how", "point_id", "point_other", "country_from",
    "us_state_id", "months_abroad", "english_level", "inm_constancia", "notes", "created_at", "created_by_id",
)
ARRIVAL_COLUMNS = (
    "id", "office_id", "person_id", "country_of_origin", "entered_on", "migration_status", "comar_status",
    "comar_file", "notes", "created_at", "created_by_id",
)
CASE_COLUMNS = (
    "id", "office_id", "number", "person_id", "return_event_id", "arrival_event_id", "priority", "vulnerable",
    "summary", "assigned_to_id", "status", "status_reason", "opened_at", "closed_at", "updated_at",
    "created_by_id",
)
NEED_COLUMNS = ("case_id", "need", "note", "met_at", "office_id", "opened_at")  # the case's, copied
STATUS_COLUMNS = ("case_id", "office_id", "from_status", "to_status", "reason", "at", "by_id")
CONSENT_COLUMNS = (
    "id", "person_id", "purpose", "status", "method", "given_by", "text_version", "text_sha256",
    "recorded_at", "recorded_by_id",
)
REFERRAL_COLUMNS = (
    "id", "office_id", "case_id", "person_id", "offering_id", "status", "reason", "consent_id",
    "consent_override_reason", "consent_override_by_id", "sent_at", "accepted_at", "delivered_at",
    "closed_at", "outcome", "created_by_id",
)
EVENT_COLUMNS = ("referral_id", "status", "note", "at", "by_id")
TASK_COLUMNS = (
    "office_id", "case_id", "referral_id", "title", "due_on", "assigned_to_id", "done_at", "outcome",
    "outcome_note", "reminded_at", "created_at", "created_by_id",
)
# fmt: on

TABLES: list[tuple[str, type[Any], tuple[str, ...]]] = [
    ("returns", ReturnEvent, RETURN_COLUMNS),
    ("arrivals", ArrivalEvent, ARRIVAL_COLUMNS),
    ("cases", Case, CASE_COLUMNS),
    ("needs", CaseNeed, NEED_COLUMNS),
    ("status_changes", CaseStatusChange, STATUS_COLUMNS),
    ("consents", ConsentRecord, CONSENT_COLUMNS),
    ("referrals", Referral, REFERRAL_COLUMNS),
    ("events", ReferralEvent, EVENT_COLUMNS),
    ("tasks", FollowUpTask, TASK_COLUMNS),
]


@dataclass
class Batch:
    returns: list[Row] = field(default_factory=list)
    arrivals: list[Row] = field(default_factory=list)
    cases: list[Row] = field(default_factory=list)
    needs: list[Row] = field(default_factory=list)
    status_changes: list[Row] = field(default_factory=list)
    consents: list[Row] = field(default_factory=list)
    referrals: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    tasks: list[Row] = field(default_factory=list)


# --- Generator -------------------------------------------------------------------------------------------


class Ids:
    """Primary keys of one model for one batch, allocated by the writer in chunks as they are needed (ids
    left over are skipped: gaps are harmless). The batch's rows are written only at its end, and SQLite
    allocates above the highest id *written*, so a second chunk continues above the ids handed out."""

    def __init__(self, writer: Writer, model: type[Any], chunk: int) -> None:
        self.writer, self.model, self.chunk = writer, model, max(1, chunk)
        self.pending: list[int] = []
        self.floor = 0

    def next(self) -> int:
        if not self.pending:
            fresh = self.writer.allocate_ids(self.model, self.chunk)
            if fresh and fresh[0] <= self.floor:
                fresh = list(range(self.floor + 1, self.floor + 1 + self.chunk))
            self.pending = fresh[::-1]
        value = self.pending.pop()
        self.floor = max(self.floor, value)
        return value


class Ref(NamedTuple):
    """What a referral row needs from its case."""

    id: int
    case_id: int
    person_id: int
    offering_id: int
    consent_id: int
    worker: int | None
    title: str  # of its follow-up


class CaseGenerator:
    """Builds the rows of one case (and what hangs from it) at a time; ids come from the writer."""

    def __init__(self, *, seed: int, now: datetime, writer: Writer) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.now = now
        self.writer = writer
        self.sqlite_text = writer.name == "sqlite"
        self.how = _table(HOW)
        self.english = _table(ENGLISH)
        self.abroad = _table(MONTHS_ABROAD)
        self.migration = _table(MIGRATION_STATUS)
        self.priority = _table(PRIORITY)
        self.outcomes = _table(OUTCOMES)
        self.default_months = followup_months()
        self.default_titles = {m: default_followup_title(m) for m in self.default_months}
        self.closed_note = case_closed_note()
        self.closing: datetime | None = None  # when the case being generated closed
        per_state: dict[str, list[int]] = {}
        for pk, state in ReturnPoint.objects.filter(is_active=True).values_list(
            "pk", "municipality__parent__code"
        ):
            per_state.setdefault(state or "", []).append(pk)
        weighted = [
            (pk, POINT_STATES.get(st, 0.02) / len(pks)) for st, pks in per_state.items() for pk in pks
        ]
        self.points: list[Any] = _table(weighted) if weighted else [None]
        us = dict(AdminArea.objects.filter(country="US", level=1).values_list("code", "pk"))
        self.us_states: list[Any] = _table([(us[c], w) for c, w in US_STATES if c in us]) or [None]

    def pick(self, table: list[Any]) -> Any:
        return table[self.rng.randrange(len(table))]

    def _dt(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if self.sqlite_text:
            # What Django's SQLite backend stores (``adapt_datetimefield_value``: naive UTC, ``str()``),
            # without its per-value settings lookups — a third of the generation time otherwise.
            return str(value.astimezone(UTC).replace(tzinfo=None))
        return self.writer.datetime(value)

    def _at(self, start: datetime, low_days: float, high_days: float) -> datetime:
        """A moment ``low_days`` to ``high_days`` after ``start``, drawn within what has already happened
        (so recent records spread over the last days instead of piling up at "now")."""
        latest = self.now - timedelta(minutes=5)
        room = (latest - start).total_seconds() / 86400
        if room <= low_days:
            return latest
        return start + timedelta(days=self.rng.uniform(low_days, min(high_days, room)))

    def _case_status(self, age: int) -> str:
        roll = self.rng.random()
        if age < 30:
            return "open" if roll < 0.85 else "follow_up"
        if age < 180:
            return ("open", "follow_up", "closed")[sum(roll >= c for c in (0.25, 0.8))]
        return ("open", "follow_up", "closed", "reopened")[sum(roll >= c for c in (0.05, 0.2, 0.95))]

    def _referral_status(self, age: int, case_closed: bool) -> str:
        roll = self.rng.random()
        statuses = ("sent", "accepted", "delivered", "rejected", "no_show", "cancelled")
        if age < 7:
            status = "sent" if roll < 0.7 else "accepted"
        elif age < 45:
            status = statuses[sum(roll >= c for c in (0.15, 0.50, 0.85, 0.90, 0.97))]
        else:
            status = statuses[sum(roll >= c for c in (0.03, 0.10, 0.72, 0.80, 0.95))]
        return "cancelled" if case_closed and status in ("sent", "accepted") else status

    def add(self, out: Batch, ids: dict[str, Ids], kit: OfficeKit, person: tuple[int, datetime, str]) -> None:
        rng, dt = self.rng, self._dt
        person_id, registered, country = person
        office_id = kit.office.pk
        worker = rng.choice(kit.workers) if kit.workers else None
        opened = self._at(registered, 0, 20)
        local_opened = opened.astimezone(kit.zone)
        stamp = dt(opened)
        return_id = arrival_id = None
        if country in ("", "MX", "US"):  # a Mexican returning (US-born children come with their parents)
            return_id = ids["returns"].next()
            returned_on = (local_opened - timedelta(days=rng.randint(0, 12))).date()
            months = max(1, int(self.pick(self.abroad) * rng.uniform(0.5, 1.5)))
            point = self.pick(self.points)
            other = "" if point else "Aeropuerto Internacional de la Ciudad de México"
            constancia = f"CR-{returned_on.year}-{rng.randrange(10**6):06d}" if rng.random() < 0.8 else ""
            # fmt: off
            out.returns.append((
                return_id, office_id, person_id, returned_on.isoformat(), self.pick(self.how), point, other,
                "US", self.pick(self.us_states), months, self.pick(self.english), constancia, "", stamp,
                worker,
            ))
            # fmt: on
            years = months // 12
            origin = f"Repatriado tras {years} años en EUA." if years else "Repatriado tras meses en EUA."
        else:
            arrival_id = ids["arrivals"].next()
            status = self.pick(self.migration)
            comar = rng.choice(COMAR_FOR_STATUS[status]) if status in COMAR_FOR_STATUS else ""
            entered = (local_opened - timedelta(days=rng.randint(10, 900))).date()
            comar_file = f"COMAR/{entered.year}/{rng.randrange(10**5):05d}" if comar else ""
            out.arrivals.append(
                (arrival_id, office_id, person_id, country, entered.isoformat(), status, comar, comar_file,
                 "", stamp, worker)
            )  # fmt: skip
            origin = f"Persona extranjera ({country})."
        # The case, its status history and its needs.
        case_id = ids["cases"].next()
        status = self._case_status((self.now - opened).days)
        closes = status in ("closed", "reopened")
        closed_at = self._at(opened, 30, min(max((self.now - opened).days, 31), 240)) if closes else None
        reason = rng.choice(CLOSING_REASONS) if status == "closed" else ""
        chosen = [need for need, weight in NEEDS if rng.random() < weight] or ["documents"]
        changes: list[Row] = [(case_id, office_id, "", "open", "", stamp, worker)]
        last = opened
        if status != "open" and (status != "closed" or rng.random() < 0.7):
            moment = self._at(opened, 3, max(4, min((self.now - opened).days, 40)))
            if closed_at is None or moment < closed_at:
                changes.append((case_id, office_id, "open", "follow_up", "", dt(moment), worker))
                last = moment
        if closed_at is not None:
            why = reason or "Atención concluida."
            changes.append((case_id, office_id, changes[-1][3], "closed", why, dt(closed_at), worker))
            last = closed_at
            if status == "reopened":
                last = self._at(closed_at, 1, 60)
                changes.append(
                    (case_id, office_id, "closed", "reopened", "Volvió a pedir apoyo.", dt(last), worker)
                )
        out.status_changes.extend(changes)
        summary = f"{origin} Necesita: {', '.join(NEED_WORDS[n] for n in chosen)}."
        final_close = dt(closed_at) if status == "closed" else None
        # fmt: off
        out.cases.append((
            case_id, office_id, kit.number(local_opened.year), person_id, return_id, arrival_id,
            self.pick(self.priority), rng.random() < 0.12, summary, worker, status, reason, stamp,
            final_close, dt(last), worker,
        ))
        # fmt: on
        today = self.now.astimezone(kit.zone).date()
        # Referrals, for most needs the directory answers, after a consent to share data.
        met: dict[str, datetime] = {}
        consent_id = None
        for need in chosen:
            options = kit.offerings.get(need)
            if not options or rng.random() > 0.75:
                continue
            sent = self._at(opened, 0, 6)
            sent_day = sent.astimezone(kit.zone).date()
            valid = [o for o in options if o[1] <= sent_day and (o[2] is None or o[2] >= sent_day)]
            offering_id, _, _, title = rng.choice(valid or options)
            if consent_id is None:
                consent_id = ids["consents"].next()
                method = "written" if rng.random() < 0.6 else "verbal"
                out.consents.append(
                    (consent_id, person_id, "referral", "given", method, "", CONSENT_VERSION,
                     CONSENT_TEXT_SHA256, stamp, worker)
                )  # fmt: skip
            referral = Ref(
                ids["referrals"].next(), case_id, person_id, offering_id, consent_id, worker, title
            )
            delivered = self._referral(out, kit, referral, sent, today, status == "closed")
            if delivered is not None:
                met[need] = delivered
        for need in chosen:
            out.needs.append((case_id, need, "", dt(met.get(need)), office_id, stamp))
        # The default follow-ups. Closing the case closed those still open (``tasks_close_for_case``).
        self.closing = closed_at
        for months in self.default_months:
            due = add_months(local_opened.date(), months)
            self._task(out, kit, case_id, None, self.default_titles[months], due, worker, opened, today)

    def _referral(
        self, out: Batch, kit: OfficeKit, ref: Ref, sent: datetime, today: date, case_closed: bool
    ) -> datetime | None:
        """A referral with its events (and its follow-up when delivered); returns the delivery time."""
        dt = self._dt
        status = self._referral_status((self.now - sent).days, case_closed)
        accepted = delivered = closed = None
        events: list[Row] = [(ref.id, "sent", "", dt(sent), ref.worker)]
        if status in ("accepted", "delivered", "no_show"):
            accepted = self._at(sent, 0.5, 6)
            events.append((ref.id, "accepted", "", dt(accepted), ref.worker))
        outcome = ""
        if status == "delivered":
            delivered = closed = self._at(accepted or sent, 1, 25)
            outcome = self.rng.choice(DELIVERED_OUTCOMES)
        elif status in ("rejected", "no_show", "cancelled"):
            closed = self._at(accepted or sent, 1, 20)
            outcome = self.rng.choice(REJECTED_OUTCOMES) if status == "rejected" else ""
        if closed is not None:
            events.append((ref.id, status, outcome, dt(closed), ref.worker))
        out.events.extend(events)
        # fmt: off
        out.referrals.append((
            ref.id, kit.office.pk, ref.case_id, ref.person_id, ref.offering_id, status, "", ref.consent_id,
            "", None, dt(sent), dt(accepted), dt(delivered), dt(closed), outcome, ref.worker,
        ))
        # fmt: on
        if delivered is not None:
            due = add_months(delivered.astimezone(kit.zone).date(), REFERRAL_FOLLOWUP_MONTHS)
            self._task(out, kit, ref.case_id, ref.id, ref.title, due, ref.worker, delivered, today)
        return delivered

    def _task(
        self, out: Batch, kit: OfficeKit, case_id: int, referral_id: int | None, title: str, due: date,
        worker: int | None, created: datetime, today: date,
    ) -> None:  # fmt: skip
        """A follow-up: done (mostly) with an outcome once its date has passed; closed with the case when
        the case closed first."""
        rng = self.rng
        done: datetime | None = None
        outcome = note = ""
        closing = self.closing if self.closing is not None and self.closing > created else None
        if due < today and rng.random() < 0.88:
            done = datetime.combine(due, datetime.min.time(), tzinfo=kit.zone) + timedelta(
                days=rng.uniform(-2, 10), hours=rng.uniform(9, 17)
            )
            done = min(done, self.now - timedelta(minutes=5))
            outcome = self.pick(self.outcomes)
            note = rng.choice(OUTCOME_NOTES[outcome])
        if closing is not None and (done is None or done > closing):
            done, outcome, note = closing, "other", self.closed_note
        out.tasks.append(
            (kit.office.pk, case_id, referral_id, title, due.isoformat(), worker, self._dt(done), outcome,
             note, None, self._dt(created), worker)
        )  # fmt: skip
