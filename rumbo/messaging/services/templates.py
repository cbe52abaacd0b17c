"""Message templates: one text per language, checked completely when saved."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from rumbo.audit.models import Action
from rumbo.audit.services import audit_record
from rumbo.lib.validation import FieldErrors
from rumbo.messaging.models import Template, TemplateText
from rumbo.messaging.rendering import check_text
from rumbo.messaging.segments import sms_segments
from rumbo.offices.models import Office
from rumbo.offices.permissions import Perm, require
from rumbo.people.validators import validate_language


def save_template(
    *,
    actor: Any,
    office: Office,
    key: str,
    name: str,
    emergency: bool = False,
    fallback_language: str = "spa",
    texts: Mapping[str, tuple[str, str]],
    create: bool = False,
) -> Template:
    """Create or replace the template ``key`` of ``office`` with ``texts`` (ISO 639-3 language → (subject,
    body)); languages not in ``texts`` are removed. Needs ``MANAGE_CHANNELS``. With ``create`` (a new
    template), a key the office already uses is an error at ``key``, never a replacement.

    Every subject and body is checked with :func:`rendering.check_text` (unknown variable, bad braces), the
    error at ``texts.<language>.subject`` / ``texts.<language>.body``; the fallback language must be one of
    the texts. Audits ``TEMPLATE_SAVE`` with the languages and the SMS segment count of each body.
    """
    require(actor, Perm.MANAGE_CHANNELS, office.pk)
    errors = FieldErrors()
    key = (key or "").strip()
    if not key or slugify(key) != key or len(key) > 60:
        errors.add(
            "key", _("Use lower-case letters, digits and hyphens only (at most 60), e.g. safety-check.")
        )
    name = (name or "").strip()
    if not name:
        errors.add("name", _("Enter a name."))
    elif len(name) > 150:
        errors.add("name", _("At most 150 characters."))
    fallback = errors.check("fallback_language", lambda: validate_language(fallback_language)) or ""
    cleaned: dict[str, tuple[str, str]] = {}
    if not texts:
        errors.add("texts", _("Write the text in at least one language."))
    for raw_language, pair in texts.items():
        language = errors.check(f"texts.{raw_language}", partial(validate_language, raw_language))
        if not language:
            continue
        subject, body = (str(pair[0] or "").strip(), str(pair[1] or "").strip())
        if len(subject) > 200:
            errors.add(f"texts.{language}.subject", _("At most 200 characters."))
        errors.check(f"texts.{language}.subject", partial(check_text, subject))
        if not body:
            errors.add(f"texts.{language}.body", _("Write the text of the message."))
        errors.check(f"texts.{language}.body", partial(check_text, body))
        cleaned[language] = (subject, body)
    if fallback and cleaned and fallback not in cleaned:
        errors.add("fallback_language", _("The fallback language must be one of the languages written."))
    errors.raise_if_any()
    with transaction.atomic():
        template, created = Template.objects.select_for_update().get_or_create(
            office=office,
            key=key,
            defaults={"name": name, "emergency": bool(emergency), "fallback_language": fallback},
        )
        if not created and create:
            raise ValidationError({"key": [_("A template with this key already exists.")]})
        if not created:
            template.name = name
            template.emergency = bool(emergency)
            template.fallback_language = fallback
            template.save()
        existing = {t.language: t for t in template.texts.all()}
        for language, (subject, body) in cleaned.items():
            row = existing.pop(language, None)
            if row is None:
                TemplateText.objects.create(template=template, language=language, subject=subject, body=body)
            elif (row.subject, row.body) != (subject, body):
                row.subject, row.body = subject, body
                row.save(update_fields=["subject", "body"])
        if existing:
            TemplateText.objects.filter(pk__in=[t.pk for t in existing.values()]).delete()
        audit_record(
            actor=actor,
            action=Action.TEMPLATE_SAVE,
            office=office,
            obj=template,
            detail={
                "created": created,
                "key": key,
                "emergency": bool(emergency),
                "languages": sorted(cleaned),
                "sms_segments": {lang: sms_segments(body).segments for lang, (_s, body) in cleaned.items()},
            },
        )
    return template


def template_texts(template: Template) -> dict[str, tuple[str, str]]:
    """The template's texts as ``save_template`` takes them."""
    return {t.language: (t.subject, t.body) for t in template.texts.all()}


def check_template(template: Template) -> None:
    """Raise a ValidationError at ``template`` if any stored text no longer checks (e.g. a variable that was
    removed from Rumbo since the template was saved)."""
    problems: list[str] = []
    for text in template.texts.all():
        for value in (text.subject, text.body):
            try:
                check_text(value)
            except ValidationError as exc:
                problems.extend(f"[{text.language}] {m}" for m in exc.messages)
    if not template.texts.exists():
        problems.append(str(_("The template has no text.")))
    if problems:
        raise ValidationError({"template": problems})
