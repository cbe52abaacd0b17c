"""Writes on the acting user's own account: two-factor devices, backup codes, password, API token, admins.

Every function validates first, writes in one transaction and leaves an audit event. Secrets (backup codes,
API token keys) are returned to the caller to be shown once; they never enter an audit event.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rumbo.accounts import selectors
from rumbo.accounts.models import ApiToken
from rumbo.audit.models import Action
from rumbo.audit.services import audit_record

BACKUP_CODE_COUNT = 10


def _clean_code(code: str) -> str:
    """Codes are typed on phones: drop spaces and dashes, ignore case."""
    return "".join(code.split()).replace("-", "").lower()


def _is_totp_shaped(code: str) -> bool:
    return code.isdigit() and len(code) in (6, 8)


def _throttle_error(device: Device) -> ValidationError | None:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return None
    return ValidationError(
        _("Too many wrong codes. Wait a moment before trying again."), code="throttled", params=data
    )


def two_factor_start(*, actor: Any) -> TOTPDevice:
    """Begin enrolment: the user's pending (unconfirmed) authenticator device, created if needed.

    The same pending device is reused until it is confirmed, so reloading the page keeps the QR code.
    """
    with transaction.atomic():
        device = selectors.totp_device(actor, confirmed=False)
        if device is None:
            device = TOTPDevice.objects.create(user=actor, name="Authenticator app", confirmed=False)
        return device


def _new_backup_codes(actor: Any) -> list[str]:
    """Replace the user's backup codes with a fresh set and return them (shown once)."""
    StaticDevice.objects.filter(user=actor).delete()
    device = StaticDevice.objects.create(user=actor, name="Backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _i in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def two_factor_confirm(*, actor: Any, device: TOTPDevice, code: str) -> list[str]:
    """Confirm a pending authenticator device with a code from the app; returns fresh backup codes.

    Raises ValidationError (for the code field) when the code is wrong; nothing is saved then except the
    device's throttling counter.
    """
    code = _clean_code(code)
    with transaction.atomic():
        # Locked so that two concurrent submissions cannot both pass the throttle; the failure counter
        # is committed even when the code is wrong (no exception inside this block).
        locked = (
            TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=actor, confirmed=False).first()
        )
        if locked is None:
            accepted, throttled = False, None
        else:
            throttled = _throttle_error(locked)
            accepted = throttled is None and _is_totp_shaped(code) and locked.verify_token(code)
    if locked is None:
        raise ValidationError(_("This enrolment is no longer valid. Start again."), code="stale")
    if throttled is not None:
        raise throttled
    if not accepted:
        raise ValidationError(
            _("That code is not valid. Check the time on your phone and enter the current code."),
            code="invalid",
        )
    device = locked
    with transaction.atomic():
        TOTPDevice.objects.filter(user=actor).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_backup_codes(actor)
        audit_record(
            actor=actor,
            action=Action.TWO_FACTOR_ENROL,
            obj=device,
            detail={"device": "totp", "backup_codes": len(codes)},
        )
    return codes


def two_factor_verify(*, actor: Any, code: str) -> Device:
    """Check a code from the authenticator app or a backup code; returns the device that accepted it.

    A failure is audited (as a failed login at the second step) and raises ValidationError for the code
    field. Devices throttle repeated failures themselves (exponential delay).
    """
    code = _clean_code(code)
    totp = selectors.totp_device(actor)
    candidates: list[Device] = []
    if totp is not None and _is_totp_shaped(code):
        candidates.append(totp)
    elif not code.isdigit():
        backup = selectors.backup_device(actor)
        if backup is not None:
            candidates.append(backup)
    matched: Device | None = None
    throttled: ValidationError | None = None
    with transaction.atomic():
        for candidate in candidates:
            locked = type(candidate).objects.select_for_update().get(pk=candidate.pk)
            throttled = _throttle_error(locked)
            if throttled is None and locked.verify_token(code):
                matched = locked
                break
    if matched is None:
        audit_record(
            actor=actor,
            action=Action.LOGIN_FAILED,
            detail={"username": actor.get_username(), "stage": "two_factor", "throttled": bool(throttled)},
        )
        raise throttled or ValidationError(_("That code is not valid."), code="invalid")
    audit_record(
        actor=actor,
        action=Action.TWO_FACTOR_VERIFY,
        obj=matched,
        detail={"device": "backup_code" if isinstance(matched, StaticDevice) else "totp"},
    )
    return matched


def two_factor_disable(*, actor: Any) -> None:
    """Remove the user's authenticator app and backup codes. Refused when two-factor is required."""
    if selectors.two_factor_required(actor):
        raise ValidationError(
            _("Two-factor authentication is required for your account and cannot be turned off."),
            code="required",
        )
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=actor).delete()[0]
        StaticDevice.objects.filter(user=actor).delete()
        audit_record(actor=actor, action=Action.TWO_FACTOR_DISABLE, detail={"devices_removed": removed})
        # A token can only be created from a verified session: it must not outlive the second factor.
        _api_token_delete(actor, reason="two_factor_disable")


def backup_codes_regenerate(*, actor: Any) -> list[str]:
    """Replace the user's backup codes (the old ones stop working); returns the new ones, shown once."""
    if not selectors.has_two_factor(actor):
        raise ValidationError(_("Set up an authenticator app first."), code="not_enrolled")
    with transaction.atomic():
        codes = _new_backup_codes(actor)
        audit_record(actor=actor, action=Action.TWO_FACTOR_BACKUP_CODES, detail={"count": len(codes)})
    return codes


def password_change(*, actor: Any, new_password: str) -> None:
    """Set a new password for the user (already checked against the current one and the validators)."""
    password_validation.validate_password(new_password, actor)
    with transaction.atomic():
        actor.set_password(new_password)
        actor.save(update_fields=["password"])
        audit_record(actor=actor, action=Action.PASSWORD_CHANGE, obj=actor)
        # Changing a password (e.g. after a suspected compromise) also ends programmatic access.
        _api_token_delete(actor, reason="password_change")


def _api_token_delete(actor: Any, *, reason: str | None = None) -> bool:
    """Delete the user's API token, audited, in the caller's transaction; returns whether there was one."""
    revoked = ApiToken.objects.filter(user=actor).delete()[0] > 0
    if revoked:
        detail = {"reason": reason} if reason else {}
        audit_record(actor=actor, action=Action.TOKEN_REVOKE, obj=actor, detail=detail)
    return revoked


def api_token_create(*, actor: Any) -> str:
    """Create the user's API token, replacing any previous one (which stops working); returns its key.

    Only the key's digest is stored: the returned key is shown once and cannot be read again.
    """
    key = ApiToken.new_key()
    with transaction.atomic():
        replaced = ApiToken.objects.filter(user=actor).delete()[0] > 0
        ApiToken.objects.create(user=actor, digest=ApiToken.digest_of(key))
        audit_record(actor=actor, action=Action.TOKEN_CREATE, obj=actor, detail={"replaced": replaced})
    return key


def api_token_revoke(*, actor: Any) -> bool:
    """Delete the user's API token; returns whether there was one."""
    with transaction.atomic():
        return _api_token_delete(actor)


def admin_create(*, username: str, email: str, password: str) -> Any:
    """Create a platform administrator (staff and superuser). Used by ``rumbo createadmin``.

    Raises ValidationError keyed by field when the username is taken or invalid or the password is weak.
    """
    user_model = get_user_model()
    user = user_model(username=username, email=email, is_staff=True, is_superuser=True)
    errors: dict[str, list[Any]] = {}
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if user_model.objects.filter(username__iexact=username).exists():
        errors.setdefault("username", []).append(
            _("A user named “%(username)s” already exists.") % {"username": username}
        )
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user.set_password(password)
        user.save()
        audit_record(actor=None, action=Action.ADMIN_CREATE, obj=user, detail={"username": username})
    return user
