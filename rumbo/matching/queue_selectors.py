"""Reads of the adjudication side of matching, always for an acting user: the queue of possible duplicates,
one pair side by side, requests about a possible match at another office, and the matching settings of an
office network.

Who sees what:

- A pair is listed to a user who may adjudicate duplicates (``ADJUDICATE_DUPLICATES``) in at least one of
  its two offices. A person of the pair is shown only when the user may view persons of that person's
  office; otherwise only the office's name is shown (no name, no document, no evidence, which would tell
  what the hidden record contains).
- A pair is *decidable* only by a user who may adjudicate in both offices.
- A pair of two offices where the user holds no role answers 404; one where the user holds a role but may
  adjudicate in neither office answers 403.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from rumbo.matching.models import AccessRequest, DedupeRun, DuplicatePair, MatchSettings
from rumbo.matching.scoring import compare_persons, evidence_labels
from rumbo.matching.selectors import match_settings_for, network_root_id
from rumbo.matching.selectors import network_office_ids as _network_office_ids
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, has_perm, member_office_ids, offices_with_perm
from rumbo.people.merge_selectors import visible_survivor_id
from rumbo.people.models import Address, Alias, Document, Person, Phone

#: Labels of the compared fields (the ``field`` of each piece of evidence).
FIELD_LABELS: dict[str, Any] = {
    "given_names": _("Given names"),
    "surnames": _("Surnames"),
    "birth_date": _("Date of birth"),
    "sex": _("Sex"),
    "curp": _("CURP"),
    "documents": _("Other documents"),
    "phones": _("Phones"),
    "email": _("Email"),
}
AGREEMENTS = ("agree", "partial", "disagree", "missing")
DECIDED = (DuplicatePair.Decision.SAME, DuplicatePair.Decision.DIFFERENT, DuplicatePair.Decision.UNSURE)


# --- Office networks --------------------------------------------------------------------------------


def network_root(office: Office | int) -> Office:
    """The root of ``office``'s tree: the office network it belongs to (itself when it has no parent)."""
    office_id = office.pk if isinstance(office, Office) else office
    root_id = network_root_id(office_id)
    if isinstance(office, Office) and office.pk == root_id:
        return office
    return Office.objects.get(pk=root_id)


def network_office_ids(root: Office | int) -> frozenset[int]:
    """Every office of the network whose root is ``root`` (the root included)."""
    return frozenset(_network_office_ids([root.pk if isinstance(root, Office) else root]))


def settings_for(office: Office) -> MatchSettings:
    """The thresholds of ``office``'s network (defaults until someone saves them)."""
    return match_settings_for(office)


def manageable_networks(user: Any) -> list[Office]:
    """Networks (root offices) whose matching settings ``user`` may change."""
    offices = offices_with_perm(user, Perm.MANAGE_MATCHING)
    return list(Office.objects.filter(pk__in=offices, parent__isnull=True).order_by("name"))


def network_get(user: Any, pk: int) -> Office:
    """A network the user may manage: 404 unless it is a root office where the user holds a role, 403 when
    the user's role there does not allow managing matching."""
    office = Office.objects.filter(pk=pk, pk__in=member_office_ids(user), parent__isnull=True).first()
    if office is None:
        raise Http404
    if not has_perm(user, Perm.MANAGE_MATCHING, office.pk):
        raise PermissionDenied
    return office


def dedupe_runs(network: Office, *, limit: int = 50) -> list[DedupeRun]:
    """The latest batch runs of a network (the caller has checked the user may manage it)."""
    return list(DedupeRun.objects.filter(network=network).select_related("started_by")[:limit])


# --- The queue ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    """What the queue shows: a decision ("" for every decision), a likelihood band ("likely" at or above
    the network's likely threshold, "possible" below it, "" both), a source, a cluster; highest
    probability first unless ``ascending``."""

    decision: str = DuplicatePair.Decision.PENDING
    band: str = ""
    source: str = ""
    cluster: int | None = None
    ascending: bool = False


def _likely_q(offices: Collection[int]) -> Q:
    """Pairs at or above the likely threshold of their network (one term per network of ``offices``)."""
    q = Q(pk__in=[])
    for root_id in sorted({network_root_id(o) for o in offices}):
        threshold = match_settings_for(root_id).likely_threshold
        q |= Q(office_a_id__in=network_office_ids(root_id), probability__gte=threshold)
    return q


def pair_queue(user: Any, filters: QueueFilters = QueueFilters()) -> QuerySet[DuplicatePair]:
    """Possible duplicates the user may adjudicate in at least one of the two offices, filtered and sorted.

    Pairs whose persons were merged or anonymised since are left out: there is nothing left to decide.
    """
    offices = offices_with_perm(user, Perm.ADJUDICATE_DUPLICATES)
    qs = DuplicatePair.objects.filter(Q(office_a_id__in=offices) | Q(office_b_id__in=offices)).filter(
        person_a__merged_into__isnull=True,
        person_b__merged_into__isnull=True,
        person_a__anonymised_at__isnull=True,
        person_b__anonymised_at__isnull=True,
    )
    if filters.decision:
        qs = qs.filter(decision=filters.decision)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.cluster is not None:
        qs = qs.filter(cluster=filters.cluster)
    if filters.band in ("likely", "possible"):
        likely = _likely_q(offices)
        qs = qs.filter(likely) if filters.band == "likely" else qs.exclude(likely)
    order = ("probability", "id") if filters.ascending else ("-probability", "id")
    return qs.select_related("office_a", "office_b", "person_a", "person_b").order_by(*order)


@dataclass(frozen=True)
class Side:
    """One person of a pair as the user may see it: ``person`` is None when the user may not see that
    office's persons (then only the office is named). ``person_id`` and ``office_name`` match the lead's
    ``Candidate``, so a hidden side can be shown with ``matching/_hidden_candidate.html``.

    ``merged``: the record was merged into another since (nothing of it is shown); ``merged_into`` is where
    its id leads (the end of the chain of merges) when the user may see that record, else None."""

    person_id: int
    office: Office
    person: Person | None
    merged: bool = False
    merged_into: int | None = None

    @property
    def visible(self) -> bool:
        return self.person is not None

    @property
    def office_id(self) -> int:
        return self.office.pk

    @property
    def office_name(self) -> str:
        return self.office.name


@dataclass(frozen=True)
class QueueRow:
    """A pair as one row of the queue."""

    pair: DuplicatePair
    a: Side
    b: Side
    decidable: bool
    likely: bool
    top_fields: list[str] = field(default_factory=list)  # labels of the strongest agreeing fields

    @property
    def masked(self) -> bool:
        return not (self.a.visible and self.b.visible)

    @property
    def shown(self) -> list[Person]:
        """The persons the row shows (with name, birth date, office): those the user may see."""
        return [side.person for side in (self.a, self.b) if side.person is not None]

    @property
    def percent(self) -> str:
        return percent(self.pair.probability)


def percent(probability: float) -> str:
    """A probability as a percentage for people: "97 %", "99.9 %" near certainty, "< 1 %" near zero."""
    value = probability * 100
    if value >= 99.5 and value < 100:
        return f"{min(value, 99.9):.1f} %"
    if 0 < value < 1:
        return "< 1 %"
    return f"{value:.0f} %"


def _side(user: Any, person: Person, office: Office, view_offices: Collection[int]) -> Side:
    return Side(person.pk, office, person if office.pk in view_offices else None)


def top_fields(evidence: Iterable[dict[str, Any]], limit: int = 3) -> list[str]:
    """Labels of the agreeing fields that weigh most, strongest first."""
    agreeing = [e for e in evidence if isinstance(e, dict) and e.get("agreement") == "agree"]
    agreeing.sort(key=lambda e: -float(e.get("weight") or 0))
    return [str(FIELD_LABELS.get(e.get("field", ""), e.get("field", ""))) for e in agreeing[:limit]]


def queue_rows(user: Any, pairs: Iterable[DuplicatePair]) -> list[QueueRow]:
    """The rows of a queue page (pairs loaded with ``pair_queue``'s ``select_related``)."""
    pairs = list(pairs)
    view_offices = offices_with_perm(user, Perm.VIEW_PERSON)
    adjudicate = offices_with_perm(user, Perm.ADJUDICATE_DUPLICATES)
    thresholds: dict[int, float] = {}
    rows = []
    for pair in pairs:
        if pair.office_a_id not in thresholds:
            thresholds[pair.office_a_id] = settings_for(pair.office_a).likely_threshold
        a = _side(user, pair.person_a, pair.office_a, view_offices)
        b = _side(user, pair.person_b, pair.office_b, view_offices)
        rows.append(
            QueueRow(
                pair=pair,
                a=a,
                b=b,
                decidable=pair.office_a_id in adjudicate and pair.office_b_id in adjudicate,
                likely=pair.probability >= thresholds[pair.office_a_id],
                top_fields=top_fields(pair.fields) if a.visible and b.visible else [],
            )
        )
    return rows


def pair_get(user: Any, pk: int) -> DuplicatePair:
    """One pair: 404 unless the user holds a role in one of its offices; 403 unless the user may
    adjudicate in one of them."""
    members = member_office_ids(user)
    pair = (
        DuplicatePair.objects.select_related("office_a", "office_b", "person_a", "person_b", "decided_by")
        .filter(Q(office_a_id__in=members) | Q(office_b_id__in=members), pk=pk)
        .first()
    )
    if pair is None:
        raise Http404
    adjudicate = offices_with_perm(user, Perm.ADJUDICATE_DUPLICATES)
    if pair.office_a_id not in adjudicate and pair.office_b_id not in adjudicate:
        raise PermissionDenied
    return pair


def pairs_for_decision(user: Any, ids: Sequence[int]) -> list[DuplicatePair]:
    """The pairs among ``ids`` that the user may adjudicate in at least one office (the others are not
    theirs to see; the services check both offices)."""
    adjudicate = offices_with_perm(user, Perm.ADJUDICATE_DUPLICATES)
    return list(
        DuplicatePair.objects.filter(pk__in=list(ids))
        .filter(Q(office_a_id__in=adjudicate) | Q(office_b_id__in=adjudicate))
        .select_related("office_a", "office_b")
        .order_by("pk")
    )


def can_decide(user: Any, pair: DuplicatePair) -> bool:
    return has_perm(user, Perm.ADJUDICATE_DUPLICATES, pair.office_a_id) and has_perm(
        user, Perm.ADJUDICATE_DUPLICATES, pair.office_b_id
    )


# --- Side by side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonCard:
    """What the compare page shows of one visible person."""

    person: Person
    documents: list[Document]
    phones: list[Phone]
    addresses: list[Address]
    aliases: list[Alias]


@dataclass(frozen=True)
class EvidenceRow:
    """One compared field: the evidence stored when the pair was found, and the model's evidence now."""

    field: str
    label: str
    stored: dict[str, Any] | None
    live: Any | None  # scoring.FieldEvidence

    @property
    def agreement(self) -> str:
        value = getattr(self.live, "agreement", None) or (self.stored or {}).get("agreement", "")
        return value if value in AGREEMENTS else "missing"

    @property
    def stored_label(self) -> str:
        if not self.stored:
            return ""
        return str(self.stored.get("label") or self.stored.get("level") or "")


@dataclass(frozen=True)
class PairView:
    """A pair on the compare page: both sides (hidden or not), the evidence when both are visible."""

    pair: DuplicatePair
    a: Side
    b: Side
    card_a: PersonCard | None
    card_b: PersonCard | None
    decidable: bool
    likely: bool
    evidence: list[EvidenceRow]
    live_probability: float | None

    @property
    def masked(self) -> bool:
        return not (self.a.visible and self.b.visible)

    @property
    def merged(self) -> bool:
        """A record of the pair was merged since: there is nothing left to compare."""
        return self.a.merged or self.b.merged

    @property
    def merged_sides(self) -> list[Side]:
        return [side for side in (self.a, self.b) if side.merged]

    @property
    def row_class(self) -> dict[str, str]:
        """CSS class (agree / partial / disagree / missing) of each side-by-side row."""
        by_field = {row.field: row.agreement for row in self.evidence}
        out = dict(by_field)
        out["documents"] = by_field.get("curp") or by_field.get("documents") or ""
        return out

    @property
    def percent(self) -> str:
        return percent(self.pair.probability)

    @property
    def live_percent(self) -> str:
        return percent(self.live_probability) if self.live_probability is not None else ""


def person_card(person: Person) -> PersonCard:
    return PersonCard(
        person=person,
        documents=list(Document.objects.filter(person=person).order_by("kind", "pk")),
        phones=list(Phone.objects.filter(person=person).order_by("-is_primary", "pk")),
        addresses=list(
            Address.objects.filter(person=person)
            .select_related("admin_area", "admin_area__parent")
            .order_by("-is_current", "pk")
        ),
        aliases=list(Alias.objects.filter(person=person).order_by("pk")),
    )


def _live_comparison(a: Person, b: Person) -> Any | None:
    """The model's comparison of the two records as they are now (``scoring.Comparison``)."""
    return compare_persons(a, b)


def stored_evidence(fields: Any) -> list[dict[str, Any]]:
    """``DuplicatePair.fields`` with the translated label of each level (as far as the model knows it)."""
    return evidence_labels([e for e in (fields or []) if isinstance(e, dict) and e.get("field")])


def evidence_rows(stored: Iterable[Any], live: Any | None) -> list[EvidenceRow]:
    """Stored and live evidence merged by field, in the model's field order."""
    stored_by = {e["field"]: e for e in stored_evidence(list(stored))}
    live_by = {e.field: e for e in getattr(live, "fields", ())}
    names = list(dict.fromkeys([*live_by, *stored_by]))
    return [
        EvidenceRow(name, str(FIELD_LABELS.get(name, name)), stored_by.get(name), live_by.get(name))
        for name in names
    ]


def _merged_pair_view(user: Any, pair: DuplicatePair) -> PairView:
    """A pair one of whose records was merged: no record shown (a merged record's fields are stale), each
    merged side pointing to its survivor, nothing to compare or decide."""
    sides = []
    for person, office in ((pair.person_a, pair.office_a), (pair.person_b, pair.office_b)):
        if person.merged_into_id is None:
            sides.append(Side(person.pk, office, None))
        else:
            sides.append(
                Side(person.pk, office, None, merged=True, merged_into=visible_survivor_id(user, person))
            )
    return PairView(
        pair=pair,
        a=sides[0],
        b=sides[1],
        card_a=None,
        card_b=None,
        decidable=False,
        likely=pair.probability >= settings_for(pair.office_a).likely_threshold,
        evidence=[],
        live_probability=None,
    )


def pair_view(user: Any, pair: DuplicatePair) -> PairView:
    """Everything the compare page shows of ``pair`` (fetched with :func:`pair_get`)."""
    if pair.person_a.merged_into_id is not None or pair.person_b.merged_into_id is not None:
        return _merged_pair_view(user, pair)
    view_offices = offices_with_perm(user, Perm.VIEW_PERSON)
    a = _side(user, pair.person_a, pair.office_a, view_offices)
    b = _side(user, pair.person_b, pair.office_b, view_offices)
    live = None
    evidence: list[EvidenceRow] = []
    if a.person is not None and b.person is not None:
        live = _live_comparison(a.person, b.person)
        evidence = evidence_rows(pair.fields or [], live)
    return PairView(
        pair=pair,
        a=a,
        b=b,
        card_a=person_card(a.person) if a.person is not None else None,
        card_b=person_card(b.person) if b.person is not None else None,
        decidable=can_decide(user, pair),
        likely=pair.probability >= settings_for(pair.office_a).likely_threshold,
        evidence=evidence,
        live_probability=getattr(live, "probability", None),
    )


# --- Labels for training -------------------------------------------------------------------------------


def labels_for_training(network: Office) -> list[tuple[int, int, str]]:
    """Human decisions of a network as ``(person_a_id, person_b_id, decision)``, oldest first.

    Every decided pair is returned ("same", "different", "unsure"); the trainer chooses what to learn from
    ("unsure" is usually left out). Not scoped to a user: for ``rumbo train_matcher``.
    """
    offices = network_office_ids(network)
    rows = (
        DuplicatePair.objects.filter(decision__in=DECIDED)
        .filter(Q(office_a_id__in=offices) | Q(office_b_id__in=offices))
        .order_by("decided_at", "pk")
        .values_list("person_a_id", "person_b_id", "decision")
    )
    return [(a, b, str(d)) for a, b, d in rows]


# --- Requests about a possible match ------------------------------------------------------------------


def candidate_person(person_id: int, requesting_office: Office) -> Person | None:
    """The person behind a hidden candidate, when an office may ask about it: a live person (not merged,
    not anonymised) of another office of the same network. None otherwise; callers must answer every
    "None" the same way, so nothing is learnt about records that are not genuine candidates.

    Reads across offices on purpose (the requester is outside the owner's scope): only the office is used.
    """
    person = (
        Person._base_manager.select_related("office")
        .filter(pk=person_id, merged_into__isnull=True, anonymised_at__isnull=True)
        .first()
    )
    if person is None or person.office_id == requesting_office.pk or not person.office.is_active:
        return None
    if network_root(person.office).pk != network_root(requesting_office).pk:
        return None
    return person


def hidden_candidate_office(user: Any, person_id: int) -> Office | None:
    """The office of a hidden candidate the user could ask about (from one of the offices where they may
    register persons), or None."""
    offices = Office.objects.filter(pk__in=offices_with_perm(user, Perm.ADD_PERSON)).order_by("pk")
    for office in offices:
        person = candidate_person(person_id, office)
        if person is not None:
            return person.office
    return None


def request_offices_for(user: Any, owner: Office | None = None) -> list[Office]:
    """Offices on whose behalf the user may ask another office (where they may register persons), of the
    owner's network when given."""
    offices = list(Office.objects.filter(pk__in=offices_with_perm(user, Perm.ADD_PERSON)).order_by("name"))
    if owner is None:
        return offices
    network = network_office_ids(network_root(owner))
    return [o for o in offices if o.pk in network and o.pk != owner.pk]


def access_requests_received(user: Any, *, status: str = "") -> QuerySet[AccessRequest]:
    """Requests addressed to offices where the user may change persons (the owners' inbox)."""
    qs = AccessRequest.objects.filter(owner_office_id__in=offices_with_perm(user, Perm.CHANGE_PERSON))
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("person", "owner_office", "requesting_office", "requested_by", "decided_by")


def access_requests_sent(user: Any, *, status: str = "") -> QuerySet[AccessRequest]:
    """Requests made by offices where the user may register persons ("my requests")."""
    qs = AccessRequest.objects.filter(requesting_office_id__in=offices_with_perm(user, Perm.ADD_PERSON))
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("owner_office", "requesting_office", "requested_by", "decided_by")


def access_request_get(user: Any, pk: int) -> AccessRequest:
    """A request for its owner office: 404 unless the user holds a role in the owner office, 403 unless
    they may change persons there. The person is not loaded: after a transfer it belongs to another office
    (show it through :func:`request_persons`)."""
    request = (
        AccessRequest.objects.select_related(
            "owner_office", "requesting_office", "requested_by", "decided_by"
        )
        .filter(pk=pk, owner_office_id__in=member_office_ids(user))
        .first()
    )
    if request is None:
        raise Http404
    if not has_perm(user, Perm.CHANGE_PERSON, request.owner_office_id):
        raise PermissionDenied
    return request


def request_persons(user: Any, requests: Iterable[AccessRequest]) -> dict[int, Person]:
    """The persons of ``requests`` that the user may see now (in an office where they may view persons),
    by id, in one query: the owner's records before a transfer, the requester's after it. The others are
    left out: a request outlives the record's move, and its office no longer sees the person."""
    ids = {r.person_id for r in requests}
    if not ids:
        return {}
    visible = offices_with_perm(user, Perm.VIEW_PERSON)
    # Unscoped on purpose: a transferred record is outside the owner office's scope; kept only when visible.
    persons = Person._base_manager.filter(pk__in=ids, office_id__in=visible).select_related("office")
    return {p.pk: p for p in persons}
