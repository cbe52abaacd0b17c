"""Accounts in the Django admin: API tokens are not shown there (users manage their own, hashed ones)."""

from __future__ import annotations

from django.contrib import admin
from rest_framework.authtoken.models import TokenProxy

# DRF registers its clear-text tokens (TokenProxy) in the admin; Rumbo does not use them (ApiToken keeps
# digests only), and a superuser must not be able to read or create keys that act as another user.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
