"""Forms of the messaging pages: channels, templates, campaigns and a single message.

The forms check what a browser can get wrong (types, lengths, choices); the services validate everything
again and their errors land at the field that caused them. Service error keys are dotted
(``config.host``, ``texts.spa.body``); the form fields are named the same with ``__`` instead of dots, so
:func:`add_service_errors` can put each message at its field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from rumbo.messaging.adapters import config_fields
from rumbo.messaging.models import ChannelKind, Template
from rumbo.people.validators import (
    country_choices,
    language_choices,
    language_name,
    validate_language,
)

#: Languages every template offers a text for (Spanish first, English second).
BASE_LANGUAGES = ("spa", "eng")
_YES_NO = (("yes", _("Yes")), ("no", _("No")))


def form_key(service_key: str) -> str:
    """The form field name of a service error key (``texts.spa.body`` → ``texts__spa__body``)."""
    return service_key.replace(".", "__")


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError at the form's fields (unknown keys become non-field errors)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        name = form_key(key)
        if name in form.fields and name not in form.errors:
            form.add_error(name, messages)
        elif name in form.fields:
            form.errors[name].extend(messages)
        else:
            label = ""
            if name.startswith("texts__"):
                language = name.split("__")[1]
                label = f"{language_name(language)}: "
            form.add_error(None, [f"{label}{m}" for m in messages])


# --- Channels ---------------------------------------------------------------------------------------------


class ChannelForm(forms.Form):
    """A channel's name, sending identity, rate limit and order, plus the settings of its kind.

    Secrets (passwords, tokens) are write-only: never rendered back, and left blank they keep the stored
    value (``update_channel`` treats a blank secret as "unchanged").
    """

    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("E.g. “SMS Telcel” or “Avisos”."))
    sender = forms.CharField(label=_("Sending identity"), max_length=200)
    rate_per_second = forms.IntegerField(
        label=_("Rate limit (messages per second)"),
        min_value=1,
        max_value=100_000,
        initial=50,
        help_text=_("The gateway's contracted throughput."),
    )
    priority = forms.IntegerField(
        label=_("Order"),
        min_value=0,
        max_value=32_767,
        initial=10,
        help_text=_("Channels are tried in this order (lowest first) when a person has no preference."),
    )

    def __init__(
        self,
        *args: Any,
        kind: str,
        current_config: dict[str, str] | None = None,
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.editing = editing
        sender_help: dict[str, Any] = {
            ChannelKind.EMAIL: _("The From address, e.g. Avisos OFAM <avisos@ofam.gob.mx>."),
            ChannelKind.SMS: _("The sender number in international form (+52…), a short code or a name."),
            ChannelKind.WHATSAPP: _("The WhatsApp phone number ID from the Meta developer console."),
            ChannelKind.CONSOLE: _("Any name: the console channel writes messages to a file."),
        }
        self.fields["sender"].help_text = sender_help.get(kind, "")
        if editing:
            self.fields["is_active"] = forms.BooleanField(
                label=_("Active"),
                required=False,
                help_text=_("An inactive channel is not used for new messages; a paused one only waits."),
            )
        current = current_config or {}
        self.config_names: list[str] = []
        self.secret_names: set[str] = set()
        for spec in config_fields(kind):
            name = f"config__{spec.name}"
            self.config_names.append(name)
            label = capfirst(str(spec.label))
            help_text = str(spec.help_text)
            field: forms.Field
            if spec.secret:
                self.secret_names.add(name)
                if editing:
                    help_text = str(_("Leave blank to keep the current value."))
                field = forms.CharField(
                    label=label,
                    required=spec.required and not editing,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    help_text=help_text,
                    strip=True,
                )
            elif spec.default in ("yes", "no"):
                field = forms.ChoiceField(label=label, choices=_YES_NO, help_text=help_text)
                field.initial = current.get(spec.name) or spec.default
            else:
                field = forms.CharField(
                    label=label, required=spec.required, help_text=help_text, max_length=500, strip=True
                )
                field.initial = current.get(spec.name, spec.default if not editing else "")
            self.fields[name] = field

    def config(self) -> dict[str, str]:
        """The kind's settings as the service takes them (blank secrets included: "keep")."""
        return {
            name.removeprefix("config__"): str(self.cleaned_data.get(name) or "")
            for name in self.config_names
        }

    def general_fields(self) -> list[forms.BoundField]:
        names = ["name", "sender", "rate_per_second", "priority"] + (["is_active"] if self.editing else [])
        return [self[name] for name in names]

    def config_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.config_names]


# --- Templates --------------------------------------------------------------------------------------------


def _language_code(value: str) -> str:
    return str(value or "").strip().lower()


class TemplateForm(forms.Form):
    """A template's key, name, emergency flag, fallback language and one text per language.

    Spanish and English are always offered; other languages (ISO 639-3) are added with "Add language", which
    re-shows the form with one more text without saving. A language whose text is left blank is not saved
    (except the fallback language, which needs a text).
    """

    key = forms.SlugField(
        label=_("Key"),
        max_length=60,
        help_text=_("A short name used by plans and campaigns, e.g. safety-check. It cannot change later."),
    )
    name = forms.CharField(label=_("Name"), max_length=150)
    emergency = forms.BooleanField(
        label=_("Emergency message"),
        required=False,
        help_text=_("Emergency messages are sent even to people who opted out of other messages."),
    )
    fallback_language = forms.ChoiceField(
        label=_("Fallback language"),
        help_text=_("Used when the template has no text in the person's preferred language."),
    )
    languages = forms.CharField(widget=forms.HiddenInput, required=False)
    add_language = forms.ChoiceField(label=_("Add a language"), required=False)
    add_language_code = forms.CharField(
        label=_("…or another language (ISO 639-3 code)"),
        required=False,
        max_length=3,
        help_text=_("E.g. tzo (Tsotsil), mam (Mam), cab (Garifuna)."),
    )

    def __init__(
        self,
        *args: Any,
        template: Template | None = None,
        texts: dict[str, tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        texts = texts or {}
        if template is not None:
            key_field = self.fields["key"]
            key_field.disabled = True
            key_field.help_text = _("Plans and campaigns refer to this key; it cannot change.")
            self.initial.setdefault("key", template.key)
            self.initial.setdefault("name", template.name)
            self.initial.setdefault("emergency", template.emergency)
            self.initial.setdefault("fallback_language", template.fallback_language)
        posted = self._posted_languages()
        self.language_codes = list(dict.fromkeys([*BASE_LANGUAGES, *texts, *posted]))
        for code in self.language_codes:
            subject, body = texts.get(code, ("", ""))
            self._add_text_fields(code, subject, body)
        self.fields["languages"].initial = ",".join(self.language_codes)
        fallback: Any = self.fields["fallback_language"]
        fallback.choices = [(code, language_name(code)) for code in self.language_codes]
        adder: Any = self.fields["add_language"]
        adder.choices = [("", "—")] + [
            (code, name) for code, name in language_choices() if code not in self.language_codes
        ]

    def _posted_languages(self) -> list[str]:
        if not self.is_bound:
            return []
        codes: list[str] = []
        for raw in str(self.data.get("languages", "")).split(","):
            code = _language_code(raw)
            try:
                codes.append(validate_language(code))
            except ValidationError:
                continue
        return codes

    def _add_text_fields(self, code: str, subject: str, body: str) -> None:
        name = language_name(code)
        self.fields[f"texts__{code}__subject"] = forms.CharField(
            label=_("Subject (email) — %(language)s") % {"language": name},
            required=False,
            max_length=200,
            initial=subject,
        )
        field_name = f"texts__{code}__body"
        self.fields[field_name] = forms.CharField(
            label=_("Text — %(language)s") % {"language": name},
            required=False,
            initial=body,
            strip=False,
            widget=forms.Textarea(
                attrs={
                    "rows": 5,
                    "lang": _html_lang(code),
                    # The live SMS length check: the text alone goes to the counter as it is typed.
                    "hx-post": reverse("messaging:segments"),
                    "hx-trigger": "input changed delay:250ms",
                    "hx-params": field_name,
                    "hx-target": f"#seg-{code}",
                    "hx-swap": "innerHTML",
                    "aria-describedby": f"seg-{code}",
                }
            ),
        )

    def language_added(self) -> str:
        """The language the user asked to add (validated), or ""."""
        data = self.cleaned_data
        code = _language_code(data.get("add_language_code") or data.get("add_language") or "")
        if not code:
            return ""
        try:
            return validate_language(code)
        except ValidationError as exc:
            self.add_error("add_language_code", exc)
            return ""

    def with_language(self, code: str) -> TemplateForm:
        """The same form (bound to the same data) with one more language text."""
        data: Any = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict when bound
        data["languages"] = ",".join([*self.language_codes, code])
        data["add_language"] = ""
        data["add_language_code"] = ""
        return TemplateForm(data, template=self.template)

    def clean_add_language_code(self) -> str:
        return _language_code(self.cleaned_data.get("add_language_code", ""))

    def texts(self) -> dict[str, tuple[str, str]]:
        """Language → (subject, body) for the languages with a text (and always the fallback language)."""
        fallback = self.cleaned_data.get("fallback_language", "")
        out: dict[str, tuple[str, str]] = {}
        for code in self.language_codes:
            subject = str(self.cleaned_data.get(f"texts__{code}__subject") or "")
            body = str(self.cleaned_data.get(f"texts__{code}__body") or "")
            if body.strip() or subject.strip() or code == fallback:
                out[code] = (subject, body)
        return out

    def text_blocks(self) -> list[tuple[str, str, forms.BoundField, forms.BoundField]]:
        """(code, language name, subject field, body field) for the template."""
        return [
            (code, language_name(code), self[f"texts__{code}__subject"], self[f"texts__{code}__body"])
            for code in self.language_codes
        ]


def _html_lang(code: str) -> str:
    """An HTML ``lang`` value for an ISO 639-3 code (two letters where BCP 47 wants them)."""
    return {"spa": "es", "eng": "en", "fra": "fr", "por": "pt"}.get(code, code)


# --- Campaigns and single messages ------------------------------------------------------------------------


class CampaignForm(forms.Form):
    """Who receives which template: all persons of the office, optionally only those of one nationality or
    who speak one language. Previewed before anything is queued."""

    name = forms.CharField(label=_("Campaign name"), max_length=200)
    template = forms.ModelChoiceField(label=_("Template"), queryset=Template.objects.none(), empty_label=None)
    nationality = forms.ChoiceField(label=_("Only persons of this nationality"), required=False)
    language = forms.ChoiceField(label=_("Only persons who speak this language"), required=False)
    link = forms.URLField(
        label=_("Web link"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_("Fills the {{ link }} variable, e.g. a safety-check form."),
    )
    expires_in_hours = forms.IntegerField(
        label=_("Expires after (hours)"),
        required=False,
        min_value=1,
        max_value=24 * 30,
        help_text=_(
            "Messages not sent by then are dropped (an alert that is no longer useful). Blank: never."
        ),
    )

    def __init__(self, *args: Any, templates: QuerySet[Template], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        template_field: Any = self.fields["template"]
        template_field.queryset = templates
        template_field.label_from_instance = lambda t: (
            f"{t.name} ({_('emergency')})" if t.emergency else t.name
        )
        nationality: Any = self.fields["nationality"]
        nationality.choices = [("", _("Any nationality")), *country_choices()]
        language: Any = self.fields["language"]
        language.choices = [("", _("Any language")), *language_choices()]


class SendForm(forms.Form):
    """One message to one person: a template and, optionally, the channel to use."""

    template = forms.ModelChoiceField(label=_("Template"), queryset=Template.objects.none(), empty_label=None)
    channel_kind = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        help_text=_("Automatic: the person's preferred channel, else the office's channels in order."),
    )
    link = forms.URLField(
        label=_("Web link"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_("Fills the {{ link }} variable, if the template uses it."),
    )

    def __init__(
        self, *args: Any, templates: QuerySet[Template], kinds: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        template_field: Any = self.fields["template"]
        template_field.queryset = templates
        kind_field: Any = self.fields["channel_kind"]
        labels = dict(ChannelKind.choices)
        kind_field.choices = [("", _("Automatic")), *[(k, labels[k]) for k in kinds if k in labels]]


class PreferenceForm(forms.Form):
    """The channel a person asked to be reached on (tried first), or automatic."""

    channel_kind = forms.ChoiceField(label=_("Preferred channel"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["channel_kind"]
        field.choices = [
            ("", _("Automatic (the office's order)")),
            *[(k, label) for k, label in ChannelKind.choices if k != ChannelKind.CONSOLE],
        ]


class SegmentsForm(forms.Form):
    """The text whose SMS cost is counted as the user types (any ``texts__<lang>__body`` or ``text``)."""

    text = forms.CharField(required=False, strip=False, max_length=10_000)

    @classmethod
    def from_request(cls, data: Any, trigger_name: str = "") -> SegmentsForm:
        """The form for a request: ``text``, else the field that triggered the request (htmx sends its
        name), else the first text body posted."""
        text = data.get("text")
        if text is None and trigger_name:
            text = data.get(trigger_name)
        if text is None:
            for key in data:
                if key.startswith("texts__") and key.endswith("__body"):
                    text = data.get(key)
                    break
        return cls({"text": text or ""})
