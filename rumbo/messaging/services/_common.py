"""Helpers shared by the messaging services: addresses, channel order, languages. (Field errors are
collected with ``rumbo.lib.validation.FieldErrors``, as in every app.)"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, validate_email
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from rumbo.messaging.models import Channel, ChannelKind, Message
from rumbo.people.validators import phone_can_receive_sms


class SkipReason(models.TextChoices):
    """Why a recipient of a campaign got no message (reported after queueing, never an error)."""

    NO_CONTACT = "no_contact", _("No address for any active channel")
    INVALID_EMAIL = "invalid_email", _("The email address is not valid")
    NOT_MOBILE = "not_mobile", _("The phone cannot receive SMS (landline or invalid number)")
    OPTED_OUT = "opted_out", _("Opted out of messages (non-emergency message)")
    OPTED_OUT_EMERGENCY = "opted_out_emergency", _("Withdrew consent to emergency contact")
    ANONYMISED = "anonymised", _("The person's record was anonymised")
    MERGED = "merged", _("The record was merged into another one")
    NOT_IN_OFFICE = "not_in_office", _("Not a person of this office")


# --- Addresses ----------------------------------------------------------------------------------------

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL_QUICK = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Django's own patterns, compiled here: the validator's are lazy objects, slow to reach a million times.
_EMAIL_USER = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
_EMAIL_DOMAIN = re.compile(EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags)


def email_is_valid(address: str) -> bool:
    """Django's email check. Common addresses are accepted by its two regular expressions directly (3 µs);
    anything else (internationalised domains, IP literals, odd quoting) goes through the full validator."""
    if not address or not _EMAIL_QUICK.match(address) or len(address) > 320:
        return False
    user, _at, domain = address.rpartition("@")
    if _EMAIL_USER.match(user) and _EMAIL_DOMAIN.match(domain):
        return True
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


_SMS_BY_PREFIX: dict[tuple[str, int], bool] = {}


def sms_capable(e164: str, *, exact: bool = False) -> bool:
    """Whether an E.164 number can receive SMS according to ``phonenumbers`` (mobile, or "fixed line or
    mobile" where the numbering plan does not tell them apart, as in Mexico and the US).

    Classifying a number costs ~60 µs, a minute for a million recipients. The bulk path (``exact=False``)
    classifies the first number of each prefix (country code and the first six digits: numbering plans assign
    types by these leading digits) and length, and reuses the answer for the numbers that share them; single
    sends classify exactly.
    """
    if not e164 or not _E164.match(e164):
        return False
    if exact:
        return phone_can_receive_sms(e164)
    key = (e164[:8], len(e164))
    known = _SMS_BY_PREFIX.get(key)
    if known is None:
        if len(_SMS_BY_PREFIX) > 200_000:
            _SMS_BY_PREFIX.clear()
        known = _SMS_BY_PREFIX[key] = phone_can_receive_sms(e164)
    return known


@dataclass(frozen=True, slots=True)
class PhoneRow:
    e164: str
    kind: str
    whatsapp: bool
    is_primary: bool


@dataclass(slots=True)
class Contact:
    """What the outbox knows about how to reach one person."""

    person_id: int
    office_id: int
    given_names: str
    first_surname: str
    second_surname: str
    email: str
    language: str
    anonymised: bool
    merged: bool
    phones: list[PhoneRow]
    preferred_kind: str = ""
    messages_withdrawn: bool = False
    emergency_withdrawn: bool = False

    @property
    def surnames(self) -> str:
        return " ".join(s for s in (self.first_surname, self.second_surname) if s)

    @property
    def full_name(self) -> str:
        return " ".join(s for s in (self.given_names, self.first_surname, self.second_surname) if s)


class AddressProblem(Exception):
    """The person has no usable address for a channel kind; ``reason`` is a SkipReason."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def address_for(contact: Contact, kind: str, *, exact: bool = False) -> str:
    """The address of ``contact`` on a channel kind, or AddressProblem saying why there is none."""
    if kind == ChannelKind.EMAIL:
        if not contact.email:
            raise AddressProblem(SkipReason.NO_CONTACT)
        if not email_is_valid(contact.email):
            raise AddressProblem(SkipReason.INVALID_EMAIL, contact.email)
        return contact.email
    if kind == ChannelKind.SMS:
        bad = ""
        for phone in contact.phones:  # primary first
            if phone.kind != "landline" and sms_capable(phone.e164, exact=exact):
                return phone.e164
            bad = bad or phone.e164
        raise AddressProblem(SkipReason.NOT_MOBILE if bad else SkipReason.NO_CONTACT, bad)
    if kind == ChannelKind.WHATSAPP:
        for phone in contact.phones:
            if phone.whatsapp and _E164.match(phone.e164):
                return phone.e164
        raise AddressProblem(SkipReason.NO_CONTACT)
    if kind == ChannelKind.CONSOLE:
        if contact.email and email_is_valid(contact.email):
            return contact.email
        for phone in contact.phones:
            if _E164.match(phone.e164):
                return phone.e164
        raise AddressProblem(SkipReason.NO_CONTACT)
    raise AddressProblem(SkipReason.NO_CONTACT)


def ordered_channels(channels: Sequence[Channel], preferred_kind: str) -> list[Channel]:
    """The office's channels in the order to try them: the person's preferred kind first, then by priority."""
    if not preferred_kind:
        return list(channels)
    first = [c for c in channels if c.kind == preferred_kind]
    return first + [c for c in channels if c.kind != preferred_kind]


def choose_channel(
    contact: Contact,
    channels: Sequence[Channel],
    *,
    exclude: Iterable[int] = (),
    exact: bool = False,
) -> tuple[Channel, str]:
    """The first channel (in :func:`ordered_channels` order) on which the person has an address.

    Raises AddressProblem with the most telling reason when there is none (an invalid email or a landline
    says more than "no contact").
    """
    excluded = set(exclude)
    problems: list[AddressProblem] = []
    for channel in ordered_channels(channels, contact.preferred_kind):
        if channel.pk in excluded:
            continue
        try:
            return channel, address_for(contact, channel.kind, exact=exact)
        except AddressProblem as exc:
            problems.append(exc)
    for reason in (SkipReason.INVALID_EMAIL, SkipReason.NOT_MOBILE):
        for found in problems:
            if found.reason == reason:
                raise found
    raise AddressProblem(SkipReason.NO_CONTACT)


def active_channels(office_id: int) -> list[Channel]:
    """The office's active channels by priority (paused ones included: their messages wait)."""
    return list(Channel.objects.filter(office_id=office_id, is_active=True).order_by("priority", "id"))


# --- Languages -----------------------------------------------------------------------------------------

# ISO 639-3 codes of the languages Rumbo's interface is translated into → Django language codes.
_UI_LANGUAGES = {"spa": "es", "eng": "en"}


def ui_language(iso639_3: str) -> str:
    """The Django language for texts Rumbo itself adds to a message (the reply hint)."""
    return _UI_LANGUAGES.get(iso639_3, settings.LANGUAGE_CODE)


@lru_cache(maxsize=32)
def reply_hint(iso639_3: str, channel_kind: str) -> str:
    """The sentence telling the person how to answer or stop the messages, in the message's language."""
    word = (getattr(settings, "RUMBO_MESSAGING_OPT_OUT_WORDS", None) or ["BAJA"])[0]
    with translation.override(ui_language(iso639_3)):
        if channel_kind == ChannelKind.EMAIL:
            return str(_("Answer this email if you need help."))
        return str(
            _("Reply to this message if you need help. Reply %(word)s to stop messages.") % {"word": word}
        )


def fallback_key(original_key: str, channel_id: int) -> str:
    """The idempotency key of the fallback of a message on another channel (one per channel)."""
    root = original_key.split(":fb", 1)[0]
    return f"{root}:fb{channel_id}"[: Message._meta.get_field("idempotency_key").max_length or 120]
