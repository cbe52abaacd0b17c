"""Login flow (password, then two-factor enrolment or verification) and the user's own account pages."""

from __future__ import annotations

from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from rumbo.accounts import selectors, services
from rumbo.accounts.forms import EnrolConfirmForm, LoginForm, RumboPasswordChangeForm, VerifyForm


def _safe_next(request: HttpRequest, default: str | None = None) -> str:
    """The ``next`` parameter when it points into this site, else ``default`` (the home page)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default or resolve_url(settings.LOGIN_REDIRECT_URL)


def _step_url(step: str, next_url: str) -> str:
    name = "accounts:two_factor_enrol" if step == "enrol" else "accounts:two_factor_verify"
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


class LoginView(auth_views.LoginView):
    """Username and password (django-axes counts failures and locks out); then, when the user has or needs
    a second factor, on to verification or enrolment, carrying ``next`` along."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["login_failure_limit"] = settings.AXES_FAILURE_LIMIT
        return context

    def get_success_url(self) -> str:
        url = super().get_success_url()
        step = selectors.pending_two_factor_step(self.request)
        return _step_url(step, url) if step else url


class LogoutView(auth_views.LogoutView):
    """Log out (POST only, as Django's view) and say so on the login page."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.success(request, _("You have logged out."))
        return response


def _secret_for_manual_entry(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@login_required
def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: QR code (and the secret as text), then a first code to confirm it.
    On success the session counts as verified and the backup codes are shown, once."""
    user = request.user
    next_url = _safe_next(request)
    if selectors.has_two_factor(user):
        messages.info(request, _("Two-factor authentication is already set up for your account."))
        return redirect("accounts:security")
    device = services.two_factor_start(actor=user)
    form = EnrolConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.two_factor_confirm(actor=user, device=device, code=form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error("code", exc)
        else:
            device.refresh_from_db()
            request.session.cycle_key()  # the session just gained a privilege
            otp_login(request, device)
            request.session[selectors.ENROLLED_SESSION_KEY] = True
            return render(
                request,
                "accounts/backup_codes.html",
                {"codes": codes, "next": next_url, "just_enrolled": True},
            )
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "next": next_url,
            "qr_data_uri": qr.svg_data_uri(scale=5, border=4, dark="#000", light="#fff"),
            "secret": _secret_for_manual_entry(device),
            "required": selectors.two_factor_required(user),
        },
    )


@never_cache
@sensitive_post_parameters("code")
@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of logging in: a code from the authenticator app, or a backup code."""
    user = request.user
    next_url = _safe_next(request)
    if getattr(user, "otp_device", None) is not None:
        return HttpResponseRedirect(next_url)
    if not selectors.has_two_factor(user):
        request.session[selectors.ENROLLED_SESSION_KEY] = False
        if selectors.two_factor_required(user):
            return HttpResponseRedirect(_step_url("enrol", next_url))
        return HttpResponseRedirect(next_url)
    form = VerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.two_factor_verify(actor=user, code=form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error("code", exc)
        else:
            request.session.cycle_key()  # the session just gained a privilege
            otp_login(request, device)
            if selectors.backup_codes_left(user) <= 2:
                messages.warning(request, _("You are running out of backup codes. Generate new ones."))
            return HttpResponseRedirect(next_url)
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": next_url})


@never_cache
@login_required
def security(request: HttpRequest) -> HttpResponse:
    """The user's account security: two-factor status and actions, link to change the password."""
    user = request.user
    return render(
        request,
        "accounts/security.html",
        {
            "required": selectors.two_factor_required(user),
            "enrolled": selectors.has_two_factor(user),
            "device": selectors.totp_device(user),
            "backup_codes_left": selectors.backup_codes_left(user),
            "idle_minutes": settings.SESSION_IDLE_MINUTES,
        },
    )


@require_POST
@login_required
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    """Turn two-factor authentication off, for users who are not required to use it."""
    try:
        services.two_factor_disable(actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        request.session[selectors.ENROLLED_SESSION_KEY] = False
        messages.success(request, _("Two-factor authentication is now off for your account."))
    return redirect("accounts:security")


@never_cache
@require_POST
@login_required
def backup_codes_regenerate(request: HttpRequest) -> HttpResponse:
    """Replace the backup codes and show the new ones, once."""
    try:
        codes = services.backup_codes_regenerate(actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:security")
    return render(
        request,
        "accounts/backup_codes.html",
        {"codes": codes, "next": reverse("accounts:security"), "just_enrolled": False},
    )


@never_cache
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    """Change the password: the current one, then the new one twice (Django's validators, errors at the
    field). Other sessions of the user end; this one continues."""
    form = RumboPasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_change(actor=request.user, new_password=form.cleaned_data["new_password1"])
        except ValidationError as exc:
            form.add_error("new_password2", exc)
        else:
            update_session_auth_hash(request, form.user)
            messages.success(request, _("Your password has been changed."))
            return redirect("accounts:security")
    return render(request, "accounts/password_change.html", {"form": form})


def _token_page_guard(request: HttpRequest) -> HttpResponse | None:
    """Tokens bypass the second factor, so only a fully verified session may handle them (the middleware
    already enforces this; checked here again because a token outlives the session)."""
    step = selectors.pending_two_factor_step(request)
    if step is not None:
        return HttpResponseRedirect(_step_url(step, reverse("accounts:tokens")))
    return None


@never_cache
@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's API token: when it was created; create (or replace) one, shown once; revoke it."""
    guard = _token_page_guard(request)
    if guard is not None:
        return guard
    new_key = ""
    if request.method == "POST":
        new_key = services.api_token_create(actor=request.user)
    return render(
        request,
        "accounts/tokens.html",
        {"token": selectors.api_token(request.user), "new_key": new_key},
    )


@require_POST
@login_required
def token_revoke(request: HttpRequest) -> HttpResponse:
    """Delete the user's API token; clients using it stop working at once."""
    guard = _token_page_guard(request)
    if guard is not None:
        return guard
    if services.api_token_revoke(actor=request.user):
        messages.success(request, _("Your API token has been revoked."))
    return redirect("accounts:tokens")
