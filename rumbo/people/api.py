"""API routes of the people app (mounted under /api/v1/): the person registry.

Access, as everywhere: a person of an office where you hold no role answers 404; your own office without
the needed permission answers 403; lists only ever contain persons of offices where you may view persons
(and answer 403 when there are none). Views are thin: selectors read, services write, validate and audit.

An old id (a person merged into another record) answers a read with **301 Moved Permanently**: ``Location``
is the surviving record (at the end of the chain of merges) and the body ``{"detail", "merged_into"}``. A
write to an old id answers **409 Conflict** with the survivor's id in ``error.merged_into``: replaying a
write on the survivor must be the client's decision, so it is never redirected. When the survivor belongs
to an office the client may not see, the old id answers 404 like any record of another office.

Merges: ``POST persons/{id}/merge/`` merges another record into ``{id}``; ``GET persons/{id}/merges/`` lists
the merges into a record; ``POST merges/{id}/unmerge/`` undoes one. Office administrators only, with the
right in the offices of both records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.urls import path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.lib.api import (
    ErrorBodySerializer,
    IdField,
    PageQuerySerializer,
    Pagination,
    django_validation_detail,
    error_responses,
    page_serializer,
    paginate,
    query_params,
    search_page_response,
)
from rumbo.offices.permissions import Perm, member_office_ids, require_any
from rumbo.people.merge_selectors import merge_get, visible_survivor_id
from rumbo.people.models import Address, Alias, Document, Person, PersonMerge, Phone, VulnerabilityFlag
from rumbo.people.selectors import person_get, person_queryset, person_search
from rumbo.people.serializers import (
    PersonAnonymiseSerializer,
    PersonCreateSerializer,
    PersonQuerySerializer,
    PersonSerializer,
    PersonSummarySerializer,
    PersonWriteSerializer,
)
from rumbo.people.services import (
    person_anonymise,
    person_create,
    person_data_from,
    person_merge,
    person_record_view,
    person_search_record,
    person_unmerge,
    person_update,
)
from rumbo.people.services.merge import MERGE_FIELDS, MERGED, SURVIVOR

TAGS = ["people"]


# --- Helpers ------------------------------------------------------------------------------------------


class PersonListQuerySerializer(PersonQuerySerializer, PageQuerySerializer):
    """``q`` plus paging."""


class MergedErrorBodySerializer(ErrorBodySerializer):
    merged_into = serializers.IntegerField(help_text="Id of the record this one was merged into.")


class MergedErrorSerializer(serializers.Serializer):
    """409 for a write to a merged record: the error shape plus the survivor's id."""

    error = MergedErrorBodySerializer()


class MergedRedirectSerializer(serializers.Serializer):
    """301 for a read of a merged record."""

    detail = serializers.CharField(help_text="Translated explanation.")
    merged_into = serializers.IntegerField(help_text="Id of the surviving record (also in `Location`).")


MOVED_RESPONSE = {
    301: OpenApiResponse(
        response=MergedRedirectSerializer,
        description="This record was merged into another; `Location` and `merged_into` name the surviving "
        "record (the end of the chain when it was merged again).",
    )
}
MERGED_RESPONSE = {
    409: OpenApiResponse(
        response=MergedErrorSerializer,
        description="This record was merged into another; `error.merged_into` is the surviving record. "
        "Send the write there if it still applies.",
    )
}


class MergedConflict(exceptions.APIException):
    """409: a write to a merged record; ``extra`` adds ``merged_into`` to the error body."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "merged"

    def __init__(self, detail: str, *, extra: dict[str, int]) -> None:
        super().__init__(detail, "merged")
        self.extra = extra


PersonPageSerializer = page_serializer(PersonSummarySerializer, "PersonPage", capped=True)


def _api_key(key: str) -> str:
    """The API name of a field a service reported an error at (services speak ``PersonData``)."""
    parts = key.split(".")
    if parts == ["birth_place_id"]:
        return "birth_place"
    if parts[0] == "phones" and parts[-1] == "number":
        parts[-1] = "e164"
    if parts[0] == "addresses" and parts[-1] == "admin_area_id":
        parts[-1] = "admin_area"
    return ".".join(parts)


@contextmanager
def service_errors() -> Iterator[None]:
    """Report a service's ValidationError at the API's field names (400)."""
    try:
        yield
    except DjangoValidationError as exc:
        detail = django_validation_detail(exc)
        raise ValidationError({_api_key(k): v for k, v in detail.items()}) from exc


def _survivor(request: Request, person: Person) -> int:
    """Where a merged record's id leads (the end of the chain); 404 when the survivor is not visible."""
    survivor = visible_survivor_id(request.user, person)
    if survivor is None:
        raise NotFound
    return survivor


def _live(request: Request, person: Person) -> Person:
    """``person`` for a write, unless it was merged (409 naming the survivor)."""
    if person.merged_into_id is not None:
        survivor = _survivor(request, person)
        raise MergedConflict(
            _("This record was merged into person %(id)s; send the change there if it still applies.")
            % {"id": survivor},
            extra={"merged_into": survivor},
        )
    return person


def _moved(request: Request, person: Person) -> Response:
    """301 from a merged record to its survivor."""
    survivor = _survivor(request, person)
    response = Response(
        {
            "detail": _("This record was merged into person %(id)s.") % {"id": survivor},
            "merged_into": survivor,
        },
        status=status.HTTP_301_MOVED_PERMANENTLY,
    )
    response["Location"] = reverse("api-persons-detail", args=[survivor])
    return response


def _full(person: Person) -> Person:
    """``person`` with every child list loaded in a stable order, ready for :class:`PersonSerializer`."""
    return (
        Person.objects.filter(pk=person.pk)
        .prefetch_related(
            "nationalities",
            "languages",
            Prefetch("aliases", queryset=Alias.objects.order_by("id")),
            Prefetch("documents", queryset=Document.objects.order_by("id")),
            Prefetch("phones", queryset=Phone.objects.order_by("-is_primary", "id")),
            Prefetch("addresses", queryset=Address.objects.order_by("-is_current", "id")),
            Prefetch("vulnerabilities", queryset=VulnerabilityFlag.objects.order_by("id")),
        )
        .get()
    )


def _person_response(person: Person, request: Request, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(PersonSerializer(_full(person), context={"request": request}).data, status=status_code)


# --- Routes -------------------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    operation_id="persons_list",
    tags=TAGS,
    summary="List or search persons",
    description="Persons of the offices where you may view persons. Without `q`: all of them, by id. "
    "With `q`: a search by name, document number or phone (accent- and case-insensitive); at most "
    "1,000 matches are counted, `capped` says when there are more. Every call is audited. 403 when you "
    "may view persons in none of your offices.",
    parameters=[PersonListQuerySerializer],
    responses={200: PersonPageSerializer, **error_responses(400, 403, 404)},
)
@extend_schema(
    methods=["POST"],
    operation_id="persons_create",
    tags=TAGS,
    summary="Register a person",
    description="Registers a person in `office`. 403 when your role there does not allow registering "
    "persons; 400 at `office` when it is not one of your offices. Every field is validated before "
    "anything is saved; errors are reported at the field (`documents.0.number`, `phones.1.e164`). A CURP "
    "that disagrees with the person is saved and flagged (`documents[].flags`).",
    request=PersonCreateSerializer,
    responses={201: PersonSerializer, **error_responses(400, 403, 415)},
)
@api_view(["GET", "POST"])
@parser_classes([JSONParser])
def person_list(request: Request) -> Response:
    if request.method == "POST":
        return _person_create(request)
    require_any(request.user, Perm.VIEW_PERSON)
    params = query_params(request, PersonListQuerySerializer)
    query = params.get("q", "").strip()
    if not query:
        paginator = Pagination()
        page = paginator.paginate_queryset(person_queryset(request.user).order_by("id"), request)
        data = PersonSummarySerializer(page, many=True).data
        assert paginator.page is not None
        person_search_record(
            actor=request.user, query="", result_count=paginator.page.paginator.count, via="api"
        )
        return Response(paginator.envelope(data, capped=False))
    number = params.get("page", 1)
    size = params.get("page_size", Pagination.page_size)
    found = person_search(request.user, query, page=number, page_size=size)
    if number > 1 and not found.persons:
        raise NotFound(_("Invalid page."))
    person_search_record(actor=request.user, query=query, result_count=found.total, via="api")
    return search_page_response(
        request,
        number=number,
        total=found.total,
        has_next=found.has_next,
        capped=found.capped,
        results=PersonSummarySerializer(found.persons, many=True).data,
    )


def _person_create(request: Request) -> Response:
    require_any(request.user, Perm.ADD_PERSON)
    serializer = PersonCreateSerializer(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    with service_errors():
        person = person_create(
            actor=request.user, office=serializer.validated_data["office"], data=serializer.to_data()
        )
    response = _person_response(person, request, status.HTTP_201_CREATED)
    response["Location"] = reverse("api-persons-detail", args=[person.pk])
    return response


@extend_schema(
    methods=["GET"],
    operation_id="persons_retrieve",
    tags=TAGS,
    summary="A person's record",
    description="The whole record, child rows nested. Every read is audited (who has seen this record). "
    "The id of a record merged into another answers 301 to the surviving record.",
    responses={200: PersonSerializer, **MOVED_RESPONSE, **error_responses(403, 404)},
)
@extend_schema(
    methods=["PATCH"],
    operation_id="persons_partial_update",
    tags=TAGS,
    summary="Change a person",
    description="Send only the fields to change. A list that is sent (documents, phones, …) replaces the "
    "stored list; rows whose key is unchanged keep their id. Anonymised records cannot be changed (400).",
    request=PersonWriteSerializer,
    responses={200: PersonSerializer, **error_responses(400, 403, 404, 415), **MERGED_RESPONSE},
)
@api_view(["GET", "PATCH"])
@parser_classes([JSONParser])
def person_detail(request: Request, pk: int) -> Response:
    if request.method == "PATCH":
        person = _live(request, person_get(request.user, pk, Perm.CHANGE_PERSON))
        serializer = PersonWriteSerializer(instance=person, data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        with service_errors():
            person = person_update(
                actor=request.user, person=person, data=serializer.to_data(person_data_from(person))
            )
        return _person_response(person, request)
    person = person_get(request.user, pk)
    if person.merged_into_id is not None:
        return _moved(request, person)
    person_record_view(actor=request.user, person=person, via="api")
    return _person_response(person, request)


@extend_schema(
    operation_id="persons_anonymise",
    tags=TAGS,
    summary="Anonymise (delete) a person",
    description="Removes what identifies the person and keeps what statistics and the audit trail need; "
    "this is how a person is deleted. Office administrators only. 400 when already anonymised.",
    request=PersonAnonymiseSerializer,
    responses={200: PersonSerializer, **error_responses(400, 403, 404, 415), **MERGED_RESPONSE},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def person_anonymise_view(request: Request, pk: int) -> Response:
    person = _live(request, person_get(request.user, pk, Perm.ANONYMISE_PERSON))
    serializer = PersonAnonymiseSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    with service_errors():
        person = person_anonymise(
            actor=request.user, person=person, reason=serializer.validated_data["reason"]
        )
    return _person_response(person, request)


# --- Merges -------------------------------------------------------------------------------------------


class PersonMergeRequestSerializer(serializers.Serializer):
    merged = IdField(help_text="Id of the duplicate record to merge into this one; it becomes a pointer.")
    choices = serializers.DictField(
        child=serializers.ChoiceField(choices=[SURVIVOR, MERGED]),
        required=False,
        default=dict,
        help_text="Whose value to keep, per field: " + ", ".join(MERGE_FIELDS) + ' → "survivor" or '
        '"merged" (`birth_date` includes its precision). A field left out keeps the survivor\'s value '
        "unless it is empty. An unknown field is an error at `choices.<field>`.",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=500, default="", help_text="Kept in the audit trail."
    )


class PersonMergeSerializer(serializers.ModelSerializer):
    """One merge of a record into another, and whether it was undone."""

    merged_by = serializers.CharField(
        source="merged_by.username", read_only=True, allow_null=True, help_text="Username, or null."
    )
    unmerged_by = serializers.CharField(
        source="unmerged_by.username", read_only=True, allow_null=True, help_text="Username, or null."
    )
    choices = serializers.DictField(
        child=serializers.ChoiceField(choices=[SURVIVOR, MERGED]),
        read_only=True,
        help_text="Value kept per field.",
    )

    class Meta:
        model = PersonMerge
        fields = [
            "id",
            "survivor",
            "merged",
            "merged_at",
            "merged_by",
            "reason",
            "choices",
            "unmerged_at",
            "unmerged_by",
            "unmerge_reason",
        ]
        read_only_fields = fields


class UnmergeRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=500, default="", help_text="Kept in the audit trail."
    )


PersonMergePageSerializer = page_serializer(PersonMergeSerializer, "PersonMergePage")


@extend_schema(
    operation_id="persons_merge",
    tags=TAGS,
    summary="Merge a duplicate into this person",
    description="Merges record `merged` into this one: the chosen field values, and every document, phone, "
    "address, consent, household link and other row of `merged` move here; `merged` stays as a pointer "
    "(its id answers 301 to this record). Office administrators only, with the right in the offices of both "
    "records. 400 at `merged` when it is not a record of your offices, is this record, or was merged or "
    "anonymised; at `choices.<field>` for an unknown field or value (nothing is changed). Answers this "
    "record as it is after the merge; `GET persons/{id}/merges/` lists the merges, to undo one.",
    request=PersonMergeRequestSerializer,
    responses={200: PersonSerializer, **error_responses(400, 403, 404, 415), **MERGED_RESPONSE},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def person_merge_view(request: Request, pk: int) -> Response:
    survivor = _live(request, person_get(request.user, pk, Perm.MERGE_PERSON))
    serializer = PersonMergeRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    merged = Person.objects.filter(pk=data["merged"], office_id__in=member_office_ids(request.user)).first()
    if merged is None:
        raise ValidationError({"merged": [_("No such person in your offices.")]})
    with service_errors():
        person_merge(
            actor=request.user,
            survivor=survivor,
            merged=merged,
            choices=dict(data["choices"]),
            reason=data["reason"],
        )
    return _person_response(survivor, request)


@extend_schema(
    operation_id="persons_merges_list",
    tags=TAGS,
    summary="Merges into a person",
    description="The records merged into this one, newest first, undone merges included. Needs the right "
    "to view the record.",
    parameters=[PageQuerySerializer],
    responses={200: PersonMergePageSerializer, **error_responses(400, 403, 404)},
)
@api_view(["GET"])
def person_merges_view(request: Request, pk: int) -> Response:
    person = person_get(request.user, pk)
    merges = PersonMerge._base_manager.filter(survivor=person).select_related("merged_by", "unmerged_by")
    return paginate(request, merges.order_by("-merged_at", "-id"), PersonMergeSerializer)


@extend_schema(
    operation_id="merges_unmerge",
    tags=TAGS,
    summary="Undo a merge",
    description="Both records live again, each with the rows it had; fields of the surviving record that "
    "took the merged record's value get their earlier value back unless edited since. Office "
    "administrators only, with the right in the offices of both records. 400 when the merge was already "
    "undone or a later merge depends on it (undo that one first).",
    request=UnmergeRequestSerializer,
    responses={200: PersonMergeSerializer, **error_responses(400, 403, 404, 415)},
)
@api_view(["POST"])
@parser_classes([JSONParser])
def merge_unmerge_view(request: Request, pk: int) -> Response:
    merge = merge_get(request.user, pk)
    serializer = UnmergeRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    with service_errors():
        person_unmerge(actor=request.user, merge=merge, reason=serializer.validated_data["reason"])
    merge = PersonMerge._base_manager.select_related("merged_by", "unmerged_by").get(pk=merge.pk)
    return Response(PersonMergeSerializer(merge).data)


urlpatterns = [
    path("persons/", person_list, name="api-persons-list"),
    path("persons/<int:pk>/", person_detail, name="api-persons-detail"),
    path("persons/<int:pk>/anonymise/", person_anonymise_view, name="api-persons-anonymise"),
    path("persons/<int:pk>/merge/", person_merge_view, name="api-persons-merge"),
    path("persons/<int:pk>/merges/", person_merges_view, name="api-persons-merges"),
    path("merges/<int:pk>/unmerge/", merge_unmerge_view, name="api-merges-unmerge"),
]
