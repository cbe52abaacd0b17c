"""Forms of the login flow and the account pages. Errors always land on the field that caused them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise


class LoginForm(AuthenticationForm):
    """Username and password. Django's form already marks the fields ``username``/``current-password``
    for password managers; a wrong pair gives one error for the form, never saying which field was wrong."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocapitalize": "none", "spellcheck": "false"})


def _code_field(label: StrOrPromise, help_text: StrOrPromise = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


class EnrolConfirmForm(forms.Form):
    """The first code shown by the authenticator app, proving it was set up correctly (checked by
    :func:`rumbo.accounts.services.two_factor_confirm`, whose error the view puts on the field)."""

    code = _code_field(_("Code from the app"), _("The 6-digit code your authenticator app shows for Rumbo."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs["inputmode"] = "numeric"


class VerifyForm(forms.Form):
    """A code from the authenticator app, or one of the backup codes."""

    code = _code_field(
        _("Verification code"),
        _("The 6-digit code from your authenticator app, or one of your backup codes."),
    )


class RumboPasswordChangeForm(PasswordChangeForm):
    """Django's form (current password, then the new one twice, checked by AUTH_PASSWORD_VALIDATORS at the
    second field). Only the autocomplete hints are Rumbo's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["old_password"].widget.attrs["autocomplete"] = "current-password"
        for name in ("new_password1", "new_password2"):
            self.fields[name].widget.attrs["autocomplete"] = "new-password"
