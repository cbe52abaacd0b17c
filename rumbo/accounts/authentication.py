"""API authentication by token (``Authorization: Token <key>``), against digests of the keys."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from rumbo.accounts.models import ApiToken

_API_USER_ATTR = "_rumbo_api_user"


class HashedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, except that the presented key is hashed and its digest looked up:
    the database never holds a usable key (see :class:`rumbo.accounts.models.ApiToken`)."""

    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(key)).first()
        if token is None:
            raise AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)


def token_user(request: HttpRequest) -> Any:
    """The user a valid ``Authorization: Token …`` header of ``request`` stands for, else ``None``.

    For middlewares, which run before DRF authenticates the token again in the view. Cached on the request.
    """
    if not hasattr(request, _API_USER_ATTR):
        user = None
        if request.headers.get("Authorization", "").startswith("Token "):
            try:
                result = HashedTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
            except AuthenticationFailed:
                result = None
            user = result[0] if result else None
        setattr(request, _API_USER_ATTR, user)
    return getattr(request, _API_USER_ATTR)
