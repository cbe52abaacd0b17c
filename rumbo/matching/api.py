"""API routes of matching's adjudication side (mounted under /api/v1/): the queue of possible duplicates,
decisions (one or many), and requests to the office that owns a possible match.

Access, as everywhere: a pair or request of offices where you hold no role answers 404; your own office
without the needed permission answers 403. A person of a pair whose office you may not see is given as
``{"visible": false, "person_id": …, "office": {…}, "person": null, …}``: its office, never its data (nor the
evidence, which would tell what it contains). A record merged since is given by its survivor's id only.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.lib.api import (
    IdField,
    PageQuerySerializer,
    Pagination,
    django_validation_detail,
    error_responses,
    page_serializer,
    query_params,
)
from rumbo.matching.models import AccessRequest, DuplicatePair
from rumbo.matching.queue_selectors import (
    FIELD_LABELS,
    QueueFilters,
    QueueRow,
    access_request_get,
    access_requests_received,
    access_requests_sent,
    pair_get,
    pair_queue,
    pair_view,
    pairs_for_decision,
    queue_rows,
    request_persons,
    stored_evidence,
)
from rumbo.matching.services import (
    access_request_create,
    access_request_decide,
    pair_compare_record,
    pair_decide,
    pairs_decide_bulk,
)
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, member_office_ids, require_any
from rumbo.people.models import Person
from rumbo.people.serializers import PersonSerializer, PersonSummarySerializer
from rumbo.people.services import person_list_record

DUPLICATES = ["duplicates"]
REQUESTS = ["match requests"]

#: The decisions a person can make (the stored decision may also be "pending").
DECISION_CHOICES = [
    (DuplicatePair.Decision.SAME.value, DuplicatePair.Decision.SAME.label),
    (DuplicatePair.Decision.DIFFERENT.value, DuplicatePair.Decision.DIFFERENT.label),
    (DuplicatePair.Decision.UNSURE.value, DuplicatePair.Decision.UNSURE.label),
]


def _service_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(django_validation_detail(exc))


# --- Serializers --------------------------------------------------------------------------------------


class OfficeRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class PairSideSerializer(serializers.Serializer):
    """One person of a pair. ``person`` is null when you may not see that office's persons."""

    visible = serializers.BooleanField(read_only=True)
    person_id = serializers.IntegerField(
        read_only=True, help_text="Id of the record (to ask its office for access or a transfer)."
    )
    office = OfficeRefSerializer(read_only=True)
    person = PersonSummarySerializer(read_only=True, allow_null=True)
    merged = serializers.BooleanField(
        read_only=True,
        help_text="The record was merged into another since: it is not given, and the pair is not compared.",
    )
    merged_into = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="When merged: the surviving record (the end of the chain of merges), if you may see it.",
    )


class PairSerializer(serializers.Serializer):
    """A possible duplicate in the queue."""

    id = serializers.IntegerField(read_only=True)
    probability = serializers.FloatField(read_only=True, help_text="Match probability, 0 to 1.")
    match_weight = serializers.FloatField(read_only=True, help_text="Total log2 Bayes factor.")
    likely = serializers.BooleanField(
        read_only=True, help_text="At or above the network's likely-duplicate threshold."
    )
    source = serializers.ChoiceField(choices=DuplicatePair.Source.choices, read_only=True)  # type: ignore[assignment]  # a field named like a Field attribute
    cluster = serializers.IntegerField(read_only=True, allow_null=True)
    decision = serializers.ChoiceField(choices=DuplicatePair.Decision.choices, read_only=True)
    decided_at = serializers.DateTimeField(read_only=True, allow_null=True)
    decidable = serializers.BooleanField(
        read_only=True, help_text="You may decide it (you may review duplicates in both offices)."
    )
    a = PairSideSerializer(read_only=True)
    b = PairSideSerializer(read_only=True)
    agreeing_fields = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The strongest agreeing fields (empty when a person is hidden).",
    )


class EvidenceSerializer(serializers.Serializer):
    field = serializers.CharField(read_only=True)
    level = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]  # a field named like a Field attribute
    agreement = serializers.CharField(read_only=True, help_text="agree, partial, disagree or missing.")
    weight = serializers.FloatField(read_only=True)


class PairSideDetailSerializer(PairSideSerializer):
    person = PersonSerializer(read_only=True, allow_null=True)


class PairDetailSerializer(PairSerializer):
    """A pair with both records (those you may see) and the evidence (when you may see both)."""

    a = PairSideDetailSerializer(read_only=True)
    b = PairSideDetailSerializer(read_only=True)
    evidence = EvidenceSerializer(many=True, read_only=True, help_text="As found.")
    live_evidence = EvidenceSerializer(many=True, read_only=True, help_text="With the current model.")
    live_probability = serializers.FloatField(read_only=True, allow_null=True)


class DuplicateQuerySerializer(PageQuerySerializer):
    decision = serializers.ChoiceField(
        choices=[*DuplicatePair.Decision.choices, ("all", "Any decision")],
        required=False,
        help_text="Default: pending.",
    )
    band = serializers.ChoiceField(
        choices=[("likely", "Likely"), ("possible", "Possible")],
        required=False,
        help_text="likely: at or above the network's likely-duplicate threshold; possible: below it.",
    )
    source = serializers.ChoiceField(choices=DuplicatePair.Source.choices, required=False)  # type: ignore[assignment]  # a field named like a Field attribute
    cluster = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    order = serializers.ChoiceField(
        choices=[("-probability", "Most probable first"), ("probability", "Least probable first")],
        required=False,
    )


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=DECISION_CHOICES)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class BulkDecisionSerializer(serializers.Serializer):
    pairs = serializers.ListField(child=IdField(), min_length=1, max_length=500)
    decision = serializers.ChoiceField(choices=DECISION_CHOICES)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class BulkResultSerializer(serializers.Serializer):
    decided = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    skipped = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text="Pairs not decided: not found, not yours to decide, or whose persons were merged or "
        "anonymised.",
    )


class AccessRequestSerializer(serializers.Serializer):
    """A request about a possible match. ``person_summary`` is given only to those who may see the
    person (the owner office; the requester after a transfer)."""

    id = serializers.IntegerField(read_only=True)
    direction = serializers.ChoiceField(choices=[("received", "Received"), ("sent", "Sent")], read_only=True)
    person = serializers.IntegerField(read_only=True, source="person_id")
    person_summary = PersonSummarySerializer(read_only=True, allow_null=True)
    owner_office = OfficeRefSerializer(read_only=True)
    requesting_office = OfficeRefSerializer(read_only=True)
    kind = serializers.ChoiceField(choices=AccessRequest.Kind.choices, read_only=True)
    reason = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=AccessRequest.Status.choices, read_only=True)
    answer = serializers.CharField(read_only=True)
    requested_at = serializers.DateTimeField(read_only=True)
    decided_at = serializers.DateTimeField(read_only=True, allow_null=True)


class AccessRequestCreateSerializer(serializers.Serializer):
    person = IdField(help_text="Id of the hidden candidate (``person_id`` of a hidden match).")
    requesting_office = IdField(help_text="Your office, on whose behalf you ask.")
    kind = serializers.ChoiceField(choices=AccessRequest.Kind.choices)
    reason = serializers.CharField(max_length=500)


class AccessRequestQuerySerializer(PageQuerySerializer):
    box = serializers.ChoiceField(
        choices=[("received", "Received"), ("sent", "Sent")],
        required=False,
        help_text="received (default): requests to your offices; sent: requests your offices made.",
    )
    status = serializers.ChoiceField(choices=AccessRequest.Status.choices, required=False)


class AccessDecisionSerializer(serializers.Serializer):
    grant = serializers.BooleanField()
    answer = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


# --- Representations ------------------------------------------------------------------------------------


def _side(side: Any, *, full: bool = False) -> dict[str, Any]:
    person = side.person
    if person is not None:
        person = PersonSerializer(person).data if full else PersonSummarySerializer(person).data
    return {
        "visible": side.visible,
        "person_id": side.person_id,
        "office": {"id": side.office.pk, "name": side.office.name},
        "person": person,
        "merged": side.merged,
        "merged_into": side.merged_into,
    }


def _row(row: QueueRow) -> dict[str, Any]:
    pair = row.pair
    return {
        "id": pair.pk,
        "probability": pair.probability,
        "match_weight": pair.match_weight,
        "likely": row.likely,
        "source": pair.source,
        "cluster": pair.cluster,
        "decision": pair.decision,
        "decided_at": pair.decided_at,
        "decidable": row.decidable,
        "a": _side(row.a),
        "b": _side(row.b),
        "agreeing_fields": [
            e["field"]
            for e in sorted(
                (e for e in pair.fields if isinstance(e, dict) and e.get("agreement") == "agree"),
                key=lambda e: -float(e.get("weight") or 0),
            )[:3]
        ]
        if not row.masked
        else [],
    }


def _evidence(item: Any) -> dict[str, Any]:
    get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    name = str(get("field", ""))
    return {
        "field": name,
        "level": str(get("level", "")),
        "label": str(get("label", "") or FIELD_LABELS.get(name, name)),
        "agreement": str(get("agreement", "")),
        "weight": float(get("weight", 0) or 0),
    }


def _request_rows(user: Any, requests: list[AccessRequest], direction: str) -> list[dict[str, Any]]:
    # The person's data is given only to who may see it now (persons loaded in one query).
    persons = request_persons(user, requests)
    return [_request_row(access, direction, persons.get(access.person_id)) for access in requests]


def _request_row(access: AccessRequest, direction: str, found: Person | None) -> dict[str, Any]:
    person = PersonSummarySerializer(found).data if found is not None else None
    return {
        "id": access.pk,
        "direction": direction,
        "person": access.person_id,
        "person_summary": person,
        "owner_office": {"id": access.owner_office_id, "name": access.owner_office.name},
        "requesting_office": {"id": access.requesting_office_id, "name": access.requesting_office.name},
        "kind": access.kind,
        "reason": access.reason,
        "status": access.status,
        "answer": access.answer,
        "requested_at": access.requested_at,
        "decided_at": access.decided_at,
    }


# --- Duplicates -----------------------------------------------------------------------------------------


PairPageSerializer = page_serializer(PairSerializer, "PairPage")


@extend_schema(
    operation_id="duplicates_list",
    tags=DUPLICATES,
    summary="The queue of possible duplicates",
    description="Pairs you may review: at least one of the two persons is in an office where you may "
    "review duplicates. A person of an office whose records you may not see is given by office only. "
    "Each person given is audited as a read of the record. "
    "Filters: decision (default pending; `all`), likelihood band, source, cluster. Most probable first. "
    "403 when you may review duplicates in none of your offices.",
    parameters=[DuplicateQuerySerializer],
    responses={200: PairPageSerializer, **error_responses(400, 403, 404)},
)
@api_view(["GET"])
def duplicate_list(request: Request) -> Response:
    require_any(request.user, Perm.ADJUDICATE_DUPLICATES)
    params = query_params(request, DuplicateQuerySerializer)
    decision = params.get("decision", DuplicatePair.Decision.PENDING)
    filters = QueueFilters(
        decision="" if decision == "all" else decision,
        band=params.get("band", ""),
        source=params.get("source", ""),
        cluster=params.get("cluster"),
        ascending=params.get("order") == "probability",
    )
    paginator = Pagination()
    page = paginator.paginate_queryset(pair_queue(request.user, filters), request)
    rows = queue_rows(request.user, page or [])
    person_list_record(
        actor=request.user,
        persons=[p for row in rows for p in row.shown],
        shown_in="duplicate_queue",
        via="api",
    )
    return Response(paginator.envelope([_row(row) for row in rows]))


@extend_schema(
    operation_id="duplicates_retrieve",
    tags=DUPLICATES,
    summary="A possible duplicate, both records side by side",
    description="Both records (those you may see) and the evidence of each compared field, as found and "
    "with the current model (only when you may see both persons). When a record was merged since, neither "
    "record is given nor compared: the merged side has `merged` and `merged_into` (the surviving record). "
    "Audited as a comparison and as a read of each record shown.",
    responses={200: PairDetailSerializer, **error_responses(403, 404)},
)
@api_view(["GET"])
def duplicate_detail(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.ADJUDICATE_DUPLICATES)
    pair = pair_get(request.user, pk)
    view = pair_view(request.user, pair)
    shown = [side.person for side in (view.a, view.b) if side.person is not None]
    pair_compare_record(actor=request.user, pair=pair, persons=shown, via="api")
    row = QueueRow(pair=pair, a=view.a, b=view.b, decidable=view.decidable, likely=view.likely)
    body = _row(row)
    body["a"] = _side(view.a, full=True)
    body["b"] = _side(view.b, full=True)
    body["evidence"] = [_evidence(e) for e in stored_evidence(pair.fields)] if not view.masked else []
    body["live_evidence"] = (
        [_evidence(r.live) for r in view.evidence if r.live is not None] if not view.masked else []
    )
    body["live_probability"] = view.live_probability
    return Response(body)


def _pair_body(request: Request, pair: DuplicatePair) -> dict[str, Any]:
    pair = pair_get(request.user, pair.pk)
    return _row(queue_rows(request.user, [pair])[0])


@extend_schema(
    operation_id="duplicates_decide",
    tags=DUPLICATES,
    summary="Decide a possible duplicate",
    description="same (the same person), different (two persons) or unsure, with an optional note. You "
    "must be allowed to review duplicates in the offices of both persons (403 otherwise). 400 when a "
    "person was merged or anonymised since. Audited with the old and new decision.",
    request=DecisionSerializer,
    responses={200: PairSerializer, **error_responses(400, 403, 404, 415)},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def duplicate_decide(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.ADJUDICATE_DUPLICATES)
    pair = pair_get(request.user, pk)
    serializer = DecisionSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        pair = pair_decide(
            actor=request.user,
            pair=pair,
            decision=serializer.validated_data["decision"],
            note=serializer.validated_data["note"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    return Response(_pair_body(request, pair))


@extend_schema(
    operation_id="duplicates_decide_bulk",
    tags=DUPLICATES,
    summary="Decide many possible duplicates at once",
    description="The same decision for every pair listed. Pairs you may not decide (or that are not "
    "found, or whose persons were merged or anonymised) are skipped and listed in `skipped`; the others "
    "are decided and audited one by one.",
    request=BulkDecisionSerializer,
    responses={200: BulkResultSerializer, **error_responses(400, 403, 415)},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def duplicate_decide_bulk(request: Request) -> Response:
    require_any(request.user, Perm.ADJUDICATE_DUPLICATES)
    serializer = BulkDecisionSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    ids = list(dict.fromkeys(serializer.validated_data["pairs"]))
    pairs = pairs_for_decision(request.user, ids)
    try:
        result = pairs_decide_bulk(
            actor=request.user,
            pairs=pairs,
            decision=serializer.validated_data["decision"],
            note=serializer.validated_data["note"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    unseen = set(ids) - {p.pk for p in pairs}
    return Response({"decided": result.decided, "skipped": sorted({*result.skipped, *unseen})})


# --- Requests about a possible match ------------------------------------------------------------------


AccessRequestPageSerializer = page_serializer(AccessRequestSerializer, "AccessRequestPage")


@extend_schema(
    methods=["GET"],
    operation_id="match_requests_list",
    tags=REQUESTS,
    summary="Requests about possible matches",
    description="`box=received` (default): requests to the offices where you may change persons, with the "
    "person each is about. `box=sent`: requests made by the offices where you may register persons, with "
    "their status and answer (the person is given only once you may see it, e.g. after a transfer). "
    "Newest first.",
    parameters=[AccessRequestQuerySerializer],
    responses={200: AccessRequestPageSerializer, **error_responses(400, 403, 404)},
)
@extend_schema(
    methods=["POST"],
    operation_id="match_requests_create",
    tags=REQUESTS,
    summary="Ask the office of a hidden possible match for access or a transfer",
    description="`person` is the id of a possible match you were told is registered at another office "
    "(`person_id` of a hidden candidate or side). You learn nothing more about the record: every "
    "request that cannot be made gets the same error at `person`. 400 at `requesting_office` when it is "
    "not one of your offices; 403 when your role there does not allow registering persons. Audited.",
    request=AccessRequestCreateSerializer,
    responses={201: AccessRequestSerializer, **error_responses(400, 403, 415)},
)
@api_view(["GET", "POST"])
@parser_classes([JSONParser])
def match_request_list(request: Request) -> Response:
    if request.method == "POST":
        return _match_request_create(request)
    params = query_params(request, AccessRequestQuerySerializer)
    box = params.get("box", "received")
    user = request.user
    if box == "sent":
        require_any(user, Perm.ADD_PERSON)
        qs = access_requests_sent(user, status=params.get("status", ""))
    else:
        require_any(user, Perm.CHANGE_PERSON)
        qs = access_requests_received(user, status=params.get("status", ""))
    paginator = Pagination()
    page = paginator.paginate_queryset(qs.order_by("-requested_at", "-id"), request)
    return Response(paginator.envelope(_request_rows(user, list(page or []), box)))


def _match_request_create(request: Request) -> Response:
    require_any(request.user, Perm.ADD_PERSON)
    serializer = AccessRequestCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    office = Office.objects.filter(
        pk=data["requesting_office"], pk__in=member_office_ids(request.user)
    ).first()
    if office is None:
        raise ValidationError({"requesting_office": [_("Choose one of your offices.")]})
    try:
        access = access_request_create(
            actor=request.user,
            candidate_person_id=data["person"],
            requesting_office=office,
            kind=data["kind"],
            reason=data["reason"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    access = access_requests_sent(request.user).get(pk=access.pk)
    return Response(_request_rows(request.user, [access], "sent")[0], status=status.HTTP_201_CREATED)


@extend_schema(
    operation_id="match_requests_decide",
    tags=REQUESTS,
    summary="Grant or refuse a request about one of your records",
    description="For the office that owns the record (you must be allowed to change its persons). "
    "Granting a transfer moves the record to the requesting office; granting access records the answer. "
    "Refusing needs an `answer`. 400 when already answered. Audited.",
    request=AccessDecisionSerializer,
    responses={200: AccessRequestSerializer, **error_responses(400, 403, 404, 415)},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def match_request_decide(request: Request, pk: int) -> Response:
    require_any(request.user, Perm.CHANGE_PERSON)
    access = access_request_get(request.user, pk)
    serializer = AccessDecisionSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        access = access_request_decide(
            actor=request.user,
            request=access,
            grant=serializer.validated_data["grant"],
            answer=serializer.validated_data["answer"],
        )
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc
    access = AccessRequest.objects.select_related("owner_office", "requesting_office").get(pk=access.pk)
    return Response(_request_rows(request.user, [access], "received")[0])


urlpatterns = [
    path("duplicates/", duplicate_list, name="api-duplicates-list"),
    path("duplicates/decisions/", duplicate_decide_bulk, name="api-duplicates-decide-bulk"),
    path("duplicates/<int:pk>/", duplicate_detail, name="api-duplicates-detail"),
    path("duplicates/<int:pk>/decision/", duplicate_decide, name="api-duplicates-decide"),
    path("match-requests/", match_request_list, name="api-match-requests-list"),
    path("match-requests/<int:pk>/decision/", match_request_decide, name="api-match-requests-decide"),
]
