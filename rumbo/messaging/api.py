"""Messaging API routes (mounted under /api/v1/).

- ``GET messaging/channels/``: channels of your offices with their figures (never their settings);
- ``POST messaging/channels/<id>/pause/`` and ``…/resume/``: stop and restart sending on a channel;
- ``GET messaging/messages/``: the outbox (filter by status, campaign, person, channel);
- ``POST messaging/messages/``: queue one message from a template for a person;
- ``GET messaging/inbound/``: replies and delivery receipts received.

Access, as everywhere: a channel of an office where you hold no role answers 404; your own office without the
permission answers 403. Reading messages or replies shows personal data: each call is audited
(``MESSAGES_VIEW``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.lib.api import (
    PageQuerySerializer,
    Pagination,
    django_validation_detail,
    error_responses,
    page_serializer,
    query_params,
)
from rumbo.messaging import selectors
from rumbo.messaging.models import Campaign, Channel, Inbound, Message, Template
from rumbo.messaging.serializers import (
    ChannelQuerySerializer,
    ChannelSerializer,
    InboundQuerySerializer,
    InboundSerializer,
    MessageCreateSerializer,
    MessageQuerySerializer,
    MessageSerializer,
)
from rumbo.messaging.services import pause_channel, queue_message, resume_channel
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, member_office_ids, require, require_any
from rumbo.people.models import Person

TAGS = ["messaging"]


def _offices(request: Request, perm: Perm, office_id: int | None) -> list[int]:
    """Offices a list covers: where the user has ``perm`` (403 when nowhere), or the one asked for (400 at
    ``office`` when the user holds no role there, 403 without ``perm``)."""
    allowed = require_any(request.user, perm)
    if office_id is None:
        return sorted(allowed)
    if office_id not in member_office_ids(request.user):
        raise ValidationError({"office": [_("Choose one of your offices.")]})
    require(request.user, perm, office_id)
    return [office_id]


def _related(model: Any, pk: int | None, office_ids: list[int], field: str) -> Any:
    """A filter's record (campaign, person, channel) in the listed offices, or a 400 at its parameter."""
    if pk is None:
        return None
    obj = model.objects.filter(pk=pk, office_id__in=office_ids).first()
    if obj is None:
        raise ValidationError({field: [_("No such record in your offices.")]})
    return obj


def _page(request: Request, queryset: QuerySet[Any], serializer: Any) -> tuple[Response, int]:
    PageQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request) or []
    return paginator.get_paginated_response(serializer(page, many=True).data), len(page)


# --- Channels -----------------------------------------------------------------------------------------------


@extend_schema(
    operation_id="messaging_channels_list",
    tags=TAGS,
    summary="Channels with their figures",
    description="Channels of the offices where you may view messages (or of `office`), by office and order: "
    "messages per status, replies, opt-outs and messages sent per minute over the last 15 minutes. Gateway "
    "settings and webhook tokens are never returned.",
    parameters=[ChannelQuerySerializer, PageQuerySerializer],
    responses={200: page_serializer(ChannelSerializer, "MessagingChannelPage"), **error_responses(400, 404)},
)
@api_view(["GET"])
def channel_list(request: Request) -> Response:
    params = query_params(request, ChannelQuerySerializer)
    office_ids = _offices(request, Perm.VIEW_MESSAGES, params.get("office"))
    PageQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
    stats = [
        stat
        for office in Office.objects.filter(pk__in=office_ids).order_by("pk")
        for stat in selectors.channel_stats(office=office)
    ]
    paginator = Pagination()
    page: list[Any] = paginator.paginate_queryset(stats, request) or []  # type: ignore[arg-type]
    return paginator.get_paginated_response(ChannelSerializer(page, many=True).data)


def _channel_action(request: Request, pk: int, *, pause: bool) -> Response:
    require_any(request.user, Perm.MANAGE_CHANNELS)
    channel = get_object_or_404(
        Channel.objects.select_related("office"), pk=pk, office_id__in=member_office_ids(request.user)
    )
    require(request.user, Perm.MANAGE_CHANNELS, channel.office_id)
    if pause:
        pause_channel(actor=request.user, channel=channel)
    else:
        resume_channel(actor=request.user, channel=channel)
    stat = next(s for s in selectors.channel_stats(office=channel.office) if s.channel.pk == channel.pk)
    return Response(ChannelSerializer(stat).data)


@extend_schema(
    operation_id="messaging_channels_pause",
    tags=TAGS,
    summary="Pause a channel",
    description="Stops sending on the channel: its queued messages wait (they do not fail). Pausing a paused "
    "channel changes nothing. Office administrators only. Audited.",
    request=None,
    responses={200: ChannelSerializer, **error_responses(404)},
)
@api_view(["POST"])
def channel_pause(request: Request, pk: int) -> Response:
    return _channel_action(request, pk, pause=True)


@extend_schema(
    operation_id="messaging_channels_resume",
    tags=TAGS,
    summary="Resume a paused channel",
    description="Sends again on the channel; its waiting messages are picked up at once. Office "
    "administrators only. Audited.",
    request=None,
    responses={200: ChannelSerializer, **error_responses(404)},
)
@api_view(["POST"])
def channel_resume(request: Request, pk: int) -> Response:
    return _channel_action(request, pk, pause=False)


# --- Messages -----------------------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    operation_id="messaging_messages_list",
    tags=TAGS,
    summary="The outbox",
    description="Messages of the offices where you may view messages (or of `office`), newest first, "
    "optionally of one status, campaign, person or channel (400 at the parameter when it is not a record of "
    "those offices). Every call is audited (messages are personal data).",
    parameters=[MessageQuerySerializer, PageQuerySerializer],
    responses={200: page_serializer(MessageSerializer, "MessagingMessagePage"), **error_responses(400, 404)},
)
@extend_schema(
    methods=["POST"],
    operation_id="messaging_messages_create",
    tags=TAGS,
    summary="Queue a message for a person",
    description="Queues one message from `template` to `person` (201). The text is chosen in the person's "
    "preferred language (else the template's fallback) and the channel as described at `channel_kind`. "
    "Everything is checked before anything is queued: 400 at `template` (unknown variable, not of the "
    "person's office), `context` (unknown variable), `person` (not of your offices, anonymised, opted out, "
    "no usable address) or `channel_kind` (no such channel; the person's address for it cannot be used — "
    "an invalid email, a landline for SMS). With `key`, sending again answers 200 with the message already "
    "queued. 403 without the permission to send messages in the person's office.",
    request=MessageCreateSerializer,
    responses={200: MessageSerializer, 201: MessageSerializer, **error_responses(400, 415)},
)
@api_view(["GET", "POST"])
@parser_classes([JSONParser])
def message_list(request: Request) -> Response:
    if request.method == "POST":
        return _message_create(request)
    params = query_params(request, MessageQuerySerializer)
    office_ids = _offices(request, Perm.VIEW_MESSAGES, params.get("office"))
    campaign = _related(Campaign, params.get("campaign"), office_ids, "campaign")
    person = _related(Person, params.get("person"), office_ids, "person")
    channel = _related(Channel, params.get("channel"), office_ids, "channel")
    query = Message.objects.filter(office_id__in=office_ids)
    if params.get("status"):
        query = query.filter(status=params["status"])
    for name, value in (("campaign", campaign), ("person", person), ("channel", channel)):
        if value is not None:
            query = query.filter(**{name: value})
    response, shown = _page(request, query.select_related("channel").order_by("-id"), MessageSerializer)
    _audit_read(request, office_ids, "messages", shown, params)
    return response


def _audit_read(
    request: Request, office_ids: list[int], what: str, shown: int, params: dict[str, Any]
) -> None:
    audit_record(
        actor=request.user,
        action=Action.MESSAGES_VIEW,
        office=Office.objects.get(pk=office_ids[0]) if len(office_ids) == 1 else None,
        object_type=f"messaging.{what}",
        detail={
            "via": "api",
            "offices": office_ids,
            "shown": shown,
            "filters": {k: v for k, v in params.items() if v is not None},
        },
    )


def _message_create(request: Request) -> Response:
    require_any(request.user, Perm.SEND_MESSAGES)
    serializer = MessageCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    person = (
        Person.objects.filter(
            pk=data["person"], office_id__in=member_office_ids(request.user), merged_into__isnull=True
        )
        .select_related("office")
        .first()
    )
    if person is None:
        raise ValidationError({"person": [_("No such person in your offices.")]})
    require(request.user, Perm.SEND_MESSAGES, person.office_id)
    template = Template.objects.filter(pk=data["template"], office_id=person.office_id).first()
    if template is None:
        raise ValidationError({"template": [_("Choose a template of the person's office.")]})
    key = data.get("key")
    existed = bool(key) and Message.objects.filter(idempotency_key=f"o{person.office_id}:{key}").exists()
    minutes = data.get("expires_in_minutes")
    try:
        message = queue_message(
            actor=request.user,
            office=person.office,
            person=person,
            template=template,
            context=data.get("context") or None,
            channel_kind=data.get("channel_kind") or None,
            key=key,
            expires_in=timedelta(minutes=minutes) if minutes else None,
        )
    except DjangoValidationError as exc:
        raise ValidationError(django_validation_detail(exc)) from exc
    message = Message.objects.select_related("channel").get(pk=message.pk)
    return Response(
        MessageSerializer(message).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
    )


# --- Inbound ------------------------------------------------------------------------------------------------


@extend_schema(
    operation_id="messaging_inbound_list",
    tags=TAGS,
    summary="Replies and delivery receipts",
    description="What the offices' channels received (of the offices where you may view messages, or of "
    "`office`), newest first, optionally of one kind, campaign, person or channel, or only opt-outs "
    "(400 at the parameter when it is not a record of those offices). Every call is audited.",
    parameters=[InboundQuerySerializer, PageQuerySerializer],
    responses={200: page_serializer(InboundSerializer, "MessagingInboundPage"), **error_responses(400, 404)},
)
@api_view(["GET"])
def inbound_list(request: Request) -> Response:
    params = query_params(request, InboundQuerySerializer)
    office_ids = _offices(request, Perm.VIEW_MESSAGES, params.get("office"))
    campaign = _related(Campaign, params.get("campaign"), office_ids, "campaign")
    person = _related(Person, params.get("person"), office_ids, "person")
    channel = _related(Channel, params.get("channel"), office_ids, "channel")
    query = Inbound.objects.filter(office_id__in=office_ids)
    if params.get("kind"):
        query = query.filter(kind=params["kind"])
    if params.get("opt_out") is not None:
        query = query.filter(opt_out=params["opt_out"])
    for name, value in (("campaign", campaign), ("person", person), ("channel", channel)):
        if value is not None:
            query = query.filter(**{name: value})
    response, shown = _page(request, query.order_by("-received_at", "-id"), InboundSerializer)
    _audit_read(request, office_ids, "inbound", shown, params)
    return response


urlpatterns = [
    path("messaging/channels/", channel_list, name="api-messaging-channels"),
    path("messaging/channels/<int:pk>/pause/", channel_pause, name="api-messaging-channel-pause"),
    path("messaging/channels/<int:pk>/resume/", channel_resume, name="api-messaging-channel-resume"),
    path("messaging/messages/", message_list, name="api-messaging-messages"),
    path("messaging/inbound/", inbound_list, name="api-messaging-inbound"),
]
