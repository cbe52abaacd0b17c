"""API routes of the people app (mounted under /api/v1/): the person registry.

Access, as everywhere: a person of an office where you hold no role answers 404; your own office without
the needed permission answers 403; lists only ever contain persons of offices where you may view persons
(and answer 403 when there are none). Views are thin: selectors read, services write, validate and audit.

A person merged into another record answers **410 Gone** on every route, with the survivor's id in
``error.merged_into``; a redirect was not chosen because replaying a write on the survivor must be the
client's decision.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.urls import path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from rumbo.lib.api import (
    ErrorBodySerializer,
    Gone,
    PageQuerySerializer,
    Pagination,
    django_validation_detail,
    error_responses,
    page_serializer,
    query_params,
)
from rumbo.offices.permissions import Perm, require_any
from rumbo.people.models import Address, Alias, Document, Person, Phone, VulnerabilityFlag
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
    person_record_view,
    person_search_record,
    person_update,
)

TAGS = ["people"]


# --- Helpers ------------------------------------------------------------------------------------------


class PersonListQuerySerializer(PersonQuerySerializer, PageQuerySerializer):
    """``q`` plus paging."""


class MergedErrorBodySerializer(ErrorBodySerializer):
    merged_into = serializers.IntegerField(help_text="Id of the record this one was merged into.")


class MergedErrorSerializer(serializers.Serializer):
    """410 for a merged record: the error shape plus the survivor's id."""

    error = MergedErrorBodySerializer()


MERGED_RESPONSE = {
    410: OpenApiResponse(
        response=MergedErrorSerializer,
        description="This record was merged into another; `error.merged_into` is the surviving record.",
    )
}
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


def _survivor(person: Person) -> int:
    """The record at the end of the merge chain (as far as it is visible), for a 410 answer."""
    survivor_id = person.merged_into_id
    seen = {person.pk}
    while survivor_id is not None and survivor_id not in seen:
        seen.add(survivor_id)
        following = Person.objects.filter(pk=survivor_id).values_list("merged_into_id", flat=True).first()
        if following is None:
            break
        survivor_id = following
    assert survivor_id is not None
    return survivor_id


def _live(person: Person) -> Person:
    """``person`` unless it was merged (410 naming the survivor)."""
    if person.merged_into_id is not None:
        survivor = _survivor(person)
        raise Gone(
            _("This record was merged into person %(id)s.") % {"id": survivor},
            code="merged",
            extra={"merged_into": survivor},
        )
    return person


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
    url = request.build_absolute_uri()
    previous = None
    if found.has_previous:
        previous = (
            replace_query_param(url, "page", number - 1) if number > 2 else remove_query_param(url, "page")
        )
    return Response(
        {
            "count": found.total,
            "next": replace_query_param(url, "page", number + 1) if found.has_next else None,
            "previous": previous,
            "results": PersonSummarySerializer(found.persons, many=True).data,
            "capped": found.capped,
        }
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
    description="The whole record, child rows nested. Every read is audited (who has seen this record).",
    responses={200: PersonSerializer, **error_responses(403, 404), **MERGED_RESPONSE},
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
        person = _live(person_get(request.user, pk, Perm.CHANGE_PERSON))
        serializer = PersonWriteSerializer(instance=person, data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        with service_errors():
            person = person_update(
                actor=request.user, person=person, data=serializer.to_data(person_data_from(person))
            )
        return _person_response(person, request)
    person = _live(person_get(request.user, pk))
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
    person = _live(person_get(request.user, pk, Perm.ANONYMISE_PERSON))
    serializer = PersonAnonymiseSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    with service_errors():
        person = person_anonymise(
            actor=request.user, person=person, reason=serializer.validated_data["reason"]
        )
    return _person_response(person, request)


urlpatterns = [
    path("persons/", person_list, name="api-persons-list"),
    path("persons/<int:pk>/", person_detail, name="api-persons-detail"),
    path("persons/<int:pk>/anonymise/", person_anonymise_view, name="api-persons-anonymise"),
]
